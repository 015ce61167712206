//! Preview printers: text for terminals, JSON for tools, Markdown for the
//! sticky pull-request comment.

use super::{ChangeKind, ClusterPreview, FieldDelta, ObjectChange, PreviewReport};
use flotilla_core::report::line_diff::{Line, line_diff};
use flotilla_core::report::markdown::{cell, escape, value_cells};
use flotilla_core::report::summary::{object_name, one_line, short_revision};
use flotilla_core::report::text::clean;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{self, Write};

/// One line per cluster: what changes and what is wrong.
pub fn cluster_summary(c: &ClusterPreview) -> String {
    let count = |k| c.changes.iter().filter(|o| o.change == k).count();
    let unseen = c.not_rendered.len();
    let mut s = if c.changes.is_empty() && c.is_unknown() {
        format!("unknown ({unseen} not rendered)")
    } else if c.changes.is_empty() {
        "unchanged".to_owned()
    } else {
        format!(
            "{} added, {} changed, {} removed",
            count(ChangeKind::Added),
            count(ChangeKind::Changed),
            count(ChangeKind::Removed)
        )
    };
    if !c.changes.is_empty() && unseen > 0 {
        let _ = write!(s, "; {unseen} not rendered");
    }
    let new = c.new_problems().count();
    if new > 0 {
        let _ = write!(s, "; {new} problem{}", if new == 1 { "" } else { "s" });
    }
    let old = c.problems.len() - new;
    if old > 0 {
        let _ = write!(s, "; {old} pre-existing");
    }
    if !c.errors.is_empty() {
        s.push_str("; preview failed");
    }
    s
}

/// Text report, grouped by cluster then Kustomization.
pub fn text(report: &PreviewReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "preview {} → {}",
        short_revision(&report.base),
        short_revision(&report.head)
    )?;
    for c in &report.clusters {
        writeln!(w, "\n{}: {}", clean(&c.cluster), cluster_summary(c))?;
        let mut current: Option<&str> = None;
        for o in &c.changes {
            if o.kustomization.as_deref() != current {
                current = o.kustomization.as_deref();
                writeln!(w, "  Kustomization {}", clean(current.unwrap_or("(none)")))?;
            }
            writeln!(w, "    {} {}", sign(o.change), clean(&object_of(o)))?;
            for f in &o.fields {
                writeln!(w, "        {}", clean(&f.field))?;
                field_text(f, w)?;
            }
        }
        for p in &c.problems {
            let at = p.object.as_deref().or(p.path.as_deref()).unwrap_or("");
            let old = match (p.preexisting, p.advisory) {
                (true, _) => " (pre-existing)",
                (false, true) => " (audit mode)",
                _ => "",
            };
            writeln!(
                w,
                "  [{}]{old} {}: {}",
                p.class.as_str(),
                clean(at),
                clean(&p.message)
            )?;
        }
        for e in &c.errors {
            writeln!(w, "  [error] {}", clean(e))?;
        }
        for n in not_rendered_lines(&c.not_rendered) {
            writeln!(w, "  not seen: {}", clean(&n))?;
        }
        for n in &c.notes {
            writeln!(w, "  note: {}", clean(n))?;
        }
        if let Some(live) = &c.live {
            writeln!(
                w,
                "  live drift the merge would overwrite: {}",
                flotilla_core::report::summary::counts(live)
            )?;
        }
    }
    Ok(())
}

