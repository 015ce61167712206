//! Errors of planning, writing and watching the generated repository.
//!
//! Every variant names the path it concerns, so the user can act on the
//! message alone. Messages do not repeat their cause: print the chain
//! ([`std::error::Error::source`]) to get it.

use std::io;
use std::path::{Path, PathBuf};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong between a rendered tree and the disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The renderer produced a path that would escape the repository.
    #[error("generated path {path:?} is not a relative path inside the repository")]
    TreePath {
        /// The offending tree key.
        path: String,
    },
    /// A directory of the output repository could not be listed.
    #[error("cannot list directory {}", path.display())]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file of the output repository could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A generated file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file (or the directory that could not be created for it).
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A generated file that the fleet no longer has could not be deleted.
    #[error("cannot delete {}", path.display())]
    Delete {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Paths the fleet generates are occupied by files flotilla did not
    /// write; nothing was written.
    #[error(
        "refusing to overwrite {} hand-written file(s) in {} (no flotilla header; move them away, then re-run): {}",
        paths.len(),
        root.display(),
        paths.join(", ")
    )]
    Foreign {
        /// The output repository.
        root: PathBuf,
        /// The occupied paths, relative to `root`.
        paths: Vec<String>,
    },
    /// Between planning and applying, a file lost its generated-file header
    /// (someone took it over by hand); it is left alone.
    #[error("refusing to {action} {}: it no longer carries the flotilla header", path.display())]
    NotGenerated {
        /// The file.
        path: PathBuf,
        /// `overwrite` or `delete`.
        action: &'static str,
    },
    /// `--out` is not a directory flotilla may own (see [`crate::out_dir`]);
    /// nothing was read or written.
    #[error("refusing --out {}{}: {refusal}", path.display(), resolves_to(resolved.as_deref()))]
    OutDir {
        /// `--out` as given.
        path: PathBuf,
        /// What it resolves to, when that differs (a symlink, `..`).
        resolved: Option<PathBuf>,
        /// The rule it breaks.
        refusal: crate::out_dir::Refusal,
    },
    /// The fleet spec could not be watched for changes.
    #[error("cannot watch {}", path.display())]
    Watch {
        /// The spec file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: notify_debouncer_mini::notify::Error,
    },
}

/// ` (resolves to /x)` when `--out` is not what it resolves to.
fn resolves_to(resolved: Option<&Path>) -> String {
    resolved.map_or_else(String::new, |r| format!(" (resolves to {})", r.display()))
}
