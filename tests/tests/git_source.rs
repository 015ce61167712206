//! The fleet repository fetched over a real `git daemon` (git:// protocol) and
//! from a local path, then rendered: checkout by branch, tag and commit,
//! re-fetch after a new commit, push of a branch.

use flotilla_render::{RenderOptions, render};
use flotilla_repos::git::{self, GitAuth};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `shared/` sits beside the checkout (here and in CI).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/baseline-cluster"
);
const COMMIT: &str = "255b0055ca13d40194cd337ea7d45cd55e568f93";
const ENTRY: &str = "clusters/aks-eastus2-01";

/// A `git daemon` serving one directory; killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn serve(base: &Path) -> Daemon {
        let port = free_port();
        // `git daemon` forks `git-daemon` and killing `git` would orphan it:
        // run the server program itself so the guard kills what listens.
        let exec_path = run_git(base, &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--export-all")
            .arg(format!("--base-path={}", base.display()))
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = Daemon { child, port };
        daemon.wait_until_listening();
        daemon
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The fixture bundle as a bare repository `<tmp>/fleet-gitops.git`.
fn bare_fixture(tmp: &Path) -> PathBuf {
    let bare = tmp.join("fleet-gitops.git");
    run_git(
        tmp,
        &[
            "clone",
            "--bare",
            &format!("{FIXTURE}/repo.bundle"),
            bare.to_str().unwrap(),
        ],
    );
    bare
}

/// Add a commit on `main` of the bare repository (through a scratch clone).
fn commit_to_main(tmp: &Path, bare: &Path) -> String {
    let scratch = tmp.join("scratch");
    run_git(
        tmp,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            scratch.to_str().unwrap(),
        ],
    );
    std::fs::write(scratch.join("README.md"), "changed\n").unwrap();
    run_git(&scratch, &["commit", "-qam", "change readme"]);
    run_git(&scratch, &["push", "-q", "origin", "HEAD:main"]);
    run_git(&scratch, &["rev-parse", "HEAD"])
}

#[test]
fn checkout_over_git_daemon_renders_the_fixture_at_its_flux_revision() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_fixture(tmp.path());
    let daemon = Daemon::serve(tmp.path());
    let work = tmp.path().join("work");

    let checkout =
        git::checkout(&daemon.url("fleet-gitops.git"), None, &GitAuth::None, &work).unwrap();
    assert_eq!(checkout.commit, COMMIT);
    assert_eq!(checkout.revision, format!("main@sha1:{COMMIT}"));
    assert!(work.join(ENTRY).join("kustomization.yaml").is_file());

    let opts = RenderOptions {
        revision: Some(checkout.revision.clone()),
        ..RenderOptions::default()
    };
    let desired = render(&checkout.path, ENTRY, &opts).unwrap();
    assert_eq!(
        desired.revision.as_deref(),
        Some(format!("main@sha1:{COMMIT}").as_str())
    );
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    assert_eq!(desired.objects.len(), 34);
    drop(bare);
}

#[test]
fn checkout_by_branch_tag_and_commit_gives_flux_revisions() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_fixture(tmp.path());
    run_git(&bare, &["tag", "-a", "v1.0", "-m", "release", "main"]);
    let daemon = Daemon::serve(tmp.path());
    let url = daemon.url("fleet-gitops.git");

    let by = |rev: &str, dir: &str| {
        git::checkout(&url, Some(rev), &GitAuth::None, &tmp.path().join(dir)).unwrap()
    };
    assert_eq!(by("main", "b").revision, format!("main@sha1:{COMMIT}"));
    assert_eq!(by("v1.0", "t").revision, format!("v1.0@sha1:{COMMIT}"));
    let detached = by(COMMIT, "c");
    assert_eq!(
        (detached.commit.as_str(), detached.revision.as_str()),
        (COMMIT, format!("sha1:{COMMIT}").as_str())
    );

    let err = git::checkout(
        &url,
        Some("no-such-branch"),
        &GitAuth::None,
        &tmp.path().join("x"),
    )
    .unwrap_err();
    assert!(matches!(err, git::Error::RevisionNotFound { .. }), "{err}");
    assert!(err.to_string().contains("no-such-branch"), "{err}");
}

