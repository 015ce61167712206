//! Build a bot branch from file edits without touching the work tree.
//!
//! The drift bot audits a checkout that the next cycle re-uses, so it must
//! never write into it: the commit is made straight in the object database
//! (blobs, then a tree derived from the parent's with
//! [`TreeUpdateBuilder`]), and only the local branch reference moves. The
//! same edits on the same parent give the same tree, which is how an
//! unchanged drift is recognised and not pushed again.
//!
//! The branch on the remote (as last fetched, `refs/remotes/origin/<b>`)
//! is also read from here: a commit on it that the bot did not make means a
//! person took the branch over, and the bot must not force-push over it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature};

/// Why a branch could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A git operation failed.
    #[error("git repository {}: cannot {step} (branch {branch})", repo.display())]
    Git {
        /// The repository.
        repo: PathBuf,
        /// The branch being built.
        branch: String,
        /// What was being done.
        step: &'static str,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// An edit's path is absolute or climbs out of the repository.
    #[error("git repository {}: edit path {path:?} is not a relative path inside it", repo.display())]
    Path {
        /// The repository.
        repo: PathBuf,
        /// The offending path.
        path: String,
    },
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who the bot commits as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Author and committer name.
    pub name: String,
    /// Author and committer email.
    pub email: String,
}

/// What [`commit_edits`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchUpdate {
    /// The remote branch already holds exactly these edits on this parent,
    /// committed by the bot: nothing to push.
    Unchanged(String),
    /// A new commit; the local branch points at it and should be pushed.
    Created(String),
}

/// What to commit.
#[derive(Debug, Clone, Copy)]
pub struct BranchCommit<'a> {
    /// Local branch to point at the commit, e.g. `flotilla/drift/<cluster>`.
    pub branch: &'a str,
    /// Parent commit (hex), the audited commit.
    pub parent: &'a str,
    /// Repository path → new contents.
    pub edits: &'a BTreeMap<String, String>,
    /// Commit message.
    pub message: &'a str,
    /// Author and committer.
    pub identity: &'a Identity,
}

/// Commit `c.edits` on top of `c.parent` as local branch `c.branch` of the
/// repository at `repo_dir`, unless `origin/<branch>` already is that
/// commit's equal (same parent, same tree, by the bot).
pub fn commit_edits(repo_dir: &Path, c: &BranchCommit<'_>) -> Result<BranchUpdate> {
    let git = |step| {
        move |source| Error::Git {
            repo: repo_dir.to_owned(),
            branch: c.branch.to_owned(),
            step,
            source,
        }
    };
    let repo = Repository::open(repo_dir).map_err(git("open"))?;
    let parent = Oid::from_str(c.parent)
        .and_then(|oid| repo.find_commit(oid))
        .map_err(git("find the parent commit"))?;
    let tree_id = edited_tree(&repo, repo_dir, &parent, c.edits)?;
    if let Some(sha) = same_remote_commit(&repo, c, parent.id(), tree_id) {
        return Ok(BranchUpdate::Unchanged(sha));
    }
    let tree = repo.find_tree(tree_id).map_err(git("find the new tree"))?;
    let sig = Signature::now(&c.identity.name, &c.identity.email).map_err(git("sign"))?;
    let oid = repo
        .commit(None, &sig, &sig, c.message, &tree, &[&parent])
        .map_err(git("commit"))?;
    repo.reference(
        &format!("refs/heads/{}", c.branch),
        oid,
        true,
        "flotilla: drift branch",
    )
    .map_err(git("move the branch"))?;
    Ok(BranchUpdate::Created(oid.to_string()))
}

