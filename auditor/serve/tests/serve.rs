//! The `flotilla serve` loop, HTTP endpoints, config, schedule and backoff.
//!
//! The loop runs against a fake [`CycleRunner`] whose audits are released
//! one at a time by the test (a semaphore), so every assertion happens at a
//! known point between cycles, without sleeps. HTTP is real: a TCP listener
//! on 127.0.0.1:0 and plain HTTP/1.1 requests.

use flotilla_core::findings::{ClusterReport, Finding, FindingClass};
use flotilla_serve::backoff::{Backoff, RetryPolicy};
use flotilla_serve::config::{
    self, ClusterTarget, GitAuthRef, GitHubAuthRef, LeaderElectionConfig, PrAction, SecretSource,
    ServeConfig,
};
use flotilla_serve::leader::Leadership;
use flotilla_serve::schedule::{Cron, Schedule};
use flotilla_serve::trigger::{Debounce, debounce_changes};
use flotilla_serve::{
    AuditRequest, BoxError, ClusterAudit, CycleRunner, Error, FetchOutcome, GitHubErrorKind,
    LoopOptions, Reason, Service, shutdown_channel,
};
use futures::StreamExt;
use jiff::Timestamp;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

const CLUSTER: &str = "aks-eus2-01";
/// Guard against a hung loop; never reached when things work.
const PATIENCE: Duration = Duration::from_secs(20);

/// A runner whose audits wait for a permit, fail `failures` times with an
/// unreachable API server, then report one modified Deployment.
struct FakeRunner {
    permits: Arc<Semaphore>,
    failures: u32,
    /// The first `panics` audits panic instead.
    panics: u32,
    audits: AtomicU32,
    fetches: AtomicU32,
    fetch_fails_from: u32,
    publish_error: Option<GitHubErrorKind>,
    published: Mutex<Vec<Vec<String>>>,
}

impl FakeRunner {
    fn new(failures: u32) -> FakeRunner {
        FakeRunner {
            permits: Arc::new(Semaphore::new(0)),
            failures,
            panics: 0,
            audits: AtomicU32::new(0),
            fetches: AtomicU32::new(0),
            fetch_fails_from: u32::MAX,
            publish_error: None,
            published: Mutex::new(Vec::new()),
        }
    }
}

fn drifted_report(cluster: &str, revision: &str) -> ClusterReport {
    ClusterReport {
        cluster: cluster.to_owned(),
        revision: Some(revision.to_owned()),
        findings: vec![Finding {
            class: FindingClass::Modified,
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("traefik".into()),
            name: "traefik".into(),
            kustomization: Some("flux-system/infra-traefik".into()),
            paths: vec![],
            manager: None,
            condition: None,
            reverts: None,
        }],
        ..ClusterReport::default()
    }
}

impl CycleRunner for FakeRunner {
    async fn fetch(&self) -> Result<FetchOutcome, Error> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        if n >= self.fetch_fails_from {
            return Err(Error::GitFetch {
                url: "https://git.example/fleet.git".into(),
                source: "connection refused".into(),
            });
        }
        Ok(FetchOutcome {
            revision: "main@sha1:0123abcd".into(),
            changed: n == 0,
        })
    }

    async fn audit(&self, cluster: &str, revision: &str) -> Result<ClusterAudit, Error> {
        self.permits
            .acquire()
            .await
            .expect("semaphore open")
            .forget();
        let n = self.audits.fetch_add(1, Ordering::SeqCst);
        if n < self.panics {
            panic!("bug in the runner");
        }
        if n < self.failures {
            let cause: BoxError = "tcp connect error: connection refused".into();
            return Err(Error::ApiServerUnreachable {
                cluster: cluster.to_owned(),
                source: cause,
            });
        }
        Ok(ClusterAudit {
            report: drifted_report(cluster, revision),
            apiserver_requests: 42,
        })
    }

    async fn publish(&self, reports: &[ClusterReport]) -> Result<(), Error> {
        self.published
            .lock()
            .unwrap()
            .push(reports.iter().map(|r| r.cluster.clone()).collect());
        match self.publish_error {
            None => Ok(()),
            Some(kind) => Err(Error::GitHub {
                kind,
                retry_after: Some(Duration::from_secs(3600)),
                source: "403 api rate limit exceeded".into(),
            }),
        }
    }
}

fn options(clusters: &[&str]) -> LoopOptions {
    LoopOptions {
        clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
        audit_timeout: Duration::from_secs(30),
        // Retries come quickly; the semaphore, not the clock, paces the test.
        backoff: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::service()
        },
        seed: 42,
    }
}

/// GET `path` over a fresh connection; returns (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

/// The value of the sample whose line starts with `series ` (exact labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn start(
    runner: Arc<FakeRunner>,
    clusters: &[&str],
) -> (
    SocketAddr,
    Arc<flotilla_serve::state::State>,
    mpsc::Sender<AuditRequest>,
    flotilla_serve::ShutdownTrigger,
    tokio::task::JoinHandle<Result<(), Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = Service::new(runner, options(clusters));
    let state = service.state();
    let requests = service.requests();
    let (trigger, shutdown) = shutdown_channel();
    let handle = tokio::spawn(service.run(listener, shutdown));
    (addr, state, requests, trigger, handle)
}

