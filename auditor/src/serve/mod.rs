//! `flotilla serve`: audit on a schedule and on change, forever.
//!
//! The loop is generic over a [`CycleRunner`] — fetch the repo, audit one
//! cluster, publish the reports — so it knows nothing of git, kustomize or
//! GitHub and can be tested with a fake. Around it:
//!
//! - [`trigger`] turns timer ticks and kube-runtime watch events into
//!   [`AuditRequest`]s;
//! - [`state`] keeps the last good report per cluster, read by [`http`];
//! - [`metrics`] is what Prometheus scrapes;
//! - [`backoff`] spaces out retries after any fault.
//!
//! Faults never end the process: a failed fetch, audit or publish is
//! counted, logged, retried with backoff, and the last good result keeps
//! being served. Only a shutdown signal ends [`Service::run`], and it lets
//! the current step finish first.

pub mod backoff;
pub mod config;
pub mod http;
pub mod metrics;
pub mod schedule;
pub mod state;
pub mod trigger;

pub use trigger::{AuditRequest, Reason, Target};

use crate::findings::ClusterReport;
use backoff::{Backoff, BackoffPolicy};
use futures::future::join_all;
use jiff::Timestamp;
use metrics::Metrics;
use state::State;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

/// Any error a runner step may carry as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a step of the service failed. None of these end the service; each
/// becomes a metric label (via [`Error::metric_label`]), a log line and a
/// retry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is wrong.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// The cluster's API server did not answer.
    #[error("cluster {cluster}: api server unreachable")]
    ApiServerUnreachable {
        /// Cluster.
        cluster: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// Desired state could not be rendered.
    #[error("cluster {cluster}: cannot render desired state at {revision}")]
    Render {
        /// Cluster.
        cluster: String,
        /// Revision being rendered.
        revision: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// Any other audit failure.
    #[error("cluster {cluster}: audit failed")]
    Audit {
        /// Cluster.
        cluster: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The audit did not finish within `auditTimeout`.
    #[error("cluster {cluster}: audit timed out after {}s", after.as_secs())]
    Timeout {
        /// Cluster.
        cluster: String,
        /// The timeout.
        after: Duration,
    },
    /// The GitOps repository could not be fetched.
    #[error("git fetch of {url} failed")]
    GitFetch {
        /// Repository URL (never with credentials: the config forbids them).
        url: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// A GitHub API call failed.
    #[error("github: {}", kind.as_str())]
    GitHub {
        /// What kind of failure, for the metric label and the retry policy.
        kind: GitHubErrorKind,
        /// Wait at least this long before retrying (from `Retry-After` or
        /// the rate-limit reset).
        retry_after: Option<Duration>,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The HTTP port could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an error.
    #[error("http server failed")]
    Http(#[source] std::io::Error),
}

/// Kinds of GitHub failure, for `flotilla_github_errors_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHubErrorKind {
    /// 5xx.
    ServerError,
    /// 403/429 with the rate limit exhausted.
    RateLimited,
    /// 401, or 403 for missing permissions.
    Auth,
    /// Any other 4xx (a bug or a repo setting).
    Client,
    /// No HTTP answer at all.
    Network,
}

impl GitHubErrorKind {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GitHubErrorKind::ServerError => "server-error",
            GitHubErrorKind::RateLimited => "rate-limited",
            GitHubErrorKind::Auth => "auth",
            GitHubErrorKind::Client => "client",
            GitHubErrorKind::Network => "network",
        }
    }
}

impl Error {
    /// The `error` label of `flotilla_audit_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::ApiServerUnreachable { .. } => "apiserver-unreachable",
            Error::Render { .. } => "render",
            Error::Audit { .. } => "audit",
            Error::Timeout { .. } => "timeout",
            Error::GitFetch { .. } => "git-fetch",
            Error::GitHub { .. } => "github",
            Error::Listen { .. } | Error::Http(_) => "http",
        }
    }

    /// Whether this says the API server is not answering (`flotilla_up 0`).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::ApiServerUnreachable { .. } | Error::Timeout { .. }
        )
    }
}