/// The parent's tree with every edit written in.
fn edited_tree(
    repo: &Repository,
    repo_dir: &Path,
    parent: &git2::Commit<'_>,
    edits: &BTreeMap<String, String>,
) -> Result<Oid> {
    let git = |step| {
        move |source| Error::Git {
            repo: repo_dir.to_owned(),
            branch: String::new(),
            step,
            source,
        }
    };
    let base = parent.tree().map_err(git("read the parent tree"))?;
    let mut update = TreeUpdateBuilder::new();
    for (path, contents) in edits {
        if !is_inside(path) {
            return Err(Error::Path {
                repo: repo_dir.to_owned(),
                path: path.clone(),
            });
        }
        let blob = repo
            .blob(contents.as_bytes())
            .map_err(git("store a file"))?;
        update.upsert(path.as_str(), blob, FileMode::Blob);
    }
    update
        .create_updated(repo, &base)
        .map_err(git("build the tree"))
}

/// A relative path without `..`, `.` or empty segments.
fn is_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The remote branch's head when it is the bot's commit of this very tree
/// on this very parent.
fn same_remote_commit(
    repo: &Repository,
    c: &BranchCommit<'_>,
    parent: Oid,
    tree: Oid,
) -> Option<String> {
    let head = remote_head(repo, c.branch)?;
    let same =
        head.tree_id() == tree && head.parent_ids().eq([parent]) && is_by(&head, &c.identity.email);
    same.then(|| head.id().to_string())
}

fn remote_head<'r>(repo: &'r Repository, branch: &str) -> Option<git2::Commit<'r>> {
    repo.find_reference(&format!("refs/remotes/origin/{branch}"))
        .ok()?
        .peel_to_commit()
        .ok()
}

fn is_by(commit: &git2::Commit<'_>, email: &str) -> bool {
    let same = |s: Signature<'_>| s.email().is_ok_and(|e| e.eq_ignore_ascii_case(email));
    same(commit.author()) && same(commit.committer())
}

