//! `flotilla serve` with two replicas: leader election on a Lease held by
//! the replay API server (the Lease-capable double), the real
//! `kube-lease-manager` protocol, the write fence, the status a standby
//! serves, and two real service processes failing over mid-cycle against one
//! git daemon and one GitHub double.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flotilla::bot::{Runner, RunnerOptions};
use flotilla_auditor::findings::{ClusterReport, Finding, FindingClass};
use flotilla_auditor::serve::config::{LeaderElectionConfig, ServeConfig};
use flotilla_auditor::serve::leader::{ElectionContext, Leadership, NotLeader};
use flotilla_auditor::serve::metrics::Metrics;
use flotilla_auditor::serve::state::State;
use flotilla_auditor::serve::{self, CycleRunner};
use flotilla_repos::github::RetryPolicy;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use tokio::time::Instant;

#[path = "../support/mod.rs"]
mod support;
#[path = "../support/world.rs"]
mod world;

use world::{BRANCH, CLUSTER, OWNER, REPO, World};

const NAMESPACE: &str = "flotilla-system";

async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: flotilla\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.ok()?;
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The value of the first sample whose line starts with `prefix` and whose
/// labels contain `labels`.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (series, value) = rest.rsplit_once(' ')?;
        (series.is_empty() || series.starts_with('{'))
            .then_some(())
            .filter(|()| series.contains(labels))?;
        value.parse().ok()
    })
}

fn quick_election(lease: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        enabled: true,
        lease_name: lease.into(),
        namespace: NAMESPACE.into(),
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_secs(1),
        context: None,
        kubeconfig: None,
    }
}

