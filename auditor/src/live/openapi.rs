//! The server's OpenAPI v3 documents, for list semantics
//! ([`super::listmap`]): read live, recorded into snapshots, read back.
//!
//! `GET /openapi/v3` lists one document per group version, each under a
//! `serverRelativeURL` carrying a content hash
//! (`/openapi/v3/apis/apps/v1?hash=…`, served with immutable caching); one
//! request per group version the audit compares objects of follows, once per
//! run (kubernetes/kube-openapi `pkg/handler3`, KEP-2896). The documents
//! carry the server's own `x-kubernetes-list-type` and list map keys for
//! built-in kinds and, for custom resources, their CRDs' schemas: so a
//! cluster newer than the built-in table, or a CRD the repository does not
//! carry, is still compared by the server's rules.
//!
//! Anything missing (a server before 1.27 without `/openapi/v3`, a group
//! version absent from the index, a document that fails) leaves those kinds
//! to the built-in table and CRDs; it is logged, never an audit error.
//!
//! In a snapshot the documents are `discovery/openapi_v3.json` (the index)
//! and `discovery/openapi_v3_<api path with _>.json`, named like the other
//! discovery documents so the replay server serves them at their paths.

use super::cluster::ApiReader;
use super::discovery::{ApiType, group_version_path};
use super::listmap::{ListSemantics, SchemaGraph};
use futures::{StreamExt, stream};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// The index of the server's OpenAPI v3 documents.
pub(crate) const INDEX_PATH: &str = "/openapi/v3";

/// OpenAPI v3 documents read, and their raw bodies for recording.
#[derive(Default)]
pub(crate) struct OpenApiRead {
    /// One graph per document read, in group-version order.
    pub(crate) semantics: ListSemantics,
    /// `(api path, body)` of the index and every document read.
    pub(crate) documents: Vec<(String, String)>,
    /// Documents read (the index not counted).
    pub(crate) read: u64,
}

/// The group versions of `types`, sorted, each once.
pub(crate) fn group_versions<'a>(
    types: impl Iterator<Item = &'a ApiType>,
) -> Vec<(String, String)> {
    types
        .map(|t| (t.group.clone(), t.version.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Fetch the index, then the documents of `group_versions`, `concurrency`
/// at a time. Failures are logged and leave the semantics out.
pub(crate) async fn fetch_openapi(
    reader: &ApiReader,
    group_versions: &[(String, String)],
    concurrency: usize,
) -> OpenApiRead {
    let mut out = OpenApiRead::default();
    if group_versions.is_empty() {
        return out;
    }
    let index = match reader.get_text(INDEX_PATH).await {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "no OpenAPI v3 index: list semantics come from the built-in table and CRDs");
            return out;
        }
    };
    let urls: Vec<(String, String)> = match serde_json::from_str::<Value>(&index) {
        Ok(doc) => group_versions
            .iter()
            .filter_map(|(g, v)| {
                let path = group_version_path(g, v);
                let url = document_url(&doc, &path)?;
                Some((path, url))
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "unreadable OpenAPI v3 index");
            return out;
        }
    };
    out.documents.push((INDEX_PATH.to_owned(), index));
    let requests: Vec<_> = urls.iter().map(|(_, url)| reader.get_text(url)).collect();
    let bodies: Vec<_> = stream::iter(requests)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for ((path, _), body) in urls.iter().zip(bodies) {
        match body {
            Ok(body) => {
                out.read += 1;
                add_document(&mut out.semantics, path, &body);
                out.documents.push((format!("{INDEX_PATH}{path}"), body));
            }
            Err(error) => tracing::warn!(%path, %error, "OpenAPI v3 document unavailable"),
        }
    }
    out
}

/// The `serverRelativeURL` the index gives the group version at `api_path`
/// (`/apis/apps/v1` → key `apis/apps/v1`); only a path under
/// `/openapi/v3/` is followed.
fn document_url(index: &Value, api_path: &str) -> Option<String> {
    let key = api_path.trim_start_matches('/');
    let url = index
        .get("paths")?
        .get(key)?
        .get("serverRelativeURL")?
        .as_str()?;
    url.starts_with("/openapi/v3/").then(|| url.to_owned())
}

fn add_document(semantics: &mut ListSemantics, path: &str, body: &str) {
    match serde_json::from_str::<Value>(body) {
        Ok(doc) => semantics.push(Arc::new(SchemaGraph::from_openapi_v3(&doc))),
        Err(error) => tracing::warn!(%path, %error, "unreadable OpenAPI v3 document"),
    }
}

/// File name of a recorded document in `discovery/`, from its group
/// version's API path (`/apis/apps/v1` → `openapi_v3_apis_apps_v1.json`).
pub(crate) fn snapshot_file_name(api_path: &str) -> String {
    format!(
        "openapi_v3_{}.json",
        api_path.trim_start_matches('/').replace('/', "_")
    )
}

/// Whether a `discovery/` file is a recorded OpenAPI document (the index
/// included): read only when an audit needs its group version.
pub(crate) fn is_openapi_file(name: &str) -> bool {
    name.starts_with("openapi_v3")
}

/// The recorded documents of `group_versions` in a snapshot's `discovery/`
/// folder (those present), as list semantics; how many were read.
pub(crate) fn load_recorded(
    discovery_dir: &Path,
    group_versions: &[(String, String)],
) -> (ListSemantics, u64) {
    let mut semantics = ListSemantics::default();
    let mut read = 0;
    for (g, v) in group_versions {
        let path = group_version_path(g, v);
        let file = discovery_dir.join(snapshot_file_name(&path));
        // A snapshot that did not record it: the built-in table and CRDs
        // answer instead.
        let Ok(body) = std::fs::read_to_string(&file) else {
            continue;
        };
        read += 1;
        add_document(&mut semantics, &path, &body);
    }
    (semantics, read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_urls_are_followed_only_under_openapi_v3() {
        let index = json!({"paths": {
            "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=ABC"},
            "api/v1": {"serverRelativeURL": "https://elsewhere.example/api/v1"}}});
        assert_eq!(
            document_url(&index, "/apis/apps/v1").as_deref(),
            Some("/openapi/v3/apis/apps/v1?hash=ABC")
        );
        assert_eq!(document_url(&index, "/api/v1"), None);
        assert_eq!(document_url(&index, "/apis/batch/v1"), None);
    }

    #[test]
    fn recorded_names_match_the_discovery_naming() {
        assert_eq!(
            snapshot_file_name("/apis/apps/v1"),
            "openapi_v3_apis_apps_v1.json"
        );
        assert_eq!(snapshot_file_name("/api/v1"), "openapi_v3_api_v1.json");
        assert!(is_openapi_file("openapi_v3.json"));
        assert!(!is_openapi_file("apis_apps_v1.json"));
    }
}
