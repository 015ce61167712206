//! Benchmark: a whole audit after rendering, on synthetic clusters of 1k, 10k
//! and 50k desired objects, from a snapshot and from a replayed API server.
//! Prints a table; asserts the findings are exactly the planted drift (a
//! bench measuring a broken audit would be worthless), never a time.
//!
//! `cargo bench -p flotilla-tests --bench audit` (release; part of `make bench`);
//! `FLOTILLA_BENCH_SIZES=1000,10000` picks other sizes.
//!
//! Targets (issue): 10k objects audited in under 1 s of CPU after rendering;
//! API requests no more than one LIST per resource type (plus discovery);
//! peak memory under 200 MB; live read and diff within 1.5x of the floor.
//!
//! The floor: the time the API server itself needs to serve the same LISTs
//! to a bare client. After flotilla's audit, a second child process issues
//! exactly the LIST pages flotilla asked (taken from the replay server's
//! log, the same types eight at a time, each type's pages in order) through
//! a plain kube-rs client that reads each body and does nothing with it.
//! flotilla's live read and diff (discovery, the OpenAPI index, the LISTs,
//! parsing, sealing and the whole diff) against that floor is the ratio.
//!
//! The cluster: 20 governed namespaces with a default-deny NetworkPolicy and
//! "apps" of five objects each (Deployment with env, ports, resources in
//! non-canonical quantities and a Secret volume; Service; ConfigMap; Secret;
//! ServiceAccount), applied by four Flux Kustomizations. Live adds what a
//! server adds (uid, managedFields, status, defaulted fields, canonical
//! quantities, Secret data as base64), what controllers make (a ReplicaSet
//! and a Pod per Deployment, `kube-root-ca.crt`, the `default`
//! ServiceAccount), and about 1% drift: changed images, ConfigMap values and
//! Secret data, deleted Services, hand-made ConfigMaps and a bare Pod.
//!
//! Peak memory (`VmHWM`) only grows, so each (size, source) runs in a fresh
//! child: this binary re-executes itself with [`CASE_ENV`] set and prints one
//! JSON line the parent collects. For the live source the parent serves the
//! snapshot with [`ReplayServer`], so the child's CPU and memory are the
//! auditor's alone.

use flotilla_auditor::audit::{LiveTarget, read_live, report_for, scope_for};
use flotilla_auditor::desired::{Desired, DesiredObject, KustomizationRef};
use flotilla_auditor::diff::DiffOptions;
use flotilla_auditor::findings::{Finding, FindingClass};
use flotilla_auditor::live::{ClusterSource, LiveSource, client_for};
use flotilla_auditor::secret::Sealer;
use flotilla_tests::replay::ReplayServer;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Desired objects per cluster.
const SIZES: [usize; 3] = [1_000, 10_000, 50_000];
/// Governed namespaces.
const NAMESPACES: usize = 20;
/// Flux Kustomizations applying the apps.
const KUSTOMIZATIONS: usize = 4;
/// Objects per app (Deployment, Service, ConfigMap, Secret, ServiceAccount).
const PER_APP: usize = 5;
/// Items per LIST page the live reader asks for (its default).
const PAGE: u64 = 500;
/// Set in a child: `<source>:<objects>:<snapshot dir>[:<kubeconfig>]`, or
/// `floor:<rounds>:<request file>:<kubeconfig>` for the floor.
const CASE_ENV: &str = "FLOTILLA_BENCH_CASE";
/// Fixture whose discovery documents name the types served.
const FIXTURE: &str = "../../shared/fixtures/baseline-cluster/snapshot-clean";

/// Seals desired Secrets and the live ones read back: one key per process,
/// as an audit has.
static SEALER: LazyLock<Sealer> = LazyLock::new(Sealer::random);

/// Drift planted in app `i`: each rule hits about one app in a hundred.
#[derive(Debug, Default, Clone, Copy)]
struct Drift {
    image: bool,
    config: bool,
    secret: bool,
    deleted_service: bool,
    extra_configmap: bool,
}

fn drift_of(app: usize) -> Drift {
    Drift {
        image: app % 100 == 7,
        config: app % 100 == 37,
        secret: app % 250 == 11,
        deleted_service: app % 200 == 53,
        extra_configmap: app % 100 == 71,
    }
}

