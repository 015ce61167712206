//! `flotilla snapshot`: record a cluster into a folder, replacing only what
//! an earlier recording wrote there.
//!
//! A recording is `discovery/*.json` (`/version`, `/api`, `/apis` and every
//! served group version, as the fixture's `record.sh` names them, plus the
//! OpenAPI v3 index and the documents of every recorded group version,
//! `openapi_v3*.json`, for list semantics: see `openapi`),
//! `objects/<group|core>_<version>_<plural>.json` (kubectl-style Lists) and
//! the manifest `flotilla-snapshot.json` ([`SnapshotManifest`]) naming every
//! file written, the random key of the Secret digests and how values were
//! kept.
//!
//! **What it deletes: only its own files.** The List files cannot carry a
//! generated header (they are kubectl's format), so the manifest is how a
//! folder is recognised as a flotilla snapshot and how its files are told
//! from the user's:
//! - a folder that is empty (or missing) is recorded into;
//! - a folder with a manifest has exactly the files the manifest lists
//!   replaced or deleted; anything else in it (`objects/notes.txt`, a
//!   hand-written List) is kept, and a recording that would overwrite such a
//!   file stops before writing anything, naming it;
//! - any other non-empty folder is refused, naming it: snapshots recorded
//!   before manifests, and kubectl's `record.sh` output, have the same file
//!   names and cannot be told from the user's files, so flotilla leaves
//!   them for the user to remove;
//! - nothing is followed through a symbolic link: a symlinked `discovery/`,
//!   `objects/` or manifest, or a listed file that is now a link or a
//!   folder, refuses the recording.
//!
//! **Atomic.** Everything is written into a temporary folder inside DIR
//! first (the cluster read and every write can fail there without touching
//! DIR), then swapped in by renames within DIR: each listed file is kept as
//! a hard link in the temporary folder until the new manifest is in place,
//! so a failure during the swap restores the previous recording whole. The
//! manifest of a swap in progress lists old and new files together, so even
//! a recording killed mid-swap leaves no file of its own unlisted.

use super::cluster::{ApiReader, discover, list_types};
use super::openapi::{fetch_openapi, group_versions};
use super::snapshot::{
    DISCOVERY_DIR, MANIFEST_FILE, MANIFEST_VERSION, OBJECTS_DIR, SecretValues, SnapshotManifest,
    is_recorded_path, read_manifest,
};
use super::{Error, Result, Scope};
use crate::secret::{Sealer, is_secret, random_key};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name start of the temporary folder a recording is written into.
const STAGING_PREFIX: &str = ".flotilla-snapshot-";

/// How to record.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Kinds to record (default [`Scope::everything`]).
    pub scope: Option<Scope>,
    /// Secret values as keyed digests (default) or omitted.
    pub secret_values: SecretValues,
}

/// What [`record_snapshot`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordSummary {
    /// Objects written.
    pub objects: usize,
    /// List files written (`objects/*.json`).
    pub lists: usize,
    /// Discovery documents written (`discovery/*.json`), OpenAPI ones included.
    pub discovery_documents: usize,
    /// OpenAPI v3 documents written (one per recorded group version the
    /// server publishes; the index not counted).
    pub openapi_documents: u64,
    /// Secrets written with sealed (digested or omitted) values.
    pub sealed_secrets: usize,
    /// Files of the previous recording deleted because this one has no
    /// file of that name (a type no longer served).
    pub removed: usize,
    /// API requests made.
    pub requests: u64,
    /// Group versions skipped because their discovery failed (an aggregated
    /// API server down): not in the recording.
    pub unavailable: Vec<String>,
}

