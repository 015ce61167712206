//! The bootstrap renderer end to end: render fleets, write the trees to
//! disk, build every Flux Kustomization path with the real kustomize
//! (`kubectl kustomize`), and check what Flux would apply.
//!
//! Two fleets are rendered: the in-code example (2 aks + 1 aks-hybrid,
//! Gatekeeper and Azure Policy) and the bundled `examples/fleet.yaml`
//! through `flotilla_fleet::load`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use flotilla_auditor::schema::CrdSchemas;
use flotilla_bootstrap::Tree;
use flotilla_bootstrap::header;
use flotilla_bootstrap::render::example::example_fleet;
use flotilla_bootstrap::render::{render, render_cluster};
use flotilla_fleet::{ClusterKind, Fleet, PolicyEngine};
use flotilla_serve::config::{ClusterTarget, GitAuthRef, ServeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");

/// One cluster after `kustomize build` of each of its Flux Kustomizations.
struct BuiltCluster {
    name: String,
    kind: ClusterKind,
    engine: PolicyEngine,
    /// Flux Kustomization name → its spec (from infrastructure.yaml and gotk-sync.yaml).
    kustomizations: BTreeMap<String, Value>,
    /// Flux Kustomization name → the objects its path builds to.
    objects: BTreeMap<String, Vec<Value>>,
}

impl BuiltCluster {
    fn all_objects(&self) -> impl Iterator<Item = &Value> {
        self.objects.values().flatten()
    }

    fn find(&self, kind: &str, name: &str) -> &Value {
        self.all_objects()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.name))
    }
}

fn example_yaml_fleet() -> Fleet {
    let path = Path::new(WORKSPACE).join("examples/fleet.yaml");
    flotilla_fleet::load(&path).unwrap_or_else(|e| panic!("examples/fleet.yaml: {e}"))
}

/// Both fleets rendered, written and built once for all tests (kustomize
/// runs are the slow part).
fn built() -> &'static Vec<BuiltCluster> {
    static BUILT: OnceLock<Vec<BuiltCluster>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut out = build_fleet(&example_fleet());
        out.extend(build_fleet(&example_yaml_fleet()));
        out
    })
}

fn build_fleet(fleet: &Fleet) -> Vec<BuiltCluster> {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(&render(fleet), dir.path());
    fleet
        .clusters
        .iter()
        .map(|c| {
            let kustomizations = flux_kustomizations(dir.path(), &c.name);
            let objects = kustomizations
                .iter()
                .map(|(name, k)| {
                    let path = k["spec"]["path"].as_str().expect("kustomization path");
                    (name.clone(), kustomize_build(&dir.path().join(path)))
                })
                .collect();
            BuiltCluster {
                name: c.name.clone(),
                kind: c.kind,
                engine: c.policies.engine,
                kustomizations,
                objects,
            }
        })
        .collect()
}

fn write_tree(tree: &Tree, root: &Path) {
    for (path, contents) in tree.iter() {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, contents).expect("write");
    }
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("valid yaml");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The Flux Kustomizations of a cluster: its root (`flux-system`) and the
/// components in `infrastructure.yaml`.
fn flux_kustomizations(root: &Path, cluster: &str) -> BTreeMap<String, Value> {
    let dir = root.join("clusters").join(cluster);
    let mut docs = Vec::new();
    for file in ["flux-system/gotk-sync.yaml", "infrastructure.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read flux file");
        docs.extend(yaml_docs(&text));
    }
    docs.into_iter()
        .filter(|d| d["kind"] == "Kustomization")
        .map(|d| (d["metadata"]["name"].as_str().unwrap().to_owned(), d))
        .collect()
}

/// `kubectl kustomize DIR`: the real kustomize, as Flux runs it.
fn kustomize_build(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kustomize build {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_docs(&String::from_utf8(out.stdout).expect("utf-8"))
}

#[test]
fn every_flux_kustomization_path_builds_with_kustomize() {
    let built = built();
    assert_eq!(built.len(), 3 + example_yaml_fleet().clusters.len());
    for c in built {
        for (name, objects) in &c.objects {
            assert!(!objects.is_empty(), "{}: {name} builds to nothing", c.name);
        }
        let root = &c.objects["flux-system"];
        let kinds: BTreeSet<_> = root.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["GitRepository", "Kustomization"]),
            "{}",
            c.name
        );
        for required in ["namespaces", "policies"] {
            assert!(
                c.objects.contains_key(required),
                "{}: no {required}",
                c.name
            );
        }
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back == obj {
        Ok(())
    } else {
        Err(format!(
            "fields lost in a typed round trip:\n  written: {obj}\n  typed:   {back}"
        ))
    }
}