/// Findings the audit must report: (modified, missing, unmanaged); the bare
/// Pod in the first namespace is one more unmanaged.
fn planted(apps: usize) -> (usize, usize, usize) {
    (0..apps).map(drift_of).fold((0, 0, 1), |(m, x, u), d| {
        (
            m + usize::from(d.image) + usize::from(d.config) + usize::from(d.secret),
            x + usize::from(d.deleted_service),
            u + usize::from(d.extra_configmap),
        )
    })
}

fn apps_for(objects: usize) -> usize {
    (objects - 2 * NAMESPACES) / PER_APP
}

fn namespace_of(app: usize) -> String {
    format!("team-{:02}", app % NAMESPACES)
}

fn kustomization_of(app: usize) -> KustomizationRef {
    KustomizationRef {
        namespace: "flux-system".into(),
        name: format!("apps-{}", app % KUSTOMIZATIONS),
    }
}

/// Labels Flux's kustomize-controller puts on what it applies.
fn flux_labels(app: &str, ks: &KustomizationRef) -> Value {
    json!({"app": app, "kustomize.toolkit.fluxcd.io/name": ks.name,
           "kustomize.toolkit.fluxcd.io/namespace": ks.namespace})
}

fn namespace(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": ns, "labels": {"team": ns, "kustomize.toolkit.fluxcd.io/name": "apps-0",
                                             "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}})
}

fn network_policy(ns: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "default-deny-ingress", "namespace": ns},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
}

/// The desired objects of app `i`, as Flux would apply them (Secret sealed).
fn app_objects(i: usize) -> [Value; PER_APP] {
    let (ns, name, ks) = (namespace_of(i), format!("app-{i}"), kustomization_of(i));
    let labels = flux_labels(&name, &ks);
    let meta = json!({"name": name, "namespace": ns, "labels": labels});
    let container = json!({
        "name": "app", "image": format!("registry.example/team/{name}:1.4.2"),
        "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"},
                {"name": "REGION", "value": "eastus2"}],
        "envFrom": [{"configMapRef": {"name": name}}],
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
        "resources": {"requests": {"cpu": "0.25", "memory": "256Mi"},
                      "limits": {"cpu": "1", "memory": "0.5Gi"}},
        "volumeMounts": [{"name": "secret", "mountPath": "/etc/secret", "readOnly": true}]
    });
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"serviceAccountName": name, "containers": [container],
                                       "volumes": [{"name": "secret", "secret": {"secretName": name}}]}}}});
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let body: String = (0..20).map(|l| format!("key{l} = value{l}\n")).collect();
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
        "data": {"app.properties": body, "LOG_LEVEL": "info"}});
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
        "stringData": {"password": format!("pw-{i}"), "username": name}});
    SEALER.seal(&mut secret);
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
        "automountServiceAccountToken": false});
    [deployment, service, configmap, secret, account]
}

/// What Git declares for a cluster of `objects` desired objects.
fn desired_state(objects: usize) -> Desired {
    let own = |object, kustomization| DesiredObject {
        object,
        kustomization: Some(kustomization),
    };
    let mut out = Vec::with_capacity(objects);
    for n in 0..NAMESPACES {
        let ns = namespace_of(n);
        out.push(own(namespace(&ns), kustomization_of(0)));
        out.push(own(network_policy(&ns), kustomization_of(0)));
    }
    for i in 0..apps_for(objects) {
        out.extend(app_objects(i).map(|o| own(o, kustomization_of(i))));
    }
    Desired {
        objects: out,
        ..Desired::default()
    }
}

/// The live objects of one cluster, keyed by snapshot file stem
/// (`<group|core>_<version>_<plural>`).
type LiveFiles = BTreeMap<&'static str, Vec<Value>>;

fn file_of(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "core_v1_namespaces",
        "NetworkPolicy" => "networking.k8s.io_v1_networkpolicies",
        "Deployment" => "apps_v1_deployments",
        "ReplicaSet" => "apps_v1_replicasets",
        "Pod" => "core_v1_pods",
        "Service" => "core_v1_services",
        "ConfigMap" => "core_v1_configmaps",
        "Secret" => "core_v1_secrets",
        "ServiceAccount" => "core_v1_serviceaccounts",
        "Kustomization" => "kustomize.toolkit.fluxcd.io_v1_kustomizations",
        "GitRepository" => "source.toolkit.fluxcd.io_v1_gitrepositories",
        other => panic!("no snapshot file for {other}"),
    }
}

