//! Whether `--out` is a directory flotilla may own.
//!
//! Generated files only ever replace or remove files that carry the header
//! (see [`crate::plan`]), so a wrong `--out` cannot destroy hand-written
//! work; it would still scatter `clusters/` and `infrastructure/` folders
//! over a directory that is not a GitOps repository. The careless cases
//! (`--out /`, `--out ~`, `--out ..`) are refused before anything is read or
//! written. The path is resolved first (symlinks followed, `..` applied),
//! so a symlink to one of these is refused as well. The rule, in order:
//!
//! 1. never the root of the file system;
//! 2. never the home directory (`$HOME`) or a directory that contains it;
//! 3. never a directory above the current one that contains the fleet spec
//!    (`--out ..` run from the spec's folder);
//! 4. an existing path must be a directory, and a non-empty one must already
//!    look like a repository flotilla writes to: it has a top-level
//!    `clusters/`, `infrastructure/` or `apps/` folder (the layout Flux
//!    documents, fluxcd.io/flux/guides/repository-structure, and the only
//!    places flotilla generates files), or holds nothing but `.git` (an
//!    empty git repository). Any other non-empty directory is claimed only
//!    with `--init`, which the user gives once; afterwards it holds
//!    `clusters/` and passes on its own.
//!
//! A missing `--out` is fine (it is created); a mounted file system's root is
//! treated like any other directory (rule 4).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Top-level folders that make a non-empty directory a GitOps repository
/// flotilla may write to without `--init`.
pub const REPOSITORY_DIRS: &[&str] = &["clusters", "infrastructure", "apps"];

/// What the `--out` rule needs to know besides the path.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The fleet spec (file or folder), as given.
    pub spec: PathBuf,
    /// The current directory, if known.
    pub cwd: Option<PathBuf>,
    /// The user's home directory, if known.
    pub home: Option<PathBuf>,
    /// `--init`: the user claims a non-empty directory for flotilla.
    pub init: bool,
}

/// Why `--out` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `/` (or a drive root).
    #[error("it is the root of the file system")]
    FilesystemRoot,
    /// `$HOME` itself.
    #[error("it is your home directory")]
    Home,
    /// A directory above `$HOME`.
    #[error("it contains your home directory")]
    AboveHome,
    /// `..` (or higher) of the current directory, holding the spec.
    #[error(
        "it is above the current directory and contains the fleet spec; give the generated repository a folder of its own (or run from that directory with --out .)"
    )]
    AboveSpec,
    /// A file, not a directory.
    #[error("it exists and is not a directory")]
    NotADirectory,
    /// A symlink whose target does not exist (creating it would create the
    /// target, wherever it points).
    #[error("it is a symlink whose target does not exist")]
    DanglingSymlink,
    /// A path whose `..` cannot be applied because what precedes it does
    /// not exist.
    #[error("it has `..` after a folder that does not exist")]
    Unresolvable,
    /// Non-empty, and neither a Flux repository layout nor an empty git
    /// repository.
    #[error(
        "it is not empty and has no clusters/, infrastructure/ or apps/ folder (it does not look like a GitOps repository); if it is the repository you mean, run once with --init"
    )]
    NotARepository,
}

/// Refuse `out` unless flotilla may own it (the rule is in the module
/// documentation). Reads only directory listings and metadata.
///
/// # Errors
///
/// [`Error::OutDir`] naming the path (and what it resolves to) and the
/// rule; [`Error::Read`] when the path cannot be examined at all.
pub fn check(out: &Path, context: &Context) -> Result<()> {
    let refuse = |resolved: Option<&Path>, refusal| Error::OutDir {
        path: out.to_owned(),
        resolved: resolved
            .filter(|r| std::path::absolute(out).ok().as_deref() != Some(*r))
            .map(Path::to_owned),
        refusal,
    };
    let resolved = match resolve(out) {
        Ok(Resolved::Path(p)) => p,
        Ok(Resolved::Dangling) => return Err(refuse(None, Refusal::DanglingSymlink)),
        Ok(Resolved::DotDotAfterMissing) => return Err(refuse(None, Refusal::Unresolvable)),
        Err(source) => {
            return Err(Error::Read {
                path: out.to_owned(),
                source,
            });
        }
    };
    if let Some(refusal) = refusal(&resolved, context) {
        return Err(refuse(Some(&resolved), refusal));
    }
    Ok(())
}

