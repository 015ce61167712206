//! Apply a [`Plan`]: write, rewrite and delete generated files atomically.
//!
//! Each file is written to a temporary file in its own directory, flushed to
//! disk, then renamed over the target, so a reader (Flux, git, an editor)
//! sees the old file or the new one, never half of one, even if flotilla is
//! killed mid-way. Ownership is checked again right before acting, because
//! someone may have taken a file over by hand since it was planned.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::plan::{Plan, read_header, worker_count};
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
        match read_header(&path, &mut buffer) {
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
        match read_header(&path, &mut buffer) {
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

/// Write `targets` (sorted paths), split across threads when many.
fn write_all_in_parallel(targets: &[&str], tree: &Tree, root: &Path) -> Result<()> {
    let threads = worker_count(targets.len());
    if threads == 1 {
        return write_each(targets, tree, root);
    }
    let chunk = targets.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .chunks(chunk)
            .map(|part| scope.spawn(move || write_each(part, tree, root)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("write worker panicked"))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

/// Write each path in order, creating each parent directory once.
fn write_each(targets: &[&str], tree: &Tree, root: &Path) -> Result<()> {
    let mut last_parent: Option<&str> = None;
    for &rel in targets {
        let contents = tree.get(rel).ok_or_else(|| Error::TreePath {
            path: rel.to_owned(),
        })?;
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let dir = root.join(parent);
        if last_parent != Some(parent) {
            fs::create_dir_all(&dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
            last_parent = Some(parent);
        }
        let path = root.join(rel);
        write_atomically(&dir, &path, contents).map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

/// Temp file in `dir`, write, fsync, rename over `path`. The directory
/// itself is not fsynced: the rename is atomic either way, and one fsync
/// per directory would dominate a large first bootstrap for a durability
/// gain git already provides.
fn write_atomically(dir: &Path, path: &Path, contents: &str) -> io::Result<()> {
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
    temp.as_file().sync_data()?;
    temp.persist(path).map_err(|e| e.error)?;
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
