//! Golden error messages: each `invalid/<case>.yaml` must fail to load with
//! exactly the text in `invalid/<case>.err`.
//!
//! After an intended change of wording, rewrite the goldens with
//! `FLOTILLA_BLESS=1 cargo test -p flotilla-fleet --test invalid` and review
//! the diff.

use std::fs;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    cases
}

/// The loader's output for a case, with the file named as in the messages.
fn actual(case: &Path) -> String {
    let name = format!(
        "invalid/{}",
        case.file_name().expect("file name").to_string_lossy()
    );
    let text = fs::read_to_string(case).expect("readable case");
    match flotilla_fleet::load_str(&name, &text) {
        Ok(fleet) => panic!("{name} loaded without errors: {fleet:?}"),
        Err(errors) => format!("{errors}\n"),
    }
}

#[test]
fn every_invalid_case_fails_with_its_golden_message() {
    let bless = std::env::var_os("FLOTILLA_BLESS").is_some();
    let cases = cases();
    assert!(
        cases.len() >= 15,
        "expected the golden cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let got = actual(case);
        let golden = case.with_extension("err");
        if bless {
            fs::write(&golden, &got).expect("write golden");
            continue;
        }
        let want = fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {}\n+++ actual\n{}",
                golden.display(),
                line_diff(&want, &got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch (FLOTILLA_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}

/// Every golden belongs to a case, so a renamed case cannot leave a stale golden.
#[test]
fn every_golden_has_a_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    for entry in fs::read_dir(dir).expect("tests/invalid exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("yaml").exists(),
                "{} has no case",
                path.display()
            );
        }
    }
}

/// A unified diff of the golden and the actual message (similar's, with
/// the lines around each change).
fn line_diff(want: &str, got: &str) -> String {
    similar::TextDiff::from_lines(want, got)
        .unified_diff()
        .context_radius(2)
        .to_string()
}