/// The first rule `resolved` breaks, if any.
fn refusal(resolved: &Path, context: &Context) -> Option<Refusal> {
    if resolved.parent().is_none() {
        return Some(Refusal::FilesystemRoot);
    }
    if let Some(home) = context
        .home
        .as_deref()
        .and_then(|h| fs::canonicalize(h).ok())
    {
        if home == resolved {
            return Some(Refusal::Home);
        }
        if home.starts_with(resolved) {
            return Some(Refusal::AboveHome);
        }
    }
    if let Some(cwd) = context
        .cwd
        .as_deref()
        .and_then(|c| fs::canonicalize(c).ok())
    {
        let spec = fs::canonicalize(&context.spec)
            .or_else(|_| std::path::absolute(&context.spec))
            .ok();
        let above_cwd = cwd.starts_with(resolved) && cwd != resolved;
        if above_cwd && spec.is_some_and(|s| s.starts_with(resolved)) {
            return Some(Refusal::AboveSpec);
        }
    }
    match fs::metadata(resolved) {
        Ok(meta) if !meta.is_dir() => Some(Refusal::NotADirectory),
        Ok(_) if context.init => None,
        Ok(_) => (!looks_like_a_repository(resolved)).then_some(Refusal::NotARepository),
        Err(_) => None,
    }
}

/// Empty, nothing but `.git`, or a top-level [`REPOSITORY_DIRS`] folder (a
/// real directory, not a symlink). An unreadable listing counts as not a
/// repository.
fn looks_like_a_repository(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<OsString> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    let only_git = names.iter().all(|n| n == ".git");
    only_git
        || REPOSITORY_DIRS.iter().any(|d| {
            names.iter().any(|n| n == d)
                && fs::symlink_metadata(dir.join(d)).is_ok_and(|m| m.is_dir())
        })
}

/// What `--out` resolves to.
enum Resolved {
    /// Absolute, symlinks followed, `..` applied; the tail that does not
    /// exist yet appended as written.
    Path(PathBuf),
    /// The path, or the first missing part of it, is a dangling symlink.
    Dangling,
    /// `missing/..`: nothing to resolve `..` against.
    DotDotAfterMissing,
}

