//! Apply a [`Plan`]: write, rewrite and delete generated files atomically.
//!
//! Each file is written to a temporary file in its own directory, flushed to
//! disk, then renamed over the target, so a reader (Flux, git, an editor)
//! sees the old file or the new one, never half of one, even if flotilla is
//! killed mid-way. Ownership is checked again right before acting, because
//! someone may have taken a file over by hand since it was planned, and no
//! symlink is ever written through or deleted: a deletion re-reads the file
//! without following symlinks, and a write refuses a parent folder that is
//! no longer a real directory (the rename itself replaces, never follows, a
//! symlink at the target).

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::{Plan, file_pool, in_chunks, read_header};
use crate::tree::Tree;

/// Prefix of the temporary files; a leftover one (after a crash) carries
/// the header once written and is cleaned up by the next run's plan.
const TEMP_PREFIX: &str = ".flotilla-";

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files written that did not exist.
    pub created: usize,
    /// Generated files rewritten.
    pub updated: usize,
    /// Generated files removed.
    pub deleted: usize,
    /// Generated files left as they were.
    pub unchanged: usize,
    /// Directories removed because deletes emptied them.
    pub removed_dirs: usize,
}

impl Summary {
    /// Whether nothing on disk was touched.
    pub fn wrote_nothing(&self) -> bool {
        self.created == 0 && self.updated == 0 && self.deleted == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wrote_nothing() {
            return write!(f, "up to date: nothing to write");
        }
        write!(
            f,
            "created {}, updated {}, deleted {}, unchanged {}",
            self.created, self.updated, self.deleted, self.unchanged
        )
    }
}

/// Make the disk under `root` match `tree` as `plan` (made by
/// [`crate::plan::plan`] from the same tree) says.
///
/// Refuses to do anything while the plan has conflicts, or when a file to
/// overwrite or delete has lost its header since planning. Deletes run
/// first (a removed file may be where a new directory goes), then emptied
/// directories are removed, then files are written.
pub fn apply(plan: &Plan, tree: &Tree, root: &Path) -> Result<Summary> {
    refuse_conflicts(plan, root)?;
    confirm_still_generated(&plan.update, root, "overwrite")?;
    confirm_still_generated(&plan.delete, root, "delete")?;
    delete_generated(&plan.delete, root)?;
    let removed_dirs = remove_emptied_dirs(&plan.delete, root);
    let targets: Vec<&str> = plan
        .create
        .iter()
        .chain(&plan.update)
        .map(String::as_str)
        .collect();
    write_all_in_parallel(&targets, tree, root)?;
    Ok(Summary {
        created: plan.create.len(),
        updated: plan.update.len(),
        deleted: plan.delete.len(),
        unchanged: plan.unchanged.len(),
        removed_dirs,
    })
}

fn refuse_conflicts(plan: &Plan, root: &Path) -> Result<()> {
    if plan.conflicts.is_empty() {
        return Ok(());
    }
    Err(Error::Foreign {
        root: root.to_owned(),
        paths: plan.conflicts.clone(),
    })
}

/// Every file in `paths` still carries the header (or is gone).
fn confirm_still_generated(paths: &[String], root: &Path, action: &'static str) -> Result<()> {
    let mut buffer = Vec::new();
    for rel in paths {
        let path = root.join(rel);
        match read_header(root, rel, &mut buffer) {
            Ok(true) => {}
            Ok(false) => return Err(Error::NotGenerated { path, action }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path, source }),
        }
    }
    Ok(())
}

/// Delete each file, re-checking its header immediately before.
fn delete_generated(paths: &[String], root: &Path) -> Result<()> {
    let mut buffer = Vec::new();
    for rel in paths {
        let path = root.join(rel);
        match read_header(root, rel, &mut buffer) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::NotGenerated {
                    path,
                    action: "delete",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Read { path, source }),
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Delete { path, source }),
        }
    }
    Ok(())
}

