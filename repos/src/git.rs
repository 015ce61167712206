//! Git access (libgit2): check out a fleet repository at a branch, tag or
//! commit, re-fetch it cheaply, and push branches.
//!
//! Revisions are reported the way Flux's source-controller writes them, so an
//! audit can be compared with a Kustomization's `lastAppliedRevision`:
//! `<branch>@sha1:<hex>`, `<tag>@sha1:<hex>`, or `sha1:<hex>` for a bare commit.
//!
//! Credentials are given to libgit2 through its callback, never put into the
//! remote URL, and every message that leaves this module (errors included) is
//! scrubbed of the token, the passphrase and any `user:password@` in a URL.
//! That is also why errors keep libgit2's message as scrubbed text rather
//! than the `git2::Error` itself. A remote URL that carries credentials is
//! refused before libgit2 sees it, and the token is only handed over TLS or
//! to a loopback host (rules in [`crate::remote`]).

use crate::remote::{self, UrlError};
use git2::build::CheckoutBuilder;
use git2::{
    AutotagOption, Cred, CredentialType, Direction, FetchOptions, Oid, PushOptions,
    RemoteCallbacks, Repository,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// The remote every checkout fetches from.
const REMOTE: &str = "origin";

/// How to authenticate to a remote.
#[derive(Clone, Default)]
pub enum GitAuth {
    /// No credentials (local paths, `git://`, public `https://`).
    #[default]
    None,
    /// An HTTPS token (GitHub, Azure DevOps PAT), sent as the password.
    Token(String),
    /// An SSH private key file, with its passphrase if it has one.
    SshKey {
        /// Private key file.
        path: PathBuf,
        /// Passphrase of the key.
        passphrase: Option<String>,
    },
}

/// Never shows the token or passphrase.
impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::Token(_) => f.write_str("Token(***)"),
            GitAuth::SshKey { path, .. } => f
                .debug_struct("SshKey")
                .field("path", path)
                .finish_non_exhaustive(),
        }
    }
}

/// A working tree at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The working tree.
    pub path: PathBuf,
    /// Commit hex.
    pub commit: String,
    /// Flux-style revision (`main@sha1:<hex>`, `v1.0@sha1:<hex>`, `sha1:<hex>`).
    pub revision: String,
}

