//! The live reader against a recorded API server: kube-rs over real HTTP to
//! [`ReplayServer`] serving the `baseline-cluster` fixture.

use flotilla_auditor::live::{
    Error, ReadOptions, RecordOptions, Scope, client_for, load_snapshot, load_snapshot_with,
    read_cluster, read_cluster_with, record_snapshot, snapshot_sealer,
};
use flotilla_auditor::object::ObjectKey;
use flotilla_auditor::secret::Sealer;
use flotilla_tests::replay::ReplayServer;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn drifted() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/baseline-cluster/snapshot-drifted")
}

fn by_key(objects: &[Value]) -> BTreeMap<ObjectKey, &Value> {
    objects
        .iter()
        .map(|o| (ObjectKey::of(o).expect("keyed object"), o))
        .collect()
}

/// Plain and base64 forms of the basic-auth values in the fixture.
const SECRET_VALUES: [&str; 4] = [
    "YWRtaW46JGFwcjEkZmFrZSRoYXNo",
    "admin:$apr1$fake$hash",
    "YWRtaW46JGFwcjEkcjB0YXRlZCRoYXNo",
    "admin:$apr1$r0tated$hash",
];

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// What the fixture's discovery says a governed-namespace audit must read,
/// derived here from the documents directly: discovery paths (`/api`, `/apis`,
/// `/api/v1`, the preferred version of every group) and the LIST paths of
/// every namespaced listable type except Events, plus `cluster_kinds`.
fn expected_audit_requests(cluster_kinds: &[(&str, &str)]) -> (BTreeSet<String>, BTreeSet<String>) {
    let disc = drifted().join("discovery");
    // The OpenAPI v3 index is asked too (list semantics); the fixture's
    // server has none, so no document follows.
    let mut discovery = BTreeSet::from([
        "/api".to_owned(),
        "/apis".to_owned(),
        "/api/v1".to_owned(),
        "/openapi/v3".to_owned(),
    ]);
    let mut group_versions = vec![("".to_owned(), "v1".to_owned())];
    for g in read_json(&disc.join("apis.json"))["groups"]
        .as_array()
        .unwrap()
    {
        let (name, v) = (
            g["name"].as_str().unwrap(),
            g["preferredVersion"]["version"].as_str().unwrap(),
        );
        discovery.insert(format!("/apis/{name}/{v}"));
        group_versions.push((name.to_owned(), v.to_owned()));
    }
    let mut lists = BTreeSet::new();
    for (group, version) in group_versions {
        let (file, prefix) = if group.is_empty() {
            ("api_v1.json".to_owned(), "/api/v1".to_owned())
        } else {
            (
                format!("apis_{group}_{version}.json"),
                format!("/apis/{group}/{version}"),
            )
        };
        for r in read_json(&disc.join(file))["resources"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap();
            let kind = r["kind"].as_str().unwrap();
            let listable = r["verbs"].as_array().unwrap().iter().any(|v| v == "list");
            let wanted = (r["namespaced"] == true && kind != "Event")
                || cluster_kinds.contains(&(group.as_str(), kind));
            if !name.contains('/') && listable && wanted {
                lists.insert(format!("{prefix}/{name}"));
            }
        }
    }
    (discovery, lists)
}