fn push(files: &mut LiveFiles, obj: Value) {
    let kind = obj["kind"].as_str().expect("kind").to_owned();
    files.entry(file_of(&kind)).or_default().push(obj);
}

/// Live state: the desired objects as the server stores them, plus what
/// controllers made, minus and plus the planted drift.
fn live_state(objects: usize) -> LiveFiles {
    let mut files = LiveFiles::new();
    let mut uid = 0u64;
    let desired = desired_state(objects);
    for d in &desired.objects {
        uid += 1;
        let mut obj = d.object.clone();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let app: Option<usize> = name.strip_prefix("app-").and_then(|n| n.parse().ok());
        let drift = app.map(drift_of).unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
        if kind == "Service" && drift.deleted_service {
            continue;
        }
        add_server_fields(&mut obj, uid);
        match kind.as_str() {
            "Deployment" => {
                default_deployment(&mut obj, drift.image);
                let (rs, pod) = controller_made(&obj, uid);
                push(&mut files, rs);
                push(&mut files, pod);
            }
            "Service" => default_service(&mut obj, uid),
            "Namespace" => {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            "ConfigMap" if drift.config => {
                obj["data"]["LOG_LEVEL"] = json!("debug");
                add_manager(&mut obj, "kubectl-edit", "Update");
            }
            "Secret" => unseal_as_server_stores(&mut obj, app.unwrap_or(0), drift.secret),
            _ => {}
        }
        push(&mut files, obj);
        if let Some(i) = app.filter(|_| kind == "ConfigMap" && drift.extra_configmap) {
            push(&mut files, hand_made_configmap(&namespace_of(i), i));
        }
    }
    for n in 0..NAMESPACES {
        push_namespace_defaults(&mut files, &namespace_of(n));
    }
    push(&mut files, bare_pod(&namespace_of(0)));
    push_flux_objects(&mut files);
    files
}

fn managed_entry(manager: &str, operation: &str) -> Value {
    json!({"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}},
           "manager": manager, "operation": operation, "time": "2026-11-20T09:00:00Z"})
}

/// Record another field manager, as the server does on each write.
fn add_manager(obj: &mut Value, manager: &str, operation: &str) {
    if let Some(entries) = obj["metadata"]["managedFields"].as_array_mut() {
        entries.push(managed_entry(manager, operation));
    }
}

fn add_server_fields(obj: &mut Value, uid: u64) {
    let meta = &mut obj["metadata"];
    meta["uid"] = json!(format!("00000000-0000-4000-8000-{uid:012}"));
    meta["resourceVersion"] = json!((1000 + uid).to_string());
    meta["creationTimestamp"] = json!("2026-11-20T09:00:00Z");
    meta["managedFields"] = json!([managed_entry("kustomize-controller", "Apply")]);
}

/// Fields the API server defaults, canonical quantities, status, and the
/// deployment controller's status manager.
fn default_deployment(obj: &mut Value, drifted_image: bool) {
    obj["metadata"]["generation"] = json!(1);
    obj["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    add_manager(obj, "kube-controller-manager", "Update");
    let spec = &mut obj["spec"];
    spec["progressDeadlineSeconds"] = json!(600);
    spec["revisionHistoryLimit"] = json!(10);
    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let pod = &mut spec["template"]["spec"];
    for (k, v) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
        ("terminationGracePeriodSeconds", json!(30)),
        ("serviceAccount", pod["serviceAccountName"].clone()),
    ] {
        pod[k] = v;
    }
    pod["volumes"][0]["secret"]["defaultMode"] = json!(420);
    let c = &mut pod["containers"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["terminationMessagePolicy"] = json!("File");
    for port in c["ports"].as_array_mut().into_iter().flatten() {
        port["protocol"] = json!("TCP");
    }
    c["resources"] = json!({"requests": {"cpu": "250m", "memory": "256Mi"},
                            "limits": {"cpu": "1", "memory": "512Mi"}});
    if drifted_image {
        let image = c["image"]
            .as_str()
            .unwrap_or_default()
            .replace(":1.4.2", ":1.4.3-hotfix");
        c["image"] = json!(image);
        add_manager(obj, "kubectl-set", "Update");
    }
    obj["status"] = json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2,
        "availableReplicas": 2, "updatedReplicas": 2,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]});
}

