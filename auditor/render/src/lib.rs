//! flotilla-render: what a Flux repository says a cluster should run
//! (repository -> [`Desired`], the model of `flotilla-core`).
//!
//! Walks the Flux `Kustomization` objects reachable from a cluster's entry
//! path the way kustomize-controller would, builds each with kustomize (a
//! process), applies `postBuild` substitution, and tags every object with the
//! Kustomization that owns it.
//!
//! - [`flux`]: the walk (which Kustomizations, in which order, who owns what).
//! - [`stage`]: the private copy of the repository kustomize reads (no
//!   symbolic links, as in Flux's artifact); nothing is written in the repository.
//! - [`confine`]: what a build may read, checked before kustomize runs.
//! - [`kustomize`]: the kustomize process (cleared environment) and Flux's
//!   kustomization generator.
//! - [`failure`]: kustomize's errors without the file content they quote.
//! - [`substitute`]: Flux's envsubst rules for `postBuild`.
//! - [`cache`]: stages and builds shared across clusters and cycles, keyed
//!   by commit, and the slots kustomize processes run in.
//!
//! What Flux does on apply and is reproduced here: `commonMetadata`, the
//! owner labels `kustomize.toolkit.fluxcd.io/name` and `…/namespace`, and
//! Secret `stringData` folded into `data` (then sealed with
//! [`RenderOptions::sealer`], see [`flotilla_core::secret`]), and `status` written in Git dropped
//! (except on CRDs). Server defaults (port `protocol: TCP`, …)
//! are left to the diff engine, and opt-outs (`reconcile: disabled`,
//! `ssa: IfNotPresent|Ignore`) stay on the objects for it to decide.

pub mod cache;
pub mod confine;
pub mod error;
pub mod failure;
pub mod flux;
pub mod kustomize;
pub mod sops;
pub mod sources;
pub mod stage;
pub mod substitute;
pub mod taint;

pub use cache::{CacheKey, RenderCache};
pub use error::{Error, Result};
pub use flotilla_core::desired::{
    Desired, DesiredObject, KustomizationError, KustomizationLabel, KustomizationRef, NotRendered,
    NotRenderedReason, RemoteCluster,
};
pub use kustomize::Kustomizer;
pub use sources::{SourceMapping, SourceMappingError};

use std::fmt;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

/// What `substituteFrom` finds in the cluster, as Flux reads it at reconcile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLookup {
    /// The object's `data`, with each value's origin (ConfigMaps plain,
    /// Secrets secret).
    Found(substitute::Vars),
    /// The object does not exist in the cluster.
    NotFound,
    /// flotilla may not (or cannot) read it: its variables are unknown.
    Unreadable(String),
}

/// Where `substituteFrom` objects are looked up before the desired objects:
/// the live cluster or a snapshot. Called from the render's thread.
pub trait ClusterObjects: Send + Sync {
    /// The ConfigMap or Secret `namespace/name`.
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> ClusterLookup;
}

/// A shared [`ClusterObjects`], so [`RenderOptions`] stays `Clone` and `Debug`.
#[derive(Clone)]
pub struct ClusterObjectsRef(pub Arc<dyn ClusterObjects>);

impl fmt::Debug for ClusterObjectsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterObjects")
    }
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Flux-style revision of the checked-out tree (`main@sha1:<hex>`), copied
    /// into [`Desired::revision`]; its commit keys the cache. Without it the
    /// folder is staged once per cache and its builds are reused only by
    /// renders sharing that cache (one run).
    pub revision: Option<String>,
    /// Stages and builds shared between renders (and threads), and the
    /// limit on kustomize processes; a private one when `None`.
    pub cache: Option<Arc<RenderCache>>,
    /// How kustomize runs (default: `kustomize build`, else `kubectl kustomize`).
    pub kustomizer: Kustomizer,
    /// kustomize processes at once when `cache` is `None` (a given cache has
    /// its own limit); default: the available cores.
    pub parallelism: Option<NonZeroUsize>,
    /// Let kustomize fetch remote bases (URLs and remote specs in
    /// `resources`/`components`). Off by default: such a Kustomization is
    /// not rendered and [`Desired::errors`] says so in one line.
    pub allow_remote_bases: bool,
    /// Fail a Kustomization whose output uses a variable without a value, as
    /// kustomize-controller does with `--feature-gates=StrictPostBuildSubstitutions=true`.
    /// Off by default, as in Flux: such variables become empty strings and
    /// are listed in [`Desired::unresolved`].
    pub strict_substitution: bool,
    /// Seals Secret values as they are rendered; the live side of the
    /// comparison must use the same one (default: a fresh random key).
    pub sealer: flotilla_core::secret::Sealer,
    /// Remote URLs of the audited repository (its `origin`, or the URL it
    /// was cloned from): any Flux source with one of these URLs is this
    /// repository, whatever its name.
    pub repo_urls: Vec<String>,
    /// Further sources mapped to local folders (`--source`).
    pub sources: Vec<SourceMapping>,
    /// Where `substituteFrom` reads the cluster's ConfigMaps and Secrets
    /// (live audits, snapshots); `None`: only the desired objects.
    pub cluster: Option<ClusterObjectsRef>,
    /// SOPS keys for `spec.decryption` (age identities); `None`: encrypted
    /// values are not compared.
    pub sops_keys: Option<Arc<sops::Keyring>>,
}

/// Render what the repository at `repo_root` declares for the cluster whose
/// Flux entry path is `entry` (repository-relative, e.g.
/// `clusters/aks-eastus2-01`), following every Flux Kustomization reachable
/// from it as kustomize-controller would.
///
/// The repository is only read: it is staged once per commit in `opts.cache`
/// (see [`stage`]) and kustomize runs on the stage, confined ([`confine`]).
///
/// Returns `Err` only when the entry path itself cannot be built (or the
/// repository cannot be staged). A Kustomization that fails below it is
/// recorded in [`Desired::errors`] and the others still render.
pub fn render(repo_root: &Path, entry: &str, opts: &RenderOptions) -> Result<Desired> {
    let cache = match (&opts.cache, opts.parallelism) {
        (Some(cache), _) => Arc::clone(cache),
        (None, Some(n)) => Arc::new(RenderCache::with_parallelism(n)),
        (None, None) => Arc::new(RenderCache::new()),
    };
    let commit = opts.revision.as_deref().and_then(commit_of);
    let (stage, tree) = cache.stage(repo_root, commit)?;
    let walk = flux::Walk::new(stage, tree, opts, cache);
    let mut desired = walk.run(entry)?;
    desired.revision = opts.revision.clone();
    Ok(desired)
}

/// The commit hex of a Flux revision (`main@sha1:<hex>`, `sha1:<hex>`).
pub fn commit_of(revision: &str) -> Option<&str> {
    let (_, hex) = revision.rsplit_once("sha1:")?;
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}
