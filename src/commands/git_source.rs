//! `--repo`/`--ref` and Git credentials, shared by the commands that read a
//! GitOps repository (`audit`, `preview`).

use flotilla_repos::git::{self, GitAuth};
use flotilla_repos::local::{head_revision, resolve_commit};
use std::path::{Path, PathBuf};

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

/// Open `--repo` at `--ref`.
pub fn open_repo(args: &GitSourceArgs) -> Result<OpenedRepo, git::Error> {
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

/// Check out `rev` of `--repo` into a temporary directory.
pub fn checkout_at(args: &GitSourceArgs, rev: Option<&str>) -> Result<OpenedRepo, git::Error> {
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
                None => return Err(not_found(args, rev)),
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
        url: args.repo.clone(),
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