#[tokio::test]
async fn cluster_read_matches_the_snapshot_it_replays() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let sealer = Sealer::random();
    let live = read_cluster_with(
        server.client(),
        &Scope::everything(),
        &ReadOptions::default(),
        &sealer,
    )
    .await
    .unwrap();
    let snapshot = load_snapshot_with(&drifted(), None, &sealer).unwrap();
    let (from_api, from_files) = (by_key(&live.objects), by_key(&snapshot.objects));
    assert_eq!(from_api.len(), 289);
    assert_eq!(
        from_api.keys().collect::<Vec<_>>(),
        from_files.keys().collect::<Vec<_>>()
    );
    // Whole objects, not a sample: typed, managedFields kept, Secret sealed
    // to the same digest on both paths.
    for (key, obj) in &from_api {
        assert_eq!(*obj, from_files[key], "{key}");
    }
    let kured = from_api
        .values()
        .find(|o| o["kind"] == "DaemonSet")
        .unwrap();
    assert_eq!(kured["apiVersion"], "apps/v1");
    assert!(
        kured["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(live.lists, 78);
    assert_eq!(live.listed, snapshot.listed);
}

#[tokio::test]
async fn a_legacy_discovery_audit_read_is_discovery_plus_one_list_per_type() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    server.set_aggregated_discovery(false);
    let cluster_kinds = [
        ("", "Namespace"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("networking.k8s.io", "IngressClass"),
    ];
    let scope = Scope::for_audit(cluster_kinds, true);
    let live = read_cluster(server.client(), &scope).await.unwrap();

    let (discovery, lists) = expected_audit_requests(&cluster_kinds);
    assert_eq!(
        discovery.len(),
        30,
        "/api, /apis, /api/v1, 26 groups and the OpenAPI index"
    );
    let log = server.request_log();
    let (list_log, discovery_log): (Vec<&String>, Vec<&String>) =
        log.iter().partition(|l| l.contains('?'));
    let discovery_seen: BTreeSet<String> = discovery_log
        .iter()
        .map(|l| l.strip_prefix("GET ").unwrap().to_owned())
        .collect();
    assert_eq!(discovery_seen, discovery);
    assert_eq!(
        discovery_log.len(),
        discovery.len(),
        "no discovery document fetched twice"
    );
    let list_seen: BTreeSet<String> = list_log
        .iter()
        .map(|l| {
            assert!(
                l.starts_with("GET ") && l.ends_with("?limit=500&resourceVersion=0"),
                "{l}"
            );
            l.trim_start_matches("GET ")
                .trim_end_matches("?limit=500&resourceVersion=0")
                .to_owned()
        })
        .collect();
    assert_eq!(list_seen, lists);
    assert_eq!(
        list_log.len(),
        lists.len(),
        "one LIST per type, no GET per object"
    );

    assert_eq!(server.requests(), (discovery.len() + lists.len()) as u64);
    assert_eq!(live.requests, server.requests());
    assert_eq!(live.lists, lists.len() as u64);
    let kinds: BTreeSet<&str> = live
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains("ClusterRole") && kinds.contains("Kustomization") && kinds.contains("Pod")
    );
    assert!(!kinds.contains("PriorityClass") && !kinds.contains("CustomResourceDefinition"));
}

#[tokio::test]
async fn aggregated_discovery_costs_two_requests_and_reads_the_same() {
    let cluster_kinds = [
        ("", "Namespace"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
    ];
    let scope = Scope::for_audit(cluster_kinds, true);
    let legacy_server = ReplayServer::start(drifted()).await.unwrap();
    legacy_server.set_aggregated_discovery(false);
    let sealer = Sealer::random();
    let options = ReadOptions::default();
    let legacy = read_cluster_with(legacy_server.client(), &scope, &options, &sealer)
        .await
        .unwrap();

    let server = ReplayServer::start(drifted()).await.unwrap();
    let live = read_cluster_with(server.client(), &scope, &options, &sealer)
        .await
        .unwrap();
    let log = server.request_log();
    let discovery: Vec<&String> = log.iter().filter(|l| !l.contains('?')).collect();
    assert_eq!(discovery, ["GET /api", "GET /apis", "GET /openapi/v3"]);
    let (_, lists) = expected_audit_requests(&cluster_kinds);
    assert_eq!(live.requests, 3 + lists.len() as u64);
    assert_eq!(
        live.requests + 27,
        legacy.requests,
        "27 legacy group documents saved"
    );
    assert_eq!(by_key(&live.objects), by_key(&legacy.objects));
    assert_eq!(live.listed, legacy.listed);
}

#[tokio::test]
async fn a_group_whose_discovery_fails_is_skipped_unless_the_audit_needs_it() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    server.set_aggregated_discovery(false);
    server.fail_path("/apis/traefik.io/v1alpha1", 500);
    let live = read_cluster(
        server.client(),
        &Scope::for_audit([("", "Namespace")], true),
    )
    .await
    .unwrap();
    assert_eq!(live.unavailable, ["/apis/traefik.io/v1alpha1"]);
    assert!(
        !server
            .request_log()
            .iter()
            .any(|l| l.contains("traefik.io/v1alpha1/"))
    );
    assert!(live.objects.iter().any(|o| o["kind"] == "Namespace"));

    let needed = Scope::for_audit([("traefik.io", "IngressRoute")], true);
    let err = read_cluster(server.client(), &needed).await.unwrap_err();
    assert!(
        matches!(err, Error::Discovery { ref path, .. } if path == "/apis/traefik.io/v1alpha1"),
        "{err:?}"
    );
    assert_eq!(err.http_status(), Some(500));
}

