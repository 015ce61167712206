//! `flotilla snapshot` against a server replaying the `baseline-cluster`
//! fixture: what a recorded snapshot reveals of Secret values (keyed digests
//! with a random key per snapshot, or nothing with `omit`), that audits
//! against it still see a changed Secret, and that recording into a folder
//! never deletes what flotilla did not write there.

use base64::Engine;
use flotilla_auditor::audit::{self, AuditedCluster, Checkout, LiveTarget};
use flotilla_core::diff::DiffOptions;
use flotilla_core::findings::{ClusterReport, FindingClass};
use flotilla_live::{
    Error, MANIFEST_FILE, RecordOptions, SecretValues, read_manifest, record_snapshot,
};
use flotilla_render::{RenderCache, RenderOptions};
use flotilla_tests::replay::ReplayServer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

const REVISION: &str = "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster")
}

/// The basic-auth value of `traefik-basic-auth` in each snapshot.
const CLEAN_VALUE: &str = "admin:$apr1$fake$hash";
const DRIFTED_VALUE: &str = "admin:$apr1$r0tated$hash";

/// Every form a recorded value could leak in: plain, base64, and the
/// unsalted SHA-256 hex an older flotilla wrote.
fn leaked_forms(value: &str) -> Vec<String> {
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    let sha = sha2::Sha256::digest(value.as_bytes());
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    vec![value.to_owned(), b64, hex]
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_text(&path));
        } else {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

fn secret_digest(snapshot: &Path) -> String {
    let text = std::fs::read_to_string(snapshot.join("objects/core_v1_secrets.json")).unwrap();
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    list["items"][0]["data"]["users"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn record(server: &ReplayServer, out: &Path, values: SecretValues) -> Result<(), Error> {
    let options = RecordOptions {
        secret_values: values,
        ..RecordOptions::default()
    };
    record_snapshot(server.client(), out, &options)
        .await
        .map(drop)
}

/// Renders of the fixture repository, shared by the audits below.
static CACHE: LazyLock<Arc<RenderCache>> = LazyLock::new(|| Arc::new(RenderCache::new()));

/// Audit the fixture repository against a snapshot, as `flotilla audit
/// --snapshot` does (a random run key, the snapshot's own when it has one).
async fn audit_against(snapshot: &Path) -> ClusterReport {
    let checkout = Checkout {
        root: fixture().join("repo"),
        revision: Some(REVISION.into()),
    };
    let target = AuditedCluster {
        name: "aks-eastus2-01".into(),
        entry: "clusters/aks-eastus2-01".into(),
        live: LiveTarget::Snapshot(snapshot.to_path_buf()),
        hub: None,
    };
    let render = RenderOptions {
        cache: Some(Arc::clone(&CACHE)),
        ..RenderOptions::default()
    };
    let diff = DiffOptions {
        revision: Some(REVISION.into()),
        ..DiffOptions::default()
    };
    let report = audit::audit_target(&checkout, &target, &render, &diff).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

fn secret_modified(report: &ClusterReport) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.class == FindingClass::Modified && f.name == "traefik-basic-auth")
}

#[tokio::test]
async fn two_recordings_of_one_secret_value_hold_different_keyed_digests() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    record(&server, a.path(), SecretValues::Digest)
        .await
        .unwrap();
    record(&server, b.path(), SecretValues::Digest)
        .await
        .unwrap();
    let (da, db) = (secret_digest(a.path()), secret_digest(b.path()));
    assert!(da.starts_with("sealed:hmac-sha256:"), "{da}");
    assert_ne!(
        da, db,
        "one value, two snapshots (two clusters): two digests"
    );
    let (ma, mb) = (
        read_manifest(a.path()).unwrap().unwrap(),
        read_manifest(b.path()).unwrap().unwrap(),
    );
    assert_ne!(ma.salt, mb.salt);
    assert_eq!(ma.secret_values, SecretValues::Digest);
    for dir in [a.path(), b.path()] {
        let text = all_text(dir);
        for leaked in leaked_forms(DRIFTED_VALUE) {
            assert!(!text.contains(&leaked), "{leaked} in {}", dir.display());
        }
    }
}

#[tokio::test]
async fn an_audit_against_a_recorded_snapshot_sees_a_changed_secret_and_no_unchanged_one() {
    let clean = ReplayServer::start(fixture().join("snapshot-clean"))
        .await
        .unwrap();
    let drifted = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let (clean_dir, drifted_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    record(&clean, clean_dir.path(), SecretValues::Digest)
        .await
        .unwrap();
    record(&drifted, drifted_dir.path(), SecretValues::Digest)
        .await
        .unwrap();

    // Desired and live digests agree when the value is unchanged...
    let report = audit_against(clean_dir.path()).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    // ...and differ when it changed (D8), among the fixture's ten findings.
    let report = audit_against(drifted_dir.path()).await;
    assert!(secret_modified(&report), "{:#?}", report.findings);
    assert_eq!(report.findings.len(), 10, "{:#?}", report.findings);
    let printed = serde_json::to_string(&report).unwrap();
    assert!(!printed.contains("sealed:"), "a digest in the report");
}

#[tokio::test]
async fn an_omit_recording_holds_no_value_and_its_audit_says_values_were_not_compared() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    record(&server, out.path(), SecretValues::Omit)
        .await
        .unwrap();
    let text = all_text(out.path());
    for leaked in leaked_forms(DRIFTED_VALUE)
        .into_iter()
        .chain(["sealed:hmac-sha256:".into(), "sealed:sha256:".into()])
    {
        assert!(!text.contains(&leaked), "{leaked} in the snapshot");
    }
    assert_eq!(secret_digest(out.path()), "sealed:omitted");
    let manifest = read_manifest(out.path()).unwrap().unwrap();
    assert_eq!(
        (manifest.secret_values, manifest.salt),
        (SecretValues::Omit, None)
    );

    let report = audit_against(out.path()).await;
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("secret values were not compared")),
        "{:?}",
        report.notes
    );
    // The changed value cannot be seen; the nine other findings still are.
    assert!(!secret_modified(&report), "{:#?}", report.findings);
    assert_eq!(report.findings.len(), 9, "{:#?}", report.findings);
    for leaked in leaked_forms(CLEAN_VALUE) {
        assert!(!serde_json::to_string(&report).unwrap().contains(&leaked));
    }
}

