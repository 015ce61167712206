//! The stage: flotilla's private copy of a repository, the only tree
//! kustomize ever reads.
//!
//! A repository (including a pull request's) is untrusted. Before any build
//! its tree is copied once — per commit, shared by every cluster and every
//! cycle that renders that commit — into a temporary directory of flotilla's
//! own (mode 0700). What is copied mirrors what Flux builds from:
//!
//! - regular files and directories, without `.git`;
//! - **no symbolic links**, wherever they point. source-controller leaves
//!   everything that is not a regular file or a directory out of the
//!   artifact it builds from a Git checkout ("Ignore anything that is not a
//!   file or directories e.g. symlinks", `Storage.Archive` in
//!   fluxcd/source-controller `internal/storage/storage.go`), so a
//!   kustomization that reads one fails in Flux, and a folder Flux generates
//!   a kustomization for simply does not list it. Each symlink is recorded
//!   with where it leads, in repository terms only (inside: the target's
//!   repository path; outside, dangling or looping: just that), so a build
//!   that needs one fails with an error naming it ([`super::confine`]);
//! - nothing else (FIFOs, sockets, devices are skipped, as in the artifact).
//!
//! Files are read with `O_NOFOLLOW | O_NONBLOCK` and must still be regular
//! files once open, so a file swapped for a link or a FIFO while staging is
//! never followed or waited on. Everything flotilla writes is created in the
//! stage with `create_new` (never through an existing path or link); the
//! repository itself is only ever read.
//!
//! A build that needs an edited kustomization file (a Flux Kustomization's
//! `targetNamespace`, `patches`, … or a folder without one) does not copy
//! anything: [`Stage::scratch`] makes a private sibling folder of the built
//! path (same parent, so relative paths resolve the same) holding the edited
//! file and links to the folder's staged entries, removed after the build.
//! The index built while staging is what the folder generator and the
//! confinement checks read, so scratch folders of concurrent builds are
//! never seen by another build.

use super::error::{Error, Result};
use rustix::fs::{Mode, OFlags};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The file names kustomize recognises, in its order of preference
/// (`konfig.RecognizedKustomizationFileNames` in kubernetes-sigs/kustomize).
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Files source-controller leaves out of every Git artifact (its default
/// ignore patterns), so the folder generator must not list them either.
const IGNORED_FILES: [&str; 10] = [
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    ".goreleaser.yml",
    ".sops.yaml",
    ".flux.yaml",
];
/// Folders source-controller leaves out of every Git artifact.
const IGNORED_DIRS: [&str; 3] = [".git", ".github", ".circleci"];
/// Prefix of scratch folders; no repository entry is ever named like this
/// in the stage's index, and builds only look at the index.
const SCRATCH_PREFIX: &str = ".flotilla-build-";

/// Where a symbolic link of the repository leads, in repository terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// To this repository-relative path (`.` for the root).
    Inside(String),
    /// Out of the repository.
    Outside,
    /// Nowhere: dangling, looping or unreadable.
    Unresolved,
}

impl std::fmt::Display for LinkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkTarget::Inside(path) => write!(f, "points to {path} inside the repository"),
            LinkTarget::Outside => f.write_str("leads outside the repository"),
            LinkTarget::Unresolved => f.write_str("does not resolve (dangling or a loop)"),
        }
    }
}

/// What a repository path is in the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file (copied).
    File,
    /// A directory (copied).
    Dir,
    /// A symbolic link (left out).
    Link(LinkTarget),
}

/// A staged repository. Immutable once made; dropped with its directory.
#[derive(Debug)]
pub struct Stage {
    dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    entries: HashMap<String, Entry>,
    /// Names in each directory (any entry kind), sorted.
    children: HashMap<String, Vec<String>>,
    scratch_seq: AtomicU64,
}

impl Stage {
    /// Copy `repo` into a new private temporary directory.
    pub fn new(repo: &Path) -> Result<Stage> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let source = fs::canonicalize(repo).map_err(io(repo))?;
        let dir = tempfile::Builder::new()
            .prefix("flotilla-stage-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(io(&std::env::temp_dir()))?;
        let root = dir.path().join("repo");
        let home = dir.path().join("home");
        let tmp = dir.path().join("tmp");
        for d in [&root, &home, &tmp] {
            fs::create_dir(d).map_err(io(d))?;
        }
        let mut stage = Stage {
            dir,
            root,
            home,
            tmp,
            entries: HashMap::from([(String::new(), Entry::Dir)]),
            children: HashMap::new(),
            scratch_seq: AtomicU64::new(0),
        };
        let root = stage.root.clone();
        stage.copy_dir(&source, &source, &root, "")?;
        Ok(stage)
    }

