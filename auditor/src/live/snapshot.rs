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
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

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
/// read one at a time in path order, their items one at a time. An object
/// found in two files (same group, kind, namespace, name) is kept once, from
/// the first file in path order.
pub fn load_snapshot(dir: &Path) -> Result<Live> {
    load_snapshot_scoped(dir, None)
}

/// [`load_snapshot`], keeping only kinds `scope` admits. Whether a kind is
/// namespaced comes from `discovery/` when present, else from the objects.
///
/// Files are read one at a time and their items taken one at a time: an
/// item's full JSON lives only until it is checked, admitted and slimmed, so
/// peak memory is the kept objects plus one file's bytes, not every file's
/// items parsed whole.
pub fn load_snapshot_scoped(dir: &Path, scope: Option<&Scope>) -> Result<Live> {
    let discovery = read_discovery_dir(&dir.join(DISCOVERY_DIR))?;
    let mut files = Vec::new();
    collect_json_files(dir, &mut files, true)?;
    files.sort();

    let namespaced_kinds: HashMap<(&str, &str), bool> = discovery
        .types
        .iter()
        .map(|t| ((t.group.as_str(), t.kind.as_str()), t.namespaced))
        .collect();
    let mut keeper = Keeper {
        scope,
        namespaced_kinds: &namespaced_kinds,
        seen: HashSet::new(),
        live: Live {
            hints: listmap::builtin(),
            ..Live::default()
        },
    };
    for path in &files {
        let taken = read_list_file(path, &mut keeper)?;
        if taken == Some(0) {
            note_empty_list(&mut keeper.live, &discovery, path, scope);
        }
    }
    let mut live = keeper.live;
    if let Some(scope) = scope.filter(|_| !discovery.types.is_empty()) {
        live.unserved = discovery.unserved(scope);
    }
    Ok(live)
}

/// What is kept of the items read so far, across files.
struct Keeper<'a> {
    scope: Option<&'a Scope>,
    namespaced_kinds: &'a HashMap<(&'a str, &'a str), bool>,
    /// Keys kept: an object in two files is kept from the first.
    seen: HashSet<ObjectKey>,
    live: Live,
}

impl Keeper<'_> {
    /// Keep `obj` (typed and sealed) if the scope admits its kind and no
    /// earlier file held it; slimmed when its kind may be.
    fn keep(&mut self, obj: Value, last_kind: &mut Option<(String, String)>) {
        let Some(key) = ObjectKey::of(&obj) else {
            return;
        };
        if let Some(scope) = self.scope {
            let namespaced = self
                .namespaced_kinds
                .get(&(key.group.as_str(), key.kind.as_str()))
                .copied()
                .unwrap_or(key.namespace.is_some());
            if !scope.admits(&key.group, &key.kind, namespaced) {
                return;
            }
        }
        // Items of one file are nearly always of one kind: note each kind
        // once per run rather than once per object.
        if last_kind
            .as_ref()
            .is_none_or(|(g, k)| *g != key.group || *k != key.kind)
        {
            let kind = (key.group.clone(), key.kind.clone());
            self.live.listed.insert(kind.clone());
            *last_kind = Some(kind);
        }
        let slim = self
            .scope
            .is_some_and(|s| may_slim(s, &key.group, &key.kind));
        if self.seen.insert(key) {
            self.live
                .objects
                .push(if slim { slim_if_owned(obj) } else { obj });
        }
    }
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

/// What of a JSON file tells whether it is a List. Other fields are skipped
/// unparsed: snapshot files are tool output, not user input. Items are only
/// checked to be an array here; they are taken one by one afterwards, once
/// `kind` (which kubectl prints after `items`) says how.
#[derive(Deserialize)]
struct ListHeader {
    #[serde(default)]
    kind: Option<String>,
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    items: Option<AnyArray>,
}

/// A JSON array, its elements skipped.
struct AnyArray;

impl<'de> Deserialize<'de> for AnyArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_seq(AnyArrayVisitor)
    }
}

struct AnyArrayVisitor;

impl<'de> Visitor<'de> for AnyArrayVisitor {
    type Value = AnyArray;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<AnyArray, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(AnyArray)
    }
}

/// How the items of a List file become objects.
#[derive(Clone, Copy)]
enum ItemForm<'a> {
    /// kubectl `kind: List`: items say what they are.
    Kubectl,
    /// Raw `<Kind>List` API response: items typed from the list.
    Raw { api_version: &'a str, kind: &'a str },
}