/// Whether `origin/<branch>` (as last fetched) holds a commit, not in
/// `base` (hex), that someone other than `email` authored or committed:
/// a person pushed to the bot's branch.
pub fn foreign_commits_on(repo_dir: &Path, branch: &str, base: &str, email: &str) -> Result<bool> {
    let git = |step| {
        move |source| Error::Git {
            repo: repo_dir.to_owned(),
            branch: branch.to_owned(),
            step,
            source,
        }
    };
    let repo = Repository::open(repo_dir).map_err(git("open"))?;
    let Some(head) = remote_head(&repo, branch) else {
        return Ok(false);
    };
    let mut walk = repo.revwalk().map_err(git("walk the branch"))?;
    walk.push(head.id()).map_err(git("walk the branch"))?;
    let base = Oid::from_str(base).map_err(git("parse the base commit"))?;
    walk.hide(base).map_err(git("walk the branch"))?;
    for oid in walk {
        let oid = oid.map_err(git("walk the branch"))?;
        let commit = repo.find_commit(oid).map_err(git("read a commit"))?;
        if !is_by(&commit, email) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> Identity {
        Identity {
            name: "flotilla".into(),
            email: "flotilla@localhost".into(),
        }
    }

    /// A bare repository with one commit, and the bot's clone of it.
    fn repos(tmp: &Path) -> (Repository, String) {
        let base = {
            let origin = Repository::init_bare(tmp.join("origin.git")).unwrap();
            let sig = Signature::now("someone", "someone@example.com").unwrap();
            let mut update = TreeUpdateBuilder::new();
            let blob = origin.blob(b"a: 1\n").unwrap();
            update.upsert("clusters/c/kustomization.yaml", blob, FileMode::Blob);
            let empty = origin.treebuilder(None).unwrap().write().unwrap();
            let empty = origin.find_tree(empty).unwrap();
            let tree = update.create_updated(&origin, &empty).unwrap();
            let tree = origin.find_tree(tree).unwrap();
            origin
                .commit(Some("refs/heads/main"), &sig, &sig, "base", &tree, &[])
                .unwrap()
                .to_string()
        };
        let url = tmp.join("origin.git").display().to_string();
        let checkout = Repository::clone(&url, tmp.join("checkout")).unwrap();
        (checkout, base)
    }

    fn fetch(checkout: &Repository) {
        checkout
            .find_remote("origin")
            .unwrap()
            .fetch(&["+refs/heads/*:refs/remotes/origin/*"], None, None)
            .unwrap();
    }

    fn push(checkout: &Repository, branch: &str) {
        let spec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        checkout
            .find_remote("origin")
            .unwrap()
            .push(&[spec.as_str()], None)
            .unwrap();
        fetch(checkout);
    }

    #[test]
    fn same_edits_on_the_same_parent_are_not_committed_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let (checkout, base) = repos(tmp.path());
        let dir = tmp.path().join("checkout");
        let edits = BTreeMap::from([(
            "clusters/c/flotilla-drift/p.yaml".to_owned(),
            "x: 1\n".to_owned(),
        )]);
        let id = bot();
        let c = BranchCommit {
            branch: "flotilla/drift/c",
            parent: &base,
            edits: &edits,
            message: "m",
            identity: &id,
        };
        let BranchUpdate::Created(first) = commit_edits(&dir, &c).unwrap() else {
            panic!("first commit must be created");
        };
        let commit = checkout
            .find_commit(Oid::from_str(&first).unwrap())
            .unwrap();
        let tree = commit.tree().unwrap();
        assert!(
            tree.get_path(Path::new("clusters/c/flotilla-drift/p.yaml"))
                .is_ok()
        );
        assert!(
            tree.get_path(Path::new("clusters/c/kustomization.yaml"))
                .is_ok()
        );
        assert!(
            !dir.join("clusters/c/flotilla-drift").exists(),
            "work tree touched"
        );
        push(&checkout, "flotilla/drift/c");
        assert_eq!(
            commit_edits(&dir, &c).unwrap(),
            BranchUpdate::Unchanged(first)
        );
        let other = BTreeMap::from([(
            "clusters/c/flotilla-drift/p.yaml".to_owned(),
            "x: 2\n".to_owned(),
        )]);
        let changed = BranchCommit { edits: &other, ..c };
        assert!(matches!(
            commit_edits(&dir, &changed).unwrap(),
            BranchUpdate::Created(_)
        ));
    }

    #[test]
    fn a_commit_by_someone_else_on_the_remote_branch_is_foreign() {
        let tmp = tempfile::tempdir().unwrap();
        let (checkout, base) = repos(tmp.path());
        let dir = tmp.path().join("checkout");
        let edits = BTreeMap::from([("clusters/c/x.md".to_owned(), "x\n".to_owned())]);
        let id = bot();
        let c = BranchCommit {
            branch: "b",
            parent: &base,
            edits: &edits,
            message: "m",
            identity: &id,
        };
        let BranchUpdate::Created(bot_sha) = commit_edits(&dir, &c).unwrap() else {
            panic!("created");
        };
        push(&checkout, "b");
        assert!(!foreign_commits_on(&dir, "b", &base, &id.email).unwrap());
        let alice = Signature::now("Alice", "alice@example.com").unwrap();
        let parent = checkout
            .find_commit(Oid::from_str(&bot_sha).unwrap())
            .unwrap();
        let tree = parent.tree().unwrap();
        checkout
            .commit(
                Some("refs/heads/b"),
                &alice,
                &alice,
                "mine",
                &tree,
                &[&parent],
            )
            .unwrap();
        push(&checkout, "b");
        assert!(foreign_commits_on(&dir, "b", &base, &id.email).unwrap());
        assert!(!foreign_commits_on(&dir, "missing", &base, &id.email).unwrap());
    }

    #[test]
    fn edit_paths_must_stay_inside() {
        assert!(is_inside("clusters/a/flotilla-drift/x.yaml"));
        assert!(!is_inside("../x"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("a//b"));
        assert!(!is_inside("a/./b"));
    }
}
