//! Desired-state rendering: what kustomize processes cost, what the build
//! cache and parallel builds save. Prints figures; `cargo bench -p
//! flotilla-auditor --bench render`.
//!
//! Scenarios, all on the shared `baseline-cluster` repository:
//! - one cluster, cold (private cache), builds one at a time vs on all cores;
//! - one cluster again with a shared cache at the same commit (no kustomize run);
//! - a fleet of N copies of the cluster folder (same components, different
//!   entry), rendered one after another without and with a shared cache.

use flotilla_render::{RenderCache, RenderOptions, render};
use std::fs;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/baseline-cluster/repo"
);
const REVISION: &str = "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93";
const ENTRY: &str = "clusters/aks-eastus2-01";
const ROUNDS: usize = 5;
const FLEET: usize = 10;

fn main() {
    let repo = Path::new(FIXTURE);
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    println!("render bench: baseline-cluster, {ROUNDS} rounds, {cores} cores available");

    let serial = time(ROUNDS, || {
        render_with(repo, ENTRY, None, NonZeroUsize::new(1));
    });
    report("one cluster, cold, 1 build at a time", serial);
    let parallel = time(ROUNDS, || {
        render_with(repo, ENTRY, None, None);
    });
    report(
        &format!("one cluster, cold, {cores} builds at a time"),
        parallel,
    );

    let cache = Arc::new(RenderCache::new());
    render_with(repo, ENTRY, Some(cache.clone()), None);
    let before = cache.builds();
    let warm = time(ROUNDS, || {
        render_with(repo, ENTRY, Some(cache.clone()), None);
    });
    report("one cluster, warm shared cache", warm);
    println!("    kustomize runs while warm: {}", cache.builds() - before);

    let fleet = fleet_repo(repo, FLEET);
    let entries: Vec<String> = (0..FLEET).map(|i| format!("clusters/c{i:02}")).collect();
    let uncached = time(1, || {
        for entry in &entries {
            render_with(fleet.path(), entry, None, None);
        }
    });
    report(
        &format!("fleet of {FLEET} clusters, no shared cache"),
        uncached,
    );
    let shared = Arc::new(RenderCache::new());
    let cached = time(1, || {
        for entry in &entries {
            render_with(fleet.path(), entry, Some(shared.clone()), None);
        }
    });
    report(&format!("fleet of {FLEET} clusters, shared cache"), cached);
    println!(
        "    kustomize runs with the shared cache: {} (hits {})",
        shared.builds(),
        shared.hits()
    );
}

fn render_with(
    repo: &Path,
    entry: &str,
    cache: Option<Arc<RenderCache>>,
    parallelism: Option<NonZeroUsize>,
) {
    let opts = RenderOptions {
        revision: Some(REVISION.into()),
        cache,
        parallelism,
        ..RenderOptions::default()
    };
    let desired = render(repo, entry, &opts).expect("renders");
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
}

/// The fixture with `n` copies of its cluster folder, each its own entry.
fn fleet_repo(repo: &Path, n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(repo, dir.path());
    let cluster = dir.path().join(ENTRY);
    for i in 0..n {
        let to = dir.path().join(format!("clusters/c{i:02}"));
        copy(&cluster, &to);
        let sync = to.join("flux-system/gotk-sync.yaml");
        let text = fs::read_to_string(&sync).unwrap();
        fs::write(
            &sync,
            text.replace("./clusters/aks-eastus2-01", &format!("./clusters/c{i:02}")),
        )
        .unwrap();
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let min = samples[0];
    println!(
        "  {name:<45} median {:>8.1} ms   min {:>8.1} ms",
        median.as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3
    );
}
