//! The ignore-file parser (`flotilla audit --ignore`, serve's `ignoreFile`):
//! any text either loads or gives an `IgnoreError`, never a panic, a hang or
//! unbounded memory; loaded rules then match any key and pointer without
//! panicking.

#![no_main]

use flotilla_core::diff::IgnoreRules;
use flotilla_core::diff::ignore::{glob_matches, pointer_covers};
use flotilla_core::object::ObjectKey;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = IgnoreRules::parse(text, Path::new("ignore.yaml")) else {
        return;
    };
    // Match every rule against keys and pointers made of the rules' own
    // strings: globs against themselves, paths against each other.
    for rule in &rules.rules {
        let name = rule.name.clone().unwrap_or_default();
        let key = ObjectKey {
            group: rule.group.clone().unwrap_or_default(),
            kind: rule.kind.clone(),
            namespace: rule.namespace.clone(),
            name: name.clone(),
        };
        let _ = rules.ignores_object(&key);
        let _ = glob_matches(&name, &name);
        for path in &rule.paths {
            let _ = rules.ignores(&key, path);
            for other in &rule.paths {
                let _ = pointer_covers(path, other);
            }
        }
    }
});