/// Record a cluster into `out` (created if missing), read-only: discovery,
/// then one paged LIST per type `options.scope` admits. Secret values are
/// sealed before anything is written: the snapshot holds keyed digests (a
/// random key per snapshot, kept in its manifest) or no values at all.
///
/// `out` is checked before the cluster is read (see the module docs for
/// what is refused); nothing in it changes until every file is written.
pub async fn record_snapshot(
    client: kube::Client,
    out: &Path,
    options: &RecordOptions,
) -> Result<RecordSummary> {
    std::fs::create_dir_all(out).map_err(|source| Error::WriteSnapshot {
        path: out.to_path_buf(),
        source,
    })?;
    let previous = inspect_out(out)?;

    let everything = Scope::everything();
    let scope = options.scope.as_ref().unwrap_or(&everything);
    let (sealer, salt) = match options.secret_values {
        SecretValues::Digest => {
            let key = random_key();
            (Sealer::keyed(&key), Some(hex::encode(key)))
        }
        SecretValues::Omit => (Sealer::omitting(), None),
    };
    let reader = ApiReader::new(client);
    let version = reader
        .get_text("/version")
        .await
        .map_err(|source| Error::Discovery {
            path: "/version".into(),
            source,
        })?;
    let read = discover(&reader, scope, true, 8).await?;
    let types = read.discovery.select(scope);
    let lists = list_types(&reader, &types, 500, 8, None, &sealer).await?;
    let openapi = fetch_openapi(&reader, &group_versions(types.iter()), 8).await;

    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(out)
        .map_err(write_error(out))?;
    let mut summary = RecordSummary::default();
    let mut files = Vec::new();
    for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
        let path = staging.path().join(sub);
        std::fs::create_dir(&path).map_err(write_error(&path))?;
    }
    summary.openapi_documents = openapi.read;
    let documents = std::iter::once(("/version".to_owned(), version))
        .chain(read.documents)
        .chain(openapi.documents);
    for (api_path, body) in documents {
        let rel = checked(
            out,
            format!("{DISCOVERY_DIR}/{}", discovery_file_name(&api_path)),
        )?;
        let path = staging.path().join(&rel);
        std::fs::write(&path, body).map_err(write_error(&path))?;
        files.push(rel);
        summary.discovery_documents += 1;
    }
    for (t, items) in types.iter().zip(lists) {
        summary.objects += items.len();
        summary.sealed_secrets += items.iter().filter(|o| is_secret(o)).count();
        let rel = checked(out, format!("{OBJECTS_DIR}/{}.json", t.file_stem()))?;
        write_json(&staging.path().join(&rel), &kubectl_list(items))?;
        files.push(rel);
        summary.lists += 1;
    }
    files.sort();
    files.dedup();
    let manifest = SnapshotManifest {
        comment: SnapshotManifest::COMMENT.to_owned(),
        version: MANIFEST_VERSION,
        recorded_at: format!("{:.0}", jiff::Timestamp::now()),
        secret_values: options.secret_values,
        salt,
        files,
    };
    summary.removed = swap_in(out, staging.path(), previous.as_ref(), &manifest)?;
    summary.requests = reader.requests();
    summary.unavailable = read.unavailable;
    Ok(summary)
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::WriteSnapshot {
        path: path.clone(),
        source,
    }
}

/// `rel` if it is a plain file name in `discovery/` or `objects/`: group,
/// version and resource names come from the API server, which must not
/// steer a write elsewhere.
fn checked(out: &Path, rel: String) -> Result<String> {
    if is_recorded_path(&rel) {
        Ok(rel)
    } else {
        Err(refuse(
            out,
            format!("the api server names a resource flotilla cannot store as a file: {rel:?}"),
        ))
    }
}

fn refuse(out: &Path, reason: String) -> Error {
    Error::RefuseOut {
        dir: out.to_path_buf(),
        reason,
    }
}

