//! flotilla-serve: `flotilla serve`, audit on a schedule and on change, forever.
//!
//! The loop is generic over a [`CycleRunner`] — fetch the repo, audit one
//! cluster, publish the reports — so it knows nothing of git, kustomize or
//! GitHub and can be tested with a fake. Around it:
//!
//! - [`trigger`] turns timer ticks and kube-runtime watch events into
//!   [`AuditRequest`]s;
//! - [`state`] keeps the last good report per cluster, read by [`http`];
//! - [`http`] serves the probes, metrics and the fleet page within limits
//!   (timeouts, a connection cap that evicts idle connections, request sizes);
//! - [`metrics`] is what Prometheus scrapes;
//! - [`backoff`] spaces out retries after any fault;
//! - [`leader`] elects one leader among replicas on a Lease: only the
//!   leader audits, watches and writes, every write behind a fence; a
//!   standby serves the leader's status ([`status`]) from the Lease;
//! - [`bot`] is the [`CycleRunner`] the binary runs: fetch with
//!   `flotilla-repos`, audit with `flotilla-auditor`, open drift pull requests
//!   with the GitHub config of [`config`].
//!
//! Faults never end the process: a failed fetch, audit or publish is
//! counted, logged, retried with backoff, and the last good result keeps
//! being served. Only a shutdown signal ends [`Service::run`], and it lets
//! the current step finish first.

pub mod backoff;
pub mod bot;
pub mod config;
mod connections;
mod cycle;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod schedule;
pub mod state;
pub mod status;
pub mod trigger;

pub use trigger::{AuditRequest, AuditScope, Reason};

