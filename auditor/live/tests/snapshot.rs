//! Loading recorded snapshots: the shared `baseline-cluster` fixture as
//! recorded by `record.sh`, and the same files under arbitrary names.

use flotilla_core::object::ObjectKey;
use flotilla_core::secret::{KEYED_PREFIX, Sealer};
use flotilla_live::{
    Error, LiveSource, Scope, SnapshotSource, load_snapshot, load_snapshot_scoped,
    load_snapshot_with,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/baseline-cluster")
        .join(name)
}

fn keys(objects: &[Value]) -> BTreeSet<ObjectKey> {
    objects
        .iter()
        .map(|o| ObjectKey::of(o).expect("object has a key"))
        .collect()
}

fn secret_users(objects: &[Value]) -> String {
    let secret = objects
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "traefik-basic-auth")
        .expect("traefik-basic-auth is in the snapshot");
    secret["data"]["users"]
        .as_str()
        .expect("users is a string")
        .to_owned()
}

/// Plain and base64 forms of the basic-auth value in each snapshot.
const SECRET_VALUES: [&str; 4] = [
    "YWRtaW46JGFwcjEkZmFrZSRoYXNo",
    "admin:$apr1$fake$hash",
    "YWRtaW46JGFwcjEkcjB0YXRlZCRoYXNo",
    "admin:$apr1$r0tated$hash",
];

#[test]
fn both_fixture_snapshots_load_every_object_with_secrets_sealed() {
    // One key for both, as one audit run has: equal values, equal digests.
    let sealer = Sealer::random();
    let clean = load_snapshot_with(&fixture("snapshot-clean"), None, &sealer).unwrap();
    let drifted = load_snapshot_with(&fixture("snapshot-drifted"), None, &sealer).unwrap();
    // Counted with python over objects/*.json: 78 lists, 284 and 289 items.
    assert_eq!((clean.objects.len(), clean.lists), (284, 78));
    assert_eq!((drifted.objects.len(), drifted.lists), (289, 78));
    assert_eq!(clean.requests, 0);
    for live in [&clean, &drifted] {
        assert!(
            live.objects
                .iter()
                .all(|o| o["apiVersion"].is_string() && o["kind"].is_string())
        );
        let secrets = live
            .objects
            .iter()
            .filter(|o| o["kind"] == "Secret")
            .count();
        assert_eq!(secrets, 1);
        assert!(secret_users(&live.objects).starts_with(KEYED_PREFIX));
        let text = serde_json::to_string(&live.objects).unwrap();
        for value in SECRET_VALUES {
            assert!(!text.contains(value), "{value} leaked");
        }
    }
    // D8 changed the Secret: the digests differ, so the diff can see it.
    assert_ne!(secret_users(&clean.objects), secret_users(&drifted.objects));
    // D6 and D7 are there, D5 is gone.
    let drifted_keys = keys(&drifted.objects);
    let key = |group: &str, kind: &str, ns: &str, name: &str| ObjectKey {
        group: group.into(),
        kind: kind.into(),
        namespace: Some(ns.into()),
        name: name.into(),
    };
    assert!(drifted_keys.contains(&key("apps", "Deployment", "a0008", "debug")));
    assert!(drifted_keys.contains(&key("", "ConfigMap", "cluster-baseline-settings", "hotfix")));
    assert!(!drifted_keys.contains(&key(
        "networking.k8s.io",
        "NetworkPolicy",
        "a0008",
        "default-deny"
    )));
    assert!(keys(&clean.objects).contains(&key(
        "networking.k8s.io",
        "NetworkPolicy",
        "a0008",
        "default-deny"
    )));
}

#[test]
fn managed_fields_are_kept_for_blame() {
    let drifted = load_snapshot(&fixture("snapshot-drifted")).unwrap();
    let kured = drifted
        .objects
        .iter()
        .find(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "kured")
        .unwrap();
    let managers: Vec<&str> = kured["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl-set"), "{managers:?}");
}