/// Core kinds by a typed round trip through k8s-openapi: a misspelt or
/// unknown field does not survive it.
fn check_core(obj: &Value) -> Option<Result<(), String>> {
    use k8s_openapi::api::{apps, autoscaling, core, networking, policy, rbac};
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    Some(match (api_version, kind) {
        ("v1", "Namespace") => round_trip::<core::v1::Namespace>(obj),
        ("v1", "ResourceQuota") => round_trip::<core::v1::ResourceQuota>(obj),
        ("v1", "LimitRange") => round_trip::<core::v1::LimitRange>(obj),
        ("v1", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>(obj),
        ("v1", "ConfigMap") => round_trip::<core::v1::ConfigMap>(obj),
        ("v1", "Service") => round_trip::<core::v1::Service>(obj),
        ("apps/v1", "Deployment") => round_trip::<apps::v1::Deployment>(obj),
        ("apps/v1", "DaemonSet") => round_trip::<apps::v1::DaemonSet>(obj),
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            round_trip::<networking::v1::NetworkPolicy>(obj)
        }
        ("networking.k8s.io/v1", "IngressClass") => round_trip::<networking::v1::IngressClass>(obj),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<policy::v1::PodDisruptionBudget>(obj),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            round_trip::<autoscaling::v2::HorizontalPodAutoscaler>(obj)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            round_trip::<rbac::v1::ClusterRoleBinding>(obj)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<rbac::v1::RoleBinding>(obj),
        _ => return None,
    })
}

fn crd_schemas() -> &'static CrdSchemas {
    static SCHEMAS: OnceLock<CrdSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| CrdSchemas::load(Path::new(SHARED).join("crds")).expect("load crds"))
}

/// Gatekeeper constraints are dynamic kinds: validate each against a
/// schema built from its ConstraintTemplate (declared kind, parameter
/// schema), the way Gatekeeper's generated CRD would.
fn constraint_schemas(templates: &[&Value]) -> CrdSchemas {
    let mut schemas = CrdSchemas::new();
    for t in templates {
        let crd = &t["spec"]["crd"]["spec"];
        let kind = crd["names"]["kind"].as_str().expect("template kind");
        let parameters = crd["validation"]["openAPIV3Schema"].clone();
        let schema = json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "enforcementAction": {"type": "string", "enum": ["deny", "dryrun", "warn"]},
                "match": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "parameters": parameters,
            }}},
        });
        let schema = serde_json::from_value(schema).expect("a schema k8s-openapi reads");
        schemas.add_schema("constraints.gatekeeper.sh/v1beta1", kind, &schema);
    }
    schemas
}

#[test]
fn every_built_object_is_valid() {
    for c in built() {
        let templates: Vec<&Value> = c
            .all_objects()
            .filter(|o| o["kind"] == "ConstraintTemplate")
            .collect();
        let constraints = constraint_schemas(&templates);
        let mut checked = 0;
        for obj in c.all_objects() {
            let api_version = obj["apiVersion"].as_str().unwrap_or("");
            let kind = obj["kind"].as_str().unwrap_or("");
            let what = format!("{}: {kind} {}", c.name, obj["metadata"]["name"]);
            let result = if let Some(r) = check_core(obj) {
                r
            } else if api_version.starts_with("constraints.gatekeeper.sh/") {
                constraints.validate(obj).map_err(|e| format!("{e:?}"))
            } else if crd_schemas().contains(api_version, kind) {
                crd_schemas().validate(obj).map_err(|e| format!("{e:?}"))
            } else {
                Err("kind is neither a known core kind nor a loaded CRD".to_owned())
            };
            if let Err(e) = result {
                panic!("{what}: {e}");
            }
            checked += 1;
        }
        assert!(checked > 20, "{}: only {checked} objects", c.name);
    }
}

#[test]
fn a_misspelt_field_fails_the_validity_checks() {
    let c = &built()[0];
    let mut deployment = c.find("Deployment", "traefik-ingress-controller").clone();
    deployment["spec"]["template"]["spec"]["nodeSelecter"] = json!({});
    assert!(check_core(&deployment).unwrap().is_err());
    let mut kustomization = c.kustomizations["ingress"].clone();
    kustomization["spec"]["dependOn"] = json!([]);
    assert!(crd_schemas().validate(&kustomization).is_err());
}

/// `(groupVersion, kind)` → namespaced, from the recorded discovery of a
/// real API server with the same CRDs installed.
fn scopes() -> BTreeMap<(String, String), bool> {
    let dir = Path::new(SHARED).join("fixtures/baseline-cluster/snapshot-clean/discovery");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("discovery dir") {
        let path: PathBuf = entry.expect("entry").path();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let (Some(gv), Some(resources)) =
            (doc["groupVersion"].as_str(), doc["resources"].as_array())
        else {
            continue;
        };
        for r in resources
            .iter()
            .filter(|r| !r["name"].as_str().unwrap().contains('/'))
        {
            let key = (gv.to_owned(), r["kind"].as_str().unwrap().to_owned());
            out.insert(key, r["namespaced"].as_bool().unwrap());
        }
    }
    out
}

