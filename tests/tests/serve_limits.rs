//! `flotilla serve` (the real binary) under a low open-file limit keeps
//! answering its probes while hundreds of idle connections hold its port,
//! and gives their descriptors back once the header-read timeout passes.
//!
//! The service audits one cluster whose API server does not answer, against
//! the fixture repository cloned bare into a temporary folder: enough for a
//! live service, with no network.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/mod.rs"]
mod support;

/// `ulimit -n` of the service.
const FD_LIMIT: usize = 128;
/// Idle connections the test holds.
const IDLE: usize = 300;

fn fixture_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster/repo.bundle")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service process, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serve {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn is_alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Open descriptors of the process.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }
}

/// `flotilla serve` under `ulimit -n FD_LIMIT`, listening on `port`.
fn start_serve(tmp: &Path, port: u16) -> Serve {
    let bare = tmp.join("fleet.git");
    let status = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(fixture_bundle())
        .arg(&bare)
        .output()
        .unwrap();
    assert!(status.status.success(), "git clone of the fixture bundle");
    let kubeconfig = tmp.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: gone\nusers:\n- name: gone\n  user: {}\n",
    )
    .unwrap();
    let config = tmp.join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "repo:\n  url: {bare}\n  checkoutDir: {checkout}\nclusters:\n  - name: aks-eastus2-01\n    context: gone\n    kubeconfig: {kubeconfig}\nschedule:\n  interval: 1h\nwatch:\n  enabled: false\nlisten: 127.0.0.1:{port}\nauditTimeout: 5s\n",
            bare = bare.display(),
            checkout = tmp.join("checkout").display(),
            kubeconfig = kubeconfig.display(),
        ),
    )
    .unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT}; exec \"$0\" serve --config \"$1\" --json-logs"
        ))
        .arg(support::flotilla_bin())
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Serve(child)
}

/// `GET path` on a new connection: status and body, or an error (connect,
/// timeout) as text.
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: flotilla\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no http response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}

#[test]
fn probes_answer_while_hundreds_of_idle_connections_hold_the_port() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut serve = start_serve(tmp.path(), port);

    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/healthz", Duration::from_secs(1)).map(|r| r.0) != Ok(200) {
        assert!(serve.is_alive(), "serve exited early");
        assert!(Instant::now() < deadline, "serve never answered /healthz");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the first cycle (fetch, render, a refused audit) settle.
    std::thread::sleep(Duration::from_secs(2));
    let before = serve.open_fds();

    // Half say nothing, half send half a request line; all stay open on
    // this side. A service that stops accepting lets its listen backlog
    // fill up, and then connecting times out (3 s leaves room for one SYN
    // retransmission on a busy machine): stop there, the probes below tell
    // the rest.
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
            eprintln!("connection {i} timed out: the service no longer accepts");
            break;
        };
        if i % 2 == 1 {
            let _ = s.write_all(b"GET /metr");
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let under_load = serve.open_fds();

    let started = Instant::now();
    let healthz = get(addr, "/healthz", Duration::from_secs(2));
    let healthz_took = started.elapsed();
    assert_eq!(
        healthz.as_ref().map(|(s, b)| (*s, b.as_str())),
        Ok((200, "ok\n")),
        "/healthz with {} idle connections",
        idle.len()
    );
    assert_eq!(idle.len(), IDLE, "every connection was taken");
    let started = Instant::now();
    let metrics = get(addr, "/metrics", Duration::from_secs(2));
    let metrics_took = started.elapsed();
    let (status, body) = metrics.expect("/metrics answers");
    assert_eq!(status, 200);
    assert!(body.contains("flotilla_audit_runs_total"), "{body}");
    assert!(serve.is_alive(), "serve died under idle connections");

    // After the header-read timeout (5 s) every idle connection is closed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let open = serve.open_fds();
        if open <= before + 2 {
            break open;
        }
        assert!(
            Instant::now() < deadline,
            "{open} descriptors still open (before the idle connections: {before})"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(serve.is_alive());
    assert_eq!(
        get(addr, "/healthz", Duration::from_secs(2)).map(|r| r.0),
        Ok(200)
    );
    eprintln!(
        "fds: {before} before, {under_load} with {IDLE} idle connections (limit {FD_LIMIT}), {after} after the timeout; /healthz {healthz_took:?}, /metrics {metrics_took:?}"
    );
    drop(idle);
}
