//! `flotilla serve` (the real binary) over the recorded drifted cluster,
//! for tests that look at what it serves (the browser test, the metrics
//! the monitoring rules use).

#![allow(dead_code)] // each test file uses a different part

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flotilla_tests::replay::ReplayServer;

use super::support;

/// The fixture's cluster.
pub const CLUSTER: &str = "aks-eastus2-01";

/// `../shared/fixtures/baseline-cluster`.
pub fn fixture() -> PathBuf {
    support::workspace_root().join("../shared/fixtures/baseline-cluster")
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "{what} exited early");
        assert!(Instant::now() < deadline, "{what} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET over plain HTTP/1.1, body only.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: flotilla\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// `flotilla serve` over the fixture: the repository cloned from its
/// bundle, the cluster's API server replayed from `snapshot-drifted`, no
/// pull requests, one audit an hour (the first at start).
pub fn start_service(tmp: &Path, replay: &ReplayServer) -> (Killed, SocketAddr) {
    let repo = tmp.join("repo");
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(fixture().join("repo.bundle"))
        .arg(&repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", tmp)
        .status()
        .unwrap();
    assert!(status.success(), "clone the fixture bundle");
    let kubeconfig = tmp.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: replay\nclusters:\n- name: replay\n  cluster:\n    server: {}\ncontexts:\n- name: replay\n  context:\n    cluster: replay\n    user: replay\nusers:\n- name: replay\n  user: {{}}\n",
            replay.url
        ),
    )
    .unwrap();
    let port = free_port();
    let config = tmp.join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "repo:\n  url: {repo}\n  branch: main\n  checkoutDir: {checkout}\nclusters:\n  - name: {CLUSTER}\n    context: replay\n    kubeconfig: {kubeconfig}\nschedule:\n  interval: 1h\nwatch:\n  enabled: false\nlisten: 127.0.0.1:{port}\n",
            repo = repo.display(),
            checkout = tmp.join("checkout").display(),
            kubeconfig = kubeconfig.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(tmp.join("serve.log")).unwrap();
    let child = Command::new(support::flotilla_bin())
        .args(["serve", "--json-logs", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut service = Killed(child);
    wait_for_port(port, &mut service.0, "flotilla serve");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(addr, "/readyz").trim() != "ready" {
        let logs = std::fs::read_to_string(tmp.join("serve.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "never ready:\n{logs}");
        assert!(
            service.0.try_wait().unwrap().is_none(),
            "serve exited:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (service, addr)
}