struct Replica {
    leadership: Leadership,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    stop: serve::ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

async fn replica(world: &World, config: &LeaderElectionConfig, identity: &str) -> Replica {
    let (leadership, election) = Leadership::elect_with(config, identity, world.replay.client())
        .await
        .unwrap();
    let state = Arc::new(State::new([CLUSTER.to_owned()]));
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = serve::shutdown_channel();
    let ctx = ElectionContext {
        state: Arc::clone(&state),
        metrics: Arc::clone(&metrics),
    };
    let task = tokio::spawn(election.run(ctx, stopped));
    Replica {
        leadership,
        state,
        metrics,
        stop,
        task,
    }
}

async fn wait_until(what: &str, limit: Duration, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    started.elapsed()
}

fn drifted() -> ClusterReport {
    ClusterReport {
        cluster: CLUSTER.into(),
        revision: Some("main@sha1:0123".into()),
        findings: vec![Finding {
            class: FindingClass::Modified,
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("traefik".into()),
            name: "traefik".into(),
            kustomization: Some("flux-system/infra".into()),
            paths: vec![],
            manager: None,
            condition: None,
            reverts: None,
        }],
        ..ClusterReport::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_on_a_lease_a_fenced_zombie_and_a_standby_that_takes_over() {
    let world = World::start().await;
    let config = quick_election("elect");
    let a = replica(&world, &config, "replica-a").await;
    let b = replica(&world, &config, "replica-b").await;
    wait_until("a leader", Duration::from_secs(15), || {
        a.leadership.is_leader() || b.leadership.is_leader()
    })
    .await;
    // Never two leaders at once, while both run.
    let watch_from = Instant::now();
    while watch_from.elapsed() < Duration::from_secs(3) {
        assert!(
            !(a.leadership.is_leader() && b.leadership.is_leader()),
            "two leaders"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (leader, standby) = if a.leadership.is_leader() {
        (a, b)
    } else {
        (b, a)
    };
    let leader_id = leader.leadership.identity().to_owned();
    let lease = world
        .replay
        .lease(NAMESPACE, "elect")
        .expect("lease created");
    assert_eq!(lease["spec"]["holderIdentity"], leader_id.as_str());
    assert!(leader.leadership.fence().await.is_ok());
    assert!(matches!(
        standby.leadership.fence().await,
        Err(NotLeader::Standby)
    ));

    // The leader's cycle ends: its status reaches the standby through the
    // Lease, and the standby serves it.
    let t0 = Timestamp::now();
    leader.state.record_fetch("main@sha1:0123");
    leader.state.record_success(drifted(), t0);
    leader.state.finish_cycle();
    wait_until("the shared status", Duration::from_secs(10), || {
        standby
            .state
            .cluster(CLUSTER)
            .is_some_and(|c| c.last_success.is_some())
    })
    .await;
    let shared = standby.state.cluster(CLUSTER).unwrap();
    let own = leader.state.cluster(CLUSTER).unwrap();
    assert_eq!(shared.drift_since, own.drift_since);
    assert!(shared.last_good.is_none(), "counts travel, findings do not");
    assert!(standby.state.is_ready());
    assert_eq!(
        standby.state.shared_from().as_deref(),
        Some(leader_id.as_str())
    );
    let text = standby.metrics.encode(&standby.state, Timestamp::now());
    let holder = format!("holder=\"{leader_id}\"");
    assert_eq!(
        sample(&text, "flotilla_lease_holder_info", &holder),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "flotilla_findings", "kind=\"Deployment\""),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "flotilla_last_audit_timestamp_seconds", "").is_some_and(|t| t > 0.0),
        "{text}"
    );
    let annotation = world.replay.lease(NAMESPACE, "elect").unwrap()["metadata"]["annotations"]
        ["flotilla.dev/status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !annotation.contains("traefik\""),
        "no object names: {annotation}"
    );

    // A zombie: the Lease is taken behind the leader's back (as a standby
    // whose clock runs ahead would). The leader has not read the Lease since,
    // so it still believes it leads, and the fence refuses its next write.
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(world.replay.client(), NAMESPACE);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(Timestamp::now());
    let take = serde_json::json!({"spec": {"holderIdentity": "intruder", "renewTime": now}});
    api.patch("elect", &PatchParams::default(), &Patch::Merge(&take))
        .await
        .unwrap();
    match leader.leadership.fence().await {
        Err(NotLeader::Held { holder }) => assert_eq!(holder.as_deref(), Some("intruder")),
        other => panic!("the fence let a zombie write: {other:?}"),
    }
    wait_until("the leader to step down", Duration::from_secs(5), || {
        !leader.leadership.is_leader()
    })
    .await;
    // Give the Lease back to nobody in particular: the intruder never renews.

    // The leader crashes (no release); the standby takes over once the
    // intruder's Lease expires, within leaseDuration and a few reads.
    leader.task.abort();
    let took = wait_until("the standby to take over", Duration::from_secs(10), || {
        standby.leadership.is_leader()
    })
    .await;
    println!(
        "standby took over {} ms after the leader crashed",
        took.as_millis()
    );
    assert!(standby.leadership.fence().await.is_ok());
    assert!(
        !leader.leadership.is_leader(),
        "a dead election leads nobody"
    );

    // A clean stop releases the Lease.
    standby.stop.trigger();
    standby.task.await.unwrap();
    let released = world.replay.lease(NAMESPACE, "elect").unwrap();
    assert!(
        released["spec"]["holderIdentity"].is_null(),
        "released: {released}"
    );
    drop(leader.stop);
}

fn runner(world: &World, leadership: Leadership) -> Runner {
    let path = world.serve_config("runner", 0, "1h", "  enabled: false");
    let config = ServeConfig::load(&path).unwrap();
    let options = RunnerOptions {
        github_retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        leadership,
        ..RunnerOptions::default()
    };
    Runner::new(config, options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_runner_never_calls_github_or_pushes() {
    let world = World::start().await;
    let (switch, leadership) = Leadership::manual("standby");
    let runner = runner(&world, leadership);
    let fetched = runner.fetch().await.unwrap();
    let audit = runner.audit(CLUSTER, &fetched.revision).await.unwrap();
    assert!(!audit.report.findings.is_empty(), "the cluster is drifted");
    for _ in 0..3 {
        runner
            .publish(std::slice::from_ref(&audit.report))
            .await
            .unwrap();
    }
    assert_eq!(
        world.double.request_log(),
        vec![],
        "a standby called github"
    );
    assert_eq!(world.git.pushes(), vec![], "a standby pushed");
    assert_eq!(world.git.head(BRANCH), None);

    // The same runner as the leader writes: the test would see it.
    switch.set(true);
    runner
        .publish(std::slice::from_ref(&audit.report))
        .await
        .unwrap();
    assert_eq!(world.double.open_pulls().len(), 1);
    assert_eq!(world.git.pushes().len(), 1);
    assert_eq!(
        runner.pull_request(CLUSTER),
        Some(format!(
            "{}/{OWNER}/{REPO}/pull/{}",
            world.double.url(),
            world.double.open_pulls()[0].number
        ))
    );
}

/// A `flotilla serve` process, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(world: &World, replica: &str, lease: &str) -> Serve {
        let port = world::free_port();
        let election = format!(
            "  enabled: true\n  leaseName: {lease}\n  namespace: {NAMESPACE}\n  context: replay\n  kubeconfig: {}",
            world.tmp.path().join("kubeconfig").display()
        );
        let config = world.serve_config(replica, port, "1h", &election);
        let log = std::fs::File::create(world.tmp.path().join(format!("{replica}.log"))).unwrap();
        let child = Command::new(support::flotilla_bin())
            .args(["serve", "--config", config.to_str().unwrap(), "--json-logs"])
            .env("POD_NAME", format!("flotilla-{replica}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Serve {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        }
    }

    async fn metrics(&self) -> Option<String> {
        http_get(self.addr, "/metrics").await
    }

    fn kill(&mut self) {
        // SIGKILL: no release of the Lease, no finishing of the step.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// `flotilla_leader{identity="…"}` of a replica, as it serves it.
fn leading(metrics: &str) -> Option<bool> {
    sample(metrics, "flotilla_leader", "identity=").map(|v| v == 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_service_processes_fail_over_mid_cycle_without_a_duplicate_pr_or_push() {
    let world = World::start().await;
    // GitHub refuses to open the PR until told otherwise: the leader pushes
    // the drift branch, then its cycle keeps failing between the push and
    // the PR, and is killed there.
    let pulls = format!("/repos/{OWNER}/{REPO}/pulls");
    world.double.fail_next_to("POST", &pulls, 10_000, 502);
    let mut a = Serve::start(&world, "a", "flotilla");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(m) = a.metrics().await
            && leading(&m) == Some(true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "replica a never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = Serve::start(&world, "b", "flotilla");

    // The standby serves /metrics throughout: a scraper in the background.
    let scraper = {
        let addr = b.addr;
        tokio::spawn(async move {
            let mut answered = 0u32;
            let mut missed = 0u32;
            let mut last = String::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(90) {
                match http_get(addr, "/metrics").await {
                    Some(m) => {
                        answered += 1;
                        let done = leading(&m) == Some(true);
                        last = m;
                        if done {
                            break;
                        }
                    }
                    None if answered == 0 => {} // still starting
                    None => missed += 1,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (answered, missed, last)
        })
    };

    // Mid-cycle: the drift branch is pushed and the PR refused at least once.
    let deadline = Instant::now() + Duration::from_secs(90);
    while world.git.head(BRANCH).is_none() || world.double.requests_to("POST", &pulls) == 0 {
        assert!(
            Instant::now() < deadline,
            "the leader never reached the pull request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let standby_before = loop {
        if let Some(m) = b.metrics().await {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(leading(&standby_before), Some(false), "{standby_before}");
    assert!(
        standby_before.contains("flotilla_lease_holder_info{holder=\"flotilla-a-"),
        "the standby names the leader: {standby_before}"
    );
    assert!(world.double.open_pulls().is_empty());
    assert!(
        !world.tmp.path().join("checkout-b").exists(),
        "the standby fetched the repository: it ran a cycle"
    );
    world.double.clear_faults();
    a.kill();
    let killed = Instant::now();

    // The standby takes over, finds the branch already pushed (same tree,
    // same parent, by the bot), pushes nothing, and opens the one PR.
    let (answered, missed, last) = scraper.await.unwrap();
    let took = killed.elapsed();
    assert_eq!(leading(&last), Some(true), "{last}");
    println!(
        "standby took over {} ms after SIGKILL of the leader ({answered} scrapes answered, {missed} missed)",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(15), "took over after {took:?}");
    assert_eq!(missed, 0, "the standby stopped answering /metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.double.open_pulls().is_empty() {
        assert!(Instant::now() < deadline, "the new leader opened no pr");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more cycles' worth of time for any duplicate to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.double.pulls().len(), 1, "{:?}", world.double.pulls());
    let drift_pushes: Vec<_> = world
        .git
        .pushes()
        .into_iter()
        .filter(|(_, _, r)| r == &format!("refs/heads/{BRANCH}"))
        .collect();
    assert_eq!(
        drift_pushes.len(),
        1,
        "one push of the drift branch: {drift_pushes:?}"
    );
    let logs = std::fs::read_to_string(world.tmp.path().join("b.log")).unwrap();
    assert!(
        !logs.contains(flotilla_tests::github_double::DOUBLE_TOKEN),
        "the token is in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_leader_stops_before_its_push() {
    let world = World::start().await;
    // Slow reads: the replica does not notice the Lease is gone before its
    // publish does.
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_secs(30),
        renew_deadline: Duration::from_secs(20),
        retry_period: Duration::from_secs(10),
        ..quick_election("zombie")
    };
    let a = replica(&world, &config, "replica-a").await;
    wait_until("the lead", Duration::from_secs(15), || {
        a.leadership.is_leader()
    })
    .await;
    let runner = runner(&world, a.leadership.clone());
    let fetched = runner.fetch().await.unwrap();
    let audit = runner.audit(CLUSTER, &fetched.revision).await.unwrap();
    // Another replica takes the Lease (a clock running ahead, a partition).
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(world.replay.client(), NAMESPACE);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(Timestamp::now());
    let take = serde_json::json!({"spec": {"holderIdentity": "replica-b", "renewTime": now}});
    api.patch("zombie", &PatchParams::default(), &Patch::Merge(&take))
        .await
        .unwrap();
    runner
        .publish(std::slice::from_ref(&audit.report))
        .await
        .unwrap();
    assert_eq!(world.git.pushes(), vec![], "the zombie pushed");
    assert!(world.double.pulls().is_empty(), "the zombie opened a pr");
    assert_eq!(runner.pull_request(CLUSTER), None);
    a.stop.trigger();
    a.task.await.unwrap();
}