#[tokio::test]
async fn a_narrow_scope_fetches_only_the_groups_it_needs() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    server.set_aggregated_discovery(false);
    let scope = Scope::for_audit([("apps", "Deployment")], false);
    let live = read_cluster(server.client(), &scope).await.unwrap();
    let log = server.request_log();
    // /api, /apis, apps and the three Flux groups, the OpenAPI index; then
    // 1 + 5 + 1 + 1 lists (Deployments; GitRepository, Bucket, HelmChart,
    // HelmRepository, OCIRepository; Kustomization; HelmRelease): 7 + 8.
    assert_eq!(
        log.iter().filter(|l| !l.contains('?')).count(),
        7,
        "{log:#?}"
    );
    assert_eq!(live.lists, 8, "{log:#?}");
    assert_eq!(live.requests, 15);
    assert!(!log.iter().any(|l| l.contains("/api/v1")));
}

#[tokio::test]
async fn paging_follows_continue_within_one_logical_list() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let expected = load_snapshot(&drifted())
        .unwrap()
        .objects
        .into_iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .collect::<Vec<_>>();
    assert!(expected.len() >= 5, "fixture has enough ConfigMaps to page");
    let scope = Scope::only([("", "ConfigMap")]);
    let options = ReadOptions {
        page_size: 2,
        ..ReadOptions::default()
    };
    let live = read_cluster_with(server.client(), &scope, &options, &Sealer::random())
        .await
        .unwrap();

    assert_eq!(by_key(&live.objects), by_key(&expected));
    let pages = expected.len().div_ceil(2) as u64;
    let log = server.request_log();
    let page_requests: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("/api/v1/configmaps?"))
        .collect();
    assert_eq!(page_requests.len() as u64, pages);
    assert!(
        page_requests[1..].iter().all(|l| l.contains("&continue=")),
        "{page_requests:#?}"
    );
    // Aggregated /api and /apis, the OpenAPI index, then the pages: a paged
    // LIST counts each page.
    assert_eq!(live.lists, 1);
    assert_eq!(live.requests, 3 + pages);
    assert_eq!(server.requests(), live.requests);
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_once() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    server.expire_continue_tokens(1);
    let scope = Scope::only([("", "ConfigMap")]);
    let options = ReadOptions {
        page_size: 2,
        ..ReadOptions::default()
    };
    let live = read_cluster_with(server.client(), &scope, &options, &Sealer::random())
        .await
        .unwrap();
    assert_eq!(live.objects.len(), 18, "whole list, nothing doubled");
    assert_eq!(by_key(&live.objects).len(), 18);
    // Discovery and the OpenAPI index, page 1, the 410 on page 2, then 9
    // pages from the start.
    assert_eq!(live.requests, 3 + 1 + 1 + 9);

    server.expire_continue_tokens(2);
    let err = read_cluster_with(server.client(), &scope, &options, &Sealer::random())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::List { page: 2, .. }), "{err:?}");
    assert_eq!(err.http_status(), Some(410));
}

#[tokio::test]
async fn short_pages_from_the_server_are_followed_too() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    server.set_max_page(Some(3));
    let scope = Scope::only([("", "ConfigMap")]);
    let live = read_cluster(server.client(), &scope).await.unwrap();
    let expected = load_snapshot(&drifted()).unwrap();
    let configmaps = expected
        .objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .count();
    assert_eq!(live.objects.len(), configmaps);
    assert_eq!(live.requests, 3 + configmaps.div_ceil(3) as u64);
}