#[test]
fn cluster_scoped_objects_carry_no_namespace_and_namespaced_ones_do() {
    let scopes = scopes();
    let mut cluster_scoped = 0;
    for c in built() {
        for obj in c.all_objects() {
            let gv = obj["apiVersion"].as_str().unwrap().to_owned();
            let kind = obj["kind"].as_str().unwrap().to_owned();
            // Gatekeeper constraint kinds are created at run time and are
            // cluster-scoped by design.
            let namespaced = if gv.starts_with("constraints.gatekeeper.sh/") {
                false
            } else {
                *scopes
                    .get(&(gv.clone(), kind.clone()))
                    .unwrap_or_else(|| panic!("{gv} {kind} is not in discovery"))
            };
            let ns = &obj["metadata"]["namespace"];
            let what = format!("{}: {kind} {}", c.name, obj["metadata"]["name"]);
            if namespaced {
                assert!(ns.is_string(), "{what} has no namespace");
            } else {
                assert!(
                    ns.is_null(),
                    "{what} is cluster-scoped but has namespace {ns}"
                );
                cluster_scoped += 1;
            }
        }
    }
    assert!(cluster_scoped > 0);
}

#[test]
fn rendering_is_deterministic_and_clusters_compose() {
    let fleet = example_fleet();
    let first = render(&fleet);
    assert_eq!(first, render(&fleet));
    for c in &fleet.clusters {
        let part = render_cluster(c);
        assert!(!part.is_empty());
        for (path, contents) in part.iter() {
            assert!(path.starts_with(&format!("clusters/{}/", c.name)), "{path}");
            assert_eq!(first.get(path), Some(contents), "{path}");
        }
    }
    // Changing one cluster changes only that cluster's folder.
    let mut changed = fleet.clone();
    changed.clusters[1].kured.start_time = "22:00".to_owned();
    let second = render(&changed);
    let differing: Vec<&str> = first
        .iter()
        .filter(|(p, c)| second.get(p) != Some(*c))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        differing,
        vec!["clusters/aks-wus2-01/kured/daemonset-patch.yaml"]
    );
}

#[test]
fn every_file_carries_the_header_and_every_folder_a_kustomization() {
    let tree = render(&example_fleet());
    let mut dirs = BTreeSet::new();
    for (path, contents) in tree.iter() {
        assert!(
            header::is_generated(path, contents.as_bytes()),
            "{path} has no header"
        );
        if path.ends_with(".json") {
            let v: Value = serde_json::from_str(contents).expect("valid json");
            assert!(v["$comment"].is_string(), "{path}");
        }
        if path.ends_with(".yaml") {
            dirs.insert(path.rsplit_once('/').unwrap().0.to_owned());
        }
    }
    for dir in dirs {
        assert!(
            tree.get(&format!("{dir}/kustomization.yaml")).is_some(),
            "{dir} has no kustomization.yaml"
        );
    }
}

fn annotation_keys(obj: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    for meta in [&obj["metadata"], &obj["spec"]["template"]["metadata"]] {
        for field in ["annotations", "labels"] {
            if let Some(m) = meta[field].as_object() {
                keys.extend(m.keys().cloned());
            }
        }
    }
    keys
}

#[test]
fn hybrid_clusters_have_no_azure_annotations_or_identity() {
    let mut seen = BTreeSet::new();
    for c in built() {
        seen.insert(c.kind);
        let azure_keys: Vec<String> = c
            .all_objects()
            .flat_map(annotation_keys)
            .filter(|k| k.contains("azure"))
            .collect();
        let spc = c.find("SecretProviderClass", "ingress-tls");
        let params = &spc["spec"]["parameters"];
        let volumes = c.find("Deployment", "traefik-ingress-controller")["spec"]["template"]
            ["spec"]["volumes"]
            .to_string();
        let service = c.find("Service", "traefik-ingress-service");
        match c.kind {
            ClusterKind::AksHybrid => {
                assert_eq!(azure_keys, Vec::<String>::new(), "{}", c.name);
                assert!(params.get("clientID").is_none(), "{}", c.name);
                assert!(volumes.contains("nodePublishSecretRef"), "{}", c.name);
            }
            ClusterKind::Aks => {
                assert!(
                    azure_keys
                        .iter()
                        .any(|k| k.contains("azure-load-balancer-internal"))
                );
                assert!(azure_keys.contains(&"azure.workload.identity/client-id".to_owned()));
                assert!(params["clientID"].is_string(), "{}", c.name);
                assert!(!volumes.contains("nodePublishSecretRef"), "{}", c.name);
                assert!(service["spec"].get("loadBalancerIP").is_none());
            }
        }
        assert_eq!(params["usePodIdentity"], "false");
        assert!(params.get("tenantID").is_some() && params.get("tenantId").is_none());
    }
    assert_eq!(seen.len(), 2, "both cluster kinds are covered");
}

