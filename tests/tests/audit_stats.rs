//! `flotilla audit --stats` through the real binary: against the API server
//! replaying the `baseline-cluster` fixture, the requests it reports by verb
//! and resource are exactly the requests the server saw; the other figures
//! are there and plausible; the report itself does not change.

use flotilla_tests::replay::ReplayServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "../support/mod.rs"]
mod support;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster")
}

/// A kubeconfig whose only context points at `server`.
fn kubeconfig(server: &ReplayServer, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1
kind: Config
current-context: replay
clusters:
- name: replay
  cluster: {{server: \"{}\"}}
users:
- name: nobody
  user: {{}}
contexts:
- name: replay
  context: {{cluster: replay, user: nobody}}
",
        server.url
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Run the binary off the async threads (the replay server runs on them).
async fn flotilla(args: Vec<String>) -> support::Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::flotilla(&args)
    })
    .await
    .unwrap()
}

/// `verb resource` of a logged `GET <path>`, worked out here independently
/// of flotilla: OpenAPI v3 documents (list semantics), discovery documents,
/// else the last collection segment with its group.
fn label(line: &str) -> String {
    let path = line.strip_prefix("GET ").unwrap();
    let (path, _) = path.split_once('?').unwrap_or((path, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["openapi", ..] => "get openapi".to_owned(),
        ["api", _, resource] => format!("list {resource}"),
        ["apis", group, _, resource] => format!("list {resource}.{group}"),
        _ => "get discovery".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_every_request_by_verb_and_resource_and_change_nothing_else() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(&server, dir.path());
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "audit",
            "--repo",
            fixture().join("repo").to_str().unwrap(),
            "--cluster",
            "aks-eastus2-01",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    server.reset_counts();
    let run = flotilla(args(&["--stats", "-o", "json"])).await;
    assert_eq!(run.code, 1, "drift: {}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let stats = &doc["stats"];
    let cluster = &stats["clusters"][0];
    assert_eq!(cluster["cluster"], "aks-eastus2-01");

    // Requests: the total and each (verb, resource) are what the server saw.
    let log = server.request_log();
    assert_eq!(cluster["requests"], log.len() as u64);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for line in &log {
        *seen.entry(label(line)).or_default() += 1;
    }
    let reported: BTreeMap<String, u64> = cluster["requestsBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["verb"].as_str().unwrap(),
                    r["resource"].as_str().unwrap()
                ),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported, seen);
    assert_eq!(reported["get discovery"], 2, "aggregated discovery");
    assert_eq!(
        reported["get openapi"], 1,
        "the OpenAPI v3 index (the fixture recorded none, so no group version document follows)"
    );
    assert_eq!(
        reported["list kustomizations.kustomize.toolkit.fluxcd.io"],
        1
    );
    assert_eq!(reported["list configmaps"], 1);

    // The other figures.
    assert_eq!(cluster["objects"]["desired"], 34);
    assert_eq!(
        cluster["objects"]["compared"], 32,
        "one missing, one reconcile: disabled"
    );
    assert!(cluster["objects"]["live"].as_u64().unwrap() > 100);
    for step in ["renderMs", "liveReadMs", "diffMs"] {
        assert!(cluster[step].as_f64().unwrap() >= 0.0, "{step}");
    }
    assert_eq!(stats["kustomizeBuilds"], 6, "the fixture's six paths");
    assert_eq!(stats["kustomizeCacheHits"], 0);
    assert!(stats["peakMemoryBytes"].as_u64().unwrap() > 1 << 20);
    assert!(stats["wallMs"].as_f64().unwrap() > 0.0);

    // Without --stats the JSON has no stats, and the findings are the same.
    let plain = flotilla(args(&["-o", "json"])).await;
    let mut without: Value = serde_json::from_str(&plain.stdout).unwrap();
    assert!(without.get("stats").is_none());
    let mut with = doc.clone();
    with.as_object_mut().unwrap().remove("stats");
    without.as_object_mut().unwrap().remove("stats");
    assert_eq!(with, without);

    // Text: the report on stdout is unchanged, the figures go to stderr.
    let text = flotilla(args(&["--stats"])).await;
    let text_plain = flotilla(args(&[])).await;
    assert_eq!(text.stdout, text_plain.stdout);
    assert!(
        text.stderr.contains("stats: 1 cluster in "),
        "{}",
        text.stderr
    );
    assert!(
        text.stderr.contains("objects 34 desired, ") && text.stderr.contains("get discovery 2"),
        "{}",
        text.stderr
    );
    assert!(
        !text_plain.stderr.contains("stats:"),
        "{}",
        text_plain.stderr
    );
}
