//! Live state: what a cluster runs, read-only.
//!
//! Two sources give the same [`Live`]: the API server (discovery, then one
//! paged LIST per resource type, see [`read_cluster`]) and a recorded snapshot
//! (`kubectl get -A -o json` List files, see [`load_snapshot`]). Both
//! implement [`LiveSource`], so the same diff runs on either. Secrets are
//! sealed on read with the [`crate::secret::Sealer`] the caller gives (the
//! one desired state is sealed with); [`record_snapshot`] writes snapshots.

mod cluster;
mod cluster_objects;
pub mod discovery;
mod error;
pub mod listmap;
mod record;
mod slim;
mod snapshot;
mod source;

pub use cluster::{ReadOptions, client_for, read_cluster, read_cluster_with};
pub use cluster_objects::{LiveObjects, SnapshotObjects};
pub use discovery::{ApiType, Discovery};
pub use error::{Error, Result};
pub use record::{RecordOptions, RecordSummary, record_snapshot};
pub use snapshot::{
    MANIFEST_FILE, MANIFEST_VERSION, SecretValues, SnapshotManifest, load_snapshot,
    load_snapshot_scoped, load_snapshot_streamed, load_snapshot_with, read_manifest,
    snapshot_sealer,
};
pub use source::{ClusterSource, FLUX_GROUPS, LiveSource, NOISE_KINDS, Scope, SnapshotSource};

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Merge keys of lists of objects, by JSON path pattern.
///
/// Key: a dotted path with `[]` for list items, from the object root, e.g.
/// `spec.template.spec.containers` → `["name"]`,
/// `spec.template.spec.containers[].env` → `["name"]`. Filled from the
/// built-in table in [`listmap`] (see [`listmap::builtin`]); entries under
/// `("*", "*")` apply to every kind. Look up with [`SchemaHints::keys_for`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaHints {
    /// `(group, kind)` → list path → merge keys.
    pub list_map_keys: BTreeMap<(String, String), BTreeMap<String, Vec<String>>>,
}

/// Everything read from one cluster.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Live objects (Secrets sealed), each with `apiVersion` and `kind` set,
    /// `managedFields` kept (blame needs them).
    pub objects: Vec<Value>,
    /// List merge keys.
    pub hints: SchemaHints,
    /// HTTP requests made to read this, discovery included (0 for snapshots).
    /// A LIST cut into N pages counts N.
    pub requests: u64,
    /// The same requests by `(verb, resource)`: `("get", "discovery")`,
    /// `("list", "deployments.apps")`, … (empty for snapshots).
    pub request_counts: BTreeMap<(String, String), u64>,
    /// Logical LISTs: one per resource type read (for snapshots, List files).
    pub lists: u64,
    /// `(group, kind)` of every type read, even when no object exists: a
    /// desired object of a kind not read cannot be called missing.
    pub listed: BTreeSet<(String, String)>,
    /// `(group, kind)` the scope named that the server does not serve (CRD
    /// not installed): every desired object of such a kind is missing.
    pub unserved: Vec<(String, String)>,
    /// Group versions (API paths) whose discovery failed or was stale and
    /// that the scope did not require (e.g. `/apis/metrics.k8s.io/v1beta1`
    /// with metrics-server down): their kinds were not read, so objects of
    /// those kinds in governed namespaces were not checked.
    pub unavailable: Vec<String>,
    /// Secret values read without content (a snapshot recorded with
    /// `--secret-values omit`): their Secrets' keys are compared, these
    /// values are not.
    pub secret_values_not_compared: usize,
    /// Limits of what was read that are not errors (e.g. a snapshot whose
    /// digests are unsalted), for the report's notes.
    pub notes: Vec<String>,
}