/// A field's change: a line diff for multi-line strings, else `-`/`+` values.
fn field_text(f: &FieldDelta, w: &mut dyn Write) -> io::Result<()> {
    if let (Some(Value::String(b)), Some(Value::String(h))) = (&f.base, &f.head)
        && (b.contains('\n') || h.contains('\n'))
    {
        for line in line_diff(b, h, 2) {
            match line {
                Line::Same(s) => writeln!(w, "          {}", clean(s))?,
                Line::Desired(s) => writeln!(w, "        - {}", clean(s))?,
                Line::Live(s) => writeln!(w, "        + {}", clean(s))?,
                Line::Skipped(n) => writeln!(w, "          … {n} unchanged lines")?,
            }
        }
        return Ok(());
    }
    if f.base.is_some() {
        writeln!(w, "        - {}", clean(&one_line(f.base.as_ref())))?;
    }
    if f.head.is_some() {
        writeln!(w, "        + {}", clean(&one_line(f.head.as_ref())))?;
    }
    Ok(())
}

/// JSON report (`PreviewReport`, see the README, "Preview report").
pub fn json(report: &PreviewReport, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}

/// Markdown for the pull-request comment, at most `limit` characters:
/// with every field diff if it fits, else objects only, else cut with a note.
pub fn markdown(report: &PreviewReport, limit: usize) -> String {
    let full = markdown_with(report, true);
    if full.chars().count() <= limit {
        return full;
    }
    let compact = markdown_with(report, false);
    if compact.chars().count() <= limit {
        return compact;
    }
    let note = "\n\n_…truncated: the preview is longer than a GitHub comment allows. Run `flotilla preview` locally for all of it._\n";
    let close = "\n</details>";
    let keep = limit.saturating_sub(note.chars().count() + close.len());
    let mut cut: String = compact.chars().take(keep).collect();
    // Never leave an open <details> swallowing the note.
    if cut.matches("<details>").count() > cut.matches("</details>").count() {
        cut.push_str(close);
    }
    cut + note
}

fn markdown_with(report: &PreviewReport, fields: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### flotilla preview");
    let _ = writeln!(
        s,
        "`{}` → `{}`\n",
        short_revision(&report.base),
        short_revision(&report.head)
    );
    let _ = writeln!(s, "| cluster | effect |\n|---|---|");
    for c in &report.clusters {
        let mark = if c.fails() { " ❌" } else { "" };
        let _ = writeln!(
            s,
            "| {} | {}{mark} |",
            escape(&c.cluster),
            cluster_summary(c)
        );
    }
    if !fields && report.has_changes() {
        let _ = writeln!(
            s,
            "\n_Field-level changes are left out to fit in one comment._"
        );
    }
    for c in report.clusters.iter().filter(|c| {
        !c.changes.is_empty()
            || !c.problems.is_empty()
            || !c.errors.is_empty()
            || !c.not_rendered.is_empty()
            || !c.notes.is_empty()
    }) {
        let _ = writeln!(
            s,
            "\n<details><summary><b>{}</b>: {}</summary>\n",
            escape(&c.cluster),
            cluster_summary(c)
        );
        cluster_markdown(&mut s, c, fields);
        let _ = writeln!(s, "\n</details>");
    }
    s
}

fn cluster_markdown(s: &mut String, c: &ClusterPreview, fields: bool) {
    if !c.changes.is_empty() {
        let _ = writeln!(
            s,
            "| | object | Kustomization | field | base | head |\n|---|---|---|---|---|---|"
        );
        for o in &c.changes {
            let ks = cell(o.kustomization.as_deref().unwrap_or(""));
            let _ = writeln!(
                s,
                "| {} | {} | {ks} | | | |",
                sign(o.change),
                cell(&object_of(o))
            );
            if fields {
                for f in &o.fields {
                    let (base, head) = value_cells(f.base.as_ref(), f.head.as_ref());
                    let _ = writeln!(s, "| | | | {} | {base} | {head} |", cell(&f.field));
                }
            }
        }
    }
    if !c.problems.is_empty() || !c.errors.is_empty() {
        let _ = writeln!(
            s,
            "\n**Problems in the head revision**\n\n| check | where | problem | |\n|---|---|---|---|"
        );
        for p in &c.problems {
            let at = p.object.as_deref().or(p.path.as_deref()).unwrap_or("");
            let old = match (p.preexisting, p.advisory) {
                (true, _) => "pre-existing",
                (false, true) => "new, audit mode",
                _ => "new",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {old} |",
                p.class.as_str(),
                cell(at),
                cell(&p.message)
            );
        }
        for e in &c.errors {
            let _ = writeln!(s, "| error | | {} |", cell(e));
        }
    }
    let unseen = not_rendered_lines(&c.not_rendered);
    if !unseen.is_empty() {
        let _ = writeln!(s, "\n**Not rendered: what changes there is unknown**\n");
        for line in unseen {
            let _ = writeln!(s, "- {}", escape(&line));
        }
    }
    if !c.notes.is_empty() {
        let _ = writeln!(s, "\n**Notes**\n");
        for note in &c.notes {
            let _ = writeln!(s, "- {}", escape(note));
        }
    }
    if let Some(live) = &c.live {
        let _ = writeln!(
            s,
            "\nLive drift this merge would overwrite: {}",
            escape(&flotilla_core::report::summary::counts(live))
        );
    }
}