#[test]
fn empty_lists_still_mark_their_kind_as_read_when_discovery_is_present() {
    let live = load_snapshot(&fixture("snapshot-clean")).unwrap();
    // No CronJob exists, but the recording listed them.
    assert!(
        live.listed
            .contains(&("batch".to_owned(), "CronJob".to_owned()))
    );
    assert!(live.listed.contains(&("".to_owned(), "Secret".to_owned())));
    assert!(!live.objects.iter().any(|o| o["kind"] == "CronJob"));
}

#[test]
fn any_file_names_and_nesting_work_and_non_lists_are_skipped() {
    let src = fixture("snapshot-drifted");
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(src.join("objects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (i, file) in files.iter().enumerate() {
        let target = dir
            .path()
            .join(format!("batch-{}", i % 3))
            .join(format!("{i:03}-dump.json"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(file, target).unwrap();
    }
    // A JSON file that is not a List, a discovery document outside
    // discovery/, and a file that is not JSON at all.
    std::fs::copy(fixture("expected.json"), dir.path().join("answers.json")).unwrap();
    std::fs::copy(
        src.join("discovery/api_v1.json"),
        dir.path().join("resources.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not json").unwrap();

    let renamed = load_snapshot(dir.path()).unwrap();
    let original = load_snapshot(&src).unwrap();
    assert_eq!(keys(&renamed.objects), keys(&original.objects));
    assert_eq!(renamed.lists, 78);
}

#[test]
fn an_object_in_two_files_is_kept_once() {
    let src = fixture("snapshot-clean/objects/core_v1_configmaps.json");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&src, dir.path().join("a.json")).unwrap();
    std::fs::copy(&src, dir.path().join("b.json")).unwrap();
    let live = load_snapshot(dir.path()).unwrap();
    let once = load_snapshot(src.parent().unwrap()).unwrap();
    let configmaps = once
        .objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .count();
    assert_eq!(live.objects.len(), configmaps);
    assert_eq!(live.lists, 2);
}

#[test]
fn raw_api_list_responses_are_typed_from_the_list_kind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cms.json"),
        r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},
            "items":[{"metadata":{"name":"x","namespace":"y"},"data":{"k":"v"}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets.json"),
        r#"{"kind":"SecretList","apiVersion":"v1","metadata":{},
            "items":[{"metadata":{"name":"s","namespace":"y"},"data":{"k":"c2VjcmV0LXZhbHVl"}}]}"#,
    )
    .unwrap();
    let live = load_snapshot(dir.path()).unwrap();
    let kinds: BTreeSet<&str> = live
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["ConfigMap", "Secret"]));
    let text = serde_json::to_string(&live.objects).unwrap();
    assert!(!text.contains("c2VjcmV0LXZhbHVl") && !text.contains("secret-value"));
}

#[test]
fn invalid_json_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(
        &path,
        "{\n  \"kind\": \"List\",\n  \"items\": [ oops ]\n}\n",
    )
    .unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::ParseSnapshot { line: 3, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("broken.json:3:"), "{message}");
}

#[test]
fn a_kubectl_list_item_without_kind_is_an_error_naming_the_item() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("list.json"),
        r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},
            {"apiVersion":"v1","metadata":{"name":"b"}}]}"#,
    )
    .unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SnapshotItem {
                index: 1,
                reason: "missing kind",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn snapshot_source_applies_the_audit_scope() {
    let source = SnapshotSource {
        dir: fixture("snapshot-drifted"),
        sealer: Sealer::random(),
    };
    let scope = Scope::for_audit([("", "Namespace")], true);
    let live = source.read(&scope).await.unwrap();
    let kinds: BTreeSet<&str> = live
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains("Namespace"),
        "desired cluster-scoped kind is read"
    );
    assert!(
        kinds.contains("Kustomization") && kinds.contains("GitRepository"),
        "flux kinds are read"
    );
    assert!(
        kinds.contains("Pod") && kinds.contains("ConfigMap"),
        "namespaced kinds are read"
    );
    assert!(
        !kinds.contains("ClusterRole"),
        "undesired cluster-scoped kinds are not"
    );
    let all = load_snapshot(&fixture("snapshot-drifted")).unwrap();
    assert!(live.objects.len() < all.objects.len());
}

