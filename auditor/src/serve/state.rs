//! What the service knows between cycles, shared by the loop and HTTP.
//!
//! The loop writes; `/metrics`, `/readyz` and the fleet page read. The last *good* report of
//! each cluster is kept across failures, so an API server outage shows up as
//! `flotilla_up 0` and a growing failure count while the drift figures stay
//! those of the last audit that worked. Nothing here is persisted: after a
//! restart the first cycle rebuilds it.
//!
//! With leader election, a standby audits nothing: its state is the
//! leader's, taken from the status the leader shares on the Lease
//! ([`super::status`], [`State::adopt_shared`]). Such a cluster has no
//! `last_good` report: the status carries counts, not findings
//! ([`ClusterStatus::finding_counts`] gives them either way).

use crate::findings::{ClusterReport, Finding};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::watch;

/// The service's view of one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterStatus {
    /// The last audit that completed.
    pub last_good: Option<ClusterReport>,
    /// When it completed.
    pub last_success: Option<Timestamp>,
    /// When the last attempt (good or not) ended.
    pub last_attempt: Option<Timestamp>,
    /// The last attempt's error, cleared by a success.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When the current set of findings was first seen; `None` when clean.
    pub drift_since: Option<Timestamp>,
    drift_fingerprint: Option<u64>,
    /// Whether the API server answered the last audit that says so (a
    /// success, or a failure to reach it); `None` before any.
    up: Option<bool>,
    /// The metric label of the last attempt's error (`render`, `timeout`, …).
    error_kind: Option<String>,
    /// Link to the cluster's open drift pull request, if any.
    pull_request: Option<String>,
    /// On a standby: the leader's finding counts (it has no report).
    shared_counts: Option<FindingCounts>,
}

/// Finding counts by `(class, kind, kustomization)`, the labels of
/// `flotilla_findings` (`kustomization` empty for unmanaged objects).
pub type FindingCounts = BTreeMap<(String, String, String), u64>;

impl ClusterStatus {
    /// Identity of the current findings (objects and fields, no values).
    pub fn drift_fingerprint(&self) -> Option<u64> {
        self.drift_fingerprint
    }

    /// Whether the API server answered the last audit (`flotilla_up`).
    pub fn up(&self) -> Option<bool> {
        self.up
    }

    /// The metric label of the last attempt's error, cleared by a success.
    pub fn error_kind(&self) -> Option<&str> {
        self.error_kind.as_deref()
    }

    /// Link to the cluster's open drift pull request.
    pub fn pull_request(&self) -> Option<&str> {
        self.pull_request.as_deref()
    }