#[tokio::test]
async fn failing_audits_then_recovery_show_in_metrics_and_probes() {
    let runner = Arc::new(FakeRunner::new(2));
    let (addr, state, _requests, trigger, handle) = start(Arc::clone(&runner), &[CLUSTER]).await;
    let up = format!("flotilla_up{{cluster=\"{CLUSTER}\"}}");
    let runs = format!("flotilla_audit_runs_total{{cluster=\"{CLUSTER}\"}}");
    let failures = format!(
        "flotilla_audit_failures_total{{cluster=\"{CLUSTER}\",error=\"apiserver-unreachable\"}}"
    );
    let last_ok =
        format!("flotilla_last_successful_audit_timestamp_seconds{{cluster=\"{CLUSTER}\"}}");
    let findings = format!(
        "flotilla_findings{{cluster=\"{CLUSTER}\",class=\"modified\",kind=\"Deployment\",kustomization=\"flux-system/infra-traefik\"}}"
    );

    // Before the first audit completes: alive, not ready, nothing audited.
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 503);
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&body, &runs),
        Some(0.0),
        "series exist from the start:\n{body}"
    );
    assert_eq!(sample(&body, &last_ok), None);

    // First cycle: the API server is unreachable.
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(1))
        .await
        .expect("cycle 1");
    assert_eq!(
        get(addr, "/readyz").await.0,
        200,
        "a failed first audit still counts as done"
    );
    let body = get(addr, "/metrics").await.1;
    assert_eq!(sample(&body, &up), Some(0.0), "{body}");
    assert_eq!(sample(&body, &failures), Some(1.0), "{body}");
    assert_eq!(sample(&body, &last_ok), None);
    assert!(
        state
            .cluster(CLUSTER)
            .unwrap()
            .last_error
            .unwrap()
            .contains("connection refused")
    );

    // The retry (driven by the backoff, not by the test) fails once more.
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(2))
        .await
        .expect("cycle 2: retried on its own");
    let body = get(addr, "/metrics").await.1;
    assert_eq!(sample(&body, &failures), Some(2.0), "{body}");
    assert_eq!(sample(&body, &runs), Some(2.0));

    // Then it recovers.
    let before = Timestamp::now().as_second() as f64;
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(3))
        .await
        .expect("cycle 3");
    let body = get(addr, "/metrics").await.1;
    assert_eq!(sample(&body, &up), Some(1.0), "{body}");
    assert_eq!(sample(&body, &runs), Some(3.0));
    assert_eq!(
        sample(&body, &failures),
        Some(2.0),
        "failures are a counter, kept"
    );
    assert!(sample(&body, &last_ok).unwrap() >= before, "{body}");
    assert_eq!(sample(&body, &findings), Some(1.0), "{body}");
    assert_eq!(
        sample(
            &body,
            &format!("flotilla_apiserver_requests_total{{cluster=\"{CLUSTER}\"}}")
        ),
        Some(42.0)
    );
    assert_eq!(
        sample(
            &body,
            &format!("flotilla_audit_duration_seconds_count{{cluster=\"{CLUSTER}\"}}")
        ),
        Some(3.0)
    );
    assert!(body.contains(&format!(
        "flotilla_drift_age_seconds{{cluster=\"{CLUSTER}\"}}"
    )));
    assert!(body.trim_end().ends_with("# EOF"), "OpenMetrics text");
    assert_eq!(
        *runner.published.lock().unwrap(),
        vec![vec![CLUSTER.to_owned()]],
        "only the successful cycle publishes"
    );

    trigger.trigger();
    let ended = tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("loop and server stop promptly");
    ended.expect("no panic").expect("clean exit");
}