/// Write a kubectl-style List of `events` Events (a kind no audit reads)
/// with a ConfigMap first, in the middle and last, item by item.
fn write_event_list(path: &Path, events: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(br#"{"apiVersion":"v1","items":["#).unwrap();
    let total = events + 3;
    for i in 0..total {
        if i > 0 {
            out.write_all(b",").unwrap();
        }
        if i == 0 || i == total / 2 || i + 1 == total {
            write!(
                out,
                r#"{{"apiVersion":"v1","data":{{"k":"v"}},"kind":"ConfigMap","metadata":{{"name":"keep-{i}","namespace":"team-01"}}}}"#
            )
            .unwrap();
        } else {
            write!(
                out,
                r#"{{"apiVersion":"v1","count":1,"involvedObject":{{"kind":"Pod","name":"web-{i}"}},"kind":"Event","message":"Pulled image","metadata":{{"name":"web-{i}.17a3","namespace":"team-01"}},"reason":"Pulled","type":"Normal"}}"#
            )
            .unwrap();
        }
    }
    out.write_all(br#"],"kind":"List","metadata":{"resourceVersion":""}}"#)
        .unwrap();
    out.flush().unwrap();
}

/// A List far larger than what is kept (200,000 Events, over 16 MB, so it
/// is streamed): only the items the scope wants come out, in file order.
/// Memory is measured in `benches/load_snapshot.rs`, not here.
#[test]
fn a_huge_list_of_a_kind_the_audit_skips_yields_only_the_wanted_items() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("everything.json");
    write_event_list(&path, 200_000);
    assert!(std::fs::metadata(&path).unwrap().len() > 16 << 20);
    let scope = Scope::for_audit([("", "ConfigMap")], true);
    let live = load_snapshot_scoped(dir.path(), Some(&scope)).unwrap();
    let kept: Vec<(&str, &str)> = live
        .objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("ConfigMap", "keep-0"),
            ("ConfigMap", "keep-100001"),
            ("ConfigMap", "keep-200002")
        ]
    );
    assert_eq!(live.lists, 1);
    assert!(
        live.listed
            .contains(&(String::new(), "ConfigMap".to_owned()))
    );
    assert!(!live.listed.contains(&(String::new(), "Event".to_owned())));
}

/// A broken item deep inside a streamed file still names file, line and
/// column.
#[test]
fn invalid_json_in_a_streamed_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    write_event_list(&path, 200_000);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.insert_str(text.len() - 60, "\n  oops");
    std::fs::write(&path, text).unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::ParseSnapshot { line: 2, .. }),
        "{err:?}"
    );
}

fn manifest(secret_values: &str, salt: Option<&str>, files: &[&str]) -> String {
    let mut m = serde_json::json!({
        "$comment": "Generated by flotilla snapshot.",
        "version": 1,
        "recordedAt": "2026-11-21T05:00:00Z",
        "secretValues": secret_values,
        "files": files,
    });
    if let Some(salt) = salt {
        m["salt"] = salt.into();
    }
    m.to_string()
}

fn secret_list(data: Value) -> String {
    serde_json::json!({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret",
        "metadata":{"name":"db","namespace":"team-01"},"data":data}]})
    .to_string()
}

#[test]
fn a_snapshot_recorded_without_values_says_how_many_were_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("objects")).unwrap();
    std::fs::write(
        dir.path().join("objects/core_v1_secrets.json"),
        secret_list(serde_json::json!({"user":"sealed:omitted","password":"sealed:omitted"})),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flotilla-snapshot.json"),
        manifest("omit", None, &["objects/core_v1_secrets.json"]),
    )
    .unwrap();
    assert!(
        flotilla_live::snapshot_sealer(dir.path())
            .unwrap()
            .is_none()
    );
    let live = load_snapshot(dir.path()).unwrap();
    assert_eq!(live.secret_values_not_compared, 2);
    assert_eq!(
        live.objects[0]["data"],
        serde_json::json!({"user":"sealed:omitted","password":"sealed:omitted"})
    );
}

