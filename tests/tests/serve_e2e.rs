//! `flotilla serve` end to end with real parts: the fixture repository
//! served by `git daemon` (push enabled), the recorded cluster replayed by
//! an HTTP API server, kustomize through `kubectl kustomize`, and the
//! stateful GitHub double. A post-receive hook mirrors pushed branches into
//! the double, as GitHub would, so a PR can be opened on what was pushed.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla_auditor::audit::{self, AuditedCluster, Checkout, LiveTarget};
use flotilla_core::diff::DiffOptions;
use flotilla_core::findings::{ClusterReport, FindingClass};
use flotilla_render::RenderOptions;
use flotilla_repos::github::RetryPolicy;
use flotilla_serve::bot::drift_pr::HELD_MARKER;
use flotilla_serve::bot::{Runner, RunnerOptions};
use flotilla_serve::config::ServeConfig;
use flotilla_serve::{self as serve, CycleRunner};
use flotilla_tests::github_double::{DOUBLE_TOKEN, DoubleCommit, GitHubDouble, sha_of};
use flotilla_tests::replay::ReplayServer;

#[path = "../support/mod.rs"]
mod support;

const CLUSTER: &str = "aks-eastus2-01";
const BRANCH: &str = "flotilla/drift/aks-eastus2-01";
const OWNER: &str = "contoso";
const ADOPT: &str = "    modified: adopt\n    unmanaged: adopt";
const REPO: &str = "fleet";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/baseline-cluster")
}

/// Every form of a secret value the fixture holds, plain and base64.
fn secret_values() -> Vec<String> {
    let mut out = vec![
        "admin:$apr1$fake$hash".to_owned(),
        "YWRtaW46JGFwcjEkZmFrZSRoYXNo".to_owned(),
    ];
    let path = fixture().join("snapshot-drifted/objects/core_v1_secrets.json");
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for item in list["items"].as_array().unwrap() {
        for value in item["data"]
            .as_object()
            .into_iter()
            .flat_map(|d| d.values())
        {
            let b64 = value.as_str().unwrap().to_owned();
            use base64::Engine;
            let plain = base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .unwrap();
            out.push(String::from_utf8(plain).unwrap());
            out.push(b64);
        }
    }
    assert!(out.len() >= 4, "the drifted secret was found");
    out
}

