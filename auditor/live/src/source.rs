//! What to read ([`Scope`]) and where from ([`LiveSource`]): the API server
//! or a recorded snapshot, so the same diff runs on both.

use super::cluster::{ReadOptions, read_cluster_with};
use super::snapshot::load_snapshot_with;
use super::{Error, Live};
use flotilla_core::secret::Sealer;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;

/// API groups whose kinds are always read: Flux's own objects are where
/// suspension and failed reconciliations show, whether or not Git names them.
pub const FLUX_GROUPS: [&str; 3] = [
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
];

/// Kinds skipped unless desired state names them: Events are never a finding,
/// are the most numerous objects of a busy cluster and change every second.
///
/// Controller-made kinds (Pods, ReplicaSets, EndpointSlices, Endpoints,
/// ControllerRevisions, Leases) are deliberately *not* skipped: a bare Pod
/// started with `kubectl run` or a hand-written EndpointSlice in a governed
/// namespace is real drift, and the diff engine already discards objects with
/// `ownerReferences` or only control-plane managers. Operators of very large
/// clusters can trade that for fewer bytes with [`Scope::skipping`].
///
/// `metrics.k8s.io` kinds are usage samples computed by metrics-server, not
/// stored objects: never drift, and unavailable whenever metrics-server is.
pub const NOISE_KINDS: [(&str, &str); 4] = [
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("metrics.k8s.io", "PodMetrics"),
    ("metrics.k8s.io", "NodeMetrics"),
];

/// Which resource types to read, by `(group, kind)`; versions come from the
/// server's discovery (its preferred version of the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    kinds: BTreeSet<(String, String)>,
    flux: bool,
    every_namespaced: bool,
    everything: bool,
    skipped: BTreeSet<(String, String)>,
}

impl Scope {
    /// What an audit needs: the kinds desired state uses, all Flux kinds, and,
    /// with `governed_namespaces`, every namespaced listable kind, so objects
    /// nobody declared can be found in namespaces Git governs.
    pub fn for_audit<G, K>(
        desired_types: impl IntoIterator<Item = (G, K)>,
        governed_namespaces: bool,
    ) -> Scope
    where
        G: Into<String>,
        K: Into<String>,
    {
        Scope {
            kinds: collect_kinds(desired_types),
            flux: true,
            every_namespaced: governed_namespaces,
            everything: false,
            skipped: noise_kinds(),
        }
    }

    /// Every listable kind, cluster-scoped too, except [`NOISE_KINDS`]: what
    /// `flotilla snapshot` records.
    pub fn everything() -> Scope {
        Scope {
            kinds: BTreeSet::new(),
            flux: false,
            every_namespaced: false,
            everything: true,
            skipped: noise_kinds(),
        }
    }

    /// Exactly these kinds and nothing else (no Flux kinds): for tools and
    /// tests that need one type.
    pub fn only<G, K>(types: impl IntoIterator<Item = (G, K)>) -> Scope
    where
        G: Into<String>,
        K: Into<String>,
    {
        Scope {
            kinds: collect_kinds(types),
            flux: false,
            every_namespaced: false,
            everything: false,
            skipped: BTreeSet::new(),
        }
    }

    /// Also skip `(group, kind)` unless desired state names it.
    pub fn skipping(mut self, group: impl Into<String>, kind: impl Into<String>) -> Scope {
        self.skipped.insert((group.into(), kind.into()));
        self
    }

    /// Whether objects of `(group, kind)` are read.
    pub fn admits(&self, group: &str, kind: &str, namespaced: bool) -> bool {
        let key = (group.to_owned(), kind.to_owned());
        if self.kinds.contains(&key) {
            return true;
        }
        if self.skipped.contains(&key) {
            return false;
        }
        self.everything
            || (self.flux && FLUX_GROUPS.contains(&group))
            || (self.every_namespaced && namespaced)
    }

    /// Whether the discovery document of `group` must be fetched; fewer
    /// groups means fewer requests when the scope is narrow.
    pub fn needs_group(&self, group: &str) -> bool {
        self.everything
            || self.every_namespaced
            || (self.flux && FLUX_GROUPS.contains(&group))
            || self.kinds.iter().any(|(g, _)| g == group)
    }

    /// Whether the audit cannot do without `group`: it holds a named kind or
    /// Flux's. Discovery of other groups may fail (an aggregated API server
    /// down) at the cost of a note, as `kubectl api-resources` does.
    pub fn requires_group(&self, group: &str) -> bool {
        (self.flux && FLUX_GROUPS.contains(&group)) || self.kinds.iter().any(|(g, _)| g == group)
    }

