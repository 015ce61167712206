//! Table tests of the diff engine: every directory under `testdata/diff/` is
//! a case.
//!
//! ```text
//! testdata/diff/<case>/
//!   desired/*.yaml   what Git declares (multi-document YAML), all applied
//!                    by Kustomization flux-system/apps
//!   live/*.json      what the cluster has (objects or `kind: List`)
//!   options.yaml     optional: `revision: main@sha1:…`
//!   ignore.yaml      optional: user ignore rules
//!   expected.json    the findings, exactly (JSON report format)
//! ```
//!
//! `FLOTILLA_BLESS=1 cargo test -p flotilla-auditor --test diff` rewrites
//! `expected.json` from the current output (review the diff before committing).

use flotilla_auditor::desired::{Desired, DesiredObject, KustomizationRef};
use flotilla_auditor::diff::{DiffOptions, IgnoreRules, diff};
use flotilla_auditor::findings::Finding;
use flotilla_auditor::live::Live;
use flotilla_auditor::secret::Sealer;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaseOptions {
    revision: Option<String>,
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn load_desired(dir: &Path, sealer: &Sealer) -> Desired {
    let kustomization = KustomizationRef {
        namespace: "flux-system".into(),
        name: "apps".into(),
    };
    let mut objects = Vec::new();
    for file in files(dir, "yaml") {
        let text = std::fs::read_to_string(&file).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for mut object in docs.into_iter().filter(|d| !d.is_null()) {
            sealer.seal(&mut object);
            objects.push(DesiredObject {
                object,
                kustomization: Some(kustomization.clone()),
            });
        }
    }
    Desired {
        objects,
        ..Desired::default()
    }
}

fn load_live(dir: &Path, sealer: &Sealer) -> Live {
    let mut objects = Vec::new();
    for file in files(dir, "json") {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let items = match value.get("kind").and_then(Value::as_str) {
            Some("List") => value["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![value],
        };
        for mut item in items {
            sealer.seal(&mut item);
            objects.push(item);
        }
    }
    Live {
        objects,
        ..Live::default()
    }
}

fn run_case(case: &Path) -> Vec<Finding> {
    let sealer = Sealer::random();
    let desired = load_desired(&case.join("desired"), &sealer);
    let live = load_live(&case.join("live"), &sealer);
    let options: CaseOptions = std::fs::read_to_string(case.join("options.yaml"))
        .map(|t| serde_saphyr::from_str(&t).expect("options.yaml"))
        .unwrap_or_default();
    let ignore_file = case.join("ignore.yaml");
    let ignore = if ignore_file.exists() {
        IgnoreRules::load(&ignore_file).unwrap()
    } else {
        IgnoreRules::default()
    };
    let opts = DiffOptions {
        ignore,
        revision: options.revision,
        ..DiffOptions::default()
    };
    diff(&desired, &live, &opts)
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/diff");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_case_matches_its_expected_findings() {
    let bless = std::env::var_os("FLOTILLA_BLESS").is_some();
    let mut failed = Vec::new();
    let all = cases();
    assert!(all.len() >= 22, "test data missing: {} cases", all.len());
    for case in &all {
        let actual = run_case(case);
        let expected_file = case.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            std::fs::write(&expected_file, text).unwrap();
            continue;
        }
        // Compared as JSON, not as decoded findings: a field of
        // expected.json the findings lack (or get wrong) must fail the case,
        // and decoding would silently drop an unknown one.
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        let actual = serde_json::to_value(&actual).unwrap();
        if actual != expected {
            eprintln!(
                "case {}:\n--- expected\n{}\n+++ actual\n{}",
                case.display(),
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&actual).unwrap()
            );
            failed.push(case.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "cases differ: {failed:?}");
}

/// Cases that expect no findings must be able to produce some: the same
/// live state against a desired object that cannot match yields findings.
#[test]
fn no_drift_cases_are_not_vacuous() {
    for name in [
        "protocol-default",
        "int-or-string",
        "list-reorder",
        "extra-live-label",
        "ca-bundle",
    ] {
        let case = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/diff")
            .join(name);
        let sealer = Sealer::random();
        let mut desired = load_desired(&case.join("desired"), &sealer);
        let live = load_live(&case.join("live"), &sealer);
        for d in &mut desired.objects {
            d.object["metadata"]["labels"]["flotilla.test/changed"] = Value::String("yes".into());
        }
        let found = diff(&desired, &live, &DiffOptions::default());
        assert!(
            !found.is_empty(),
            "{name}: a changed desired state must show"
        );
        assert!(
            found.iter().all(|f| f
                .paths
                .iter()
                .all(|p| p.field.contains("flotilla.test/changed"))),
            "{name}: {found:#?}"
        );
    }
}

#[test]
fn secret_values_never_reach_findings() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/diff/secret-masked");
    let text = serde_json::to_string(&run_case(&case)).unwrap();
    for secret in [
        "admin:$apr1$fake$hash",
        "YWRtaW46JGFwcjEkZmFrZSRoYXNo",
        "admin:$apr1$r0tated$hash",
        "YWRtaW46JGFwcjEkcjB0YXRlZCRoYXNo",
        "was-here",
        "sealed:",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("\"sensitive\":true"));
}

#[test]
fn diff_is_deterministic() {
    for case in cases() {
        assert_eq!(run_case(&case), run_case(&case), "{}", case.display());
    }
}
