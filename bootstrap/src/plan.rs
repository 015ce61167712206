//! Tree vs disk: what applying a rendered [`Tree`] would change.
//!
//! The plan is the single place where ownership is decided. A path is ours
//! only if it is a regular file (never a symlink, whatever it points to)
//! whose first line is the generated-file [`header`]: such files may be
//! updated, or deleted once the fleet no longer generates them. Anything
//! else that sits where the tree wants to write (a hand-written file, a
//! directory, a symlink, a FIFO) is a conflict, and
//! [`crate::write::apply`] refuses to write anything at all while there is
//! one. Hand-written files elsewhere are never touched, and symlinked
//! directories are never entered.
//!
//! Planning reads every generated file, so on a no-change re-run of a large
//! fleet it is all the work there is; it compares bytes into a reused buffer
//! and spreads the reads over a few threads.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};
use crate::header;
use crate::tree::Tree;

/// Top-level directories flotilla manages even when the current tree has no
/// file in them, so that the generated files of a removed cluster (or a
/// whole removed component) are still found and deleted.
pub const MANAGED_DIRS: &[&str] = &["clusters", "infrastructure"];

/// Below this many files, threads cost more than they save.
const PARALLEL_THRESHOLD: usize = 512;

/// What applying a tree to a directory would do, path by path. Paths are
/// `/`-separated, relative to the output root, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Generated paths with nothing on disk yet.
    pub create: Vec<String>,
    /// Generated files on disk whose bytes differ from the tree.
    pub update: Vec<String>,
    /// Files carrying the header, in a managed directory, that the tree no
    /// longer has.
    pub delete: Vec<String>,
    /// Generated files already identical to the tree.
    pub unchanged: Vec<String>,
    /// Paths the tree wants that a hand-written file (or a directory or
    /// symlink) occupies. Any conflict blocks the whole apply.
    pub conflicts: Vec<String>,
}

/// One change of a [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Write a new file.
    Create,
    /// Rewrite a generated file.
    Update,
    /// Remove a generated file.
    Delete,
}

impl Action {
    /// Lower-case verb, as printed by `--dry-run` and `--check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

impl Plan {
    /// Whether applying would change nothing and nothing blocks it.
    pub fn is_up_to_date(&self) -> bool {
        !self.has_changes() && self.conflicts.is_empty()
    }

    /// Whether any file would be created, updated or deleted.
    pub fn has_changes(&self) -> bool {
        !(self.create.is_empty() && self.update.is_empty() && self.delete.is_empty())
    }

    /// Every change, sorted by path.
    pub fn changes(&self) -> Vec<(&str, Action)> {
        let mut all: Vec<(&str, Action)> =
            Vec::with_capacity(self.create.len() + self.update.len() + self.delete.len());
        for (paths, action) in [
            (&self.create, Action::Create),
            (&self.update, Action::Update),
            (&self.delete, Action::Delete),
        ] {
            all.extend(paths.iter().map(|p| (p.as_str(), action)));
        }
        all.sort_unstable();
        all
    }

    /// Names of the clusters with a changed file under `clusters/<name>/`,
    /// sorted and deduplicated (for commit messages).
    pub fn changed_clusters(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .changes()
            .into_iter()
            .filter_map(|(path, _)| cluster_of(path))
            .collect();
        names.dedup();
        names
    }
}

/// The cluster a path belongs to, if it is under `clusters/<name>/`.
fn cluster_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("clusters/")?;
    rest.split_once('/').map(|(name, _)| name)
}

/// Compare `tree` with the files under `root` (which need not exist).
///
/// Reads only what it must: the directories flotilla manages, every file the
/// tree has, and the first bytes of files it may delete.
pub fn plan(tree: &Tree, root: &Path) -> Result<Plan> {
    check_tree_paths(tree)?;
    let disk = list_disk(tree, root)?;
    let work = match_tree_with_disk(tree, &disk);
    let outcomes = inspect_in_parallel(&work, root)?;
    Ok(collect_plan(work, outcomes))
}

/// Reject absolute paths, `..`, empty components: a tree is data from the
/// renderer, and one bad key must not write outside the repository.
fn check_tree_paths(tree: &Tree) -> Result<()> {
    for (path, _) in tree.iter() {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(Error::TreePath {
                path: path.to_owned(),
            });
        }
    }
    Ok(())
}