/// Remove the directories of deleted files that are now empty, deepest
/// first, never `root` itself. A directory still holding anything (a
/// hand-written file) stays, which is why errors are ignored here.
fn remove_emptied_dirs(deleted: &[String], root: &Path) -> usize {
    let mut dirs = BTreeSet::new();
    for rel in deleted {
        let mut rest = rel.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            dirs.insert(parent);
            rest = parent;
        }
    }
    let mut deepest_first: Vec<&str> = dirs.into_iter().collect();
    deepest_first.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    deepest_first
        .into_iter()
        .filter(|dir| fs::remove_dir(root.join(dir)).is_ok())
        .count()
}

/// Above this many files, one `syncfs` replaces a per-file fsync: each
/// fsync waits for its own journal commit (about 3 ms here, 80 s for a
/// 1,000-cluster first bootstrap), while one filesystem sync flushes every
/// staged file at once. Below it, per-file fsync avoids flushing unrelated
/// dirty data of other processes.
const SYNC_FILESYSTEM_ABOVE: usize = 64;

/// A complete, flushed-or-to-be-flushed temporary file and where it goes.
struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
}

/// Write `targets` (sorted paths) in three phases: stage every file as a
/// temporary file beside its target, make them all durable, then rename
/// each over its target. Every file is on disk before any rename, and an
/// error before the renames leaves the repository untouched (the temporary
/// files are removed when dropped).
fn write_all_in_parallel(targets: &[&str], tree: &Tree, root: &Path) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    // The root is the user's --out: created (through any symlink) if missing.
    fs::create_dir_all(root).map_err(|source| Error::Write {
        path: root.to_owned(),
        source,
    })?;
    let sync_filesystem = cfg!(target_os = "linux") && targets.len() > SYNC_FILESYSTEM_ABOVE;
    let pool = file_pool(targets.len());
    let staged = in_chunks(pool.as_ref(), targets, |part| {
        stage_each(part, tree, root, !sync_filesystem)
    })?;
    if sync_filesystem {
        flush_filesystem(root)?;
    }
    let renamed: Vec<Result<()>> = match &pool {
        Some(pool) => {
            use rayon::prelude::*;
            pool.install(|| staged.into_par_iter().map(rename_each).collect())
        }
        None => staged.into_iter().map(rename_each).collect(),
    };
    renamed.into_iter().collect()
}

/// Stage each path in order, creating each parent directory once.
fn stage_each(targets: &[&str], tree: &Tree, root: &Path, fsync: bool) -> Result<Vec<Staged>> {
    let mut staged = Vec::with_capacity(targets.len());
    let mut last_parent: Option<&str> = None;
    for &rel in targets {
        let contents = tree.get(rel).ok_or_else(|| Error::TreePath {
            path: rel.to_owned(),
        })?;
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let dir = root.join(parent);
        if last_parent != Some(parent) {
            create_real_dirs(root, parent)?;
            last_parent = Some(parent);
        }
        let target = root.join(rel);
        let temp = stage(&dir, contents, fsync).map_err(|source| Error::Write {
            path: target.clone(),
            source,
        })?;
        staged.push(Staged { temp, target });
    }
    Ok(staged)
}

/// Create `root/parent` and the folders on the way, refusing any that
/// exists as something other than a real directory (a symlink above a
/// generated file would send the write outside the repository).
fn create_real_dirs(root: &Path, parent: &str) -> Result<()> {
    let mut dir = root.to_owned();
    for component in parent.split('/').filter(|c| !c.is_empty()) {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                return Err(Error::Write {
                    path: dir,
                    source: io::Error::other("not a directory (a symlink is never followed)"),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path: dir, source }),
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            // Another worker made it in the meantime; checked on the next run.
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) => {}
            Err(source) => return Err(Error::Write { path: dir, source }),
        }
    }
    Ok(())
}

