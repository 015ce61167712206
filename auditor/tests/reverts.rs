//! Will Flux undo it? The `reverts` answer for every drift of the shared
//! `baseline-cluster` fixture: a Flux repository applied to a real
//! kube-apiserver and drifted by hand, whose recorded Kustomizations are
//! Ready (10m), suspended (`kured`, D10) or failing to build (`ingress`,
//! D11). Rendered with the real kustomize, read from the recorded snapshot.

use flotilla_core::diff::{DiffOptions, diff};
use flotilla_core::findings::{FindingClass, RevertCode, Reverts};
use flotilla_core::secret::Sealer;
use flotilla_live::load_snapshot_with;
use flotilla_render::{RenderOptions, render};
use std::path::PathBuf;

const REVISION: &str = "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93";

fn fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/baseline-cluster"
    ))
}

/// One expected answer: the finding (class, kind, name), then `reverts`,
/// `code` and `within` of the finding or of its only path.
type Answer = (
    FindingClass,
    &'static str,
    &'static str,
    bool,
    RevertCode,
    Option<&'static str>,
);

#[test]
fn each_drift_of_the_fixture_says_whether_flux_undoes_it() {
    let sealer = Sealer::random();
    let opts = RenderOptions {
        revision: Some(REVISION.into()),
        sealer: sealer.clone(),
        ..RenderOptions::default()
    };
    let desired = render(&fixture().join("repo"), "clusters/aks-eastus2-01", &opts).unwrap();
    let live = load_snapshot_with(&fixture().join("snapshot-drifted"), None, &sealer).unwrap();
    let findings = diff(
        &desired,
        &live,
        &DiffOptions {
            revision: Some(REVISION.into()),
            ..DiffOptions::default()
        },
    );

    let expected: [Answer; 8] = [
        // D2: kured is suspended, but Git says `suspend: false` and
        // flux-system (Ready, 10m) re-applies that, then kured reconciles.
        (
            FindingClass::Modified,
            "DaemonSet",
            "kured",
            true,
            RevertCode::FluxResumes,
            Some("10m"),
        ),
        // D3: ingress fails to build: nothing is applied.
        (
            FindingClass::Modified,
            "ConfigMap",
            "traefik-ingress-config",
            false,
            RevertCode::KustomizationFailing,
            None,
        ),
        // D4 (kubectl-label), D8 (kubectl-edit), D10 (flux suspend): Git
        // sets the field, the owner is Ready.
        (
            FindingClass::Modified,
            "Namespace",
            "a0008",
            true,
            RevertCode::FluxApplies,
            Some("10m"),
        ),
        (
            FindingClass::Modified,
            "Secret",
            "traefik-basic-auth",
            true,
            RevertCode::FluxApplies,
            Some("10m"),
        ),
        (
            FindingClass::Modified,
            "Kustomization",
            "kured",
            true,
            RevertCode::FluxApplies,
            Some("10m"),
        ),
        // D5: policies is Ready: the NetworkPolicy is created again.
        (
            FindingClass::Missing,
            "NetworkPolicy",
            "default-deny",
            true,
            RevertCode::FluxCreates,
            Some("10m"),
        ),
        // D6, D7: made with kubectl create, in no inventory.
        (
            FindingClass::Unmanaged,
            "Deployment",
            "debug",
            false,
            RevertCode::NotInInventory,
            None,
        ),
        (
            FindingClass::Unmanaged,
            "ConfigMap",
            "hotfix",
            false,
            RevertCode::NotInInventory,
            None,
        ),
    ];
    for (class, kind, name, reverts, code, within) in expected {
        let f = findings
            .iter()
            .find(|f| f.class == class && f.kind == kind && f.name == name)
            .unwrap_or_else(|| panic!("{kind} {name} not found: {findings:#?}"));
        let r: &Reverts = if class == FindingClass::Modified {
            assert_eq!(f.paths.len(), 1, "{kind} {name}");
            f.paths[0].reverts.as_ref()
        } else {
            f.reverts.as_ref()
        }
        .unwrap_or_else(|| panic!("{kind} {name} has no reverts"));
        assert_eq!(
            (r.reverts, r.code, r.within.as_deref()),
            (reverts, code, within),
            "{kind} {name}: {}",
            r.reason
        );
        assert!(!r.reason.is_empty());
    }
    // Flux health findings say why drift stays; they are not drift.
    for f in findings.iter().filter(|f| {
        matches!(
            f.class,
            FindingClass::FluxSuspended | FindingClass::FluxUnhealthy
        )
    }) {
        assert!(f.reverts.is_none(), "{f:#?}");
    }
}