#[tokio::test]
async fn a_panicking_audit_is_a_counted_failure_not_a_dead_service() {
    let mut fake = FakeRunner::new(0);
    fake.panics = 1;
    let runner = Arc::new(fake);
    let (addr, state, _requests, trigger, handle) = start(Arc::clone(&runner), &[CLUSTER]).await;
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(1))
        .await
        .expect("cycle 1");
    let panics = format!("flotilla_audit_failures_total{{cluster=\"{CLUSTER}\",error=\"panic\"}}");
    assert_eq!(sample(&get(addr, "/metrics").await.1, &panics), Some(1.0));
    assert_eq!(
        state.cluster(CLUSTER).unwrap().last_error.as_deref(),
        Some("audit panicked for cluster aks-eus2-01")
    );
    // The retry works.
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(2))
        .await
        .expect("cycle 2");
    assert!(state.cluster(CLUSTER).unwrap().last_good.is_some());
    trigger.trigger();
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn run_wires_the_schedule_ticker_to_the_loop() {
    let text = format!("{MINIMAL}schedule:\n  interval: 50ms\nwatch:\n  enabled: false\n");
    let config = parse(&text).unwrap();
    let runner = Arc::new(FakeRunner::new(0));
    runner.permits.add_permits(1000);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = shutdown_channel();
    let served = tokio::spawn({
        let runner = Arc::clone(&runner);
        async move { flotilla_serve::run(&config, runner, vec![], listener, shutdown).await }
    });
    // Startup cycle plus at least two timer ticks, no requests from the test.
    tokio::time::timeout(PATIENCE, async {
        while runner.audits.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the ticker drives cycles");
    assert!(
        sample(
            &get(addr, "/metrics").await.1,
            "flotilla_audit_runs_total{cluster=\"a\"}"
        )
        .unwrap()
            >= 3.0
    );
    trigger.trigger();
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_standby_never_runs_a_step_and_a_new_leader_audits_at_once() {
    let text = format!("{MINIMAL}schedule:\n  interval: 20ms\nwatch:\n  enabled: false\n");
    let config = parse(&text).unwrap();
    let runner = Arc::new(FakeRunner::new(0));
    runner.permits.add_permits(1000);
    let (switch, leadership) = Leadership::manual("replica-b");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = shutdown_channel();
    let served = tokio::spawn({
        let runner = Arc::clone(&runner);
        async move {
            flotilla_serve::run_elected(
                &config,
                runner,
                vec![],
                listener,
                shutdown,
                leadership,
                None,
            )
            .await
        }
    });
    // The startup cycle and a dozen ticks pass: nothing runs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let steps = |r: &FakeRunner| {
        (
            r.fetches.load(Ordering::SeqCst),
            r.audits.load(Ordering::SeqCst),
            r.published.lock().unwrap().len(),
        )
    };
    assert_eq!(steps(&runner), (0, 0, 0), "a standby ran a step");
    let metrics = get(addr, "/metrics").await.1;
    assert_eq!(
        sample(&metrics, "flotilla_leader{identity=\"replica-b\"}"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(get(addr, "/readyz").await.0, 503, "no status shared yet");

    // Elected: a full cycle at once (the schedule is slow enough not to be
    // the reason), publishing included.
    switch.set(true);
    tokio::time::timeout(PATIENCE, async {
        while runner.published.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the new leader publishes");
    let metrics = get(addr, "/metrics").await.1;
    assert_eq!(
        sample(&metrics, "flotilla_leader{identity=\"replica-b\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert!(sample(&metrics, "flotilla_last_audit_timestamp_seconds").is_some_and(|t| t > 0.0));

    // Standing by again: no new step starts.
    switch.set(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = steps(&runner);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(steps(&runner), before, "a standby ran a step");
    trigger.trigger();
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[test]
fn leader_election_is_off_by_default_and_checked_when_set() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.leader_election, LeaderElectionConfig::default());
    assert!(!c.leader_election.enabled);
    let d = &c.leader_election;
    assert!(d.retry_period < d.renew_deadline && d.renew_deadline < d.lease_duration);
    assert!(
        d.lease_duration + Duration::from_secs(1) < Duration::from_secs(15),
        "a standby takes over within 15 s of the leader's loss"
    );
    let on = parse(&format!(
        "{MINIMAL}leaderElection:\n  enabled: true\n  leaseName: auditor\n  namespace: ops\n  leaseDuration: 20s\n  renewDeadline: 12s\n  retryPeriod: 3s\n"
    ))
    .unwrap()
    .leader_election;
    assert_eq!(
        (on.enabled, on.lease_name.as_str(), on.namespace.as_str()),
        (true, "auditor", "ops")
    );
    assert_eq!(
        (on.lease_duration, on.renew_deadline, on.retry_period),
        (
            Duration::from_secs(20),
            Duration::from_secs(12),
            Duration::from_secs(3)
        )
    );
    let cases = [
        (
            "  leaseDuration: 1500ms\n",
            8,
            "leaderElection.leaseDuration",
            "whole number",
        ),
        (
            "  renewDeadline: 10s\n",
            8,
            "leaderElection.renewDeadline",
            "retryPeriod < renewDeadline < leaseDuration",
        ),
        (
            "  retryPeriod: 5s\n",
            8,
            "leaderElection.renewDeadline",
            "retryPeriod < renewDeadline",
        ),
        (
            "  leaseName: Flotilla\n",
            8,
            "leaderElection.leaseName",
            "not a Kubernetes name",
        ),
        (
            "  namespace: a.b\n",
            8,
            "leaderElection.namespace",
            "no '.'",
        ),
    ];
    for (field, want_line, want_field, want_text) in cases {
        let text = format!("{MINIMAL}leaderElection:\n  enabled: true\n{field}");
        let err = parse(&text).unwrap_err();
        let config::Error::Invalid {
            line,
            field,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, field.as_str()), (want_line, want_field), "{err}");
        assert!(message.contains(want_text), "{err}");
    }
    let err = parse(&format!("{MINIMAL}leaderElection:\n  leaseTime: 5s\n")).unwrap_err();
    assert!(err.to_string().contains("leaseTime"), "{err}");
}

#[tokio::test]
async fn shutdown_lets_the_running_audit_finish_then_stops_before_publishing() {
    let runner = Arc::new(FakeRunner::new(0));
    let (_addr, state, _requests, trigger, handle) = start(Arc::clone(&runner), &[CLUSTER]).await;
    // Wait until the startup audit is in progress (blocked on its permit).
    tokio::time::timeout(PATIENCE, async {
        while runner.fetches.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("fetch happened");
    trigger.trigger();
    runner.permits.add_permits(1);
    let ended = tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("stops promptly");
    ended.expect("no panic").expect("clean exit");
    assert!(
        state.cluster(CLUSTER).unwrap().last_good.is_some(),
        "the audit step finished"
    );
    assert!(
        runner.published.lock().unwrap().is_empty(),
        "no new step after shutdown"
    );
}

#[tokio::test]
async fn fetch_failure_audits_the_last_revision_and_counts_the_error() {
    let mut fake = FakeRunner::new(0);
    fake.fetch_fails_from = 1;
    let runner = Arc::new(fake);
    let (addr, state, requests, trigger, handle) = start(Arc::clone(&runner), &[CLUSTER]).await;
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(1))
        .await
        .expect("cycle 1");
    requests
        .send(AuditRequest::cluster(CLUSTER, Reason::Manual))
        .await
        .unwrap();
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(2))
        .await
        .expect("cycle 2");
    let body = get(addr, "/metrics").await.1;
    assert!(
        sample(&body, "flotilla_git_fetch_errors_total").unwrap() >= 1.0,
        "{body}"
    );
    let status = state.cluster(CLUSTER).unwrap();
    assert_eq!(status.last_error, None, "the audit itself worked");
    assert_eq!(
        status.last_good.unwrap().revision.as_deref(),
        Some("main@sha1:0123abcd")
    );
    assert!(
        state
            .last_fetch_error()
            .unwrap()
            .contains("connection refused")
    );
    trigger.trigger();
    runner.permits.add_permits(100);
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn no_revision_yet_fails_every_cluster_as_git_fetch_without_auditing() {
    let mut fake = FakeRunner::new(0);
    fake.fetch_fails_from = 0;
    let runner = Arc::new(fake);
    let (addr, state, _requests, trigger, handle) = start(Arc::clone(&runner), &[CLUSTER]).await;
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(1))
        .await
        .expect("cycle 1");
    let body = get(addr, "/metrics").await.1;
    let git_fetch =
        format!("flotilla_audit_failures_total{{cluster=\"{CLUSTER}\",error=\"git-fetch\"}}");
    assert!(sample(&body, &git_fetch).unwrap() >= 1.0, "{body}");
    assert!(sample(&body, "flotilla_git_fetch_errors_total").unwrap() >= 1.0);
    let durations = format!("flotilla_audit_duration_seconds_count{{cluster=\"{CLUSTER}\"}}");
    assert_eq!(
        sample(&body, &durations),
        None,
        "no audit ran, so no duration: {body}"
    );
    assert_eq!(runner.audits.load(Ordering::SeqCst), 0);
    assert_eq!(
        get(addr, "/readyz").await.0,
        200,
        "the first cycle is done, if failed"
    );
    trigger.trigger();
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn github_rate_limit_is_counted_and_the_service_keeps_going() {
    let mut fake = FakeRunner::new(0);
    fake.publish_error = Some(GitHubErrorKind::RateLimited);
    let runner = Arc::new(fake);
    let (addr, state, requests, trigger, handle) =
        start(Arc::clone(&runner), &[CLUSTER, "aks-weu-01"]).await;
    runner.permits.add_permits(2);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(1))
        .await
        .expect("cycle 1");
    let body = get(addr, "/metrics").await.1;
    assert_eq!(
        sample(&body, "flotilla_github_errors_total{kind=\"rate-limited\"}"),
        Some(1.0),
        "{body}"
    );
    // The loop still answers requests (the retry waits for the rate limit).
    requests
        .send(AuditRequest::cluster("aks-weu-01", Reason::Manual))
        .await
        .unwrap();
    runner.permits.add_permits(1);
    tokio::time::timeout(PATIENCE, state.wait_for_cycles(2))
        .await
        .expect("cycle 2");
    assert_eq!(runner.published.lock().unwrap().len(), 2);
    trigger.trigger();
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

// The debounce tests run on tokio's paused clock: time moves only when every
// task waits on a timer, so "nothing arrived for an hour" is asserted exactly
// and at once, with no sleep on the wall clock and no race with a slow machine.

/// `debounce_changes` over `changes` on a task of its own: its requests,
/// the shutdown trigger and the task.
fn spawn_debouncer<S>(
    changes: S,
    debounce: Debounce,
) -> (
    mpsc::Receiver<AuditRequest>,
    flotilla_serve::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
)
where
    S: futures::Stream<Item = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(8);
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        debounce_changes(changes, CLUSTER, debounce, tx, shutdown).await;
    });
    (rx, trigger, task)
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_becomes_one_audit_request() {
    let debounce = Debounce {
        quiet: Duration::from_millis(50),
        max_delay: Duration::from_secs(5),
    };
    let start = tokio::time::Instant::now();
    let changes = futures::stream::iter(vec![(); 25]).chain(futures::stream::pending());
    let (mut rx, _trigger, task) = spawn_debouncer(changes, debounce);
    let first = rx.recv().await;
    assert_eq!(first, Some(AuditRequest::cluster(CLUSTER, Reason::Watch)));
    assert_eq!(
        start.elapsed(),
        debounce.quiet,
        "sent once the burst was quiet"
    );
    // An hour later: still the one request.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(rx.try_recv().is_err(), "25 changes, one request");
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_change_inside_the_quiet_period_moves_the_request_back() {
    let debounce = Debounce {
        quiet: Duration::from_millis(50),
        max_delay: Duration::from_secs(5),
    };
    let start = tokio::time::Instant::now();
    // Changes at 0 and 40 ms, then silence.
    let changes = futures::stream::iter([0u64, 40])
        .then(move |at| async move {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
        })
        .chain(futures::stream::pending());
    let (mut rx, _trigger, task) = spawn_debouncer(changes, debounce);
    tokio::time::sleep(Duration::from_millis(89)).await;
    assert!(
        rx.try_recv().is_err(),
        "still settling 49 ms after the last change"
    );
    assert!(rx.recv().await.is_some());
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(90),
        "50 ms after the last change"
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(rx.try_recv().is_err(), "one burst, one request");
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn changes_that_never_settle_still_trigger_after_the_max_delay() {
    let debounce = Debounce {
        quiet: Duration::from_secs(3600),
        max_delay: Duration::from_millis(100),
    };
    let start = tokio::time::Instant::now();
    // A change every 10 ms, forever: the quiet period never comes.
    let changes = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some(((), ()))
    });
    let (mut rx, trigger, task) = spawn_debouncer(changes, debounce);
    let request = rx.recv().await;
    assert_eq!(request.map(|r| r.reason), Some(Reason::Watch));
    // The burst began with the first change (10 ms); max_delay later it fires.
    assert_eq!(start.elapsed(), Duration::from_millis(110));
    trigger.trigger();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("debouncer stops on shutdown")
        .unwrap();
}

#[test]
fn backoff_stays_within_bounds_and_is_reproducible() {
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::service()
    };
    let draw = |seed| {
        let mut b = Backoff::new(policy, seed);
        (0..12).map(|_| b.next_delay()).collect::<Vec<_>>()
    };
    for seed in 0..200 {
        let mut b = Backoff::new(policy, seed);
        for attempt in 0..12u32 {
            let ceiling = (policy.base_delay * 2u32.pow(attempt)).min(policy.max_delay);
            assert_eq!(b.ceiling(), ceiling);
            assert!(b.next_delay() <= ceiling, "seed {seed} attempt {attempt}");
        }
    }
    assert_eq!(draw(7), draw(7), "same seed, same delays");
    assert_ne!(draw(7), draw(8), "jitter differs between seeds");
    let late: Vec<Duration> = draw(3).into_iter().skip(6).collect();
    assert!(
        late.iter().any(|d| *d > policy.max_delay / 2),
        "full jitter spreads up to the cap: {late:?}"
    );
}

#[test]
fn cron_finds_the_next_matching_minute_in_utc() {
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    let every_15 = Cron::parse("*/15 * * * *").unwrap();
    assert_eq!(
        every_15.next_after(at("2026-11-21T07:18:03Z")),
        Some(at("2026-11-21T07:30:00Z"))
    );
    assert_eq!(
        every_15.next_after(at("2026-11-21T07:30:00Z")),
        Some(at("2026-11-21T07:45:00Z")),
        "strictly after"
    );
    // 2026-11-21 is a Saturday: weekdays at 03:00 means Monday.
    let weekdays = Cron::parse("0 3 * * mon-fri").unwrap();
    assert_eq!(
        weekdays.next_after(at("2026-11-21T07:18:03Z")),
        Some(at("2026-11-23T03:00:00Z"))
    );
    let leap = Cron::parse("30 6 29 feb *").unwrap();
    assert_eq!(
        leap.next_after(at("2026-11-21T00:00:00Z")),
        Some(at("2028-02-29T06:30:00Z"))
    );
    assert_eq!(
        Cron::parse("0 0 31 2 *")
            .unwrap()
            .next_after(at("2026-01-01T00:00:00Z")),
        None
    );
    let now = at("2026-11-21T07:18:03Z");
    assert_eq!(
        Cron::parse("@daily").unwrap().next_after(now),
        Some(at("2026-11-22T00:00:00Z"))
    );
    let both = Schedule {
        interval: Some(Duration::from_secs(3600)),
        cron: Some(every_15),
    };
    assert_eq!(
        both.next_after(at("2026-11-21T07:18:03Z")),
        Some(at("2026-11-21T07:30:00Z")),
        "earlier of the two"
    );
}

#[test]
fn cron_errors_name_the_field_and_token() {
    let err = Cron::parse("0 25 * * *").unwrap_err().to_string();
    assert!(err.starts_with("cron hour field \"25\": "), "{err}");
    let err = Cron::parse("*/0 * * * *").unwrap_err().to_string();
    assert!(err.starts_with("cron minute field \"*/0\": "), "{err}");
    assert!(
        Cron::parse("* * * *")
            .unwrap_err()
            .to_string()
            .contains("expected 5 fields")
    );
    assert!(
        Cron::parse("0 0 * * funday")
            .unwrap_err()
            .to_string()
            .contains("day-of-week")
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name)
}

#[test]
fn example_config_parses_with_every_field() {
    let path = example("examples/serve.yaml");
    let config = ServeConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.clusters.len(), 3);
    assert_eq!(config.clusters[0].target, ClusterTarget::InCluster);
    assert_eq!(config.clusters[0].entry, "clusters/aks-eus2-01");
    assert!(matches!(
        config.clusters[1].target,
        ClusterTarget::Kubeconfig {
            context: Some(_),
            kubeconfig: Some(_)
        }
    ));
    assert_ne!(
        config.clusters[2].entry,
        format!("clusters/{}", config.clusters[2].name),
        "entry override"
    );
    assert!(matches!(config.repo.auth, Some(GitAuthRef::SshKey { .. })));
    assert!(config.schedule.interval.is_some() && config.schedule.cron.is_some());
    assert!(config.watch.enabled);
    assert_eq!(
        config.pr.actions.get(&FindingClass::Modified),
        Some(&PrAction::Adopt)
    );
    assert_eq!(
        config.pr.actions.get(&FindingClass::Unmanaged),
        Some(&PrAction::ReportOnly)
    );
    assert!(matches!(
        config.pr.github.as_ref().unwrap().auth,
        GitHubAuthRef::App { .. }
    ));
    assert_eq!(config.listen.port(), 8080);
    assert!(config.ignore_file.is_some());
    assert!(config.leader_election.enabled);
    assert_eq!(
        config.leader_election,
        LeaderElectionConfig {
            enabled: true,
            ..LeaderElectionConfig::default()
        },
        "the example shows the defaults"
    );
}

const MINIMAL: &str = "repo:\n  url: https://github.com/org/fleet-gitops.git\nclusters:\n  - name: a\n    inCluster: true\n";

fn parse(text: &str) -> Result<ServeConfig, config::Error> {
    ServeConfig::parse(text, Path::new("serve.yaml"))
}

/// One duration grammar with the fleet spec (`flotilla_core::duration`): a
/// value `flotilla bootstrap` accepts for `auditor.interval` is one the
/// service accepts (`5000000000ms` used to pass the one and fail the other).
#[test]
fn durations_read_as_the_fleet_spec_reads_them() {
    for (text, want) in [
        ("5000000000ms", Duration::from_secs(5_000_000)),
        ("1.5h", Duration::from_secs(5_400)),
        ("2d", Duration::from_secs(172_800)),
    ] {
        let c = parse(&format!("{MINIMAL}schedule:\n  interval: {text}\n"))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.schedule.interval, Some(want), "{text}");
    }
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(c.schedule.interval, Some(Duration::from_secs(300)));
    assert_eq!(c.repo.branch, "main");
    assert!(!c.pr.enabled);
    assert_eq!(
        (c.watch.quiet, c.watch.max_delay),
        (Duration::from_secs(2), Duration::from_secs(10))
    );
}

#[test]
fn unknown_fields_are_errors_with_file_line_and_field() {
    let text = format!("{MINIMAL}schedule:\n  intervall: 5m\n");
    let err = parse(&text).unwrap_err();
    let config::Error::Parse { line, field, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*line, field.as_str()), (7, "intervall"));
    assert!(err.to_string().starts_with("serve.yaml:7:"), "{err}");
}

#[test]
fn inline_secrets_are_not_accepted() {
    let text = format!(
        "{MINIMAL}pr:\n  enabled: true\n  github:\n    auth:\n      token: ghp_not_a_real_token\n"
    );
    let err = parse(&text).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("serve.yaml:10:") && message.contains("token"),
        "{message}"
    );
    assert!(
        !message.contains("ghp_not_a_real_token"),
        "the value is never echoed: {message}"
    );
}

#[test]
fn invalid_values_name_file_line_and_field() {
    let cases = [
        (format!("{MINIMAL}schedule:\n  cron: \"0 24 * * *\"\n"), 7, "schedule.cron", "hour"),
        (format!("{MINIMAL}schedule:\n  interval: 5 minutes\n"), 7, "schedule.interval", "invalid duration"),
        (format!("{MINIMAL}listen: localhost\n"), 6, "listen", "host:port"),
        (format!("{MINIMAL}  - name: a\n    context: x\n"), 6, "clusters[1].name", "listed twice"),
        (format!("{MINIMAL}  - name: b\n"), 6, "clusters[1]", "inCluster"),
        (
            format!("{MINIMAL}pr:\n  github:\n    auth:\n      tokenFile: /t\n      tokenEnv: T\n"),
            10,
            "pr.github.auth",
            "not both",
        ),
        ("repo:\n  url: https://user:pw@github.com/o/r.git\nclusters:\n  - {name: a, inCluster: true}\n".to_owned(), 2, "repo.url", "not allowed"),
        ("repo:\n  url: HTTPS://user:pw@github.com/o/r.git\nclusters:\n  - {name: a, inCluster: true}\n".to_owned(), 2, "repo.url", "not allowed"),
    ];
    for (text, want_line, want_field, want_text) in cases {
        let err = parse(&text).unwrap_err();
        let config::Error::Invalid {
            line,
            field,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, field.as_str()), (want_line, want_field), "{err}");
        assert!(message.contains(want_text), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("serve.yaml:{want_line}: {want_field}: ")),
            "{err}"
        );
    }
}