    fn copy_dir(&mut self, source_root: &Path, from: &Path, to: &Path, rel: &str) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(from).map_err(io(from))? {
            let entry = entry.map_err(io(from))?;
            let name = entry.file_name();
            // A name that is not UTF-8 cannot be written in a kustomization
            // file, so no build can reference it.
            let Some(name) = name.to_str().map(str::to_owned) else {
                continue;
            };
            if name == ".git" {
                continue;
            }
            let src = entry.path();
            let dst = to.join(&name);
            let child = join(rel, &name);
            // `file_type` does not follow symbolic links.
            let kind = entry.file_type().map_err(io(&src))?;
            if kind.is_dir() {
                fs::create_dir(&dst).map_err(io(&dst))?;
                self.copy_dir(source_root, &src, &dst, &child)?;
                self.entries.insert(child, Entry::Dir);
            } else if kind.is_file() {
                if !copy_file(&src, &dst)? {
                    continue;
                }
                self.entries.insert(child, Entry::File);
            } else if kind.is_symlink() {
                self.entries
                    .insert(child, Entry::Link(link_target(&src, source_root)));
            } else {
                continue;
            }
            names.push(name);
        }
        names.sort();
        self.children.insert(rel.to_owned(), names);
        Ok(())
    }

    /// The staged tree's root (kustomize's view of the repository root).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `HOME` and `TMPDIR` for kustomize: private, inside the stage's directory.
    pub fn env(&self) -> [(&'static str, &Path); 2] {
        [("HOME", &self.home), ("TMPDIR", &self.tmp)]
    }

    /// Where kustomize runs (its working directory).
    pub fn work_dir(&self) -> &Path {
        &self.tmp
    }

    /// What `rel` (repository-relative, normalised) is, if anything.
    pub fn entry(&self, rel: &str) -> Option<&Entry> {
        self.entries.get(rel)
    }

    /// The symbolic link `rel` is or goes through, if any.
    pub fn link_on(&self, rel: &str) -> Option<(&str, &LinkTarget)> {
        let mut end = 0;
        loop {
            let next = rel[end..].find('/').map_or(rel.len(), |i| end + i);
            let prefix = &rel[..next];
            if let Some((path, Entry::Link(target))) = self.entries.get_key_value(prefix) {
                return Some((path.as_str(), target));
            }
            if next == rel.len() {
                return None;
            }
            end = next + 1;
        }
    }

    /// The kustomization file of directory `dir`, repository-relative.
    pub fn kustomization_file(&self, dir: &str) -> Option<String> {
        KUSTOMIZATION_FILES
            .iter()
            .map(|name| join(dir, name))
            .find(|p| self.entries.get(p) == Some(&Entry::File))
    }

    /// Names in directory `dir`, sorted.
    fn children(&self, dir: &str) -> &[String] {
        self.children.get(dir).map_or(&[], Vec::as_slice)
    }

    /// The resources of the kustomization Flux generates for a folder
    /// without one (fluxcd/pkg `kustomize/kustomize_generator.go`,
    /// `generateKustomization`): every `*.yaml`/`*.yml` file below it,
    /// recursively, in lexical order, and every sub-folder with its own
    /// kustomization file as one resource (not descended into). Also the
    /// symbolic links the walk met, which Flux's artifact does not have.
    pub fn manifests(&self, dir: &str) -> (Vec<String>, Vec<(String, LinkTarget)>) {
        let mut resources = Vec::new();
        let mut links = Vec::new();
        self.list_manifests(dir, dir, &mut resources, &mut links);
        (resources, links)
    }

    fn list_manifests(
        &self,
        base: &str,
        dir: &str,
        out: &mut Vec<String>,
        links: &mut Vec<(String, LinkTarget)>,
    ) {
        for name in self.children(dir) {
            let path = join(dir, name);
            let shown = format!(
                "./{}",
                path.strip_prefix(base)
                    .unwrap_or(&path)
                    .trim_start_matches('/')
            );
            match self.entries.get(&path) {
                Some(Entry::Dir) => {
                    if IGNORED_DIRS.contains(&name.as_str()) {
                        continue;
                    }
                    if self.kustomization_file(&path).is_some() {
                        out.push(shown);
                    } else {
                        self.list_manifests(base, &path, out, links);
                    }
                }
                Some(Entry::File)
                    if (name.ends_with(".yaml") || name.ends_with(".yml"))
                        && !IGNORED_FILES.contains(&name.as_str()) =>
                {
                    out.push(shown);
                }
                Some(Entry::Link(target)) => links.push((path, target.clone())),
                Some(Entry::File) | None => {}
            }
        }
    }

    /// A private sibling folder of `path` to build from: `file_name` holds
    /// `text` (the edited or generated kustomization), every other staged
    /// entry of `path` is linked. Removed when the [`Scratch`] is dropped.
    pub fn scratch(&self, path: &str, file_name: &str, text: &str) -> Result<Scratch> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let original = self.root.join(path);
        let parent = if path.is_empty() {
            self.dir.path()
        } else {
            original.parent().unwrap_or(self.dir.path())
        };
        let seq = self.scratch_seq.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("{SCRATCH_PREFIX}{seq}"));
        fs::create_dir(&dir).map_err(io(&dir))?;
        let scratch = Scratch {
            dir,
            path: path.to_owned(),
        };
        for name in self.children(path) {
            let entry = self.entries.get(&join(path, name));
            if name == file_name || !matches!(entry, Some(Entry::File | Entry::Dir)) {
                continue;
            }
            let link = scratch.dir.join(name);
            std::os::unix::fs::symlink(original.join(name), &link).map_err(io(&link))?;
        }
        let file = scratch.dir.join(file_name);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io(&file))?;
        Ok(scratch)
    }

    /// Absolute form of the stage's root, as kustomize prints it.
    pub fn shown_roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.root.clone()];
        roots.extend(
            fs::canonicalize(&self.root)
                .ok()
                .filter(|c| c != &self.root),
        );
        roots
    }
}