fn default_service(obj: &mut Value, uid: u64) {
    let ip = format!("10.0.{}.{}", (uid / 250) % 250, uid % 250);
    let spec = &mut obj["spec"];
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    spec["type"] = json!("ClusterIP");
    spec["sessionAffinity"] = json!("None");
    spec["ipFamilies"] = json!(["IPv4"]);
    spec["ipFamilyPolicy"] = json!("SingleStack");
    spec["internalTrafficPolicy"] = json!("Cluster");
    spec["ports"][0]["protocol"] = json!("TCP");
    obj["status"] = json!({"loadBalancer": {}});
}

/// Secret data as `kubectl get -o json` shows it (base64); `changed` edits one
/// value by hand.
fn unseal_as_server_stores(obj: &mut Value, app: usize, changed: bool) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let password = if changed {
        format!("rotated-by-hand-{app}")
    } else {
        format!("pw-{app}")
    };
    let name = format!("app-{app}");
    obj["data"] = json!({"password": b64(&password), "username": b64(&name)});
}

/// The ReplicaSet and one Pod the Deployment's controllers made.
fn controller_made(deployment: &Value, uid: u64) -> (Value, Value) {
    let meta = &deployment["metadata"];
    let (ns, name) = (
        &meta["namespace"],
        meta["name"].as_str().unwrap_or_default(),
    );
    let rs_name = format!("{name}-{:010x}", uid * 7919);
    let owner = |kind: &str, owner: &str| {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": true,
                "blockOwnerDeletion": true, "uid": format!("owner-{uid}")}])
    };
    let template = &deployment["spec"]["template"];
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs_name, "namespace": ns, "ownerReferences": owner("Deployment", name),
                     "managedFields": [managed_entry("kube-controller-manager", "Update")]},
        "spec": {"replicas": 2, "selector": deployment["spec"]["selector"], "template": template},
        "status": {"replicas": 2, "readyReplicas": 2}});
    let mut pod_spec = template["spec"].clone();
    pod_spec["nodeName"] = json!(format!("aks-nodepool1-{}", uid % 7));
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{rs_name}-x{uid}"), "namespace": ns,
                     "labels": template["metadata"]["labels"], "ownerReferences": owner("ReplicaSet", &rs_name),
                     "managedFields": [managed_entry("kube-controller-manager", "Update"),
                                       managed_entry("kubelet", "Update")]},
        "spec": pod_spec,
        "status": {"phase": "Running", "podIP": "10.244.0.10", "qosClass": "Burstable"}});
    (rs, pod)
}

/// Made in every namespace by the control plane: never findings.
fn push_namespace_defaults(files: &mut LiveFiles, ns: &str) {
    push(
        files,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                     "managedFields": [managed_entry("kube-controller-manager", "Update")]},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}),
    );
    push(
        files,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": ns}}),
    );
}

fn hand_made_configmap(ns: &str, app: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("debug-{app}"), "namespace": ns,
                        "managedFields": [managed_entry("kubectl-create", "Update")]},
           "data": {"note": "temporary"}})
}

fn bare_pod(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "debug-shell", "namespace": ns,
                        "managedFields": [managed_entry("kubectl-run", "Update")]},
           "spec": {"containers": [{"name": "sh", "image": "busybox:1.36"}]},
           "status": {"phase": "Running"}})
}

/// Flux's own objects, healthy: Flux kinds are always read.
fn push_flux_objects(files: &mut LiveFiles) {
    let ready = json!([{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]);
    push(
        files,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": "ssh://git@example.com/fleet.git"},
        "status": {"conditions": ready}}),
    );
    for k in 0..KUSTOMIZATIONS {
        push(
            files,
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": format!("apps-{k}"), "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./apps", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": {"conditions": ready}}),
        );
    }
}

