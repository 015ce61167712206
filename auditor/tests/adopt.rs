//! Adopting drift settles it: after the edits are written into a copy of the
//! fixture repository, auditing the same drifted cluster again finds none of
//! the adopted findings, and every other finding is still there.

use flotilla_core::adopt::{Actions, AdoptInput, adopt};
use flotilla_core::diff::{DiffOptions, diff};
use flotilla_core::findings::{Finding, FindingClass};
use flotilla_core::secret::Sealer;
use flotilla_live::load_snapshot_with;
use flotilla_render::{self as desired, RenderOptions};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

const ENTRY: &str = "clusters/aks-eastus2-01";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One key for both sides, as an audit uses.
static SEALER: LazyLock<Sealer> = LazyLock::new(Sealer::random);

fn load_drifted() -> flotilla_live::Live {
    load_snapshot_with(&fixture().join("snapshot-drifted"), None, &SEALER).unwrap()
}

fn audit(repo: &Path) -> (desired::Desired, Vec<Finding>) {
    let opts = RenderOptions {
        sealer: SEALER.clone(),
        ..RenderOptions::default()
    };
    let desired = desired::render(repo, ENTRY, &opts).unwrap();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    let live = load_drifted();
    let findings = diff(&desired, &live, &DiffOptions::default());
    (desired, findings)
}

fn summary(findings: &[Finding]) -> Vec<(FindingClass, String, String)> {
    let mut s: Vec<_> = findings
        .iter()
        .map(|f| (f.class, f.kind.clone(), f.name.clone()))
        .collect();
    s.sort();
    s
}

#[test]
fn adopted_drift_is_gone_on_the_next_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&fixture().join("repo"), &repo);
    let (desired, findings) = audit(&repo);
    assert_eq!(findings.len(), 10, "{:#?}", summary(&findings));

    let live = load_drifted();
    let kustomization =
        std::fs::read_to_string(repo.join(ENTRY).join("kustomization.yaml")).unwrap();
    let out = adopt(&AdoptInput {
        entry: ENTRY,
        kustomization_yaml: Some(&kustomization),
        entry_files: &[],
        desired: &desired,
        live: &live,
        findings: &findings,
        actions: &Actions::default(),
    });
    let adopted: Vec<_> = out
        .adopted
        .iter()
        .map(|&i| (findings[i].class, findings[i].name.as_str()))
        .collect();
    assert_eq!(
        out.adopted.len(),
        6,
        "adopted {adopted:?}, not {:?}",
        out.not_adopted
    );
    for (path, contents) in &out.edits {
        assert!(
            path.starts_with(ENTRY),
            "edit outside the cluster's folder: {path}"
        );
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }

    let (_, after) = audit(&repo);
    // Objects of other Kustomizations are adopted through those
    // Kustomizations' `spec.patches`: until Flux applies the merged branch,
    // the carrier Kustomizations differ from the cluster in exactly that field.
    let (carriers, rest): (Vec<Finding>, Vec<Finding>) = after.into_iter().partition(|f| {
        f.class == FindingClass::Modified
            && f.kind == "Kustomization"
            && f.paths.iter().all(|p| p.path == "/spec/patches")
    });
    let carrier_names: Vec<_> = carriers.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(carrier_names, ["ingress", "kured", "namespaces"]);
    let expected_left: Vec<_> = out
        .not_adopted
        .iter()
        .map(|(i, _)| findings[*i].clone())
        .collect();
    assert_eq!(summary(&rest), summary(&expected_left));
    // What is left is what a person must handle: the deleted policy, the
    // secret, and Flux's suspended/unhealthy Kustomizations.
    assert_eq!(
        summary(&rest),
        [
            (
                FindingClass::Modified,
                "Secret".into(),
                "traefik-basic-auth".into()
            ),
            (
                FindingClass::Missing,
                "NetworkPolicy".into(),
                "default-deny".into()
            ),
            (
                FindingClass::FluxUnhealthy,
                "Kustomization".into(),
                "ingress".into()
            ),
            (
                FindingClass::FluxSuspended,
                "Kustomization".into(),
                "kured".into()
            ),
        ]
    );
    // No secret value was written anywhere.
    for contents in out.edits.values() {
        assert!(!contents.contains("YWRtaW46") && !contents.contains("admin:$apr1"));
    }
}