use backoff::RetryPolicy;
use flotilla_core::findings::ClusterReport;
use leader::{Election, ElectionContext, Leadership};
use metrics::Metrics;
use state::State;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

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
    /// The cluster's API server refused flotilla's credentials (401, 403).
    #[error("cluster {cluster}: api server refused the credentials")]
    ApiServerAuth {
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
    /// A drift branch could not be pushed, or its push credentials read.
    /// The cause names the cluster and branch.
    #[error("git push failed")]
    GitPush {
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// A cluster's drift pull request could not be prepared: its drift
    /// commit built, a file of the checkout read, the audited revision
    /// resolved.
    /// The cause names the cluster.
    #[error("cannot prepare the drift pull request")]
    DriftBranch {
        /// Cluster.
        cluster: String,
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
    /// A runner step panicked (a bug); counted and retried like any failure.
    #[error("{step} panicked{}", cluster.as_deref().map(|c| format!(" for cluster {c}")).unwrap_or_default())]
    Panicked {
        /// `fetch`, `audit` or `publish`.
        step: &'static str,
        /// The cluster, for `audit`.
        cluster: Option<String>,
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
            Error::ApiServerAuth { .. } => "apiserver-auth",
            Error::Render { .. } => "render",
            Error::Audit { .. } => "audit",
            Error::Timeout { .. } => "timeout",
            Error::GitFetch { .. } => "git-fetch",
            Error::GitPush { .. } => "git-push",
            Error::DriftBranch { .. } => "drift-branch",
            Error::GitHub { .. } => "github",
            Error::Panicked { .. } => "panic",
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
pub use flotilla_core::findings::error_chain;

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
/// rendered desired state per cluster in a [`state::LastRender`] so an
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
    /// Link to `cluster`'s open drift pull request as the last publish left
    /// it (shared with standbys); none by default.
    fn pull_request(&self, _cluster: &str) -> Option<String> {
        None
    }
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

    fn pull_request(&self, cluster: &str) -> Option<String> {
        (**self).pull_request(cluster)
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
    let alone = Leadership::alone(&leader::identity());
    run_elected(config, runner, watches, listener, shutdown, alone, None).await
}

/// [`run`] as one of several replicas: audits, watches and writes only
/// while `leadership` leads; `election` (for an elected leadership) runs
/// alongside and releases the Lease once the loop has stopped.
pub async fn run_elected<R: CycleRunner>(
    config: &config::ServeConfig,
    runner: R,
    watches: Vec<WatchTarget>,
    listener: TcpListener,
    shutdown: Shutdown,
    leadership: Leadership,
    election: Option<Election>,
) -> Result<(), Error> {
    let service =
        Service::new(runner, LoopOptions::from_config(config)).with_leadership(leadership.clone());
    let mut triggers = tokio::task::JoinSet::new();
    triggers.spawn(trigger::tick_schedule(
        config.schedule.clone(),
        service.requests(),
        shutdown.clone(),
    ));
    let watches = if config.watch.enabled {
        watches
    } else {
        Vec::new()
    };
    let debounce = trigger::Debounce {
        quiet: config.watch.quiet,
        max_delay: config.watch.max_delay,
    };
    triggers.spawn(follow_leadership(
        leadership.clone(),
        service.state(),
        service.metrics(),
        service.requests(),
        (watches, debounce),
        shutdown.clone(),
    ));
    let (stop_election, election_stop) = shutdown_channel();
    let election = election.map(|e| {
        let ctx = ElectionContext {
            state: service.state(),
            metrics: service.metrics(),
        };
        tokio::spawn(e.run(ctx, election_stop))
    });
    tracing::info!(
        clusters = config.clusters.len(),
        watch = config.watch.enabled,
        identity = leadership.identity(),
        elected = leadership.is_elected(),
        "flotilla serve started"
    );
    let result = service.run(listener, shutdown).await;
    // The triggers stop on the same shutdown; do not wait for a watch
    // reconnect to notice.
    triggers.abort_all();
    // The loop has stopped writing: only now may the Lease go.
    stop_election.trigger();
    if let Some(task) = election {
        let _ = task.await;
    }
    result
}

/// Mirror leadership into the metrics and the work: on becoming the leader,
/// a full audit at once and the watches; on standing by, no watches (their
/// lists and streams would load the API servers for nothing).
async fn follow_leadership(
    leadership: Leadership,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    requests: mpsc::Sender<AuditRequest>,
    (watches, debounce): (Vec<WatchTarget>, trigger::Debounce),
    shutdown: Shutdown,
) {
    let mut changes = leadership.changes();
    let mut watchers = tokio::task::JoinSet::new();
    let mut was_leading = None;
    loop {
        let leading = *changes.borrow_and_update();
        if was_leading != Some(leading) {
            metrics.set_leader(leadership.identity(), leading);
            if leading {
                state.stop_sharing();
                // The first cycle of a process that leads from the start is
                // its startup cycle.
                if was_leading.is_some() {
                    let _ = requests.try_send(AuditRequest::all(Reason::Elected));
                }
                for w in &watches {
                    watchers.spawn(trigger::watch_cluster(
                        w.client.clone(),
                        w.cluster.clone(),
                        w.resources.clone(),
                        debounce,
                        requests.clone(),
                        shutdown.clone(),
                    ));
                }
            } else {
                watchers.abort_all();
            }
            was_leading = Some(leading);
        }
        tokio::select! {
            () = shutdown.wait() => break,
            changed = changes.changed() => if changed.is_err() {
                // Leadership can no longer change.
                shutdown.wait().await;
                break;
            },
        }
    }
    watchers.abort_all();
}

/// How the loop behaves, independent of what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopOptions {
    /// Cluster names, in config order.
    pub clusters: Vec<String>,
    /// Longest one cluster's audit may take.
    pub audit_timeout: Duration,
    /// Retry policy for clusters, git and GitHub.
    pub backoff: RetryPolicy,
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
    leadership: Leadership,
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
            leadership: Leadership::alone(&leader::identity()),
            state,
            metrics,
            requests_tx,
            requests_rx,
        }
    }

    /// Audit and publish only while `leadership` leads (default: always).
    pub fn with_leadership(mut self, leadership: Leadership) -> Service<R> {
        self.leadership = leadership;
        self
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
            leadership,
            state,
            metrics,
            requests_tx,
            mut requests_rx,
        } = self;
        drop(requests_tx);
        let mut driver = cycle::Driver::new(
            &runner,
            &options,
            &state,
            &metrics,
            &leadership,
            shutdown.clone(),
        );
        let mut batch = driver.batch_for(&[AuditRequest::all(Reason::Startup)]);
        loop {
            // A standby audits nothing: it serves the leader's status. On
            // becoming the leader it is asked for a full cycle
            // (`Reason::Elected`).
            if leadership.is_leader() {
                driver.run_cycle(&batch).await;
            } else {
                tracing::debug!("standing by: cycle skipped");
            }
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