/// Write a snapshot directory: the fixture's discovery documents, the live
/// files, and an empty List for every other type the fixture recorded (so
/// both readers see every type served, as on a real cluster).
fn write_snapshot(dir: &Path, files: &LiveFiles) -> HashMap<String, u64> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let discovery = dir.join("discovery");
    let objects = dir.join("objects");
    std::fs::create_dir_all(&discovery).expect("discovery dir");
    std::fs::create_dir_all(&objects).expect("objects dir");
    for entry in std::fs::read_dir(fixture.join("discovery")).expect("fixture discovery") {
        let path = entry.expect("fixture entry").path();
        std::fs::copy(&path, discovery.join(path.file_name().expect("name"))).expect("copy");
    }
    let mut items_by_plural = HashMap::new();
    for entry in std::fs::read_dir(fixture.join("objects")).expect("fixture objects") {
        let name = entry.expect("fixture entry").file_name();
        let stem = name.to_string_lossy().trim_end_matches(".json").to_owned();
        let items = files.get(stem.as_str()).map_or(&[][..], Vec::as_slice);
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items,
                          "metadata": {"resourceVersion": ""}});
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(objects.join(&name)).expect("create"));
        serde_json::to_writer_pretty(&mut out, &list).expect("write list");
        out.flush().expect("flush");
        let plural = stem.rsplit('_').next().unwrap_or_default().to_owned();
        items_by_plural.insert(plural, items.len() as u64);
    }
    items_by_plural
}

/// What a child measured, one JSON line on stdout.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Measured {
    /// Audits run (the best one is reported): the server saw each.
    rounds: u64,
    wall_ms: f64,
    cpu_ms: f64,
    requests: u64,
    lists: u64,
    /// Distinct `(group, kind)` read: [`lists`](Self::lists) counts List
    /// files for a snapshot, whatever the scope.
    types: usize,
    live_objects: usize,
    findings: usize,
    findings_digest: u64,
    /// Resident memory once desired state is built, before the audit.
    desired_mb: f64,
    /// Peak once live state is read, before the diff.
    read_mb: f64,
    peak_mb: f64,
    /// The fastest round's wall time, and how much of it was the read (the
    /// rest is the diff): compared with the floor's fastest round.
    best_wall_ms: f64,
    best_read_ms: f64,
}

/// Where a child reads live state from.
enum Source {
    Snapshot(LiveTarget),
    Cluster(ClusterSource),
}

