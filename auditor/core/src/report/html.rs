//! HTML: `flotilla audit --output html` (one self-contained file) and the
//! fleet page `flotilla serve` shows at `/` and `/clusters/<name>`.
//!
//! Both are the same view over [`FleetEntry`]s: a table of every cluster
//! (state, findings by class, and for the service the drift age, the last
//! successful audit and the open drift pull request), then per cluster the
//! findings, errors and notes. A [`Report`] becomes entries with
//! [`FleetEntry::from_report`]; the service builds them from its state.
//!
//! The document is server-rendered with one inline stylesheet and no
//! script: it needs no JavaScript, no network and no other file, so it
//! works as a CI artifact, in an e-mail and behind the service's
//! Content-Security-Policy ([`content_security_policy`]: nothing but that
//! one stylesheet, by hash). The served pages refresh themselves with
//! `<meta http-equiv="refresh">`.
//!
//! Everything that comes from a repository or a cluster (names, values,
//! messages, manager names) goes through [`escape`] (the five characters
//! HTML gives meaning to, in text and attribute values alike; control,
//! invisible and direction-changing characters are shown as `\u{…}`, as the
//! text printer does, so nothing can hide or reorder what is shown). Secret
//! values reach this printer masked (`***`), as every printer gets them;
//! a change marked `sensitive` is printed as masked whatever its values say.
//! State is never told by colour alone: every state has a word and a sign.
//!
//! No templating crate: the page is a handful of tables, and writing them
//! with `format!` through one escaping function keeps every interpolation
//! visible (a template engine would add a dependency and an escaping mode
//! to get right).

use super::line_diff::{Line, line_diff};
use super::summary::{object_name, one_line, short_revision};
use crate::findings::{ClusterReport, FieldChange, Finding, FindingClass, Report, Reverts};
use base64::Engine;
use jiff::Timestamp;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Longest value shown, in characters, before it is cut (a ConfigMap can
/// hold megabytes).
const MAX_VALUE: usize = 2_000;

/// The one stylesheet; the Content-Security-Policy allows it by hash.
const STYLE: &str = "\
:root{color-scheme:light dark;--ok:#1a7f37;--drift:#9a6700;--fail:#cf222e;--none:#6e7781;--line:#d0d7de}
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;max-width:90rem}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.75rem 0 .5rem}h3{font-size:1rem;margin:1.25rem 0 .4rem}
p.meta{color:var(--none);margin:.1rem 0}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:color-mix(in srgb,var(--line) 35%,transparent)}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600;white-space:nowrap}
.clean{color:var(--ok)}.drifted{color:var(--drift)}.failing{color:var(--fail)}.not-audited{color:var(--none)}
.v{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
pre.diff{margin:0;font:12px/1.4 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.del{color:var(--fail)}.add{color:var(--ok)}.skip{color:var(--none)}
.banner{border:1px solid var(--fail);padding:.5rem .75rem;margin:.75rem 0}
ul{margin:.25rem 0 1rem}
";

/// A cluster's state on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Audited, nothing found, no error.
    Clean,
    /// Audited, findings.
    Drifted,
    /// The last attempt failed, or the audit was incomplete.
    Failing,
    /// No audit has ended yet.
    NotAudited,
}

impl ClusterState {
    /// The word shown, with a sign so that colour is never the only cue.
    pub fn label(self) -> &'static str {
        match self {
            ClusterState::Clean => "✓ clean",
            ClusterState::Drifted => "▲ drifted",
            ClusterState::Failing => "✗ failing",
            ClusterState::NotAudited => "… not yet audited",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ClusterState::Clean => "clean",
            ClusterState::Drifted => "drifted",
            ClusterState::Failing => "failing",
            ClusterState::NotAudited => "not-audited",
        }
    }
}

/// One cluster as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEntry {
    /// Cluster name.
    pub name: String,
    /// The last audit that completed (the service keeps it across failures).
    pub report: Option<ClusterReport>,
    /// When that audit completed (service only).
    pub last_success: Option<Timestamp>,
    /// The last attempt's error, cleared by a success (service only).
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When the current findings were first seen (service only).
    pub drift_since: Option<Timestamp>,
    /// Link to the open drift pull request, where the service knows it.
    pub pull_request: Option<String>,
}

impl FleetEntry {
    /// An entry for one cluster of an audit report.
    pub fn from_report(report: &ClusterReport) -> FleetEntry {
        FleetEntry {
            name: report.cluster.clone(),
            report: Some(report.clone()),
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            drift_since: None,
            pull_request: None,
        }
    }

    /// Failing when the last attempt failed or the last audit was
    /// incomplete; else drifted or clean by its findings (or, where this
    /// process holds no report but knows of a success, as a standby
    /// replica does, by whether drift is being timed).
    pub fn state(&self) -> ClusterState {
        match &self.report {
            _ if self.last_error.is_some() => ClusterState::Failing,
            None if self.last_success.is_some() => match self.drift_since {
                Some(_) => ClusterState::Drifted,
                None => ClusterState::Clean,
            },
            None => ClusterState::NotAudited,
            Some(r) if !r.errors.is_empty() => ClusterState::Failing,
            Some(r) if !r.findings.is_empty() => ClusterState::Drifted,
            Some(_) => ClusterState::Clean,
        }
    }
}

