//! Running the real `flotilla` binary from flotilla-tests.
//!
//! Cargo only hands `CARGO_BIN_EXE_<name>` to the tests of the package that
//! owns the binary, and the `flotilla` package keeps no integration tests
//! (its `tests/` folder is this package). So the binary is found next to the
//! test executable (`target/<profile>/deps/..`). It is built by `make test`
//! (`cargo build --bin flotilla` before `cargo test`): a test must not run
//! cargo itself, since `cargo test` holds the build directory lock and a
//! nested build would wait for it forever.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Path of the `flotilla` binary built for this profile.
pub fn flotilla_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_flotilla)
}

fn find_flotilla() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("flotilla{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no flotilla binary at {}: run the tests with `make test`, or `cargo build --bin flotilla` first",
        bin.display()
    );
    bin
}

/// The workspace root (parent of this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`-1` if killed by a signal).
    pub code: i32,
    /// Standard output, lossy UTF-8.
    pub stdout: String,
    /// Standard error, lossy UTF-8.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Run `flotilla <args>` to completion.
pub fn flotilla(args: &[&str]) -> Run {
    Command::new(flotilla_bin())
        .args(args)
        .output()
        .expect("run flotilla")
        .into()
}

/// Every file under `root` (relative `/` path → bytes), skipping `.git`.
pub fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    collect(root, root, &mut found);
    found
}

fn collect(root: &Path, dir: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, found);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            let key = rel.to_string_lossy().replace('\\', "/");
            found.insert(key, std::fs::read(&path).expect("read file"));
        }
    }
}
