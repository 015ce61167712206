//! Recorded snapshots: directories of `kind: List` JSON files, as
//! `kubectl get <resource> -A -o json` prints them, plus optional `discovery/`
//! documents. Loaded by content (any file names), recorded by
//! [`record_snapshot`] with Secret values already sealed.
//!
//! A snapshot recorded by flotilla contains digests (`sealed:sha256:…`) in
//! place of Secret data: it can be shared and committed, and still shows a
//! changed Secret as drift, but cannot restore one.

use super::cluster::{ApiReader, discover, list_types};
use super::discovery::{ApiVersionsDoc, Discovery, GroupListDoc, ResourceListDoc};
use super::slim::{may_slim, slim_if_owned};
use super::{Error, Live, Result, Scope, listmap};
use crate::object::ObjectKey;
use crate::secret::{SEALED_PREFIX, is_secret, seal_secret};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Name of the discovery directory inside a snapshot.
const DISCOVERY_DIR: &str = "discovery";
/// Name of the object directory inside a recorded snapshot.
const OBJECTS_DIR: &str = "objects";

/// Load every object of a snapshot directory.
///
/// Every `*.json` file under `dir` (recursively, hidden entries and
/// `discovery/` aside) whose content is a `kind: List` (kubectl output, items
/// carry `apiVersion`/`kind`) or a raw `<Kind>List` API response (items
/// typed from the list) is read; other JSON files are skipped. Files are
/// parsed in parallel. An object found in two files (same group, kind,
/// namespace, name) is kept once, from the first file in path order.
pub fn load_snapshot(dir: &Path) -> Result<Live> {
    load_snapshot_scoped(dir, None)
}

/// [`load_snapshot`], keeping only kinds `scope` admits. Whether a kind is
/// namespaced comes from `discovery/` when present, else from the objects.
pub fn load_snapshot_scoped(dir: &Path, scope: Option<&Scope>) -> Result<Live> {
    let discovery = read_discovery_dir(&dir.join(DISCOVERY_DIR))?;
    let mut files = Vec::new();
    collect_json_files(dir, &mut files, true)?;
    files.sort();
    let lists = parse_in_parallel(&files)?;

    let namespaced_kinds: HashMap<(&str, &str), bool> = discovery
        .types
        .iter()
        .map(|t| ((t.group.as_str(), t.kind.as_str()), t.namespaced))
        .collect();
    let mut seen = HashSet::with_capacity(lists.iter().flatten().map(Vec::len).sum());
    let mut live = Live {
        hints: listmap::builtin(),
        ..Live::default()
    };
    for (path, list) in files.iter().zip(lists) {
        let Some(items) = list else { continue };
        live.lists += 1;
        if items.is_empty() {
            note_empty_list(&mut live, &discovery, path, scope);
        }
        let mut last_kind: Option<(String, String)> = None;
        for obj in items {
            let Some(key) = ObjectKey::of(&obj) else {
                continue;
            };
            if let Some(scope) = scope {
                let namespaced = namespaced_kinds
                    .get(&(key.group.as_str(), key.kind.as_str()))
                    .copied()
                    .unwrap_or(key.namespace.is_some());
                if !scope.admits(&key.group, &key.kind, namespaced) {
                    continue;
                }
            }
            // Items of one file are nearly always of one kind: note each kind
            // once per run rather than once per object.
            if last_kind
                .as_ref()
                .is_none_or(|(g, k)| *g != key.group || *k != key.kind)
            {
                let kind = (key.group.clone(), key.kind.clone());
                live.listed.insert(kind.clone());
                last_kind = Some(kind);
            }
            let slim = scope.is_some_and(|s| may_slim(s, &key.group, &key.kind));
            if seen.insert(key) {
                live.objects
                    .push(if slim { slim_if_owned(obj) } else { obj });
            }
        }
    }
    if let Some(scope) = scope.filter(|_| !discovery.types.is_empty()) {
        live.unserved = discovery.unserved(scope);
    }
    Ok(live)
}

/// An empty list names no kind; a conventional file name
/// (`<group|core>_<version>_<plural>.json`) with discovery still tells which.
fn note_empty_list(live: &mut Live, discovery: &Discovery, path: &Path, scope: Option<&Scope>) {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        return;
    };
    if let Some(t) = discovery.types.iter().find(|t| t.file_stem() == stem)
        && scope.is_none_or(|s| s.admits(&t.group, &t.kind, t.namespaced))
    {
        live.listed.insert((t.group.clone(), t.kind.clone()));
    }
}

