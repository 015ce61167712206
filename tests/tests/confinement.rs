//! A repository must never turn flotilla against its user: end to end, with
//! the real binary, real git and real kustomize (`kubectl kustomize`).
//!
//! - kustomize reads only inside the repository: generator `files` of
//!   `/proc/self/environ` or `../../…/etc/passwd`, a `replacements` file
//!   outside, never reach any output (canary variables on the flotilla
//!   process, `/etc/passwd`'s first line), and the refused path is named;
//! - `audit` and `preview` never write outside the repository (or into it)
//!   through a directory symlink, relative or absolute;
//! - remote bases are off by default (one line naming the Kustomization and
//!   the URL, the others render), and with `--allow-remote-bases` and no
//!   network the same one line;
//! - kustomize runs with an empty environment (a fake `kustomize` first on
//!   `PATH` records what it was given);
//! - kustomize's own messages never carry a file's content (a
//!   `secretGenerator` literal, a malformed YAML resource) in any format.

#[path = "../support/mod.rs"]
mod support;

use base64::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use support::{Run, flotilla_bin, workspace_root};

const CANARY_TOKEN: &str = "canary-ghp-7f3a9c1e55d04b2a";
const CANARY_VAR: &str = "canary-env-0b8e4d2c91f7";

/// A Flux repository with cluster `c`, in a temp dir under the system temp
/// dir (so a `../x` symlink from its root lands beside it, as from a checkout).
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(kustomizations: &str) -> Repo {
        let repo = Repo {
            dir: tempfile::Builder::new()
                .prefix("flotilla-confinement-")
                .tempdir()
                .expect("temp dir"),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["config", "user.name", "t"]);
        repo.git(&["config", "user.email", "t@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.write(
            "clusters/c/flux-system/gotk-sync.yaml",
            &format!(
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: https://example.com/fleet\n{}",
                flux_ks("flux-system", "./clusters/c", "")
            ),
        );
        repo.write(
            "clusters/c/flux-system/kustomization.yaml",
            "resources:\n  - gotk-sync.yaml\n",
        );
        repo.write(
            "clusters/c/kustomization.yaml",
            "resources:\n  - flux-system\n  - apps.yaml\n",
        );
        repo.write("fine/kustomization.yaml", "resources:\n  - cm.yaml\n");
        repo.write(
            "fine/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n  namespace: apps\ndata:\n  k: v\n",
        );
        repo.write(
            "clusters/c/apps.yaml",
            &format!("{}{kustomizations}", flux_ks("fine", "./fine", "")),
        );
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn arg(&self) -> &str {
        self.path().to_str().expect("utf-8 path")
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn link(&self, rel: &str, target: &Path) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, path).expect("symlink");
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A Flux Kustomization document (with its `---`).
fn flux_ks(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

fn snapshot_dir() -> PathBuf {
    workspace_root().join("../shared/fixtures/baseline-cluster/snapshot-clean")
}

fn canary_env() -> [(&'static str, &'static str); 2] {
    [
        ("GITHUB_TOKEN", CANARY_TOKEN),
        ("FLOTILLA_TEST_CANARY", CANARY_VAR),
    ]
}

fn run(args: &[&str], env: &[(&str, &str)], path: Option<&str>) -> Run {
    let mut command = Command::new(flotilla_bin());
    command.args(args).envs(env.iter().copied());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().expect("run flotilla").into()
}

fn preview(repo: &Repo, base: &str, head: &str, output: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "preview",
        "--repo",
        repo.arg(),
        "--base",
        base,
        "--head",
        head,
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    run(&args, &canary_env(), None)
}

fn audit(repo: &Repo, output: &str, extra: &[&str]) -> Run {
    let snapshot = snapshot_dir();
    let mut args = vec![
        "audit",
        "--repo",
        repo.arg(),
        "--cluster",
        "c",
        "--snapshot",
        snapshot.to_str().expect("utf-8"),
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    run(&args, &canary_env(), None)
}

/// Every output of a run, for "never appears" checks.
fn everything(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// What must never appear: the canaries (plain and base64) and /etc/passwd's first line.
fn assert_nothing_leaked(text: &str, what: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for canary in [CANARY_TOKEN, CANARY_VAR] {
        assert!(!text.contains(canary), "{what}: {canary} leaked:\n{text}");
        // Any 3-byte-aligned slice of the base64 form would do; the whole is enough here.
        assert!(
            !text.contains(&b64.encode(canary)),
            "{what}: base64 of {canary} leaked:\n{text}"
        );
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if let Some(first) = passwd.lines().next().filter(|l| l.len() > 8) {
        assert!(!text.contains(first), "{what}: /etc/passwd leaked:\n{text}");
    }
}

// ---------------------------------------------------------------------------

/// A ConfigMap generator without a name hash, so base and head compare field by field.
fn generator(name: &str, source: &str) -> String {
    format!(
        "generatorOptions:\n  disableNameSuffixHash: true\nconfigMapGenerator:\n  - name: {name}\n    namespace: apps\n    {source}\n"
    )
}

#[test]
fn preview_never_shows_the_environment_or_files_outside_the_repository() {
    let repo = Repo::new(&format!(
        "{}{}{}",
        flux_ks("leak-env", "./leak/env", ""),
        flux_ks("leak-passwd", "./leak/passwd", ""),
        flux_ks("leak-replace", "./leak/replace", ""),
    ));
    repo.write(
        "leak/env/kustomization.yaml",
        &generator("leak-env", "literals: [env=nothing]"),
    );
    repo.write(
        "leak/passwd/kustomization.yaml",
        &generator("leak-passwd", "literals: [passwd=nothing]"),
    );
    repo.write(
        "leak/replace/kustomization.yaml",
        &generator("leak-replace", "literals: [token=nothing]"),
    );
    let base = repo.commit("base");
    repo.write(
        "leak/env/kustomization.yaml",
        &generator("leak-env", "files: [env=/proc/self/environ]"),
    );
    repo.write(
        "leak/passwd/kustomization.yaml",
        &generator(
            "leak-passwd",
            "files: [passwd=../../../../../../../../../../etc/passwd]",
        ),
    );
    repo.write(
        "leak/replace/kustomization.yaml",
        &format!(
            "{}replacements:\n  - path: /proc/self/environ\n",
            generator(
                "leak-replace",
                "envs: [../../../../../../../../../../proc/self/environ]"
            )
        ),
    );
    let head = repo.commit("read the runner");

    let runs = ["json", "text", "markdown"].map(|o| (o, preview(&repo, &base, &head, o, &[])));
    for (output, run) in &runs {
        assert_nothing_leaked(&everything(run), output);
    }
    for (output, run) in &runs {
        let all = everything(run);
        assert_eq!(run.code, 2, "{output}: the refusals are problems\n{all}");
        for named in [
            "/proc/self/environ",
            "../../../../../../../../../../etc/passwd",
            "../../../../../../../../../../proc/self/environ",
        ] {
            assert!(all.contains(named), "{output}: names {named}:\n{all}");
        }
    }
    let run = audit(&repo, "json", &[]);
    assert_nothing_leaked(&everything(&run), "audit");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json report");
    let errors = report["clusters"][0]["errors"].to_string();
    assert!(errors.contains("leads outside the repository"), "{errors}");
    assert!(errors.contains("is an absolute path"), "{errors}");
}

// ---------------------------------------------------------------------------

/// Bytes, link targets and modification times of everything under `root`.
fn state(root: &Path) -> BTreeMap<String, (String, Option<SystemTime>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, Option<SystemTime>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let mtime = meta.modified().ok();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                out.insert(rel, (format!("link {}", target.display()), mtime));
            } else if meta.is_dir() {
                out.insert(rel.clone(), ("dir".into(), mtime));
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(rel, (String::from_utf8_lossy(&bytes).into_owned(), mtime));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn canary_folder(with_kustomization: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("flotilla-outside-")
        .tempdir()
        .expect("temp dir");
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n  namespace: apps\n",
    )
    .expect("write");
    if with_kustomization {
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            "resources:\n  - cm.yaml\n",
        )
        .expect("write");
    }
    dir
}

#[test]
fn symlinks_never_make_audit_or_preview_write_outside_or_inside_the_repository() {
    let absolute = canary_folder(true);
    let relative = canary_folder(false);
    let patch = "  patches:\n    - patch: |\n        - op: add\n          path: /metadata/labels\n          value: {pwned: \"yes\"}\n      target:\n        kind: ConfigMap\n";
    let repo = Repo::new(&format!(
        "{}{}{}",
        flux_ks("abs", "./linked-abs", patch),
        flux_ks("rel", "./linked-rel", ""),
        flux_ks("nested", "./nested", ""),
    ));
    let base = repo.commit("kustomizations, no links yet");
    // Absolute and relative directory links; a relative one from the
    // repository root lands beside it (in the temp dir), as from any checkout.
    repo.link("linked-abs", absolute.path());
    let beside = Path::new("..").join(relative.path().file_name().expect("name"));
    repo.link("linked-rel", &beside);
    // A plain folder (generated kustomization) holding a link to the outside folder.
    repo.write(
        "nested/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n  namespace: apps\n",
    );
    repo.link("nested/sub", absolute.path());
    let head = repo.commit("links");

    let outside_before = (state(absolute.path()), state(relative.path()));
    let repo_before = state(repo.path());
    std::thread::sleep(std::time::Duration::from_millis(20));

    let audits = [audit(&repo, "json", &[]), audit(&repo, "json", &[])];
    let previewed = preview(&repo, &base, &head, "json", &[]);

    assert_eq!(
        (state(absolute.path()), state(relative.path())),
        outside_before,
        "files outside the repository changed"
    );
    assert_eq!(state(repo.path()), repo_before, "the repository changed");
    for run in &audits {
        let all = everything(run);
        assert!(all.contains("linked-abs"), "{all}");
        assert!(all.contains("leads outside the repository"), "{all}");
        assert!(
            all.contains("\"fine\""),
            "other Kustomizations still render: {all}"
        );
    }
    let all = everything(&previewed);
    assert!(all.contains("linked-rel"), "{all}");
}

// ---------------------------------------------------------------------------

#[test]
fn remote_bases_are_off_by_default_and_one_line_when_unreachable() {
    let url = "https://127.0.0.1:1/org/repo//deploy?ref=main";
    let repo = Repo::new(&flux_ks("remote", "./remote", ""));
    repo.write(
        "remote/kustomization.yaml",
        &format!("resources:\n  - {url}\n"),
    );
    for (flag, reason) in [
        (None, "remote bases are off"),
        (Some("--allow-remote-bases"), "could not be fetched"),
    ] {
        let run = audit(&repo, "json", flag.as_slice());
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", everything(&run)));
        let cluster = &report["clusters"][0];
        // Not an error: a Kustomization flotilla did not render, said once.
        assert_eq!(cluster["errors"], serde_json::json!([]), "{flag:?}");
        let unseen: Vec<&serde_json::Value> = cluster["notRendered"]
            .as_array()
            .expect("notRendered")
            .iter()
            .collect();
        assert_eq!(unseen.len(), 1, "{flag:?}: {unseen:?}");
        assert_eq!(unseen[0]["kustomization"], "flux-system/remote");
        assert_eq!(unseen[0]["reason"], "remote-base");
        let line = unseen[0]["detail"].as_str().expect("detail");
        assert!(line.contains(url), "{line}");
        assert!(line.contains(reason), "{flag:?}: {line}");
        assert!(
            !line.contains('\n') && !line.contains('\t') && !line.contains("\\n"),
            "{line}"
        );
        let text = audit(&repo, "text", flag.as_slice());
        assert_eq!(
            text.stdout.lines().filter(|l| l.contains(url)).count(),
            1,
            "{}",
            text.stdout
        );
        let fine_missing = cluster["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["name"] == "fine");
        assert!(
            fine_missing,
            "the fine ConfigMap is desired (reported missing from the snapshot)"
        );
    }
}

// ---------------------------------------------------------------------------

#[test]
fn kustomize_runs_with_an_empty_environment() {
    let repo = Repo::new("");
    let bin = tempfile::tempdir().expect("temp dir");
    let log = bin.path().join("env.log");
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on PATH");
    let fake = bin.path().join("kustomize");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n/usr/bin/env >> '{}'\necho --- >> '{}'\nshift\nexec '{}' kustomize \"$@\"\n",
            log.display(),
            log.display(),
            kubectl.display()
        ),
    )
    .expect("write fake kustomize");
    std::fs::set_permissions(
        &fake,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let snapshot = snapshot_dir();
    let run = run(
        &[
            "audit",
            "--repo",
            repo.arg(),
            "--cluster",
            "c",
            "--snapshot",
            snapshot.to_str().expect("utf-8"),
        ],
        &canary_env(),
        Some(&path),
    );
    let seen =
        std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {}", everything(&run)));
    assert!(seen.contains("HOME="), "{seen}");
    for block in seen.split("---\n").filter(|b| !b.trim().is_empty()) {
        let vars: BTreeMap<&str, &str> = block.lines().filter_map(|l| l.split_once('=')).collect();
        assert!(
            vars.keys()
                .all(|k| ["HOME", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD"].contains(k)),
            "kustomize saw more than HOME and TMPDIR: {vars:?}"
        );
        for key in ["HOME", "TMPDIR"] {
            assert!(
                vars.get(key).is_some_and(|v| v.contains("flotilla-stage-")),
                "{key} is private: {vars:?}"
            );
        }
    }
    assert!(
        !seen.contains(CANARY_TOKEN) && !seen.contains(CANARY_VAR),
        "{seen}"
    );
    assert_nothing_leaked(&everything(&run), "audit");
}

// ---------------------------------------------------------------------------

#[test]
fn kustomize_errors_never_carry_file_content() {
    let literal = "canary-literal-5e1d0c7a";
    let in_yaml = "canary-yaml-93b2f1aa";
    let repo = Repo::new(&format!(
        "{}{}",
        flux_ks("literal", "./literal", ""),
        flux_ks("yaml", "./yaml", ""),
    ));
    repo.write("literal/kustomization.yaml", "resources: []\n");
    repo.write("yaml/kustomization.yaml", "resources:\n  - cm.yaml\n");
    repo.write(
        "yaml/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    let base = repo.commit("base");
    repo.write(
        "literal/kustomization.yaml",
        &format!(
            "secretGenerator:\n  - name: s\n    namespace: apps\n    literals:\n      - {literal}\n"
        ),
    );
    repo.write(
        "yaml/cm.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: {in_yaml}\n   bad: : x\n"),
    );
    let head = repo.commit("break both");
    let b64 = base64::engine::general_purpose::STANDARD;
    let check = |text: &str, what: &str| {
        for canary in [literal, in_yaml] {
            assert!(!text.contains(canary), "{what}: {canary} leaked:\n{text}");
            assert!(
                !text.contains(&b64.encode(canary)),
                "{what}: base64 leaked:\n{text}"
            );
        }
    };
    for output in ["text", "json", "markdown"] {
        let run = preview(&repo, &base, &head, output, &[]);
        let all = everything(&run);
        check(&all, output);
        // Markdown cells are cut at 80 characters; the other formats are whole.
        if output != "markdown" {
            assert!(
                all.contains("withheld"),
                "{output}: says what it withheld:\n{all}"
            );
        }
        assert!(all.contains("cm.yaml"), "{output}: names the file:\n{all}");
    }
    let run = audit(&repo, "text", &[]);
    check(&everything(&run), "audit");
    assert!(run.stderr.contains("flux-system/literal"), "{}", run.stderr);
}