#[test]
fn secrets_are_referenced_by_file_or_env() {
    let text = format!("{MINIMAL}repo:\n  url: x\n");
    assert!(parse(&text).is_err(), "duplicate key");
    let text = MINIMAL.replace(
        "url: https://github.com/org/fleet-gitops.git",
        "url: https://github.com/org/fleet-gitops.git\n  auth:\n    tokenEnv: GIT_TOKEN",
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.repo.auth,
        Some(GitAuthRef::Token(SecretSource::Env("GIT_TOKEN".into())))
    );
}

/// `repo.url` with credentials in any spelling, wherever the password ends.
const CREDENTIAL_URLS: &[&str] = &[
    "HTTPS://x-access-token:TOKEN-1234@github.com/o/r.git",
    "Https://TOKEN-1234@github.com/o/r.git",
    "git+https://x:TOKEN-1234@github.com/o/r.git",
    "ssh://git:TOKEN-1234@github.com/o/r.git",
    "https://x:TOKEN/1234@github.com/o/r.git",
    "https://x:TOKEN#1234@github.com/o/r.git",
    "https://x:TOKEN?1234@github.com/o/r.git",
    "https://x:TOKEN@1234@github.com/o/r.git",
    "https://x:TOKEN%401234@github.com/o/r.git",
    "https://TOKEN-1234%40github.com/o/r.git",
];