/// What occupies a path on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A symlink, socket, device…: never followed, never ours.
    Other,
}

/// Every file, symlink and directory under the managed directories, plus
/// the tree's top-level files, sorted by path.
fn list_disk(tree: &Tree, root: &Path) -> Result<Vec<(String, Kind)>> {
    let mut found = Vec::with_capacity(tree.len() + 64);
    for dir in managed_dirs(tree) {
        let path = root.join(dir);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, dir.to_owned(), &mut found)?,
            Ok(_) => found.push((dir.to_owned(), Kind::Other)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path, source }),
        }
    }
    for (path, _) in tree.iter().filter(|(p, _)| !p.contains('/')) {
        let full = root.join(path);
        match fs::symlink_metadata(&full) {
            Ok(meta) => found.push((path.to_owned(), kind_of(meta.file_type()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path: full, source }),
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// [`MANAGED_DIRS`] plus the first component of every nested tree path.
fn managed_dirs(tree: &Tree) -> Vec<&str> {
    let mut dirs: Vec<&str> = MANAGED_DIRS.to_vec();
    let mut last = "";
    for (path, _) in tree.iter() {
        if let Some((top, _)) = path.split_once('/')
            && top != last
        {
            dirs.push(top);
            last = top;
        }
    }
    dirs.sort_unstable();
    dirs.dedup();
    dirs
}

fn kind_of(file_type: fs::FileType) -> Kind {
    if file_type.is_file() {
        Kind::File
    } else if file_type.is_dir() {
        Kind::Dir
    } else {
        Kind::Other
    }
}

/// Depth-first listing of `dir` (relative name `rel`). Directories are
/// recorded too so a tree path occupied by a directory is seen; symlinks
/// are recorded but never followed.
fn walk(dir: &Path, rel: String, found: &mut Vec<(String, Kind)>) -> Result<()> {
    let list_error = |source| Error::ListDir {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let file_type = entry.file_type().map_err(list_error)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            // Not a name flotilla could have generated.
            continue;
        };
        let child = format!("{rel}/{name}");
        if file_type.is_dir() {
            found.push((child.clone(), Kind::Dir));
            walk(&entry.path(), child, found)?;
        } else {
            found.push((child, kind_of(file_type)));
        }
    }
    Ok(())
}

/// A path that needs a look at its bytes, or is decided already.
#[derive(Debug)]
enum Work<'t> {
    /// Nothing on disk.
    Create(&'t str),
    /// Something other than a regular file where the tree wants one.
    Occupied(&'t str),
    /// A file on disk the tree also has: compare.
    Compare(&'t str, &'t str),
    /// A file on disk the tree does not have: ours to delete if generated.
    Orphan(String),
}

/// Merge-join the sorted tree with the sorted disk listing.
fn match_tree_with_disk<'t>(tree: &'t Tree, disk: &[(String, Kind)]) -> Vec<Work<'t>> {
    let mut work = Vec::with_capacity(tree.len().max(disk.len()));
    let mut files = tree.iter().peekable();
    let mut found = disk.iter().peekable();
    loop {
        match (files.peek(), found.peek()) {
            (None, None) => break,
            (Some(&(path, contents)), Some((on_disk, kind))) => match path.cmp(on_disk.as_str()) {
                std::cmp::Ordering::Less => {
                    work.push(create_or_blocked(path, disk));
                    files.next();
                }
                std::cmp::Ordering::Greater => {
                    push_orphan(&mut work, on_disk, *kind);
                    found.next();
                }
                std::cmp::Ordering::Equal => {
                    work.push(match kind {
                        Kind::File => Work::Compare(path, contents),
                        Kind::Dir | Kind::Other => Work::Occupied(path),
                    });
                    files.next();
                    found.next();
                }
            },
            (Some(&(path, _)), None) => {
                work.push(create_or_blocked(path, disk));
                files.next();
            }
            (None, Some((on_disk, kind))) => {
                push_orphan(&mut work, on_disk, *kind);
                found.next();
            }
        }
    }
    work
}

/// A new file, unless one of its parent directories is not a directory on
/// disk: a file there would make the write fail half-way, and a symlink
/// would send it outside the repository.
fn create_or_blocked<'t>(path: &'t str, disk: &[(String, Kind)]) -> Work<'t> {
    let blocked = path.match_indices('/').any(|(end, _)| {
        let ancestor = &path[..end];
        disk.binary_search_by(|(p, _)| p.as_str().cmp(ancestor))
            .is_ok_and(|i| disk[i].1 != Kind::Dir)
    });
    if blocked {
        Work::Occupied(path)
    } else {
        Work::Create(path)
    }
}