/// Pod Security Standards checks a pod spec fails at `level`.
fn pod_security_failures(spec: &Value, level: &str) -> Vec<String> {
    let mut fails = Vec::new();
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .collect();
    if level == "privileged" {
        return fails;
    }
    for host in ["hostPID", "hostNetwork", "hostIPC"] {
        if spec[host] == true {
            fails.push(host.to_owned());
        }
    }
    let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    if volumes.iter().any(|v| v.get("hostPath").is_some()) {
        fails.push("hostPath".to_owned());
    }
    for c in &containers {
        if c["securityContext"]["privileged"] == true {
            fails.push(format!("{}: privileged", c["name"]));
        }
    }
    if level == "baseline" {
        return fails;
    }
    let pod_non_root = spec["securityContext"]["runAsNonRoot"] == true;
    let pod_seccomp = spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault";
    for c in &containers {
        let sc = &c["securityContext"];
        if !(pod_non_root || sc["runAsNonRoot"] == true) {
            fails.push(format!("{}: runAsNonRoot", c["name"]));
        }
        if sc["allowPrivilegeEscalation"] != false {
            fails.push(format!("{}: allowPrivilegeEscalation", c["name"]));
        }
        let drops = sc["capabilities"]["drop"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !drops.contains(&json!("ALL")) {
            fails.push(format!("{}: drop ALL", c["name"]));
        }
        if !(pod_seccomp || sc["seccompProfile"]["type"] == "RuntimeDefault") {
            fails.push(format!("{}: seccomp", c["name"]));
        }
    }
    let allowed = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for v in &volumes {
        if !v
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k == "name" || allowed.contains(&k.as_str()))
        {
            fails.push(format!("volume {}", v["name"]));
        }
    }
    fails
}

#[test]
fn pod_security_levels_admit_the_workloads() {
    for c in built() {
        let levels: BTreeMap<&str, &str> = c
            .all_objects()
            .filter(|o| o["kind"] == "Namespace")
            .map(|o| {
                let labels = &o["metadata"]["labels"];
                let level = labels["pod-security.kubernetes.io/enforce"]
                    .as_str()
                    .expect("enforce");
                assert_eq!(labels["pod-security.kubernetes.io/warn"], level);
                assert_eq!(labels["pod-security.kubernetes.io/audit"], level);
                (o["metadata"]["name"].as_str().unwrap(), level)
            })
            .collect();
        assert_eq!(levels.get("kured"), Some(&"privileged"), "{}", c.name);
        for w in c
            .all_objects()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "DaemonSet")
        {
            let ns = w["metadata"]["namespace"].as_str().unwrap();
            let level = levels
                .get(ns)
                .unwrap_or_else(|| panic!("{ns} is not rendered"));
            let spec = &w["spec"]["template"]["spec"];
            let fails = pod_security_failures(spec, level);
            assert_eq!(
                fails,
                Vec::<String>::new(),
                "{}: {} in {ns} ({level})",
                c.name,
                w["metadata"]["name"]
            );
        }
        // Traefik meets `restricted` whatever its namespace enforces, and
        // kured really needs `privileged` (the wart this layout fixes).
        let traefik =
            &c.find("Deployment", "traefik-ingress-controller")["spec"]["template"]["spec"];
        assert_eq!(
            pod_security_failures(traefik, "restricted"),
            Vec::<String>::new()
        );
        let kured = &c.find("DaemonSet", "kured")["spec"]["template"]["spec"];
        assert!(!pod_security_failures(kured, "baseline").is_empty());
    }
}

/// Whether `to` is reachable from `from` along dependsOn edges.
fn reaches(deps: &BTreeMap<String, Vec<String>>, from: &str, to: &str) -> bool {
    let mut stack = vec![from.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == to && n != from {
            return true;
        }
        if seen.insert(n.clone()) {
            stack.extend(deps.get(&n).cloned().unwrap_or_default());
        }
    }
    false
}

