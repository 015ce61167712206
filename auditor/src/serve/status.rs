//! The status a leader shares with its standbys, as one annotation on the
//! election Lease.
//!
//! A standby audits nothing, yet must keep serving `/metrics`, `/readyz` and
//! whatever reads [`State`] from the last shared state. Two ways were open:
//! let every standby audit read-only (as many API server reads as replicas,
//! which the "cheap" rule forbids), or let the leader publish what its
//! audits found. The leader publishes, after every cycle, this document on
//! the Lease it already holds: no other object, so the RBAC stays the
//! Lease's, and a standby reads it with the same GET that tells it who
//! leads.
//!
//! Only what the metrics and probes need goes in, never a value of the
//! cluster: per cluster the times of the last attempt and success, the
//! failure count and the error's metric label, whether the API server
//! answered, when the drift began and its fingerprint (a hash of object
//! identities and field paths, so the drift age carries over a failover),
//! finding counts by class, kind and Kustomization (the labels of
//! `flotilla_findings`), and the drift PR link. Kubernetes caps all
//! annotations of an object at 256 KiB together; one cluster takes a few
//! hundred bytes.

use super::state::{SharedCluster, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The annotation key on the Lease.
pub const ANNOTATION: &str = "flotilla.dev/status";

/// Version of the document; a standby ignores any other.
pub const VERSION: u32 = 1;

/// Why a shared status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON, or not this document.
    #[error("lease annotation {ANNOTATION}: not a flotilla status")]
    Parse(#[source] serde_json::Error),
    /// Written by a flotilla with another document version.
    #[error("lease annotation {ANNOTATION}: version {found}, this flotilla reads {VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// A timestamp that does not parse.
    #[error("lease annotation {ANNOTATION}: {field}: not an RFC 3339 time")]
    Time {
        /// Which field.
        field: String,
    },
}

/// The shared status, as read back by a standby.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedStatus {
    /// Identity of the leader that wrote it.
    pub leader: String,
    /// When it was written.
    pub written: Timestamp,
    /// The revision the leader audits.
    pub revision: Option<String>,
    /// When the leader's last cycle ended.
    pub last_cycle: Option<Timestamp>,
    /// Per cluster.
    pub clusters: BTreeMap<String, SharedCluster>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    version: u32,
    leader: String,
    written: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_cycle: Option<String>,
    clusters: BTreeMap<String, DocCluster>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DocCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_attempt: Option<String>,
    #[serde(default)]
    consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    up: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drift_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drift_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    findings: Vec<DocFindings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pull_request: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DocFindings {
    class: String,
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kustomization: String,
    count: u64,
}

/// The document for this process's state, as the leader `leader` writes it
/// at `now` (JSON).
pub fn encode(state: &State, leader: &str, now: Timestamp) -> String {
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
    let clusters = state
        .cluster_names()
        .into_iter()
        .filter_map(|name| {
            let s = state.cluster(&name)?;
            let findings = s
                .finding_counts()
                .into_iter()
                .map(|((class, kind, kustomization), count)| DocFindings {
                    class,
                    kind,
                    kustomization,
                    count,
                })
                .collect();
            let doc = DocCluster {
                last_success: time(s.last_success),
                last_attempt: time(s.last_attempt),
                consecutive_failures: s.consecutive_failures,
                error: s.error_kind().map(str::to_owned),
                up: s.up(),
                drift_since: time(s.drift_since),
                drift_fingerprint: s.drift_fingerprint().map(|f| format!("{f:016x}")),
                findings,
                pull_request: s.pull_request().map(str::to_owned),
            };
            Some((name, doc))
        })
        .collect();
    let doc = Document {
        version: VERSION,
        leader: leader.to_owned(),
        written: now.to_string(),
        revision: state.revision(),
        last_cycle: time(state.last_cycle()),
        clusters,
    };
    // Strings, numbers and maps only: serialising cannot fail.
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Read a document written by [`encode`].
pub fn decode(text: &str) -> Result<SharedStatus, Error> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_str(text).map_err(Error::Parse)?;
    if v.version != VERSION {
        return Err(Error::Version { found: v.version });
    }
    let doc: Document = serde_json::from_str(text).map_err(Error::Parse)?;
    let time = |t: &Option<String>, field: &str| -> Result<Option<Timestamp>, Error> {
        t.as_deref()
            .map(|t| {
                t.parse().map_err(|_| Error::Time {
                    field: field.to_owned(),
                })
            })
            .transpose()
    };
    let mut clusters = BTreeMap::new();
    for (name, c) in doc.clusters {
        let fingerprint = c
            .drift_fingerprint
            .as_deref()
            .map(|f| u64::from_str_radix(f, 16))
            .transpose()
            .map_err(|_| Error::Time {
                field: format!("clusters.{name}.driftFingerprint"),
            })?;
        clusters.insert(
            name.clone(),
            SharedCluster {
                last_success: time(&c.last_success, "lastSuccess")?,
                last_attempt: time(&c.last_attempt, "lastAttempt")?,
                consecutive_failures: c.consecutive_failures,
                error_kind: c.error,
                drift_since: time(&c.drift_since, "driftSince")?,
                drift_fingerprint: fingerprint,
                up: c.up,
                pull_request: c.pull_request,
                findings: c
                    .findings
                    .into_iter()
                    .map(|f| ((f.class, f.kind, f.kustomization), f.count))
                    .collect(),
            },
        );
    }
    Ok(SharedStatus {
        leader: doc.leader,
        written: doc.written.parse().map_err(|_| Error::Time {
            field: "written".into(),
        })?,
        revision: doc.revision,
        last_cycle: time(&doc.last_cycle, "lastCycle")?,
        clusters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{ClusterReport, FieldChange, Finding, FindingClass};

    fn report() -> ClusterReport {
        let secret_path = FieldChange {
            path: "/data/password".into(),
            field: "data.password".into(),
            desired: Some("c2VjcmV0LWluLWdpdA==".into()),
            live: Some("c2VjcmV0LWxpdmU=".into()),
            manager: None,
            time: None,
            sensitive: true,
            reverts: None,
        };
        let finding = |kind: &str, name: &str| Finding {
            class: FindingClass::Modified,
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("ingress".into()),
            name: name.into(),
            kustomization: Some("flux-system/infra".into()),
            paths: vec![secret_path.clone()],
            manager: None,
            condition: None,
            reverts: None,
        };
        ClusterReport {
            cluster: "a".into(),
            revision: Some("main@sha1:0123".into()),
            findings: vec![finding("Secret", "basic-auth"), finding("Secret", "tls")],
            ..ClusterReport::default()
        }
    }

    #[test]
    fn a_standby_reads_back_what_the_leader_wrote_and_no_value() {
        let leader = State::new(["a".to_owned(), "b".to_owned()]);
        let t0: Timestamp = "2026-11-21T08:00:00Z".parse().unwrap();
        leader.record_fetch("main@sha1:0123");
        leader.record_success(report(), t0);
        leader.record_failure("b", "cluster b: api server unreachable".into(), t0);
        leader.record_error_kind("b", "apiserver-unreachable", true);
        leader.record_pull_request("a", Some("https://github.com/contoso/fleet/pull/7".into()));
        leader.finish_cycle();
        let text = encode(&leader, "flotilla-0-abc", t0);
        for value in ["c2VjcmV0", "basic-auth", "ingress", "password"] {
            assert!(!text.contains(value), "{value} leaked into {text}");
        }

        let shared = decode(&text).unwrap();
        assert_eq!(shared.leader, "flotilla-0-abc");
        assert_eq!(
            shared.clusters["a"].findings,
            BTreeMap::from([(
                (
                    "modified".to_owned(),
                    "Secret".to_owned(),
                    "flux-system/infra".to_owned()
                ),
                2
            )])
        );
        let standby = State::new(["a".to_owned(), "b".to_owned()]);
        assert!(!standby.is_ready());
        standby.adopt_shared(
            &shared.leader,
            shared.revision.clone(),
            shared.last_cycle,
            &shared.clusters,
        );
        assert!(
            standby.is_ready(),
            "every cluster had an attempt on the leader"
        );
        let (a, b) = (standby.cluster("a").unwrap(), standby.cluster("b").unwrap());
        let la = leader.cluster("a").unwrap();
        assert_eq!(a.drift_since, la.drift_since);
        assert_eq!(a.drift_fingerprint(), la.drift_fingerprint());
        assert_eq!(a.up(), Some(true));
        assert_eq!(a.pull_request(), la.pull_request());
        assert_eq!(a.finding_counts(), la.finding_counts(), "counts carry over");
        assert_eq!(b.up(), Some(false));
        assert_eq!(b.error_kind(), Some("apiserver-unreachable"));
        assert_eq!(b.consecutive_failures, 1);
        assert_eq!(standby.revision().as_deref(), Some("main@sha1:0123"));
        assert_eq!(standby.last_cycle(), leader.last_cycle());
        assert_eq!(standby.cycles_completed(), 0, "adopting is not a cycle");
    }

    #[test]
    fn other_versions_and_other_text_are_refused() {
        assert!(matches!(
            decode(r#"{"version":2,"leader":"x"}"#),
            Err(Error::Version { found: 2 })
        ));
        assert!(matches!(decode("not json"), Err(Error::Parse(_))));
        assert!(matches!(
            decode(
                r#"{"version":1,"leader":"x","written":"2026-01-01T00:00:00Z","clusters":{},"extra":1}"#
            ),
            Err(Error::Parse(_))
        ));
    }
}