#[test]
fn credentials_in_repo_url_are_refused_in_any_spelling_and_never_echoed() {
    for url in CREDENTIAL_URLS {
        let text =
            format!("repo:\n  url: \"{url}\"\nclusters:\n  - {{name: a, inCluster: true}}\n");
        let err = parse(&text).expect_err(url);
        let message = format!("{err} {err:?}");
        assert!(
            message.starts_with("serve.yaml:2: repo.url: credentials in the URL are not allowed"),
            "{url}: {message}"
        );
        assert!(!message.contains("1234"), "{url}: {message}");
    }
    for url in [
        "ssh://git@github.com/o/r.git",
        "SSH://git@github.com:22/o/r.git",
        "HTTPS://github.com/o/r.git",
    ] {
        let text = format!("repo:\n  url: {url}\nclusters:\n  - {{name: a, inCluster: true}}\n");
        assert_eq!(parse(&text).expect(url).repo.url, url);
    }
}

#[test]
fn tokens_never_go_over_plain_http_except_to_loopback() {
    let github = |url: &str| {
        format!(
            "{MINIMAL}pr:\n  enabled: true\n  github:\n    url: {url}\n    auth:\n      tokenEnv: GITHUB_TOKEN\n"
        )
    };
    for url in [
        "http://example.com",
        "HTTP://ghe.example.com/api/v3",
        "http://10.1.2.3:8080",
    ] {
        let err = parse(&github(url)).expect_err(url);
        assert!(
            err.to_string()
                .starts_with("serve.yaml:9: pr.github.url: plain http"),
            "{url}: {err}"
        );
    }
    let err = parse(&github("https://x:ghp_1234@ghe.example.com/api/v3")).unwrap_err();
    assert!(!err.to_string().contains("ghp_1234"), "{err}");
    for url in [
        "https://ghe.example.com/api/v3",
        "http://127.0.0.1:8080",
        "http://[::1]:80",
        "http://localhost:3000",
    ] {
        let c = parse(&github(url)).expect(url);
        assert_eq!(c.pr.github.unwrap().url, url);
    }

    let repo = |url: &str, auth: &str| {
        format!(
            "repo:\n  url: {url}\n  auth:\n    {auth}\nclusters:\n  - {{name: a, inCluster: true}}\n"
        )
    };
    let err = parse(&repo("http://git.example.com/o/r.git", "tokenFile: /t")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("serve.yaml:2: repo.url: plain http"),
        "{err}"
    );
    parse(&repo("http://127.0.0.1:9/o/r.git", "tokenFile: /t")).unwrap();
    parse(&repo("https://git.example.com/o/r.git", "tokenFile: /t")).unwrap();
    parse(&repo("ssh://git@git.example.com/o/r.git", "sshKeyFile: /k")).unwrap();
}