/// In a child: audit one cluster from one source, best of `rounds`.
fn run_case(case: &str) {
    let mut parts = case.splitn(4, ':');
    let (source, objects, dir) = (
        parts.next().expect("source"),
        parts.next().and_then(|n| n.parse().ok()).expect("objects"),
        parts.next().expect("snapshot dir"),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The live source's client is made once, before any timing, and kept
    // across rounds (its connections too), as the floor's is and as
    // `flotilla serve` keeps its own: what is timed is the read and the diff.
    let source = match source {
        "snapshot" => Source::Snapshot(LiveTarget::Snapshot(dir.into())),
        _ => {
            let kubeconfig = Path::new(parts.next().expect("kubeconfig"));
            let client = rt
                .block_on(client_for(None, Some(kubeconfig)))
                .expect("client");
            Source::Cluster(ClusterSource::new(client, SEALER.clone()))
        }
    };
    let desired = desired_state(objects);
    let desired_mb = memory_mb("VmRSS:");
    let rounds: u64 = if objects > 10_000 { 1 } else { 3 };
    let mut best: Option<Measured> = None;
    let mut fastest: Option<(f64, f64)> = None;
    // The first audit's peak: later rounds reuse what it freed.
    let (mut read_peak_mb, mut peak_mb) = (0.0, 0.0);
    for round in 0..rounds {
        let (start, cpu_start) = (Instant::now(), process_cpu());
        let scope = scope_for(&desired);
        let live = match &source {
            Source::Snapshot(target) => rt.block_on(read_live(target, &scope, &SEALER)),
            Source::Cluster(cluster) => rt.block_on(cluster.read(&scope)),
        }
        .expect("live state reads");
        let read_ms = ms(start.elapsed());
        let read_mb = memory_mb("VmHWM:");
        let report = report_for("bench", &desired, &live, &DiffOptions::default());
        let (wall, cpu) = (start.elapsed(), process_cpu().saturating_sub(cpu_start));
        assert!(
            report.errors.is_empty(),
            "audit errors: {:?}",
            report.errors
        );
        check_planted(&report.findings, apps_for(objects));
        let m = Measured {
            rounds,
            wall_ms: ms(wall),
            cpu_ms: ms(cpu),
            requests: live.requests,
            lists: live.lists,
            types: live.listed.len(),
            live_objects: live.objects.len(),
            findings: report.findings.len(),
            findings_digest: digest(&report.findings),
            desired_mb: 0.0,
            read_mb,
            peak_mb: 0.0,
            best_wall_ms: ms(wall),
            best_read_ms: read_ms,
        };
        if fastest.is_none_or(|(w, _)| m.wall_ms < w) {
            fastest = Some((m.wall_ms, read_ms));
        }
        if round == 0 {
            (read_peak_mb, peak_mb) = (read_mb, memory_mb("VmHWM:"));
        }
        if best.as_ref().is_none_or(|b| m.cpu_ms < b.cpu_ms) {
            best = Some(m);
        }
    }
    let mut best = best.expect("one round");
    (best.best_wall_ms, best.best_read_ms) = fastest.expect("one round");
    best.desired_mb = desired_mb;
    best.peak_mb = peak_mb;
    best.read_mb = read_peak_mb;
    println!("{}", serde_json::to_string(&best).expect("json"));
}

/// The findings are exactly the planted drift, class by class.
fn check_planted(findings: &[Finding], apps: usize) {
    let count = |class| findings.iter().filter(|f| f.class == class).count();
    let got = (
        count(FindingClass::Modified),
        count(FindingClass::Missing),
        count(FindingClass::Unmanaged),
    );
    assert_eq!(
        got,
        planted(apps),
        "(modified, missing, unmanaged) found vs planted"
    );
    assert_eq!(
        findings.len(),
        got.0 + got.1 + got.2,
        "no other findings: {findings:#?}"
    );
    let modified_fields: usize = findings.iter().map(|f| f.paths.len()).sum();
    assert_eq!(
        modified_fields, got.0,
        "one changed field per modified object: {findings:#?}"
    );
}

/// Which objects were found and how, to compare the two sources.
fn digest(findings: &[Finding]) -> u64 {
    let mut h = DefaultHasher::new();
    for f in findings {
        (f.class, &f.kind, &f.namespace, &f.name).hash(&mut h);
        f.paths.iter().for_each(|p| p.path.hash(&mut h));
    }
    h.finish()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User + system CPU of this process, exited threads included (Linux
/// `/proc/self/stat`, 100 ticks/s): the machine is shared, so wall time
/// alone would measure the neighbours.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 0, utime 11, stime 12.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A memory figure of this process (`VmHWM:` peak resident, `VmRSS:` now), in MB.
fn memory_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn kubeconfig(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: replay\nclusters:\n- name: replay\n  cluster: {{server: \"{url}\"}}\nusers:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: replay\n  context: {{cluster: replay, user: nobody}}\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// Run one case in a fresh child process and parse its line.
fn spawn_case(case: &str) -> Measured {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(CASE_ENV, case)
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "case {case} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("child printed a line");
    serde_json::from_str(line).expect("child line is json")
}

/// Requests the replay server saw: (discovery, list pages, distinct list paths).
fn server_requests(log: &[String]) -> (u64, u64, BTreeMap<String, u64>) {
    let mut pages = BTreeMap::new();
    let mut discovery = 0;
    for line in log {
        let target = line.trim_start_matches("GET ");
        match target.split_once('?') {
            Some((path, query)) if query.contains("limit=") => {
                *pages.entry(path.to_owned()).or_insert(0) += 1;
            }
            _ => discovery += 1,
        }
    }
    let total = pages.values().sum();
    (discovery, total, pages)
}

/// The live case: serve the snapshot, audit it from a child, check that every
/// type was read with one paged LIST (pages of [`PAGE`] items).
fn live_case(
    rt: &tokio::runtime::Runtime,
    objects: usize,
    dir: &Path,
    items: &HashMap<String, u64>,
) -> Row {
    let server = rt
        .block_on(ReplayServer::start(dir))
        .expect("replay server");
    let config = kubeconfig(dir, &server.url);
    let case = format!("live:{objects}:{}:{}", dir.display(), config.display());
    let measured = rt.block_on(async {
        tokio::task::spawn_blocking(move || spawn_case(&case))
            .await
            .expect("join")
    });
    let rounds = measured.rounds;
    let (discovery, list_requests, pages) = server_requests(&server.request_log());
    assert_eq!(
        measured.requests * rounds,
        server.requests(),
        "the reader counts every request"
    );
    assert_eq!(server.requests(), discovery + list_requests);
    assert_eq!(
        pages.len() as u64,
        measured.lists,
        "one LIST per type listed"
    );
    assert_eq!(measured.types as u64, measured.lists, "a LIST per type");
    for (path, n) in &pages {
        let plural = path.rsplit('/').next().unwrap_or_default();
        let items = items.get(plural).copied().unwrap_or(0);
        let expected = items.div_ceil(PAGE).max(1) * rounds;
        assert_eq!(*n, expected, "{path}: one paged LIST, {PAGE} items a page");
    }
    let discovery = discovery / rounds;
    let floor = floor_case(&server, dir, &config, rounds);
    server.stop();
    Row {
        objects,
        source: "replayed live",
        measured,
        discovery,
        floor_ms: Some(floor.wall_ms),
    }
}

struct Row {
    objects: usize,
    source: &'static str,
    measured: Measured,
    discovery: u64,
    /// The floor's best wall time (live rows only).
    floor_ms: Option<f64>,
}

/// What the floor child measured.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Floor {
    wall_ms: f64,
    requests: u64,
    bytes: u64,
}

/// In a child: issue the LIST pages of `file` (one `path?query` a line)
/// with a bare client, best wall time of `rounds`.
fn run_floor(case: &str) {
    let mut parts = case.splitn(4, ':');
    let _ = parts.next();
    let rounds: u64 = parts.next().and_then(|n| n.parse().ok()).expect("rounds");
    let file = parts.next().expect("request file");
    let kubeconfig = parts.next().expect("kubeconfig");
    let text = std::fs::read_to_string(file).expect("request file");
    // Pages grouped by list path, in the order flotilla asked them.
    let mut by_path: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let path = line.split('?').next().unwrap_or_default().to_owned();
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, pages)) => pages.push(line.to_owned()),
            None => by_path.push((path, vec![line.to_owned()])),
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("config");
        kube::Client::try_from(config).expect("client")
    });
    let mut best: Option<Floor> = None;
    for _ in 0..rounds {
        let start = Instant::now();
        let (requests, bytes) = rt.block_on(async {
            use futures::StreamExt;
            let types = by_path.iter().map(|(_, pages)| {
                let client = client.clone();
                async move {
                    let (mut n, mut bytes) = (0u64, 0u64);
                    for page in pages {
                        let request = http::Request::get(page.as_str())
                            .body(Vec::new())
                            .expect("request");
                        let body = client.request_text(request).await.expect("page");
                        n += 1;
                        bytes += body.len() as u64;
                    }
                    (n, bytes)
                }
            });
            futures::stream::iter(types)
                .buffer_unordered(8)
                .fold((0, 0), |(n, b), (n2, b2)| async move { (n + n2, b + b2) })
                .await
        });
        let m = Floor {
            wall_ms: ms(start.elapsed()),
            requests,
            bytes,
        };
        if best.as_ref().is_none_or(|b| m.wall_ms < b.wall_ms) {
            best = Some(m);
        }
    }
    println!(
        "{}",
        serde_json::to_string(&best.expect("one round")).expect("json")
    );
}

/// The floor for a live case: the distinct LIST pages the server answered
/// (one round's worth), replayed by a bare client in a fresh child.
fn floor_case(server: &ReplayServer, dir: &Path, config: &Path, rounds: u64) -> Floor {
    let mut seen = std::collections::BTreeSet::new();
    let pages: Vec<String> = server
        .request_log()
        .into_iter()
        .filter_map(|l| l.strip_prefix("GET ").map(str::to_owned))
        .filter(|l| l.contains("limit="))
        .filter(|l| seen.insert(l.clone()))
        .collect();
    let file = dir.join("floor-requests.txt");
    std::fs::write(&file, pages.join("\n")).expect("write requests");
    let case = format!("floor:{rounds}:{}:{}", file.display(), config.display());
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(CASE_ENV, case)
        .output()
        .expect("floor child runs");
    assert!(
        out.status.success(),
        "floor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let floor: Floor =
        serde_json::from_str(stdout.lines().last().expect("a line")).expect("floor json");
    assert_eq!(floor.requests, pages.len() as u64, "every page replayed");
    floor
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>7} | {:<13} | {:>8} | {:>7} | {:>8} | {:>9} | {:>12} | {:>8} | {:>7} | {:>7} | {:>10}",
        "objects",
        "source",
        "live obj",
        "wall ms",
        "cpu ms",
        "requests",
        "types listed",
        "findings",
        "peak MB",
        "read MB",
        "desired MB"
    );
    for r in rows {
        let m = &r.measured;
        let requests = if r.source == "snapshot" {
            "-".to_owned()
        } else {
            format!("{} ({}d)", m.requests, r.discovery)
        };
        println!(
            "{:>7} | {:<13} | {:>8} | {:>7.0} | {:>8.0} | {:>9} | {:>12} | {:>8} | {:>7.1} | {:>7.1} | {:>10.1}",
            r.objects,
            r.source,
            m.live_objects,
            m.wall_ms,
            m.cpu_ms,
            requests,
            m.types,
            m.findings,
            m.peak_mb,
            m.read_mb,
            m.desired_mb
        );
    }
}