fn assert_no_secret(text: &str, what: &str) {
    for s in secret_values() {
        assert!(!text.contains(&s), "{what} leaks a secret value");
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
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

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fixture repository behind `git daemon`, killed on drop.
struct GitServer {
    bare: PathBuf,
    url: String,
    daemon: Child,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl GitServer {
    fn start(base: &Path, double: &GitHubDouble) -> GitServer {
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
        install_mirror_hook(&bare, &double.url());
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
            daemon,
        }
    }

    /// The branch's commit on the server.
    fn head(&self, branch: &str) -> Option<String> {
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

/// GitHub learns about pushed branches: PATCH the ref, or create it.
fn install_mirror_hook(bare: &Path, api: &str) {
    let hook = bare.join("hooks/post-receive");
    let script = format!(
        r#"#!/bin/sh
api="{api}/repos/{OWNER}/{REPO}/git/refs"
while read old new ref; do
  code=$(curl -s -o /dev/null -w '%{{http_code}}' -X PATCH -H "Authorization: token {DOUBLE_TOKEN}" \
    -H 'Content-Type: application/json' -d "{{\"sha\":\"$new\",\"force\":true}}" "$api/${{ref#refs/}}")
  if [ "$code" != 200 ]; then
    curl -s -o /dev/null -X POST -H "Authorization: token {DOUBLE_TOKEN}" \
      -H 'Content-Type: application/json' -d "{{\"ref\":\"$ref\",\"sha\":\"$new\"}}" "$api"
  fi
done
"#
    );
    std::fs::write(&hook, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A kubeconfig whose only context points at `server`.
fn write_kubeconfig(path: &Path, server: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: replay\nclusters:\n- name: replay\n  cluster:\n    server: {server}\ncontexts:\n- name: replay\n  context:\n    cluster: replay\n    user: replay\nusers:\n- name: replay\n  user: {{}}\n"
    );
    std::fs::write(path, text).unwrap();
}

/// Everything one scenario needs.
struct World {
    tmp: tempfile::TempDir,
    double: GitHubDouble,
    git: GitServer,
    replay: ReplayServer,
    config: ServeConfig,
}

impl World {
    async fn start(interval: &str) -> World {
        World::start_with(interval, ADOPT).await
    }

    /// `actions` is the YAML of `pr.actions` (indented under it).
    async fn start_with(interval: &str, actions: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let double = GitHubDouble::start(OWNER, REPO).await;
        let git = GitServer::start(&tmp.path().join("srv"), &double);
        let replay = ReplayServer::start(fixture().join("snapshot-drifted"))
            .await
            .unwrap();
        let kubeconfig = tmp.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &replay.url);
        let token = tmp.path().join("github-token");
        std::fs::write(&token, format!("{DOUBLE_TOKEN}\n")).unwrap();
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
{actions}
  github:
    url: {api}
    auth:
      tokenFile: {token}
listen: 127.0.0.1:0
auditTimeout: 20s
backoff:
  initial: 200ms
  max: 1s
"#,
            url = git.url,
            checkout = tmp.path().join("checkout").display(),
            kubeconfig = kubeconfig.display(),
            api = double.url(),
            token = token.display(),
        );
        let path = tmp.path().join("serve.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = ServeConfig::load(&path).unwrap();
        World {
            tmp,
            double,
            git,
            replay,
            config,
        }
    }

    /// A runner as a fresh pod would build it (own checkout dir when
    /// `checkout` differs), with quick GitHub retries.
    fn runner(&self, checkout: &str) -> Runner {
        self.runner_for(self.config.clone(), checkout)
    }

    fn runner_for(&self, mut config: ServeConfig, checkout: &str) -> Runner {
        config.repo.checkout_dir = self.tmp.path().join(checkout);
        let options = RunnerOptions {
            github_retry: RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(5),
            },
            ..RunnerOptions::default()
        };
        Runner::new(config, options).unwrap()
    }

    /// Point the cluster's kubeconfig at another API server.
    fn point_at(&self, server: &str) {
        write_kubeconfig(&self.tmp.path().join("kubeconfig"), server);
    }
}

/// One service cycle, step by step, as the loop runs it.
async fn cycle(runner: &Runner) -> ClusterReport {
    let fetched = runner.fetch().await.unwrap();
    let audit = runner.audit(CLUSTER, &fetched.revision).await.unwrap();
    runner
        .publish(std::slice::from_ref(&audit.report))
        .await
        .unwrap();
    audit.report
}

fn summary(report: &ClusterReport) -> Vec<(FindingClass, String, String)> {
    let mut s: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.class, f.kind.clone(), f.name.clone()))
        .collect();
    s.sort();
    s
}

/// Audit the pushed branch against the same drifted cluster.
async fn audit_branch(world: &World) -> ClusterReport {
    let dir = world.tmp.path().join("verify");
    let _ = std::fs::remove_dir_all(&dir);
    git(
        world.tmp.path(),
        &[
            "clone",
            "-q",
            "-b",
            BRANCH,
            world.git.bare.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    let target = AuditedCluster {
        name: CLUSTER.to_owned(),
        entry: AuditedCluster::default_entry(CLUSTER),
        live: LiveTarget::Snapshot(fixture().join("snapshot-drifted")),
        hub: None,
    };
    let checkout = Checkout {
        root: dir,
        revision: None,
    };
    audit::audit_target(
        &checkout,
        &target,
        &RenderOptions::default(),
        &DiffOptions::default(),
    )
    .await
}

/// Push a commit by a person to the drift branch on the git server.
fn push_human_commit(world: &World) -> String {
    let dir = world.tmp.path().join("human");
    git(
        world.tmp.path(),
        &[
            "clone",
            "-q",
            "-b",
            BRANCH,
            world.git.bare.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    std::fs::write(dir.join("clusters/aks-eastus2-01/NOTE.md"), "keep this\n").unwrap();
    git(&dir, &["add", "."]);
    git(
        &dir,
        &[
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.com",
            "commit",
            "-q",
            "-m",
            "alice: hold on",
        ],
    );
    git(&dir, &["push", "-q", "origin", BRANCH]);
    git(&dir, &["rev-parse", "HEAD"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_pr_lifecycle_against_real_git_and_the_github_double() {
    let world = World::start("1h").await;
    let runner = world.runner("checkout");

    // 1. One cycle opens exactly one PR, on a branch pushed to the server.
    let report = cycle(&runner).await;
    assert_eq!(report.findings.len(), 10, "{:#?}", summary(&report));
    let pulls = world.double.open_pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.head, BRANCH);
    assert_eq!(pr.title, "flotilla: drift in aks-eastus2-01");
    assert_eq!(world.double.labels(pr.number), ["drift", "flotilla"]);
    assert!(pr.body.contains("| "), "findings table: {}", pr.body);
    assert!(pr.body.contains("traefik-basic-auth"), "{}", pr.body);
    assert!(pr.body.contains("### Not adopted"), "{}", pr.body);
    assert!(pr.body.contains("flotilla:fingerprint="), "{}", pr.body);
    assert_no_secret(&pr.body, "the pr body");
    let pushed = world.git.head(BRANCH).expect("drift branch pushed");
    assert_eq!(
        world.double.ref_sha(&format!("heads/{BRANCH}")),
        Some(pushed.clone())
    );

    // One commit by the bot, on top of the audited commit, only under the
    // cluster's folder.
    let who = git(
        &world.git.bare,
        &["log", "-1", "--format=%an <%ae> %ce", &pushed],
    );
    assert_eq!(who, "flotilla <flotilla@localhost> flotilla@localhost");
    let main = world.git.head("main").unwrap();
    assert_eq!(
        git(&world.git.bare, &["rev-parse", &format!("{pushed}^")]),
        main
    );
    let changed = git(&world.git.bare, &["diff", "--name-only", &main, &pushed]);
    assert!(
        changed
            .lines()
            .all(|p| p.starts_with("clusters/aks-eastus2-01/")),
        "{changed}"
    );

    // The pushed branch settles every adopted finding.
    let after = audit_branch(&world).await;
    assert!(after.errors.is_empty(), "{:?}", after.errors);
    let (carriers, rest): (Vec<_>, Vec<_>) = after.findings.iter().partition(|f| {
        f.class == FindingClass::Modified
            && f.kind == "Kustomization"
            && f.paths.iter().all(|p| p.path == "/spec/patches")
    });
    let carriers: Vec<_> = carriers.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(carriers, ["ingress", "kured", "namespaces"]);
    let mut rest: Vec<_> = rest
        .iter()
        .map(|f| (f.class, f.kind.as_str(), f.name.as_str()))
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        [
            (FindingClass::Modified, "Secret", "traefik-basic-auth"),
            (FindingClass::Missing, "NetworkPolicy", "default-deny"),
            (FindingClass::FluxUnhealthy, "Kustomization", "ingress"),
            (FindingClass::FluxSuspended, "Kustomization", "kured"),
        ]
    );

    // 2. Same drift again: no push, no new PR, nothing edited.
    let posts = world
        .double
        .requests_to("POST", "/repos/contoso/fleet/pulls");
    let patches = world.double.requests_to(
        "PATCH",
        &format!("/repos/contoso/fleet/pulls/{}", pr.number),
    );
    let calls_before = world.double.request_log().len();
    cycle(&runner).await;
    // A budget, not a count: a steady-state cycle costs GitHub at most three
    // reads (today the PR, its commits, the PR again) and no write, so that
    // a fleet's cycles stay far inside the rate limit.
    let calls: Vec<_> = world.double.request_log()[calls_before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(calls.len() <= 3, "{calls:#?}");
    assert!(calls.iter().all(|c| c.starts_with("GET ")), "{calls:#?}");
    assert_eq!(world.git.head(BRANCH), Some(pushed.clone()));
    assert_eq!(world.double.pulls().len(), 1);
    assert_eq!(world.double.open_pulls()[0].body, pr.body);
    assert_eq!(
        world
            .double
            .requests_to("POST", "/repos/contoso/fleet/pulls"),
        posts
    );
    assert_eq!(
        world.double.requests_to(
            "PATCH",
            &format!("/repos/contoso/fleet/pulls/{}", pr.number)
        ),
        patches
    );

    // A restarted service (new runner, fresh checkout) finds its PR again.
    let restarted = world.runner("checkout-after-restart");
    cycle(&restarted).await;
    assert_eq!(world.double.pulls().len(), 1);
    assert_eq!(world.git.head(BRANCH), Some(pushed.clone()));

    // 4. A person pushed to the branch: no force-push, one comment.
    let human = push_human_commit(&world);
    world.double.push(
        BRANCH,
        DoubleCommit::human(&sha_of("alice"), "Alice", "alice@example.com"),
    );
    cycle(&restarted).await;
    cycle(&restarted).await;
    assert_eq!(
        world.git.head(BRANCH),
        Some(human),
        "force-pushed over a person's commit"
    );
    let held: Vec<_> = world
        .double
        .comments(pr.number)
        .into_iter()
        .filter(|c| c.body.contains(HELD_MARKER))
        .collect();
    assert_eq!(held.len(), 1, "one comment per drift: {held:#?}");
    assert_no_secret(&held[0].body, "the comment");

    // 3. Drift gone: the PR is closed with a comment naming the revision.
    let clean = ReplayServer::start(fixture().join("snapshot-clean"))
        .await
        .unwrap();
    world.point_at(&clean.url);
    let report = cycle(&restarted).await;
    assert!(report.findings.is_empty(), "{:#?}", summary(&report));
    assert!(world.double.open_pulls().is_empty());
    let comments = world.double.comments(pr.number);
    let last = comments.last().unwrap();
    let revision = report.revision.unwrap();
    assert_eq!(last.body, format!("drift is gone at {revision}"));
}

/// GET over plain HTTP/1.1, body only.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: flotilla\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The value of the first sample whose line starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Poll `/metrics` until `check` holds (at most 20 s).
async fn wait_for_metrics(addr: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = http_get(addr, "/metrics").await;
        if check(&m) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_backs_off_on_github_errors_and_survives_an_api_server_outage() {
    let world = World::start("300ms").await;
    // 5. The first publish meets 429s with Retry-After (more than the
    // client retries), so the cycle fails and the loop backs off.
    world.double.fail_next(2, 429, &[("retry-after", "1")]);
    let listener = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = serve::shutdown_channel();
    let config = world.config.clone();
    let runner = world.runner("checkout");
    let service =
        tokio::spawn(
            async move { serve::run(&config, runner, Vec::new(), listener, shutdown).await },
        );

    let up = format!("flotilla_up{{cluster=\"{CLUSTER}\"}}");
    let gh_errors = "flotilla_github_errors_total";
    let m = wait_for_metrics(addr, "a github error and then a pr", |m| {
        sample(m, gh_errors).is_some_and(|v| v >= 1.0)
    })
    .await;
    assert!(m.contains("rate-limited"), "{m}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while world.double.open_pulls().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pr after the backoff"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(world.double.open_pulls().len(), 1);

    // 6. The API server dies: the service keeps going and says so.
    let before =
        wait_for_metrics(addr, "a successful audit", |m| sample(m, &up) == Some(1.0)).await;
    let last_success =
        format!("flotilla_last_successful_audit_timestamp_seconds{{cluster=\"{CLUSTER}\"}}");
    let first_success = sample(&before, &last_success).unwrap();
    world.replay.kill();
    let down = wait_for_metrics(addr, "flotilla_up 0", |m| sample(m, &up) == Some(0.0)).await;
    assert!(
        down.lines()
            .any(|l| l.starts_with("flotilla_audit_failures_total")
                && l.contains("apiserver-unreachable")
                && !l.ends_with(" 0")),
        "{down}"
    );
    world.replay.restart().await.unwrap();
    let back = wait_for_metrics(addr, "flotilla_up 1 again", |m| sample(m, &up) == Some(1.0)).await;
    assert!(
        sample(&back, &last_success).unwrap() > first_success,
        "{back}"
    );
    assert!(!http_get(addr, "/healthz").await.trim().is_empty());

    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(20), service)
        .await
        .expect("service stops on shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(
        world.double.pulls().len(),
        1,
        "no duplicate pr across cycles"
    );
}

#[test]
fn serve_with_a_bad_config_exits_2_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("serve.yaml");
    std::fs::write(
        &path,
        "repo:\n  url: https://github.com/contoso/fleet.git\nclusters:\n  - name: a\n    inCluster: true\n    colour: blue\n",
    )
    .unwrap();
    let run = support::flotilla(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    let named = format!("{}:6:", path.display());
    assert!(run.stderr.contains(&named), "{}", run.stderr);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_answers_probes_and_exits_0_on_sigterm() {
    let world = World::start("1h").await;
    let port = free_port();
    let text = std::fs::read_to_string(world.tmp.path().join("serve.yaml"))
        .unwrap()
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"));
    let path = world.tmp.path().join("serve-bin.yaml");
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(support::flotilla_bin())
        .args(["serve", "--config", path.to_str().unwrap(), "--json-logs"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => http_get(addr, "/readyz").await,
            Err(_) => String::new(),
        };
        if ready.trim() == "ready" {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while world.double.open_pulls().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary opened no pr"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve ignored sigterm"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut logs = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{logs}");
    let first = logs.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "json logs: {first}"
    );
    assert_no_secret(&logs, "the logs");
    assert!(
        !logs.contains(DOUBLE_TOKEN),
        "the logs leak the github token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_targets_are_the_types_git_declares() {
    let world = World::start("1h").await;
    let runner = world.runner("checkout");
    let fetched = runner.fetch().await.unwrap();
    let targets = runner.watch_targets(&fetched.revision).await;
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].cluster, CLUSTER);
    let kinds: Vec<(&str, &str)> = targets[0]
        .resources
        .iter()
        .map(|r| (r.api_version.as_str(), r.kind.as_str()))
        .collect();
    for want in [
        ("apps/v1", "DaemonSet"),
        ("v1", "ConfigMap"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ] {
        assert!(kinds.contains(&want), "{want:?} not watched: {kinds:?}");
    }
    assert!(
        !kinds.contains(&("v1", "Pod")),
        "pods are not declared: {kinds:?}"
    );

    // Unreachable at start: not watched, no error.
    world.replay.kill();
    let fresh = world.runner("checkout-2");
    let fetched = fresh.fetch().await.unwrap();
    assert!(fresh.watch_targets(&fetched.revision).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_only_drift_gets_a_pr_whose_only_change_is_the_report() {
    let world = World::start_with("1h", "    modified: report-only").await;
    let runner = world.runner("checkout");
    cycle(&runner).await;
    let pulls = world.double.open_pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert!(
        pulls[0].body.contains("0 of 10 findings"),
        "{}",
        pulls[0].body
    );
    assert!(
        pulls[0].body.contains("report-only by configuration"),
        "{}",
        pulls[0].body
    );
    let changed = git(
        &world.git.bare,
        &[
            "diff",
            "--name-only",
            "main",
            &format!("refs/heads/{BRANCH}"),
        ],
    );
    assert_eq!(changed, "clusters/aks-eastus2-01/flotilla-drift/REPORT.md");
    let report = git(
        &world.git.bare,
        &["show", &format!("refs/heads/{BRANCH}:{changed}")],
    );
    assert!(report.contains("traefik-basic-auth"), "{report}");
    assert_no_secret(&report, "REPORT.md");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clusters_github_failure_does_not_stop_the_others() {
    let world = World::start("1h").await;
    let mut config = world.config.clone();
    let mut second = config.clusters[0].clone();
    second.name = "zz-second".to_owned();
    config.clusters.push(second);
    let runner = world.runner_for(config, "checkout");
    let fetched = runner.fetch().await.unwrap();
    let mut reports = Vec::new();
    for cluster in [CLUSTER, "zz-second"] {
        reports.push(
            runner
                .audit(cluster, &fetched.revision)
                .await
                .unwrap()
                .report,
        );
    }
    // Every attempt of the first cluster's first call fails (502).
    world
        .double
        .fail_next_to("GET", "/repos/contoso/fleet/pulls", 2, 502);
    let err = runner.publish(&reports).await.unwrap_err();
    assert_eq!(err.metric_label(), "github", "{err}");
    assert!(
        matches!(
            err,
            serve::Error::GitHub {
                kind: serve::GitHubErrorKind::ServerError,
                ..
            }
        ),
        "{err:?}"
    );
    let heads: Vec<_> = world
        .double
        .open_pulls()
        .into_iter()
        .map(|p| p.head)
        .collect();
    assert_eq!(heads, ["flotilla/drift/zz-second"]);
    assert_eq!(
        world.git.head(BRANCH),
        None,
        "the failed cluster pushed nothing"
    );

    // The next publish completes the first cluster too.
    runner.publish(&reports).await.unwrap();
    assert_eq!(world.double.open_pulls().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_and_cycles_on_one_commit_share_the_kustomize_builds() {
    let world = World::start("1h").await;
    let mut config = world.config.clone();
    let mut twin = config.clusters[0].clone();
    twin.name = "aks-eastus2-01-twin".into();
    config.clusters.push(twin);
    let runner = world.runner_for(config, "checkout");
    for _ in 0..2 {
        let fetched = runner.fetch().await.unwrap();
        for cluster in [CLUSTER, "aks-eastus2-01-twin"] {
            let audit = runner.audit(cluster, &fetched.revision).await.unwrap();
            assert!(audit.report.errors.is_empty(), "{:?}", audit.report.errors);
        }
    }
    // The entry and its five component Kustomizations, once for both
    // clusters and both cycles.
    assert_eq!(runner.render_cache().builds(), 6);
    assert_eq!(runner.render_cache().stages(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_page_shows_drift_and_its_pr_and_costs_no_request() {
    let world = World::start("1h").await;
    let listener = serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = serve::shutdown_channel();
    let config = world.config.clone();
    let runner = world.runner("checkout");
    let service =
        tokio::spawn(
            async move { serve::run(&config, runner, Vec::new(), listener, shutdown).await },
        );
    // The first cycle audits and opens the PR; the page learns it after.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = http_get(addr, "/").await;
        if page.contains("/pull/") {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed the pr:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pr = world.double.open_pulls()[0].number;
    let link = format!("{}/{OWNER}/{REPO}/pull/{pr}", world.double.url());
    assert!(page.contains(&format!("href=\"{link}\"")), "{page}");
    assert!(page.contains("▲ drifted"), "{page}");
    assert!(
        page.contains(&format!("href=\"/clusters/{CLUSTER}\"")),
        "{page}"
    );
    assert!(page.contains("ago)"), "drift age and last audit: {page}");

    // Reloading both pages asks nothing of the API server or GitHub.
    let (api_before, github_before) = (world.replay.requests(), world.double.request_log().len());
    let mut detail = String::new();
    for _ in 0..5 {
        http_get(addr, "/").await;
        detail = http_get(addr, &format!("/clusters/{CLUSTER}")).await;
    }
    assert_eq!(world.replay.requests(), api_before, "api server requests");
    assert_eq!(
        world.double.request_log().len(),
        github_before,
        "github requests"
    );
    for shown in [
        "traefik-basic-auth",
        "kured:1.16.0",
        "kubectl-set",
        "*** (secret value, not shown)",
    ] {
        assert!(
            detail.contains(shown),
            "{shown} not on the cluster page:\n{detail}"
        );
    }
    assert_no_secret(&detail, "the cluster page");
    assert_no_secret(&page, "the fleet page");

    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(20), service)
        .await
        .expect("service stops on shutdown")
        .unwrap()
        .unwrap();
}