#[test]
fn fetch_commit_sees_a_new_commit_and_checkout_fetched_moves_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_fixture(tmp.path());
    let daemon = Daemon::serve(tmp.path());
    let work = tmp.path().join("work");
    git::checkout(&daemon.url("fleet-gitops.git"), None, &GitAuth::None, &work).unwrap();
    assert_eq!(
        git::fetch_commit(&work, None, &GitAuth::None).unwrap(),
        COMMIT,
        "unchanged remote"
    );

    let new = commit_to_main(tmp.path(), &bare);
    assert_ne!(new, COMMIT);
    assert_eq!(git::fetch_commit(&work, None, &GitAuth::None).unwrap(), new);
    assert_eq!(
        git::fetch_commit(&work, Some("main"), &GitAuth::None).unwrap(),
        new
    );
    let moved = git::checkout_fetched(&work, None, &GitAuth::None).unwrap();
    assert_eq!(moved.revision, format!("main@sha1:{new}"));
    assert_eq!(
        std::fs::read_to_string(work.join("README.md")).unwrap(),
        "changed\n"
    );
}

#[test]
fn checkout_from_a_local_path_and_push_a_branch_back() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_fixture(tmp.path());
    let work = tmp.path().join("work");
    let checkout = git::checkout(bare.to_str().unwrap(), None, &GitAuth::None, &work).unwrap();
    assert_eq!(checkout.revision, format!("main@sha1:{COMMIT}"));

    run_git(
        &work,
        &["checkout", "-q", "-b", "flotilla/drift-aks-eastus2-01"],
    );
    std::fs::write(work.join("README.md"), "adopted\n").unwrap();
    run_git(&work, &["commit", "-qam", "adopt drift"]);
    let pushed = run_git(&work, &["rev-parse", "HEAD"]);
    git::push_branch(
        &work,
        "flotilla/drift-aks-eastus2-01",
        false,
        &GitAuth::None,
    )
    .unwrap();
    assert_eq!(
        run_git(
            &bare,
            &["rev-parse", "refs/heads/flotilla/drift-aks-eastus2-01"]
        ),
        pushed
    );

    // A rewritten branch needs force.
    run_git(
        &work,
        &["commit", "-q", "--amend", "-m", "adopt drift (amended)"],
    );
    assert!(
        git::push_branch(
            &work,
            "flotilla/drift-aks-eastus2-01",
            false,
            &GitAuth::None
        )
        .is_err()
    );
    git::push_branch(&work, "flotilla/drift-aks-eastus2-01", true, &GitAuth::None).unwrap();
    assert_eq!(
        run_git(
            &bare,
            &["rev-parse", "refs/heads/flotilla/drift-aks-eastus2-01"]
        ),
        run_git(&work, &["rev-parse", "HEAD"])
    );
}

/// `git http-backend` behind a one-request-per-connection HTTP/1.1 server on
/// loopback that demands Basic auth with `token` as the password (as GitHub
/// and Azure DevOps do for HTTPS tokens). Stopped when dropped.
struct HttpGit {
    port: u16,
    /// Every `Authorization` header received.
    authorizations: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpGit {
    fn serve(root: &Path, token: &str) -> HttpGit {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let authorizations = std::sync::Arc::default();
        let (root, token, flag) = (root.to_owned(), token.to_owned(), stop.clone());
        let seen = std::sync::Arc::clone(&authorizations);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = http_exchange(stream, &root, &token, &seen);
                }
            }
        });
        HttpGit {
            port,
            authorizations,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve one request: check the password, run the CGI, relay its answer.
fn http_exchange(
    stream: TcpStream,
    root: &Path,
    token: &str,
    seen: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use base64::Engine;
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = std::collections::HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let body = read_body(&mut reader, &headers)?;
    if let Some(auth) = headers.get("authorization") {
        seen.lock().unwrap().push(auth.clone());
    }
    let mut out = stream;
    let password = headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|up| up.split_once(':').map(|(_, p)| p.to_owned()));
    if password.as_deref() != Some(token) {
        return out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            headers
                .get("content-type")
                .map(String::as_str)
                .unwrap_or(""),
        )
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    cgi.stdin.take().unwrap().write_all(&body)?;
    let mut response = Vec::new();
    cgi.stdout.take().unwrap().read_to_end(&mut response)?;
    cgi.wait()?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let split = split.or_else(|| {
        response
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| (i, 2))
    });
    let (end, sep) = split.unwrap_or((0, 0));
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let content = &response[end + sep..];
    let mut status = "200 OK".to_owned();
    let mut reply = String::new();
    for h in head.lines() {
        match h.strip_prefix("Status:") {
            Some(s) => status = s.trim().to_owned(),
            None => reply.push_str(&format!("{h}\r\n")),
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{reply}Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    )?;
    out.write_all(content)
}