/// Service ports are a list keyed by `port`+`protocol`, and strategic merge
/// finds them by `port`: a changed `targetPort` and a port moved 443 → 8443
/// are adopted under those keys, and the next audit (real kustomize over the
/// edited repository) finds the Service settled, with no port lost or added.
#[test]
fn service_ports_are_adopted_by_their_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    let entry = "clusters/c1";
    std::fs::create_dir_all(repo.join(entry)).unwrap();
    std::fs::write(
        repo.join(entry).join("sync.yaml"),
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: https://example.com/fleet.git\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters/c1\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    )
    .unwrap();
    let svc = |name: &str, ports: serde_json::Value| {
        serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"selector": {"app": name}, "ports": ports}})
    };
    let git_ports = serde_json::json!([
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
    ]);
    let services = [
        svc("moved", git_ports.clone()),
        svc("retargeted", git_ports),
    ];
    let yaml: Vec<String> = services
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
    std::fs::write(repo.join(entry).join("services.yaml"), yaml.join("\n---\n")).unwrap();
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - sync.yaml\n  - services.yaml\n";
    std::fs::write(repo.join(entry).join("kustomization.yaml"), kustomization).unwrap();

    let live_svc = |name: &str, ports: serde_json::Value| {
        let mut s = svc(name, ports);
        s["metadata"]["uid"] = name.into();
        s["metadata"]["labels"] = serde_json::json!({
            "kustomize.toolkit.fluxcd.io/name": "flux-system",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system"});
        s
    };
    let live = flotilla_core::live::Live {
        objects: vec![
            live_svc(
                "moved",
                serde_json::json!([
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                    {"name": "https", "port": 8443, "protocol": "TCP", "targetPort": 8443}
                ]),
            ),
            live_svc(
                "retargeted",
                serde_json::json!([
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 9443}
                ]),
            ),
        ],
        listed: [(String::new(), "Service".to_owned())].into(),
        ..Default::default()
    };
    let render = || {
        let desired = desired::render(repo, entry, &RenderOptions::default()).unwrap();
        assert!(desired.errors.is_empty(), "{:?}", desired.errors);
        let findings: Vec<Finding> = diff(&desired, &live, &DiffOptions::default())
            .into_iter()
            .filter(|f| f.kind == "Service")
            .collect();
        (desired, findings)
    };
    let (desired, findings) = render();
    let fields: Vec<&str> = findings
        .iter()
        .flat_map(|f| f.paths.iter().map(|p| p.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            "spec.ports[port=443,protocol=TCP].port",
            "spec.ports[port=443,protocol=TCP].targetPort"
        ]
    );
    let out = adopt(&AdoptInput {
        entry,
        kustomization_yaml: Some(kustomization),
        entry_files: &[],
        desired: &desired,
        live: &live,
        findings: &findings,
        actions: &Actions::default(),
    });
    assert_eq!(out.adopted, [0, 1], "{:?}", out.not_adopted);
    for (path, contents) in &out.edits {
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }
    let (after, left) = render();
    assert!(left.is_empty(), "not settled: {left:#?}");
    fn sorted(v: &serde_json::Value) -> Vec<serde_json::Value> {
        let mut items = v.as_array().unwrap().clone();
        items.sort_by_key(|i| i["port"].as_u64());
        items
    }
    let ports = |name: &str| {
        after
            .objects
            .iter()
            .find(|d| d.object["kind"] == "Service" && d.object["metadata"]["name"] == name)
            .map(|d| sorted(&d.object["spec"]["ports"]))
            .unwrap()
    };
    // Strategic merge puts a re-keyed item first; a list map has no order.
    assert_eq!(ports("moved"), sorted(&live.objects[0]["spec"]["ports"]));
    assert_eq!(
        ports("retargeted"),
        sorted(&live.objects[1]["spec"]["ports"])
    );
}