/// What a page says about where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct PageContext {
    /// When the page was made (ages are counted to it).
    pub now: Timestamp,
    /// Reload every this many seconds (served pages).
    pub refresh_seconds: Option<u32>,
    /// The Git revision last fetched (service).
    pub revision: Option<String>,
    /// The last git fetch error, cleared by a good fetch (service).
    pub fetch_error: Option<String>,
}

/// The `Content-Security-Policy` of every page: nothing loads, runs or
/// submits; only the page's own stylesheet applies (by its SHA-256, so an
/// injected `<style>` would not). The served pages also get
/// `frame-ancestors 'none'`, which a `<meta>` policy cannot carry.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'")
}

/// `flotilla audit --output html`: the whole report as one file, the fleet
/// table linking to each cluster's section below it.
pub fn print(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let entries: Vec<FleetEntry> = report
        .clusters
        .iter()
        .map(FleetEntry::from_report)
        .collect();
    let ctx = PageContext {
        now: Timestamp::now(),
        refresh_seconds: None,
        revision: None,
        fetch_error: None,
    };
    let mut body = String::new();
    body.push_str("<h1>flotilla audit</h1>\n");
    let _ = writeln!(
        body,
        "<p class=\"meta\">Made <time datetime=\"{}\">{}</time>. Git is what the repository declares; live is what the cluster runs.</p>",
        iso(ctx.now),
        utc(ctx.now)
    );
    fleet_table(&mut body, &entries, &ctx, Links::Anchors, false);
    for (key, value) in extra_fields(report, &["version", "clusters"]) {
        extra_section(&mut body, 2, &key, &value);
    }
    for (i, entry) in entries.iter().enumerate() {
        let _ = writeln!(body, "<section id=\"cluster-{i}\">");
        cluster_detail(&mut body, entry, &ctx, 2);
        body.push_str("</section>\n");
    }
    w.write_all(document("flotilla audit", &ctx, &body).as_bytes())
}

/// The service's `/`: every cluster, each linking to its own page.
pub fn fleet_page(entries: &[FleetEntry], ctx: &PageContext) -> String {
    let mut body = String::new();
    body.push_str("<h1>flotilla fleet</h1>\n");
    service_meta(&mut body, ctx);
    fleet_table(&mut body, entries, ctx, Links::Pages, true);
    document("flotilla fleet", ctx, &body)
}

/// The service's `/clusters/<name>`: one cluster's findings.
pub fn cluster_page(entry: &FleetEntry, ctx: &PageContext) -> String {
    let mut body = String::new();
    body.push_str("<p><a href=\"/\">← fleet</a></p>\n");
    cluster_detail(&mut body, entry, ctx, 1);
    service_meta(&mut body, ctx);
    document(&format!("{} · flotilla", entry.name), ctx, &body)
}

/// The service's answer for a cluster it does not know.
pub fn not_found_page(name: &str, ctx: &PageContext) -> String {
    let body = format!(
        "<h1>No such cluster</h1>\n<p>flotilla does not audit a cluster named <code>{}</code>.</p>\n<p><a href=\"/\">← fleet</a></p>\n",
        escape(name)
    );
    document("not found · flotilla", ctx, &body)
}

fn document(title: &str, ctx: &PageContext, body: &str) -> String {
    let refresh = ctx
        .refresh_seconds
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">\n"))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n{refresh}\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        csp = content_security_policy(),
        title = escape(title),
    )
}

fn service_meta(body: &mut String, ctx: &PageContext) {
    if let Some(error) = &ctx.fetch_error {
        let _ = writeln!(
            body,
            "<p class=\"banner\" role=\"alert\"><strong>Git fetch failing:</strong> <span class=\"v\">{}</span>. Clusters are audited against the last revision fetched.</p>",
            escape(error)
        );
    }
    let revision = ctx.revision.as_deref().map_or_else(
        || "none fetched yet".to_owned(),
        |r| code(&short_revision(r)),
    );
    let refresh = ctx
        .refresh_seconds
        .map(|s| format!("; this page reloads every {s} s"))
        .unwrap_or_default();
    let _ = writeln!(
        body,
        "<p class=\"meta\">Git revision {revision}. Shown at <time datetime=\"{}\">{}</time>{refresh}.</p>",
        iso(ctx.now),
        utc(ctx.now)
    );
}

/// Where a cluster's name links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// `#cluster-<index>` in the same file.
    Anchors,
    /// `/clusters/<name>` on the service.
    Pages,
}

/// Table columns of the finding classes, in report order.
const CLASS_COLUMNS: [(FindingClass, &str); 6] = [
    (FindingClass::Modified, "Modified"),
    (FindingClass::Missing, "Missing"),
    (FindingClass::Unmanaged, "Unmanaged"),
    (FindingClass::FluxUnhealthy, "Flux unhealthy"),
    (FindingClass::FluxSuspended, "Flux suspended"),
    (FindingClass::FluxStale, "Flux stale"),
];

