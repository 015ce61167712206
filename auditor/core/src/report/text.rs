//! The terminal report: per cluster, per Kustomization, unified-diff style.
//!
//! ```text
//! aks-eastus2-01 @ main@sha1:255b005: 2 findings (1 modified, 1 unmanaged)
//!
//!   Kustomization flux-system/kured
//!     [modified] DaemonSet cluster-baseline-settings/kured
//!       spec.template.spec.containers[name=kured].image  (kubectl-set at 2026-11-21T04:52:03Z)
//!       - acraksbaseline01.azurecr.io/kubereboot/kured:1.15.0
//!       + acraksbaseline01.azurecr.io/kubereboot/kured:1.16.0
//!       Flux will undo this at the next reconcile (within 10m)
//!
//!   Not in Git
//!     [unmanaged] ConfigMap cluster-baseline-settings/hotfix  (created by kubectl-create)
//!       stays until someone acts: no Flux Kustomization applied it (…)
//! ```
//!
//! `-` is Git, `+` is live. Under each change (and each missing or
//! unmanaged object) one line says whether the next reconcile of the owning
//! Flux Kustomization undoes it, or it stays until someone acts, and why
//! (see [`crate::diff::reverts`]). Colours only when the caller asks (it knows
//! whether the output is a terminal). Every string from the cluster goes
//! through [`clean`], so an object name cannot smuggle terminal escapes.

use super::line_diff::{Line, line_diff};
use super::summary::{counts, not_rendered_lines, object_name, one_line, title};
use crate::findings::{ClusterReport, FieldChange, Finding, Report, RevertCode, Reverts};
use serde_json::Value;
use std::io::{self, Write};

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const BOLD: &str = "1";
const DIM: &str = "2";

/// Print the report; `color` adds ANSI colours.
pub fn print(report: &Report, w: &mut dyn Write, color: bool) -> io::Result<()> {
    let p = Painter { color };
    for (i, cluster) in report.clusters.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        print_cluster(cluster, w, &p)?;
    }
    Ok(())
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn print_cluster(cluster: &ClusterReport, w: &mut dyn Write, p: &Painter) -> io::Result<()> {
    let head = format!("{}: {}", clean(&title(cluster)), counts(cluster));
    writeln!(w, "{}", p.paint(BOLD, &head))?;
    for group in groups(&cluster.findings) {
        writeln!(w)?;
        let label = match group[0].kustomization.as_deref() {
            Some(k) => format!("Kustomization {}", clean(k)),
            None => "Not in Git".to_owned(),
        };
        writeln!(w, "  {}", p.paint(BOLD, &label))?;
        for finding in group {
            print_finding(finding, w, p)?;
        }
    }
    for error in &cluster.errors {
        writeln!(w, "  {} {}", p.paint(RED, "error:"), clean(error))?;
    }
    for line in not_rendered_lines(cluster) {
        writeln!(w, "  {} {}", p.paint(YELLOW, "not seen:"), clean(&line))?;
    }
    for note in &cluster.notes {
        writeln!(w, "  {} {}", p.paint(DIM, "note:"), clean(note))?;
    }
    Ok(())
}

/// Findings grouped by Kustomization (name order), objects not in Git last.
fn groups(findings: &[Finding]) -> Vec<Vec<&Finding>> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| (f.kustomization.is_none(), f.kustomization.clone()));
    let mut out: Vec<Vec<&Finding>> = Vec::new();
    for f in sorted {
        match out.last_mut() {
            Some(g) if g[0].kustomization == f.kustomization => g.push(f),
            _ => out.push(vec![f]),
        }
    }
    out
}

fn print_finding(f: &Finding, w: &mut dyn Write, p: &Painter) -> io::Result<()> {
    let tag = p.paint(YELLOW, &format!("[{}]", f.class.as_str()));
    let object = clean(&object_name(&f.kind, f.namespace.as_deref(), &f.name));
    let mut line = format!("    {tag} {object}");
    if let Some(manager) = &f.manager {
        line.push_str(&format!("  (created by {})", clean(manager)));
    }
    if let Some(c) = &f.condition {
        line.push_str(&format!(": {}={}", clean(&c.type_), clean(&c.status)));
        if let Some(reason) = &c.reason {
            line.push_str(&format!(" {}", clean(reason)));
        }
        if let Some(message) = &c.message {
            line.push_str(&format!(": {}", clean(message)));
        }
    }
    writeln!(w, "{line}")?;
    print_reverts(f.reverts.as_ref(), w, p)?;
    for change in &f.paths {
        print_change(change, w, p)?;
    }
    Ok(())
}

/// `Flux will undo this at the next reconcile (within 10m)`, or `stays
/// until someone acts: <reason>`; nothing for findings without an answer
/// (Flux health).
fn print_reverts(r: Option<&Reverts>, w: &mut dyn Write, p: &Painter) -> io::Result<()> {
    let Some(r) = r else {
        return Ok(());
    };
    writeln!(
        w,
        "      {}",
        p.paint(
            if r.reverts { DIM } else { YELLOW },
            &clean(&reverts_line(r))
        )
    )
}

