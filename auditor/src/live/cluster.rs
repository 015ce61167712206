//! Reading a live API server: discovery, the OpenAPI v3 documents of the
//! group versions Git's kinds live in (list semantics, see
//! [`super::openapi`]), then ONE cluster-wide paged LIST per resource type
//! (never a GET per object), read-only (GET only, so a ClusterRole with
//! get/list/watch suffices), every request counted, by verb and resource
//! (`--stats`).
//!
//! **LISTs come from the API server's watch cache.** The first page of each
//! LIST asks `resourceVersion=0`, as informers do: "Any" semantics, served
//! from the watch cache without reaching etcd (kubernetes/website,
//! `content/en/docs/reference/using-api/api-concepts.md`, "Semantics for get
//! and list"; kube-rs `ListParams::match_any` / `VersionMatch::NotOlderThan`
//! name the same thing). Later pages carry only the continue token (a
//! continue token fixes the resource version; `resourceVersion` may not be
//! combined with it), so one logical LIST stays one consistent snapshot.
//! Servers before 1.33 answer a `resourceVersion=0` LIST from the cache in
//! one page, ignoring `limit`. The trade: the cache may lag etcd by a moment
//! (more in an HA control plane whose API server lost its etcd watch), so a
//! change made just before the audit can be seen one audit later; in
//! exchange an audit costs etcd close to nothing however large the cluster.

use super::discovery::{
    AggregatedListDoc, ApiType, ApiVersionsDoc, Discovery, GroupListDoc, KindDoc, ResourceListDoc,
    group_version_path,
};
use super::openapi::{fetch_openapi, group_versions};
use super::slim::{may_slim, slim_if_owned};
use super::{Error, Live, Result, Scope};
use crate::secret::Sealer;
use futures::{StreamExt, TryStreamExt, stream};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a cluster is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Items per LIST page (`limit`); a type with more objects takes several
    /// requests, each counted. The API server default cap is 500 per page
    /// being cheap for etcd; larger pages cost the server memory.
    pub page_size: u32,
    /// LISTs in flight at once. Eight keeps a large cluster's read short
    /// without looking like a flood to API priority and fairness.
    pub concurrency: usize,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            page_size: 500,
            concurrency: 8,
        }
    }
}

/// A client for `--context` / `--kubeconfig`: an explicit kubeconfig file
/// (with its current or the given context), the default kubeconfig with the
/// given context, or, with neither, kube-rs inference (in-cluster service
/// account first, then the default kubeconfig).
pub async fn client_for(context: Option<&str>, kubeconfig: Option<&Path>) -> Result<kube::Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let kubeconfig_error = |source| Error::Kubeconfig {
        path: kubeconfig.map(Path::to_path_buf),
        context: context.map(str::to_owned),
        source,
    };
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(kubeconfig_error)?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(kubeconfig_error)?,
        (None, None) => kube::Config::infer().await.map_err(Error::InferConfig)?,
    };
    kube::Client::try_from(config).map_err(Error::Client)
}

/// Read the kinds `scope` admits with default [`ReadOptions`], Secrets
/// sealed with a fresh random key (compare them only with each other; an
/// audit passes its sealer to [`read_cluster_with`]).
pub async fn read_cluster(client: kube::Client, scope: &Scope) -> Result<Live> {
    read_cluster_with(client, scope, &ReadOptions::default(), &Sealer::random()).await
}

