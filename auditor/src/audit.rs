//! One audit, end to end: render what Git declares, read what the cluster
//! runs, diff, and package the result as a [`ClusterReport`].
//!
//! This is the only place the three halves meet, so the CLI, the service and
//! the preview bot all audit the same way. A failing cluster never fails the
//! run: its error lands in [`ClusterReport::errors`] and the others go on.
//!
//! Both halves seal Secrets with one [`Sealer`] per target, picked by
//! [`sealer_for`]: a flotilla snapshot's own key when the live side is one
//! (its digests were made with it), else the run's random key.
//!
//! Each step is timed and counted for `--stats` ([`audit_all_with_stats`]);
//! the plain entry points drop those figures.

use crate::progress::{Progress, Silent};
use flotilla_core::diff::{self, DiffOptions, IgnoreError, IgnoreRules};
use flotilla_core::findings::{
    ClusterReport, NotCompared, NotRendered, REPORT_VERSION, Report, error_chain,
};
use flotilla_core::object::group_of;
use flotilla_core::object::meta_str;
use flotilla_core::secret::{Sealer, is_secret, is_unknown};
use flotilla_core::stats::{ClusterStats, RunStats, ms, parse_vm_hwm};
use flotilla_live::{self as live, ClusterSource, Live, LiveSource, Scope, SnapshotSource};
use flotilla_render::flux::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use flotilla_render::{
    self as desired, ClusterObjectsRef, Desired, RemoteCluster, RenderCache, RenderOptions,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Where a cluster's live state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveTarget {
    /// A recorded snapshot directory.
    Snapshot(PathBuf),
    /// An API server, by kubeconfig context (`None`: current context, or
    /// in-cluster config when running in a Pod).
    Cluster {
        /// kubeconfig context.
        context: Option<String>,
        /// kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
        kubeconfig: Option<PathBuf>,
    },
}

/// One cluster to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedCluster {
    /// Cluster name, as reported.
    pub name: String,
    /// Repository-relative Flux entry path, e.g. `clusters/aks-eastus2-01`.
    pub entry: String,
    /// Live state source.
    pub live: LiveTarget,
    /// For a cluster another cluster's Flux applies to (hub and spoke,
    /// `spec.kubeConfig`): where its desired state is rendered. `None`:
    /// from its own entry path.
    pub hub: Option<Hub>,
}

/// A hub cluster whose Flux Kustomizations apply to this cluster through
/// `spec.kubeConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    /// The hub's Flux entry path, e.g. `clusters/hub`.
    pub entry: String,
    /// The kubeconfig Secret (or ConfigMap) the hub's Kustomizations name for
    /// this cluster.
    pub kube_config: RemoteCluster,
}

impl AuditedCluster {
    /// The conventional entry path of a cluster: `clusters/<name>`.
    pub fn default_entry(name: &str) -> String {
        format!("clusters/{name}")
    }
}

/// A checked-out repository at a known revision.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// Root of the working tree.
    pub root: PathBuf,
    /// Flux-style revision (`main@sha1:<hex>`), if known.
    pub revision: Option<String>,
}

/// Audit several clusters concurrently against one checkout.
///
/// Every cluster renders through one [`RenderCache`] (`render.cache`, or one
/// made for this run): the repository is staged once, a path shared by
/// several clusters is built once, and the kustomize processes of all
/// clusters share the cores.
pub async fn audit_all(
    checkout: &Checkout,
    targets: &[AuditedCluster],
    render: &RenderOptions,
    diff_opts: &DiffOptions,
) -> Report {
    audit_all_with_stats(checkout, targets, render, diff_opts)
        .await
        .0
}

/// [`audit_all`], with what it cost: times, requests, objects, the builds
/// and cache hits of this run (counted on the render cache from its start)
/// and the process's peak memory.
pub async fn audit_all_with_stats(
    checkout: &Checkout,
    targets: &[AuditedCluster],
    render: &RenderOptions,
    diff_opts: &DiffOptions,
) -> (Report, RunStats) {
    audit_all_with(checkout, targets, render, diff_opts, &Silent).await
}