/// Git failures; URLs and messages are already scrubbed of credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the remote failed (connect, authenticate, fetch, push).
    #[error("git {operation} {url}: {message}")]
    Remote {
        /// `fetch`, `connect` or `push`.
        operation: &'static str,
        /// The remote, scrubbed.
        url: String,
        /// libgit2's message, scrubbed.
        message: String,
    },
    /// A local repository operation failed.
    #[error("git repository {path}: {message}")]
    Local {
        /// The working tree.
        path: PathBuf,
        /// libgit2's message, scrubbed.
        message: String,
    },
    /// The branch, tag or commit does not exist in the remote.
    #[error("revision '{rev}' not found in {url}")]
    RevisionNotFound {
        /// What was asked for.
        rev: String,
        /// The remote, scrubbed.
        url: String,
    },
    /// The remote URL is refused (credentials in it, or a token over plain
    /// http).
    #[error("git remote {url}")]
    Url {
        /// The remote, scrubbed.
        url: String,
        /// Which rule it breaks.
        #[source]
        source: UrlError,
    },
    /// The remote refused the pushed reference.
    #[error("push of branch {branch} to {url} rejected: {message}")]
    PushRejected {
        /// Branch.
        branch: String,
        /// The remote, scrubbed.
        url: String,
        /// The remote's reason, scrubbed.
        message: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Check out `rev` (branch, tag or commit; default: the remote's default
/// branch) of `source` (a local path or a remote URL) in `workdir`.
///
/// `workdir` is created, or reused when it already holds a checkout (then
/// only new objects are fetched). The working tree is left on a detached
/// HEAD at the commit, with local changes discarded.
pub fn checkout(
    source: &str,
    rev: Option<&str>,
    auth: &GitAuth,
    workdir: &Path,
) -> Result<Checkout> {
    let url = remote_url(source);
    remote::check_git_url(&url).map_err(|source| Error::Url {
        url: scrub(&url, auth),
        source,
    })?;
    let repo = open_or_init(&url, workdir, auth)?;
    fetch_origin(&repo, &url, auth)?;
    let (oid, revision) = resolve(&repo, rev, &url, auth)?;
    detach_at(&repo, oid, workdir, auth)?;
    Ok(Checkout {
        path: workdir.to_owned(),
        commit: oid.to_string(),
        revision,
    })
}

/// Fetch `origin` into an existing checkout and return the commit `rev`
/// (default: the remote's default branch) now points to, without touching
/// the working tree. The service calls this every cycle and re-renders only
/// when the commit changed (then [`checkout_fetched`]).
pub fn fetch_commit(repo_dir: &Path, rev: Option<&str>, auth: &GitAuth) -> Result<String> {
    let repo = open(repo_dir, auth)?;
    let url = origin_url(&repo, repo_dir, auth)?;
    fetch_origin(&repo, &url, auth)?;
    Ok(resolve(&repo, rev, &url, auth)?.0.to_string())
}

/// Check out `rev` from what was last fetched, without network.
pub fn checkout_fetched(repo_dir: &Path, rev: Option<&str>, auth: &GitAuth) -> Result<Checkout> {
    let repo = open(repo_dir, auth)?;
    let url = origin_url(&repo, repo_dir, auth)?;
    let (oid, revision) = resolve(&repo, rev, &url, auth)?;
    detach_at(&repo, oid, repo_dir, auth)?;
    Ok(Checkout {
        path: repo_dir.to_owned(),
        commit: oid.to_string(),
        revision,
    })
}

/// Push local branch `branch` of `repo_dir` to `origin` (same name),
/// replacing the remote branch when `force`.
pub fn push_branch(repo_dir: &Path, branch: &str, force: bool, auth: &GitAuth) -> Result<()> {
    let repo = open(repo_dir, auth)?;
    let url = origin_url(&repo, repo_dir, auth)?;
    let mut remote = repo
        .find_remote(REMOTE)
        .map_err(|e| local(repo_dir, &e, auth))?;
    let refspec = format!(
        "{}refs/heads/{branch}:refs/heads/{branch}",
        if force { "+" } else { "" }
    );
    let mut rejected: Option<String> = None;
    {
        let mut callbacks = callbacks(auth);
        callbacks.push_update_reference(|_refname, status| {
            if let Some(status) = status {
                rejected = Some(status.to_owned());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        remote
            .push(&[refspec.as_str()], Some(&mut options))
            .map_err(|e| remote_error("push", &url, &e, auth))?;
    }
    match rejected {
        Some(message) => Err(Error::PushRejected {
            branch: branch.to_owned(),
            url: scrub(&url, auth),
            message: scrub(&message, auth),
        }),
        None => Ok(()),
    }
}

/// Remove credentials from any text shown to people: the token, the
/// passphrase, and the userinfo of URLs wherever it ends
/// (`https://user:se/cr@t@host` → `https://***@host`, see
/// [`remote::scrub_userinfo`]).
pub fn scrub(text: &str, auth: &GitAuth) -> String {
    let mut out = remote::scrub_userinfo(text);
    let secrets = match auth {
        GitAuth::Token(token) => vec![token.as_str()],
        GitAuth::SshKey {
            passphrase: Some(p),
            ..
        } => vec![p.as_str()],
        _ => vec![],
    };
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "***");
    }
    out
}

/// Local paths become absolute so a checkout can be reopened from anywhere.
fn remote_url(source: &str) -> String {
    let path = Path::new(source);
    if !source.contains("://")
        && path.exists()
        && let Ok(abs) = path.canonicalize()
    {
        return abs.display().to_string();
    }
    source.to_owned()
}

fn open_or_init(url: &str, workdir: &Path, auth: &GitAuth) -> Result<Repository> {
    if workdir.join(".git").exists() {
        let repo = open(workdir, auth)?;
        repo.remote_set_url(REMOTE, url)
            .map_err(|e| local(workdir, &e, auth))?;
        return Ok(repo);
    }
    std::fs::create_dir_all(workdir).map_err(|e| Error::Local {
        path: workdir.to_owned(),
        message: e.to_string(),
    })?;
    let repo = Repository::init(workdir).map_err(|e| local(workdir, &e, auth))?;
    repo.remote(REMOTE, url)
        .map_err(|e| local(workdir, &e, auth))?;
    Ok(repo)
}

fn open(repo_dir: &Path, auth: &GitAuth) -> Result<Repository> {
    Repository::open(repo_dir).map_err(|e| local(repo_dir, &e, auth))
}

fn origin_url(repo: &Repository, repo_dir: &Path, auth: &GitAuth) -> Result<String> {
    let remote = repo
        .find_remote(REMOTE)
        .map_err(|e| local(repo_dir, &e, auth))?;
    Ok(remote.url().unwrap_or_default().to_owned())
}

/// Fetch every branch and tag of `origin`, and record the remote's default
/// branch as `refs/remotes/origin/HEAD` for later offline resolution.
fn fetch_origin(repo: &Repository, url: &str, auth: &GitAuth) -> Result<()> {
    let mut remote = repo
        .find_remote(REMOTE)
        .map_err(|e| remote_error("fetch", url, &e, auth))?;
    let default_branch = {
        let connection = remote
            .connect_auth(Direction::Fetch, Some(callbacks(auth)), None)
            .map_err(|e| remote_error("connect", url, &e, auth))?;
        connection
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_owned))
    };
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(auth))
        .download_tags(AutotagOption::All)
        .prune(git2::FetchPrune::On);
    let refspecs = [
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
    ];
    remote
        .fetch(&refspecs, Some(&mut options), None)
        .map_err(|e| remote_error("fetch", url, &e, auth))?;
    if let Some(branch) = default_branch
        .as_deref()
        .and_then(|b| b.strip_prefix("refs/heads/"))
    {
        let target = format!("refs/remotes/{REMOTE}/{branch}");
        repo.reference_symbolic(
            &format!("refs/remotes/{REMOTE}/HEAD"),
            &target,
            true,
            "flotilla: remote HEAD",
        )
        .map_err(|e| remote_error("fetch", url, &e, auth))?;
    }
    Ok(())
}