#[tokio::test]
async fn no_secret_value_reaches_live_state_or_a_recorded_snapshot() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let live = read_cluster(server.client(), &Scope::everything())
        .await
        .unwrap();
    let text = serde_json::to_string(&live.objects).unwrap();
    assert!(text.contains("traefik-basic-auth"));
    for value in SECRET_VALUES {
        assert!(!text.contains(value), "{value} in live state");
    }

    let out = tempfile::tempdir().unwrap();
    let summary = record_snapshot(server.client(), out.path(), &RecordOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (summary.objects, summary.lists, summary.sealed_secrets),
        (289, 78, 1)
    );
    for dir in ["objects", "discovery"] {
        for entry in std::fs::read_dir(out.path().join(dir)).unwrap() {
            let body = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for value in SECRET_VALUES {
                assert!(!body.contains(value), "{value} written to {dir}");
            }
        }
    }
}

#[tokio::test]
async fn a_recorded_snapshot_has_the_fixture_layout_and_loads_to_the_same_objects() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = record_snapshot(server.client(), out.path(), &RecordOptions::default())
        .await
        .unwrap();
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&out.path().join("objects")),
        names(&drifted().join("objects"))
    );
    assert_eq!(
        names(&out.path().join("discovery")),
        names(&drifted().join("discovery"))
    );
    assert_eq!(summary.discovery_documents, 34);
    assert_eq!(summary.requests, server.requests());

    // Sealed once when recorded (with the snapshot's own key), not sealed
    // again when loaded: the digest matches sealing the original with it.
    let recorded = load_snapshot(out.path()).unwrap();
    let own = snapshot_sealer(out.path())
        .unwrap()
        .expect("a recording has its key");
    let original = load_snapshot_with(&drifted(), None, &own).unwrap();
    let (recorded, original) = (by_key(&recorded.objects), by_key(&original.objects));
    assert_eq!(recorded.len(), original.len());
    for (key, obj) in &original {
        assert_eq!(recorded[key], *obj, "{key}");
    }

    // Recording again replaces its own files and keeps a hand-written one.
    std::fs::write(
        out.path().join("objects/stale_v1_things.json"),
        r#"{"kind":"List","items":[]}"#,
    )
    .unwrap();
    record_snapshot(server.client(), out.path(), &RecordOptions::default())
        .await
        .unwrap();
    assert!(out.path().join("objects/stale_v1_things.json").exists());
}

#[tokio::test]
async fn an_outage_fails_the_read_and_a_restart_on_the_same_port_recovers() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let scope = Scope::only([("", "Namespace")]);
    server.kill();
    assert!(!server.is_running());
    let err = read_cluster(server.client(), &scope).await.unwrap_err();
    assert!(
        matches!(err, Error::Discovery { ref path, .. } if path == "/api"),
        "{err:?}"
    );
    assert_eq!(err.http_status(), None, "refused, not answered");
    assert_eq!(server.requests(), 0);

    server.restart().await.unwrap();
    let live = read_cluster(server.client(), &scope).await.unwrap();
    assert_eq!(
        live.objects.len(),
        7,
        "a0008, cluster-baseline-settings, flux-system and 4 system namespaces"
    );
}

#[tokio::test]
async fn a_watch_is_held_open_until_the_server_is_killed() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"GET /api/v1/configmaps?watch=true&resourceVersion=1 HTTP/1.1\r\nHost: replay\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Open and silent...
    let quiet =
        tokio::time::timeout(std::time::Duration::from_millis(200), stream.read(&mut buf)).await;
    assert!(quiet.is_err(), "the watch sent or closed: {quiet:?}");
    // ...until killed: the connection ends.
    server.kill();
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "refused after kill"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_bad_continue_tokens_400() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let client = server.client();
    let get = |path: &str| http::Request::get(path).body(Vec::new()).unwrap();
    let status = |r: Result<String, kube::Error>| match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an api error, got {other:?}"),
    };
    assert_eq!(
        status(
            client
                .request_text(get("/apis/example.com/v1/widgets"))
                .await
        ),
        404
    );
    assert_eq!(
        status(
            client
                .request_text(get("/api/v1/configmaps?continue=bm9wZQ%3D%3D"))
                .await
        ),
        400
    );
    let one = client
        .request_text(get(
            "/api/v1/namespaces/a0008/configmaps/traefik-ingress-config",
        ))
        .await
        .unwrap();
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(
        (one["kind"].as_str(), one["apiVersion"].as_str()),
        (Some("ConfigMap"), Some("v1"))
    );
    assert_eq!(server.requests(), 3);
}