/// [`audit_all_with_stats`], telling `progress` as each cluster ends.
pub async fn audit_all_with(
    checkout: &Checkout,
    targets: &[AuditedCluster],
    render: &RenderOptions,
    diff_opts: &DiffOptions,
    progress: &dyn Progress,
) -> (Report, RunStats) {
    let start = Instant::now();
    let mut render = render.clone();
    let cache = render
        .cache
        .get_or_insert_with(|| Arc::new(RenderCache::new()))
        .clone();
    let (builds, hits) = (cache.builds(), cache.hits());
    let render = &render;
    progress.start(targets.len());
    let runs = targets.iter().map(|t| async move {
        let (report, stats) = audit_target_with_stats(checkout, t, render, diff_opts).await;
        progress.finished(&t.name, !report.errors.is_empty());
        (report, stats)
    });
    let (clusters, stats): (Vec<ClusterReport>, Vec<ClusterStats>) =
        futures::future::join_all(runs).await.into_iter().unzip();
    let stats = RunStats {
        wall_ms: ms(start.elapsed()),
        kustomize_builds: cache.builds() - builds,
        kustomize_cache_hits: cache.hits() - hits,
        peak_memory_bytes: peak_memory_bytes(),
        clusters: stats,
    };
    let report = Report {
        version: REPORT_VERSION,
        clusters,
    };
    (report, stats)
}

/// Audit one cluster; errors are reported in the result, never returned.
pub async fn audit_target(
    checkout: &Checkout,
    target: &AuditedCluster,
    render: &RenderOptions,
    diff_opts: &DiffOptions,
) -> ClusterReport {
    audit_target_with_stats(checkout, target, render, diff_opts)
        .await
        .0
}

/// [`audit_target`], with the time of each step, the requests and the
/// object counts (steps not reached have no time).
///
/// The audit runs in the span `audit{cluster}`, attached to its future
/// (`Instrument`), not entered across its awaits: the clusters of one run
/// are polled on one task, and a span held entered across an await would
/// wrap the other clusters' events too.
pub async fn audit_target_with_stats(
    checkout: &Checkout,
    target: &AuditedCluster,
    render: &RenderOptions,
    diff_opts: &DiffOptions,
) -> (ClusterReport, ClusterStats) {
    let span = tracing::info_span!("audit", cluster = %target.name);
    audit_target_in_span(checkout, target, render, diff_opts)
        .instrument(span)
        .await
}

async fn audit_target_in_span(
    checkout: &Checkout,
    target: &AuditedCluster,
    render: &RenderOptions,
    diff_opts: &DiffOptions,
) -> (ClusterReport, ClusterStats) {
    let mut stats = ClusterStats {
        cluster: target.name.clone(),
        ..ClusterStats::default()
    };
    let sealer = match sealer_for(&target.live, &render.sealer) {
        Ok(s) => s,
        Err(e) => {
            return (
                failed(
                    target,
                    checkout,
                    format!("read live state: {}", error_chain(&e)),
                ),
                stats,
            );
        }
    };
    // `substituteFrom` reads the cluster first, as Flux does at reconcile
    // time: the live cluster, or the snapshot. A hub's Kustomizations read
    // the hub's cluster, which this target does not reach.
    let client = match (&target.live, &target.hub) {
        (
            LiveTarget::Cluster {
                context,
                kubeconfig,
            },
            _,
        ) => match live::client_for(context.as_deref(), kubeconfig.as_deref()).await {
            Ok(client) => Some(client),
            Err(e) => {
                let error = format!("read live state: {}", error_chain(&e));
                return (failed(target, checkout, error), stats);
            }
        },
        _ => None,
    };
    let cluster_objects = match (&target.hub, &target.live, &client) {
        (Some(_), _, _) => None,
        (None, _, Some(client)) => Some(ClusterObjectsRef(Arc::new(
            crate::cluster_objects::LiveObjects::new(
                client.clone(),
                tokio::runtime::Handle::current(),
            ),
        ))),
        (None, LiveTarget::Snapshot(dir), None) => Some(ClusterObjectsRef(Arc::new(
            crate::cluster_objects::SnapshotObjects::new(dir.clone(), sealer.clone()),
        ))),
        _ => None,
    };
    let render = RenderOptions {
        sealer: sealer.clone(),
        cluster: cluster_objects.or_else(|| render.cluster.clone()),
        ..render.clone()
    };
    let step = Instant::now();
    let entry = target.hub.as_ref().map_or(&target.entry, |h| &h.entry);
    let desired = match render_desired(checkout, entry, &render).await {
        Ok(d) => d,
        Err(e) => {
            let error = format!("render {entry}: {}", error_chain(&e));
            return (failed(target, checkout, error), stats);
        }
    };
    let desired = match &target.hub {
        Some(hub) => spoke_of(desired, hub),
        None => desired,
    };
    stats.render_ms = Some(ms(step.elapsed()));
    stats.objects.desired = desired.objects.len() as u64;
    let scope = scope_for(&desired);
    let step = Instant::now();
    let live = match client {
        Some(client) => {
            ClusterSource::new(client, sealer.clone())
                .read(&scope)
                .await
        }
        None => read_live(&target.live, &scope, &sealer).await,
    };
    let live = match live {
        Ok(l) => l,
        Err(e) => {
            return (
                failed(
                    target,
                    checkout,
                    format!("read live state: {}", error_chain(&e)),
                ),
                stats,
            );
        }
    };
    stats.live_read_ms = Some(ms(step.elapsed()));
    stats.set_requests(live.requests, &live.request_counts);
    stats.objects.live = live.objects.len() as u64;
    let step = Instant::now();
    let report = report_for(&target.name, &desired, &live, diff_opts);
    stats.diff_ms = Some(ms(step.elapsed()));
    stats.objects.compared = diff::compared(&desired, &live) as u64;
    (report, stats)
}

