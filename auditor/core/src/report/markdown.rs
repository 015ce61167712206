//! Markdown for pull request bodies and issues: one table per cluster.
//!
//! Everything that comes from a cluster or a repository (object names,
//! values, messages, manager names) is user-controlled: a ConfigMap value
//! could hold `@org/team`, `#123`, `[link](…)`, `<img>` or a `|` that breaks
//! the table. [`escape`] turns every such character into an HTML entity, so
//! GitHub shows it literally and never pings, links or renders it.
//!
//! The last column says whether the next reconcile of the owning Flux
//! Kustomization undoes each drift (`undone within 10m`) or it `stays`
//! until someone acts (with the reason); a legend under the table says so.

use super::line_diff::first_changed_line;
use super::summary::{counts, not_rendered_lines, object_name, one_line, title};
use crate::findings::{ClusterReport, FieldChange, Finding, FindingClass, Report, Reverts};
use serde_json::Value;
use std::io::{self, Write};

/// Longest cell text, in characters, before it is cut with `…`.
const MAX_CELL: usize = 80;

/// What the Flux column means.
const LEGEND: &str = "Flux: *undone within …* — the next reconcile of the owning Kustomization \
reverts it, at the latest after its interval; *stays* — it stays until someone acts, for the \
reason given (*uncertain* when flotilla cannot tell); details in the JSON report.";

/// Print the report as Markdown.
pub fn print(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    for (i, cluster) in report.clusters.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        print_cluster(cluster, w)?;
    }
    Ok(())
}

fn print_cluster(cluster: &ClusterReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "### {}", escape(&title(cluster)))?;
    writeln!(w)?;
    writeln!(w, "{}", escape(&counts(cluster)))?;
    if !cluster.findings.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "| Class | Object | Kustomization | Field | Git | Live | Who / when | Flux |"
        )?;
        writeln!(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for finding in &cluster.findings {
            print_rows(finding, w)?;
        }
        writeln!(w)?;
        writeln!(w, "{LEGEND}")?;
    }
    print_list(w, "Errors", &cluster.errors)?;
    print_list(
        w,
        "Not rendered or not compared",
        &not_rendered_lines(cluster),
    )?;
    print_list(w, "Notes", &cluster.notes)
}

fn print_list(w: &mut dyn Write, title: &str, items: &[String]) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "**{title}**")?;
    writeln!(w)?;
    // Whole, not cut like a table cell: a note that says what was not
    // seen must be read to the end.
    for item in items {
        writeln!(w, "- {}", escape(item))?;
    }
    Ok(())
}

fn print_rows(f: &Finding, w: &mut dyn Write) -> io::Result<()> {
    let object = cell(&object_name(&f.kind, f.namespace.as_deref(), &f.name));
    let kustomization = f.kustomization.as_deref().map(cell).unwrap_or_default();
    let class = f.class.as_str();
    if f.class == FindingClass::Modified {
        for c in &f.paths {
            let (git, live) = values(c);
            let who = who(c.manager.as_deref(), c.time.as_deref());
            let field = cell(&c.field);
            let flux = flux(c.reverts.as_ref());
            writeln!(
                w,
                "| {class} | {object} | {kustomization} | {field} | {git} | {live} | {who} | {flux} |"
            )?;
        }
        return Ok(());
    }
    let (field, live) = match &f.condition {
        Some(c) => {
            let mut text = c.status.clone();
            for extra in [&c.reason, &c.message].into_iter().flatten() {
                text.push_str(": ");
                text.push_str(extra);
            }
            (cell(&c.type_), cell(&text))
        }
        None if f.class == FindingClass::Missing => (String::new(), "(absent)".to_owned()),
        None => (String::new(), String::new()),
    };
    let who = who(f.manager.as_deref(), None);
    let flux = flux(f.reverts.as_ref());
    writeln!(
        w,
        "| {class} | {object} | {kustomization} | {field} | | {live} | {who} | {flux} |"
    )
}