#[test]
fn a_snapshot_with_its_own_key_is_read_with_it_and_refuses_another() {
    let key = [7u8; 32];
    let sealer = Sealer::keyed(&key);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("objects")).unwrap();
    let digest = sealer.digest(b"hunter2");
    std::fs::write(
        dir.path().join("objects/core_v1_secrets.json"),
        secret_list(serde_json::json!({"password": digest})),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flotilla-snapshot.json"),
        manifest(
            "digest",
            Some(&"07".repeat(32)),
            &["objects/core_v1_secrets.json"],
        ),
    )
    .unwrap();
    let own = flotilla_live::snapshot_sealer(dir.path())
        .unwrap()
        .expect("the snapshot's key");
    assert_eq!(own.id(), sealer.id());
    let live = load_snapshot(dir.path()).unwrap();
    assert_eq!(live.objects[0]["data"]["password"], digest.as_str());
    let err = load_snapshot_with(dir.path(), None, &Sealer::random()).unwrap_err();
    assert!(matches!(err, Error::SealerMismatch { .. }), "{err:?}");
}

/// Snapshots recorded before keyed digests hold unsalted ones: they still
/// compare (read with the unsalted sealer) and the audit says so.
#[test]
fn an_older_snapshot_with_unsalted_digests_still_compares_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("objects")).unwrap();
    let legacy = Sealer::legacy();
    std::fs::write(
        dir.path().join("objects/core_v1_secrets.json"),
        secret_list(serde_json::json!({"password": legacy.digest(b"hunter2")})),
    )
    .unwrap();
    let sealer = flotilla_live::snapshot_sealer(dir.path())
        .unwrap()
        .expect("recognised as an older flotilla snapshot");
    assert!(sealer.is_legacy());
    let live = load_snapshot(dir.path()).unwrap();
    let mut desired = serde_json::json!({"apiVersion":"v1","kind":"Secret",
        "metadata":{"name":"db","namespace":"team-01"},"stringData":{"password":"hunter2"}});
    sealer.seal(&mut desired);
    assert_eq!(live.objects[0]["data"], desired["data"]);
    assert!(
        live.notes.iter().any(|n| n.contains("unsalted")),
        "{:?}",
        live.notes
    );
}

#[test]
fn a_manifest_with_an_unknown_field_or_a_path_outside_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flotilla-snapshot.json");
    std::fs::write(
        &path,
        manifest("omit", None, &[]).replace("\"version\"", "\"verzion\":1,\"version\""),
    )
    .unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(matches!(err, Error::ParseManifest { .. }), "{err:?}");
    assert!(format!("{:?}", err).contains("verzion"), "{err:?}");

    std::fs::write(&path, manifest("omit", None, &["objects/../../etc.json"])).unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::ManifestField { ref field, .. } if field == "files[0]"),
        "{err:?}"
    );
    std::fs::write(&path, manifest("digest", Some("abc"), &[])).unwrap();
    let err = load_snapshot(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::ManifestField { ref field, .. } if field == "salt"),
        "{err:?}"
    );
}

/// A snapshot folder is read, not trusted: a `.json` entry that is a
/// symbolic link (to a file outside, here a List of Secrets) is an error
/// naming it, in `objects/` and in `discovery/`, and its target is not read.
#[test]
fn a_symbolic_link_in_a_snapshot_is_refused_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("elsewhere.json");
    std::fs::write(
        &target,
        r#"{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"a"}}]}"#,
    )
    .unwrap();
    for folder in ["objects", "discovery"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("objects")).unwrap();
        std::fs::create_dir_all(dir.path().join("discovery")).unwrap();
        let link = dir.path().join(folder).join("linked.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = load_snapshot(dir.path()).unwrap_err();
        let message = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(message.contains("linked.json"), "{message}");
        assert!(message.contains("symbolic link"), "{message}");
    }
}
