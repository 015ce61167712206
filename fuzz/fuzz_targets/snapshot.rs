//! Fuzz the snapshot loader: no panic, no hang; the streaming reader and the
//! whole-file reader agree; no Secret comes out with a value that is not
//! sealed; a scoped load keeps a subset of the unscoped one, only of kinds
//! the scope admits.
//!
//! Input: byte 0 holds flags (bit 0: a second copy of the file, so the
//! "kept once, from the first file" rule runs; bit 1: the file sits under
//! `objects/`, else at the top), the rest is the content of one snapshot
//! file, usually JSON.

#![no_main]

use flotilla_live::{Scope, load_snapshot_streamed, load_snapshot_with};
use flotilla_core::object::{ObjectKey, group_of};
use flotilla_core::secret::{Sealer, is_sealed, is_secret};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeSet;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, content)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = if flags & 2 != 0 {
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).expect("objects dir");
        objects
    } else {
        dir.path().to_path_buf()
    };
    std::fs::write(folder.join("a.json"), content).expect("write");
    if flags & 1 != 0 {
        std::fs::write(folder.join("b.json"), content).expect("write");
    }

    let sealer = Sealer::keyed(&[9u8; 32]);
    let whole = load_snapshot_with(dir.path(), None, &sealer);
    let streamed = load_snapshot_streamed(dir.path(), None, &sealer);
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                a.objects, b.objects,
                "the two readers keep the same objects"
            );
            assert_eq!((a.lists, &a.listed), (b.lists, &b.listed));
            assert_eq!(a.secret_values_not_compared, b.secret_values_not_compared);
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "one reader failed, the other did not: {:?} / {:?}",
            whole.as_ref().err(),
            streamed.as_ref().err()
        ),
    }
    let Ok(all) = whole else {
        return;
    };
    for obj in &all.objects {
        if is_secret(obj) {
            assert!(obj.get("stringData").is_none(), "stringData kept: {obj}");
            if let Some(data) = obj.get("data").and_then(Value::as_object) {
                for v in data.values() {
                    let sealed = v.as_str().is_some_and(is_sealed);
                    assert!(sealed, "an unsealed secret value: {obj}");
                }
            }
        }
    }

    let scope = Scope::for_audit([("", "ConfigMap")], false);
    let scoped = load_snapshot_with(dir.path(), Some(&scope), &sealer)
        .expect("a scoped load fails only where the whole load does");
    let keys = |objects: &[Value]| -> BTreeSet<ObjectKey> {
        objects.iter().filter_map(ObjectKey::of).collect()
    };
    assert!(keys(&scoped.objects).is_subset(&keys(&all.objects)));
    for obj in &scoped.objects {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let namespaced = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        assert!(
            scope.admits(group_of(api_version), kind, namespaced),
            "kept a kind the scope does not admit: {obj}"
        );
    }
});