/// The targets, judged on the rows measured: CPU at 10k objects,
/// requests and peak memory at every size.
fn print_targets(rows: &[Row]) {
    let verdict = |ok: bool| if ok { "holds" } else { "MISSED" };
    let cpu_10k = rows
        .iter()
        .filter(|r| r.objects == 10_000)
        .map(|r| r.measured.cpu_ms)
        .reduce(f64::max);
    match cpu_10k {
        Some(cpu) => println!(
            "target 10k objects audited in < 1 s CPU: {} ({cpu:.0} ms at most)",
            verdict(cpu < 1000.0)
        ),
        None => println!("target 10k objects audited in < 1 s CPU: not measured"),
    }
    for r in rows.iter().filter(|r| r.source != "snapshot") {
        let m = &r.measured;
        let extra = m.requests.saturating_sub(m.lists + r.discovery);
        println!(
            "target requests <= types listed + discovery at {}: {} ({} requests = {} discovery + {} LISTs \
             + {extra} further pages of {PAGE} items; each type read with one paged LIST)",
            r.objects,
            verdict(extra == 0),
            m.requests,
            r.discovery,
            m.lists
        );
    }
    for r in rows.iter().filter(|r| r.floor_ms.is_some()) {
        let floor = r.floor_ms.unwrap_or(f64::NAN);
        let m = &r.measured;
        let ratio = m.best_wall_ms / floor;
        println!(
            "target live read and diff <= 1.5x the floor at {}: {} ({:.0} ms = {:.0} ms read + {:.0} ms diff, \
             vs {floor:.0} ms for the same LISTs to a bare client; fastest rounds: {ratio:.2}x)",
            r.objects,
            verdict(ratio <= 1.5),
            m.best_wall_ms,
            m.best_read_ms,
            m.best_wall_ms - m.best_read_ms
        );
    }
    for objects in rows
        .iter()
        .map(|r| r.objects)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let peak = rows
            .iter()
            .filter(|r| r.objects == objects)
            .map(|r| r.measured.peak_mb)
            .fold(0.0, f64::max);
        println!(
            "target peak memory < 200 MB at {objects}: {} ({peak:.0} MB at most)",
            verdict(peak < 200.0)
        );
    }
}

