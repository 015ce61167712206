//! What starts an audit: timer ticks and watch events, merged into one
//! stream of [`AuditRequest`]s that the loop consumes.
//!
//! Watch events are noisy (a rollout is dozens of updates), so they are
//! debounced per cluster: audit once the cluster has been quiet for a
//! moment, but never later than a fixed delay after the first change. Status
//! churn (controllers updating `.status` every few seconds) is filtered out
//! before it reaches the debouncer.

use super::Shutdown;
use super::schedule::Schedule;
use futures::stream::{self, Stream, StreamExt};
use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Which clusters to audit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditScope {
    /// Every configured cluster.
    All,
    /// One cluster by name.
    Cluster(String),
}

/// Why an audit was asked for (logged on the cycle span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The first cycle after start.
    Startup,
    /// A timer tick.
    Schedule,
    /// A governed object changed.
    Watch,
    /// A retry after a failure.
    Retry,
    /// Asked for by the embedding program (or a test).
    Manual,
    /// This replica just became the leader (leader election).
    Elected,
}

impl Reason {
    /// Lower-case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Schedule => "schedule",
            Reason::Watch => "watch",
            Reason::Retry => "retry",
            Reason::Manual => "manual",
            Reason::Elected => "elected",
        }
    }
}

/// "Audit these clusters now, because …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRequest {
    /// Clusters to audit.
    pub target: AuditScope,
    /// Why.
    pub reason: Reason,
}

impl AuditRequest {
    /// Audit every cluster.
    pub fn all(reason: Reason) -> AuditRequest {
        AuditRequest {
            target: AuditScope::All,
            reason,
        }
    }

    /// Audit one cluster.
    pub fn cluster(name: &str, reason: Reason) -> AuditRequest {
        AuditRequest {
            target: AuditScope::Cluster(name.to_owned()),
            reason,
        }
    }
}

/// Send `AuditRequest::all(Schedule)` at every schedule tick until shutdown
/// or until the loop stops listening.
pub async fn tick_schedule(
    schedule: Schedule,
    requests: mpsc::Sender<AuditRequest>,
    shutdown: Shutdown,
) {
    loop {
        let now = Timestamp::now();
        let Some(next) = schedule.next_after(now) else {
            return;
        };
        let wait = Duration::try_from(next.duration_since(now)).unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => return,
        }
        if requests
            .send(AuditRequest::all(Reason::Schedule))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// How long to let a burst of changes settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// Audit after this long without a change…
    pub quiet: Duration,
    /// …or this long after the first change, whichever comes first.
    pub max_delay: Duration,
}

/// Turn a stream of "something changed" into at most one audit request per
/// burst for `cluster`. Ends when the changes end, on shutdown, or when the
/// loop stops listening; a burst still pending when changes end is sent.
pub async fn debounce_changes<S>(
    changes: S,
    cluster: &str,
    debounce: Debounce,
    requests: mpsc::Sender<AuditRequest>,
    shutdown: Shutdown,
) where
    S: Stream<Item = ()> + Send,
{
    let mut changes = std::pin::pin!(changes);
    loop {
        tokio::select! {
            change = changes.next() => if change.is_none() { return },
            () = shutdown.wait() => return,
        }
        let hard = Instant::now() + debounce.max_delay;
        let mut due = (Instant::now() + debounce.quiet).min(hard);
        let mut ended = false;
        loop {
            tokio::select! {
                change = changes.next() => match change {
                    Some(()) => due = (Instant::now() + debounce.quiet).min(hard),
                    None => { ended = true; break }
                },
                () = tokio::time::sleep_until(due) => break,
                () = shutdown.wait() => return,
            }
        }
        tracing::debug!(cluster, "governed objects changed");
        if requests
            .send(AuditRequest::cluster(cluster, Reason::Watch))
            .await
            .is_err()
            || ended
        {
            return;
        }
    }
}

/// Watch `resources` on one cluster and send a debounced audit request when
/// any of them changes. Runs until shutdown.
///
/// Uses kube-runtime watchers (metadata only, so a cluster's Secrets and
/// ConfigMaps are never streamed in full) with the default backoff: an
/// unreachable API server is retried quietly while the audit loop reports it.
pub async fn watch_cluster(
    client: Client,
    cluster: String,
    resources: Vec<ApiResource>,
    debounce: Debounce,
    requests: mpsc::Sender<AuditRequest>,
    shutdown: Shutdown,
) {
    let changes = object_changes(client, &cluster, &resources);
    debounce_changes(changes, &cluster, debounce, requests, shutdown).await;
}

