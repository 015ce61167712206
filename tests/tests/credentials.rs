//! Credentials never ride in URLs or in clear, through the real binary:
//! every place that takes a URL (`--repo`, `repo.url`, `--github-url`)
//! refuses credentials in any spelling and plain http to a host that is not
//! loopback, names the field, and never repeats the secret.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flotilla_tests::github_double::{DOUBLE_TOKEN, GitHubDouble};

#[path = "../support/mod.rs"]
mod support;

/// Test token; the digits are what must never show.
const TOKEN: &str = "ghp_URLTOKEN_987654";

/// Remote URLs that carry [`TOKEN`], wherever the password ends.
fn credential_urls() -> Vec<String> {
    [
        "HTTPS://x-access-token:{T}@127.0.0.1:9/contoso/fleet.git",
        "Https://{T}@127.0.0.1:9/contoso/fleet.git",
        "https://x:{T}/more@127.0.0.1:9/contoso/fleet.git",
        "https://x:{T}#more@127.0.0.1:9/contoso/fleet.git",
        "https://x:{T}@more@127.0.0.1:9/contoso/fleet.git",
        "ssh://git:{T}@127.0.0.1:9/contoso/fleet.git",
    ]
    .iter()
    .map(|u| u.replace("{T}", TOKEN))
    .collect()
}

/// Run `command` to completion, killing it after `limit` (a service that
/// accepted its config runs forever).
fn run_for_at_most(command: &mut Command, limit: Duration) -> support::Run {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap().into()
}

fn assert_no_token(text: &str, what: &str) {
    assert!(!text.contains("987654"), "{what} shows the token: {text}");
}

#[test]
fn serve_refuses_a_repo_url_with_credentials_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("serve.yaml");
    for url in credential_urls() {
        std::fs::write(
            &config,
            format!(
                "repo:\n  url: \"{url}\"\n  checkoutDir: {}\nclusters:\n  - name: a\n    inCluster: true\nlisten: 127.0.0.1:0\n",
                tmp.path().join("checkout").display()
            ),
        )
        .unwrap();
        let run = run_for_at_most(
            Command::new(support::flotilla_bin()).args([
                "serve",
                "--config",
                config.to_str().unwrap(),
            ]),
            Duration::from_secs(30),
        );
        assert_eq!(run.code, 2, "{url}: {run:?}");
        let named = format!("{}:2: repo.url: credentials in the URL", config.display());
        assert!(run.stderr.contains(&named), "{url}: {}", run.stderr);
        assert_no_token(&format!("{}{}", run.stdout, run.stderr), url.as_str());
    }
}

#[test]
fn audit_refuses_a_repo_url_with_credentials_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    for url in credential_urls() {
        let run = support::flotilla(&[
            "audit",
            "--repo",
            &url,
            "--cluster",
            "a",
            "--snapshot",
            tmp.path().to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{url}: {run:?}");
        assert!(
            run.stderr.contains("--repo") && run.stderr.contains("credentials in the URL"),
            "{url}: {}",
            run.stderr
        );
        assert_no_token(&format!("{}{}", run.stdout, run.stderr), url.as_str());
    }
}

/// A repository with an empty `clusters/` folder: nothing to preview, so
/// the preview goes straight to posting.
fn empty_fleet_repo(dir: &Path) {
    std::fs::create_dir_all(dir.join("clusters")).unwrap();
    std::fs::write(dir.join("clusters/.keep"), "").unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "empty fleet",
        ],
    ] {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }
}

/// `0.0.0.0` reaches the double on this machine but is not loopback: to
/// flotilla it is any host, so the token must not go there over http.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_refuses_a_plain_http_github_url_and_sends_nothing() {
    let double = GitHubDouble::start("contoso", "fleet").await;
    let tmp = tempfile::tempdir().unwrap();
    empty_fleet_repo(tmp.path());
    let port = double.url().rsplit(':').next().unwrap().to_owned();
    let repo = tmp.path().to_str().unwrap().to_owned();
    let urls = [
        format!("http://0.0.0.0:{port}"),
        format!("HTTP://0.0.0.0:{port}/api/v3"),
        format!("http://x:{TOKEN}@127.0.0.1:{port}"),
    ];
    for url in urls {
        let repo = repo.clone();
        let github_url = url.clone();
        let run: support::Run = tokio::task::spawn_blocking(move || {
            Command::new(support::flotilla_bin())
                .args([
                    "preview", "--repo", &repo, "--base", "main", "--head", "main",
                ])
                .args([
                    "--github-pr",
                    "contoso/fleet#1",
                    "--github-url",
                    &github_url,
                ])
                .env("GITHUB_TOKEN", DOUBLE_TOKEN)
                .output()
                .unwrap()
                .into()
        })
        .await
        .unwrap();
        assert_eq!(run.code, 2, "{url}: {run:?}");
        assert!(run.stderr.contains("--github-url"), "{url}: {}", run.stderr);
        assert_no_token(&format!("{}{}", run.stdout, run.stderr), url.as_str());
        assert!(
            double.request_log().is_empty(),
            "{url}: the token went out: {:?}",
            double.request_log()
        );
    }
}
