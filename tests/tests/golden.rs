//! Golden files of what users read and parse: the real `flotilla` binary's
//! `audit` of the shared `baseline-cluster` fixture (its repository against
//! `snapshot-drifted`, the ten findings of its answer key) and a `preview`
//! of a one-commit change to that repository, in every output format,
//! compared byte for byte with `tests/golden/`; and the JSON Schema of the
//! audit report, `docs/report.schema.json`, kept equal to the one derived
//! from the report's types, with the golden JSON reports valid against it.
//!
//! Only what truly varies between runs and machines is normalised, before
//! comparing and before blessing (see [`normalise`]): the absolute paths of
//! the fixture and of the temporary repository (`<fixture>`, `<repo>`), and
//! the time the HTML report says it was made (`<now>`). Nothing else is: the fixture's snapshot carries its own clock (blame
//! times are the recorded `managedFields` times), the preview's commits are
//! made with fixed dates and identity (their ids are the same everywhere),
//! and no format prints a duration unless asked (`--stats`, checked against
//! the schema only, never golden).
//!
//! `FLOTILLA_BLESS=1 cargo test -p flotilla-tests --test golden` rewrites
//! the golden files and the schema; review the diff before committing: a
//! change there is a change users see (and for the JSON report, a change of
//! the documented contract, see `auditor/src/report/json.rs`).

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Run, flotilla_bin, workspace_root};

const CLUSTER: &str = "aks-eastus2-01";