/// Resolve the longest existing prefix of `path` and append the rest.
fn resolve(path: &Path) -> io::Result<Resolved> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut missing: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        match fs::canonicalize(existing) {
            Ok(mut resolved) => {
                resolved.extend(missing.iter().rev());
                return Ok(Resolved::Path(resolved));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(existing).is_ok() {
                    return Ok(Resolved::Dangling);
                }
                let (Some(name), Some(parent)) = (existing.file_name(), existing.parent()) else {
                    return Ok(Resolved::DotDotAfterMissing);
                };
                missing.push(name);
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(spec: &Path) -> Context {
        Context {
            spec: spec.to_owned(),
            ..Context::default()
        }
    }

    fn refusal_of(out: &Path, context: &Context) -> Option<Refusal> {
        match check(out, context) {
            Ok(()) => None,
            Err(Error::OutDir { refusal, .. }) => Some(refusal),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_file_system_root_is_refused_also_through_a_symlink_or_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(&dir.path().join("fleet.yaml"));
        assert_eq!(
            refusal_of(Path::new("/"), &ctx),
            Some(Refusal::FilesystemRoot)
        );
        let many_ups = dir.path().join("../../../../../../../../../../..");
        assert_eq!(refusal_of(&many_ups, &ctx), Some(Refusal::FilesystemRoot));
        #[cfg(unix)]
        {
            let link = dir.path().join("root");
            std::os::unix::fs::symlink("/", &link).unwrap();
            let err = check(&link, &ctx).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "refusing --out {} (resolves to /): it is the root of the file system",
                    link.display()
                )
            );
        }
    }

    #[test]
    fn home_and_its_ancestors_are_refused_even_with_init() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home/me");
        fs::create_dir_all(home.join(".git")).unwrap();
        fs::create_dir_all(home.join("clusters")).unwrap();
        let ctx = Context {
            home: Some(home.clone()),
            init: true,
            ..context(&home.join("fleet.yaml"))
        };
        assert_eq!(refusal_of(&home, &ctx), Some(Refusal::Home));
        assert_eq!(refusal_of(&home.join(".."), &ctx), Some(Refusal::AboveHome));
        assert_eq!(refusal_of(&home.join("fleet-gitops"), &ctx), None);
    }

    #[test]
    fn a_directory_above_the_current_one_holding_the_spec_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let platform = repo.join("platform");
        fs::create_dir_all(&platform).unwrap();
        fs::create_dir_all(repo.join("clusters")).unwrap();
        let ctx = Context {
            cwd: Some(platform.clone()),
            init: true,
            ..context(&platform.join("fleet.yaml"))
        };
        assert_eq!(
            refusal_of(&platform.join(".."), &ctx),
            Some(Refusal::AboveSpec)
        );
        // From the repository root, `--out .` is the normal case.
        let from_root = Context {
            cwd: Some(repo.clone()),
            ..ctx.clone()
        };
        assert_eq!(refusal_of(&repo, &from_root), None);
        // A spec elsewhere does not make the parent off limits (rule 4 still applies).
        let elsewhere = Context {
            spec: dir.path().join("other/fleet.yaml"),
            ..ctx
        };
        assert_eq!(refusal_of(&platform.join(".."), &elsewhere), None);
    }

    #[test]
    fn a_non_empty_directory_needs_a_repository_layout_or_init() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(&dir.path().join("fleet.yaml"));
        let missing = dir.path().join("new/fleet-gitops");
        assert_eq!(refusal_of(&missing, &ctx), None, "created on write");
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(refusal_of(&empty, &ctx), None);
        let bare_git = dir.path().join("bare");
        fs::create_dir_all(bare_git.join(".git")).unwrap();
        assert_eq!(refusal_of(&bare_git, &ctx), None, "an empty git repository");

        let docs = dir.path().join("docs");
        fs::create_dir_all(docs.join(".git")).unwrap();
        fs::write(docs.join("notes.txt"), "mine").unwrap();
        assert_eq!(refusal_of(&docs, &ctx), Some(Refusal::NotARepository));
        let init = Context {
            init: true,
            ..ctx.clone()
        };
        assert_eq!(refusal_of(&docs, &init), None);
        for layout in REPOSITORY_DIRS {
            let repo = dir.path().join(format!("with-{layout}"));
            fs::create_dir_all(repo.join(layout)).unwrap();
            fs::write(repo.join("README.md"), "# fleet").unwrap();
            assert_eq!(refusal_of(&repo, &ctx), None, "{layout}");
        }
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert_eq!(refusal_of(&file, &init), Some(Refusal::NotADirectory));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_layout_folder_or_a_dangling_out_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(&dir.path().join("fleet.yaml"));
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(dir.path(), out.join("clusters")).unwrap();
        assert_eq!(refusal_of(&out, &ctx), Some(Refusal::NotARepository));
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere/else"), &dangling).unwrap();
        assert_eq!(refusal_of(&dangling, &ctx), Some(Refusal::DanglingSymlink));
        assert_eq!(
            refusal_of(&dir.path().join("missing/../x"), &ctx),
            Some(Refusal::Unresolvable)
        );
    }
}
