//! Reading spec files: the crate's only I/O.
//!
//! A fleet spec is one file or a folder of `*.yaml`/`*.yml` files read in
//! name order (`00-defaults.yaml`, `10-production.yaml`, ...). Every file has
//! the same top-level keys; `clusters` lists add up, `environments` add up
//! (each name once), and `defaults` and each `kinds` entry may be written in
//! one file only.
//!
//! Every entry of a spec folder whose name ends in `.yaml` or `.yml` (names
//! starting with `.`, such as editor lock files, excepted) is either read or
//! an error naming it; nothing is skipped silently, because a skipped file
//! means missing clusters, and bootstrap would delete their generated files.
//! So a directory named `x.yaml`, a FIFO, socket or device, a dangling
//! symlink, a symlink loop, an unreadable file, a file that is not UTF-8 or
//! is larger than [`MAX_FILE_BYTES`] are all errors. Symlinks are followed
//! only when they resolve inside the folder that holds them (the spec
//! folder for its entries, the parent folder for the `--fleet` path itself):
//! a spec can come from a pull request's checkout, and a link out of it must
//! not make flotilla read, and perhaps echo in an error, a file elsewhere.
//! That still allows the `..data/` links of a Kubernetes ConfigMap mount.
//! A FIFO is never opened: files are opened non-blocking and checked to be
//! regular files before a byte is read.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::decode::{Recorder, decode};
use crate::error::{Problem, SpecErrors};
use crate::model::Fleet;
use crate::spec::FileSpec;
use crate::validate::{SpecFile, build_fleet};
use crate::yaml::{self, Pos};

/// Loads, merges and validates the fleet spec at `path` (a file, or a folder
/// of `*.yaml`/`*.yml` files read in name order).
///
/// # Errors
///
/// Every problem in every file, each with its file, line, column and field.
pub fn load(path: &Path) -> Result<Fleet, SpecErrors> {
    let recorder = Recorder::new();
    let texts = read_spec_files(path, &recorder);
    if recorder.has_errors() {
        return Err(SpecErrors::new(recorder.diagnostics.into_inner()));
    }
    load_texts(texts, recorder)
}

/// Loads a fleet spec from text; `file_name` is only used in messages.
///
/// # Errors
///
/// Every problem in the text, each with `file_name`, line, column and field.
pub fn load_str(file_name: &str, text: &str) -> Result<Fleet, SpecErrors> {
    load_texts(
        vec![(file_name.to_owned(), text.to_owned())],
        Recorder::new(),
    )
}

fn load_texts(texts: Vec<(String, String)>, recorder: Recorder) -> Result<Fleet, SpecErrors> {
    let files: Vec<SpecFile> = texts
        .iter()
        .filter_map(|(name, text)| parse_file(name, text, &recorder))
        .collect();
    let fleet = build_fleet(&files, &recorder);
    if fleet.clusters.is_empty() && !recorder.has_errors() {
        let first = texts.first().map_or("", |(name, _)| name.as_str());
        recorder.record(
            first,
            Pos::default(),
            String::new(),
            Problem::Rule("the fleet declares no clusters".into()),
        );
    }
    if recorder.has_errors() {
        return Err(SpecErrors::new(recorder.diagnostics.into_inner()));
    }
    Ok(fleet)
}

/// Parses and decodes one file; `None` if it is empty or unreadable as YAML.
fn parse_file(name: &str, text: &str, recorder: &Recorder) -> Option<SpecFile> {
    let (root, problems) = yaml::parse(text);
    for p in problems {
        recorder.record(name, p.pos, p.path, p.problem);
    }
    let file: Rc<str> = Rc::from(name);
    let spec: FileSpec = decode(&root?, &file, recorder)?;
    Some(SpecFile { file, spec })
}

/// The most a spec file may hold. A 1,000-cluster fleet is well under a
/// megabyte; anything this large is a mistake (or not a spec).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The spec files at `path` with their text, in name order; every problem
/// is recorded against the path it concerns.
fn read_spec_files(path: &Path, recorder: &Recorder) -> Vec<(String, String)> {
    let display = path.display().to_string();
    let fail = |problem: Problem| {
        recorder.record(&display, Pos::default(), String::new(), problem);
        Vec::new()
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return fail(Problem::Read(e.kind().to_string())),
    };
    let holder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let target = match resolve(path, meta.file_type(), holder) {
        Ok(target) => target,
        Err(problem) => return fail(problem),
    };
    match target {
        SpecEntry::File(file) => match read_file(&file) {
            Ok(text) => vec![(display, text)],
            Err(problem) => fail(problem),
        },
        SpecEntry::Folder(folder) => read_folder(path, &folder, recorder),
    }
}

