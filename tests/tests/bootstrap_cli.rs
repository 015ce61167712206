//! `flotilla bootstrap` end to end: the real binary on the bundled example
//! fleet, real files, real git (the `git` CLI reads what `--commit` made).
//!
//! The binary is built once per test process (see `tests/support`).

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use support::{files, flotilla, flotilla_bin, workspace_root};

const REMOVED: &str = "aks-eus2-stg-01";

/// A temp dir with a copy of `examples/fleet.yaml` as `fleet.yaml`.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let example = workspace_root().join("examples/fleet.yaml");
        fs::copy(&example, dir.path().join("fleet.yaml")).expect("copy example fleet");
        Sandbox { dir }
    }

    fn spec(&self) -> PathBuf {
        self.dir.path().join("fleet.yaml")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn spec_text(&self) -> String {
        fs::read_to_string(self.spec()).expect("read spec")
    }

    fn write_spec(&self, text: &str) {
        fs::write(self.spec(), text).expect("write spec");
    }

    /// `flotilla bootstrap --fleet <spec> --out <out> <extra…>`.
    fn bootstrap(&self, extra: &[&str]) -> support::Run {
        let spec = self.spec();
        let out = self.out();
        let mut args = vec![
            "bootstrap",
            "--fleet",
            spec.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        flotilla(&args)
    }
}

/// Run and insist on exit 0.
fn ok(run: support::Run) -> support::Run {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn mtimes(root: &Path) -> BTreeMap<String, SystemTime> {
    files(root)
        .into_keys()
        .map(|rel| {
            let modified = fs::metadata(root.join(&rel))
                .and_then(|m| m.modified())
                .expect("mtime");
            (rel, modified)
        })
        .collect()
}

/// The spec without the `REMOVED` cluster's list item.
fn without_cluster(spec: &str, name: &str) -> String {
    let start = spec
        .find(&format!("  - name: {name}\n"))
        .expect("cluster in example spec");
    let end = spec[start + 1..]
        .find("\n  - name: ")
        .map_or(spec.len(), |i| start + 1 + i + 1);
    format!("{}{}", &spec[..start], &spec[end..])
}

fn generated_under<'a>(tree: &'a BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<&'a str> {
    tree.keys()
        .map(String::as_str)
        .filter(|p| p.starts_with(prefix))
        .collect()
}

/// The first generated file under `prefix` whose text contains `needle`
/// (found by content, so the tests do not depend on the renderer's layout).
fn file_containing(root: &Path, prefix: &str, needle: &str) -> Option<String> {
    files(root).into_iter().find_map(|(path, bytes)| {
        (path.starts_with(prefix) && String::from_utf8_lossy(&bytes).contains(needle))
            .then_some(path)
    })
}

/// The production cluster's folder; its environment sets Traefik
/// `replicas: 3`, which the tests edit.
const PROD: &str = "clusters/aks-eus2-prod-01/";

#[test]
fn second_run_writes_nothing_says_so_and_keeps_mtimes() {
    let sandbox = Sandbox::new();
    let first = ok(sandbox.bootstrap(&[]));
    assert!(first.stdout.starts_with("created "), "{}", first.stdout);
    let written = files(&sandbox.out());
    assert!(written.len() > 20, "example fleet generates many files");
    assert!(
        first
            .stdout
            .contains(&format!("created {},", written.len())),
        "{}",
        first.stdout
    );
    let before = mtimes(&sandbox.out());
    // Coarse file systems round mtimes; make any rewrite visible.
    std::thread::sleep(Duration::from_millis(20));

    let second = ok(sandbox.bootstrap(&[]));
    assert_eq!(second.stdout.trim(), "up to date: nothing to write");
    assert_eq!(mtimes(&sandbox.out()), before, "no file was rewritten");
    assert_eq!(files(&sandbox.out()), written);
}

#[test]
fn same_spec_gives_byte_identical_output() {
    let sandbox = Sandbox::new();
    ok(sandbox.bootstrap(&[]));
    let other = sandbox.dir.path().join("other");
    ok(flotilla(&[
        "bootstrap",
        "--fleet",
        sandbox.spec().to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
    ]));
    let (a, b) = (files(&sandbox.out()), files(&other));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{path} differs between runs");
        assert!(
            String::from_utf8_lossy(bytes).contains("Generated by flotilla"),
            "{path} carries the header"
        );
    }
}