    /// The findings of the last good audit, counted by class, kind and
    /// Kustomization; on a standby, the counts the leader shared.
    pub fn finding_counts(&self) -> FindingCounts {
        let Some(report) = &self.last_good else {
            return self.shared_counts.clone().unwrap_or_default();
        };
        let mut counts = FindingCounts::new();
        for f in &report.findings {
            let key = (
                f.class.as_str().to_owned(),
                f.kind.clone(),
                f.kustomization.clone().unwrap_or_default(),
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }
}

/// One cluster as a standby learns it from the leader's shared status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedCluster {
    /// When the leader's last audit of it completed.
    pub last_success: Option<Timestamp>,
    /// When the leader's last attempt ended.
    pub last_attempt: Option<Timestamp>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The last error's metric label.
    pub error_kind: Option<String>,
    /// When the current findings were first seen.
    pub drift_since: Option<Timestamp>,
    /// Identity of the current findings.
    pub drift_fingerprint: Option<u64>,
    /// Whether the API server answered.
    pub up: Option<bool>,
    /// Link to the open drift pull request.
    pub pull_request: Option<String>,
    /// Finding counts.
    pub findings: FindingCounts,
}

#[derive(Debug, Default)]
struct Inner {
    clusters: BTreeMap<String, ClusterStatus>,
    revision: Option<String>,
    last_fetch_error: Option<String>,
    /// When the last cycle ended (here, or on the leader for a standby).
    last_cycle: Option<Timestamp>,
    /// Identity of the leader whose status this is, on a standby.
    shared_from: Option<String>,
}

/// Shared service state.
#[derive(Debug)]
pub struct State {
    inner: RwLock<Inner>,
    cycles: watch::Sender<u64>,
}

impl State {
    /// State for these clusters, none audited yet.
    pub fn new<I: IntoIterator<Item = String>>(clusters: I) -> State {
        let clusters = clusters
            .into_iter()
            .map(|c| (c, ClusterStatus::default()))
            .collect();
        State {
            inner: RwLock::new(Inner {
                clusters,
                ..Inner::default()
            }),
            cycles: watch::Sender::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ready once every cluster has had one audit attempt, whatever its
    /// outcome: a failing cluster must still be scraped to be alerted on,
    /// and a not-ready pod drops out of the metrics Service.
    pub fn is_ready(&self) -> bool {
        self.read()
            .clusters
            .values()
            .all(|c| c.last_attempt.is_some())
    }

    /// Names of the clusters, sorted.
    pub fn cluster_names(&self) -> Vec<String> {
        self.read().clusters.keys().cloned().collect()
    }

    /// A copy of one cluster's status.
    pub fn cluster(&self, name: &str) -> Option<ClusterStatus> {
        self.read().clusters.get(name).cloned()
    }

    /// Every cluster's status, sorted by name, read at one instant (the
    /// fleet page shows them together).
    pub fn clusters(&self) -> Vec<(String, ClusterStatus)> {
        self.read()
            .clusters
            .iter()
            .map(|(name, status)| (name.clone(), status.clone()))
            .collect()
    }

    /// The last revision fetched from Git.
    pub fn revision(&self) -> Option<String> {
        self.read().revision.clone()
    }

    /// The last git fetch error, cleared by a good fetch.
    pub fn last_fetch_error(&self) -> Option<String> {
        self.read().last_fetch_error.clone()
    }

    /// Remember a good fetch.
    pub fn record_fetch(&self, revision: &str) {
        let mut inner = self.write();
        inner.revision = Some(revision.to_owned());
        inner.last_fetch_error = None;
    }

    /// Remember a failed fetch; the previous revision stays in use.
    pub fn record_fetch_error(&self, error: String) {
        self.write().last_fetch_error = Some(error);
    }

    /// Keep a completed audit and move the drift clock if the findings changed.
    pub fn record_success(&self, report: ClusterReport, now: Timestamp) {
        let mut inner = self.write();
        let status = inner.clusters.entry(report.cluster.clone()).or_default();
        let fingerprint = drift_fingerprint(&report.findings);
        if fingerprint != status.drift_fingerprint {
            status.drift_since = fingerprint.map(|_| now);
            status.drift_fingerprint = fingerprint;
        }
        status.last_good = Some(report);
        status.last_success = Some(now);
        status.last_attempt = Some(now);
        status.last_error = None;
        status.consecutive_failures = 0;
        status.up = Some(true);
        status.error_kind = None;
        status.shared_counts = None;
    }

    /// Remember what kind of failure the last one was (its metric label) and
    /// whether it says the API server is unreachable (`flotilla_up 0`).
    pub fn record_error_kind(&self, cluster: &str, kind: &str, unreachable: bool) {
        let mut inner = self.write();
        let status = inner.clusters.entry(cluster.to_owned()).or_default();
        status.error_kind = Some(kind.to_owned());
        if unreachable {
            status.up = Some(false);
        }
    }

    /// Remember the cluster's drift pull request (`None`: it has none).
    pub fn record_pull_request(&self, cluster: &str, link: Option<String>) {
        let mut inner = self.write();
        inner
            .clusters
            .entry(cluster.to_owned())
            .or_default()
            .pull_request = link;
    }

    /// When the last cycle ended.
    pub fn last_cycle(&self) -> Option<Timestamp> {
        self.read().last_cycle
    }

    /// On a standby: the leader whose shared status this state holds.
    pub fn shared_from(&self) -> Option<String> {
        self.read().shared_from.clone()
    }

    /// On a standby: replace every cluster's status with the leader's, as
    /// shared on the Lease. Clusters the leader does not report keep their
    /// names and lose their status (a config the two replicas disagree on
    /// shows as not audited). Does not count as a cycle of this process.
    pub fn adopt_shared(
        &self,
        leader: &str,
        revision: Option<String>,
        last_cycle: Option<Timestamp>,
        clusters: &BTreeMap<String, SharedCluster>,
    ) {
        let mut inner = self.write();
        inner.revision = revision;
        inner.last_cycle = last_cycle;
        inner.shared_from = Some(leader.to_owned());
        for (name, status) in inner.clusters.iter_mut() {
            let shared = clusters.get(name).cloned().unwrap_or_default();
            *status = ClusterStatus {
                last_good: None,
                last_success: shared.last_success,
                last_attempt: shared.last_attempt,
                last_error: shared.error_kind.clone(),
                consecutive_failures: shared.consecutive_failures,
                drift_since: shared.drift_since,
                drift_fingerprint: shared.drift_fingerprint,
                up: shared.up,
                error_kind: shared.error_kind,
                pull_request: shared.pull_request,
                shared_counts: Some(shared.findings),
            };
        }
    }

    /// Forget that the state came from another leader (this process leads
    /// now; its own audits take over).
    pub fn stop_sharing(&self) {
        self.write().shared_from = None;
    }

    /// Remember a failed audit; the last good report is kept.
    pub fn record_failure(&self, cluster: &str, error: String, now: Timestamp) {
        let mut inner = self.write();
        let status = inner.clusters.entry(cluster.to_owned()).or_default();
        status.last_attempt = Some(now);
        status.last_error = Some(error);
        status.consecutive_failures = status.consecutive_failures.saturating_add(1);
    }

    /// Seconds since each drifted cluster's current findings were first seen
    /// (0 for clean or never-audited clusters).
    pub fn drift_ages(&self, now: Timestamp) -> Vec<(String, f64)> {
        self.read()
            .clusters
            .iter()
            .map(|(name, s)| {
                let age = s.drift_since.map_or(0.0, |since| {
                    now.duration_since(since).as_secs_f64().max(0.0)
                });
                (name.clone(), age)
            })
            .collect()
    }

    /// Mark a cycle done (wakes [`State::wait_for_cycles`]).
    pub fn finish_cycle(&self) {
        self.write().last_cycle = Some(Timestamp::now());
        self.cycles.send_modify(|n| *n += 1);
    }

    /// Cycles completed since start.
    pub fn cycles_completed(&self) -> u64 {
        *self.cycles.borrow()
    }

    /// Wait until at least `n` cycles have completed.
    pub fn wait_for_cycles(&self, n: u64) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.cycles.subscribe();
        async move {
            // The sender lives in `State`; if it is gone there is nothing to wait for.
            let _ = rx.wait_for(|done| *done >= n).await;
        }
    }
}

/// Identity of a set of findings: which objects and fields drifted, not the
/// values (so a value flapping between two wrong states does not reset the
/// age), and never anything secret.
fn drift_fingerprint(findings: &[Finding]) -> Option<u64> {
    if findings.is_empty() {
        return None;
    }
    let mut h = DefaultHasher::new();
    for f in findings {
        (f.class, &f.api_version, &f.kind, &f.namespace, &f.name).hash(&mut h);
        f.paths.iter().for_each(|p| p.path.hash(&mut h));
    }
    Some(h.finish())
}

/// The last rendered desired state per cluster, so an unchanged commit is
/// not rendered again (kustomize is the slow part of an audit).
///
/// Generic over the value so the service does not depend on how desired
/// state is built; the runner stores its `Desired` here.
#[derive(Debug)]
pub struct DesiredCache<T> {
    entries: Mutex<BTreeMap<String, (String, Arc<T>)>>,
}

impl<T> Default for DesiredCache<T> {
    fn default() -> Self {
        DesiredCache {
            entries: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T> DesiredCache<T> {
    /// The value for `cluster` at `revision`: cached if that revision was
    /// rendered last time, otherwise rendered now and kept. A failed render
    /// keeps the previous entry (for the previous revision) untouched.
    pub async fn get_or_render<E, F, Fut>(
        &self,
        cluster: &str,
        revision: &str,
        render: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.cached(cluster, revision) {
            return Ok(hit);
        }
        let fresh = Arc::new(render().await?);
        self.lock().insert(
            cluster.to_owned(),
            (revision.to_owned(), Arc::clone(&fresh)),
        );
        Ok(fresh)
    }

    /// The value for `cluster` if it was rendered at `revision`.
    pub fn cached(&self, cluster: &str, revision: &str) -> Option<Arc<T>> {
        self.lock()
            .get(cluster)
            .filter(|(rev, _)| rev == revision)
            .map(|(_, v)| Arc::clone(v))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, Arc<T>)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::FindingClass;

    fn finding(name: &str) -> Finding {
        Finding {
            class: FindingClass::Modified,
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("ingress".into()),
            name: name.into(),
            kustomization: Some("flux-system/infra".into()),
            paths: vec![],
            manager: None,
            condition: None,
            reverts: None,
        }
    }

    fn report(findings: Vec<Finding>) -> ClusterReport {
        ClusterReport {
            cluster: "a".into(),
            findings,
            ..ClusterReport::default()
        }
    }

    #[test]
    fn drift_age_restarts_only_when_the_findings_change() {
        let state = State::new(["a".to_owned()]);
        let t0: Timestamp = "2026-11-21T08:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-11-21T08:05:00Z".parse().unwrap();
        let t2: Timestamp = "2026-11-21T08:10:00Z".parse().unwrap();
        state.record_success(report(vec![finding("traefik")]), t0);
        state.record_success(report(vec![finding("traefik")]), t1);
        assert_eq!(state.drift_ages(t1), vec![("a".to_owned(), 300.0)]);
        state.record_success(report(vec![finding("traefik"), finding("kured")]), t2);
        assert_eq!(state.drift_ages(t2), vec![("a".to_owned(), 0.0)]);
        state.record_success(report(vec![]), t2);
        assert_eq!(state.cluster("a").unwrap().drift_since, None);
    }

    #[test]
    fn every_cluster_is_read_at_once_with_its_pull_request() {
        let state = State::new(["b".to_owned(), "a".to_owned()]);
        let link = "https://github.com/contoso/fleet/pull/4".to_owned();
        state.record_pull_request("a", Some(link.clone()));
        let all = state.clusters();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(all[0].1.pull_request(), Some(link.as_str()));
        assert_eq!(all[1].1.pull_request(), None);
        state.record_pull_request("a", None);
        assert_eq!(state.cluster("a").unwrap().pull_request(), None);
    }

    #[tokio::test]
    async fn cache_renders_once_per_revision() {
        let cache = DesiredCache::<u32>::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let render = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>(7)
        };
        cache.get_or_render("a", "sha1:1", render).await.unwrap();
        cache.get_or_render("a", "sha1:1", render).await.unwrap();
        cache.get_or_render("a", "sha1:2", render).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        let failed = cache
            .get_or_render("a", "sha1:3", || async { Err::<u32, _>("boom") })
            .await;
        assert_eq!(failed, Err("boom"));
        assert!(cache.cached("a", "sha1:2").is_some());
    }
}