/// Commit and Flux revision of `rev` among the fetched references.
fn resolve(
    repo: &Repository,
    rev: Option<&str>,
    url: &str,
    auth: &GitAuth,
) -> Result<(Oid, String)> {
    let not_found = || Error::RevisionNotFound {
        rev: rev.unwrap_or("HEAD").to_owned(),
        url: scrub(url, auth),
    };
    let Some(rev) = rev else {
        let head = repo
            .find_reference(&format!("refs/remotes/{REMOTE}/HEAD"))
            .map_err(|_| not_found())?;
        let target = head
            .symbolic_target()
            .ok()
            .flatten()
            .ok_or_else(not_found)?
            .to_owned();
        let branch = target
            .trim_start_matches(&format!("refs/remotes/{REMOTE}/"))
            .to_owned();
        return branch_commit(repo, &branch)
            .map(|oid| (oid, format!("{branch}@sha1:{oid}")))
            .ok_or_else(not_found);
    };
    let branch = rev.strip_prefix("refs/heads/").unwrap_or(rev);
    if let Some(oid) = branch_commit(repo, branch) {
        return Ok((oid, format!("{branch}@sha1:{oid}")));
    }
    let tag = rev.strip_prefix("refs/tags/").unwrap_or(rev);
    if let Some(oid) = peel_commit(repo, &format!("refs/tags/{tag}")) {
        return Ok((oid, format!("{tag}@sha1:{oid}")));
    }
    if (4..=40).contains(&rev.len()) && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|_| not_found())?;
        return Ok((commit.id(), format!("sha1:{}", commit.id())));
    }
    Err(not_found())
}

fn branch_commit(repo: &Repository, branch: &str) -> Option<Oid> {
    peel_commit(repo, &format!("refs/remotes/{REMOTE}/{branch}"))
}

fn peel_commit(repo: &Repository, reference: &str) -> Option<Oid> {
    repo.find_reference(reference)
        .ok()?
        .peel_to_commit()
        .ok()
        .map(|c| c.id())
}

/// Point HEAD at `oid` (detached) and make the working tree match it exactly.
fn detach_at(repo: &Repository, oid: Oid, workdir: &Path, auth: &GitAuth) -> Result<()> {
    repo.set_head_detached(oid)
        .map_err(|e| local(workdir, &e, auth))?;
    repo.checkout_head(Some(CheckoutBuilder::new().force().remove_untracked(true)))
        .map_err(|e| local(workdir, &e, auth))
}

/// libgit2 asks again after a rejected credential; answering once avoids an
/// endless loop against a server that keeps saying no.
fn callbacks(auth: &GitAuth) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let mut attempts = 0;
    callbacks.credentials(move |url, username, allowed| {
        attempts += 1;
        if attempts > 1 {
            return Err(git2::Error::from_str("authentication failed"));
        }
        let user = username.unwrap_or("git");
        match auth {
            GitAuth::Token(token) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                // libgit2 passes the URL it is about to authenticate to
                // (after a redirect, the new one): a token never goes out
                // over plain http to another machine.
                remote::token_may_travel(url).map_err(|e| git2::Error::from_str(&e.to_string()))?;
                Cred::userpass_plaintext("x-access-token", token)
            }
            GitAuth::SshKey { path, passphrase } if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key(user, None, path, passphrase.as_deref())
            }
            _ if allowed.contains(CredentialType::USERNAME) => Cred::username(user),
            _ => Err(git2::Error::from_str(
                "the remote asks for credentials and none fit",
            )),
        }
    });
    callbacks
}