fn fleet_table(
    body: &mut String,
    entries: &[FleetEntry],
    ctx: &PageContext,
    links: Links,
    service: bool,
) {
    let counted = |state| entries.iter().filter(|e| e.state() == state).count();
    let _ = writeln!(
        body,
        "<table class=\"fleet\">\n<caption>{}: {} clean, {} drifted, {} failing, {} not yet audited</caption>",
        plural(entries.len(), "cluster", "clusters"),
        counted(ClusterState::Clean),
        counted(ClusterState::Drifted),
        counted(ClusterState::Failing),
        counted(ClusterState::NotAudited),
    );
    body.push_str("<thead><tr><th scope=\"col\">Cluster</th><th scope=\"col\">State</th>");
    for (_, title) in CLASS_COLUMNS {
        let _ = write!(body, "<th scope=\"col\">{title}</th>");
    }
    if service {
        body.push_str(
            "<th scope=\"col\">Drift age</th><th scope=\"col\">Last successful audit</th><th scope=\"col\">Drift pull request</th>",
        );
    } else {
        body.push_str("<th scope=\"col\">Revision</th>");
    }
    body.push_str("<th scope=\"col\">Not seen</th></tr></thead>\n<tbody>\n");
    for (i, e) in entries.iter().enumerate() {
        let href = match links {
            Links::Anchors => format!("#cluster-{i}"),
            Links::Pages => cluster_href(&e.name),
        };
        let state = e.state();
        let _ = write!(
            body,
            "<tr><th scope=\"row\"><a href=\"{href}\">{}</a></th><td class=\"state {}\">{}</td>",
            escape(&e.name),
            state.class(),
            state.label()
        );
        for (class, _) in CLASS_COLUMNS {
            match &e.report {
                Some(r) => {
                    let n = r.findings.iter().filter(|f| f.class == class).count();
                    let _ = write!(body, "<td class=\"n\">{n}</td>");
                }
                None => body.push_str("<td class=\"n\">–</td>"),
            }
        }
        if service {
            let age = e
                .drift_since
                .map(|since| format!("since {}", time(since, ctx.now)))
                .unwrap_or_else(|| "–".to_owned());
            let success = e
                .last_success
                .map_or_else(|| "never".to_owned(), |t| time(t, ctx.now));
            let _ = write!(
                body,
                "<td>{age}</td><td>{success}</td><td>{}</td>",
                pull_request(e.pull_request.as_deref())
            );
        } else {
            let revision = e
                .report
                .as_ref()
                .and_then(|r| r.revision.as_deref())
                .map_or_else(|| "–".to_owned(), |r| code(&short_revision(r)));
            let _ = write!(body, "<td>{revision}</td>");
        }
        let _ = writeln!(body, "<td>{}</td></tr>", not_seen_summary(e));
    }
    body.push_str("</tbody>\n</table>\n");
}

/// What the audit could not see, counted: errors (incomplete audit) and
/// notes (limits such as charts not rendered), so a "clean" cluster that was
/// only partly compared never looks like a clean bill.
fn not_seen_summary(e: &FleetEntry) -> String {
    let Some(r) = &e.report else {
        return "everything: never audited".to_owned();
    };
    let mut parts = Vec::new();
    if !r.errors.is_empty() {
        parts.push(plural(r.errors.len(), "error", "errors") + " (audit incomplete)");
    }
    if !r.notes.is_empty() {
        parts.push(plural(r.notes.len(), "note", "notes"));
    }
    for (key, value) in extra_fields(r, CLUSTER_KEYS) {
        parts.push(match &value {
            Value::Array(items) => format!("{} {}", items.len(), words(&key)),
            other => format!("{}: {}", words(&key), inline(other)),
        });
    }
    if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join(", ")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `#7`, linking to the pull request's page. Only web links: the link is
/// built from the configured GitHub URL, which the config already limits to
/// https (or http to loopback).
fn pull_request(link: Option<&str>) -> String {
    let Some(link) = link else {
        return "–".to_owned();
    };
    let number = link
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .map_or_else(|| "open".to_owned(), |n| format!("#{n}"));
    if link.starts_with("https://") || link.starts_with("http://") {
        format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\">{number}</a>",
            escape(link)
        )
    } else {
        escape(&number)
    }
}

/// `/clusters/<name>`, the name percent-encoded as one path segment.
pub fn cluster_href(name: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
    format!("/clusters/{}", utf8_percent_encode(name, SEGMENT))
}