fn collect_json_files(dir: &Path, out: &mut Vec<PathBuf>, top: bool) -> Result<()> {
    let read_error = |source| Error::ReadSnapshot {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || (top && name == DISCOVERY_DIR) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(read_error)?.is_dir() {
            collect_json_files(&path, out, false)?;
        } else if name.ends_with(".json") {
            out.push(path);
        }
    }
    Ok(())
}

/// A file's items, `None` when it is not a List.
type ParsedFile = Result<Option<Vec<Value>>>;

/// Parse files on all cores; results in the order of `files`.
fn parse_in_parallel(files: &[PathBuf]) -> Result<Vec<Option<Vec<Value>>>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ParsedFile>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let parsed = read_list_file(path);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(parsed);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or(Ok(None)))
        .collect()
}

/// What of a JSON file tells whether it is a List. Other fields are skipped
/// unparsed: snapshot files are tool output, not user input.
#[derive(Deserialize)]
struct ListFile {
    #[serde(default)]
    kind: Option<String>,
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

/// Items of a List file (typed and sealed), or `None` when the file is JSON
/// but not a List.
fn read_list_file(path: &Path) -> ParsedFile {
    let bytes = std::fs::read(path).map_err(|source| Error::ReadSnapshot {
        path: path.to_path_buf(),
        source,
    })?;
    let file: ListFile = match serde_json::from_slice(&bytes) {
        Ok(file) => file,
        Err(e) if e.is_data() => return Ok(None),
        Err(source) => {
            return Err(Error::ParseSnapshot {
                path: path.to_path_buf(),
                line: source.line(),
                column: source.column(),
                source,
            });
        }
    };
    let (Some(kind), Some(items)) = (file.kind, file.items) else {
        return Ok(None);
    };
    if kind == "List" {
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| kubectl_item(path, index, item))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    } else if let Some(item_kind) = kind.strip_suffix("List").filter(|k| !k.is_empty()) {
        let api_version = file.api_version.unwrap_or_else(|| "v1".to_owned());
        Ok(Some(
            items
                .into_iter()
                .map(|item| super::cluster::typed_item(item, &api_version, item_kind))
                .collect(),
        ))
    } else {
        Ok(None)
    }
}

/// An item of a kubectl `kind: List`: it must say what it is.
fn kubectl_item(path: &Path, index: usize, mut item: Value) -> Result<Value> {
    let item_error = |reason| Error::SnapshotItem {
        path: path.to_path_buf(),
        index,
        reason,
    };
    if !item.is_object() {
        return Err(item_error("not an object"));
    }
    if !item.get("apiVersion").is_some_and(Value::is_string) {
        return Err(item_error("missing apiVersion"));
    }
    if !item.get("kind").is_some_and(Value::is_string) {
        return Err(item_error("missing kind"));
    }
    seal_unless_sealed(&mut item);
    Ok(item)
}

/// Seal a Secret read from a snapshot, unless flotilla recorded it already
/// sealed: sealing a digest again would digest the digest, and every changed
/// Secret would then look unchanged.
fn seal_unless_sealed(obj: &mut Value) {
    if !is_secret(obj) {
        return;
    }
    let already = obj.get("stringData").is_none()
        && obj
            .get("data")
            .and_then(Value::as_object)
            .is_some_and(|data| {
                data.values()
                    .all(|v| v.as_str().is_some_and(|s| s.starts_with(SEALED_PREFIX)))
            });
    if !already {
        seal_secret(obj);
    }
}

/// Read `discovery/` documents by content; an absent directory is an empty
/// [`Discovery`].
fn read_discovery_dir(dir: &Path) -> Result<Discovery> {
    let mut discovery = Discovery::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(discovery);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|source| Error::ReadSnapshot {
            path: path.clone(),
            source,
        })?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|source| Error::ParseSnapshot {
            path: path.clone(),
            line: source.line(),
            column: source.column(),
            source,
        })?;
        add_discovery_document(&mut discovery, doc);
    }
    Ok(discovery)
}