/// The Flux cell: `undone within 10m`, or `stays: <reason>` (cut to fit).
fn flux(r: Option<&Reverts>) -> String {
    match r {
        None => String::new(),
        Some(r) if r.reverts => match &r.within {
            Some(within) => cell(&format!("undone within {within}")),
            None => "undone".to_owned(),
        },
        Some(r) => cell(&format!("stays: {}", r.reason)),
    }
}

/// Cells for Git and live values.
fn values(c: &FieldChange) -> (String, String) {
    value_cells(c.desired.as_ref(), c.live.as_ref())
}

/// Table cells for two values of one field (Git and live, or base and head):
/// a multi-line string shows its first changed line.
pub fn value_cells(a: Option<&Value>, b: Option<&Value>) -> (String, String) {
    if let (Some(Value::String(x)), Some(Value::String(y))) = (a, b)
        && (x.contains('\n') || y.contains('\n'))
        && let Some((n, xl, yl)) = first_changed_line(x, y)
    {
        return (
            format!("line {n}: {}", cell(xl)),
            format!("line {n}: {}", cell(yl)),
        );
    }
    (cell(&one_line(a)), cell(&one_line(b)))
}

fn who(manager: Option<&str>, time: Option<&str>) -> String {
    match (manager, time) {
        (Some(m), Some(t)) => format!("{}, {}", cell(m), cell(t)),
        (Some(m), None) => cell(m),
        _ => String::new(),
    }
}

/// A table cell: truncated to [`MAX_CELL`] characters, then escaped.
pub fn cell(s: &str) -> String {
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        format!("{}…", escape(&cut))
    } else {
        escape(s)
    }
}

/// Make user-controlled text inert in GitHub Markdown, inside a table cell
/// or a paragraph. Markdown syntax is resolved before entities are decoded,
/// so links or images (`[`, `]`, `(`, `)`, `!`), HTML (`<`, `>`, `&`), code
/// or emphasis (`` ` ``, `*`, `_`, `~`), table breaks (`|`), math (`$`) and
/// escapes (`\`) become entities. Mentions (`@`), issue references (`#`),
/// emoji and URLs (`:`) are found in the decoded text, so they also get a
/// zero-width space after them. Newlines become `<br>`; other control
/// characters are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            // GitHub finds mentions, issue references, emoji and bare URLs
            // in the rendered text, after entities are decoded: only an
            // invisible break after the trigger character stops them.
            '@' | '#' => {
                out.push_str(&format!("&#{};&#8203;", c as u32));
            }
            ':' if chars.peek().is_some_and(|n| n.is_alphabetic() || *n == '/') => {
                out.push_str("&#58;&#8203;")
            }
            '&' | '<' | '>' | '|' | '`' | '[' | ']' | '(' | ')' | '!' | '*' | '_' | '~' | '\\'
            | '$' | '{' | '}' => out.push_str(&format!("&#{};", c as u32)),
            c if c.is_control() => {}
            // Invisible and direction-changing characters could hide text.
            '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}' => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_refs_are_inert() {
        assert_eq!(escape("@a"), "&#64;&#8203;a");
        assert_eq!(escape("#12"), "&#35;&#8203;12");
        // What GitHub sees after decoding entities: no `@x` / `#1` run left.
        let decoded = decode(&escape(
            "@flotilla-dev/admins see #12, org/repo#3 :tada: https://x",
        ));
        for trigger in ["@f", "#1", "#3", ":t", "://"] {
            assert!(!decoded.contains(trigger), "{trigger} in {decoded:?}");
        }
        assert_eq!(decode(&escape("at 04:52:03")), "at 04:52:03");
    }

    /// Decode the numeric entities `escape` writes, as a browser would.
    pub(super) fn decode(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("&#") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find(';').unwrap() + i;
            out.push(char::from_u32(rest[i + 2..end].parse().unwrap()).unwrap());
            rest = &rest[end + 1..];
        }
        out + rest
    }

    #[test]
    fn table_and_markup_characters_are_entities() {
        for raw in [
            "|", "`", "<", ">", "[", "]", "(", ")", "*", "_", "~", "\\", "$", "!", "&",
        ] {
            let e = escape(raw);
            assert!(e.starts_with("&#") && e.ends_with(';'), "{raw:?} → {e:?}");
        }
        let link = escape("[click](https://evil.example)");
        assert!(!link.contains('[') && !link.contains("](") && !link.contains("://"));
        let html = escape("<img src=x onerror=alert(1)>");
        assert!(!html.contains('<') && !html.contains('>'));
        let table = escape("a | b");
        assert!(!table.contains('|'));
    }

    #[test]
    fn newlines_become_breaks_and_controls_vanish() {
        assert_eq!(escape("a\nb\r\nc"), "a<br>b<br>c");
        assert_eq!(escape("a\u{1b}b\u{0}"), "ab");
        assert_eq!(escape("x\u{202e}y"), "x&#8238;y");
    }

    #[test]
    fn plain_text_is_unchanged_and_entities_are_double_escaped() {
        assert_eq!(
            escape("kured 1.15.0 a0008/traefik"),
            "kured 1.15.0 a0008/traefik"
        );
        assert_eq!(escape("&#64;"), "&#38;&#35;&#8203;64;");
    }

    #[test]
    fn long_cells_are_cut_before_escaping() {
        let long = "x".repeat(200);
        let c = cell(&long);
        assert_eq!(c.chars().count(), MAX_CELL);
        assert!(c.ends_with('…'));
        let tricky = format!("{}@@@", "y".repeat(MAX_CELL - 2));
        assert!(cell(&tricky).ends_with("&#64;&#8203;…"));
    }
}

