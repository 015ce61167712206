//! Commit a chosen set of paths, and nothing else.
//!
//! `flotilla bootstrap --commit` shares the repository with people: the index
//! may hold their staged work, the work tree their edits. The commit is
//! therefore built from `HEAD`'s tree plus exactly the given paths (as they
//! are in the work tree, or removed if gone), never from the index as a
//! whole. Afterwards the index is updated for those paths only, so `git
//! status` shows them clean and everything else as it was.

use std::path::{Path, PathBuf};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Repository};

pub use git2::{Oid, Signature};

/// Why a commit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `repo` is not a git work tree and could not be made one.
    #[error("cannot open or initialise git repository {}", repo.display())]
    Open {
        /// The directory.
        repo: PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// A path to commit is absolute, escapes the work tree or is not UTF-8.
    #[error("cannot commit {}: not a relative path inside {}", path.display(), repo.display())]
    Path {
        /// The work tree.
        repo: PathBuf,
        /// The offending path.
        path: PathBuf,
    },
    /// A file could not be stored in the object database.
    #[error("cannot store {} in {}", path.display(), repo.display())]
    Blob {
        /// The work tree.
        repo: PathBuf,
        /// The file, relative to the work tree.
        path: PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// Building the tree, the commit or the index failed.
    #[error("cannot commit in {}: {step}", repo.display())]
    Git {
        /// The work tree.
        repo: PathBuf,
        /// What was being done.
        step: &'static str,
        /// Why.
        #[source]
        source: git2::Error,
    },
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Make `dir` a git work tree if it is not one; `true` if one was created.
/// No discovery upwards: an `--out` inside another checkout gets its own
/// repository rather than committing into that checkout.
pub fn init_if_absent(dir: &Path) -> Result<bool> {
    let open_error = |source| Error::Open {
        repo: dir.to_owned(),
        source,
    };
    match Repository::open(dir) {
        Ok(_) => Ok(false),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            Repository::init(dir).map_err(open_error)?;
            Ok(true)
        }
        Err(e) => Err(open_error(e)),
    }
}

/// Commit `paths` (relative to the work tree of `repo`) on the current
/// branch with `author` as author and committer.
///
/// Paths that exist are committed as in the work tree, missing ones are
/// removed. Returns `None`, committing nothing, when the paths already match
/// `HEAD`. Works on a fresh repository (unborn branch) too; `repo` must be
/// the top of a work tree (see [`init_if_absent`]).
pub fn commit_paths(
    repo: &Path,
    paths: &[PathBuf],
    author: &Signature<'_>,
    message: &str,
) -> Result<Option<Oid>> {
    let git = Repository::open(repo).map_err(|source| Error::Open {
        repo: repo.to_owned(),
        source,
    })?;
    let git_error = |step| {
        move |source| Error::Git {
            repo: repo.to_owned(),
            step,
            source,
        }
    };
    let parent = head_commit(&git).map_err(git_error("read HEAD"))?;
    let base = match &parent {
        Some(commit) => commit.tree().map_err(git_error("read HEAD tree"))?,
        None => {
            let empty = git
                .treebuilder(None)
                .and_then(|b| b.write())
                .map_err(git_error("write empty tree"))?;
            git.find_tree(empty).map_err(git_error("read empty tree"))?
        }
    };
    let mut updates = TreeUpdateBuilder::new();
    let mut staged = Vec::with_capacity(paths.len());
    for path in paths {
        let key = tree_key(repo, path)?;
        let full = repo.join(path);
        if full.is_file() {
            let blob = git.blob_path(&full).map_err(|source| Error::Blob {
                repo: repo.to_owned(),
                path: path.clone(),
                source,
            })?;
            updates.upsert(&key, blob, FileMode::Blob);
        } else {
            updates.remove(&key);
        }
        staged.push((key, full.is_file()));
    }
    let tree_id = updates
        .create_updated(&git, &base)
        .map_err(git_error("build tree"))?;
    if tree_id == base.id() && parent.is_some() {
        return Ok(None);
    }
    let tree = git.find_tree(tree_id).map_err(git_error("read new tree"))?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = git
        .commit(Some("HEAD"), author, author, message, &tree, &parents)
        .map_err(git_error("write commit"))?;
    stage_only(&git, &staged).map_err(git_error("update index"))?;
    Ok(Some(oid))
}

/// The commit `HEAD` points at, or `None` on an unborn branch.
fn head_commit(git: &Repository) -> std::result::Result<Option<git2::Commit<'_>>, git2::Error> {
    match git.head() {
        Ok(head) => head.peel_to_commit().map(Some),
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `path` as a `/`-separated key inside the work tree.
fn tree_key(repo: &Path, path: &Path) -> Result<String> {
    let bad = || Error::Path {
        repo: repo.to_owned(),
        path: path.to_owned(),
    };
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_str().ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts.join("/"))
}

/// Bring the index in line with the new commit for exactly these paths.
fn stage_only(git: &Repository, staged: &[(String, bool)]) -> std::result::Result<(), git2::Error> {
    let mut index = git.index()?;
    for (key, exists) in staged {
        if *exists {
            index.add_path(Path::new(key))?;
        } else {
            // Absent from the index already is fine.
            let _ = index.remove_path(Path::new(key));
        }
    }
    index.write()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn author() -> Signature<'static> {
        Signature::now("flotilla", "flotilla@localhost").unwrap()
    }

    fn files_in(repo: &Repository, oid: Oid) -> Vec<String> {
        let tree = repo.find_commit(oid).unwrap().tree().unwrap();
        let mut names = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                names.push(format!("{dir}{}", entry.name().unwrap()));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        names
    }

    #[test]
    fn commits_only_given_paths_in_a_fresh_repo_then_removes_deleted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(init_if_absent(root).unwrap(), "created");
        assert!(!init_if_absent(root).unwrap(), "already there");
        fs::create_dir_all(root.join("clusters/a")).unwrap();
        fs::write(root.join("clusters/a/k.yaml"), "a: 1\n").unwrap();
        fs::write(root.join("clusters/a/hand.yaml"), "mine\n").unwrap();
        let first = commit_paths(
            root,
            &[PathBuf::from("clusters/a/k.yaml")],
            &author(),
            "flotilla: bootstrap a",
        )
        .unwrap()
        .expect("a commit");
        let repo = Repository::open(root).unwrap();
        assert_eq!(files_in(&repo, first), ["clusters/a/k.yaml"]);
        let commit = repo.find_commit(first).unwrap();
        assert_eq!(commit.message().ok(), Some("flotilla: bootstrap a"));
        assert_eq!(commit.author().email().ok(), Some("flotilla@localhost"));

        assert_eq!(
            commit_paths(
                root,
                &[PathBuf::from("clusters/a/k.yaml")],
                &author(),
                "again"
            )
            .unwrap(),
            None,
            "nothing changed, nothing committed"
        );

        fs::remove_file(root.join("clusters/a/k.yaml")).unwrap();
        fs::write(root.join("clusters/a/new.yaml"), "n: 1\n").unwrap();
        let second = commit_paths(
            root,
            &[
                PathBuf::from("clusters/a/k.yaml"),
                PathBuf::from("clusters/a/new.yaml"),
            ],
            &author(),
            "flotilla: bootstrap a",
        )
        .unwrap()
        .unwrap();
        assert_eq!(files_in(&repo, second), ["clusters/a/new.yaml"]);
        assert_eq!(
            repo.find_commit(second).unwrap().parent_id(0).unwrap(),
            first
        );
        let status = repo.status_file(Path::new("clusters/a/new.yaml")).unwrap();
        assert!(status.is_empty(), "committed path is clean: {status:?}");
    }

    #[test]
    fn escaping_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        init_if_absent(dir.path()).unwrap();
        let err = commit_paths(dir.path(), &[PathBuf::from("../x")], &author(), "m").unwrap_err();
        assert!(matches!(err, Error::Path { .. }), "{err}");
    }
}