/// Size of the snapshot's List files, in MB.
fn json_mb(objects: &Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(objects)
        .expect("objects dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    bytes as f64 / 1_048_576.0
}

/// [`SIZES`], or the comma-separated sizes in `FLOTILLA_BENCH_SIZES` (at
/// least 40: the namespaces and their policies).
fn sizes() -> Vec<usize> {
    std::env::var("FLOTILLA_BENCH_SIZES").map_or_else(
        |_| SIZES.to_vec(),
        |s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("a size"))
                .collect()
        },
    )
}

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        if case.starts_with("floor:") {
            run_floor(&case);
        } else {
            run_case(&case);
        }
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    for objects in sizes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = write_snapshot(dir.path(), &live_state(objects));
        let case = format!("snapshot:{objects}:{}", dir.path().display());
        let snapshot = spawn_case(&case);
        let live = live_case(&rt, objects, dir.path(), &items);
        assert_eq!(
            snapshot.findings_digest, live.measured.findings_digest,
            "{objects}: the same findings from snapshot and live"
        );
        rows.push(Row {
            objects,
            source: "snapshot",
            measured: snapshot,
            discovery: 0,
            floor_ms: None,
        });
        rows.push(live);
        let (modified, missing, unmanaged) = planted(apps_for(objects));
        println!(
            "{objects}: {:.0} MB of List JSON; planted {modified} modified, {missing} missing, \
             {unmanaged} unmanaged; all found from both sources",
            json_mb(&dir.path().join("objects"))
        );
    }
    print_table(&rows);
    print_targets(&rows);
}