/// The error and its causes on one line, for logs and `/readyz` readers.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The result of fetching the GitOps repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Flux-style revision, `main@sha1:<hex>`.
    pub revision: String,
    /// Whether it differs from the previous fetch.
    pub changed: bool,
}

/// The result of auditing one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAudit {
    /// The report (findings, notes, partial errors).
    pub report: ClusterReport,
    /// API requests made (from `Live::requests`).
    pub apiserver_requests: u64,
}

/// The three steps of a cycle, supplied by the program that runs the
/// service (the `flotilla` binary wires git, desired/live/diff and GitHub
/// in; tests use a fake).
///
/// `audit` is called concurrently for different clusters. It should keep
/// rendered desired state per cluster in a [`state::DesiredCache`] so an
/// unchanged revision is not rendered again.
pub trait CycleRunner: Send + Sync {
    /// Fetch the repository.
    fn fetch(&self) -> impl Future<Output = Result<FetchOutcome, Error>> + Send;
    /// Audit `cluster` against `revision`.
    fn audit(
        &self,
        cluster: &str,
        revision: &str,
    ) -> impl Future<Output = Result<ClusterAudit, Error>> + Send;
    /// Publish this cycle's successful reports (drift PRs).
    fn publish(&self, reports: &[ClusterReport]) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A shared runner is a runner (the program may keep a handle to it).
impl<T: CycleRunner + ?Sized> CycleRunner for Arc<T> {
    fn fetch(&self) -> impl Future<Output = Result<FetchOutcome, Error>> + Send {
        (**self).fetch()
    }

    fn audit(
        &self,
        cluster: &str,
        revision: &str,
    ) -> impl Future<Output = Result<ClusterAudit, Error>> + Send {
        (**self).audit(cluster, revision)
    }

    fn publish(&self, reports: &[ClusterReport]) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).publish(reports)
    }
}

/// Fires the [`Shutdown`]s.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Cloneable "stop after the current step" signal. Dropping the
/// [`ShutdownTrigger`] counts as firing it.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Ask everything to stop.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown is asked for.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Fire `trigger` on SIGTERM (Kubernetes stopping the pod) or SIGINT.
pub async fn trigger_on_signal(trigger: ShutdownTrigger) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("sigterm: finishing the current step"),
            r = tokio::signal::ctrl_c() => { r?; tracing::info!("sigint: finishing the current step") }
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    trigger.trigger();
    Ok(())
}

/// Log to stderr, as JSON lines when `json` (for log collectors) or as text.
/// The level comes from `RUST_LOG`, default `info`. Calling it twice is
/// harmless (the second call does nothing).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Bind the HTTP port, naming the address on failure.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

/// A cluster whose governed objects are watched for changes.
#[derive(Clone)]
pub struct WatchTarget {
    /// Cluster name, as in the config.
    pub cluster: String,
    /// Client for its API server.
    pub client: kube::Client,
    /// The resource types to watch (the governed ones, from discovery).
    pub resources: Vec<kube::api::ApiResource>,
}

impl std::fmt::Debug for WatchTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchTarget")
            .field("cluster", &self.cluster)
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// Everything `flotilla serve` runs, wired from a checked config: the audit
/// loop, the HTTP server on `listener` (see [`bind`]), the schedule ticker
/// and, when `watch.enabled`, one watcher per [`WatchTarget`]. Returns after
/// `shutdown` once the current step has finished.
pub async fn run<R: CycleRunner>(
    config: &config::ServeConfig,
    runner: R,
    watches: Vec<WatchTarget>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let service = Service::new(runner, LoopOptions::from_config(config));
    let mut triggers = tokio::task::JoinSet::new();
    triggers.spawn(trigger::tick_schedule(
        config.schedule.clone(),
        service.requests(),
        shutdown.clone(),
    ));
    if config.watch.enabled {
        let debounce = trigger::Debounce {
            quiet: config.watch.quiet,
            max_delay: config.watch.max_delay,
        };
        for w in watches {
            triggers.spawn(trigger::watch_cluster(
                w.client,
                w.cluster,
                w.resources,
                debounce,
                service.requests(),
                shutdown.clone(),
            ));
        }
    }
    tracing::info!(
        clusters = config.clusters.len(),
        watch = config.watch.enabled,
        "flotilla serve started"
    );
    let result = service.run(listener, shutdown).await;
    // The triggers stop on the same shutdown; do not wait for a watch
    // reconnect to notice.
    triggers.abort_all();
    result
}