/// What `out` holds before recording: the previous manifest when it is a
/// flotilla snapshot, `None` when it is empty; an error when it is neither,
/// or when anything flotilla would touch is a symbolic link.
fn inspect_out(out: &Path) -> Result<Option<SnapshotManifest>> {
    let read_error = |source| Error::ReadSnapshot {
        path: out.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(out).map_err(read_error)?;
    if !meta.is_dir() {
        return Err(refuse(out, "it is not a folder".into()));
    }
    for sub in [DISCOVERY_DIR, OBJECTS_DIR, MANIFEST_FILE] {
        let path = out.join(sub);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(refuse(
                out,
                format!(
                    "{} is a symbolic link; flotilla never writes or deletes through one",
                    path.display()
                ),
            ));
        }
    }
    let previous = read_manifest(out).map_err(|e| {
        refuse(
            out,
            format!("its {MANIFEST_FILE} is not one flotilla can trust ({e})"),
        )
    })?;
    let Some(previous) = previous else {
        // A temporary folder of an interrupted recording is not the user's;
        // it is left alone, but does not make the folder non-empty.
        let mut entries = std::fs::read_dir(out).map_err(read_error)?.filter(|e| {
            e.as_ref().map_or(true, |e| {
                !e.file_name().to_string_lossy().starts_with(STAGING_PREFIX)
            })
        });
        return match entries.next() {
            None => Ok(None),
            Some(entry) => {
                let name = entry.map_err(read_error)?.file_name();
                Err(refuse(
                    out,
                    format!(
                        "it is not empty (it holds {}) and has no {MANIFEST_FILE}, so it is not a flotilla \
                         snapshot; flotilla replaces only its own snapshots (snapshots recorded before \
                         {MANIFEST_FILE} existed cannot be told from other files: remove the folder first, \
                         or record into an empty one)",
                        name.to_string_lossy()
                    ),
                ))
            }
        };
    };
    for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
        let path = out.join(sub);
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && !meta.is_dir()
        {
            return Err(refuse(out, format!("{} is not a folder", path.display())));
        }
    }
    for rel in &previous.files {
        let path = out.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(refuse(
                    out,
                    format!(
                        "{} was recorded by flotilla but is no longer a regular file; flotilla will not \
                         replace or delete it",
                        path.display()
                    ),
                ));
            }
            Err(_) => {} // already gone
        }
    }
    Ok(Some(previous))
}

/// Move the staged recording into `out`; returns how many files of the
/// previous recording were deleted. On failure the previous recording is
/// put back.
fn swap_in(
    out: &Path,
    staging: &Path,
    previous: Option<&SnapshotManifest>,
    manifest: &SnapshotManifest,
) -> Result<usize> {
    let old: BTreeSet<&str> = previous
        .map(|p| p.files.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // A file in the way that the previous recording did not write is the
    // user's: stop before touching anything.
    for rel in &manifest.files {
        let target = out.join(rel);
        if !old.contains(rel.as_str()) && std::fs::symlink_metadata(&target).is_ok() {
            return Err(refuse(
                out,
                format!(
                    "{} exists and was not recorded by flotilla; move it away or record into another folder",
                    target.display()
                ),
            ));
        }
    }
    let mut swap = Swap {
        out,
        staging,
        backup: staging.join(".previous"),
        done: Vec::new(),
        created: Vec::new(),
        committed: false,
        previous_manifest: previous
            .map(|_| std::fs::read(out.join(MANIFEST_FILE)))
            .transpose()
            .map_err(write_error(&out.join(MANIFEST_FILE)))?,
    };
    match swap.run(&old, manifest) {
        Ok(removed) => Ok(removed),
        Err(e) => {
            swap.roll_back();
            Err(e)
        }
    }
}

/// The renames of one swap, remembered so they can be undone.
struct Swap<'a> {
    out: &'a Path,
    staging: &'a Path,
    /// Hard links to the previous recording's replaced files.
    backup: PathBuf,
    /// Files moved into `out`, and whether a previous file was replaced.
    done: Vec<(String, bool)>,
    /// Folders this swap created in `out`.
    created: Vec<PathBuf>,
    /// The previous manifest's bytes, to put back on failure.
    previous_manifest: Option<Vec<u8>>,
    /// Whether the new manifest is in place: no going back after that.
    committed: bool,
}