// ---------------------------------------------------------------------------
// The HTTP server's limits, in process with short timeouts.

use flotilla_serve::http::{self, Limits};

/// Serve `app` within `limits` on 127.0.0.1; returns the address, the
/// shutdown trigger and the server task.
async fn serve_app(
    app: axum::Router,
    limits: Limits,
) -> (
    SocketAddr,
    flotilla_serve::ShutdownTrigger,
    tokio::task::JoinHandle<Result<(), Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, shutdown) = shutdown_channel();
    let handle = tokio::spawn(async move { http::serve(listener, app, &limits, shutdown).await });
    (addr, trigger, handle)
}

fn probes_app() -> axum::Router {
    let state = Arc::new(flotilla_serve::state::State::new([CLUSTER.to_owned()]));
    let metrics = Arc::new(flotilla_serve::metrics::Metrics::new());
    http::router(state, metrics)
}

/// Whether the server closes `stream` within `within` (reads until EOF or
/// an error; the server sends nothing else).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn silent_half_sent_and_idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, trigger, handle) = serve_app(probes_app(), limits).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /heal").await.unwrap();
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    keep_alive
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = keep_alive.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    for (what, stream) in [
        ("silent", &mut silent),
        ("half a request line", &mut half),
        ("idle keep-alive", &mut keep_alive),
    ] {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "{what} connection stays open"
        );
    }
    trigger.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room_for_the_probe() {
    let limits = Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (addr, trigger, handle) = serve_app(probes_app(), limits).await;
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /metr").await.unwrap();
        }
        idle.push(s);
    }
    let (status, body) = tokio::time::timeout(Duration::from_secs(2), get(addr, "/healthz"))
        .await
        .expect("the probe answers within 2 s");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let mut still_open = 0;
    for s in &mut idle {
        if !closed_within(s, Duration::from_millis(50)).await {
            still_open += 1;
        }
    }
    assert!(
        still_open <= 4,
        "{still_open} idle connections kept past the cap of 4"
    );
    trigger.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn request_bodies_over_the_limit_get_413() {
    let limits = Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let (addr, trigger, handle) = serve_app(probes_app(), limits).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    trigger.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish() {
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "done\n"
        }),
    );
    let (addr, trigger, handle) = serve_app(app, Limits::default()).await;
    let request = tokio::spawn(get(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    trigger.trigger();
    let (status, body) = tokio::time::timeout(PATIENCE, request)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "done\n"));
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("the server stops once the request is done")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

