//! Live state: what a cluster runs, read-only.
//!
//! Two sources give the same [`Live`]: the API server (discovery, then one
//! paged LIST per resource type, see [`read_cluster`]) and a recorded snapshot
//! (`kubectl get -A -o json` List files, see [`load_snapshot`]). Both
//! implement [`LiveSource`], so the same diff runs on either. Secrets are
//! sealed on read with the [`flotilla_core::secret::Sealer`] the caller gives (the
//! one desired state is sealed with); [`record_snapshot`] writes snapshots.

mod cluster;
pub mod discovery;
mod error;
mod openapi;
mod record;
mod slim;
mod snapshot;
mod source;
mod watch;

pub use cluster::{ReadOptions, client_for, read_cluster, read_cluster_with};
pub use discovery::{ApiType, Discovery};
pub use error::{Error, KubeError, Result};
pub use flotilla_core::live::{ListSemantics, ListType, Live, SchemaGraph, listmap};
pub use record::{RecordOptions, RecordSummary, record_snapshot};
pub use snapshot::{
    MANIFEST_FILE, MANIFEST_VERSION, SecretValues, SnapshotManifest, load_snapshot,
    load_snapshot_scoped, load_snapshot_streamed, load_snapshot_with, read_manifest,
    snapshot_sealer,
};
pub use source::{ClusterSource, FLUX_GROUPS, LiveSource, NOISE_KINDS, Scope, SnapshotSource};
pub use watch::watched_resources;