/// Read the kinds `scope` admits: discovery (aggregated `/api` and `/apis`,
/// or the legacy documents of each needed group), the OpenAPI v3 documents
/// of the group versions of the kinds `scope` names (one each), then one
/// paged LIST per type, `options.concurrency` at a time. Secrets are sealed
/// by `sealer` as each page arrives.
pub async fn read_cluster_with(
    client: kube::Client,
    scope: &Scope,
    options: &ReadOptions,
    sealer: &Sealer,
) -> Result<Live> {
    let reader = ApiReader::new(client);
    let DiscoveryRead {
        discovery,
        unavailable,
        ..
    } = discover(&reader, scope, false, options.concurrency).await?;
    let types = discovery.select(scope);
    let compared = group_versions(types.iter().filter(|t| scope.names(&t.group, &t.kind)));
    let (openapi, lists) = futures::join!(
        fetch_openapi(&reader, &compared, options.concurrency),
        list_types(
            &reader,
            &types,
            options.page_size,
            options.concurrency,
            Some(scope),
            sealer,
        )
    );
    let lists = lists?;
    Ok(Live {
        objects: lists.into_iter().flatten().collect(),
        semantics: openapi.semantics,
        openapi_documents: openapi.read,
        namespaced: discovery.namespaced_kinds(),
        requests: reader.requests(),
        request_counts: reader.request_counts(),
        lists: types.len() as u64,
        listed: types
            .iter()
            .map(|t| (t.group.clone(), t.kind.clone()))
            .collect::<BTreeSet<_>>(),
        unserved: discovery.unserved(scope),
        unavailable,
        ..Live::default()
    })
}

/// GETs against one API server, counted, in total and by verb and resource
/// (see [`request_label`]). Retries made inside kube-rs's own retry layer
/// (429/503/504) are not seen here and so not counted.
pub(crate) struct ApiReader {
    client: kube::Client,
    requests: AtomicU64,
    by_label: Mutex<BTreeMap<(String, String), u64>>,
}