/// The request body, by `Content-Length` or chunked transfer encoding.
fn read_body(
    reader: &mut impl std::io::BufRead,
    headers: &std::collections::HashMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

#[test]
fn https_style_token_auth_works_and_a_wrong_token_never_shows_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    bare_fixture(tmp.path());
    let token = "ghp_test_token_0123456789";
    let server = HttpGit::serve(tmp.path(), token);
    let url = server.url("fleet-gitops.git");

    let work = tmp.path().join("work");
    let checkout = git::checkout(&url, None, &GitAuth::Token(token.into()), &work).unwrap();
    assert_eq!(checkout.revision, format!("main@sha1:{COMMIT}"));
    let config = std::fs::read_to_string(work.join(".git/config")).unwrap();
    assert!(
        !config.contains(token),
        "token must not be stored in the remote url"
    );

    let wrong = "ghp_wrong_token_9876543210";
    let err = git::checkout(
        &url,
        None,
        &GitAuth::Token(wrong.into()),
        &tmp.path().join("w2"),
    )
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, git::Error::Remote { .. }), "{text}");
    assert!(!text.contains(wrong), "{text}");

    let err = git::checkout(&url, None, &GitAuth::None, &tmp.path().join("w3")).unwrap_err();
    assert!(matches!(err, git::Error::Remote { .. }), "{err}");
}

/// `0.0.0.0` reaches this machine (Linux connects it to loopback) but is
/// not a loopback address: to flotilla it stands for any remote host.
#[test]
fn a_token_is_never_sent_over_plain_http_to_a_host_that_is_not_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    bare_fixture(tmp.path());
    let token = "ghp_plain_http_0123456789";
    let server = HttpGit::serve(tmp.path(), token);
    let url = format!("http://0.0.0.0:{}/fleet-gitops.git", server.port);

    let err = git::checkout(
        &url,
        None,
        &GitAuth::Token(token.into()),
        &tmp.path().join("work"),
    )
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, git::Error::Remote { .. }), "{text}");
    assert!(text.contains("plain http"), "{text}");
    assert!(!text.contains(token), "{text}");
    assert!(
        server.authorizations.lock().unwrap().is_empty(),
        "the token went over plain http"
    );

    // The same server through a loopback address gets it (the tests' case).
    let loopback = server.url("fleet-gitops.git");
    git::checkout(
        &loopback,
        None,
        &GitAuth::Token(token.into()),
        &tmp.path().join("work2"),
    )
    .unwrap();
    assert!(!server.authorizations.lock().unwrap().is_empty());
}

#[test]
fn a_remote_url_with_credentials_is_refused_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    bare_fixture(tmp.path());
    let server = HttpGit::serve(tmp.path(), "right-token");
    for url in [
        format!(
            "HTTPS://x-access-token:right-token@127.0.0.1:{}/fleet-gitops.git",
            server.port
        ),
        format!(
            "http://x:right/token@127.0.0.1:{}/fleet-gitops.git",
            server.port
        ),
    ] {
        let err = git::checkout(&url, None, &GitAuth::None, &tmp.path().join("w")).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, git::Error::Url { .. }), "{text}");
        assert!(
            !text.contains("right-token") && !text.contains("token@"),
            "{text}"
        );
    }
    assert!(server.authorizations.lock().unwrap().is_empty());
}