fn fixture() -> PathBuf {
    workspace_root().join("../shared/fixtures/baseline-cluster")
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn schema_path() -> PathBuf {
    workspace_root().join("docs/report.schema.json")
}

fn bless() -> bool {
    std::env::var_os("FLOTILLA_BLESS").is_some()
}

/// `text` with every spelling of `path` (as given and canonical) replaced
/// by `name`: absolute paths differ between checkouts and runs.
fn replace_path(text: &str, path: &Path, name: &str) -> String {
    let mut out = text.to_owned();
    let mut spellings = vec![path.to_path_buf()];
    if let Ok(canonical) = path.canonicalize() {
        spellings.push(canonical);
    }
    // Longest first, so that a spelling containing another goes whole.
    spellings.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for spelling in spellings {
        out = out.replace(&*spelling.to_string_lossy(), name);
    }
    out
}

/// The HTML report's "Made <time …>" stamp, the one clock reading any
/// format prints unasked, as `<now>`.
fn replace_made_at(text: &str) -> String {
    const MADE: &str = "Made <time datetime=\"";
    let Some(start) = text.find(MADE) else {
        return text.to_owned();
    };
    let end = text[start..]
        .find("</time>")
        .map(|e| start + e + "</time>".len())
        .expect("the made-at stamp closes");
    format!(
        "{}Made <time datetime=\"<now>\"><now></time>{}",
        &text[..start],
        &text[end..]
    )
}

/// What varies between runs and machines, made the same: the paths of the
/// fixture and of the temporary repository, and when the HTML report was
/// made.
fn normalise(text: &str, repo: Option<&Path>) -> String {
    let out = replace_made_at(&replace_path(text, &fixture(), "<fixture>"));
    match repo {
        Some(repo) => replace_path(&out, repo, "<repo>"),
        None => out,
    }
}

/// Compare `actual` with `tests/golden/<name>`, or write it when blessing.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if bless() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (FLOTILLA_BLESS=1 writes it)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file from line {} on \
             (FLOTILLA_BLESS=1 rewrites it; review the diff):\n\
             expected: {:?}\n  actual: {:?}\n\nwhole output:\n{actual}",
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

/// `flotilla audit` of the fixture repository against `snapshot-drifted`.
fn audit(output: &str, extra: &[&str]) -> Run {
    let fixture = fixture();
    Command::new(flotilla_bin())
        .args([
            "audit",
            "--cluster",
            CLUSTER,
            "--color",
            "never",
            "--output",
            output,
        ])
        .arg("--repo")
        .arg(fixture.join("repo"))
        .arg("--snapshot")
        .arg(fixture.join("snapshot-drifted"))
        .args(extra)
        .env_remove("NO_COLOR")
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("run flotilla audit")
        .into()
}

#[test]
fn audit_reports_match_their_golden_files() {
    for (output, file) in [
        ("text", "audit-drifted.txt"),
        ("json", "audit-drifted.json"),
        ("markdown", "audit-drifted.md"),
        ("html", "audit-drifted.html"),
    ] {
        let run = audit(output, &[]);
        assert_eq!(run.code, 1, "{output}: drift is exit 1\n{}", run.stderr);
        check_golden(file, &normalise(&run.stdout, None));
    }
}

/// A git repository holding the fixture's repository, committed, and a
/// second commit that changes it the way a pull request would.
struct PreviewRepo {
    dir: tempfile::TempDir,
    base: String,
    head: String,
}

impl PreviewRepo {
    fn git(dir: &Path, args: &[&str]) -> String {
        // Fixed identity and dates: the commit ids, which the reports
        // print, are the same on every run and machine.
        let out = Command::new("git")
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "fleet dev")
            .env("GIT_AUTHOR_EMAIL", "dev@contoso.example")
            .env("GIT_AUTHOR_DATE", "2026-11-20T09:00:00Z")
            .env("GIT_COMMITTER_NAME", "fleet dev")
            .env("GIT_COMMITTER_EMAIL", "dev@contoso.example")
            .env("GIT_COMMITTER_DATE", "2026-11-20T09:00:00Z")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn new() -> PreviewRepo {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture().join("repo"), dir.path());
        let git = |args: &[&str]| Self::git(dir.path(), args);
        git(&["init", "--quiet", "--initial-branch=main"]);
        git(&["add", "--all"]);
        git(&["commit", "--quiet", "-m", "baseline"]);
        let base = git(&["rev-parse", "HEAD"]);
        // The pull request: kured moves to 1.16.0, Traefik gets a third
        // replica.
        edit(
            &dir.path().join("infrastructure/kured/daemonset.yaml"),
            "kured:1.15.0",
            "kured:1.16.0",
        );
        edit(
            &dir.path().join("infrastructure/ingress/deployment.yaml"),
            "replicas: 2",
            "replicas: 3",
        );
        git(&[
            "commit",
            "--quiet",
            "--all",
            "-m",
            "kured 1.16.0, three traefik replicas",
        ]);
        let head = git(&["rev-parse", "HEAD"]);
        PreviewRepo { dir, base, head }
    }

    fn preview(&self, output: &str) -> Run {
        Command::new(flotilla_bin())
            .args([
                "preview", "--output", output, "--base", &self.base, "--head", &self.head,
            ])
            .arg("--repo")
            .arg(self.dir.path())
            .arg("--crds")
            .arg(workspace_root().join("../shared/crds"))
            .env_remove("GITHUB_TOKEN")
            .env_remove("NO_COLOR")
            .output()
            .expect("run flotilla preview")
            .into()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replace `from` with `to` in a file, insisting that `from` is there.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn preview_reports_match_their_golden_files() {
    let repo = PreviewRepo::new();
    for (output, file) in [
        ("text", "preview.txt"),
        ("json", "preview.json"),
        ("markdown", "preview.md"),
    ] {
        let run = repo.preview(output);
        assert_eq!(run.code, 1, "{output}: changes are exit 1\n{}", run.stderr);
        check_golden(file, &normalise(&run.stdout, Some(repo.dir.path())));
    }
}

// ---------------------------------------------------------------------------
// The JSON Schema of the audit report

fn committed_schema() -> Value {
    let path = schema_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (FLOTILLA_BLESS=1 writes it)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_published_schema_is_the_one_the_report_types_derive() {
    let derived = flotilla_core::report::json::schema();
    let text = format!("{}\n", serde_json::to_string_pretty(&derived).unwrap());
    let path = schema_path();
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    assert!(
        committed_schema() == *derived.as_value(),
        "{} is not the schema of the report types (FLOTILLA_BLESS=1 rewrites it; \
         a field renamed or removed is a new report version):\n{text}",
        path.display()
    );
}

fn validator() -> jsonschema::Validator {
    let schema = committed_schema();
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_golden_json_report_and_a_stats_report_follow_the_schema() {
    let validator = validator();
    let golden = golden_dir().join("audit-drifted.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    let errors = schema_errors(&validator, &report);
    assert!(errors.is_empty(), "{}: {errors:#?}", golden.display());

    // `--stats` adds timings (never golden: they differ on every run).
    let run = audit("json", &["--stats"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let with_stats: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(with_stats["stats"]["clusters"].is_array(), "{}", run.stdout);
    let errors = schema_errors(&validator, &with_stats);
    assert!(errors.is_empty(), "--stats report: {errors:#?}");
}

/// A named way to break a report.
type Breakage = (&'static str, fn(&mut Value));

/// The schema says something: reports that break the contract are refused.
#[test]
fn the_schema_refuses_reports_that_break_the_contract() {
    let validator = validator();
    let golden = golden_dir().join("audit-drifted.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    let broken: [Breakage; 6] = [
        ("no version", |r| {
            r.as_object_mut().unwrap().remove("version");
        }),
        ("an unknown class", |r| {
            r["clusters"][0]["findings"][0]["class"] = "drifted".into();
        }),
        ("a cluster without a name", |r| {
            r["clusters"][0].as_object_mut().unwrap().remove("cluster");
        }),
        ("findings not a list", |r| {
            r["clusters"][0]["findings"] = Value::Null;
        }),
        ("a number where a path is", |r| {
            r["clusters"][0]["findings"][0]["paths"][0]["path"] = 7.into();
        }),
        ("an unknown revert code", |r| {
            let finding = r["clusters"][0]["findings"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|f| f.get("reverts").is_some())
                .expect("a finding with reverts in the golden report");
            finding["reverts"]["code"] = "flux-forgets".into();
        }),
    ];
    for (what, breaking) in broken {
        let mut bad = report.clone();
        breaking(&mut bad);
        assert!(!validator.is_valid(&bad), "the schema accepts {what}");
    }
}