/// A scratch folder of one build (see [`Stage::scratch`]).
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    path: String,
}

impl Scratch {
    /// The folder kustomize builds.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The repository path it stands for.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // `remove_dir_all` removes the links, never what they point to.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `dir/name` in repository terms (`""` is the root).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Copy one regular file into the stage. `false` when `from` turned out not
/// to be a regular file once opened (it is then skipped, as by `file_type`).
fn copy_file(from: &Path, to: &Path) -> Result<bool> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source: std::io::Error| Error::Io { path, source }
    };
    let fd = rustix::fs::open(
        from,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(from)(e.into()))?;
    let mut source = fs::File::from(fd);
    if !source.metadata().map_err(io(from))?.is_file() {
        return Ok(false);
    }
    let mut target = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(io(to))?;
    std::io::copy(&mut source, &mut target).map_err(io(to))?;
    Ok(true)
}

/// Where the symbolic link `link` leads, relative to `root` (both canonical).
fn link_target(link: &Path, root: &Path) -> LinkTarget {
    match fs::canonicalize(link) {
        Ok(target) => match target.strip_prefix(root) {
            Ok(rel) if rel.as_os_str().is_empty() => LinkTarget::Inside(".".into()),
            Ok(rel) => LinkTarget::Inside(rel.to_string_lossy().into_owned()),
            Err(_) => LinkTarget::Outside,
        },
        Err(_) => LinkTarget::Unresolved,
    }
}

/// Symbolic links of a stage, for a note: path → where it leads.
pub fn describe_links(links: &[(String, LinkTarget)]) -> String {
    let described: BTreeMap<&str, &LinkTarget> =
        links.iter().map(|(p, t)| (p.as_str(), t)).collect();
    described
        .iter()
        .map(|(p, t)| format!("{p} ({t})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("apps/sub")).unwrap();
        fs::create_dir_all(p.join(".git/objects")).unwrap();
        fs::write(p.join(".git/config"), "x").unwrap();
        fs::write(p.join("apps/a.yaml"), "a: 1\n").unwrap();
        fs::write(p.join("apps/sub/kustomization.yaml"), "resources: []\n").unwrap();
        symlink(p.join("apps/a.yaml"), p.join("apps/inside.yaml")).unwrap();
        symlink("/etc", p.join("apps/outside")).unwrap();
        symlink("nowhere", p.join("apps/dangling.yaml")).unwrap();
        dir
    }

    #[test]
    fn stage_copies_files_and_leaves_out_git_and_every_symlink() {
        let repo = repo();
        let stage = Stage::new(repo.path()).unwrap();
        let mode = fs::metadata(stage.dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(stage.entry("apps/a.yaml"), Some(&Entry::File));
        assert!(stage.root().join("apps/a.yaml").is_file());
        assert!(!stage.root().join(".git").exists());
        assert_eq!(
            stage.entry("apps/inside.yaml"),
            Some(&Entry::Link(LinkTarget::Inside("apps/a.yaml".into())))
        );
        assert_eq!(
            stage.entry("apps/outside"),
            Some(&Entry::Link(LinkTarget::Outside))
        );
        assert_eq!(
            stage.entry("apps/dangling.yaml"),
            Some(&Entry::Link(LinkTarget::Unresolved))
        );
        for link in ["apps/inside.yaml", "apps/outside", "apps/dangling.yaml"] {
            assert!(
                fs::symlink_metadata(stage.root().join(link)).is_err(),
                "{link}"
            );
        }
        assert_eq!(
            stage.link_on("apps/outside/passwd"),
            Some(("apps/outside", &LinkTarget::Outside))
        );
        assert_eq!(stage.link_on("apps/a.yaml"), None);
    }

    #[test]
    fn generator_listing_and_scratch_folders() {
        let repo = repo();
        let stage = Stage::new(repo.path()).unwrap();
        let (resources, links) = stage.manifests("apps");
        assert_eq!(resources, ["./a.yaml", "./sub"]);
        assert_eq!(links.len(), 3);
        let scratch = stage
            .scratch("apps", "kustomization.yaml", "resources: [a.yaml]\n")
            .unwrap();
        assert_eq!(scratch.dir().parent(), stage.root().join("apps").parent());
        assert_eq!(
            fs::read_to_string(scratch.dir().join("a.yaml")).unwrap(),
            "a: 1\n"
        );
        assert!(scratch.dir().join("sub/kustomization.yaml").is_file());
        assert!(!scratch.dir().join("outside").exists());
        let dir = scratch.dir().to_owned();
        drop(scratch);
        assert!(!dir.exists());
        assert!(
            stage.root().join("apps/a.yaml").is_file(),
            "links removed, not targets"
        );
    }
}
