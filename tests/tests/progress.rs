//! Progress for people, through the real binary: `audit --targets` and
//! `preview` over more than a handful of clusters print one final line on
//! a pipe or in CI, a line per cluster and a redrawn bar on a terminal (a
//! pseudo-terminal from util-linux `script`), and nothing extra for a
//! handful of clusters.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../support/mod.rs"]
mod support;

fn fixture() -> PathBuf {
    support::workspace_root().join("../shared/fixtures/baseline-cluster")
}

/// A targets file auditing the fixture cluster `n` times, from the clean
/// snapshot, under the names `c1`…`cn`.
fn targets(dir: &Path, n: usize) -> PathBuf {
    let snapshot = fixture().join("snapshot-clean");
    let mut yaml = String::from("clusters:\n");
    for i in 1..=n {
        yaml.push_str(&format!(
            "  - name: c{i}\n    path: clusters/aks-eastus2-01\n    snapshot: {}\n",
            snapshot.display()
        ));
    }
    let path = dir.join(format!("targets-{n}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn audit(targets: &Path, ci: bool) -> support::Run {
    let repo = fixture().join("repo");
    let mut cmd = Command::new(support::flotilla_bin());
    cmd.args(["audit", "--repo", repo.to_str().unwrap(), "--targets"])
        .arg(targets)
        .stdin(Stdio::null());
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    cmd.output().unwrap().into()
}

fn assert_final_line_only(stderr: &str, verb: &str, n: usize) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    let line = lines[0];
    let head = format!("flotilla: {verb} {n} clusters in ");
    assert!(line.starts_with(&head), "{line:?}");
    assert!(
        line.ends_with(&format!("s: {n} done, 0 failed")),
        "{line:?}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
}

#[test]
fn audit_of_many_clusters_on_a_pipe_prints_one_final_line() {
    let tmp = tempfile::tempdir().unwrap();
    let five = targets(tmp.path(), 5);
    for ci in [false, true] {
        let run = audit(&five, ci);
        assert_eq!(run.code, 0, "{run:?}");
        assert_final_line_only(&run.stderr, "audited", 5);
        assert!(run.stdout.contains("c5: no drift"), "{}", run.stdout);
    }
}

#[test]
fn audit_of_a_handful_prints_nothing_extra() {
    let tmp = tempfile::tempdir().unwrap();
    let run = audit(&targets(tmp.path(), 3), false);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
}

/// Run `flotilla args…` on a pseudo-terminal (stdout discarded), returning
/// what the terminal showed.
fn on_terminal(args: &[&str], ci: bool) -> String {
    let quoted: Vec<String> = std::iter::once(support::flotilla_bin().to_str().unwrap())
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} >/dev/null", quoted.join(" ")),
        "/dev/null",
    ])
    .stdin(Stdio::null())
    .env("TERM", "xterm");
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    let out = cmd.output().expect("util-linux `script` runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_each_cluster_is_shown_unless_ci_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let five = targets(tmp.path(), 5);
    let repo = fixture().join("repo");
    let args = [
        "audit",
        "--repo",
        repo.to_str().unwrap(),
        "--targets",
        five.to_str().unwrap(),
    ];
    let shown = on_terminal(&args, false);
    for i in 1..=5 {
        assert!(shown.contains(&format!("✓ c{i} done at ")), "{shown:?}");
    }
    assert!(shown.contains("/5 clusters"), "the bar: {shown:?}");
    assert!(
        shown.contains("flotilla: audited 5 clusters in "),
        "{shown:?}"
    );
    let in_ci = on_terminal(&args, true);
    assert!(
        !in_ci.contains("done at") && !in_ci.contains("/5 clusters"),
        "{in_ci:?}"
    );
    assert_final_line_only(&in_ci.replace("\r\n", "\n"), "audited", 5);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn preview_of_many_clusters_on_a_pipe_prints_one_final_line() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, &["init", "-q", "-b", "main"]);
    let write = |cluster: &str, value: &str| {
        let dir = repo.join("clusters").join(cluster);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [settings.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("settings.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  level: {value}\n"),
        )
        .unwrap();
    };
    for c in ["a", "b", "c", "d"] {
        write(c, "info");
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    write("b", "debug");
    git(repo, &["commit", "-qam", "head"]);
    let out = Command::new(support::flotilla_bin())
        .args([
            "preview", "--repo", ".", "--base", "HEAD~1", "--head", "HEAD",
        ])
        .current_dir(repo)
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run: support::Run = out.into();
    assert_eq!(run.code, 1, "one cluster changes: {run:?}");
    assert_final_line_only(&run.stderr, "previewed", 4);
}