/// One cluster: its state, when it was audited, the findings by class,
/// the findings, errors and notes. `level` is the heading level of its title.
fn cluster_detail(body: &mut String, e: &FleetEntry, ctx: &PageContext, level: u8) {
    let state = e.state();
    let (h, sub) = (level, level + 1);
    let _ = writeln!(
        body,
        "<h{h}>{} <span class=\"state {}\">{}</span></h{h}>",
        escape(&e.name),
        state.class(),
        state.label()
    );
    let mut facts = Vec::new();
    if let Some(rev) = e.report.as_ref().and_then(|r| r.revision.as_deref()) {
        facts.push(format!("audited at Git revision {}", code(rev)));
    }
    if let Some(t) = e.last_success {
        facts.push(format!("last successful audit {}", time(t, ctx.now)));
    }
    if let Some(since) = e.drift_since {
        facts.push(format!("drifted since {}", time(since, ctx.now)));
    }
    if let Some(pr) = &e.pull_request {
        facts.push(format!("drift pull request {}", pull_request(Some(pr))));
    }
    if !facts.is_empty() {
        let _ = writeln!(body, "<p class=\"meta\">{}.</p>", facts.join("; "));
    }
    if let Some(error) = &e.last_error {
        let failures = plural(
            e.consecutive_failures as usize,
            "failed attempt",
            "failed attempts",
        );
        let shown = if e.report.is_some() {
            "The findings below are those of the last audit that completed."
        } else {
            "No audit has completed yet: nothing below is known."
        };
        let _ = writeln!(
            body,
            "<p class=\"banner\" role=\"alert\"><strong>Last attempt failed</strong> ({failures} since the last success): <span class=\"v\">{}</span>. {shown}</p>",
            escape(error)
        );
    }
    let Some(report) = &e.report else {
        if e.last_success.is_some() {
            body.push_str("<p>This process holds no findings for this cluster (a standby replica shows the leader's status): see the page of the replica that audits it.</p>\n");
        } else if e.last_error.is_none() {
            body.push_str("<p>Not audited yet.</p>\n");
        }
        return;
    };
    by_class(body, report);
    if !report.findings.is_empty() {
        findings_table(body, report, sub);
    }
    list(
        body,
        sub,
        "Errors",
        "what stopped (part of) this audit: findings may be incomplete",
        &report.errors,
    );
    list(
        body,
        sub,
        "Notes",
        "limits of this audit: what was not rendered or not compared",
        &report.notes,
    );
    for (key, value) in extra_fields(report, CLUSTER_KEYS) {
        extra_section(body, sub, &key, &value);
    }
}

fn by_class(body: &mut String, report: &ClusterReport) {
    if report.findings.is_empty() {
        let text = if report.errors.is_empty() {
            "No drift: every object Git declares matches the cluster."
        } else {
            "No drift found, but the audit is incomplete (see the errors)."
        };
        let _ = writeln!(body, "<p>{text}</p>");
        return;
    }
    let parts: Vec<String> = CLASS_COLUMNS
        .iter()
        .filter_map(|(class, title)| {
            let n = report.findings.iter().filter(|f| f.class == *class).count();
            (n > 0).then(|| format!("{n} {}", title.to_lowercase()))
        })
        .collect();
    let _ = writeln!(
        body,
        "<p>{}: {}.</p>",
        plural(report.findings.len(), "finding", "findings"),
        parts.join(", ")
    );
}

fn findings_table(body: &mut String, report: &ClusterReport, level: u8) {
    // Fields of findings this printer does not name (added to the report
    // after it) get a column of their own rather than being dropped.
    let more = report.findings.iter().any(|f| {
        !extra_fields(f, FINDING_KEYS).is_empty()
            || f.paths
                .iter()
                .any(|c| !extra_fields(c, CHANGE_KEYS).is_empty())
    });
    let more_head = if more {
        "<th scope=\"col\">More</th>"
    } else {
        ""
    };
    let _ = writeln!(
        body,
        "<h{level}>Findings</h{level}>\n<table class=\"findings\">\n<caption>Findings of {}: Git is the repository's value, live the cluster's</caption>\n\
         <thead><tr><th scope=\"col\">Class</th><th scope=\"col\">Object</th><th scope=\"col\">Kustomization</th><th scope=\"col\">Field</th>\
         <th scope=\"col\">Git</th><th scope=\"col\">Live</th><th scope=\"col\">Who / when</th><th scope=\"col\">Will Flux undo it?</th>{more_head}</tr></thead>\n<tbody>",
        escape(&report.cluster)
    );
    for f in &report.findings {
        finding_rows(body, f, more);
    }
    body.push_str("</tbody>\n</table>\n");
}

