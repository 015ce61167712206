//! Prometheus metrics, served as OpenMetrics text on `/metrics`.
//!
//! Every name is prefixed `flotilla_`; counters get `_total` from the
//! encoder. Label values are cluster names, finding classes, kinds,
//! Kustomization names, fixed error labels and replica identities — never
//! object contents, so no secret can reach a label.
//!
//! A standby (leader election) audits nothing: its per-cluster gauges are
//! set from the leader's shared status ([`Metrics::apply_shared`]); its
//! counters count its own work, which is none.

use super::state::State;
use flotilla_core::findings::ClusterReport;
use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// `{cluster}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

/// `{cluster, class, kind, kustomization}`; `kustomization` is empty for
/// unmanaged objects.
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct FindingLabels {
    cluster: String,
    class: String,
    kind: String,
    kustomization: String,
}

/// `{cluster, error}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    cluster: String,
    error: String,
}

/// `{error}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: String,
}

/// `{kind}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// `{identity}`: this replica.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdentityLabels {
    identity: String,
}

/// `{holder}`: the replica holding the Lease.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HolderLabels {
    holder: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The service's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    findings: Family<FindingLabels, Gauge>,
    drift_age: Family<ClusterLabels, FloatGauge>,
    audit_duration: Family<ClusterLabels, Histogram, fn() -> Histogram>,
    last_success: Family<ClusterLabels, FloatGauge>,
    runs: Family<ClusterLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    apiserver_requests: Family<ClusterLabels, Counter>,
    git_fetch_errors: Counter,
    github_errors: Family<KindLabels, Counter>,
    publish_failures: Family<ErrorLabels, Counter>,
    up: Family<ClusterLabels, Gauge>,
    leader: Family<IdentityLabels, Gauge>,
    lease_holder: Family<HolderLabels, Gauge>,
    last_audit: FloatGauge,
    /// Finding series set last time per cluster, to drop the ones that went away.
    finding_series: Mutex<BTreeMap<String, Vec<FindingLabels>>>,
}

/// Audits take from under a second (snapshot) to minutes (large cluster
/// over a slow link): 0.25 s · 2^n up to ~17 min.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 13))
}