/// `kubectl kustomize <dir>` (the real kustomize), as JSON values.
fn kustomize(dir: &str) -> Vec<serde_json::Value> {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", &example(dir).to_string_lossy()])
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple(&String::from_utf8(out.stdout).expect("utf-8"))
        .expect("kustomize output is YAML")
}

fn find<'a>(objects: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The pod spec is locked down the way the restricted Pod Security Standard
/// and the AKS baseline policies want.
fn assert_restricted(pod: &serde_json::Value) {
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    for c in pod["containers"].as_array().expect("containers") {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{c}");
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(
            c["resources"]["limits"]["memory"].is_string()
                && c["resources"]["requests"]["cpu"].is_string()
        );
    }
}

#[test]
fn deploy_manifests_build_and_run_locked_down() {
    let objects = kustomize("deploy");
    let kinds: std::collections::BTreeSet<&str> =
        objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceMonitor",
    ] {
        assert!(
            kinds.contains(kind),
            "{kind} missing from deploy/: {kinds:?}"
        );
    }
    assert!(
        objects.iter().all(|o| o["metadata"]["namespace"].is_null()
            || o["metadata"]["namespace"] == "flotilla-system")
    );

    let deployment = find(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_restricted(pod);
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["ports"][0]["name"], "http-metrics");
    assert_eq!(container["ports"][0]["containerPort"], 8080);

    // The mounted config is a valid serve config, listening on the probed port.
    let config_map = find(&objects, "ConfigMap")[0];
    let mounted = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(
        mounted["configMap"]["name"], config_map["metadata"]["name"],
        "generator hash suffix is wired"
    );
    let text = config_map["data"]["serve.yaml"]
        .as_str()
        .expect("serve.yaml key");
    let config =
        ServeConfig::parse(text, Path::new("deploy/serve.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen.port(), 8080);
    assert!(
        config.repo.checkout_dir.starts_with("/var/lib/flotilla"),
        "checkout on the emptyDir"
    );

    let service = find(&objects, "Service")[0];
    assert_eq!(service["spec"]["ports"][0]["name"], "http-metrics");
    assert_eq!(
        find(&objects, "ServiceMonitor")[0]["spec"]["endpoints"][0]["port"],
        "http-metrics"
    );

    // Read-only, and Secrets are opt-in.
    for rule in find(&objects, "ClusterRole")[0]["rules"]
        .as_array()
        .unwrap()
    {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
            "{rule}"
        );
        let groups = rule["apiGroups"].as_array().cloned().unwrap_or_default();
        assert!(
            !groups.contains(&serde_json::json!("*")),
            "a * group includes core Secrets: {rule}"
        );
        if groups.contains(&serde_json::json!("")) {
            let resources = rule["resources"].as_array().unwrap();
            assert!(
                !resources.contains(&serde_json::json!("secrets"))
                    && !resources.contains(&serde_json::json!("*")),
                "{rule}"
            );
        }
    }
}

