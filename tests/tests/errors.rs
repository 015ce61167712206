//! Errors reach the user with their cause, each cause once, through the
//! real binary: an API server that refuses the connection or answers 401,
//! a `--crds` folder that does not exist, a repository that does not
//! render (on the command line and in the service's log), and a drift
//! branch push the remote rejects (counted as `git-push`, not as a fetch or
//! GitHub error).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flotilla_repos::github::RetryPolicy;
use flotilla_serve::bot::{Runner, RunnerOptions};
use flotilla_serve::{self as serve, CycleRunner, config::ServeConfig};

#[path = "../support/mod.rs"]
mod support;
#[path = "../support/world.rs"]
mod world;

use support::flotilla;
use world::{CLUSTER, World, git};

/// The kubeconfig token; it must never show.
const TOKEN: &str = "kube-canary-token-731946";

fn fixture() -> PathBuf {
    support::workspace_root().join("../shared/fixtures/baseline-cluster")
}

/// A kubeconfig whose only context points at `server`, with [`TOKEN`].
fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `flotilla audit` of the fixture repository against the cluster `kubeconfig` names.
fn audit_live(kubeconfig: &Path) -> support::Run {
    let repo = fixture().join("repo");
    flotilla(&[
        "audit",
        "--repo",
        repo.to_str().unwrap(),
        "--cluster",
        "aks-eastus2-01",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ])
}

#[test]
fn a_refused_connection_to_the_api_server_shows_the_os_error() {
    let tmp = tempfile::tempdir().unwrap();
    // A port that was just free: nothing listens on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = kubeconfig(tmp.path(), &format!("http://127.0.0.1:{port}"));
    let run = audit_live(&config);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("Connection refused"),
        "no os error: {}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN), "{}", run.stderr);
}

/// An API server that answers every request 401, as kube-apiserver does
/// for a token it does not accept.
fn unauthorized_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

#[test]
fn a_401_from_the_api_server_shows_unauthorized_and_never_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let config = kubeconfig(tmp.path(), &unauthorized_server());
    let run = audit_live(&config);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("401 Unauthorized"),
        "no cause: {}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN), "{}", run.stderr);
    assert!(!run.stdout.contains(TOKEN), "{}", run.stdout);
}

#[test]
fn a_missing_crds_folder_shows_the_os_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing/");
    let repo = fixture().join("repo");
    let run = flotilla(&[
        "preview",
        "--repo",
        repo.to_str().unwrap(),
        "--base",
        "HEAD",
        "--head",
        "HEAD",
        "--crds",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("No such file or directory"),
        "no os error: {}",
        run.stderr
    );
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
}

/// A git repository whose cluster `c` does not render: its entry path's
/// kustomization reaches outside the repository.
fn unrenderable_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("clusters/c")).unwrap();
    std::fs::write(
        repo.join("clusters/c/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../../outside.yaml\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "broken",
        ],
    );
    repo
}

const CAUSE: &str = "leads outside the repository";

#[test]
fn a_render_error_prints_its_cause_once_on_the_command_line_and_in_the_service_log() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = unrenderable_repo(tmp.path());
    let snapshot = fixture().join("snapshot-clean");
    let run = flotilla(&[
        "audit",
        "--repo",
        repo.to_str().unwrap(),
        "--cluster",
        "c",
        "--snapshot",
        snapshot.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.matches(CAUSE).count(), 1, "{}", run.stderr);

    // The service logs the same failure with its causes.
    let config = tmp.path().join("serve.yaml");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = kubeconfig(tmp.path(), &format!("http://127.0.0.1:{port}"));
    std::fs::write(
        &config,
        format!(
            "repo:\n  url: file://{}\n  branch: main\n  checkoutDir: {}\nclusters:\n  - name: c\n    context: c\n    kubeconfig: {}\nschedule:\n  interval: 1h\nwatch:\n  enabled: false\nlisten: 127.0.0.1:0\n",
            repo.display(),
            tmp.path().join("checkout").display(),
            kubeconfig.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(support::flotilla_bin())
        .args(["serve", "--json-logs=false", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    let failed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("cluster audit failed") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = failed.unwrap_or_else(|| panic!("no failed audit logged: {seen:#?}"));
    assert_eq!(line.matches(CAUSE).count(), 1, "{line}");
    assert!(line.contains("cannot render desired state"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_drift_branch_push_counts_as_git_push() {
    let world = World::start().await;
    // The remote refuses every push, as a protected server would.
    let hook = world.git.bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'pushes are frozen by policy' >&2\nexit 1\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = world.serve_config("a", 0, "300ms", "  enabled: false");
    let mut config = ServeConfig::load(&path).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let options = RunnerOptions {
        github_retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
        ..RunnerOptions::default()
    };
    let runner = Runner::new(config.clone(), options).unwrap();

    // One publish, step by step: the error is the push's.
    let fetched = runner.fetch().await.unwrap();
    let audit = runner.audit(CLUSTER, &fetched.revision).await.unwrap();
    assert!(!audit.report.findings.is_empty(), "the fixture drifts");
    let err = runner
        .publish(std::slice::from_ref(&audit.report))
        .await
        .unwrap_err();
    assert_eq!(err.metric_label(), "git-push", "{err:?}");
    let chain = serve::error_chain(&err);
    assert!(chain.contains("pre-receive hook declined"), "{chain}");

    // The service counts it so.
    let listener = serve::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = serve::shutdown_channel();
    let service =
        tokio::spawn(
            async move { serve::run(&config, runner, Vec::new(), listener, shutdown).await },
        );
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let text = scrape(addr).await;
        if text
            .lines()
            .any(|l| l.starts_with("flotilla_publish_failures_total{error=\"git-push\"}"))
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no git-push failure counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("flotilla_github_errors_total{")),
        "a push is not a github error: {metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "flotilla_git_fetch_errors_total 0"),
        "a push is not a fetch error: {metrics}"
    );
    trigger.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(20), service).await;
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}