#[test]
fn hand_written_file_in_the_way_blocks_every_write() {
    let sandbox = Sandbox::new();
    let taken = "clusters/aks-eus2-prod-01/kustomization.yaml";
    let path = sandbox.out().join(taken);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "# my own\nresources: []\n").unwrap();

    let run = sandbox.bootstrap(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("flotilla: "), "{}", run.stderr);
    assert!(run.stderr.contains(taken), "names the path: {}", run.stderr);
    assert!(run.stderr.contains("hand-written"), "{}", run.stderr);
    let left: Vec<String> = files(&sandbox.out()).into_keys().collect();
    assert_eq!(left, [taken], "nothing else was written");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "# my own\nresources: []\n"
    );

    let check = sandbox.bootstrap(&["--check"]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(
        check.stdout.contains(&format!("conflict {taken}")),
        "{}",
        check.stdout
    );
}

#[test]
fn removing_a_cluster_deletes_exactly_its_generated_files_and_keeps_hand_written_ones() {
    let sandbox = Sandbox::new();
    ok(sandbox.bootstrap(&[]));
    let before = files(&sandbox.out());
    let prefix = format!("clusters/{REMOVED}/");
    let theirs = generated_under(&before, &prefix);
    assert!(theirs.len() > 5, "{REMOVED} had files");
    let notes = format!("{prefix}NOTES.md");
    fs::write(sandbox.out().join(&notes), "runbook, hand-written\n").unwrap();
    let kept = "clusters/aks-eus2-prod-01/README.md";
    fs::write(sandbox.out().join(kept), "ours too\n").unwrap();

    sandbox.write_spec(&without_cluster(&sandbox.spec_text(), REMOVED));
    let run = ok(sandbox.bootstrap(&[]));
    assert!(
        run.stdout
            .contains(&format!("updated 0, deleted {}", theirs.len())),
        "{}",
        run.stdout
    );

    let after = files(&sandbox.out());
    let gone: Vec<&str> = before
        .keys()
        .map(String::as_str)
        .filter(|p| !after.contains_key(*p))
        .collect();
    assert_eq!(gone, theirs, "exactly the removed cluster's files");
    for (path, bytes) in &before {
        if !path.starts_with(&prefix) {
            assert!(&after[path] == bytes, "{path} untouched");
        }
    }
    assert_eq!(
        fs::read_to_string(sandbox.out().join(&notes)).unwrap(),
        "runbook, hand-written\n"
    );
    assert_eq!(
        fs::read_to_string(sandbox.out().join(kept)).unwrap(),
        "ours too\n"
    );
}

#[test]
fn check_exits_1_with_the_list_then_0_when_clean() {
    let sandbox = Sandbox::new();
    let run = sandbox.bootstrap(&["--check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("create clusters/aks-eus2-prod-01/kustomization.yaml"),
        "{}",
        run.stdout
    );
    assert!(!sandbox.out().exists(), "--check writes nothing");

    ok(sandbox.bootstrap(&[]));
    let clean = ok(sandbox.bootstrap(&["--check"]));
    assert!(clean.stdout.starts_with("up to date"), "{}", clean.stdout);

    // A hand edit to a generated file is drift that --check reports.
    let edited = file_containing(&sandbox.out(), PROD, "replicas: 3").expect("replicas patch");
    let path = sandbox.out().join(&edited);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("replicas: 3", "replicas: 9")).unwrap();
    let drift = sandbox.bootstrap(&["--check"]);
    assert_eq!(drift.code, 1);
    assert!(
        drift.stdout.contains(&format!("update {edited}")),
        "{}",
        drift.stdout
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let run = ok(sandbox.bootstrap(&["--dry-run"]));
    let creates = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("create "))
        .count();
    assert!(creates > 20, "{}", run.stdout);
    assert!(!sandbox.out().exists());

    ok(sandbox.bootstrap(&[]));
    let before = mtimes(&sandbox.out());
    sandbox.write_spec(&without_cluster(&sandbox.spec_text(), REMOVED));
    let run = ok(sandbox.bootstrap(&["--dry-run"]));
    assert!(
        run.stdout
            .contains(&format!("delete clusters/{REMOVED}/kustomization.yaml")),
        "{}",
        run.stdout
    );
    assert_eq!(mtimes(&sandbox.out()), before, "--dry-run wrote nothing");
}