/// What a spec path leads to, once symlinks are checked.
enum SpecEntry {
    /// A regular file to read (symlinks resolved).
    File(PathBuf),
    /// A folder to list (symlinks resolved).
    Folder(PathBuf),
}

/// Decides what `path` (of type `file_type`, not following symlinks) is: a
/// regular file or folder, or a symlink that resolves inside `holder` to
/// one of those. Anything else is the problem to report.
fn resolve(path: &Path, file_type: fs::FileType, holder: &Path) -> Result<SpecEntry, Problem> {
    if file_type.is_file() {
        return Ok(SpecEntry::File(path.to_owned()));
    }
    if file_type.is_dir() {
        return Ok(SpecEntry::Folder(path.to_owned()));
    }
    if !file_type.is_symlink() {
        return Err(Problem::NotRegularFile(kind_name(file_type)));
    }
    let target = fs::canonicalize(path).map_err(|e| symlink_problem(&e))?;
    let holder = fs::canonicalize(holder).map_err(|e| Problem::Read(e.kind().to_string()))?;
    if !target.starts_with(&holder) {
        return Err(Problem::SymlinkOutside);
    }
    let meta = fs::metadata(&target).map_err(|e| symlink_problem(&e))?;
    if meta.is_file() {
        Ok(SpecEntry::File(target))
    } else if meta.is_dir() {
        Ok(SpecEntry::Folder(target))
    } else {
        Err(Problem::NotRegularFile(kind_name(meta.file_type())))
    }
}

/// A symlink that cannot be resolved: dangling, a loop, or unreadable.
fn symlink_problem(e: &io::Error) -> Problem {
    if e.kind() == io::ErrorKind::NotFound {
        return Problem::DanglingSymlink;
    }
    #[cfg(unix)]
    if rustix::io::Errno::from_io_error(e) == Some(rustix::io::Errno::LOOP) {
        return Problem::SymlinkLoop;
    }
    Problem::Read(e.kind().to_string())
}

/// Words for a file type that is not a regular file.
fn kind_name(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

/// Every `*.yaml`/`*.yml` entry of the spec folder `shown` (resolved to
/// `folder`), in name order: read, or recorded as a problem.
fn read_folder(shown: &Path, folder: &Path, recorder: &Recorder) -> Vec<(String, String)> {
    let display = shown.display().to_string();
    let record = |name: &str, problem: Problem| {
        recorder.record(name, Pos::default(), String::new(), problem);
    };
    let mut entries = match list_spec_entries(folder) {
        Ok(entries) => entries,
        Err(e) => {
            record(&display, Problem::Read(e.kind().to_string()));
            return Vec::new();
        }
    };
    if entries.is_empty() {
        record(&display, Problem::EmptyFolder);
        return Vec::new();
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut texts = Vec::with_capacity(entries.len());
    for (name, file_type) in entries {
        let path = folder.join(&name);
        let shown = shown.join(&name).display().to_string();
        let text = match resolve(&path, file_type, folder) {
            Ok(SpecEntry::File(file)) => read_file(&file),
            Ok(SpecEntry::Folder(_)) => Err(Problem::NotRegularFile("a directory")),
            Err(problem) => Err(problem),
        };
        match text {
            Ok(text) => texts.push((shown, text)),
            Err(problem) => record(&shown, problem),
        }
    }
    texts
}

/// The entries of `dir` that are spec files by name, with their type (not
/// following symlinks).
fn list_spec_entries(dir: &Path) -> io::Result<Vec<(std::ffi::OsString, fs::FileType)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = Path::new(&name);
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let hidden = name.to_string_lossy().starts_with('.');
        if is_yaml && !hidden {
            found.push((name, entry.file_type()?));
        }
    }
    Ok(found)
}

/// The text of the regular file at `path` (no symlink left in it), read
/// without ever blocking on a FIFO swapped in since it was listed.
fn read_file(path: &Path) -> Result<String, Problem> {
    let read_error = |e: io::Error| Problem::Read(e.kind().to_string());
    let file = open_nonblocking(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(Problem::NotRegularFile(kind_name(meta.file_type())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Problem::TooLarge {
            limit_mib: MAX_FILE_BYTES / (1024 * 1024),
        });
    }
    String::from_utf8(bytes).map_err(|_| Problem::NotUtf8)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}