/// A spoke's desired state: what the hub's render applies through the
/// spoke's kubeconfig. Notes and errors of the hub's render stay with it,
/// except what concerns the spoke.
fn spoke_of(mut hub: Desired, spoke: &Hub) -> Desired {
    let objects = hub.remote.remove(&spoke.kube_config).unwrap_or_default();
    let mut notes = vec![format!(
        "desired state rendered from the hub's entry ./{} through spec.kubeConfig {}",
        spoke.entry, spoke.kube_config
    )];
    if objects.is_empty() {
        notes.push(format!(
            "no Kustomization of ./{} applies objects through {}",
            spoke.entry, spoke.kube_config
        ));
    }
    let owners: BTreeSet<_> = objects
        .iter()
        .filter_map(|o| o.kustomization.clone())
        .collect();
    Desired {
        revision: hub.revision,
        objects,
        notes,
        errors: hub
            .errors
            .into_iter()
            .filter(|e| {
                e.kustomization
                    .0
                    .as_ref()
                    .is_some_and(|k| owners.contains(k))
            })
            .collect(),
        not_rendered: hub
            .not_rendered
            .into_iter()
            .filter(|n| n.kustomization.as_ref().is_some_and(|k| owners.contains(k)))
            .filter(|n| n.reason != desired::NotRenderedReason::OtherCluster)
            .collect(),
        ..Desired::default()
    }
}

/// Render desired state off the async runtime: kustomize runs as processes.
pub async fn render_desired(
    checkout: &Checkout,
    entry: &str,
    render: &RenderOptions,
) -> Result<Desired, desired::Error> {
    let root = checkout.root.clone();
    let entry = entry.to_owned();
    let mut opts = render.clone();
    opts.revision = checkout.revision.clone();
    // The renderer's events (kustomize runs) belong to the caller's span.
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || {
        span.in_scope(|| desired::render(&root, &entry, &opts))
    })
    .await
    {
        Ok(result) => result,
        // A panic in the renderer is a bug: let it surface as one.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What live state an audit of `desired` needs: the kinds Git uses, Flux's
/// kinds, and — when Git governs a namespace — every namespaced kind, so
/// objects nobody declared can be found there.
pub fn scope_for(desired: &Desired) -> Scope {
    let kinds: BTreeSet<(String, String)> = desired
        .objects
        .iter()
        .filter_map(|d| kind_of(&d.object))
        .collect();
    let governs_namespaces = kinds.contains(&(String::new(), "Namespace".to_owned()));
    Scope::for_audit(kinds, governs_namespaces)
}

fn kind_of(obj: &Value) -> Option<(String, String)> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    Some((group_of(api_version).to_owned(), kind.to_owned()))
}

/// The sealer both halves of an audit of `target` use: a flotilla
/// snapshot's own (keyed with its recorded key, or unsalted for a snapshot
/// recorded before keys), else `run` (the run's random key).
pub fn sealer_for(target: &LiveTarget, run: &Sealer) -> Result<Sealer, live::Error> {
    match target {
        LiveTarget::Snapshot(dir) => Ok(live::snapshot_sealer(dir)?.unwrap_or_else(|| run.clone())),
        LiveTarget::Cluster { .. } => Ok(run.clone()),
    }
}

/// Read live state from a snapshot or an API server, Secrets sealed with
/// `sealer` (the one desired state was sealed with, see [`sealer_for`]).
pub async fn read_live(
    target: &LiveTarget,
    scope: &Scope,
    sealer: &Sealer,
) -> Result<Live, live::Error> {
    match target {
        LiveTarget::Snapshot(dir) => {
            SnapshotSource {
                dir: dir.clone(),
                sealer: sealer.clone(),
            }
            .read(scope)
            .await
        }
        LiveTarget::Cluster {
            context,
            kubeconfig,
        } => {
            let client = live::client_for(context.as_deref(), kubeconfig.as_deref()).await?;
            ClusterSource::new(client, sealer.clone()).read(scope).await
        }
    }
}

