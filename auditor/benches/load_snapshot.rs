//! How fast a large snapshot loads. The `baseline-cluster` drifted snapshot
//! is replicated to 50,000 objects (names suffixed per copy, 500 items per
//! file, Secrets with base64 data to seal), then [`load_snapshot`] is timed.
//! Two mixes: the whole fixture (bytes dominated by CRDs and system
//! ClusterRoles, which a real cluster has hundreds of, not thousands) and
//! its namespaced objects only (Pods, ReplicaSets, ConfigMaps, Secrets, …:
//! what grows to 50k). Prints wall time, process CPU time (user + system
//! from `/proc/self/stat`, 100 ticks/s) and, as the floor, a single-threaded
//! `serde_json::from_slice::<Value>` of the same bytes.
//!
//! `cargo bench -p flotilla-auditor --bench load_snapshot`

use flotilla_auditor::live::load_snapshot;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

const TARGET_OBJECTS: usize = 50_000;
const ITEMS_PER_FILE: usize = 500;
const RUNS: usize = 3;

fn main() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/baseline-cluster/snapshot-drifted");
    let all = load_snapshot(&fixture).expect("fixture loads").objects;
    let namespaced: Vec<Value> = all
        .iter()
        .filter(|o| o["metadata"]["namespace"].is_string())
        .cloned()
        .collect();
    bench("whole fixture mix", &fixture, &all);
    bench("namespaced objects only", &fixture, &namespaced);
}

fn bench(label: &str, fixture: &Path, base: &[Value]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (objects, bytes) = write_replicated(fixture, base, dir.path());
    println!(
        "load_snapshot, {label}: {objects} objects, {} MB of JSON ({} bytes/object)",
        bytes / 1_000_000,
        bytes / objects
    );
    print_floor(dir.path());
    for run in 1..=RUNS {
        let cpu_before = process_cpu_seconds();
        let start = Instant::now();
        let live = load_snapshot(dir.path()).expect("replicated snapshot loads");
        let wall = start.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds() - cpu_before;
        assert_eq!(live.objects.len(), objects);
        println!(
            "  run {run}: wall {wall:.3} s, cpu {cpu:.3} s, {:.0} objects/s wall",
            objects as f64 / wall
        );
    }
}

/// Parsing alone, one thread, files already in memory: what any loader
/// building `serde_json::Value`s pays.
fn print_floor(dir: &Path) {
    let files: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let parsed: usize = files
        .iter()
        .map(|f| {
            serde_json::from_slice::<Value>(f).unwrap()["items"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    println!(
        "  floor (serde_json::from_slice::<Value>, 1 thread): wall {:.3} s, cpu {:.3} s, {parsed} objects",
        start.elapsed().as_secs_f64(),
        process_cpu_seconds() - cpu_before
    );
}

/// Write copies of `base` (the Secret with its recorded base64 data, as
/// kubectl writes it) until [`TARGET_OBJECTS`]; returns (objects, bytes).
fn write_replicated(fixture: &Path, base: &[Value], dir: &Path) -> (usize, usize) {
    let raw: Value = serde_json::from_slice(
        &std::fs::read(fixture.join("objects/core_v1_secrets.json")).unwrap(),
    )
    .unwrap();
    let raw_secret = &raw["items"][0];
    let mut items = Vec::with_capacity(TARGET_OBJECTS);
    let mut copy = 0;
    while items.len() < TARGET_OBJECTS {
        for obj in base {
            let mut obj = if obj["kind"] == "Secret" {
                raw_secret.clone()
            } else {
                obj.clone()
            };
            let name = format!("{}-{copy}", obj["metadata"]["name"].as_str().unwrap_or("x"));
            obj["metadata"]["name"] = Value::String(name);
            items.push(obj);
            if items.len() == TARGET_OBJECTS {
                break;
            }
        }
        copy += 1;
    }
    let mut bytes = 0;
    for (i, chunk) in items.chunks(ITEMS_PER_FILE).enumerate() {
        let list = json!({"apiVersion": "v1", "items": chunk, "kind": "List", "metadata": {"resourceVersion": ""}});
        let body = serde_json::to_vec_pretty(&list).unwrap();
        bytes += body.len();
        std::fs::write(dir.join(format!("part-{i:04}.json")), body).unwrap();
    }
    (items.len(), bytes)
}

/// User + system CPU seconds of this process so far (Linux `/proc`).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 0, utime 11, stime 12.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}
