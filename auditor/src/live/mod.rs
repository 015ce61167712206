//! Live state: what a cluster runs, read-only.
//!
//! Two sources give the same [`Live`]: the API server (discovery, then one
//! paged LIST per resource type) and a recorded snapshot (`kubectl get -A -o
//! json` List files). Secrets are sealed on read.

use serde_json::Value;
use std::collections::BTreeMap;

/// Merge keys of lists of objects, by JSON path pattern.
///
/// Key: a dotted path with `[]` for list items, from the object root, e.g.
/// `spec.template.spec.containers` → `["name"]`. Filled from the API server's
/// OpenAPI `x-kubernetes-list-map-keys` where available, with a built-in
/// table as fallback.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaHints {
    /// `(group, kind)` → list path → merge keys.
    pub list_map_keys: BTreeMap<(String, String), BTreeMap<String, Vec<String>>>,
}

/// Everything read from one cluster.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Live objects (Secrets sealed), each with `apiVersion` and `kind` set.
    pub objects: Vec<Value>,
    /// List merge keys learnt from the server, if any.
    pub hints: SchemaHints,
    /// API requests made to read this (0 for snapshots).
    pub requests: u64,
}