fn finding_rows(body: &mut String, f: &Finding, more: bool) {
    let object = escape(&object_name(&f.kind, f.namespace.as_deref(), &f.name));
    let kustomization = f
        .kustomization
        .as_deref()
        .map_or_else(|| "not in Git".to_owned(), escape);
    let head = format!(
        "<td>{}</td><th scope=\"row\">{object}</th><td>{kustomization}</td>",
        f.class.as_str()
    );
    let reverts = reverts_cell(f.reverts.as_ref());
    if f.class == FindingClass::Modified && !f.paths.is_empty() {
        for c in &f.paths {
            let extra = if more {
                let mut fields = extra_fields(f, FINDING_KEYS);
                fields.extend(extra_fields(c, CHANGE_KEYS));
                format!("<td>{}</td>", inline_fields(&fields))
            } else {
                String::new()
            };
            let reverts = reverts_cell(c.reverts.as_ref());
            let _ = writeln!(
                body,
                "<tr>{head}<td class=\"v\">{}</td>{}<td>{}</td>{reverts}{extra}</tr>",
                escape(&c.field),
                change_cells(c),
                who(c.manager.as_deref(), c.time.as_deref())
            );
        }
        return;
    }
    let (field, live) = match &f.condition {
        Some(c) => {
            let mut text = c.status.clone();
            for extra in [&c.reason, &c.message].into_iter().flatten() {
                text.push_str(": ");
                text.push_str(extra);
            }
            let text = format!("<span class=\"v\">{}</span>", value(&text));
            (escape(&c.type_), text)
        }
        None => match f.class {
            FindingClass::Missing => (String::new(), "(absent)".to_owned()),
            FindingClass::Unmanaged => (
                String::new(),
                "exists; nothing in Git accounts for it".to_owned(),
            ),
            FindingClass::FluxSuspended => ("spec.suspend".to_owned(), "true".to_owned()),
            _ => (String::new(), String::new()),
        },
    };
    let git = match f.class {
        FindingClass::Missing => "declared",
        FindingClass::Unmanaged => "(absent)",
        _ => "",
    };
    let who = f
        .manager
        .as_deref()
        .map(|m| format!("created by {}", escape(m)))
        .unwrap_or_default();
    let extra = if more {
        format!("<td>{}</td>", inline_fields(&extra_fields(f, FINDING_KEYS)))
    } else {
        String::new()
    };
    let _ = writeln!(
        body,
        "<tr>{head}<td class=\"v\">{field}</td><td>{git}</td><td>{live}</td><td>{who}</td>{reverts}{extra}</tr>"
    );
}

/// Whether Flux undoes a drift, in the text report's words
/// ([`super::text::reverts_line`]); empty where the report does not say
/// (health findings).
fn reverts_cell(r: Option<&Reverts>) -> String {
    let text = r
        .map(|r| escape(&super::text::reverts_line(r)))
        .unwrap_or_default();
    format!("<td>{text}</td>")
}

/// The Git and live cells of one changed field: masked when secret; a
/// multi-line string as a line diff in one cell spanning both.
fn change_cells(c: &FieldChange) -> String {
    if c.sensitive {
        let masked = "*** (secret value, not shown)";
        return format!("<td>{masked}</td><td>{masked}</td>");
    }
    if let (Some(Value::String(d)), Some(Value::String(l))) = (&c.desired, &c.live)
        && (d.contains('\n') || l.contains('\n'))
    {
        let mut pre = String::from("<pre class=\"diff\">");
        for line in line_diff(d, l, 2) {
            let _ = match line {
                Line::Same(s) => writeln!(pre, "  {}", escape(&cut(s))),
                Line::Desired(s) => {
                    writeln!(pre, "<span class=\"del\">- {}</span>", escape(&cut(s)))
                }
                Line::Live(s) => writeln!(pre, "<span class=\"add\">+ {}</span>", escape(&cut(s))),
                Line::Skipped(n) => {
                    writeln!(pre, "<span class=\"skip\">  … {n} unchanged lines</span>")
                }
            };
        }
        pre.push_str("</pre>");
        return format!("<td colspan=\"2\"><span class=\"skip\">- Git, + live:</span>{pre}</td>");
    }
    format!(
        "<td class=\"v\">{}</td><td class=\"v\">{}</td>",
        value(&one_line(c.desired.as_ref())),
        value(&one_line(c.live.as_ref()))
    )
}

fn who(manager: Option<&str>, time: Option<&str>) -> String {
    match (manager, time) {
        (Some(m), Some(t)) => format!("{}, <time>{}</time>", escape(m), escape(t)),
        (Some(m), None) => escape(m),
        _ => String::new(),
    }
}

/// Fields of the report this printer shows by name; any other field (a
/// list or count the report gained later, such as what was not rendered or
/// not compared) is still shown, generically, by [`extra_fields`].
const CLUSTER_KEYS: &[&str] = &["cluster", "revision", "findings", "errors", "notes"];
const FINDING_KEYS: &[&str] = &[
    "class",
    "apiVersion",
    "kind",
    "namespace",
    "name",
    "kustomization",
    "paths",
    "manager",
    "condition",
    "reverts",
];
const CHANGE_KEYS: &[&str] = &[
    "path",
    "field",
    "desired",
    "live",
    "manager",
    "time",
    "sensitive",
    "reverts",
];