impl ApiReader {
    pub(crate) fn new(client: kube::Client) -> ApiReader {
        ApiReader {
            client,
            requests: AtomicU64::new(0),
            by_label: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests so far by `(verb, resource)`.
    pub(crate) fn request_counts(&self) -> BTreeMap<(String, String), u64> {
        self.by_label
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `GET path` (path and query), body as text.
    pub(crate) async fn get_text(&self, path: &str) -> Result<String, kube::Error> {
        self.get_text_accepting(path, None).await
    }

    /// `GET path` with an `Accept` header, body as text.
    pub(crate) async fn get_text_accepting(
        &self,
        path: &str,
        accept: Option<&str>,
    ) -> Result<String, kube::Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .by_label
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(request_label(path))
            .or_default() += 1;
        let mut request = http::Request::get(path);
        if let Some(accept) = accept {
            request = request.header(http::header::ACCEPT, accept);
        }
        let request = request.body(Vec::new()).map_err(kube::Error::HttpError)?;
        self.client.request_text(request).await
    }
}

/// The verb and resource of a GET, from its path, the way the API server's
/// audit log and `kubectl` name them: discovery documents (`/api`, `/apis`,
/// `/api/v1`, `/apis/<group>/<version>`) are `get discovery`, OpenAPI
/// documents `get openapi`; a collection (`…/<resource>`, also under
/// `namespaces/<ns>/`) is `list <resource>` (`watch` with `watch=true`),
/// one object `get <resource>`; resources of a group are spelled
/// `<resource>.<group>` (`deployments.apps`).
pub(crate) fn request_label(path_and_query: &str) -> (String, String) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let label = |verb: &str, resource: String| (verb.to_owned(), resource);
    let (group, rest) = match segments.as_slice() {
        ["openapi", ..] => return label("get", "openapi".into()),
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return label("get", "discovery".into()),
    };
    let (collection, resource) = match rest {
        [] => return label("get", "discovery".into()),
        ["namespaces", _, resource] => (true, *resource),
        ["namespaces", _, resource, _, ..] => (false, *resource),
        [resource] => (true, *resource),
        [resource, ..] => (false, *resource),
    };
    let resource = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let watch = query
        .split('&')
        .any(|q| q == "watch=true" || q == "watch=1");
    match (collection, watch) {
        (true, true) => label("watch", resource),
        (true, false) => label("list", resource),
        (false, _) => label("get", resource),
    }
}

/// Discovery as read, with the raw documents (API path, body) for recording.
pub(crate) struct DiscoveryRead {
    pub(crate) discovery: Discovery,
    pub(crate) documents: Vec<(String, String)>,
    /// Group versions skipped: discovery failed or came back stale, and no
    /// kind the scope requires lives there.
    pub(crate) unavailable: Vec<String>,
}

/// `Accept` asking for aggregated discovery, with plain JSON as fallback
/// (servers before 1.26, or with the feature off, answer the legacy document).
const AGGREGATED_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// Fetch discovery for `scope`.
///
/// First `/api` and `/apis` asking for aggregated discovery: a 1.30+ server
/// describes every group, version and resource in those two answers. Where a
/// server answers the legacy document instead, `/api/v1` and
/// `/apis/<g>/<v>` follow for the preferred version of each group the scope
/// needs (then other versions only where a named kind was not found). A
/// recording (`all_versions`) asks legacy documents of every served version,
/// the files `record.sh` writes.
pub(crate) async fn discover(
    reader: &ApiReader,
    scope: &Scope,
    all_versions: bool,
    concurrency: usize,
) -> Result<DiscoveryRead> {
    let mut read = DiscoveryRead {
        discovery: Discovery::default(),
        documents: Vec::new(),
        unavailable: Vec::new(),
    };
    let accept = (!all_versions).then_some(AGGREGATED_ACCEPT);
    let mut covered = BTreeSet::new();
    for path in ["/api", "/apis"] {
        let body = get_document(reader, path, accept).await?;
        if decode::<KindDoc>(path, &body)?.kind.as_deref() == Some("APIGroupDiscoveryList") {
            let doc = decode::<AggregatedListDoc>(path, &body)?;
            covered.extend(
                doc.items
                    .iter()
                    .map(|g| g.metadata.name.clone().unwrap_or_default()),
            );
            for (group, version) in read.discovery.add_aggregated(&doc) {
                note_unavailable(&mut read, scope, &group, &version, None)?;
            }
        } else if path == "/api" {
            read.discovery
                .add_core_versions(&decode::<ApiVersionsDoc>(path, &body)?);
        } else {
            read.discovery
                .add_groups(&decode::<GroupListDoc>(path, &body)?);
        }
        read.documents.push((path.to_owned(), body));
    }

    let first: Vec<(String, String)> = if all_versions {
        read.discovery
            .groups
            .iter()
            .filter(|(g, _)| scope.needs_group(g))
            .flat_map(|(g, vs)| vs.iter().map(|v| (g.clone(), v.clone())))
            .collect()
    } else {
        read.discovery.preferred_group_versions(scope)
    };
    let first = first
        .into_iter()
        .filter(|(g, _)| !covered.contains(g))
        .collect();
    fetch_resource_lists(reader, scope, &mut read, first, concurrency).await?;
    let fallback = read.discovery.fallback_group_versions(scope);
    let fallback = fallback
        .into_iter()
        .filter(|(g, _)| !covered.contains(g))
        .collect();
    fetch_resource_lists(reader, scope, &mut read, fallback, concurrency).await?;
    Ok(read)
}

/// A group version that could not be discovered: fatal when the scope
/// requires its group, else skipped with a warning and remembered.
fn note_unavailable(
    read: &mut DiscoveryRead,
    scope: &Scope,
    group: &str,
    version: &str,
    error: Option<Error>,
) -> Result<()> {
    let path = group_version_path(group, version);
    match error {
        Some(e) if scope.requires_group(group) => Err(e),
        None if scope.requires_group(group) => Err(Error::StaleDiscovery { path }),
        _ => {
            tracing::warn!(%path, "discovery unavailable, skipping the group version");
            read.unavailable.push(path);
            Ok(())
        }
    }
}

async fn fetch_resource_lists(
    reader: &ApiReader,
    scope: &Scope,
    read: &mut DiscoveryRead,
    group_versions: Vec<(String, String)>,
    concurrency: usize,
) -> Result<()> {
    // Futures are built before they are streamed: a closure inside
    // `StreamExt::map` trips rustc's higher-ranked `Send` check.
    let requests: Vec<_> = group_versions
        .iter()
        .map(|(g, v)| get_resource_list(reader, group_version_path(g, v)))
        .collect();
    let results: Vec<Result<(String, String)>> = stream::iter(requests)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for ((group, version), result) in group_versions.iter().zip(results) {
        match result {
            Ok((path, body)) => {
                read.discovery
                    .add_resources(&decode::<ResourceListDoc>(&path, &body)?);
                read.documents.push((path, body));
            }
            Err(e) => note_unavailable(read, scope, group, version, Some(e))?,
        }
    }
    Ok(())
}

async fn get_resource_list(reader: &ApiReader, path: String) -> Result<(String, String)> {
    let body = get_document(reader, &path, None).await?;
    Ok((path, body))
}

async fn get_document(reader: &ApiReader, path: &str, accept: Option<&str>) -> Result<String> {
    reader
        .get_text_accepting(path, accept)
        .await
        .map_err(|source| Error::Discovery {
            path: path.to_owned(),
            source,
        })
}

fn decode<T: DeserializeOwned>(path: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::Discovery {
        path: path.to_owned(),
        source: kube::Error::SerdeError(e),
    })
}

