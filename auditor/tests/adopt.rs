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