impl Swap<'_> {
    fn run(&mut self, old: &BTreeSet<&str>, manifest: &SnapshotManifest) -> Result<usize> {
        let new: BTreeSet<&str> = manifest.files.iter().map(String::as_str).collect();
        for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
            let dir = self.out.join(sub);
            if !dir.is_dir() {
                std::fs::create_dir(&dir).map_err(write_error(&dir))?;
                self.created.push(dir);
            }
            let backup = self.backup.join(sub);
            std::fs::create_dir_all(&backup).map_err(write_error(&backup))?;
        }
        // While files move, the manifest owns old and new alike.
        let both: Vec<String> = old.union(&new).map(|s| (*s).to_owned()).collect();
        if self.previous_manifest.is_some() && both.len() > old.len() {
            self.write_manifest(&SnapshotManifest {
                files: both.clone(),
                ..previous_or(manifest, self.previous_manifest.as_deref())
            })?;
        }
        for rel in &manifest.files {
            let target = self.out.join(rel);
            let replaced = old.contains(rel.as_str()) && target.is_file();
            if replaced {
                let keep = self.backup.join(rel);
                std::fs::hard_link(&target, &keep)
                    .or_else(|_| std::fs::copy(&target, &keep).map(drop))
                    .map_err(write_error(&target))?;
            }
            std::fs::rename(self.staging.join(rel), &target).map_err(write_error(&target))?;
            self.done.push((rel.clone(), replaced));
        }
        let gone: Vec<&str> = old.difference(&new).copied().collect();
        // The new key and files, still owning the old files left to delete.
        self.write_manifest(&SnapshotManifest {
            files: both,
            ..manifest.clone()
        })?;
        self.committed = true;
        let mut removed = 0;
        for rel in &gone {
            let path = self.out.join(rel);
            // Checked again right before: only a regular file is removed.
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                std::fs::remove_file(&path).map_err(write_error(&path))?;
                removed += 1;
            }
        }
        if !gone.is_empty() {
            self.write_manifest(manifest)?;
        }
        Ok(removed)
    }

    fn write_manifest(&self, manifest: &SnapshotManifest) -> Result<()> {
        let staged = self.staging.join(MANIFEST_FILE);
        write_json(&staged, manifest)?;
        let target = self.out.join(MANIFEST_FILE);
        std::fs::rename(&staged, &target).map_err(write_error(&target))
    }

    /// Put back what the previous recording had (or nothing, when there
    /// was none), as far as it goes. Once the new manifest is in place the
    /// new recording stands, and only the deletion of old files failed.
    fn roll_back(&mut self) {
        if self.committed {
            return;
        }
        for (rel, replaced) in self.done.iter().rev() {
            let target = self.out.join(rel);
            let restored = if *replaced {
                std::fs::rename(self.backup.join(rel), &target)
            } else {
                std::fs::remove_file(&target)
            };
            if let Err(e) = restored {
                tracing::warn!(path = %target.display(), error = %e, "cannot restore the previous snapshot file");
            }
        }
        if let Some(previous) = &self.previous_manifest {
            let staged = self.staging.join(MANIFEST_FILE);
            if std::fs::write(&staged, previous).is_ok() {
                let _ = std::fs::rename(&staged, self.out.join(MANIFEST_FILE));
            }
        }
        for dir in &self.created {
            let _ = std::fs::remove_dir(dir); // only if empty
        }
    }
}

/// The previous manifest's key and mode (its files replaced by the
/// caller), or the new one's when the previous cannot be read back.
fn previous_or(new: &SnapshotManifest, previous: Option<&[u8]>) -> SnapshotManifest {
    previous
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .unwrap_or_else(|| new.clone())
}

/// Write `value` as pretty JSON to a new file (in the staging folder).
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let file = std::fs::File::create(path).map_err(write_error(path))?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value)
        .map_err(std::io::Error::other)
        .and_then(|()| writer.write_all(b"\n"))
        .and_then(|()| writer.flush())
        .map_err(write_error(path))
}

/// `/apis/apps/v1` → `apis_apps_v1.json`, as `record.sh` names them.
fn discovery_file_name(api_path: &str) -> String {
    format!(
        "{}.json",
        api_path.trim_start_matches('/').replace('/', "_")
    )
}