/// Write `contents` to a closed temporary file in `dir` (so that a large
/// plan does not hold thousands of descriptors), fsynced if asked.
fn stage(dir: &Path, contents: &str, fsync: bool) -> io::Result<tempfile::TempPath> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Generated files are ordinary repository files, not private ones.
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(contents.as_bytes())?;
    if fsync {
        temp.as_file().sync_data()?;
    }
    Ok(temp.into_temp_path())
}

/// Flush the whole filesystem holding `root` (Linux `syncfs`), so every
/// staged file is durable before the renames publish it.
#[cfg(target_os = "linux")]
fn flush_filesystem(root: &Path) -> Result<()> {
    let flush_error = |source| Error::Write {
        path: root.to_owned(),
        source,
    };
    let dir = fs::File::open(root).map_err(flush_error)?;
    rustix::fs::syncfs(&dir).map_err(|e| flush_error(e.into()))
}

#[cfg(not(target_os = "linux"))]
fn flush_filesystem(_root: &Path) -> Result<()> {
    unreachable!("filesystem sync is only chosen on linux")
}

/// Rename each staged file over its target. The directory is not fsynced:
/// the rename is atomic either way, and one fsync per directory would
/// dominate a large first bootstrap for a durability gain git provides.
fn rename_each(staged: Vec<Staged>) -> Result<()> {
    for Staged { temp, target } in staged {
        temp.persist(&target).map_err(|e| Error::Write {
            path: target.clone(),
            source: e.error,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::stamp;
    use crate::plan::plan;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new();
        for (p, body) in files {
            t.insert(*p, stamp(p, body));
        }
        t
    }

    fn sync(t: &Tree, root: &Path) -> Summary {
        let p = plan(t, root).unwrap();
        apply(&p, t, root).unwrap()
    }

    #[test]
    fn writes_then_second_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let t = tree(&[("clusters/a/k.yaml", "a: 1\n"), ("README.md", "# x\n")]);
        let first = sync(&t, &root);
        assert_eq!((first.created, first.updated), (2, 0));
        assert_eq!(
            fs::read_to_string(root.join("clusters/a/k.yaml")).unwrap(),
            t.get("clusters/a/k.yaml").unwrap()
        );
        let second = sync(&t, &root);
        assert!(second.wrote_nothing());
        assert_eq!(second.unchanged, 2);
        assert_eq!(second.to_string(), "up to date: nothing to write");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_world_readable_and_no_temp_files_remain() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        sync(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), dir.path());
        let mode = fs::metadata(dir.path().join("clusters/a/k.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
        let names: Vec<_> = fs::read_dir(dir.path().join("clusters/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k.yaml"]);
    }

    #[test]
    fn many_files_take_the_filesystem_sync_path_and_land_complete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut t = Tree::new();
        for i in 0..(SYNC_FILESYSTEM_ABOVE * 12) {
            let p = format!("clusters/c{:03}/f{}.yaml", i / 7, i % 7);
            let body = stamp(&p, &format!("i: {i}\n"));
            t.insert(p, body);
        }
        let summary = sync(&t, root);
        assert_eq!(summary.created, t.len());
        for (path, contents) in t.iter() {
            assert_eq!(fs::read_to_string(root.join(path)).unwrap(), contents);
        }
        let second = plan(&t, root).unwrap();
        assert!(second.is_up_to_date(), "nothing left over: {second:?}");
    }

    #[test]
    fn removed_cluster_loses_its_files_and_emptied_dirs_but_not_hand_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let both = tree(&[
            ("clusters/a/k.yaml", "a: 1\n"),
            ("clusters/b/k.yaml", "b: 1\n"),
            ("clusters/b/sub/x.yaml", "b: 2\n"),
            ("clusters/c/k.yaml", "c: 1\n"),
        ]);
        sync(&both, root);
        fs::write(root.join("clusters/c/notes.md"), "mine\n").unwrap();
        let only_a = tree(&[("clusters/a/k.yaml", "a: 1\n")]);
        let summary = sync(&only_a, root);
        assert_eq!(summary.deleted, 3);
        assert!(
            !root.join("clusters/b").exists(),
            "emptied dirs are removed"
        );
        assert_eq!(
            fs::read_to_string(root.join("clusters/c/notes.md")).unwrap(),
            "mine\n"
        );
        assert!(!root.join("clusters/c/k.yaml").exists());
        assert!(root.join("clusters/a/k.yaml").exists());
    }

    #[test]
    fn conflict_blocks_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("clusters/a")).unwrap();
        fs::write(root.join("clusters/a/k.yaml"), "hand: written\n").unwrap();
        let t = tree(&[
            ("clusters/a/k.yaml", "a: 1\n"),
            ("clusters/a/new.yaml", "n: 1\n"),
        ]);
        let p = plan(&t, root).unwrap();
        let err = apply(&p, &t, root).unwrap_err();
        assert!(matches!(&err, Error::Foreign { paths, .. } if paths == &["clusters/a/k.yaml"]));
        assert!(err.to_string().contains("clusters/a/k.yaml"), "{err}");
        assert!(!root.join("clusters/a/new.yaml").exists());
        assert_eq!(
            fs::read_to_string(root.join("clusters/a/k.yaml")).unwrap(),
            "hand: written\n"
        );
    }

    #[test]
    fn file_taken_over_after_planning_is_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        sync(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), root);
        let empty = Tree::new();
        let p = plan(&empty, root).unwrap();
        assert_eq!(p.delete, ["clusters/a/k.yaml"]);
        fs::write(root.join("clusters/a/k.yaml"), "now: mine\n").unwrap();
        let err = apply(&p, &empty, root).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotGenerated {
                    action: "delete",
                    ..
                }
            ),
            "{err}"
        );
        assert!(root.join("clusters/a/k.yaml").exists());
    }

    /// A generated file replaced by a symlink (to a generated-looking file
    /// elsewhere) after planning: the symlink is neither read through nor
    /// deleted.
    #[cfg(unix)]
    #[test]
    fn file_replaced_by_a_symlink_after_planning_is_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        sync(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), root);
        let empty = Tree::new();
        let p = plan(&empty, root).unwrap();
        assert_eq!(p.delete, ["clusters/a/k.yaml"]);
        let elsewhere = outside.path().join("k.yaml");
        fs::write(&elsewhere, stamp("x.yaml", "a: 1\n")).unwrap();
        fs::remove_file(root.join("clusters/a/k.yaml")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("clusters/a/k.yaml")).unwrap();
        let err = apply(&p, &empty, root).unwrap_err();
        assert!(matches!(err, Error::NotGenerated { .. }), "{err}");
        assert!(fs::symlink_metadata(root.join("clusters/a/k.yaml")).is_ok());
        assert!(elsewhere.exists());
    }

    /// A folder replaced by a symlink after planning: nothing is written
    /// through it.
    #[cfg(unix)]
    #[test]
    fn folder_replaced_by_a_symlink_after_planning_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = tree(&[("clusters/a/k.yaml", "a: 1\n")]);
        let p = plan(&t, root).unwrap();
        assert_eq!(p.create, ["clusters/a/k.yaml"]);
        fs::create_dir_all(root.join("clusters")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("clusters/a")).unwrap();
        let err = apply(&p, &t, root).unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn update_rewrites_only_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        sync(
            &tree(&[
                ("clusters/a/k.yaml", "a: 1\n"),
                ("clusters/a/j.yaml", "j: 1\n"),
            ]),
            root,
        );
        let summary = sync(
            &tree(&[
                ("clusters/a/k.yaml", "a: 2\n"),
                ("clusters/a/j.yaml", "j: 1\n"),
            ]),
            root,
        );
        assert_eq!(
            (summary.updated, summary.unchanged, summary.created),
            (1, 1, 0)
        );
        assert_eq!(
            summary.to_string(),
            "created 0, updated 1, deleted 0, unchanged 1"
        );
        assert!(
            fs::read_to_string(root.join("clusters/a/k.yaml"))
                .unwrap()
                .ends_with("a: 2\n")
        );
    }
}
