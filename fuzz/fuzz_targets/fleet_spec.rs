//! Fuzzes the fleet spec loader (`flotilla_fleet::load_str`): YAML parsing
//! with anchors and aliases, decoding, layer merging and validation.
//!
//! Any text must either load or fail with diagnostics; it must never panic,
//! hang or run out of memory. What loads must hold the ranges validation
//! promises (the renderer relies on them), and every diagnostic must be one
//! line, as `flotilla bootstrap` prints them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match flotilla_fleet::load_str("fuzz.yaml", text) {
        Ok(fleet) => {
            assert!(!fleet.clusters.is_empty(), "a fleet without clusters loaded");
            for cluster in &fleet.clusters {
                let replicas = cluster.ingress.replicas;
                assert!((1..=i32::MAX as u32).contains(&replicas), "replicas {replicas}");
                let concurrency = cluster.kured.concurrency;
                assert!(
                    (1..=i32::MAX as u32).contains(&concurrency),
                    "concurrency {concurrency}"
                );
                assert!(!cluster.source.interval.is_empty());
                assert!(!cluster.kured.period.is_empty());
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an error without diagnostics");
            for diagnostic in errors.diagnostics() {
                let line = diagnostic.to_string();
                assert!(!line.contains('\n'), "a diagnostic of several lines: {line:?}");
            }
        }
    }
});