/// One line per thing not rendered (as the audit report writes them).
fn not_rendered_lines(items: &[flotilla_core::findings::NotRendered]) -> Vec<String> {
    flotilla_core::report::summary::not_rendered_lines(&flotilla_core::findings::ClusterReport {
        not_rendered: items.to_vec(),
        ..Default::default()
    })
}

fn sign(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "+",
        ChangeKind::Removed => "-",
        ChangeKind::Changed => "~",
    }
}

fn object_of(o: &ObjectChange) -> String {
    object_name(&o.kind, o.namespace.as_deref(), &o.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::{FieldDelta, Problem, ProblemClass};
    use serde_json::json;

    fn report(n_fields: usize) -> PreviewReport {
        let fields = (0..n_fields)
            .map(|i| FieldDelta {
                field: format!("data.k{i}"),
                base: Some(json!("a")),
                head: Some(json!("b")),
                sensitive: false,
            })
            .collect();
        PreviewReport {
            version: 1,
            base: "main@sha1:1111111111".into(),
            head: "sha1:2222222222".into(),
            clusters: vec![
                ClusterPreview {
                    cluster: "c1".into(),
                    changes: vec![ObjectChange {
                        change: ChangeKind::Changed,
                        api_version: "v1".into(),
                        kind: "ConfigMap".into(),
                        namespace: Some("a".into()),
                        name: "@admin [x](http://evil)".into(),
                        kustomization: Some("flux-system/apps".into()),
                        fields,
                    }],
                    problems: vec![Problem {
                        class: ProblemClass::Policy,
                        kustomization: None,
                        path: None,
                        object: None,
                        message: "m".into(),
                        preexisting: false,
                        advisory: false,
                    }],
                    ..ClusterPreview::default()
                },
                ClusterPreview {
                    cluster: "c2".into(),
                    ..ClusterPreview::default()
                },
            ],
        }
    }

    #[test]
    fn markdown_is_marked_collapsible_and_escaped() {
        let md = markdown(&report(2), 65_536);
        assert!(md.starts_with("### flotilla preview"));
        assert!(md.contains(
            "<details><summary><b>c1</b>: 0 added, 1 changed, 0 removed; 1 problem</summary>"
        ));
        assert!(md.contains("| c2 | unchanged |"));
        assert!(md.contains("data.k1"));
        assert!(!md.contains("@admin") && !md.contains("](http"), "{md}");
    }

    #[test]
    fn long_previews_drop_fields_then_truncate() {
        let big = report(2_000);
        let md = markdown(&big, 10_000);
        assert!(md.chars().count() <= 10_000);
        assert!(md.contains("Field-level changes are left out"));
        let tiny = markdown(&big, 400);
        assert!(tiny.chars().count() <= 400, "{}", tiny.chars().count());
        assert!(tiny.ends_with("for all of it._\n"));
    }
}