#[test]
fn deploy_runs_two_replicas_that_elect_a_leader_on_their_one_lease() {
    let objects = kustomize("deploy");
    let deployment = find(&objects, "Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let pod = &deployment["spec"]["template"]["spec"];
    let spread = pod["topologySpreadConstraints"].as_array().expect("spread");
    let keys: Vec<&str> = spread
        .iter()
        .map(|c| c["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    );
    for c in spread {
        assert_eq!(c["whenUnsatisfiable"], "ScheduleAnyway");
        assert_eq!(&c["labelSelector"]["matchLabels"], pod_labels);
    }
    let env = pod["containers"][0]["env"].as_array().unwrap();
    let pod_name = env
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .expect("POD_NAME");
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    let pdb = find(&objects, "PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], pod_labels);

    let config_map = find(&objects, "ConfigMap")[0];
    let text = config_map["data"]["serve.yaml"].as_str().unwrap();
    let config = ServeConfig::parse(text, Path::new("deploy/serve.yaml")).unwrap();
    let election = &config.leader_election;
    assert!(election.enabled);
    assert_eq!(election.namespace, "flotilla-system");

    // The Role: get and patch on the one Lease; create, which RBAC cannot
    // limit by name, alone and only in flotilla's namespace.
    let role = find(&objects, "Role")[0];
    assert_eq!(role["metadata"]["namespace"], "flotilla-system");
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{role}");
    for rule in rules {
        assert_eq!(
            rule["apiGroups"],
            serde_json::json!(["coordination.k8s.io"])
        );
        assert_eq!(rule["resources"], serde_json::json!(["leases"]));
    }
    assert_eq!(
        rules[0]["resourceNames"],
        serde_json::json!([election.lease_name])
    );
    assert_eq!(rules[0]["verbs"], serde_json::json!(["get", "patch"]));
    assert!(rules[1]["resourceNames"].is_null());
    assert_eq!(rules[1]["verbs"], serde_json::json!(["create"]));
    let binding = find(&objects, "RoleBinding")[0];
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "flotilla", "namespace": "flotilla-system"}])
    );
}

#[test]
fn cronjob_alternative_builds_and_runs_audit() {
    let objects = kustomize("deploy/cronjob");
    let cronjobs = find(&objects, "CronJob");
    assert_eq!(cronjobs.len(), 1);
    assert!(find(&objects, "Deployment").is_empty(), "one-shot only");
    let cronjob = cronjobs[0];
    assert_eq!(cronjob["metadata"]["namespace"], "flotilla-system");
    let pod = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_restricted(pod);
    assert_eq!(pod["containers"][0]["args"][0], "audit");
    assert_eq!(pod["serviceAccountName"], "flotilla");
    assert_eq!(
        find(&objects, "ClusterRoleBinding")[0]["subjects"][0]["name"],
        "flotilla"
    );
}

/// A stand-in API server for one resource type (apps/v1 Deployments): LIST
/// answers one object, WATCH streams whatever the test sends.
async fn fake_apiserver(events: mpsc::Receiver<String>) -> SocketAddr {
    use axum::body::{Body, Bytes};
    use axum::http::Uri;
    let events = Arc::new(tokio::sync::Mutex::new(Some(events)));
    let handler = move |uri: Uri| {
        let events = Arc::clone(&events);
        async move {
            if !uri.query().unwrap_or_default().contains("watch=true") {
                let list = serde_json::json!({
                    "apiVersion": "meta.k8s.io/v1",
                    "kind": "PartialObjectMetadataList",
                    "metadata": {"resourceVersion": "10"},
                    "items": [partial_deployment(1, "10", "edge")],
                });
                return Body::from(list.to_string());
            }
            match events.lock().await.take() {
                // Later watches (reconnects) get a stream that never ends.
                None => {
                    Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>())
                }
                Some(rx) => Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
                    let line = rx.recv().await?;
                    Some((Ok::<_, std::io::Error>(Bytes::from(line + "\n")), rx))
                })),
            }
        }
    };
    let app = axum::Router::new().route("/apis/apps/v1/deployments", axum::routing::get(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn partial_deployment(generation: i64, resource_version: &str, tier: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {
            "name": "traefik", "namespace": "traefik", "uid": "0b7c", "generation": generation,
            "resourceVersion": resource_version, "labels": {"tier": tier},
        },
    })
}

fn watch_event(kind: &str, object: serde_json::Value) -> String {
    serde_json::json!({"type": kind, "object": object}).to_string()
}

#[tokio::test]
async fn watch_events_from_the_api_server_become_debounced_audit_requests() {
    use flotilla_serve::trigger::watch_cluster;
    use kube::api::ApiResource;
    let (events, events_rx) = mpsc::channel(8);
    let addr = fake_apiserver(events_rx).await;
    let client =
        kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap()))
            .expect("client");
    let deployments = ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    };
    let (requests, mut received) = mpsc::channel(8);
    let (trigger, shutdown) = shutdown_channel();
    let debounce = Debounce {
        quiet: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    };
    let watching = tokio::spawn(watch_cluster(
        client,
        CLUSTER.into(),
        vec![deployments],
        debounce,
        requests,
        shutdown,
    ));

    // A status write (same generation and labels) is not a change…
    events
        .send(watch_event("MODIFIED", partial_deployment(1, "11", "edge")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        received.try_recv().is_err(),
        "the initial list and a status write trigger nothing"
    );

    // …a spec change and a label change in one burst are one audit.
    events
        .send(watch_event("MODIFIED", partial_deployment(2, "12", "edge")))
        .await
        .unwrap();
    events
        .send(watch_event("MODIFIED", partial_deployment(2, "13", "core")))
        .await
        .unwrap();
    let request = tokio::time::timeout(PATIENCE, received.recv())
        .await
        .expect("a request");
    assert_eq!(request, Some(AuditRequest::cluster(CLUSTER, Reason::Watch)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(received.try_recv().is_err(), "one burst, one request");

    trigger.trigger();
    tokio::time::timeout(PATIENCE, watching)
        .await
        .expect("watcher stops on shutdown")
        .unwrap();
}
