//! Benchmark: the service's own overhead, without any real audit. Prints
//! figures; asserts nothing about time.
//!
//! `cargo bench -p flotilla-auditor --features serve --bench serve` (release).
//!
//! - one cycle of the loop over 50 clusters whose audits return at once
//!   (200 findings each): coalescing, bookkeeping, state and metrics updates;
//! - one `/metrics` encoding with those 50 clusters' series;
//! - the fleet page of those 50 clusters, and one cluster's page;
//! - the worst cron lookup (a Feb 29 schedule, years away).

use flotilla_auditor::findings::{ClusterReport, Finding, FindingClass};
use flotilla_auditor::report::html::{self, FleetEntry, PageContext};
use flotilla_auditor::serve::backoff::BackoffPolicy;
use flotilla_auditor::serve::schedule::Cron;
use flotilla_auditor::serve::{
    AuditRequest, ClusterAudit, CycleRunner, Error, FetchOutcome, LoopOptions, Reason, Service,
    shutdown_channel,
};
use jiff::Timestamp;
use std::hint::black_box;
use std::time::{Duration, Instant};

const CLUSTERS: usize = 50;
const FINDINGS: usize = 200;
const CYCLES: u64 = 200;
const SCRAPES: u32 = 200;

/// Audits that cost nothing: what is left is the loop.
struct InstantRunner;

fn report(cluster: &str) -> ClusterReport {
    let classes = [
        FindingClass::Modified,
        FindingClass::Missing,
        FindingClass::Unmanaged,
        FindingClass::FluxUnhealthy,
    ];
    let findings = (0..FINDINGS)
        .map(|i| Finding {
            class: classes[i % classes.len()],
            api_version: "apps/v1".into(),
            kind: format!("Kind{}", i % 20),
            namespace: Some(format!("ns-{}", i % 10)),
            name: format!("obj-{i}"),
            kustomization: Some(format!("flux-system/ks-{}", i % 5)),
            paths: vec![],
            manager: None,
            condition: None,
            reverts: None,
        })
        .collect();
    ClusterReport {
        cluster: cluster.to_owned(),
        revision: Some("main@sha1:0123".into()),
        findings,
        ..ClusterReport::default()
    }
}

impl CycleRunner for InstantRunner {
    async fn fetch(&self) -> Result<FetchOutcome, Error> {
        Ok(FetchOutcome {
            revision: "main@sha1:0123".into(),
            changed: false,
        })
    }

    async fn audit(&self, cluster: &str, _revision: &str) -> Result<ClusterAudit, Error> {
        Ok(ClusterAudit {
            report: report(cluster),
            apiserver_requests: 60,
        })
    }

    async fn publish(&self, _reports: &[ClusterReport]) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let clusters: Vec<String> = (0..CLUSTERS).map(|i| format!("aks-{i:02}")).collect();
    let options = LoopOptions {
        clusters,
        audit_timeout: Duration::from_secs(60),
        backoff: BackoffPolicy::default(),
        seed: 1,
    };
    let service = Service::new(InstantRunner, options);
    let (state, metrics, requests) = (service.state(), service.metrics(), service.requests());
    let (trigger, shutdown) = shutdown_channel();
    let looping = tokio::spawn(service.run_loop(shutdown));
    state.wait_for_cycles(1).await;

    let started = Instant::now();
    for n in 2..=CYCLES + 1 {
        requests
            .send(AuditRequest::all(Reason::Manual))
            .await
            .expect("loop running");
        state.wait_for_cycles(n).await;
    }
    let per_cycle = started.elapsed() / u32::try_from(CYCLES).unwrap_or(u32::MAX);
    println!(
        "loop: {CLUSTERS} clusters × {FINDINGS} findings, {CYCLES} cycles: {per_cycle:?} per cycle ({:?} per cluster)",
        per_cycle / CLUSTERS as u32
    );

    let now = Timestamp::now();
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..SCRAPES {
        bytes = black_box(metrics.encode(&state, now)).len();
    }
    let per_scrape = started.elapsed() / SCRAPES;
    let series = metrics
        .encode(&state, now)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    println!(
        "/metrics: {series} series, {} KiB, {per_scrape:?} per scrape",
        bytes / 1024
    );

    // The fleet page and one cluster's page, from the same state.
    let entries: Vec<FleetEntry> = state
        .clusters()
        .into_iter()
        .map(|(name, s)| FleetEntry {
            pull_request: s.pull_request().map(str::to_owned),
            name,
            report: s.last_good,
            last_success: s.last_success,
            last_error: s.last_error,
            consecutive_failures: s.consecutive_failures,
            drift_since: s.drift_since,
        })
        .collect();
    let ctx = PageContext {
        now,
        refresh_seconds: Some(30),
        revision: state.revision(),
        fetch_error: None,
    };
    let started = Instant::now();
    let mut fleet_bytes = 0;
    for _ in 0..SCRAPES {
        fleet_bytes = black_box(html::fleet_page(&entries, &ctx)).len();
    }
    let per_fleet = started.elapsed() / SCRAPES;
    let started = Instant::now();
    let mut cluster_bytes = 0;
    for _ in 0..SCRAPES {
        cluster_bytes = black_box(html::cluster_page(&entries[0], &ctx)).len();
    }
    let per_cluster = started.elapsed() / SCRAPES;
    println!(
        "fleet page: {CLUSTERS} clusters, {} KiB, {per_fleet:?} per page; one cluster's page ({FINDINGS} findings): {} KiB, {per_cluster:?}",
        fleet_bytes / 1024,
        cluster_bytes / 1024
    );

    let leap = Cron::parse("0 0 29 2 *").expect("valid cron");
    let from: Timestamp = "2028-03-01T00:00:00Z".parse().expect("valid time");
    let started = Instant::now();
    let mut next = None;
    for _ in 0..100 {
        next = black_box(leap.next_after(from));
    }
    println!(
        "cron: next Feb 29 after {from} is {next:?}, {:?} per lookup",
        started.elapsed() / 100
    );

    trigger.trigger();
    looping.await.expect("no panic").expect("clean exit");
}