/// How the loop behaves, independent of what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopOptions {
    /// Cluster names, in config order.
    pub clusters: Vec<String>,
    /// Longest one cluster's audit may take.
    pub audit_timeout: Duration,
    /// Retry policy for clusters, git and GitHub.
    pub backoff: BackoffPolicy,
    /// Jitter seed; fixed in tests, [`backoff::random_seed`] otherwise.
    pub seed: u64,
}

impl LoopOptions {
    /// Options from a checked config, with a random jitter seed.
    pub fn from_config(config: &config::ServeConfig) -> LoopOptions {
        LoopOptions {
            clusters: config.clusters.iter().map(|c| c.name.clone()).collect(),
            audit_timeout: config.audit_timeout,
            backoff: config.backoff,
            seed: backoff::random_seed(),
        }
    }
}

/// The service: the audit loop plus its HTTP server.
#[derive(Debug)]
pub struct Service<R> {
    runner: R,
    options: LoopOptions,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    requests_tx: mpsc::Sender<AuditRequest>,
    requests_rx: mpsc::Receiver<AuditRequest>,
}

/// Requests queue up to this many before senders wait; the loop coalesces
/// them, so more would only be duplicates.
const REQUEST_QUEUE: usize = 256;

impl<R: CycleRunner> Service<R> {
    /// A service that has not started yet.
    pub fn new(runner: R, options: LoopOptions) -> Service<R> {
        let state = Arc::new(State::new(options.clusters.iter().cloned()));
        let metrics = Arc::new(Metrics::new());
        options
            .clusters
            .iter()
            .for_each(|c| metrics.init_cluster(c));
        let (requests_tx, requests_rx) = mpsc::channel(REQUEST_QUEUE);
        Service {
            runner,
            options,
            state,
            metrics,
            requests_tx,
            requests_rx,
        }
    }

    /// The shared state (read it, e.g. in tests).
    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.state)
    }

    /// The metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Where triggers send audit requests ([`trigger::tick_schedule`],
    /// [`trigger::watch_cluster`]). When every sender is gone and no retry
    /// is pending, the loop ends.
    pub fn requests(&self) -> mpsc::Sender<AuditRequest> {
        self.requests_tx.clone()
    }

    /// Serve HTTP on `listener` and run the loop (starting with a cycle over
    /// every cluster) until `shutdown`.
    pub async fn run(self, listener: TcpListener, shutdown: Shutdown) -> Result<(), Error> {
        let http = http::serve_http(listener, self.state(), self.metrics(), shutdown.clone());
        let (looped, served) = tokio::join!(self.run_loop(shutdown), http);
        looped.and(served)
    }

    /// Run the loop only (no HTTP).
    pub async fn run_loop(self, shutdown: Shutdown) -> Result<(), Error> {
        let Service {
            runner,
            options,
            state,
            metrics,
            requests_tx,
            mut requests_rx,
        } = self;
        drop(requests_tx);
        let mut driver = Driver::new(&runner, &options, &state, &metrics, shutdown.clone());
        let mut batch = driver.batch_for(&[AuditRequest::all(Reason::Startup)]);
        loop {
            driver.run_cycle(&batch).await;
            if shutdown.is_triggered() {
                break;
            }
            match driver.next_batch(&mut requests_rx).await {
                Some(b) => batch = b,
                None => break,
            }
        }
        tracing::info!("audit loop stopped");
        Ok(())
    }
}

