//! Re-run generation whenever the fleet spec changes.
//!
//! The loop knows nothing about fleets or trees: it calls back on every
//! settled change, and the caller loads, renders, plans and applies. That
//! keeps the loop testable on its own and lets the caller decide what to
//! print. Spec errors are the callback's business too, and never end the
//! loop: a half-typed spec is the normal state of a file being edited.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, DebouncedEvent, new_debouncer};

use crate::error::{Error, Result};

/// How long file events must stay quiet before the spec is reloaded: long
/// enough for an editor's write-rename-chmod burst, short enough to feel
/// immediate.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// How often the loop looks at the stop flag while no events arrive.
const STOP_POLL: Duration = Duration::from_millis(100);

/// What the spec lives in: one file, or a folder of `*.yaml`/`*.yml` files.
#[derive(Debug, Clone)]
enum WatchedSpec {
    File {
        dir: PathBuf,
        name: std::ffi::OsString,
    },
    Folder(PathBuf),
}

/// Call `on_change` once now, then again after every debounced change to
/// the spec at `spec` (a file or a folder), until `stop` is set.
///
/// A single file is watched through its directory, because editors and
/// `git checkout` replace files by renaming over them, which would end a
/// watch on the file itself. Returns when `stop` becomes true (checked every
/// 100 ms), or with an error if the spec cannot be watched at all.
pub fn watch(spec: &Path, stop: &AtomicBool, mut on_change: impl FnMut()) -> Result<()> {
    let watch_error = |source| Error::Watch {
        path: spec.to_owned(),
        source,
    };
    let target = target_of(spec).map_err(|e| watch_error(e.into()))?;
    let (sender, events) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(DEBOUNCE, sender).map_err(watch_error)?;
    let watched = match &target {
        WatchedSpec::File { dir, .. } => dir,
        WatchedSpec::Folder(dir) => dir,
    };
    debouncer
        .watcher()
        .watch(watched, RecursiveMode::NonRecursive)
        .map_err(watch_error)?;
    // Watching before the first run: an edit made while it runs is not lost.
    on_change();
    while !stop.load(Ordering::Relaxed) {
        match events.recv_timeout(STOP_POLL) {
            Ok(Ok(batch)) if batch.iter().any(|e| touches_spec(&target, e)) => on_change(),
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(source)) => return Err(watch_error(source)),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

/// Resolve `spec` to an absolute directory to watch (event paths are
/// reported under it), and the file name to filter on.
fn target_of(spec: &Path) -> std::io::Result<WatchedSpec> {
    let absolute = std::path::absolute(spec)?;
    if absolute.is_dir() {
        return Ok(WatchedSpec::Folder(absolute));
    }
    let name = absolute
        .file_name()
        .ok_or_else(|| std::io::Error::other("spec path has no file name"))?
        .to_owned();
    let dir = absolute
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
    Ok(WatchedSpec::File { dir, name })
}

/// Whether `event` concerns the spec: the file itself, or any YAML file of
/// the folder (other files, such as editor swap files, do not count).
fn touches_spec(target: &WatchedSpec, event: &DebouncedEvent) -> bool {
    match target {
        WatchedSpec::File { name, .. } => event.path.file_name() == Some(name.as_os_str()),
        WatchedSpec::Folder(_) => event
            .path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// Poll `condition` for up to 10 s.
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        condition()
    }

    #[test]
    fn calls_back_on_start_and_on_spec_edits_only_then_stops() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("fleet.yaml");
        std::fs::write(&spec, "clusters: []\n").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (calls, stop, spec) = (calls.clone(), stop.clone(), spec.clone());
            std::thread::spawn(move || {
                watch(&spec, &stop, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                })
            })
        };
        assert!(
            eventually(|| calls.load(Ordering::SeqCst) == 1),
            "initial run"
        );
        // Give the watcher a moment, then edit a file next to the spec:
        // not ours, so no call.
        std::thread::sleep(DEBOUNCE * 2);
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        std::thread::sleep(DEBOUNCE * 3);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "unrelated file ignored");

        std::fs::write(&spec, "clusters: [] # edited\n").unwrap();
        assert!(
            eventually(|| calls.load(Ordering::SeqCst) >= 2),
            "edit seen"
        );

        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap().unwrap();
    }

    #[test]
    fn folder_spec_reacts_to_yaml_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10-defaults.yaml"), "defaults: {}\n").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (calls, stop) = (calls.clone(), stop.clone());
            let spec = dir.path().to_owned();
            std::thread::spawn(move || {
                watch(&spec, &stop, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                })
            })
        };
        assert!(
            eventually(|| calls.load(Ordering::SeqCst) == 1),
            "initial run"
        );
        std::thread::sleep(DEBOUNCE * 2);
        std::fs::write(dir.path().join(".10-defaults.yaml.swp"), "x").unwrap();
        std::thread::sleep(DEBOUNCE * 3);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "swap file ignored");

        std::fs::write(dir.path().join("20-clusters.yml"), "clusters: []\n").unwrap();
        assert!(
            eventually(|| calls.load(Ordering::SeqCst) >= 2),
            "new file seen"
        );

        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap().unwrap();
    }

    #[test]
    fn missing_folder_is_a_watch_error_naming_it() {
        let stop = AtomicBool::new(true);
        let err = watch(Path::new("/nonexistent/fleet.d/"), &stop, || {}).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/fleet.d"), "{err}");
    }
}