/// The fields of `item`'s JSON form not in `known`, leaving out empty ones,
/// in name order. Every printer shows what the report holds; this one must
/// not drop a field only because it was added to the report after the
/// printer. The known fields (200 findings, say) are written as text and
/// skipped unparsed ([`RawValue`]): building them as [`Value`]s for every
/// cluster made the fleet page several times slower.
fn extra_fields<T: serde::Serialize>(item: &T, known: &[&str]) -> Vec<(String, Value)> {
    let Ok(text) = serde_json::to_string(item) else {
        return Vec::new();
    };
    let Ok(fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(&text) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter(|(key, _)| !known.contains(&key.as_str()))
        .filter_map(|(key, raw)| Some((key, serde_json::from_str::<Value>(raw.get()).ok()?)))
        .filter(|(_, value)| {
            !matches!(value, Value::Null)
                && value.as_array().is_none_or(|a| !a.is_empty())
                && value.as_object().is_none_or(|o| !o.is_empty())
        })
        .collect()
}

/// `notRendered` → `not rendered`.
fn words(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if c == '_' || c == '-' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    escape(&out)
}

/// A JSON value on one line, escaped: `key: value; …` for objects.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}", words(k), inline(v)))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Array(items) => items.iter().map(inline).collect::<Vec<_>>().join(", "),
        other => value(&one_line(Some(other))),
    }
}

