//! Wording shared by the human printers: the per-cluster summary line, short
//! revisions, and how a value reads in one line.

use crate::findings::{ClusterReport, FindingClass};
use serde_json::Value;

/// `10 findings (4 modified, 1 missing, 2 unmanaged, 1 suspended, 1 unhealthy)`,
/// or `no drift`; then `; 1 error, audit incomplete` when there were errors
/// (so "no drift" is never read as a clean bill when the audit failed).
pub fn counts(cluster: &ClusterReport) -> String {
    let mut line = finding_counts(cluster);
    if let Some(limits) = limits(cluster) {
        line.push_str("; ");
        line.push_str(&limits);
    }
    match cluster.errors.len() {
        0 => line,
        1 => format!("{line}; 1 error, audit incomplete"),
        n => format!("{line}; {n} errors, audit incomplete"),
    }
}

/// What the audit could not see, in a few words (`2 not rendered, 3 fields
/// not compared`), so "no drift" never reads as the whole truth when part of
/// the desired state was not rendered or compared.
pub fn limits(cluster: &ClusterReport) -> Option<String> {
    let mut parts = Vec::new();
    if !cluster.not_rendered.is_empty() {
        parts.push(format!("{} not rendered", cluster.not_rendered.len()));
    }
    match cluster.not_compared.fields {
        0 => {}
        1 => parts.push("1 field not compared".to_owned()),
        n => parts.push(format!("{n} fields not compared")),
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// One line per thing not rendered: `Kustomization flux-system/apps
/// (foreign-source): … [12 live objects not compared]`.
pub fn not_rendered_lines(cluster: &ClusterReport) -> Vec<String> {
    let mut lines: Vec<String> = cluster
        .not_rendered
        .iter()
        .map(|n| {
            let who = n.kustomization.as_deref().map_or_else(
                || "the entry path".to_owned(),
                |k| format!("Kustomization {k}"),
            );
            let live = match n.live_objects {
                Some(0) | None => String::new(),
                Some(1) => " [1 live object it applied is not compared]".to_owned(),
                Some(c) => format!(" [{c} live objects it applied are not compared]"),
            };
            format!("{who} ({}): {}{live}", n.reason, n.detail)
        })
        .collect();
    let nc = cluster.not_compared;
    if nc.fields > 0 {
        lines.push(format!(
            "{} field{} in {} object{} hold values flotilla cannot know (Secrets it may not read, SOPS without a key): not compared",
            nc.fields,
            if nc.fields == 1 { "" } else { "s" },
            nc.objects,
            if nc.objects == 1 { "" } else { "s" },
        ));
    }
    lines
}

fn finding_counts(cluster: &ClusterReport) -> String {
    let n = cluster.findings.len();
    if n == 0 {
        return "no drift".to_owned();
    }
    let parts: Vec<String> = [
        (FindingClass::Modified, "modified"),
        (FindingClass::Missing, "missing"),
        (FindingClass::Unmanaged, "unmanaged"),
        (FindingClass::FluxSuspended, "suspended"),
        (FindingClass::FluxUnhealthy, "unhealthy"),
        (FindingClass::FluxStale, "stale"),
    ]
    .iter()
    .filter_map(|(class, word)| {
        let c = cluster
            .findings
            .iter()
            .filter(|f| f.class == *class)
            .count();
        (c > 0).then(|| format!("{c} {word}"))
    })
    .collect();
    let noun = if n == 1 { "finding" } else { "findings" };
    format!("{n} {noun} ({})", parts.join(", "))
}

/// `cluster @ main@sha1:255b005` (the revision's hash cut to 7 characters).
pub fn title(cluster: &ClusterReport) -> String {
    match &cluster.revision {
        Some(rev) => format!("{} @ {}", cluster.cluster, short_revision(rev)),
        None => cluster.cluster.clone(),
    }
}

/// `main@sha1:<40 hex>` → `main@sha1:<7 hex>`; other forms unchanged.
pub fn short_revision(rev: &str) -> String {
    let cut = rev.rfind([':', '/']).map_or(0, |i| i + 1);
    let hash = &rev[cut..];
    if hash.len() > 7 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("{}{}", &rev[..cut], &hash[..7])
    } else {
        rev.to_owned()
    }
}

/// A value on one line: strings bare, other JSON compact, absent as `(absent)`.
pub fn one_line(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(absent)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `Kind namespace/name`, or `Kind name` when cluster-scoped.
pub fn object_name(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_name_each_class_and_errors() {
        let mut c = ClusterReport {
            cluster: "c".into(),
            ..ClusterReport::default()
        };
        assert_eq!(counts(&c), "no drift");
        c.errors.push("cluster c: forbidden".into());
        assert_eq!(counts(&c), "no drift; 1 error, audit incomplete");
    }

    #[test]
    fn revisions_shorten_to_seven() {
        assert_eq!(
            short_revision("main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93"),
            "main@sha1:255b005"
        );
        assert_eq!(
            short_revision("main/255b0055ca13d40194cd337ea7d45cd55e568f93"),
            "main/255b005"
        );
        assert_eq!(short_revision("v1.2"), "v1.2");
    }
}