#[test]
fn invalid_spec_writes_nothing_and_exits_2_naming_file_and_line() {
    let sandbox = Sandbox::new();
    ok(sandbox.bootstrap(&[]));
    let before = files(&sandbox.out());
    let broken = sandbox
        .spec_text()
        .replacen("replicas: 3", "replicas: three", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("replicas: three"))
        .expect("edited line")
        + 1;
    sandbox.write_spec(&broken);

    let run = sandbox.bootstrap(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!("fleet.yaml:{line}:")),
        "file:line in {}",
        run.stderr
    );
    assert!(
        run.stderr.lines().all(|l| l.starts_with("flotilla: ")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(files(&sandbox.out()), before, "nothing written");

    let fresh = sandbox.dir.path().join("fresh");
    let run = flotilla(&[
        "bootstrap",
        "--fleet",
        sandbox.spec().to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(!fresh.exists(), "no output directory for an invalid spec");
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn commit_records_only_generated_paths_and_names_the_clusters() {
    let sandbox = Sandbox::new();
    let out = sandbox.out();
    fs::create_dir_all(out.join("apps")).unwrap();
    fs::write(out.join("apps/team-app.yaml"), "hand: written\n").unwrap();
    let author = "Jane Doe <jane@example.com>";

    let run = ok(sandbox.bootstrap(&["--commit", "--author", author]));
    assert!(run.stdout.contains("committed "), "{}", run.stdout);
    assert!(
        run.stdout.contains("initialised a git repository in"),
        "{}",
        run.stdout
    );
    assert_eq!(
        git(&out, &["log", "-1", "--format=%s"]).trim(),
        "flotilla: bootstrap aks-eus2-prod-01, aks-eus2-stg-01, aksh-store-042"
    );
    assert_eq!(
        git(&out, &["log", "-1", "--format=%an <%ae>"]).trim(),
        author
    );
    let committed = sorted_lines(&git(&out, &["ls-tree", "-r", "--name-only", "HEAD"]));
    let generated: Vec<String> = files(&out)
        .into_keys()
        .filter(|p| p != "apps/team-app.yaml")
        .collect();
    assert_eq!(committed, generated, "every generated file, nothing else");
    assert_eq!(
        git(&out, &["status", "--porcelain"]).trim(),
        "?? apps/",
        "hand-written file left untracked"
    );

    sandbox.write_spec(&without_cluster(&sandbox.spec_text(), REMOVED));
    ok(sandbox.bootstrap(&["--commit"]));
    assert_eq!(
        git(&out, &["log", "-1", "--format=%s"]).trim(),
        format!("flotilla: bootstrap {REMOVED}")
    );
    assert_eq!(
        git(&out, &["log", "-1", "--format=%an <%ae>"]).trim(),
        "flotilla <flotilla@localhost>"
    );
    let touched = git(&out, &["show", "--name-status", "--format=", "HEAD"]);
    assert!(!touched.is_empty());
    for line in touched.lines() {
        assert!(
            line.starts_with('D') && line.contains(&format!("clusters/{REMOVED}/")),
            "only the removed cluster's deletions: {line}"
        );
    }
    assert_eq!(git(&out, &["rev-list", "--count", "HEAD"]).trim(), "2");

    let again = ok(sandbox.bootstrap(&["--commit"]));
    assert!(
        again.stdout.contains("nothing to commit"),
        "{}",
        again.stdout
    );
    assert_eq!(git(&out, &["rev-list", "--count", "HEAD"]).trim(), "2");
}

/// Poll `condition` every 50 ms for up to 10 s.
fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// Collect a child's output stream as it arrives, so the test can wait for
/// a line instead of sleeping.
fn capture(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().expect("capture lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

fn snapshot(text: &Arc<Mutex<String>>) -> String {
    text.lock().expect("capture lock").clone()
}

#[test]
fn watch_regenerates_on_spec_edits_survives_errors_and_stops_on_ctrl_c() {
    let sandbox = Sandbox::new();
    let mut child = Command::new(flotilla_bin())
        .args(["bootstrap", "watch", "--fleet"])
        .arg(sandbox.spec())
        .arg("--out")
        .arg(sandbox.out())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let stdout = capture(child.stdout.take().expect("stdout"));
    let stderr = capture(child.stderr.take().expect("stderr"));

    let generated = eventually(|| snapshot(&stdout).contains("created "));
    let patch_rel = file_containing(&sandbox.out(), PROD, "replicas: 3").unwrap_or_default();
    let patch = sandbox.out().join(&patch_rel);
    let contains = |needle: &str| {
        fs::read_to_string(&patch)
            .map(|t| t.contains(needle))
            .unwrap_or(false)
    };

    let spec = sandbox.spec_text();
    sandbox.write_spec(&spec.replacen("replicas: 3", "replicas: three", 1));
    let error_printed = eventually(|| snapshot(&stderr).contains("fleet.yaml:"));
    let still_three = contains("replicas: 3");
    let alive_after_error = child.try_wait().expect("poll child").is_none();

    sandbox.write_spec(&spec.replacen("replicas: 3", "replicas: 4", 1));
    let regenerated = eventually(|| contains("replicas: 4"));
    let reported = eventually(|| snapshot(&stdout).contains(&format!("updated {patch_rel}")));

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    let exit = wait_bounded(&mut child);
    let (stdout, stderr) = (snapshot(&stdout), snapshot(&stderr));

    assert!(
        generated,
        "initial generation; stdout: {stdout}; stderr: {stderr}"
    );
    assert!(!patch_rel.is_empty(), "a file carries replicas: 3");
    assert!(error_printed, "spec error printed: {stderr}");
    assert!(still_three, "invalid spec wrote nothing");
    assert!(alive_after_error, "watch keeps running on spec errors");
    assert!(
        regenerated,
        "edit regenerated; stdout: {stdout}; stderr: {stderr}"
    );
    assert!(reported, "change printed: {stdout}");
    assert!(interrupted.success());
    assert_eq!(exit, Some(0), "clean exit on Ctrl-C; stderr: {stderr}");
    let leftovers: Vec<String> = files(&sandbox.out())
        .into_keys()
        .filter(|p| p.contains(".flotilla-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Wait up to 10 s for the child to exit; kill it after that.
fn wait_bounded(child: &mut std::process::Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

/// A temp dir with a copy of `examples/fleet.d` as `fleet.d`; the store
/// cluster lives alone in `fleet.d/30-stores.yaml`.
fn folder_sandbox() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("fleet.d");
    fs::create_dir(&spec).expect("mkdir fleet.d");
    for entry in fs::read_dir(workspace_root().join("examples/fleet.d")).expect("example folder") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), spec.join(entry.file_name())).expect("copy");
    }
    let out = dir.path().join("out");
    (dir, spec, out)
}

fn bootstrap_folder(spec: &Path, out: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "bootstrap",
        "--fleet",
        spec.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    flotilla(&args)
}

/// Replace `entry` by one of the odd things a spec folder can hold.
fn make_odd(entry: &Path, kind: &str) {
    let _ = fs::remove_file(entry);
    match kind {
        "dangling symlink" => {
            std::os::unix::fs::symlink(entry.with_file_name("gone.yaml"), entry).expect("symlink")
        }
        "symlink loop" => std::os::unix::fs::symlink(entry, entry).expect("symlink"),
        "FIFO" => {
            let made = Command::new("mkfifo").arg(entry).status().expect("mkfifo");
            assert!(made.success());
        }
        "directory" => fs::create_dir(entry).expect("mkdir"),
        other => panic!("unknown odd entry {other}"),
    }
}

const ODD_ENTRIES: [(&str, &str); 4] = [
    ("dangling symlink", "is a dangling symlink"),
    ("symlink loop", "is a symlink loop"),
    ("FIFO", "is a FIFO, not a regular file"),
    ("directory", "is a directory, not a regular file"),
];

/// The issue: an odd entry was skipped silently, and the generated files of
/// the clusters it held were deleted (exit 0). Now: exit 2, nothing touched.
#[test]
fn an_odd_spec_entry_stops_the_run_and_deletes_nothing() {
    for (kind, problem) in ODD_ENTRIES {
        let (_dir, spec, out) = folder_sandbox();
        ok(bootstrap_folder(&spec, &out, &[]));
        let before = files(&out);
        assert!(
            !generated_under(&before, "clusters/aksh-store-042/").is_empty(),
            "the store cluster was generated"
        );
        let entry = spec.join("30-stores.yaml");
        make_odd(&entry, kind);

        for extra in [&[][..], &["--check"], &["--dry-run"]] {
            let run = bootstrap_folder(&spec, &out, extra);
            assert_eq!(run.code, 2, "{kind} {extra:?}: {run:?}");
            assert!(
                run.stderr
                    .contains(&format!("{}: {problem}", entry.display())),
                "{kind}: {}",
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{kind}: {}", run.stdout);
        }
        assert_eq!(files(&out), before, "{kind}: nothing written or deleted");
    }
}

/// `bootstrap watch` reports an odd entry, writes nothing for that round and
/// keeps running; fixing the entry regenerates.
#[test]
fn watch_reports_an_odd_entry_writes_nothing_and_keeps_running() {
    let (_dir, spec, out) = folder_sandbox();
    let stores = spec.join("30-stores.yaml");
    let stores_text = fs::read_to_string(&stores).expect("read stores");
    let mut child = Command::new(flotilla_bin())
        .args(["bootstrap", "watch", "--fleet"])
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let stdout = capture(child.stdout.take().expect("stdout"));
    let stderr = capture(child.stderr.take().expect("stderr"));

    let generated = eventually(|| snapshot(&stdout).contains("created "));
    let before = files(&out);
    make_odd(&stores, "dangling symlink");
    let reported = eventually(|| snapshot(&stderr).contains("is a dangling symlink"));
    let untouched = files(&out) == before;
    let alive = child.try_wait().expect("poll child").is_none();

    fs::remove_file(&stores).expect("remove link");
    fs::write(&stores, stores_text.replace("replicas: 1", "replicas: 2")).expect("fix");
    let regenerated = eventually(|| snapshot(&stdout).contains("updated clusters/aksh-store-042/"));

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    let exit = wait_bounded(&mut child);
    let (stdout, stderr) = (snapshot(&stdout), snapshot(&stderr));
    assert!(generated, "stdout: {stdout}; stderr: {stderr}");
    assert!(reported, "stderr: {stderr}");
    assert!(untouched, "nothing written or deleted in the failed round");
    assert!(alive, "watch keeps running");
    assert!(regenerated, "stdout: {stdout}; stderr: {stderr}");
    assert!(interrupted.success());
    assert_eq!(exit, Some(0), "stderr: {stderr}");
}

/// A hand-written file that quotes the header on its second line is not
/// flotilla's: it survives its cluster's removal, and where a generated
/// file belongs it stops the run.
#[test]
fn a_file_quoting_the_header_below_line_one_is_hand_written() {
    let sandbox = Sandbox::new();
    ok(sandbox.bootstrap(&[]));
    let header = files(&sandbox.out())
        .into_values()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .find(|text| text.starts_with("# Generated by flotilla"))
        .and_then(|text| text.lines().next().map(str::to_owned))
        .expect("a generated yaml file");
    let quoting = format!("# copied from a generated file:\n{header}\nmine: true\n");
    let notes = format!("clusters/{REMOVED}/notes.yaml");
    fs::write(sandbox.out().join(&notes), &quoting).unwrap();

    sandbox.write_spec(&without_cluster(&sandbox.spec_text(), REMOVED));
    ok(sandbox.bootstrap(&[]));
    assert_eq!(
        fs::read_to_string(sandbox.out().join(&notes)).unwrap(),
        quoting,
        "never deleted"
    );

    let taken = "clusters/aks-eus2-prod-01/kustomization.yaml";
    fs::write(sandbox.out().join(taken), &quoting).unwrap();
    let run = sandbox.bootstrap(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(taken), "{}", run.stderr);
    assert_eq!(
        fs::read_to_string(sandbox.out().join(taken)).unwrap(),
        quoting
    );
}

/// A symlinked folder in the output that points outside `--out` is never
/// entered: the generated-looking files behind it are neither updated nor
/// deleted, and nothing is written through it.
#[test]
fn a_symlinked_folder_pointing_outside_is_never_entered() {
    let sandbox = Sandbox::new();
    ok(sandbox.bootstrap(&[]));
    let outside = tempfile::tempdir().expect("temp dir");
    let theirs = sandbox.out().join(format!("clusters/{REMOVED}"));
    let elsewhere = outside.path().join(REMOVED);
    fs::rename(&theirs, &elsewhere).expect("move the cluster folder out");
    std::os::unix::fs::symlink(&elsewhere, &theirs).expect("symlink");
    let behind = files(&elsewhere);
    assert!(!behind.is_empty());

    sandbox.write_spec(&without_cluster(&sandbox.spec_text(), REMOVED));
    ok(sandbox.bootstrap(&[]));
    assert_eq!(files(&elsewhere), behind, "nothing deleted behind the link");
    assert!(
        fs::symlink_metadata(&theirs).is_ok(),
        "the link itself stays"
    );

    // The removed cluster comes back: its folder is a symlink, so every one
    // of its files is a conflict and nothing is written anywhere.
    let restored = Sandbox::new().spec_text();
    sandbox.write_spec(&restored);
    fs::write(elsewhere.join("kustomization.yaml"), "edited: outside\n").unwrap();
    let run = sandbox.bootstrap(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        fs::read_to_string(elsewhere.join("kustomization.yaml")).unwrap(),
        "edited: outside\n"
    );
}

/// Run the binary in `cwd` with `HOME` set.
fn flotilla_in(cwd: &Path, home: &Path, args: &[&str]) -> support::Run {
    Command::new(flotilla_bin())
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .output()
        .expect("run flotilla")
        .into()
}

fn assert_refused(run: &support::Run, out: &str, rule: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("flotilla: refusing --out {out}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(rule), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// `--out /`, `--out ~`, `--out ..` and a symlink to `/` are refused in
/// every mode; `/` is only ever tried with --check and --dry-run, so the
/// old behaviour (accepted, exit 1 / 0) never wrote there.
#[test]
fn careless_out_directories_are_refused() {
    let sandbox = Sandbox::new();
    let spec = sandbox.spec();
    let spec = spec.to_str().unwrap();
    let home = sandbox.dir.path().join("home");
    fs::create_dir_all(home.join("projects")).unwrap();
    let root_link = sandbox.dir.path().join("root-link");
    std::os::unix::fs::symlink("/", &root_link).unwrap();
    let root_link = root_link.to_str().unwrap();
    for mode in ["--check", "--dry-run"] {
        let run = flotilla_in(
            &home,
            &home,
            &["bootstrap", "--fleet", spec, "--out", "/", mode],
        );
        assert_refused(&run, "/", "it is the root of the file system");
        let run = flotilla_in(
            &home,
            &home,
            &["bootstrap", "--fleet", spec, "--out", root_link, mode],
        );
        assert_refused(
            &run,
            &format!("{root_link} (resolves to /)"),
            "root of the file system",
        );
    }

    let home_str = home.to_str().unwrap();
    let run = flotilla_in(
        &home,
        &home,
        &["bootstrap", "--fleet", spec, "--out", home_str, "--init"],
    );
    assert_refused(&run, home_str, "it is your home directory");
    let run = flotilla_in(&home, &home, &["bootstrap", "--fleet", spec, "--out", ".."]);
    assert_refused(&run, "..", "it contains your home directory");
    // (`files` would follow root-link, so look for the folders directly.)
    for dir in [sandbox.dir.path(), home.as_path()] {
        assert!(
            !dir.join("clusters").exists(),
            "nothing generated in {}",
            dir.display()
        );
    }

    // `..` from the spec's own folder, even when it looks like a repository.
    let repo = sandbox.dir.path().join("repo");
    let platform = repo.join("platform");
    fs::create_dir_all(&platform).unwrap();
    fs::create_dir_all(repo.join(".git")).unwrap();
    fs::create_dir_all(repo.join("apps")).unwrap();
    fs::copy(sandbox.spec(), platform.join("fleet.yaml")).unwrap();
    let run = flotilla_in(
        &platform,
        &home,
        &[
            "bootstrap",
            "--fleet",
            "fleet.yaml",
            "--out",
            "..",
            "--init",
        ],
    );
    assert_refused(
        &run,
        "..",
        "above the current directory and contains the fleet spec",
    );
    assert!(!repo.join("clusters").exists());
    // From the repository root, `--out .` is the normal case.
    ok(flotilla_in(
        &repo,
        &home,
        &["bootstrap", "--fleet", "platform/fleet.yaml", "--out", "."],
    ));
    assert!(repo.join("clusters").is_dir());
}

/// A non-empty directory that does not look like a GitOps repository is
/// claimed only with --init; after that it holds clusters/ and needs no flag.
#[test]
fn a_non_empty_directory_is_claimed_with_init_once() {
    let sandbox = Sandbox::new();
    let out = sandbox.out();
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("README.md"), "# our fleet\n").unwrap();

    let run = sandbox.bootstrap(&[]);
    assert_refused(&run, out.to_str().unwrap(), "run once with --init");
    assert_eq!(files(&out).len(), 1, "nothing written");

    let first = ok(sandbox.bootstrap(&["--init"]));
    assert!(first.stdout.starts_with("created "), "{}", first.stdout);
    let again = ok(sandbox.bootstrap(&[]));
    assert_eq!(again.stdout.trim(), "up to date: nothing to write");
    assert_eq!(
        fs::read_to_string(out.join("README.md")).unwrap(),
        "# our fleet\n"
    );

    // An empty git repository needs no flag.
    let fresh = sandbox.dir.path().join("fresh");
    fs::create_dir_all(fresh.join(".git")).unwrap();
    ok(flotilla(&[
        "bootstrap",
        "--fleet",
        sandbox.spec().to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]));
}
