//! Wording shared by the human printers: the per-cluster summary line, short
//! revisions, and how a value reads in one line.

use crate::findings::{ClusterReport, FindingClass};
use serde_json::Value;

/// `10 findings (4 modified, 1 missing, 2 unmanaged, 1 suspended, 1 unhealthy)`,
/// or `no drift`; then `; 1 error, audit incomplete` when there were errors
/// (so "no drift" is never read as a clean bill when the audit failed).
pub fn counts(cluster: &ClusterReport) -> String {
    let findings = finding_counts(cluster);
    match cluster.errors.len() {
        0 => findings,
        1 => format!("{findings}; 1 error, audit incomplete"),
        n => format!("{findings}; {n} errors, audit incomplete"),
    }
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