/// One logical LIST per type, `concurrency` at a time, results in the order
/// of `types`.
pub(crate) async fn list_types(
    reader: &ApiReader,
    types: &[ApiType],
    page_size: u32,
    concurrency: usize,
    slim_for: Option<&Scope>,
    sealer: &Sealer,
) -> Result<Vec<Vec<Value>>> {
    let lists: Vec<_> = types
        .iter()
        .map(|t| {
            let slim = slim_for.is_some_and(|s| may_slim(s, &t.group, &t.kind));
            list_type(reader, t, page_size, slim, sealer)
        })
        .collect();
    stream::iter(lists)
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// One page of a LIST response. Only what paging needs is decoded; items
/// are `T`: whole values, or raw text for kinds whose owned objects are cut
/// down (see [`decode_page`]).
#[derive(Deserialize)]
struct ListPage<T> {
    #[serde(default)]
    metadata: ListPageMeta,
    #[serde(default = "Option::default")]
    items: Option<Vec<T>>,
}

#[derive(Deserialize, Default)]
struct ListPageMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// One logical LIST of a type, across as many pages as the server cuts it
/// into. Items get `apiVersion` and `kind` (list responses omit them) and
/// Secrets are sealed at once. When a continue token expires mid-way (410
/// Gone, the server compacted past it), the LIST restarts from the first page
/// once, since a LIST stitched from two resource versions could show an
/// object twice or not at all.
async fn list_type(
    reader: &ApiReader,
    t: &ApiType,
    page_size: u32,
    slim: bool,
    sealer: &Sealer,
) -> Result<Vec<Value>> {
    let api_version = t.api_version();
    let mut restarted = false;
    'list: loop {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        let mut page_no = 0u32;
        loop {
            page_no += 1;
            let path = page_path(t, page_size, token.as_deref());
            let list_error = |source| Error::List {
                api_version: api_version.clone(),
                resource: t.plural.clone(),
                page: page_no,
                source,
            };
            let text = match reader.get_text(&path).await {
                Ok(text) => text,
                Err(kube::Error::Api(status))
                    if status.code == 410 && token.is_some() && !restarted =>
                {
                    restarted = true;
                    tracing::warn!(resource = %t.plural, %api_version, "continue token expired, restarting list");
                    continue 'list;
                }
                Err(source) => return Err(list_error(source)),
            };
            let page = Page {
                api_version: &api_version,
                kind: &t.kind,
                slim,
                sealer,
            };
            let next = page
                .decode(&text, &mut objects)
                .map_err(|e| list_error(kube::Error::SerdeError(e)))?;
            match next {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }
}

/// How the items of one type's pages become objects.
struct Page<'a> {
    api_version: &'a str,
    kind: &'a str,
    /// Owned objects are cut down (see `live::slim`).
    slim: bool,
    sealer: &'a Sealer,
}

/// The part of an item a cut-down object keeps, read without building the
/// rest: `metadata`'s identity, labels and owners.
#[derive(Deserialize)]
struct SlimItem {
    #[serde(default)]
    metadata: Option<SlimMeta>,
}

#[derive(Deserialize)]
struct SlimMeta {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    namespace: Option<Value>,
    #[serde(default)]
    uid: Option<Value>,
    #[serde(default)]
    labels: Option<Value>,
    #[serde(rename = "ownerReferences", default)]
    owner_references: Option<Value>,
}

impl Page<'_> {
    /// Decode one page into `out`; the continue token, if any. For kinds
    /// whose owned objects are cut down, an owned item is read only as far
    /// as it is kept (its identity and owners, the rest skipped unbuilt, the
    /// same object [`slim_if_owned`] leaves), which is most of a busy
    /// cluster's bytes (Pods, ReplicaSets); other items are read whole.
    fn decode(&self, text: &str, out: &mut Vec<Value>) -> serde_json::Result<Option<String>> {
        if !self.slim {
            let page: ListPage<Value> = serde_json::from_str(text)?;
            for item in page.items.unwrap_or_default() {
                out.push(self.whole(item));
            }
            return Ok(page.metadata.continue_token);
        }
        let page: ListPage<&RawValue> = serde_json::from_str(text)?;
        for raw in page.items.unwrap_or_default() {
            let head: SlimItem = serde_json::from_str(raw.get())?;
            let owned = head.metadata.as_ref().is_some_and(|m| {
                m.owner_references
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|o| !o.is_empty())
            });
            let object = match head.metadata {
                Some(meta) if owned => self.cut_down(meta),
                _ => slim_if_owned(self.whole(serde_json::from_str(raw.get())?)),
            };
            out.push(object);
        }
        Ok(page.metadata.continue_token)
    }

    fn whole(&self, item: Value) -> Value {
        let mut item = typed_item(item, self.api_version, self.kind);
        self.sealer.seal(&mut item);
        item
    }

    /// What [`slim_if_owned`] keeps of an owned object.
    fn cut_down(&self, meta: SlimMeta) -> Value {
        let mut kept = Map::new();
        let fields = [
            ("name", meta.name),
            ("namespace", meta.namespace),
            ("uid", meta.uid),
            ("labels", meta.labels),
            ("ownerReferences", meta.owner_references),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                kept.insert(key.to_owned(), value);
            }
        }
        let mut object = Map::with_capacity(3);
        object.insert(
            "apiVersion".into(),
            Value::String(self.api_version.to_owned()),
        );
        object.insert("kind".into(), Value::String(self.kind.to_owned()));
        object.insert("metadata".into(), Value::Object(kept));
        Value::Object(object)
    }
}