fn add_discovery_document(discovery: &mut Discovery, doc: Value) {
    match doc.get("kind").and_then(Value::as_str) {
        Some("APIVersions") => {
            if let Ok(d) = serde_json::from_value::<ApiVersionsDoc>(doc) {
                discovery.add_core_versions(&d);
            }
        }
        Some("APIGroupList") => {
            if let Ok(d) = serde_json::from_value::<GroupListDoc>(doc) {
                discovery.add_groups(&d);
            }
        }
        Some("APIResourceList") => {
            if let Ok(d) = serde_json::from_value::<ResourceListDoc>(doc) {
                discovery.add_resources(&d);
            }
        }
        _ => {}
    }
}

/// What [`record_snapshot`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordSummary {
    /// Objects written.
    pub objects: usize,
    /// List files written (`objects/*.json`).
    pub lists: usize,
    /// Discovery documents written (`discovery/*.json`).
    pub discovery_documents: usize,
    /// Secrets written with sealed values.
    pub sealed_secrets: usize,
    /// API requests made.
    pub requests: u64,
    /// Group versions skipped because their discovery failed (an aggregated
    /// API server down): not in the recording.
    pub unavailable: Vec<String>,
}

/// Record a cluster into `out`, like the fixture's `record.sh`:
/// `discovery/` (`/version`, `/api`, `/apis`, every served group version)
/// and `objects/<group|core>_<version>_<plural>.json`, kubectl-style Lists
/// (`apiVersion: v1`, `kind: List`, items typed), one per type `scope` admits
/// (default [`Scope::everything`]). Secret values are sealed before they are
/// written: the snapshot holds digests, never secrets.
///
/// Written into a temporary directory inside `out` first, then moved over
/// `out/discovery` and `out/objects`, so a failed read leaves the previous
/// recording whole and a new one never mixes with stale files.
pub async fn record_snapshot(
    client: kube::Client,
    out: &Path,
    scope: Option<&Scope>,
) -> Result<RecordSummary> {
    let everything = Scope::everything();
    let scope = scope.unwrap_or(&everything);
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
    let lists = list_types(&reader, &types, 500, 8, None).await?;

    let staging = out.join(format!(".flotilla-snapshot-{}", std::process::id()));
    let mut summary = RecordSummary::default();
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::WriteSnapshot { path, source }
    };
    for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
        let path = staging.join(sub);
        std::fs::create_dir_all(&path).map_err(write_error(&path))?;
    }
    let documents = std::iter::once(("/version".to_owned(), version)).chain(read.documents);
    for (api_path, body) in documents {
        let path = staging
            .join(DISCOVERY_DIR)
            .join(discovery_file_name(&api_path));
        std::fs::write(&path, body).map_err(write_error(&path))?;
        summary.discovery_documents += 1;
    }
    for (t, items) in types.iter().zip(lists) {
        summary.objects += items.len();
        summary.sealed_secrets += items.iter().filter(|o| is_secret(o)).count();
        let path = staging
            .join(OBJECTS_DIR)
            .join(format!("{}.json", t.file_stem()));
        let body = serde_json::to_vec_pretty(&kubectl_list(items))
            .map_err(|e| write_error(&path)(std::io::Error::other(e)))?;
        std::fs::write(&path, body).map_err(write_error(&path))?;
        summary.lists += 1;
    }
    replace_recording(&staging, out)?;
    summary.requests = reader.requests();
    summary.unavailable = read.unavailable;
    Ok(summary)
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

fn replace_recording(staging: &Path, out: &Path) -> Result<()> {
    for sub in [DISCOVERY_DIR, OBJECTS_DIR] {
        let target = out.join(sub);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|source| Error::WriteSnapshot {
                path: target.clone(),
                source,
            })?;
        }
        std::fs::rename(staging.join(sub), &target).map_err(|source| Error::WriteSnapshot {
            path: target.clone(),
            source,
        })?;
    }
    std::fs::remove_dir(staging).map_err(|source| Error::WriteSnapshot {
        path: staging.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_sealed_secrets_are_not_sealed_twice() {
        let mut secret = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"YWRtaW4="}});
        seal_unless_sealed(&mut secret);
        let once = secret.clone();
        seal_unless_sealed(&mut secret);
        assert_eq!(secret, once);
        assert_ne!(once["data"]["k"], "YWRtaW4=");
    }

    #[test]
    fn discovery_files_are_named_like_record_sh() {
        assert_eq!(discovery_file_name("/apis/apps/v1"), "apis_apps_v1.json");
        assert_eq!(discovery_file_name("/api/v1"), "api_v1.json");
        assert_eq!(discovery_file_name("/version"), "version.json");
    }
}
