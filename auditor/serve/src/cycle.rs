//! One cycle of the loop (fetch, audit every requested cluster
//! concurrently, publish), and the bookkeeping between cycles: which
//! requests to coalesce, which retries are due, how far each fault source
//! has backed off.
//!
//! With leader election the loop only starts a cycle while leading; a cycle
//! that loses leadership on the way finishes its (read-only) audits but does
//! not publish, and the runner fences each write on its own as well.

use super::backoff::Backoff;
use super::leader::Leadership;
use super::metrics::Metrics;
use super::state::State;
use super::{
    AuditRequest, AuditScope, ClusterAudit, CycleRunner, Error, LoopOptions, Reason, Shutdown,
    error_chain,
};
use flotilla_core::findings::ClusterReport;
use futures::FutureExt;
use futures::future::join_all;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// Clusters to audit in one cycle, and why.
#[derive(Debug, Default)]
pub(super) struct Batch {
    clusters: BTreeSet<String>,
    reasons: BTreeSet<&'static str>,
}

/// The loop's private bookkeeping: backoffs and pending retries.
pub(super) struct Driver<'a, R> {
    runner: &'a R,
    options: &'a LoopOptions,
    state: &'a State,
    metrics: &'a Metrics,
    leadership: &'a Leadership,
    shutdown: Shutdown,
    cluster_backoff: BTreeMap<String, Backoff>,
    git_backoff: Backoff,
    github_backoff: Backoff,
    /// When to re-audit what; `AuditScope::All` for git and GitHub retries.
    retries: BTreeMap<AuditScope, Instant>,
    cycle: u64,
}

impl<'a, R: CycleRunner> Driver<'a, R> {
    pub(super) fn new(
        runner: &'a R,
        options: &'a LoopOptions,
        state: &'a State,
        metrics: &'a Metrics,
        leadership: &'a Leadership,
        shutdown: Shutdown,
    ) -> Self {
        let seed = options.seed;
        let cluster_backoff = options
            .clusters
            .iter()
            .zip(2u64..)
            .map(|(c, i)| {
                (
                    c.clone(),
                    Backoff::new(options.backoff, seed.wrapping_add(i)),
                )
            })
            .collect();
        Driver {
            runner,
            options,
            state,
            metrics,
            leadership,
            shutdown,
            cluster_backoff,
            git_backoff: Backoff::new(options.backoff, seed),
            github_backoff: Backoff::new(options.backoff, seed.wrapping_add(1)),
            retries: BTreeMap::new(),
            cycle: 0,
        }
    }

    pub(super) fn batch_for(&mut self, requests: &[AuditRequest]) -> Batch {
        let mut batch = Batch::default();
        for r in requests {
            self.add_to_batch(&mut batch, r);
        }
        batch
    }

    /// Add a request; unknown cluster names are logged and dropped. A
    /// cluster in the batch has its pending retry cancelled: it is being
    /// audited now.
    fn add_to_batch(&mut self, batch: &mut Batch, request: &AuditRequest) {
        batch.reasons.insert(request.reason.as_str());
        match &request.target {
            AuditScope::All => {
                batch.clusters.extend(self.options.clusters.iter().cloned());
                self.retries.clear();
            }
            AuditScope::Cluster(c) if self.options.clusters.contains(c) => {
                batch.clusters.insert(c.clone());
                self.retries.remove(&request.target);
            }
            AuditScope::Cluster(c) => tracing::warn!(
                cluster = c,
                "audit requested for an unknown cluster, ignored"
            ),
        }
    }