/// Clusters to audit in one cycle, and why.
#[derive(Debug, Default)]
struct Batch {
    clusters: BTreeSet<String>,
    reasons: BTreeSet<&'static str>,
}

/// The loop's private bookkeeping: backoffs and pending retries.
struct Driver<'a, R> {
    runner: &'a R,
    options: &'a LoopOptions,
    state: &'a State,
    metrics: &'a Metrics,
    shutdown: Shutdown,
    cluster_backoff: BTreeMap<String, Backoff>,
    git_backoff: Backoff,
    github_backoff: Backoff,
    /// When to re-audit what; `Target::All` for git and GitHub retries.
    retries: BTreeMap<Target, Instant>,
    cycle: u64,
}

impl<'a, R: CycleRunner> Driver<'a, R> {
    fn new(
        runner: &'a R,
        options: &'a LoopOptions,
        state: &'a State,
        metrics: &'a Metrics,
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
            shutdown,
            cluster_backoff,
            git_backoff: Backoff::new(options.backoff, seed),
            github_backoff: Backoff::new(options.backoff, seed.wrapping_add(1)),
            retries: BTreeMap::new(),
            cycle: 0,
        }
    }

    fn batch_for(&mut self, requests: &[AuditRequest]) -> Batch {
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
            Target::All => {
                batch.clusters.extend(self.options.clusters.iter().cloned());
                self.retries.clear();
            }
            Target::Cluster(c) if self.options.clusters.contains(c) => {
                batch.clusters.insert(c.clone());
                self.retries.remove(&request.target);
            }
            Target::Cluster(c) => tracing::warn!(
                cluster = c,
                "audit requested for an unknown cluster, ignored"
            ),
        }
    }

    /// Wait for the next request or due retry, then take everything else
    /// already queued with it. `None` on shutdown, or when no sender and no
    /// retry is left.
    async fn next_batch(&mut self, requests: &mut mpsc::Receiver<AuditRequest>) -> Option<Batch> {
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
        let due: Vec<Target> = self
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

    fn retry_later(&mut self, target: Target, delay: Duration) {
        let at = Instant::now() + delay;
        let slot = self.retries.entry(target).or_insert(at);
        *slot = (*slot).min(at);
    }

    async fn run_cycle(&mut self, batch: &Batch) {
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
        match self.runner.fetch().await {
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
                self.retry_later(Target::All, delay);
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
            self.metrics
                .record_failure(c, "git-fetch", Duration::ZERO, false);
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
        self.publish(&reports).await;
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
        let result = tokio::time::timeout(limit, self.runner.audit(cluster, revision))
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
            .map_or(self.options.backoff.max, Backoff::next_delay);
        tracing::warn!(
            cluster,
            error = message,
            retry_in_ms = delay.as_millis() as u64,
            "cluster audit failed"
        );
        self.metrics
            .record_failure(cluster, error.metric_label(), took, error.is_unreachable());
        self.state
            .record_failure(cluster, message, Timestamp::now());
        self.retry_later(Target::Cluster(cluster.to_owned()), delay);
    }

    async fn publish(&mut self, reports: &[ClusterReport]) {
        match self.runner.publish(reports).await {
            Ok(()) => self.github_backoff.reset(),
            Err(e) => {
                let (kind, floor) = match &e {
                    Error::GitHub {
                        kind, retry_after, ..
                    } => (kind.as_str(), retry_after.unwrap_or_default()),
                    other => (other.metric_label(), Duration::ZERO),
                };
                let delay = self.github_backoff.next_delay().max(floor);
                tracing::warn!(
                    error = error_chain(&e),
                    retry_in_ms = delay.as_millis() as u64,
                    "publishing failed"
                );
                self.metrics.record_github_error(kind);
                self.retry_later(Target::All, delay);
            }
        }
    }
}
