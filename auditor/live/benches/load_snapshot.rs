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
//! A third case is one huge List file: 1,000,000 Events (a kind the audit
//! never reads) with a few ConfigMaps among them, loaded with an audit
//! [`Scope`]. It runs in a fresh child process (this binary re-executed with
//! [`CASE_ENV`] set) so its peak resident memory (`VmHWM`) is its own, and
//! prints wall time, CPU and that peak: memory must follow what is kept, not
//! the file. `FLOTILLA_BENCH_HUGE=N` picks another item count;
//! `FLOTILLA_BENCH_ONLY=huge` runs only that case.
//!
//! `cargo bench -p flotilla-auditor --bench load_snapshot`

use flotilla_live::{Scope, load_snapshot, load_snapshot_scoped};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Set in the child: the snapshot directory of the huge-list case.
const CASE_ENV: &str = "FLOTILLA_BENCH_HUGE_CASE";
/// Items of the huge List file.
const HUGE_ITEMS: usize = 1_000_000;

const TARGET_OBJECTS: usize = 50_000;
const ITEMS_PER_FILE: usize = 500;
const RUNS: usize = 3;

fn main() {
    if let Ok(dir) = std::env::var(CASE_ENV) {
        return run_huge_case(Path::new(&dir));
    }
    let only = std::env::var("FLOTILLA_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "huge" {
        bench_huge();
    }
    if only == "huge" {
        return;
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/baseline-cluster/snapshot-drifted");
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

/// The audit's scope in the huge case: ConfigMaps and Namespaces declared,
/// namespaces governed (so every namespaced kind is read), Events never.
fn huge_scope() -> Scope {
    Scope::for_audit([("", "ConfigMap"), ("", "Namespace")], true)
}

/// Write the huge List, run the load in a child, print its figures.
fn bench_huge() {
    let items = std::env::var("FLOTILLA_BENCH_HUGE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(HUGE_ITEMS);
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = write_huge(dir.path(), items);
    println!(
        "load_snapshot, one List of {items} Events (never read by an audit) and 3 ConfigMaps: {} MB of JSON",
        bytes / 1_000_000
    );
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(CASE_ENV, dir.path())
        .output()
        .expect("child runs");
    assert!(
        out.status.success(),
        "huge case failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

/// In the child: load with the audit scope, print wall, CPU and peak RSS.
fn run_huge_case(dir: &Path) {
    let scope = huge_scope();
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let live = load_snapshot_scoped(dir, Some(&scope)).expect("huge snapshot loads");
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let kept: Vec<&str> = live
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kept, ["ConfigMap"; 3], "only the ConfigMaps are kept");
    println!(
        "  huge list: wall {wall:.2} s, cpu {cpu:.2} s, peak RSS {:.0} MB, {} objects kept",
        peak_rss_mb(),
        kept.len()
    );
}

/// One kubectl-style List: Events (as `kubectl get events -A -o json` prints
/// them, managed fields included) with a ConfigMap first, in the middle and
/// last. Written item by item; returns its size in bytes.
fn write_huge(dir: &Path, items: usize) -> usize {
    let path = dir.join("objects.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    out.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")
        .expect("write");
    for i in 0..items {
        let item = if i == 0 || i == items / 2 || i + 1 == items {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": format!("settings-{i}"), "namespace": "team-01"},
                   "data": {"LOG_LEVEL": "info"}})
        } else {
            event(i)
        };
        if i > 0 {
            out.write_all(b",\n").expect("write");
        }
        serde_json::to_writer_pretty(&mut out, &item).expect("write item");
    }
    out.write_all(
        b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\"resourceVersion\": \"\"}\n}\n",
    )
    .expect("write");
    out.flush().expect("flush");
    std::fs::metadata(&path).expect("written").len() as usize
}

fn event(i: usize) -> Value {
    let pod = format!("web-7d9f8c6b5-{i:06x}");
    json!({"apiVersion": "v1", "kind": "Event",
        "count": 1, "firstTimestamp": "2026-11-20T09:00:00Z", "lastTimestamp": "2026-11-20T09:00:00Z",
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "team-01",
                           "fieldPath": "spec.containers{web}", "resourceVersion": "4242",
                           "uid": format!("0b6e1c2a-0000-4000-8000-{i:012}")},
        "message": "Successfully pulled image \"registry.example/team/web:1.4.2\" in 1.2s",
        "metadata": {"name": format!("{pod}.17a3c5e0d{i:07x}"), "namespace": "team-01",
                     "creationTimestamp": "2026-11-20T09:00:00Z", "resourceVersion": (100_000 + i).to_string(),
                     "uid": format!("5f0c1d2e-0000-4000-8000-{i:012}"),
                     "managedFields": [{"apiVersion": "v1", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {}, "f:lastTimestamp": {},
                                     "f:message": {}, "f:reason": {}, "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}},
                        "manager": "kubelet", "operation": "Update", "time": "2026-11-20T09:00:00Z"}]},
        "reason": "Pulled", "reportingComponent": "kubelet", "reportingInstance": "aks-nodepool1-0",
        "source": {"component": "kubelet", "host": "aks-nodepool1-0"}, "type": "Normal"})
}

/// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
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