#[tokio::test]
async fn recording_into_a_folder_that_is_no_snapshot_is_refused_and_changes_nothing() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("README.md"), "my notes").unwrap();
    std::fs::create_dir(out.path().join("objects")).unwrap();
    std::fs::write(out.path().join("objects/notes.txt"), "mine too").unwrap();
    let err = record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RefuseOut { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&out.path().display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("README.md")).unwrap(),
        "my notes"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("objects/notes.txt")).unwrap(),
        "mine too"
    );
    assert!(!out.path().join(MANIFEST_FILE).exists());
    assert!(!out.path().join("discovery").exists());
    assert_eq!(server.requests(), 0, "refused before reading the cluster");
}

#[tokio::test]
async fn re_recording_replaces_only_the_files_of_the_previous_recording() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap();
    let first_digest = secret_digest(out.path());
    // The user's files beside the recording...
    std::fs::write(out.path().join("objects/notes.txt"), "mine").unwrap();
    std::fs::write(
        out.path().join("objects/mine.json"),
        r#"{"kind":"List","items":[]}"#,
    )
    .unwrap();
    std::fs::write(out.path().join("README.md"), "about this snapshot").unwrap();
    // ...and a file the previous recording wrote that this one will not
    // (a type no longer served).
    let manifest_path = out.path().join(MANIFEST_FILE);
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["files"]
        .as_array_mut()
        .unwrap()
        .push("objects/zz_v1_retired.json".into());
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::write(out.path().join("objects/zz_v1_retired.json"), "{}").unwrap();

    record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap();
    assert!(!out.path().join("objects/zz_v1_retired.json").exists());
    for (rel, text) in [
        ("objects/notes.txt", "mine"),
        ("objects/mine.json", r#"{"kind":"List","items":[]}"#),
        ("README.md", "about this snapshot"),
    ] {
        assert_eq!(
            std::fs::read_to_string(out.path().join(rel)).unwrap(),
            text,
            "{rel}"
        );
    }
    let manifest = read_manifest(out.path()).unwrap().unwrap();
    assert!(!manifest.files.iter().any(|f| f.contains("retired")));
    assert_ne!(secret_digest(out.path()), first_digest, "a new key");
    // No temporary folder is left behind.
    let hidden: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[tokio::test]
async fn a_symlinked_objects_folder_is_never_followed() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap();
    // objects/ replaced by a link to a folder holding files of the same names.
    let elsewhere = tempfile::tempdir().unwrap();
    let names: Vec<PathBuf> = std::fs::read_dir(out.path().join("objects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for path in &names {
        std::fs::write(elsewhere.path().join(path.file_name().unwrap()), "precious").unwrap();
    }
    std::fs::remove_dir_all(out.path().join("objects")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.path().join("objects")).unwrap();

    let err = record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("symbolic link"),
        "refused, naming the link: {err}"
    );
    assert!(
        std::fs::symlink_metadata(out.path().join("objects"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    for path in &names {
        let text = std::fs::read_to_string(elsewhere.path().join(path.file_name().unwrap()));
        assert_eq!(text.unwrap(), "precious");
    }
}

#[tokio::test]
async fn a_failed_recording_leaves_the_previous_one_whole() {
    let server = ReplayServer::start(fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap();
    let before = all_text(out.path());
    server.fail_path("/api/v1/secrets", 500);
    let err = record(&server, out.path(), SecretValues::Digest)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::List { .. }), "{err:?}");
    assert_eq!(all_text(out.path()), before);
}