fn cluster(name: &str) -> ClusterLabels {
    ClusterLabels {
        cluster: name.to_owned(),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All metrics, registered under the `flotilla` prefix.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("flotilla"),
            findings: Family::default(),
            drift_age: Family::default(),
            audit_duration: Family::new_with_constructor(duration_histogram),
            last_success: Family::default(),
            runs: Family::default(),
            failures: Family::default(),
            apiserver_requests: Family::default(),
            git_fetch_errors: Counter::default(),
            github_errors: Family::default(),
            publish_failures: Family::default(),
            up: Family::default(),
            leader: Family::default(),
            lease_holder: Family::default(),
            last_audit: FloatGauge::default(),
            finding_series: Mutex::new(BTreeMap::new()),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "findings",
            "Findings of the last good audit",
            self.findings.clone(),
        );
        r.register(
            "drift_age_seconds",
            "Seconds since the current set of findings was first seen (0 when clean)",
            self.drift_age.clone(),
        );
        r.register(
            "audit_duration_seconds",
            "Duration of one cluster's audit",
            self.audit_duration.clone(),
        );
        r.register(
            "last_successful_audit_timestamp_seconds",
            "Unix time of the last audit that completed",
            self.last_success.clone(),
        );
        r.register("audit_runs", "Audit attempts", self.runs.clone());
        r.register(
            "audit_failures",
            "Audit attempts that failed, by error",
            self.failures.clone(),
        );
        r.register(
            "apiserver_requests",
            "Requests made to the API server by audits",
            self.apiserver_requests.clone(),
        );
        r.register(
            "git_fetch_errors",
            "Failed fetches of the GitOps repository",
            self.git_fetch_errors.clone(),
        );
        r.register(
            "github_errors",
            "Failed GitHub API calls, by kind",
            self.github_errors.clone(),
        );
        r.register(
            "publish_failures",
            "Failed publishes of drift pull requests, by error (github, git-push, drift-branch, ...)",
            self.publish_failures.clone(),
        );
        r.register(
            "up",
            "Whether the cluster's API server answered the last audit (1) or not (0)",
            self.up.clone(),
        );
        r.register(
            "leader",
            "Whether this replica leads (1: it audits and writes) or stands by (0)",
            self.leader.clone(),
        );
        r.register(
            "lease_holder_info",
            "The replica holding the leader election Lease, as this replica last read it",
            self.lease_holder.clone(),
        );
        r.register(
            "last_audit_timestamp_seconds",
            "Unix time the last audit cycle ended, on the leader (0: none yet)",
            self.last_audit.clone(),
        );
    }

    /// Whether this replica, `identity`, leads.
    pub fn set_leader(&self, identity: &str, leading: bool) {
        self.leader
            .get_or_create(&IdentityLabels {
                identity: identity.to_owned(),
            })
            .set(i64::from(leading));
    }

    /// The Lease holder as last read (`None`: nobody holds it).
    pub fn set_lease_holder(&self, holder: Option<&str>) {
        let current = holder.map(|h| HolderLabels {
            holder: h.to_owned(),
        });
        // One series at a time: the old holder's goes.
        self.lease_holder.clear();
        if let Some(labels) = current {
            self.lease_holder.get_or_create(&labels).set(1);
        }
    }

    /// On a standby: the leader's per-cluster figures, from its shared
    /// status (findings by class/kind/Kustomization, last success, up).
    pub fn apply_shared(&self, shared: &super::status::SharedStatus) {
        for (name, status) in &shared.clusters {
            let labels = cluster(name);
            match status.last_success {
                Some(t) => {
                    let seconds = t.as_millisecond() as f64 / 1000.0;
                    self.last_success.get_or_create(&labels).set(seconds);
                }
                None => {
                    self.last_success.remove(&labels);
                }
            }
            match status.up {
                Some(up) => {
                    self.up.get_or_create(&labels).set(i64::from(up));
                }
                None => {
                    self.up.remove(&labels);
                }
            }
            let counts = status
                .findings
                .iter()
                .map(|((class, kind, kustomization), n)| {
                    let labels = FindingLabels {
                        cluster: name.clone(),
                        class: class.clone(),
                        kind: kind.clone(),
                        kustomization: kustomization.clone(),
                    };
                    (labels, i64::try_from(*n).unwrap_or(i64::MAX))
                })
                .collect();
            self.set_findings(name, counts);
        }
    }

    /// Create the zero-valued series of a cluster, so a rate() over them
    /// works from the first scrape.
    pub fn init_cluster(&self, name: &str) {
        let _ = self.runs.get_or_create(&cluster(name));
        let _ = self.apiserver_requests.get_or_create(&cluster(name));
        let _ = self.drift_age.get_or_create(&cluster(name));
    }

    /// Count a completed audit and replace the cluster's finding series.
    pub fn record_success(
        &self,
        report: &ClusterReport,
        took: Duration,
        apiserver_requests: u64,
        now: Timestamp,
    ) {
        let labels = cluster(&report.cluster);
        self.runs.get_or_create(&labels).inc();
        self.audit_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.apiserver_requests
            .get_or_create(&labels)
            .inc_by(apiserver_requests);
        self.last_success
            .get_or_create(&labels)
            .set(now.as_millisecond() as f64 / 1000.0);
        self.up.get_or_create(&labels).set(1);
        self.replace_findings(report);
    }

    /// Count a failed audit. `took` is `None` when no audit ran (nothing
    /// fetched yet), so the duration histogram only holds real audits.
    /// `unreachable` sets `flotilla_up` to 0; other failures (a render
    /// error, say) say nothing about the API server.
    pub fn record_failure(
        &self,
        name: &str,
        error: &str,
        took: Option<Duration>,
        unreachable: bool,
    ) {
        let labels = cluster(name);
        self.runs.get_or_create(&labels).inc();
        if let Some(took) = took {
            self.audit_duration
                .get_or_create(&labels)
                .observe(took.as_secs_f64());
        }
        self.failures
            .get_or_create(&FailureLabels {
                cluster: name.to_owned(),
                error: error.to_owned(),
            })
            .inc();
        if unreachable {
            self.up.get_or_create(&labels).set(0);
        }
    }

    /// Count a failed git fetch.
    pub fn record_git_fetch_error(&self) {
        self.git_fetch_errors.inc();
    }

    /// Count a failed GitHub call (`server-error`, `rate-limited`, …).
    pub fn record_github_error(&self, kind: &str) {
        self.github_errors
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Count a failed publish by its error label (`github`, `git-push`, …).
    pub fn record_publish_failure(&self, error: &str) {
        self.publish_failures
            .get_or_create(&ErrorLabels {
                error: error.to_owned(),
            })
            .inc();
    }

    fn replace_findings(&self, report: &ClusterReport) {
        let mut counts: BTreeMap<FindingLabels, i64> = BTreeMap::new();
        for f in &report.findings {
            let labels = FindingLabels {
                cluster: report.cluster.clone(),
                class: f.class.as_str().to_owned(),
                kind: f.kind.clone(),
                kustomization: f.kustomization.clone().unwrap_or_default(),
            };
            *counts.entry(labels).or_default() += 1;
        }
        self.set_findings(&report.cluster, counts);
    }

    /// Make `counts` the cluster's finding series, dropping the others.
    fn set_findings(&self, cluster_name: &str, counts: BTreeMap<FindingLabels, i64>) {
        let mut series = self
            .finding_series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for old in series.remove(cluster_name).unwrap_or_default() {
            if !counts.contains_key(&old) {
                self.findings.remove(&old);
            }
        }
        for (labels, n) in &counts {
            self.findings.get_or_create(labels).set(*n);
        }
        series.insert(cluster_name.to_owned(), counts.into_keys().collect());
    }

    /// The OpenMetrics text, with drift ages brought up to `now`.
    pub fn encode(&self, state: &State, now: Timestamp) -> String {
        for (name, age) in state.drift_ages(now) {
            self.drift_age.get_or_create(&cluster(&name)).set(age);
        }
        self.last_audit.set(
            state
                .last_cycle()
                .map_or(0.0, |t| t.as_millisecond() as f64 / 1000.0),
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
