//! The outside world of `flotilla serve` for the end-to-end tests that run
//! several replicas: the fixture repository behind `git daemon` (push
//! enabled, every push logged and mirrored into the GitHub double as GitHub
//! would see it), the drifted cluster replayed by an API server that also
//! holds Leases, and the GitHub double.

#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla_tests::github_double::{DOUBLE_TOKEN, GitHubDouble};
use flotilla_tests::replay::ReplayServer;

/// The audited cluster.
pub const CLUSTER: &str = "aks-eastus2-01";
/// Its drift branch.
pub const BRANCH: &str = "flotilla/drift/aks-eastus2-01";
/// GitHub owner of the fixture repository.
pub const OWNER: &str = "contoso";
/// GitHub name of the fixture repository.
pub const REPO: &str = "fleet";

/// `shared/fixtures/baseline-cluster`.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster")
}

/// Run git in `dir`, panicking with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A port nobody listens on (yet).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something listens on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fixture repository behind `git daemon`, killed on drop.
pub struct GitServer {
    /// The bare repository.
    pub bare: PathBuf,
    /// `git://127.0.0.1:<port>/contoso/fleet.git`.
    pub url: String,
    /// One line `<old> <new> <ref>` per ref a push updated.
    pub push_log: PathBuf,
    daemon: Child,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl GitServer {
    /// Clone the fixture bundle bare under `base` and serve it.
    pub fn start(base: &Path, double: &GitHubDouble) -> GitServer {
        let bare = base.join(OWNER).join(format!("{REPO}.git"));
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        let bundle = fixture().join("repo.bundle");
        git(
            base,
            &[
                "clone",
                "-q",
                "--bare",
                bundle.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let push_log = base.join("pushes.log");
        install_hook(&bare, &double.url(), &push_log);
        let port = free_port();
        let daemon = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                &format!("--base-path={}", base.display()),
                "--listen=127.0.0.1",
                &format!("--port={port}"),
            ])
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        GitServer {
            bare,
            url: format!("git://127.0.0.1:{port}/{OWNER}/{REPO}.git"),
            push_log,
            daemon,
        }
    }

    /// Every ref update pushed so far, `(old, new, ref)`.
    pub fn pushes(&self) -> Vec<(String, String, String)> {
        std::fs::read_to_string(&self.push_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                Some((
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                ))
            })
            .collect()
    }

    /// The branch's commit on the server.
    pub fn head(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .current_dir(&self.bare)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    }
}

/// Log each pushed ref, and let GitHub learn about it: PATCH the ref, or
/// create it.
fn install_hook(bare: &Path, api: &str, log: &Path) {
    let hook = bare.join("hooks/post-receive");
    let script = format!(
        r#"#!/bin/sh
api="{api}/repos/{OWNER}/{REPO}/git/refs"
while read old new ref; do
  echo "$old $new $ref" >> "{log}"
  code=$(curl -s -o /dev/null -w '%{{http_code}}' -X PATCH -H "Authorization: token {DOUBLE_TOKEN}" \
    -H 'Content-Type: application/json' -d "{{\"sha\":\"$new\",\"force\":true}}" "$api/${{ref#refs/}}")
  if [ "$code" != 200 ]; then
    curl -s -o /dev/null -X POST -H "Authorization: token {DOUBLE_TOKEN}" \
      -H 'Content-Type: application/json' -d "{{\"ref\":\"$ref\",\"sha\":\"$new\"}}" "$api"
  fi
done
"#,
        log = log.display()
    );
    std::fs::write(&hook, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A kubeconfig whose only context, `replay`, points at `server`.
pub fn write_kubeconfig(path: &Path, server: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: replay\nclusters:\n- name: replay\n  cluster:\n    server: {server}\ncontexts:\n- name: replay\n  context:\n    cluster: replay\n    user: replay\nusers:\n- name: replay\n  user: {{}}\n"
    );
    std::fs::write(path, text).unwrap();
}

/// Everything a scenario needs, in one temporary folder.
pub struct World {
    /// The folder (checkouts, kubeconfig, token, configs).
    pub tmp: tempfile::TempDir,
    /// GitHub.
    pub double: GitHubDouble,
    /// Git.
    pub git: GitServer,
    /// The cluster, and the Leases.
    pub replay: ReplayServer,
}

impl World {
    /// Start the three servers.
    pub async fn start() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let double = GitHubDouble::start(OWNER, REPO).await;
        let git = GitServer::start(&tmp.path().join("srv"), &double);
        let replay = ReplayServer::start(fixture().join("snapshot-drifted"))
            .await
            .unwrap();
        write_kubeconfig(&tmp.path().join("kubeconfig"), &replay.url);
        std::fs::write(tmp.path().join("github-token"), format!("{DOUBLE_TOKEN}\n")).unwrap();
        World {
            tmp,
            double,
            git,
            replay,
        }
    }

    /// A serve config for one replica: its own checkout and port, PRs on
    /// (adopting modified and unmanaged objects), schedule `interval`, and
    /// `leader_election` (YAML of the section's fields, indented by two).
    pub fn serve_config(
        &self,
        replica: &str,
        port: u16,
        interval: &str,
        leader_election: &str,
    ) -> PathBuf {
        let dir = self.tmp.path();
        let yaml = format!(
            r#"repo:
  url: {url}
  branch: main
  checkoutDir: {checkout}
clusters:
  - name: {CLUSTER}
    context: replay
    kubeconfig: {kubeconfig}
schedule:
  interval: {interval}
watch:
  enabled: false
pr:
  enabled: true
  labels: [drift, flotilla]
  actions:
    modified: adopt
    unmanaged: adopt
  github:
    url: {api}
    auth:
      tokenFile: {token}
listen: 127.0.0.1:{port}
auditTimeout: 30s
backoff:
  initial: 200ms
  max: 1s
leaderElection:
{leader_election}
"#,
            url = self.git.url,
            checkout = dir.join(format!("checkout-{replica}")).display(),
            kubeconfig = dir.join("kubeconfig").display(),
            api = self.double.url(),
            token = dir.join("github-token").display(),
        );
        let path = dir.join(format!("serve-{replica}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }
}