/// kubectl's wrapper: `{"apiVersion":"v1","items":[…],"kind":"List","metadata":{"resourceVersion":""}}`.
fn kubectl_list(items: Vec<Value>) -> Value {
    let mut list = Map::new();
    list.insert("apiVersion".into(), Value::String("v1".into()));
    list.insert("items".into(), Value::Array(items));
    list.insert("kind".into(), Value::String("List".into()));
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), Value::String(String::new()));
    list.insert("metadata".into(), Value::Object(meta));
    Value::Object(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_files_are_named_like_record_sh() {
        assert_eq!(discovery_file_name("/apis/apps/v1"), "apis_apps_v1.json");
        assert_eq!(discovery_file_name("/api/v1"), "api_v1.json");
        assert_eq!(discovery_file_name("/version"), "version.json");
    }

    #[test]
    fn recorded_at_is_rfc_3339_to_the_second() {
        let t = jiff::Timestamp::from_second(1_795_000_000).unwrap();
        assert_eq!(format!("{t:.0}"), "2026-11-18T11:06:40Z");
    }

    fn manifest(files: &[&str]) -> SnapshotManifest {
        SnapshotManifest {
            comment: SnapshotManifest::COMMENT.to_owned(),
            version: MANIFEST_VERSION,
            recorded_at: "2026-01-01T00:00:00Z".into(),
            secret_values: SecretValues::Digest,
            salt: Some("ab".repeat(32)),
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn stage(files: &[(&str, &str)]) -> tempfile::TempDir {
        let staging = tempfile::tempdir().unwrap();
        for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
            std::fs::create_dir(staging.path().join(sub)).unwrap();
        }
        for (rel, text) in files {
            std::fs::write(staging.path().join(rel), text).unwrap();
        }
        staging
    }

    #[test]
    fn a_swap_replaces_listed_files_deletes_gone_ones_and_keeps_the_rest() {
        let out = tempfile::tempdir().unwrap();
        let old = manifest(&["objects/a.json", "objects/gone.json"]);
        std::fs::create_dir(out.path().join(OBJECTS_DIR)).unwrap();
        std::fs::write(out.path().join("objects/a.json"), "old a").unwrap();
        std::fs::write(out.path().join("objects/gone.json"), "old gone").unwrap();
        std::fs::write(out.path().join("objects/notes.txt"), "mine").unwrap();
        write_json(&out.path().join(MANIFEST_FILE), &old).unwrap();
        let previous = inspect_out(out.path()).unwrap();
        assert_eq!(previous.as_ref(), Some(&old));

        let staging = stage(&[("objects/a.json", "new a"), ("objects/b.json", "new b")]);
        let new = manifest(&["objects/a.json", "objects/b.json"]);
        let removed = swap_in(out.path(), staging.path(), previous.as_ref(), &new).unwrap();
        assert_eq!(removed, 1);
        let read = |rel: &str| std::fs::read_to_string(out.path().join(rel)).ok();
        assert_eq!(read("objects/a.json").as_deref(), Some("new a"));
        assert_eq!(read("objects/b.json").as_deref(), Some("new b"));
        assert_eq!(read("objects/gone.json"), None);
        assert_eq!(read("objects/notes.txt").as_deref(), Some("mine"));
        assert_eq!(read_manifest(out.path()).unwrap(), Some(new));
    }

    #[test]
    fn a_failed_swap_puts_the_previous_recording_back() {
        let out = tempfile::tempdir().unwrap();
        let old = manifest(&["objects/a.json"]);
        std::fs::create_dir(out.path().join(OBJECTS_DIR)).unwrap();
        std::fs::write(out.path().join("objects/a.json"), "old a").unwrap();
        write_json(&out.path().join(MANIFEST_FILE), &old).unwrap();
        // b.json is listed but was never staged: its rename fails after
        // a.json was already swapped.
        let staging = stage(&[("objects/a.json", "new a")]);
        let new = manifest(&["objects/a.json", "objects/b.json"]);
        let err = swap_in(out.path(), staging.path(), Some(&old), &new).unwrap_err();
        assert!(matches!(err, Error::WriteSnapshot { .. }), "{err:?}");
        let a = std::fs::read_to_string(out.path().join("objects/a.json")).unwrap();
        assert_eq!(a, "old a");
        assert_eq!(read_manifest(out.path()).unwrap(), Some(old));
    }

    #[test]
    fn a_file_in_the_way_that_is_not_listed_stops_the_swap_untouched() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(out.path().join(OBJECTS_DIR)).unwrap();
        std::fs::write(out.path().join("objects/b.json"), "mine").unwrap();
        let old = manifest(&[]);
        write_json(&out.path().join(MANIFEST_FILE), &old).unwrap();
        let staging = stage(&[("objects/b.json", "new b")]);
        let err = swap_in(
            out.path(),
            staging.path(),
            Some(&old),
            &manifest(&["objects/b.json"]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("b.json"), "{err}");
        let b = std::fs::read_to_string(out.path().join("objects/b.json")).unwrap();
        assert_eq!(b, "mine");
    }
}