/// One `()` per real change of any object of `resources`.
pub fn object_changes(
    client: Client,
    cluster: &str,
    resources: &[ApiResource],
) -> impl Stream<Item = ()> + Send + use<> {
    let streams = resources
        .iter()
        .map(|ar| watch_kind(client.clone(), cluster.to_owned(), ar.clone()).boxed());
    stream::select_all(streams)
}

fn watch_kind(client: Client, cluster: String, ar: ApiResource) -> impl Stream<Item = ()> + Send {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &ar);
    let mut filter = ChangeFilter::default();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let change = match event {
                Ok(e) => {
                    let change = filter.is_change(&e);
                    tracing::trace!(
                        cluster,
                        kind = ar.kind,
                        change,
                        event = event_name(&e),
                        "watch event"
                    );
                    change
                }
                Err(e) => {
                    tracing::warn!(cluster, kind = ar.kind, error = %e, "watch failed, retrying");
                    false
                }
            };
            std::future::ready(change.then_some(()))
        })
}

/// Decides which watch events are changes worth an audit.
///
/// An update that leaves `generation`, labels and annotations as they were
/// is a status write and cannot be drift. Objects without a generation
/// (ConfigMaps, Secrets) have no such signal, so every update counts. The
/// initial listing is not a change (the startup cycle covers it), but a
/// re-listing after the watch lost its place is, since changes may have been
/// missed in between.
#[derive(Debug, Default)]
pub struct ChangeFilter {
    seen: HashMap<String, u64>,
    listed_once: bool,
}

impl ChangeFilter {
    /// Whether `event` is a change; remembers what it saw.
    pub fn is_change<K: Resource>(&mut self, event: &watcher::Event<K>) -> bool {
        match event {
            watcher::Event::Apply(o) => {
                let (key, fp) = identity(o);
                self.seen.insert(key, fp) != Some(fp)
            }
            watcher::Event::Delete(o) => {
                self.seen.remove(&identity(o).0);
                true
            }
            watcher::Event::Init => false,
            watcher::Event::InitApply(o) => {
                let (key, fp) = identity(o);
                self.seen.insert(key, fp);
                false
            }
            watcher::Event::InitDone => std::mem::replace(&mut self.listed_once, true),
        }
    }
}

fn event_name<K>(event: &watcher::Event<K>) -> &'static str {
    match event {
        watcher::Event::Apply(_) => "apply",
        watcher::Event::Delete(_) => "delete",
        watcher::Event::Init => "init",
        watcher::Event::InitApply(_) => "init-apply",
        watcher::Event::InitDone => "init-done",
    }
}

/// `(uid or namespace/name, fingerprint of what spec drift would touch)`.
fn identity<K: Resource>(object: &K) -> (String, u64) {
    let meta = object.meta();
    let key = meta.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        )
    });
    let mut h = DefaultHasher::new();
    match meta.generation {
        Some(g) => {
            g.hash(&mut h);
            meta.labels
                .as_ref()
                .unwrap_or(&BTreeMap::new())
                .hash(&mut h);
            meta.annotations
                .as_ref()
                .unwrap_or(&BTreeMap::new())
                .hash(&mut h);
        }
        None => meta.resource_version.hash(&mut h),
    }
    (key, h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn deployment(generation: i64, rv: &str, label: &str) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("traefik".into()),
                namespace: Some("ingress".into()),
                uid: Some("u1".into()),
                generation: Some(generation),
                resource_version: Some(rv.into()),
                labels: Some([("tier".to_owned(), label.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        }
    }

    #[test]
    fn status_writes_are_not_changes_but_spec_and_labels_are() {
        let mut f = ChangeFilter::default();
        assert!(!f.is_change(&watcher::Event::<Deployment>::Init));
        assert!(!f.is_change(&watcher::Event::InitApply(deployment(1, "10", "edge"))));
        assert!(!f.is_change(&watcher::Event::<Deployment>::InitDone));
        assert!(
            !f.is_change(&watcher::Event::Apply(deployment(1, "11", "edge"))),
            "status only"
        );
        assert!(
            f.is_change(&watcher::Event::Apply(deployment(2, "12", "edge"))),
            "spec changed"
        );
        assert!(
            f.is_change(&watcher::Event::Apply(deployment(2, "13", "core"))),
            "label changed"
        );
        assert!(f.is_change(&watcher::Event::Delete(deployment(2, "14", "core"))));
        assert!(
            f.is_change(&watcher::Event::<Deployment>::InitDone),
            "re-list may hide changes"
        );
    }
}