fn push_orphan(work: &mut Vec<Work<'_>>, path: &str, kind: Kind) {
    if kind == Kind::File {
        work.push(Work::Orphan(path.to_owned()));
    }
}

/// What the bytes on disk said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Create,
    Unchanged,
    Update,
    Conflict,
    Delete,
    Keep,
}

/// Inspect every work item, split across threads when there are many.
fn inspect_in_parallel(work: &[Work<'_>], root: &Path) -> Result<Vec<Outcome>> {
    let pool = file_pool(work.len());
    let parts = in_chunks(pool.as_ref(), work, |part| inspect_all(part, root))?;
    Ok(parts.into_iter().flatten().collect())
}

/// A rayon pool of [`worker_count`] threads for `items` file operations,
/// or `None` when one thread does (or no thread could be made). File
/// operations block on the disk, so they get a small pool of their own
/// rather than rayon's global one.
pub(crate) fn file_pool(items: usize) -> Option<rayon::ThreadPool> {
    match worker_count(items) {
        1 => None,
        n => rayon::ThreadPoolBuilder::new().num_threads(n).build().ok(),
    }
}

/// Run `work` on chunks of `items` (one per thread of `pool`, or all of
/// them here without one), keeping one result list per chunk in `items`'
/// order; the first error in that order is returned, whatever finished first.
pub(crate) fn in_chunks<T: Sync, R: Send>(
    pool: Option<&rayon::ThreadPool>,
    items: &[T],
    work: impl Fn(&[T]) -> Result<Vec<R>> + Sync,
) -> Result<Vec<Vec<R>>> {
    use rayon::prelude::*;
    let Some(pool) = pool else {
        return Ok(vec![work(items)?]);
    };
    let chunk = items.len().div_ceil(pool.current_num_threads()).max(1);
    let parts: Vec<Result<Vec<R>>> = pool.install(|| items.par_chunks(chunk).map(&work).collect());
    parts.into_iter().collect()
}

/// How many threads to use for `items` independent file operations: up to
/// the machine's parallelism, at most 4 (more only contends on the disk).
pub(crate) fn worker_count(items: usize) -> usize {
    if items < PARALLEL_THRESHOLD {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

/// Inspect `work` in order on this thread, reusing one read buffer.
fn inspect_all(work: &[Work<'_>], root: &Path) -> Result<Vec<Outcome>> {
    let mut buffer = Vec::new();
    work.iter()
        .map(|item| inspect(item, root, &mut buffer))
        .collect()
}

fn inspect(item: &Work<'_>, root: &Path, buffer: &mut Vec<u8>) -> Result<Outcome> {
    match item {
        Work::Create(_) => Ok(Outcome::Create),
        Work::Occupied(_) => Ok(Outcome::Conflict),
        Work::Compare(path, contents) => compare_file(root, path, contents, buffer),
        Work::Orphan(path) => {
            let full = root.join(path);
            match read_header(root, path, buffer) {
                Ok(true) => Ok(Outcome::Delete),
                Ok(false) => Ok(Outcome::Keep),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Outcome::Keep),
                Err(source) => Err(Error::Read { path: full, source }),
            }
        }
    }
}

/// Unchanged if the bytes match, else ours (update) or not (conflict).
/// Something that stopped being a regular file since the listing is not
/// ours either.
fn compare_file(root: &Path, rel: &str, contents: &str, buffer: &mut Vec<u8>) -> Result<Outcome> {
    let path = root.join(rel);
    buffer.clear();
    let read = open_regular(&path).and_then(|file| match file {
        Some(mut file) => file.read_to_end(buffer).map(|_| true),
        None => Ok(false),
    });
    match read {
        Ok(false) => Ok(Outcome::Conflict),
        Ok(true) if buffer.as_slice() == contents.as_bytes() => Ok(Outcome::Unchanged),
        Ok(true) if header::is_generated(rel, buffer) => Ok(Outcome::Update),
        Ok(true) => Ok(Outcome::Conflict),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Outcome::Create),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Whether the file at `root/rel` is a regular file whose first line is
/// the generated-file header; reads only as much as the header needs. A
/// symlink, FIFO or directory there is never generated.
pub(crate) fn read_header(root: &Path, rel: &str, buffer: &mut Vec<u8>) -> io::Result<bool> {
    buffer.clear();
    let Some(file) = open_regular(&root.join(rel))? else {
        return Ok(false);
    };
    file.take(header::header_len(rel) as u64)
        .read_to_end(buffer)?;
    Ok(header::is_generated(rel, buffer))
}

/// Opens `path` for reading if it is a regular file: `None` if it is a
/// symlink (never followed, wherever it points), a directory, a FIFO (never
/// waited on), a socket or a device.
#[cfg(unix)]
pub(crate) fn open_regular(path: &Path) -> io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        // O_NOFOLLOW on a symlink.
        Err(rustix::io::Errno::LOOP) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(file.metadata()?.is_file().then_some(file))
}

/// Opens `path` for reading if it is a regular file (see the unix version).
#[cfg(not(unix))]
pub(crate) fn open_regular(path: &Path) -> io::Result<Option<File>> {
    if !fs::symlink_metadata(path)?.is_file() {
        return Ok(None);
    }
    let file = File::open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
}

fn collect_plan(work: Vec<Work<'_>>, outcomes: Vec<Outcome>) -> Plan {
    let mut plan = Plan::default();
    for (item, outcome) in work.into_iter().zip(outcomes) {
        let path = match item {
            Work::Create(p) | Work::Occupied(p) | Work::Compare(p, _) => p.to_owned(),
            Work::Orphan(p) => p,
        };
        match outcome {
            Outcome::Create => plan.create.push(path),
            Outcome::Unchanged => plan.unchanged.push(path),
            Outcome::Update => plan.update.push(path),
            Outcome::Conflict => plan.conflicts.push(path),
            Outcome::Delete => plan.delete.push(path),
            Outcome::Keep => {}
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::stamp;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new();
        for (p, body) in files {
            t.insert(*p, stamp(p, body));
        }
        t
    }

    fn put(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    #[test]
    fn empty_disk_plans_every_file_as_create() {
        let dir = tempfile::tempdir().unwrap();
        let t = tree(&[("clusters/a/k.yaml", "a: 1\n"), ("README.md", "# x\n")]);
        let plan = plan(&t, &dir.path().join("missing")).unwrap();
        assert_eq!(plan.create, ["README.md", "clusters/a/k.yaml"]);
        assert!(plan.update.is_empty() && plan.delete.is_empty() && plan.conflicts.is_empty());
    }

    #[test]
    fn classifies_unchanged_update_delete_conflict_and_keeps_hand_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = tree(&[
            ("clusters/a/same.yaml", "a: 1\n"),
            ("clusters/a/changed.yaml", "a: 2\n"),
            ("clusters/a/taken.yaml", "a: 3\n"),
        ]);
        put(root, "clusters/a/same.yaml", &stamp("x.yaml", "a: 1\n"));
        put(
            root,
            "clusters/a/changed.yaml",
            &stamp("x.yaml", "a: old\n"),
        );
        put(root, "clusters/a/taken.yaml", "hand: written\n");
        put(root, "clusters/gone/old.yaml", &stamp("x.yaml", "b: 1\n"));
        put(root, "clusters/a/notes.yaml", "mine: true\n");
        put(root, "apps/copied.yaml", &stamp("x.yaml", "not: managed\n"));

        let plan = plan(&t, root).unwrap();
        assert_eq!(plan.unchanged, ["clusters/a/same.yaml"]);
        assert_eq!(plan.update, ["clusters/a/changed.yaml"]);
        assert_eq!(plan.conflicts, ["clusters/a/taken.yaml"]);
        assert_eq!(plan.delete, ["clusters/gone/old.yaml"]);
        assert!(plan.create.is_empty());
        assert_eq!(plan.changed_clusters(), ["a", "gone"]);
    }

    #[test]
    fn directory_where_a_file_belongs_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("clusters/a/k.yaml")).unwrap();
        let plan = plan(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), dir.path()).unwrap();
        assert_eq!(plan.conflicts, ["clusters/a/k.yaml"]);
    }

    #[cfg(unix)]
    #[test]
    fn paths_below_a_symlink_or_a_file_are_conflicts_not_writes() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("clusters")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("clusters/a")).unwrap();
        put(dir.path(), "clusters/b", "a file, hand-written\n");
        let t = tree(&[
            ("clusters/a/k.yaml", "a: 1\n"),
            ("clusters/b/k.yaml", "b: 1\n"),
            ("clusters/c/k.yaml", "c: 1\n"),
        ]);
        let plan = plan(&t, dir.path()).unwrap();
        assert_eq!(plan.conflicts, ["clusters/a/k.yaml", "clusters/b/k.yaml"]);
        assert_eq!(plan.create, ["clusters/c/k.yaml"]);
        assert!(
            plan.delete.is_empty(),
            "a hand-written file is never deleted"
        );
    }

    /// A hand-written file that quotes the header below its first line is
    /// not ours: kept when orphaned, a conflict where the tree writes.
    #[test]
    fn the_header_below_line_one_is_hand_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let quoted = format!("# my runbook\n{}", stamp("x.yaml", "a: 1\n"));
        put(root, "clusters/gone/notes.yaml", &quoted);
        put(root, "clusters/a/k.yaml", &quoted);
        let plan = plan(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), root).unwrap();
        assert!(plan.delete.is_empty(), "{plan:?}");
        assert_eq!(plan.conflicts, ["clusters/a/k.yaml"]);
    }

    /// Symlinks in the output are never entered, never deleted and never
    /// updated, even when what they point to looks generated.
    #[cfg(unix)]
    #[test]
    fn symlinks_to_generated_looking_files_outside_are_never_ours() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        let generated = stamp("x.yaml", "a: 1\n");
        put(outside.path(), "k.yaml", &generated);
        fs::create_dir_all(root.join("clusters/a")).unwrap();
        symlink(outside.path(), root.join("clusters/gone")).unwrap();
        symlink(
            outside.path().join("k.yaml"),
            root.join("clusters/a/k.yaml"),
        )
        .unwrap();
        symlink(
            outside.path().join("k.yaml"),
            root.join("clusters/a/old.yaml"),
        )
        .unwrap();
        let t = tree(&[("clusters/a/k.yaml", "a: 1\n")]);
        let plan = plan(&t, root).unwrap();
        assert_eq!(plan.conflicts, ["clusters/a/k.yaml"]);
        assert!(plan.delete.is_empty() && plan.update.is_empty(), "{plan:?}");
        assert!(plan.unchanged.is_empty(), "{plan:?}");
    }

    /// A FIFO where a file goes is a conflict, and planning never waits on it.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_a_conflict_and_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("clusters/a")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("clusters/a/k.yaml"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let plan = plan(&tree(&[("clusters/a/k.yaml", "a: 1\n")]), root).unwrap();
        assert_eq!(plan.conflicts, ["clusters/a/k.yaml"]);
        let mut buffer = Vec::new();
        assert!(!read_header(root, "clusters/a/k.yaml", &mut buffer).unwrap());
    }

    #[test]
    fn escaping_tree_paths_are_rejected() {
        for bad in ["../x.yaml", "/etc/x.yaml", "clusters//x.yaml", "a/./b.yaml"] {
            let mut t = Tree::new();
            t.insert(bad, "x");
            let err = plan(&t, Path::new("/nonexistent")).unwrap_err();
            assert!(
                matches!(err, Error::TreePath { ref path } if path == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn many_files_plan_the_same_in_parallel() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tree::new();
        for i in 0..(PARALLEL_THRESHOLD * 2) {
            let p = format!("clusters/c{:04}/f.yaml", i);
            let body = stamp(&p, &format!("i: {i}\n"));
            if i % 3 == 0 {
                put(dir.path(), &p, &body);
            } else if i % 3 == 1 {
                put(dir.path(), &p, &stamp(&p, "stale: true\n"));
            }
            t.insert(p, body);
        }
        let plan = plan(&t, dir.path()).unwrap();
        let n = PARALLEL_THRESHOLD * 2;
        assert_eq!(plan.unchanged.len(), n.div_ceil(3));
        assert_eq!(plan.update.len(), (n + 1) / 3);
        assert_eq!(plan.create.len(), n / 3);
        assert!(plan.create.is_sorted() && plan.update.is_sorted());
    }
}