    /// Whether `(group, kind)` is named explicitly (desired state uses it).
    pub fn names(&self, group: &str, kind: &str) -> bool {
        self.kinds.contains(&(group.to_owned(), kind.to_owned()))
    }

    /// Whether owned objects of `(group, kind)` may be cut down on read (see
    /// `live::slim`): in an audit, for kinds Git does not declare and that
    /// are not Flux's; never in a full read such as a recording.
    pub(crate) fn slims_owned(&self, group: &str, kind: &str) -> bool {
        !self.everything && !self.names(group, kind) && !FLUX_GROUPS.contains(&group)
    }

    /// The `(group, kind)` pairs named explicitly.
    pub fn named_kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.kinds.iter().map(|(g, k)| (g.as_str(), k.as_str()))
    }
}

fn collect_kinds<G: Into<String>, K: Into<String>>(
    types: impl IntoIterator<Item = (G, K)>,
) -> BTreeSet<(String, String)> {
    types
        .into_iter()
        .map(|(g, k)| (g.into(), k.into()))
        .collect()
}

fn noise_kinds() -> BTreeSet<(String, String)> {
    NOISE_KINDS
        .iter()
        .map(|(g, k)| ((*g).to_owned(), (*k).to_owned()))
        .collect()
}

/// Somewhere live state can be read from. Implemented by the API server
/// ([`ClusterSource`]) and recorded snapshots ([`SnapshotSource`]).
pub trait LiveSource {
    /// Read the objects of the kinds `scope` admits.
    fn read(&self, scope: &Scope) -> impl Future<Output = Result<Live, Error>> + Send;
}

/// A live API server, read with discovery and one paged LIST per type.
#[derive(Clone)]
pub struct ClusterSource {
    /// Client for the cluster (see [`super::client_for`]).
    pub client: kube::Client,
    /// Page size and concurrency.
    pub options: ReadOptions,
    /// Seals Secrets as they arrive: the sealer desired state is sealed with.
    pub sealer: Sealer,
}

impl ClusterSource {
    /// A source with default [`ReadOptions`], sealing with `sealer`.
    pub fn new(client: kube::Client, sealer: Sealer) -> ClusterSource {
        ClusterSource {
            client,
            options: ReadOptions::default(),
            sealer,
        }
    }
}

impl LiveSource for ClusterSource {
    fn read(&self, scope: &Scope) -> impl Future<Output = Result<Live, Error>> + Send {
        let (client, scope, options, sealer) = (
            self.client.clone(),
            scope.clone(),
            self.options.clone(),
            self.sealer.clone(),
        );
        async move { read_cluster_with(client, &scope, &options, &sealer).await }
    }
}

/// A recorded snapshot directory (see [`super::load_snapshot`]).
#[derive(Debug, Clone)]
pub struct SnapshotSource {
    /// Directory holding `kind: List` JSON files (and optionally `discovery/`).
    pub dir: PathBuf,
    /// Seals Secrets holding plain values; must be the snapshot's own when
    /// it has one (see [`super::snapshot_sealer`]).
    pub sealer: Sealer,
}

impl LiveSource for SnapshotSource {
    fn read(&self, scope: &Scope) -> impl Future<Output = Result<Live, Error>> + Send {
        let (dir, scope, sealer) = (self.dir.clone(), scope.clone(), self.sealer.clone());
        async move { load_snapshot_with(&dir, Some(&scope), &sealer) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_scope_reads_desired_flux_and_namespaced_but_not_events() {
        let scope = Scope::for_audit([("", "Namespace"), ("", "Event")], true);
        assert!(scope.admits("", "Namespace", false));
        assert!(
            scope.admits("", "Event", true),
            "desired kinds win over noise"
        );
        assert!(!scope.admits("events.k8s.io", "Event", true));
        assert!(scope.admits("kustomize.toolkit.fluxcd.io", "Kustomization", true));
        assert!(scope.admits("apps", "ReplicaSet", true));
        assert!(!scope.admits("rbac.authorization.k8s.io", "ClusterRole", false));
    }

    #[test]
    fn narrow_audit_scope_needs_few_groups() {
        let scope = Scope::for_audit([("apps", "Deployment")], false);
        assert!(scope.needs_group("apps"));
        assert!(scope.needs_group("helm.toolkit.fluxcd.io"));
        assert!(!scope.needs_group("batch"));
        assert!(!scope.admits("", "ConfigMap", true));
    }
}
