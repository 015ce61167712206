//! `--repo`/`--ref` and Git credentials, shared by the commands that read a
//! GitOps repository (`audit`, `preview`).
//!
//! `--repo` never carries credentials (`flotilla_repos::remote` rules: any
//! userinfo but an SSH user name is refused, in any spelling); the token comes
//! from `--token-env`, the key from `--ssh-key`.

use flotilla_repos::git::{self, GitAuth};
use flotilla_repos::local::{head_revision, resolve_commit};
use flotilla_repos::remote::{self, UrlError};
use std::path::{Path, PathBuf};

/// Why `--repo` cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `--repo` is refused (credentials in the URL).
    #[error("--repo {url}")]
    Url {
        /// The URL, scrubbed.
        url: String,
        /// Which rule it breaks.
        #[source]
        source: UrlError,
    },
    /// Checking out failed.
    #[error(transparent)]
    Git(#[from] git::Error),
}

/// Where the GitOps repository is, and how to reach it.
#[derive(Debug, Clone, clap::Args)]
pub struct GitSourceArgs {
    /// GitOps repository: a local directory (audited as it is on disk unless
    /// --ref is given) or a remote URL (`https://…` with a token, `ssh://…` with a key).
    #[arg(long)]
    pub repo: String,

    /// Branch, tag or commit to check out (default: a local directory as it
    /// is, a remote's default branch).
    #[arg(long = "ref", value_name = "REV")]
    pub git_ref: Option<String>,

    /// Environment variable holding an HTTPS token for the remote.
    #[arg(long, value_name = "VAR", default_value = "FLOTILLA_GIT_TOKEN")]
    pub token_env: String,

    /// SSH private key for an `ssh://` remote.
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
}

/// A repository ready to read: a local directory, or a temporary checkout
/// that is removed when this is dropped.
pub struct OpenedRepo {
    root: PathBuf,
    /// Flux-style revision, if known.
    pub revision: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl OpenedRepo {
    /// Root of the working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The audited repository's remote URLs: `--repo` itself when it is a URL,
/// else the remotes of the local repository (credentials scrubbed).
pub fn repo_urls(args: &GitSourceArgs) -> Vec<String> {
    let local = Path::new(&args.repo);
    if !args.repo.contains("://") && local.is_dir() {
        return flotilla_repos::local::remote_urls(local);
    }
    vec![remote::scrub_userinfo(&args.repo)]
}

/// Open `--repo` at `--ref`.
pub fn open_repo(args: &GitSourceArgs) -> Result<OpenedRepo, SourceError> {
    check_repo(&args.repo)?;
    let local = Path::new(&args.repo);
    if args.git_ref.is_none() && !args.repo.contains("://") && local.is_dir() {
        return Ok(OpenedRepo {
            root: local.to_owned(),
            revision: head_revision(local),
            _tmp: None,
        });
    }
    checkout_at(args, args.git_ref.as_deref())
}

/// Refuse a `--repo` URL with credentials before anything is read.
fn check_repo(repo: &str) -> Result<(), SourceError> {
    remote::check_git_url(repo).map_err(|source| SourceError::Url {
        url: remote::scrub_userinfo(repo),
        source,
    })
}

/// Check out `rev` of `--repo` into a temporary directory.
pub fn checkout_at(args: &GitSourceArgs, rev: Option<&str>) -> Result<OpenedRepo, SourceError> {
    check_repo(&args.repo)?;
    let tmp = tempfile::Builder::new()
        .prefix("flotilla-repo-")
        .tempdir()
        .map_err(|e| git::Error::Local {
            path: std::env::temp_dir(),
            message: e.to_string(),
        })?;
    let auth = auth_of(args);
    let checkout = match git::checkout(&args.repo, rev, &auth, tmp.path()) {
        // `HEAD~2`, `origin/main`, short hashes: resolve them in a local
        // source repository, then check out the commit.
        Err(git::Error::RevisionNotFound { .. }) if rev.is_some() && is_local(&args.repo) => {
            match resolve_commit(Path::new(&args.repo), rev.unwrap_or_default()) {
                Some(commit) => git::checkout(&args.repo, Some(&commit), &auth, tmp.path())?,
                None => return Err(not_found(args, rev).into()),
            }
        }
        other => other?,
    };
    Ok(OpenedRepo {
        root: checkout.path,
        revision: Some(checkout.revision),
        _tmp: Some(tmp),
    })
}

fn is_local(repo: &str) -> bool {
    !repo.contains("://") && Path::new(repo).is_dir()
}

fn not_found(args: &GitSourceArgs, rev: Option<&str>) -> git::Error {
    git::Error::RevisionNotFound {
        rev: rev.unwrap_or("HEAD").to_owned(),
        url: remote::scrub_userinfo(&args.repo),
    }
}

fn auth_of(args: &GitSourceArgs) -> GitAuth {
    if let Some(path) = &args.ssh_key {
        return GitAuth::SshKey {
            path: path.clone(),
            passphrase: std::env::var("FLOTILLA_SSH_PASSPHRASE").ok(),
        };
    }
    match std::env::var(&args.token_env) {
        Ok(token) if !token.is_empty() => GitAuth::Token(token),
        _ => GitAuth::None,
    }
}