/// A page of a LIST: the first from the watch cache (`resourceVersion=0`,
/// see the module docs), the next ones by continue token alone.
fn page_path(t: &ApiType, page_size: u32, token: Option<&str>) -> String {
    let mut path = format!("{}?limit={page_size}", t.list_path());
    match token {
        Some(token) => {
            path.push_str("&continue=");
            push_query_escaped(&mut path, token);
        }
        None => path.push_str("&resourceVersion=0"),
    }
    path
}

/// Percent-encode a query value (continue tokens are base64: `+`, `/`, `=`).
fn push_query_escaped(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// An item with `apiVersion` and `kind` first (as kubectl prints them).
/// Not sealed: the caller seals with its sealer.
pub(crate) fn typed_item(item: Value, api_version: &str, kind: &str) -> Value {
    let Value::Object(fields) = item else {
        return item;
    };
    let mut typed = Map::with_capacity(fields.len() + 2);
    typed.insert("apiVersion".into(), Value::String(api_version.to_owned()));
    typed.insert("kind".into(), Value::String(kind.to_owned()));
    for (k, v) in fields {
        if k != "apiVersion" && k != "kind" {
            typed.insert(k, v);
        }
    }
    Value::Object(typed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn continue_tokens_are_escaped() {
        let t = ApiType {
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
            namespaced: true,
        };
        assert_eq!(
            page_path(&t, 2, Some("eyJ2Ijo+/=")),
            "/api/v1/pods?limit=2&continue=eyJ2Ijo%2B%2F%3D"
        );
        assert_eq!(
            page_path(&t, 2, None),
            "/api/v1/pods?limit=2&resourceVersion=0"
        );
    }

    #[test]
    fn owned_items_of_slimmed_kinds_are_read_only_as_far_as_they_are_kept() {
        let items = [
            json!({"metadata": {"name": "rs-1", "namespace": "a", "uid": "u1", "labels": {"app": "x"},
                                "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d"}],
                                "managedFields": [{"manager": "kube-controller-manager"}]},
                   "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c"}]}}}}),
            json!({"metadata": {"name": "bare", "namespace": "a", "ownerReferences": []},
                   "spec": {"replicas": 1}}),
        ];
        let text = json!({"kind": "ReplicaSetList", "apiVersion": "apps/v1",
                          "metadata": {"continue": "next"}, "items": items})
        .to_string();
        let sealer = Sealer::random();
        let page = |slim| Page {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            slim,
            sealer: &sealer,
        };
        let (mut cut, mut whole) = (Vec::new(), Vec::new());
        assert_eq!(
            page(true).decode(&text, &mut cut).unwrap().as_deref(),
            Some("next")
        );
        page(false).decode(&text, &mut whole).unwrap();
        let expected: Vec<Value> = whole.into_iter().map(slim_if_owned).collect();
        assert_eq!(cut, expected);
        assert_eq!(cut[1]["spec"]["replicas"], 1, "an unowned item stays whole");
    }

    #[test]
    fn requests_are_labelled_by_verb_and_resource() {
        let l = |p: &str| {
            let (verb, resource) = request_label(p);
            format!("{verb} {resource}")
        };
        for discovery in ["/api", "/apis", "/api/v1", "/apis/apps/v1", "/apis/apps"] {
            assert_eq!(l(discovery), "get discovery", "{discovery}");
        }
        assert_eq!(l("/openapi/v3/apis/apps/v1?hash=1"), "get openapi");
        assert_eq!(l("/api/v1/pods?limit=500"), "list pods");
        assert_eq!(l("/api/v1/namespaces?limit=500"), "list namespaces");
        assert_eq!(l("/api/v1/namespaces/a0008"), "get namespaces");
        assert_eq!(
            l("/api/v1/namespaces/a0008/configmaps?limit=2&continue=x"),
            "list configmaps"
        );
        assert_eq!(
            l("/api/v1/namespaces/a0008/configmaps/cfg"),
            "get configmaps"
        );
        assert_eq!(
            l("/apis/apps/v1/deployments?limit=500&continue=eyJ2"),
            "list deployments.apps"
        );
        assert_eq!(
            l("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=true"),
            "watch kustomizations.kustomize.toolkit.fluxcd.io"
        );
    }

    #[test]
    fn list_items_get_type_and_secrets_are_sealed() {
        let item = json!({"metadata": {"name": "s"}, "data": {"k": "YWRtaW4="}});
        let mut obj = typed_item(item, "v1", "Secret");
        assert_eq!(obj["kind"], "Secret");
        Sealer::random().seal(&mut obj);
        assert!(!obj.to_string().contains("YWRtaW4="));
        assert!(
            obj["data"]["k"]
                .as_str()
                .unwrap()
                .starts_with(crate::secret::KEYED_PREFIX)
        );
    }
}