fn inline_fields(fields: &[(String, Value)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}: {}", words(k), inline(v)))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A field the printer does not know by name: a list of objects as a
/// table, anything else as one line.
fn extra_section(body: &mut String, level: u8, key: &str, v: &Value) {
    let title = words(key);
    let _ = writeln!(body, "<h{level}>{}</h{level}>", capitalised(&title));
    let rows: Vec<&serde_json::Map<String, Value>> = match v {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    if rows.is_empty() || v.as_array().is_some_and(|a| a.len() != rows.len()) {
        let _ = writeln!(body, "<p>{}</p>", inline(v));
        return;
    }
    let mut columns: Vec<&String> = Vec::new();
    for row in &rows {
        for k in row.keys() {
            if !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    let _ = write!(
        body,
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        capitalised(&title)
    );
    for c in &columns {
        let _ = write!(body, "<th scope=\"col\">{}</th>", capitalised(&words(c)));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        body.push_str("<tr>");
        for c in &columns {
            let cell = row.get(c.as_str()).map(inline).unwrap_or_default();
            let _ = write!(body, "<td>{cell}</td>");
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody>\n</table>\n");
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn list(body: &mut String, level: u8, title: &str, what: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(
        body,
        "<h{level}>{title}</h{level}>\n<p class=\"meta\">{what}.</p>\n<ul>"
    );
    for item in items {
        let _ = writeln!(body, "<li class=\"v\">{}</li>", escape(&cut(item)));
    }
    body.push_str("</ul>\n");
}

/// A value, cut to [`MAX_VALUE`] characters, escaped.
fn value(s: &str) -> String {
    escape(&cut(s))
}

fn cut(s: &str) -> String {
    let n = s.chars().count();
    if n <= MAX_VALUE {
        return s.to_owned();
    }
    let kept: String = s.chars().take(MAX_VALUE).collect();
    format!("{kept} … ({} more characters)", n - MAX_VALUE)
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}

/// `2026-11-21 08:05:00 UTC`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2026-11-21T08:05:00Z`, for `<time datetime>`.
fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A time with how long ago it was: `<time>…</time> (3h 12m ago)`.
fn time(t: Timestamp, now: Timestamp) -> String {
    format!(
        "<time datetime=\"{}\">{}</time> ({} ago)",
        iso(t),
        utc(t),
        age(t, now)
    )
}

/// `45s`, `12m`, `3h 12m`, `2d 4h`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(since).as_secs().max(0).unsigned_abs();
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Make text from a repository or cluster inert in HTML text and in quoted
/// attribute values: `&`, `<`, `>`, `"` and `'` become entities, and
/// control, invisible and direction-changing characters are shown as
/// `\u{…}` (the Unicode bidirectional overrides could otherwise reorder
/// what is shown around them, as in "Trojan Source"). Newlines and tabs
/// stay: values are shown with `white-space: pre-wrap`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters that show nothing or change the direction of what follows.
fn hidden(c: char) -> bool {
    matches!(c,
        '\u{00ad}'
        | '\u{061c}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Condition, REPORT_VERSION};
    use serde_json::json;

    // Built from JSON, so that fields added to the report later (with
    // serde defaults) need no change here.
    fn modified(name: &str, change: FieldChange) -> Finding {
        let mut f: Finding = serde_json::from_value(json!({
            "class": "modified", "apiVersion": "v1", "kind": "ConfigMap",
            "namespace": "a", "name": name, "kustomization": "flux-system/apps",
        }))
        .unwrap();
        f.paths.push(change);
        f
    }

    fn change(desired: Value, live: Value) -> FieldChange {
        serde_json::from_value(json!({
            "path": "/data/x", "field": "data.x", "desired": desired, "live": live,
            "manager": "kubectl-edit", "time": "2026-11-20T10:04:00Z",
        }))
        .unwrap()
    }

    fn render(report: &Report) -> String {
        let mut out = Vec::new();
        print(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            version: REPORT_VERSION,
            clusters: vec![ClusterReport {
                cluster: "one".into(),
                revision: Some("main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93".into()),
                findings,
                notes: vec!["helm charts not rendered".into()],
                ..ClusterReport::default()
            }],
        }
    }

    #[test]
    fn escape_neutralises_markup_quotes_and_hidden_characters() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            escape("a\u{202e}b\u{1b}[2J\u{200b}"),
            "a\\u{202e}b\\u{1b}[2J\\u{200b}"
        );
        assert_eq!(escape("line\n\tnext"), "line\n\tnext");
        assert_eq!(
            escape("kured 1.15.0 a0008/traefik"),
            "kured 1.15.0 a0008/traefik"
        );
    }

    #[test]
    fn hostile_names_and_values_stay_text() {
        let hostile = "x\"><script>alert(1)</script><img src=x onerror=alert(2)>";
        let mut f = modified(
            hostile,
            change(json!("</td></tr><tr><td>"), json!("<b>bold</b>")),
        );
        f.paths[0].manager = Some("<iframe>".into());
        let mut r = report(vec![f]);
        r.clusters[0].cluster = "c\"><a href=javascript:x>".into();
        r.clusters[0].errors = vec!["<marquee>".into()];
        let html = render(&r);
        for bad in [
            "<script",
            "<img",
            "<iframe",
            "<b>",
            "<marquee",
            "<a href=javascript",
            "</td></tr><tr><td>",
        ] {
            assert!(!html.contains(bad), "{bad} in\n{html}");
        }
        // Every tag in the page is one the printer wrote.
        let tags: std::collections::BTreeSet<&str> = html
            .split('<')
            .skip(1)
            .map(|t| {
                t.split([' ', '>', '\n'])
                    .next()
                    .unwrap()
                    .trim_start_matches('/')
            })
            .collect();
        let allowed = [
            "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3",
            "p", "time", "table", "caption", "thead", "tbody", "tr", "th", "td", "a", "section",
            "code", "span", "ul", "li", "strong", "pre",
        ];
        for t in tags {
            assert!(allowed.contains(&t), "unexpected tag <{t}>");
        }
    }

    #[test]
    fn secret_changes_are_masked_whatever_they_hold() {
        let mut c = change(json!("hunter2-plain"), json!("aHVudGVyMg=="));
        c.sensitive = true;
        let html = render(&report(vec![modified("creds", c)]));
        assert!(
            !html.contains("hunter2") && !html.contains("aHVudGVyMg"),
            "{html}"
        );
        assert!(html.contains("*** (secret value, not shown)"));
    }

    #[test]
    fn the_file_holds_table_details_and_notes_without_scripts_or_assets() {
        let mut unhealthy = modified("podinfo", change(json!(1), json!(2)));
        unhealthy.class = FindingClass::FluxUnhealthy;
        unhealthy.paths.clear();
        unhealthy.condition = Some(Condition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: Some("BuildFailed".into()),
            message: Some("kustomize build failed".into()),
        });
        let html = render(&report(vec![
            modified("web", change(json!("a\nb\nc\n"), json!("a\nB\nc\n"))),
            unhealthy,
        ]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<a href=\"#cluster-0\">one</a>"), "{html}");
        assert!(html.contains("<section id=\"cluster-0\">"));
        assert!(html.contains("▲ drifted"));
        assert!(html.contains("<span class=\"del\">- b</span>"), "{html}");
        assert!(html.contains("<span class=\"add\">+ B</span>"), "{html}");
        assert!(html.contains("Ready"));
        assert!(html.contains("False: BuildFailed: kustomize build failed"));
        assert!(html.contains("helm charts not rendered"));
        assert!(html.contains("1 note"));
        assert!(!html.contains("<script") && !html.contains("src="));
        assert!(
            !html.contains("http-equiv=\"refresh\""),
            "a file does not reload"
        );
        assert!(html.contains(&content_security_policy()));
    }

    #[test]
    fn states_are_told_in_words() {
        let mut e = FleetEntry::from_report(&report(vec![]).clusters[0]);
        assert_eq!(e.state(), ClusterState::Clean);
        e.report.as_mut().unwrap().errors.push("forbidden".into());
        assert_eq!(e.state(), ClusterState::Failing);
        let never = FleetEntry {
            report: None,
            ..e.clone()
        };
        assert_eq!(never.state(), ClusterState::NotAudited);
        let failed = FleetEntry {
            last_error: Some("api server unreachable".into()),
            ..never
        };
        assert_eq!(failed.state(), ClusterState::Failing);
        for s in [
            ClusterState::Clean,
            ClusterState::Drifted,
            ClusterState::Failing,
            ClusterState::NotAudited,
        ] {
            assert!(s.label().chars().any(char::is_alphabetic));
        }
    }

    #[test]
    fn service_pages_refresh_link_and_age() {
        let now: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let ctx = PageContext {
            now,
            refresh_seconds: Some(30),
            revision: Some("main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93".into()),
            fetch_error: None,
        };
        let mut e = FleetEntry::from_report(
            &report(vec![modified("web", change(json!(1), json!(2)))]).clusters[0],
        );
        e.name = "a b/c".into();
        e.drift_since = Some("2026-11-21T06:48:00Z".parse().unwrap());
        e.last_success = Some("2026-11-21T09:59:15Z".parse().unwrap());
        e.pull_request = Some("https://github.com/contoso/fleet/pull/7".into());
        let never = FleetEntry {
            name: "z".into(),
            report: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            drift_since: None,
            pull_request: None,
        };
        assert_eq!(never.state(), ClusterState::NotAudited);
        let page = fleet_page(&[e.clone(), never], &ctx);
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(page.contains("href=\"/clusters/a%20b%2Fc\""), "{page}");
        assert!(page.contains("(3h 12m ago)"), "{page}");
        assert!(page.contains("(45s ago)"), "{page}");
        assert!(page.contains(
            "<a href=\"https://github.com/contoso/fleet/pull/7\" rel=\"noopener noreferrer\">#7</a>"
        ));
        assert!(page.contains("… not yet audited"));
        assert!(page.contains("2 clusters: 0 clean, 1 drifted, 0 failing, 1 not yet audited"));
        let detail = cluster_page(&e, &ctx);
        assert!(detail.contains("data.x"));
        assert!(detail.contains("kubectl-edit"));
        assert!(detail.contains("<a href=\"/\">"));
    }

    #[test]
    fn pull_request_links_are_web_links_only() {
        let cell = pull_request(Some("javascript:alert(1)//7"));
        assert!(!cell.contains("href"), "{cell}");
        assert_eq!(cell, "#7");
        assert_eq!(
            pull_request(Some("https://ghe.contoso.com/c/f/pull/12")),
            "<a href=\"https://ghe.contoso.com/c/f/pull/12\" rel=\"noopener noreferrer\">#12</a>"
        );
        assert_eq!(pull_request(None), "–");
    }

    #[test]
    fn a_replica_without_the_report_still_tells_the_state() {
        let standby = FleetEntry {
            name: "a".into(),
            report: None,
            last_success: Some("2026-11-21T09:00:00Z".parse().unwrap()),
            last_error: None,
            consecutive_failures: 0,
            drift_since: Some("2026-11-21T08:00:00Z".parse().unwrap()),
            pull_request: None,
        };
        assert_eq!(standby.state(), ClusterState::Drifted);
        let ctx = PageContext {
            now: "2026-11-21T10:00:00Z".parse().unwrap(),
            refresh_seconds: None,
            revision: None,
            fetch_error: None,
        };
        assert!(cluster_page(&standby, &ctx).contains("holds no findings"));
        let clean = FleetEntry {
            drift_since: None,
            ..standby
        };
        assert_eq!(clean.state(), ClusterState::Clean);
    }

    #[test]
    fn fields_added_to_the_report_later_are_shown_not_dropped() {
        let cluster = json!({
            "cluster": "c", "findings": [], "errors": [], "notes": [],
            "notRendered": [
                {"kustomization": "flux-system/apps", "reason": "remote-base", "detail": "<https://x>"},
                {"kustomization": null, "reason": "helm-chart", "detail": "podinfo", "liveObjects": 3},
            ],
            "notCompared": {"fields": 2, "objects": 1},
            "emptyList": [],
        });
        let extra = extra_fields(&cluster, CLUSTER_KEYS);
        let keys: Vec<&str> = extra.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["notCompared", "notRendered"]);
        let mut body = String::new();
        for (key, value) in &extra {
            extra_section(&mut body, 2, key, value);
        }
        assert!(body.contains("<h2>Not rendered</h2>"), "{body}");
        assert!(
            body.contains("<th scope=\"col\">Live objects</th>"),
            "{body}"
        );
        assert!(
            body.contains("<td>remote-base</td><td>&lt;https://x&gt;</td>"),
            "{body}"
        );
        assert!(
            body.contains("<td>(absent)</td><td>helm-chart</td><td>podinfo</td><td>3</td>"),
            "{body}"
        );
        assert!(
            body.contains("<h2>Not compared</h2>\n<p>fields: 2; objects: 1</p>"),
            "{body}"
        );
        let finding = json!({"class": "missing", "reverts": {"reverts": true}, "later": {"code": "x", "within": "10m"}});
        assert_eq!(
            inline_fields(&extra_fields(&finding, FINDING_KEYS)),
            "later: code: x; within: 10m"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(MAX_VALUE + 10);
        assert!(value(&long).ends_with("… (10 more characters)"));
    }

    #[test]
    fn ages_read_in_units() {
        let t: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let at = |s: i64| t.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        assert_eq!(age(t, at(42)), "42s");
        assert_eq!(age(t, at(600)), "10m");
        assert_eq!(age(t, at(3 * 3600 + 60)), "3h 1m");
        assert_eq!(age(t, at(2 * 86_400 + 5 * 3600)), "2d 5h");
        assert_eq!(age(at(10), t), "0s");
    }
}