#[test]
fn depends_on_is_acyclic_and_in_platform_order() {
    for c in built() {
        let deps: BTreeMap<String, Vec<String>> = c
            .kustomizations
            .iter()
            .map(|(name, k)| {
                let on = k["spec"]["dependsOn"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|d| d["name"].as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                (name.clone(), on)
            })
            .collect();
        for (name, on) in &deps {
            for d in on {
                assert!(
                    deps.contains_key(d),
                    "{}: {name} depends on missing {d}",
                    c.name
                );
            }
            assert!(
                !reaches(&deps, name, name),
                "{}: cycle through {name}",
                c.name
            );
        }
        let order = [
            ("policies", "namespaces"),
            ("secrets", "policies"),
            ("ingress", "secrets"),
            ("ingress", "policies"),
            ("kured", "namespaces"),
        ];
        for (later, earlier) in order {
            if deps.contains_key(later) && deps.contains_key(earlier) {
                assert!(
                    reaches(&deps, later, earlier),
                    "{}: {later} must wait for {earlier}",
                    c.name
                );
            }
        }
        if c.engine == PolicyEngine::Gatekeeper {
            assert!(reaches(&deps, "policies", "policy-templates"), "{}", c.name);
            let checks = c.kustomizations["policy-templates"]["spec"]["healthChecks"].to_string();
            for t in c
                .all_objects()
                .filter(|o| o["kind"] == "ConstraintTemplate")
            {
                let crd = format!(
                    "{}.constraints.gatekeeper.sh",
                    t["metadata"]["name"].as_str().unwrap()
                );
                assert!(
                    checks.contains(&crd),
                    "{}: no health check for {crd}",
                    c.name
                );
            }
        }
    }
}

#[test]
fn gatekeeper_constraints_match_their_templates_and_mode() {
    let fleet = example_fleet();
    for c in built()
        .iter()
        .filter(|c| c.engine == PolicyEngine::Gatekeeper)
    {
        let kinds: BTreeSet<&str> = c
            .all_objects()
            .filter(|o| o["kind"] == "ConstraintTemplate")
            .map(|t| t["spec"]["crd"]["spec"]["names"]["kind"].as_str().unwrap())
            .collect();
        let constraints: Vec<&Value> = c.objects["policies"]
            .iter()
            .filter(|o| o["apiVersion"] == "constraints.gatekeeper.sh/v1beta1")
            .collect();
        assert_eq!(constraints.len(), 5, "{}", c.name);
        for k in &constraints {
            assert!(kinds.contains(k["kind"].as_str().unwrap()), "{}", c.name);
            let excluded = k["spec"]["match"]["excludedNamespaces"].to_string();
            assert!(excluded.contains("kube-system") && excluded.contains("gatekeeper-system"));
        }
        if let Some(spec) = fleet.cluster(&c.name) {
            let want = match spec.policies.mode {
                flotilla_fleet::PolicyMode::Audit => "dryrun",
                flotilla_fleet::PolicyMode::Deny => "deny",
            };
            assert!(
                constraints
                    .iter()
                    .all(|k| k["spec"]["enforcementAction"] == want)
            );
        }
    }
}

#[test]
fn azure_policy_clusters_get_an_assignment_and_no_constraints() {
    let fleet = example_fleet();
    let tree = render(&fleet);
    let c = fleet.cluster("aks-wus2-01").unwrap();
    assert_eq!(c.policies.engine, PolicyEngine::AzurePolicy);
    let text = tree
        .get("clusters/aks-wus2-01/policies/azure-policy-assignment.json")
        .unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    let assignments = v["assignments"].as_array().unwrap();
    assert_eq!(assignments.len(), 5);
    for a in assignments {
        assert_eq!(a["properties"]["parameters"]["effect"]["value"], "Audit");
    }
    let registries = v.to_string();
    assert!(registries.contains(r"^(acraksbaseline01\\.azurecr\\.io|mcr\\.microsoft\\.com)/.+$"));
    let built = built().iter().find(|b| b.name == "aks-wus2-01").unwrap();
    assert!(!built.all_objects().any(|o| {
        o["kind"] == "ConstraintTemplate"
            || o["apiVersion"]
                .as_str()
                .unwrap()
                .starts_with("constraints.")
    }));
}

#[test]
fn traefik_is_pinned_configured_and_drain_friendly() {
    let fleet = example_fleet();
    for c in built() {
        let deployment = c.find("Deployment", "traefik-ingress-controller");
        let pod = &deployment["spec"]["template"]["spec"];
        let image = pod["containers"][0]["image"].as_str().unwrap();
        assert!(image.contains(':'), "{}: {image} has no tag", c.name);
        if let Some(spec) = fleet.cluster(&c.name) {
            assert_eq!(image, spec.images.traefik.reference(&spec.images.registry));
            let kured =
                c.find("DaemonSet", "kured")["spec"]["template"]["spec"]["containers"][0].clone();
            assert_eq!(
                kured["image"],
                spec.images.kured.reference(&spec.images.registry)
            );
            let args = kured["args"].to_string();
            for flag in [
                "--reboot-days=mon,tue,wed,thu,fri",
                "--start-time=21:00",
                "--end-time=05:00",
                "--time-zone=UTC",
                "--period=1h",
                "--reboot-sentinel=",
                "--lock-annotation=",
                "--concurrency=1",
            ] {
                assert!(args.contains(flag), "{}: kured lacks {flag}", c.name);
            }
        }
        let pdb = c.find("PodDisruptionBudget", "traefik-ingress-controller");
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap();
        match pdb["spec"]["minAvailable"].as_i64() {
            Some(min) => assert!(min < replicas, "{}: PDB blocks drains", c.name),
            None => assert_eq!(pdb["spec"]["maxUnavailable"], 1),
        }
        assert!(pod["affinity"]["podAntiAffinity"].is_object());
        assert!(pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/ping");
        let config = c
            .all_objects()
            .find(|o| {
                o["kind"] == "ConfigMap"
                    && o["metadata"]["name"]
                        .as_str()
                        .unwrap()
                        .starts_with("traefik-config-")
            })
            .unwrap_or_else(|| panic!("{}: no hashed traefik config", c.name));
        let toml = config["data"]["traefik.toml"].as_str().unwrap();
        assert!(toml.contains("ipAllowList") && !toml.contains("ipWhiteList"));
        assert!(
            toml.contains("trustedIPs")
                && toml.contains("sniStrict")
                && toml.contains("minVersion")
        );
        let volumes = pod["volumes"].to_string();
        assert!(
            volumes.contains(config["metadata"]["name"].as_str().unwrap()),
            "{}: config volume not rewritten",
            c.name
        );
    }
}

#[test]
fn traefik_reads_secrets_only_in_the_namespaces_it_serves() {
    let fleet = example_fleet();
    for c in built() {
        let objects: Vec<&Value> = c.objects["ingress"].iter().collect();
        let role = |name: &Value| {
            objects
                .iter()
                .find(|o| o["kind"] == "ClusterRole" && &o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{}: no ClusterRole {name}", c.name))
        };
        for b in objects.iter().filter(|o| o["kind"] == "ClusterRoleBinding") {
            let rules = role(&b["roleRef"]["name"])["rules"].to_string();
            assert!(
                !rules.contains("secrets"),
                "{}: cluster-wide secret access",
                c.name
            );
        }
        let bound: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o["kind"] == "RoleBinding")
            .map(|o| o["metadata"]["namespace"].as_str().unwrap())
            .collect();
        if let Some(spec) = fleet.cluster(&c.name) {
            let served: BTreeSet<&str> = spec
                .namespaces
                .iter()
                .filter(|ns| ns.receives_ingress || ns.name == spec.ingress.namespace)
                .map(|ns| ns.name.as_str())
                .collect();
            assert_eq!(bound, served, "{}", c.name);
        }
        assert!(!bound.is_empty(), "{}", c.name);
    }
}

/// The violations a rendered ConstraintTemplate's Rego reports for `pod`
/// with `parameters`, evaluated the way Gatekeeper calls it (`input.review`,
/// `input.parameters`, rule `violation`), by the regorus interpreter.
fn violations(template: &Value, parameters: &Value, pod: &Value) -> Vec<String> {
    let rego = template["spec"]["targets"][0]["rego"]
        .as_str()
        .expect("rego");
    let package = rego
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("package "))
        .expect("package line");
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine
        .add_policy(format!("{package}.rego"), rego.to_owned())
        .unwrap_or_else(|e| panic!("{package}: rego does not compile: {e}"));
    let input = json!({"review": {"object": pod}, "parameters": parameters});
    engine.set_input_json(&input.to_string()).expect("input");
    let result = engine
        .eval_rule(format!("data.{package}.violation"))
        .unwrap_or_else(|e| panic!("{package}: evaluation failed: {e}"));
    let result: Value = serde_json::from_str(&result.to_json_str().expect("json")).unwrap();
    result
        .as_array()
        .map(|set| {
            set.iter()
                .map(|v| v["msg"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn gatekeeper_rego_admits_the_platform_and_rejects_what_it_forbids() {
    let c = built()
        .iter()
        .find(|c| c.name == "aks-eus2-01")
        .expect("gatekeeper cluster");
    let traefik = json!({
        "kind": "Pod",
        "spec": c.find("Deployment", "traefik-ingress-controller")["spec"]["template"]["spec"],
    });
    let bad = json!({"kind": "Pod", "spec": {
        "containers": [{
            "name": "app",
            "image": "docker.io/library/nginx:1.27",
            "resources": {"limits": {"cpu": "2", "memory": "4Gi"}},
            "securityContext": {"privileged": true},
        }],
        "initContainers": [{"name": "init", "image": "acraksbaseline01.azurecr.io.evil.com/x:1"}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
    }});
    let mut checked = 0;
    for constraint in c.objects["policies"]
        .iter()
        .filter(|o| o["apiVersion"] == "constraints.gatekeeper.sh/v1beta1")
    {
        let kind = constraint["kind"].as_str().unwrap();
        let template = c
            .all_objects()
            .find(|t| {
                t["kind"] == "ConstraintTemplate"
                    && t["spec"]["crd"]["spec"]["names"]["kind"] == kind
            })
            .unwrap_or_else(|| panic!("no template for {kind}"));
        let parameters = &constraint["spec"]["parameters"];
        assert_eq!(
            violations(template, parameters, &traefik),
            Vec::<String>::new(),
            "{kind} rejects traefik"
        );
        let found = violations(template, parameters, &bad);
        assert!(!found.is_empty(), "{kind} admits a pod it must reject");
        checked += 1;
    }
    assert_eq!(checked, 5);
    // The registry check is a prefix match on `registry/`, not a substring.
    let registries = c
        .all_objects()
        .find(|t| t["metadata"]["name"] == "flotillaallowedregistries")
        .unwrap();
    let found = violations(
        registries,
        &json!({"registries": ["acraksbaseline01.azurecr.io"]}),
        &bad,
    );
    assert_eq!(found.len(), 2, "{found:?}");
}

/// The `flotilla serve` config a cluster's auditor ConfigMap carries, parsed
/// by the service's own loader.
fn auditor_serve_config(c: &BuiltCluster) -> ServeConfig {
    let objects = &c.objects["flotilla"];
    let deployment = c.find("Deployment", "flotilla");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    let config_map = volumes
        .iter()
        .find(|v| v["name"] == "config")
        .and_then(|v| v["configMap"]["name"].as_str())
        .expect("config volume");
    assert!(
        config_map.starts_with("flotilla-config-"),
        "{}: config map name carries kustomize's content hash: {config_map}",
        c.name
    );
    let cm = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == config_map)
        .unwrap_or_else(|| panic!("{}: no ConfigMap {config_map}", c.name));
    assert_eq!(cm["metadata"]["namespace"], "flotilla-system");
    let text = cm["data"]["serve.yaml"].as_str().expect("serve.yaml key");
    ServeConfig::parse(text, Path::new("serve.yaml"))
        .unwrap_or_else(|e| panic!("{}: generated serve.yaml: {e}\n{text}", c.name))
}

/// No rule of the auditor's role reaches Secrets or writes anything.
fn assert_read_only_without_secrets(role: &Value, cluster: &str) {
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: BTreeSet<_> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            verbs.is_subset(&BTreeSet::from(["get", "list", "watch"])),
            "{cluster}: {rule}"
        );
        let groups = rule["apiGroups"].as_array().cloned().unwrap_or_default();
        let resources = rule["resources"].as_array().cloned().unwrap_or_default();
        assert!(!groups.contains(&json!("*")), "{cluster}: {rule}");
        if groups.contains(&json!("")) {
            assert!(
                !resources.contains(&json!("secrets")) && !resources.contains(&json!("*")),
                "{cluster}: core rule reaches Secrets: {rule}"
            );
        }
    }
}

#[test]
fn the_auditor_component_is_restricted_read_only_and_configured_for_its_cluster() {
    let fleets = [example_fleet(), example_yaml_fleet()];
    let specs: BTreeMap<&str, &flotilla_fleet::Cluster> = fleets
        .iter()
        .flat_map(|f| &f.clusters)
        .map(|c| (c.name.as_str(), c))
        .collect();
    for c in built() {
        let spec = specs[c.name.as_str()];
        assert!(spec.auditor.enabled, "both example fleets enable it");
        let k = &c.kustomizations["flotilla"];
        assert_eq!(k["spec"]["path"], format!("./clusters/{}/flotilla", c.name));
        assert_eq!(k["spec"]["dependsOn"], json!([{"name": "namespaces"}]));
        let kinds: BTreeSet<_> = c.objects["flotilla"]
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        // No ServiceMonitor: its CRD may be absent from the cluster.
        assert_eq!(
            kinds,
            BTreeSet::from([
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "Deployment",
                "Namespace",
                "PodDisruptionBudget",
                "Role",
                "RoleBinding",
                "Service",
                "ServiceAccount",
            ]),
            "{}",
            c.name
        );
        let ns = c.find("Namespace", "flotilla-system");
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        assert_read_only_without_secrets(c.find("ClusterRole", "flotilla-read"), &c.name);
        let binding = c.find("ClusterRoleBinding", "flotilla-read");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "flotilla", "namespace": "flotilla-system"}])
        );
        let pod = &c.find("Deployment", "flotilla")["spec"]["template"]["spec"];
        assert_eq!(
            pod_security_failures(pod, "restricted"),
            Vec::<String>::new()
        );
        let container = &pod["containers"][0];
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["image"],
            spec.images.flotilla.reference(&spec.images.registry)
        );
        assert!(container["livenessProbe"]["httpGet"].is_object());
        assert!(container["readinessProbe"]["httpGet"].is_object());
        assert!(container["resources"]["limits"]["memory"].is_string());
        let service = c.find("Service", "flotilla");
        assert_eq!(service["spec"]["ports"][0]["port"], 8080);

        let config = auditor_serve_config(c);
        assert_eq!(config.repo.url, spec.source.url);
        assert_eq!(config.repo.branch, spec.source.branch);
        assert_eq!(config.clusters.len(), 1, "{}", c.name);
        let only = &config.clusters[0];
        assert_eq!(only.name, c.name);
        assert_eq!(only.target, ClusterTarget::InCluster);
        assert_eq!(
            only.entry,
            spec.source.path.trim_start_matches("./"),
            "the entry is the path Flux syncs"
        );
        let interval = flotilla_serve::schedule::Schedule {
            interval: Some(std::time::Duration::from_secs(15 * 60)),
            cron: None,
        };
        assert_eq!(config.schedule, interval, "{}", c.name);
        assert_eq!(config.pr.enabled, spec.auditor.pr_enabled);
        assert_eq!(config.pr.github.is_some(), spec.auditor.pr_enabled);
        // Two replicas elect a leader on one Lease; the Role reaches that
        // Lease only (create, which RBAC cannot limit by name, stays in
        // flotilla's namespace).
        let deployment = c.find("Deployment", "flotilla");
        assert_eq!(deployment["spec"]["replicas"], 2);
        assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
        let keys: Vec<&Value> = pod["topologySpreadConstraints"]
            .as_array()
            .expect("spread")
            .iter()
            .map(|t| &t["topologyKey"])
            .collect();
        assert_eq!(
            keys,
            [
                &json!("kubernetes.io/hostname"),
                &json!("topology.kubernetes.io/zone")
            ]
        );
        let pod_name = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "POD_NAME")
            .expect("POD_NAME");
        assert_eq!(
            pod_name["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        let pdb = c.find("PodDisruptionBudget", "flotilla");
        assert_eq!(pdb["spec"]["minAvailable"], 1);
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"],
            deployment["spec"]["selector"]["matchLabels"]
        );
        let election = &config.leader_election;
        assert!(election.enabled, "{}", c.name);
        assert_eq!(election.namespace, "flotilla-system");
        let role = c.find("Role", "flotilla-lease");
        assert_eq!(
            role["rules"],
            json!([
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "resourceNames": [election.lease_name], "verbs": ["get", "patch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            ])
        );
        assert_eq!(
            c.find("RoleBinding", "flotilla-lease")["subjects"],
            json!([{"kind": "ServiceAccount", "name": "flotilla", "namespace": "flotilla-system"}])
        );
        // The Flux deploy key's Secret keys, by file: never a value.
        assert!(
            matches!(&config.repo.auth, Some(GitAuthRef::SshKey { key_file, .. })
                if key_file == Path::new("/etc/flotilla/secret/identity")),
            "{}: {:?}",
            c.name,
            config.repo.auth
        );
    }
    let pr_flags: BTreeSet<bool> = specs.values().map(|c| c.auditor.pr_enabled).collect();
    assert_eq!(pr_flags.len(), 2, "both PR settings are covered");
}

#[test]
fn the_auditor_is_off_by_default_and_then_renders_nothing() {
    let spec = r#"
defaults:
  git: { url: "https://github.com/contoso/fleet-gitops" }
  images: { registry: acraksbaseline01.azurecr.io }
  ingress: { domain: aks-ingress.contoso.com }
  secrets:
    keyvaultName: kv-aks-eus2-01
    tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f
    workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b
clusters:
  - { name: aks-01, kind: aks, environment: production, region: eastus2 }
"#;
    let fleet = flotilla_fleet::load_str("fleet.yaml", spec).expect("valid spec");
    assert!(!fleet.clusters[0].auditor.enabled);
    let tree = render(&fleet);
    let paths: Vec<&str> = tree.iter().map(|(p, _)| p).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("/kured/kustomization.yaml"))
    );
    let flotilla: Vec<_> = paths.iter().filter(|p| p.contains("flotilla")).collect();
    assert!(flotilla.is_empty(), "{flotilla:?}");
    let infra = tree
        .get("clusters/aks-01/infrastructure.yaml")
        .expect("infrastructure.yaml");
    let names: Vec<Value> = yaml_docs(infra)
        .iter()
        .map(|k| k["metadata"]["name"].clone())
        .collect();
    assert!(names.contains(&json!("kured")), "{names:?}");
    assert!(!names.contains(&json!("flotilla")), "{names:?}");
}

#[test]
fn gatekeeper_in_deny_mode_admits_the_auditor() {
    let c = built()
        .iter()
        .find(|c| c.name == "aks-eus2-01")
        .expect("gatekeeper cluster");
    assert_eq!(c.engine, PolicyEngine::Gatekeeper);
    let pod = json!({
        "kind": "Pod",
        "spec": c.find("Deployment", "flotilla")["spec"]["template"]["spec"],
    });
    let mut checked = 0;
    for constraint in c.objects["policies"]
        .iter()
        .filter(|o| o["apiVersion"] == "constraints.gatekeeper.sh/v1beta1")
    {
        assert_eq!(constraint["spec"]["enforcementAction"], "deny");
        let kind = constraint["kind"].as_str().unwrap();
        let template = c
            .all_objects()
            .find(|t| {
                t["kind"] == "ConstraintTemplate"
                    && t["spec"]["crd"]["spec"]["names"]["kind"] == kind
            })
            .unwrap_or_else(|| panic!("no template for {kind}"));
        let parameters = &constraint["spec"]["parameters"];
        assert_eq!(
            violations(template, parameters, &pod),
            Vec::<String>::new(),
            "{kind} rejects the auditor"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} constraints checked");
}