#[cfg(test)]
mod print_tests {
    use super::*;
    use crate::findings::REPORT_VERSION;

    #[test]
    fn hostile_names_cannot_break_the_table_or_ping() {
        let finding = Finding {
            class: FindingClass::Unmanaged,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: "x|y`z @org/admins #1 [a](b)\n| injected | row |".into(),
            kustomization: None,
            paths: vec![],
            manager: Some("<script>".into()),
            condition: None,
            reverts: None,
        };
        let report = Report {
            version: REPORT_VERSION,
            clusters: vec![ClusterReport {
                cluster: "c".into(),
                findings: vec![finding],
                ..ClusterReport::default()
            }],
        };
        let mut out = Vec::new();
        print(&report, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 3, "header, rule, one row: {out}");
        assert!(rows.iter().all(|r| r.matches('|').count() == 9), "{out}");
        for bad in ["@org", "[a]", "<script>", "`"] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        let seen = super::tests::decode(&out);
        for bad in ["@org", "#1"] {
            assert!(!seen.contains(bad), "{bad} in {seen}");
        }
    }

    #[test]
    fn the_flux_column_says_undone_or_stays_with_a_legend() {
        use crate::findings::{RevertCode, Reverts};
        let finding = |name: &str, reverts| Finding {
            class: FindingClass::Missing,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: name.into(),
            kustomization: Some("flux-system/apps".into()),
            paths: vec![],
            manager: None,
            condition: None,
            reverts: Some(reverts),
        };
        let report = Report {
            version: REPORT_VERSION,
            clusters: vec![ClusterReport {
                cluster: "c".into(),
                findings: vec![
                    finding(
                        "back",
                        Reverts::undone(RevertCode::FluxCreates, "re-created", Some("10m".into())),
                    ),
                    finding(
                        "gone",
                        Reverts::stays(
                            RevertCode::Suspended,
                            "Kustomization flux-system/apps is suspended",
                        ),
                    ),
                ],
                ..ClusterReport::default()
            }],
        };
        let mut out = Vec::new();
        print(&report, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("| undone within 10m |"), "{out}");
        assert!(
            out.contains("| stays: Kustomization flux-system/apps is suspended |"),
            "{out}"
        );
        assert!(out.contains("\nFlux: *undone within …*"), "{out}");
    }
}