/// The words for a [`Reverts`] in the terminal report.
pub fn reverts_line(r: &Reverts) -> String {
    if !r.reverts {
        return format!("stays until someone acts: {}", r.reason);
    }
    let mut line = "Flux will undo this at the next reconcile".to_owned();
    if let Some(within) = &r.within {
        line.push_str(&format!(" (within {within})"));
    }
    // Undone only by way of a parent resuming the Kustomization: say so.
    if r.code == RevertCode::FluxResumes {
        line.push_str(&format!(": {}", r.reason));
    }
    line
}

fn print_change(c: &FieldChange, w: &mut dyn Write, p: &Painter) -> io::Result<()> {
    let mut head = format!("      {}", clean(&c.field));
    if let Some(manager) = &c.manager {
        let when = c
            .time
            .as_deref()
            .map(|t| format!(" at {}", clean(t)))
            .unwrap_or_default();
        head.push_str(&p.paint(DIM, &format!("  ({}{when})", clean(manager))));
    }
    writeln!(w, "{head}")?;
    let minus = |s: &str| p.paint(RED, &format!("      - {}", clean(s)));
    let plus = |s: &str| p.paint(GREEN, &format!("      + {}", clean(s)));
    match (&c.desired, &c.live) {
        (Some(Value::String(d)), Some(Value::String(l)))
            if d.contains('\n') || l.contains('\n') =>
        {
            for line in line_diff(d, l, 2) {
                let text = match line {
                    Line::Same(s) => format!("        {}", clean(s)),
                    Line::Desired(s) => minus(s),
                    Line::Live(s) => plus(s),
                    Line::Skipped(n) => p.paint(DIM, &format!("        … {n} unchanged lines")),
                };
                writeln!(w, "{text}")?;
            }
        }
        (d, l) => {
            writeln!(w, "{}", minus(&one_line(d.as_ref())))?;
            writeln!(w, "{}", plus(&one_line(l.as_ref())))?;
        }
    }
    print_reverts(c.reverts.as_ref(), w, p)
}

/// Control characters (ANSI escapes, carriage returns) printed escaped;
/// tabs are harmless and kept.
pub fn clean(s: &str) -> String {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !s.chars().any(unsafe_char) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_in_names_are_neutralised() {
        assert_eq!(clean("evil\x1b[2Jname"), "evil\\u{1b}[2Jname");
        assert_eq!(clean("plain\tcolumns"), "plain\tcolumns");
        assert_eq!(clean("a\rb"), "a\\rb");
    }
}

#[cfg(test)]
mod print_tests {
    use super::*;
    use crate::findings::{ClusterReport, FindingClass, REPORT_VERSION};
    use serde_json::json;

    fn report() -> Report {
        let change = FieldChange {
            path: "/spec/replicas".into(),
            field: "spec.replicas".into(),
            desired: Some(json!(2)),
            live: Some(json!(3)),
            manager: Some("kubectl-edit".into()),
            time: Some("2026-11-20T10:04:00Z".into()),
            sensitive: false,
            reverts: Some(Reverts::undone(
                RevertCode::FluxApplies,
                "Kustomization flux-system/apps applies Git's value",
                Some("10m".into()),
            )),
        };
        let hotfix = Finding {
            class: FindingClass::Unmanaged,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: "hotfix".into(),
            kustomization: None,
            paths: vec![],
            manager: Some("kubectl-create".into()),
            condition: None,
            reverts: Some(Reverts::stays(
                RevertCode::NotInInventory,
                "Flux never deletes what it did not apply",
            )),
        };
        let finding = Finding {
            class: FindingClass::Modified,
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("a".into()),
            name: "web".into(),
            kustomization: Some("flux-system/apps".into()),
            paths: vec![change],
            manager: None,
            condition: None,
            reverts: None,
        };
        Report {
            version: REPORT_VERSION,
            clusters: vec![
                ClusterReport {
                    cluster: "one".into(),
                    revision: Some("main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93".into()),
                    findings: vec![finding, hotfix],
                    errors: vec![],
                    notes: vec!["helm releases compared as objects".into()],
                    ..Default::default()
                },
                ClusterReport {
                    cluster: "two".into(),
                    errors: vec!["cluster two: connection refused".into()],
                    ..ClusterReport::default()
                },
            ],
        }
    }

    fn render(color: bool) -> String {
        let mut out = Vec::new();
        print(&report(), &mut out, color).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_output_reads_as_a_diff() {
        let expected = "\
one @ main@sha1:255b005: 2 findings (1 modified, 1 unmanaged)

  Kustomization flux-system/apps
    [modified] Deployment a/web
      spec.replicas  (kubectl-edit at 2026-11-20T10:04:00Z)
      - 2
      + 3
      Flux will undo this at the next reconcile (within 10m)

  Not in Git
    [unmanaged] ConfigMap a/hotfix  (created by kubectl-create)
      stays until someone acts: Flux never deletes what it did not apply
  note: helm releases compared as objects

two: no drift; 1 error, audit incomplete
  error: cluster two: connection refused
";
        assert_eq!(render(false), expected);
    }

    #[test]
    fn colours_only_when_asked() {
        let colored = render(true);
        assert!(colored.contains("\x1b[31m      - 2\x1b[0m"), "{colored:?}");
        assert!(colored.contains("\x1b[32m      + 3\x1b[0m"), "{colored:?}");
        assert!(!render(false).contains('\x1b'));
    }
}