    /// Wait for the next request or due retry, then take everything else
    /// already queued with it. `None` on shutdown, or when no sender and no
    /// retry is left.
    pub(super) async fn next_batch(
        &mut self,
        requests: &mut mpsc::Receiver<AuditRequest>,
    ) -> Option<Batch> {
        let mut batch = Batch::default();
        let mut closed = false;
        while batch.clusters.is_empty() {
            let next_retry = self.retries.values().min().copied();
            if closed && next_retry.is_none() {
                return None;
            }
            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                biased;
                () = self.shutdown.wait() => return None,
                () = tokio::time::sleep_until(next_retry.unwrap_or(far)), if next_retry.is_some() => {}
                request = requests.recv(), if !closed => match request {
                    Some(r) => self.add_to_batch(&mut batch, &r),
                    None => closed = true,
                },
            }
            self.take_due_retries(&mut batch);
        }
        while let Ok(r) = requests.try_recv() {
            self.add_to_batch(&mut batch, &r);
        }
        Some(batch)
    }

    fn take_due_retries(&mut self, batch: &mut Batch) {
        let now = Instant::now();
        let due: Vec<AuditScope> = self
            .retries
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for target in due {
            self.add_to_batch(
                batch,
                &AuditRequest {
                    target,
                    reason: Reason::Retry,
                },
            );
        }
    }

    fn retry_later(&mut self, target: AuditScope, delay: Duration) {
        let at = Instant::now() + delay;
        let slot = self.retries.entry(target).or_insert(at);
        *slot = (*slot).min(at);
    }

    pub(super) async fn run_cycle(&mut self, batch: &Batch) {
        self.cycle += 1;
        let reasons: Vec<&str> = batch.reasons.iter().copied().collect();
        let span = tracing::info_span!(
            "cycle",
            cycle = self.cycle,
            reason = reasons.join(","),
            clusters = batch.clusters.len()
        );
        async {
            let started = Instant::now();
            let revision = self.fetch_revision().await;
            if self.shutdown.is_triggered() {
                return;
            }
            match revision {
                Some(rev) => self.audit_and_publish(&batch.clusters, &rev).await,
                None => self.fail_without_revision(&batch.clusters),
            }
            self.state.finish_cycle();
            tracing::info!(took_ms = started.elapsed().as_millis() as u64, "cycle done");
        }
        .instrument(span)
        .await;
    }

    /// The revision to audit: freshly fetched, or on a fetch failure the
    /// previous one (live drift is still worth reporting against it).
    async fn fetch_revision(&mut self) -> Option<String> {
        match guarded("fetch", None, self.runner.fetch()).await {
            Ok(outcome) => {
                self.git_backoff.reset();
                self.state.record_fetch(&outcome.revision);
                if outcome.changed {
                    tracing::info!(revision = outcome.revision, "new revision");
                }
                Some(outcome.revision)
            }
            Err(e) => {
                let delay = self.git_backoff.next_delay();
                let message = error_chain(&e);
                tracing::warn!(
                    error = message,
                    retry_in_ms = delay.as_millis() as u64,
                    "git fetch failed"
                );
                self.metrics.record_git_fetch_error();
                self.state.record_fetch_error(message);
                self.retry_later(AuditScope::All, delay);
                self.state.revision()
            }
        }
    }

    /// Nothing was ever fetched: every cluster's attempt fails as `git-fetch`.
    fn fail_without_revision(&mut self, clusters: &BTreeSet<String>) {
        let now = Timestamp::now();
        for c in clusters {
            self.state
                .record_failure(c, "no revision fetched yet".into(), now);
            self.state.record_error_kind(c, "git-fetch", false);
            self.metrics.record_failure(c, "git-fetch", None, false);
        }
    }

    async fn audit_and_publish(&mut self, clusters: &BTreeSet<String>, revision: &str) {
        let audits = clusters.iter().map(|c| self.audit_cluster(c, revision));
        let outcomes = join_all(audits).await;
        let mut reports = Vec::new();
        for (cluster, result, took) in outcomes {
            match result {
                Ok(audit) => {
                    self.record_success(&audit, took);
                    reports.push(audit.report);
                }
                Err(e) => self.record_failure(&cluster, &e, took),
            }
        }
        if self.shutdown.is_triggered() || reports.is_empty() {
            return;
        }
        if !self.leadership.is_leader() {
            tracing::info!("no longer the leader: not publishing this cycle's reports");
            return;
        }
        self.publish(&reports).await;
        for r in &reports {
            self.state
                .record_pull_request(&r.cluster, self.runner.pull_request(&r.cluster));
        }
    }

    /// One cluster's audit, bounded by the timeout, in its own span.
    async fn audit_cluster(
        &self,
        cluster: &str,
        revision: &str,
    ) -> (String, Result<ClusterAudit, Error>, Duration) {
        let started = Instant::now();
        let span = tracing::info_span!("cluster", cluster, revision);
        let limit = self.options.audit_timeout;
        let result = tokio::time::timeout(
            limit,
            guarded("audit", Some(cluster), self.runner.audit(cluster, revision)),
        )
        .instrument(span)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                cluster: cluster.to_owned(),
                after: limit,
            })
        });
        (cluster.to_owned(), result, started.elapsed())
    }

    fn record_success(&mut self, audit: &ClusterAudit, took: Duration) {
        let cluster = &audit.report.cluster;
        let now = Timestamp::now();
        tracing::info!(
            cluster,
            findings = audit.report.findings.len(),
            took_ms = took.as_millis() as u64,
            "cluster audited"
        );
        self.metrics
            .record_success(&audit.report, took, audit.apiserver_requests, now);
        self.state.record_success(audit.report.clone(), now);
        if let Some(b) = self.cluster_backoff.get_mut(cluster) {
            b.reset();
        }
    }

    fn record_failure(&mut self, cluster: &str, error: &Error, took: Duration) {
        let message = error_chain(error);
        let delay = self
            .cluster_backoff
            .get_mut(cluster)
            .map_or(self.options.backoff.max_delay, Backoff::next_delay);
        tracing::warn!(
            cluster,
            error = message,
            retry_in_ms = delay.as_millis() as u64,
            "cluster audit failed"
        );
        self.metrics.record_failure(
            cluster,
            error.metric_label(),
            Some(took),
            error.is_unreachable(),
        );
        self.state
            .record_failure(cluster, message, Timestamp::now());
        self.state
            .record_error_kind(cluster, error.metric_label(), error.is_unreachable());
        self.retry_later(AuditScope::Cluster(cluster.to_owned()), delay);
    }

    async fn publish(&mut self, reports: &[ClusterReport]) {
        match guarded("publish", None, self.runner.publish(reports)).await {
            Ok(()) => self.github_backoff.reset(),
            Err(e) => {
                // Only GitHub's own failures count as GitHub errors; every
                // failed publish counts by its class (a rejected push is
                // `git-push`, not a GitHub or a fetch error).
                let floor = match &e {
                    Error::GitHub {
                        kind, retry_after, ..
                    } => {
                        self.metrics.record_github_error(kind.as_str());
                        retry_after.unwrap_or_default()
                    }
                    _ => Duration::ZERO,
                };
                self.metrics.record_publish_failure(e.metric_label());
                let delay = self.github_backoff.next_delay().max(floor);
                tracing::warn!(
                    error = error_chain(&e),
                    class = e.metric_label(),
                    retry_in_ms = delay.as_millis() as u64,
                    "publishing failed"
                );
                self.retry_later(AuditScope::All, delay);
            }
        }
    }
}

/// Run a runner step, turning a panic into [`Error::Panicked`]: a bug in one
/// step must not take the service, and the metrics it serves, down with it.
async fn guarded<T>(
    step: &'static str,
    cluster: Option<&str>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(Error::Panicked {
                step,
                cluster: cluster.map(str::to_owned),
            })
        })
}