/// Read a List file's items into `keeper`, returning how many it held, or
/// `None` when the file is JSON but not a List.
fn read_list_file(path: &Path, keeper: &mut Keeper) -> Result<Option<usize>> {
    let bytes = std::fs::read(path).map_err(|source| Error::ReadSnapshot {
        path: path.to_path_buf(),
        source,
    })?;
    let header: ListHeader = match serde_json::from_slice(&bytes) {
        Ok(header) => header,
        Err(e) if e.is_data() => return Ok(None),
        Err(source) => return Err(parse_error(path, source)),
    };
    let (Some(kind), Some(AnyArray)) = (header.kind, header.items) else {
        return Ok(None);
    };
    let api_version = header.api_version.unwrap_or_else(|| "v1".to_owned());
    let form = if kind == "List" {
        ItemForm::Kubectl
    } else if let Some(item_kind) = kind.strip_suffix("List").filter(|k| !k.is_empty()) {
        ItemForm::Raw {
            api_version: &api_version,
            kind: item_kind,
        }
    } else {
        return Ok(None);
    };
    keeper.live.lists += 1;
    let mut taker = ItemTaker {
        path,
        form,
        keeper,
        taken: 0,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    match (&mut taker).deserialize(&mut de) {
        Ok(()) => Ok(Some(taker.taken)),
        Err(source) => Err(taker
            .failure
            .take()
            .unwrap_or_else(|| parse_error(path, source))),
    }
}

fn parse_error(path: &Path, source: serde_json::Error) -> Error {
    Error::ParseSnapshot {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    }
}

/// Walks a List file's top-level object, handing each element of `items` to
/// the keeper as soon as it is parsed.
struct ItemTaker<'p, 'k, 'a> {
    path: &'p Path,
    form: ItemForm<'p>,
    keeper: &'k mut Keeper<'a>,
    /// Items seen, kept or not.
    taken: usize,
    /// Why an item was refused: carried past serde, which only knows strings.
    failure: Option<Error>,
}

impl ItemTaker<'_, '_, '_> {
    fn take(&mut self, item: Value, last_kind: &mut Option<(String, String)>) -> Result<()> {
        let obj = match self.form {
            ItemForm::Kubectl => kubectl_item(self.path, self.taken, item)?,
            ItemForm::Raw { api_version, kind } => {
                super::cluster::typed_item(item, api_version, kind)
            }
        };
        self.taken += 1;
        self.keeper.keep(obj, last_kind);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut ItemTaker<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut ItemTaker<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if field == "items" {
                map.next_value_seed(ItemsSeed(&mut *self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `items` array of a List file, taken element by element.
struct ItemsSeed<'t, 'p, 'k, 'a>(&'t mut ItemTaker<'p, 'k, 'a>);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut last_kind = None;
        while let Some(item) = seq.next_element::<Value>()? {
            if let Err(e) = self.0.take(item, &mut last_kind) {
                self.0.failure = Some(e);
                return Err(A::Error::custom("item refused"));
            }
        }
        Ok(())
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

    /// `kind` printed after `items` (as sorted-key JSON has it) must still
    /// type every item: items are taken only once the list kind is known.
    #[test]
    fn raw_lists_with_kind_after_items_are_typed_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("secrets.json"),
            r#"{"apiVersion":"v1","items":[
                {"metadata":{"name":"a","namespace":"y"},"data":{"k":"c2VjcmV0LXZhbHVl"}},
                {"metadata":{"name":"b","namespace":"y"}}],
              "kind":"SecretList","metadata":{}}"#,
        )
        .unwrap();
        let live = load_snapshot(dir.path()).unwrap();
        let names: Vec<&str> = live
            .objects
            .iter()
            .filter(|o| o["kind"] == "Secret" && o["apiVersion"] == "v1")
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let text = serde_json::to_string(&live.objects).unwrap();
        assert!(!text.contains("c2VjcmV0LXZhbHVl"), "{text}");
    }

    /// A JSON file whose `items` is not an array is not a List: skipped, as
    /// before items were streamed, not an error.
    #[test]
    fn files_whose_items_are_not_an_array_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("odd.json"),
            r#"{"kind":"List","items":"nope"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("cms.json"),
            r#"{"items":[{"metadata":{"name":"x","namespace":"y"}}],"kind":"ConfigMapList"}"#,
        )
        .unwrap();
        let live = load_snapshot(dir.path()).unwrap();
        assert_eq!(live.lists, 1);
        assert_eq!(live.objects.len(), 1);
        assert_eq!(live.objects[0]["kind"], "ConfigMap");
    }

    #[test]
    fn discovery_files_are_named_like_record_sh() {
        assert_eq!(discovery_file_name("/apis/apps/v1"), "apis_apps_v1.json");
        assert_eq!(discovery_file_name("/api/v1"), "api_v1.json");
        assert_eq!(discovery_file_name("/version"), "version.json");
    }
}