/// Diff and package: the pure tail of an audit.
pub fn report_for(
    cluster: &str,
    desired: &Desired,
    live: &Live,
    opts: &DiffOptions,
) -> ClusterReport {
    let mut notes = desired.notes.clone();
    for (group, kind) in &live.unserved {
        notes.push(format!(
            "{kind}{} is not served by the cluster (CRD missing?): its objects are reported missing",
            if group.is_empty() { String::new() } else { format!(".{group}") }
        ));
    }
    for group in &live.unavailable {
        notes.push(format!(
            "API group {group} could not be discovered and was skipped: objects of its kinds are not audited"
        ));
    }
    notes.extend(live.notes.iter().cloned());
    // A snapshot recorded with values omitted: compare which keys each
    // Secret has, not their values.
    let omitted;
    let desired_compared = if live.secret_values_not_compared > 0 {
        notes.push(format!(
            "secret values were not compared: the snapshot records only their key names ({} values); \
             added or removed keys are still found",
            live.secret_values_not_compared
        ));
        omitted = without_secret_values(desired);
        &omitted
    } else {
        desired
    };
    let mut not_compared = not_compared_in(desired);
    not_compared.fields += live.secret_values_not_compared;
    ClusterReport {
        cluster: cluster.to_owned(),
        revision: desired.revision.clone(),
        findings: diff::diff(desired_compared, live, opts),
        errors: desired.errors.iter().map(|e| error_chain(e)).collect(),
        notes,
        not_rendered: not_rendered_in(desired, Some(live)),
        not_compared,
    }
}

/// The report's list of what was not rendered; with live state, how many
/// live objects each such Kustomization applied (its owner labels say so).
pub fn not_rendered_in(desired: &Desired, live: Option<&Live>) -> Vec<NotRendered> {
    desired
        .not_rendered
        .iter()
        .map(|n| NotRendered {
            kustomization: n.kustomization.as_ref().map(ToString::to_string),
            reason: n.reason.as_str().to_owned(),
            detail: n.detail.clone(),
            live_objects: match (live, &n.kustomization) {
                (Some(live), Some(k)) if n.reason != desired::NotRenderedReason::OtherCluster => {
                    Some(
                        live.objects
                            .iter()
                            .filter(|o| {
                                meta_str(o, "labels", OWNER_NAME_LABEL) == Some(k.name.as_str())
                                    && meta_str(o, "labels", OWNER_NAMESPACE_LABEL)
                                        == Some(k.namespace.as_str())
                            })
                            .count(),
                    )
                }
                _ => None,
            },
        })
        .collect()
}

/// How many desired fields hold a value flotilla cannot know.
pub fn not_compared_in(desired: &Desired) -> NotCompared {
    fn count(value: &Value) -> usize {
        match value {
            Value::Object(map) => map.values().map(count).sum(),
            Value::Array(items) => items.iter().map(count).sum(),
            other => usize::from(is_unknown(other)),
        }
    }
    let mut out = NotCompared::default();
    for d in &desired.objects {
        let n = count(&d.object);
        out.fields += n;
        out.objects += usize::from(n > 0);
    }
    out
}

/// `desired` with every Secret value replaced by the marker an omitting
/// snapshot holds, so only key names differ.
fn without_secret_values(desired: &Desired) -> Desired {
    let omit = Sealer::omitting();
    let mut copy = desired.clone();
    for d in copy.objects.iter_mut().filter(|d| is_secret(&d.object)) {
        omit.seal(&mut d.object);
    }
    copy
}

fn failed(target: &AuditedCluster, checkout: &Checkout, error: String) -> ClusterReport {
    tracing::warn!(cluster = %target.name, %error, "audit failed");
    ClusterReport {
        cluster: target.name.clone(),
        revision: checkout.revision.clone(),
        errors: vec![error],
        ..ClusterReport::default()
    }
}
/// Read and check an ignore file (`--ignore`, the serve config's
/// `ignoreFile`); flotilla-core parses it, the reading is done here.
pub fn load_ignore_rules(path: &Path) -> Result<IgnoreRules, IgnoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| IgnoreError::Read {
        path: path.to_owned(),
        source,
    })?;
    IgnoreRules::parse(&text, path)
}

/// The process's peak resident memory (`VmHWM`), in bytes.
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

#[cfg(test)]
mod tests {
    use super::peak_memory_bytes;

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_memory_bytes().is_some_and(|b| b > 0));
        }
    }
}