fn remote_error(operation: &'static str, url: &str, error: &git2::Error, auth: &GitAuth) -> Error {
    Error::Remote {
        operation,
        url: scrub(url, auth),
        message: scrub(error.message(), auth),
    }
}

fn local(path: &Path, error: &git2::Error, auth: &GitAuth) -> Error {
    Error::Local {
        path: path.to_owned(),
        message: scrub(error.message(), auth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_tokens_and_url_userinfo() {
        let auth = GitAuth::Token("ghp_SECRET".into());
        let text = "failed https://x-access-token:ghp_SECRET@github.com/o/r and ssh://git@host/r, token ghp_SECRET";
        let out = scrub(text, &auth);
        assert!(!out.contains("ghp_SECRET"), "{out}");
        assert_eq!(
            out,
            "failed https://***@github.com/o/r and ssh://***@host/r, token ***"
        );
    }

    #[test]
    fn debug_of_auth_hides_secrets() {
        let token = format!("{:?}", GitAuth::Token("t0ken".into()));
        let key = format!(
            "{:?}",
            GitAuth::SshKey {
                path: "/k".into(),
                passphrase: Some("pass".into())
            }
        );
        assert!(
            !token.contains("t0ken") && !key.contains("pass"),
            "{token} {key}"
        );
    }

    #[test]
    fn a_refused_https_remote_reports_no_token() {
        // Port 9 on loopback: nothing listens, the connection is refused.
        let dir = tempfile::tempdir().unwrap();
        let auth = GitAuth::Token("tok-123456".into());
        let err = checkout("https://127.0.0.1:9/r.git", None, &auth, dir.path()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, Error::Remote { .. }), "{text}");
        assert!(!text.contains("tok-123456"), "{text}");
        assert!(text.contains("127.0.0.1:9"), "{text}");
    }

    #[test]
    fn a_remote_with_credentials_is_refused_before_libgit2_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "HTTPS://x-access-token:tok-123456@127.0.0.1:9/r.git",
            "https://user:tok/123456@127.0.0.1:9/r.git",
            "ssh://git:tok-123456@127.0.0.1:9/r.git",
        ] {
            let err = checkout(url, None, &GitAuth::None, dir.path()).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(
                matches!(
                    err,
                    Error::Url {
                        source: UrlError::Credentials,
                        ..
                    }
                ),
                "{text}"
            );
            assert!(!text.contains("123456"), "{text}");
            assert!(text.contains("127.0.0.1:9"), "{text}");
        }
        assert!(
            !dir.path().join(".git").exists(),
            "nothing is initialised for a refused url"
        );
    }

    /// Property: a password made of any URL character — `/`, `@`, `:`,
    /// `%`, `#`, `?` included — never survives scrubbing, in any scheme
    /// spelling, whether or not the token is known. Random cases from a
    /// fixed seed (printed on failure), 5,000 of them.
    #[test]
    fn random_passwords_never_survive_scrubbing() {
        const CHARS: &[u8] = b"abcXYZ0189/@:%#?!$&'()*+,;=._~-";
        let mut rng = fastrand::Rng::with_seed(0x5c2b);
        let schemes = ["https", "HTTPS", "Https", "http", "git+https", "ssh", "SSH"];
        for _ in 0..5_000 {
            let len = rng.usize(1..24);
            let password: String = (0..len)
                .map(|_| CHARS[rng.usize(..CHARS.len())] as char)
                .collect();
            // A marker keeps the password from matching ordinary text by chance.
            let password = format!("Pw{password}");
            let scheme = schemes[rng.usize(..schemes.len())];
            let text = format!(
                "git fetch {scheme}://x-access-token:{password}@github.com/o/r.git failed: {scheme}://u:{password}@h:8/p"
            );
            let want =
                format!("git fetch {scheme}://***@github.com/o/r.git failed: {scheme}://***@h:8/p");
            for auth in [GitAuth::None, GitAuth::Token(password.clone())] {
                let out = scrub(&text, &auth);
                assert_eq!(out, want, "password {password:?}");
                assert!(!out.contains(&password), "password {password:?}: {out}");
            }
        }
    }
}