/// A kubeconfig naming the replay server under context `replay`, beside a
/// decoy current context that would fail if picked.
fn kubeconfig_for(server: &ReplayServer, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1
kind: Config
current-context: decoy
clusters:
- name: replay
  cluster: {{server: \"{url}\"}}
- name: decoy
  cluster: {{server: \"http://127.0.0.1:9\"}}
users:
- name: nobody
  user: {{}}
contexts:
- name: replay
  context: {{cluster: replay, user: nobody}}
- name: decoy
  context: {{cluster: decoy, user: nobody}}
",
        url = server.url
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn client_for_picks_the_named_context_of_an_explicit_kubeconfig() {
    let server = ReplayServer::start(drifted()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_for(&server, dir.path());
    let client = client_for(Some("replay"), Some(&kubeconfig)).await.unwrap();
    let live = read_cluster(client, &Scope::only([("", "Namespace")]))
        .await
        .unwrap();
    assert_eq!(live.objects.len(), 7);
    assert_eq!(
        server.requests(),
        4,
        "/api, /apis (aggregated), the OpenAPI index, namespaces"
    );

    let err = client_for(Some("missing"), Some(&kubeconfig))
        .await
        .err()
        .expect("unknown context fails");
    assert!(matches!(err, Error::Kubeconfig { .. }), "{err:?}");
    assert!(err.to_string().contains("context missing"), "{err}");
}

#[tokio::test]
async fn a_kube_runtime_watcher_gets_its_initial_list_from_the_replay() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher;

    let server = ReplayServer::start(drifted()).await.unwrap();
    let api: kube::Api<ConfigMap> = kube::Api::all(server.client());
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut names = BTreeSet::new();
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            match event.expect("watcher event") {
                watcher::Event::InitApply(cm) => {
                    names.insert((
                        cm.metadata.namespace.unwrap_or_default(),
                        cm.metadata.name.unwrap_or_default(),
                    ));
                }
                watcher::Event::InitDone => return true,
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(done, Ok(true), "the initial list completes");
    assert_eq!(names.len(), 18, "every recorded ConfigMap: {names:?}");
    // Then the watcher sits on the held-open watch: no event, no error.
    let next = tokio::time::timeout(std::time::Duration::from_millis(300), events.next()).await;
    assert!(next.is_err(), "the watch stays silent: {next:?}");
    let log = server.request_log();
    assert!(
        log.iter()
            .any(|l| l.contains("/api/v1/configmaps?") && l.contains("watch=true")),
        "{log:#?}"
    );
}

/// A copy of the drifted snapshot whose API server also publishes the
/// OpenAPI v3 document of `kustomize.toolkit.fluxcd.io/v1`, built the way
/// kube-apiserver publishes a CRD's schema: the storage version's
/// `openAPIV3Schema` under `components.schemas`, with its
/// `x-kubernetes-group-version-kind`. Flux's `spec.dependsOn` declares no
/// list type, so the server treats it as atomic.
fn snapshot_with_openapi() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["discovery", "objects"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(drifted().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
    let crds = read_json(
        &drifted().join("objects/apiextensions.k8s.io_v1_customresourcedefinitions.json"),
    );
    let crd = crds["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metadata"]["name"] == "kustomizations.kustomize.toolkit.fluxcd.io")
        .unwrap();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    schema["x-kubernetes-group-version-kind"] = serde_json::json!([
        {"group": "kustomize.toolkit.fluxcd.io", "version": "v1", "kind": "Kustomization"}]);
    let doc = serde_json::json!({"openapi": "3.0.0", "components": {"schemas": {
        "io.fluxcd.toolkit.kustomize.v1.Kustomization": schema}}});
    let index = serde_json::json!({"paths": {
        "apis/kustomize.toolkit.fluxcd.io/v1": {
            "serverRelativeURL": "/openapi/v3/apis/kustomize.toolkit.fluxcd.io/v1?hash=5E3F"}}});
    let discovery = dir.path().join("discovery");
    std::fs::write(discovery.join("openapi_v3.json"), index.to_string()).unwrap();
    std::fs::write(
        discovery.join("openapi_v3_apis_kustomize.toolkit.fluxcd.io_v1.json"),
        doc.to_string(),
    )
    .unwrap();
    dir
}

/// Git's Kustomization `ingress` with its two `dependsOn` entries swapped:
/// a change for the server (the list is atomic), none for a name-keyed guess.
fn ingress_with_depends_on_swapped() -> flotilla_auditor::desired::Desired {
    use flotilla_auditor::desired::{Desired, DesiredObject};
    let object = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "ingress", "namespace": "flux-system"},
        "spec": {"dependsOn": [{"name": "secrets"}, {"name": "policies"}]}});
    Desired {
        objects: vec![DesiredObject {
            object,
            kustomization: None,
        }],
        ..Desired::default()
    }
}

fn depends_on_findings(live: &flotilla_auditor::live::Live) -> Vec<String> {
    use flotilla_auditor::diff::{DiffOptions, diff};
    diff(
        &ingress_with_depends_on_swapped(),
        live,
        &DiffOptions::default(),
    )
    .iter()
    .filter(|f| f.name == "ingress")
    .flat_map(|f| f.paths.iter().map(|p| p.path.clone()))
    .collect()
}

#[tokio::test]
async fn the_servers_openapi_documents_decide_list_types_read_once_per_group_version() {
    let snapshot = snapshot_with_openapi();
    let server = ReplayServer::start(snapshot.path()).await.unwrap();
    let scope = Scope::for_audit(
        [
            ("kustomize.toolkit.fluxcd.io", "Kustomization"),
            ("apps", "Deployment"),
        ],
        false,
    );
    let live = read_cluster(server.client(), &scope).await.unwrap();
    let log = server.request_log();
    let openapi: Vec<&String> = log.iter().filter(|l| l.contains("/openapi/")).collect();
    assert_eq!(
        openapi,
        [
            "GET /openapi/v3",
            "GET /openapi/v3/apis/kustomize.toolkit.fluxcd.io/v1?hash=5E3F"
        ],
        "the index once, then one document per group version it lists"
    );
    assert_eq!(live.openapi_documents, 1);
    assert_eq!(live.requests, server.requests());
    // Every LIST's first page comes from the watch cache.
    for line in log.iter().filter(|l| l.contains("?limit=")) {
        assert!(line.ends_with("&resourceVersion=0"), "{line}");
    }
    assert_eq!(depends_on_findings(&live), ["/spec/dependsOn"]);

    // Without the document, nothing declares the list: its unique names
    // key it, and a reorder is no change.
    let plain = ReplayServer::start(drifted()).await.unwrap();
    let fallback = read_cluster(plain.client(), &scope).await.unwrap();
    assert_eq!(fallback.openapi_documents, 0);
    assert!(plain.request_log().contains(&"GET /openapi/v3".to_owned()));
    assert!(depends_on_findings(&fallback).is_empty());
}

#[tokio::test]
async fn a_recording_keeps_the_openapi_documents_and_an_audit_of_it_uses_them() {
    let snapshot = snapshot_with_openapi();
    let server = ReplayServer::start(snapshot.path()).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = record_snapshot(server.client(), out.path(), &RecordOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.openapi_documents, 1);
    let manifest = flotilla_auditor::live::read_manifest(out.path())
        .unwrap()
        .unwrap();
    for file in [
        "discovery/openapi_v3.json",
        "discovery/openapi_v3_apis_kustomize.toolkit.fluxcd.io_v1.json",
    ] {
        assert!(manifest.files.iter().any(|f| f == file), "{file} listed");
        assert!(out.path().join(file).is_file(), "{file} written");
    }
    let scope = Scope::for_audit([("kustomize.toolkit.fluxcd.io", "Kustomization")], false);
    let sealer = snapshot_sealer(out.path()).unwrap().unwrap();
    let recorded = load_snapshot_with(out.path(), Some(&scope), &sealer).unwrap();
    assert_eq!(recorded.openapi_documents, 1);
    assert_eq!(depends_on_findings(&recorded), ["/spec/dependsOn"]);
    // The replay of the recording serves them too.
    let replayed = ReplayServer::start(out.path()).await.unwrap();
    let live = read_cluster(replayed.client(), &scope).await.unwrap();
    assert_eq!(live.openapi_documents, 1);

    // A snapshot without them falls back to the built-in table and CRDs.
    let old = load_snapshot_with(&drifted(), Some(&scope), &Sealer::random()).unwrap();
    assert_eq!(old.openapi_documents, 0);
    assert!(depends_on_findings(&old).is_empty());
}
