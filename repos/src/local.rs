//! A local working tree used as it is (no checkout): what `flotilla audit
//! --repo <dir>` audits when no revision is asked for.

use std::path::Path;

/// Flux-style revision of the commit checked out in `dir`
/// (`<branch>@sha1:<hex>`, or `sha1:<hex>` on a detached HEAD), or `None`
/// when `dir` is not inside a git repository or has no commit yet.
pub fn head_revision(dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    let head = repo.head().ok()?;
    let oid = head.peel_to_commit().ok()?.id();
    Some(match head.shorthand().ok().filter(|_| head.is_branch()) {
        Some(branch) => format!("{branch}@sha1:{oid}"),
        None => format!("sha1:{oid}"),
    })
}

/// The commit `rev` names in the repository at `dir`, with git's full
/// revision syntax (`HEAD~2`, `main^`, `origin/main`, short hashes), for
/// revisions a checkout of that repository as a remote cannot resolve.
pub fn resolve_commit(dir: &Path, rev: &str) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    let commit = repo.revparse_single(rev).ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}

/// The URLs of the remotes of the repository at `dir` (`origin` first),
/// scrubbed of any credentials: what Flux sources of this repository point at.
pub fn remote_urls(dir: &Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return Vec::new();
    };
    let Ok(names) = repo.remotes() else {
        return Vec::new();
    };
    let mut names: Vec<&str> = names.iter().filter_map(|n| n.ok().flatten()).collect();
    names.sort_by_key(|n| *n != "origin");
    names
        .into_iter()
        .filter_map(|name| {
            let remote = repo.find_remote(name).ok()?;
            remote.url().ok().map(crate::remote::scrub_userinfo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_directories_have_no_revision() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(head_revision(dir.path()), None);
    }

    #[test]
    fn a_branch_checkout_reports_branch_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let oid = repo
            .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let branch = repo.head().unwrap().shorthand().unwrap().to_owned();
        assert_eq!(
            head_revision(dir.path()),
            Some(format!("{branch}@sha1:{oid}"))
        );
        let second = repo
            .commit(
                Some("HEAD"),
                &sig,
                &sig,
                "two",
                &tree,
                &[&repo.find_commit(oid).unwrap()],
            )
            .unwrap();
        assert_ne!(second, oid);
        assert_eq!(resolve_commit(dir.path(), "HEAD~1"), Some(oid.to_string()));
        assert_eq!(resolve_commit(dir.path(), "no-such-rev"), None);
    }
}
