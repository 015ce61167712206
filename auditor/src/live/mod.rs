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
mod openapi;
mod record;
mod slim;
mod snapshot;
mod source;

pub use cluster::{ReadOptions, client_for, read_cluster, read_cluster_with};
pub use cluster_objects::{LiveObjects, SnapshotObjects};
pub use discovery::{ApiType, Discovery};
pub use error::{Error, Result};
pub use listmap::{ListSemantics, ListType, SchemaGraph};
pub use record::{RecordOptions, RecordSummary, record_snapshot};
pub use snapshot::{
    MANIFEST_FILE, MANIFEST_VERSION, SecretValues, SnapshotManifest, load_snapshot,
    load_snapshot_scoped, load_snapshot_streamed, load_snapshot_with, read_manifest,
    snapshot_sealer,
};
pub use source::{ClusterSource, FLUX_GROUPS, LiveSource, NOISE_KINDS, Scope, SnapshotSource};

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Everything read from one cluster.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Live objects (Secrets sealed), each with `apiVersion` and `kind` set,
    /// `managedFields` kept (blame needs them).
    pub objects: Vec<Value>,
    /// List semantics the server published for the kinds read (its
    /// OpenAPI v3 documents, see [`listmap`]); empty when it published none
    /// (the diff then uses the built-in table and CRDs).
    pub semantics: ListSemantics,
    /// Whether each `(group, kind)` discovery describes is namespaced: a
    /// desired object's identity follows it, whatever its file says.
    pub namespaced: BTreeMap<(String, String), bool>,
    /// OpenAPI v3 documents read (one per group version with desired kinds).
    pub openapi_documents: u64,
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
