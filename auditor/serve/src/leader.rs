//! Leader election between replicas of `flotilla serve`, on a
//! `coordination.k8s.io/v1` Lease, and the write fence that keeps a former
//! leader from writing.
//!
//! **Which crate.** The protocol is not written here. Of the kube-rs
//! ecosystem's election crates only `kube-lease-manager` (0.13) is built on
//! the kube 5 / k8s-openapi 0.29 this workspace uses; `kube-leader-election`
//! (0.44) needs kube 4, `kube-coordinate` (2.0 rc) kube 2, kubert's `lease`
//! kube 1.1 (each would build a second kube), and kube-runtime 5 has no
//! election of its own. `kube-lease-manager` acquires a free or expired
//! Lease with a server-side apply (two replicas racing for it conflict on
//! `holderIdentity`, see the Server-Side Apply docs, kubernetes/website
//! `content/en/docs/reference/using-api/server-side-apply.md`, "Conflicts"),
//! renews it `grace` seconds before it expires, and releases it when told.
//! Its requests are GET, POST (create) and PATCH, hence the Role's verbs
//! `get`, `create`, `patch` (not client-go's `update`).
//!
//! **The three durations.** flotilla keeps client-go's names and order
//! (`retryPeriod < renewDeadline < leaseDuration`, k8s.io/client-go
//! `tools/leaderelection/leaderelection.go`, `NewLeaderElector`) and maps them
//! onto the crate: the Lease lasts `leaseDuration`; the leader renews every
//! `retryPeriod` (the crate's `grace` is `leaseDuration − retryPeriod`); and
//! `renewDeadline` is flotilla's own rule: this replica counts as leader only
//! while the Lease, read back, names it with a renewal younger than
//! `renewDeadline`. Every replica reads the Lease every `retryPeriod` (one
//! GET, as client-go's candidates do); that read also tells a standby who
//! leads and carries the leader's status ([`super::status`]).
//!
//! **Why two writes cannot happen.** A standby takes the Lease only once it
//! has seen no renewal for `leaseDuration` by its own clock (the crate
//! compares the Lease's `renewTime` plus its duration with the local time).
//! The leader, right before each push and each GitHub write, reads the Lease
//! again ([`Leadership::fence`]) and goes on only if it is still the holder
//! and its last renewal is younger than `renewDeadline`. So when a write
//! starts, no other replica can take the Lease for at least
//! `leaseDuration − renewDeadline` (5 s with the defaults, ~8 s in practice
//! since renewals come every 2 s), minus the clock difference between the
//! two nodes; a write that starts later is refused. What remains is a write
//! that is still in flight that long after the fence (a push or a GitHub
//! call hanging for seconds while the leader also loses the API server):
//! no lease can rule that out. Even then the write is the same one: the
//! drift branch is deterministic, a new leader finds the old leader's
//! commit of the same tree and does not push it again, and GitHub refuses a
//! second open pull request for one head branch.
//!
//! **Cost.** A standby makes one GET per `retryPeriod` and nothing else: no
//! audits, no watches (they run only while leading), no git, no GitHub.

use super::config::LeaderElectionConfig;
use super::metrics::Metrics;
use super::state::State;
use super::{Shutdown, status};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The field manager of the status annotation.
const STATUS_MANAGER: &str = "flotilla-status";

/// Why leader election could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No client for the cluster holding the Lease.
    #[error("leader election: no client for the cluster holding lease {namespace}/{name}")]
    Client {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Cause.
        #[source]
        source: flotilla_live::Error,
    },
    /// The Lease could not be read or created.
    #[error("leader election: cannot read or create lease {namespace}/{name}")]
    Lease {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// Cause (kube-lease-manager's error, whose message repeats its
        /// kube-rs cause: see [`lease_error`]).
        #[source]
        source: flotilla_live::KubeError,
    },
}

/// Why this replica may not write now.
#[derive(Debug, thiserror::Error)]
pub enum NotLeader {
    /// It stands by.
    #[error("this replica is not the leader")]
    Standby,
    /// The Lease names another holder, or none.
    #[error("the lease is held by {}", holder.as_deref().unwrap_or("nobody"))]
    Held {
        /// Who holds it.
        holder: Option<String>,
    },
    /// It holds the Lease, but its last renewal is too old.
    #[error("the last renewal of the lease is {}s old, past the renew deadline", age.as_secs())]
    Stale {
        /// Age of the last renewal.
        age: Duration,
    },
    /// The Lease could not be read back.
    #[error("the lease could not be read back")]
    Unconfirmed(#[source] flotilla_live::KubeError),
}

/// Whether this replica leads, and the fence each write goes through.
/// Cheap to clone; every clone sees the same leadership.
#[derive(Debug, Clone)]
pub struct Leadership {
    identity: Arc<str>,
    leading: watch::Receiver<bool>,
    fence: Fence,
    /// Keeps the channel of [`Leadership::alone`] open.
    _fixed: Option<Arc<watch::Sender<bool>>>,
}

#[derive(Debug, Clone)]
enum Fence {
    /// No election: this process always leads.
    Alone,
    /// Leadership set by hand ([`Leadership::manual`]); the fence is the flag.
    Manual,
    /// The elected leader: read the Lease back.
    Lease(Arc<LeaseFence>),
}

#[derive(Debug)]
struct LeaseFence {
    api: Api<Lease>,
    name: String,
    renew_deadline: Duration,
    /// Until when the last read of the Lease confirms this replica.
    fresh_until: Mutex<Option<Instant>>,
}

/// Sets a [`Leadership::manual`] leadership.
#[derive(Debug)]
pub struct LeadershipSwitch(watch::Sender<bool>);

impl LeadershipSwitch {
    /// Lead (`true`) or stand by.
    pub fn set(&self, leading: bool) {
        self.0.send_replace(leading);
    }
}

impl Leadership {
    /// No election: this process always leads and writes unchecked. What
    /// `flotilla serve` runs with unless `leaderElection.enabled`.
    pub fn alone(identity: &str) -> Leadership {
        let (tx, leading) = watch::channel(true);
        Leadership {
            identity: identity.into(),
            leading,
            fence: Fence::Alone,
            _fixed: Some(Arc::new(tx)),
        }
    }

    /// Leadership switched by hand (tests, or a program with its own
    /// election); starts as a standby. The fence is the switch.
    pub fn manual(identity: &str) -> (LeadershipSwitch, Leadership) {
        let (tx, leading) = watch::channel(false);
        (
            LeadershipSwitch(tx),
            Leadership {
                identity: identity.into(),
                leading,
                fence: Fence::Manual,
                _fixed: None,
            },
        )
    }

    /// Join the election `config` describes as `identity` (see
    /// [`identity`]): reach the cluster holding the Lease, create the Lease
    /// if it is missing, and return a standby leadership plus the
    /// [`Election`] that must run for it to ever lead.
    pub async fn elect(
        config: &LeaderElectionConfig,
        identity: &str,
    ) -> Result<(Leadership, Election), Error> {
        let client =
            flotilla_live::client_for(config.context.as_deref(), config.kubeconfig.as_deref())
                .await
                .map_err(|source| Error::Client {
                    namespace: config.namespace.clone(),
                    name: config.lease_name.clone(),
                    source,
                })?;
        Leadership::elect_with(config, identity, client).await
    }

    /// [`Leadership::elect`] with a client already made.
    pub async fn elect_with(
        config: &LeaderElectionConfig,
        identity: &str,
        client: kube::Client,
    ) -> Result<(Leadership, Election), Error> {
        let duration = config.lease_duration.as_secs();
        let grace = duration - config.retry_period.as_secs();
        // Field manager names are at most 128 bytes.
        let field_manager: String = format!("flotilla-{identity}").chars().take(128).collect();
        let params = LeaseParams::new(identity, duration, grace).with_field_manager(field_manager);
        let manager = LeaseManager::new(
            client.clone(),
            &config.lease_name,
            &config.namespace,
            params,
            LeaseCreateMode::AutoCreate,
        )
        .await
        .map_err(|source| Error::Lease {
            namespace: config.namespace.clone(),
            name: config.lease_name.clone(),
            source: lease_error(source),
        })?;
        let fence = Arc::new(LeaseFence {
            api: Api::namespaced(client, &config.namespace),
            name: config.lease_name.clone(),
            renew_deadline: config.renew_deadline,
            fresh_until: Mutex::new(None),
        });
        let (leading_tx, leading) = watch::channel(false);
        let leadership = Leadership {
            identity: identity.into(),
            leading,
            fence: Fence::Lease(Arc::clone(&fence)),
            _fixed: None,
        };
        let election = Election {
            manager: Some(manager),
            fence,
            identity: identity.to_owned(),
            retry_period: config.retry_period,
            leading: leading_tx,
            crate_says: false,
            last_status: None,
        };
        Ok((leadership, election))
    }

    /// This replica's identity in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this replica leads now: it may start audits. Cheap. Nobody
    /// left to run the election (its [`Election`] or switch dropped) means
    /// standing by.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow() && self.leading.has_changed().is_ok()
    }

    /// Whether leadership is elected (rather than alone or manual).
    pub fn is_elected(&self) -> bool {
        matches!(self.fence, Fence::Lease(_))
    }

    /// A receiver of leadership changes.
    pub fn changes(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Call right before every write to Git or GitHub: `Ok` only if this
    /// replica leads, and (when elected) the Lease, read back now, names it
    /// with a renewal younger than `renewDeadline`.
    pub async fn fence(&self) -> Result<(), NotLeader> {
        match &self.fence {
            Fence::Alone => Ok(()),
            Fence::Manual if self.is_leader() => Ok(()),
            Fence::Manual => Err(NotLeader::Standby),
            Fence::Lease(_) if !self.is_leader() => Err(NotLeader::Standby),
            Fence::Lease(f) => f.confirm(&self.identity).await.map(|_| ()),
        }
    }
}

impl LeaseFence {
    /// Read the Lease; `Ok` with the Lease when it names `identity` with a
    /// fresh renewal.
    async fn confirm(&self, identity: &str) -> Result<Lease, NotLeader> {
        let lease = read_lease(&self.api, &self.name, self.renew_deadline)
            .await
            .map_err(|e| NotLeader::Unconfirmed(e.into()))?;
        let (holder, age) = holder_and_age(lease.as_ref());
        if holder.as_deref() != Some(identity) {
            return Err(NotLeader::Held { holder });
        }
        let age = age.unwrap_or(Duration::MAX);
        if age >= self.renew_deadline {
            return Err(NotLeader::Stale { age });
        }
        *self
            .fresh_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + (self.renew_deadline - age));
        // `holder` is Some, so the Lease exists.
        lease.ok_or(NotLeader::Held { holder: None })
    }

    fn is_fresh(&self) -> bool {
        self.fresh_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }
}

/// GET the Lease, bounded by `limit` (`None`: it does not exist).
async fn read_lease(
    api: &Api<Lease>,
    name: &str,
    limit: Duration,
) -> Result<Option<Lease>, kube::Error> {
    match tokio::time::timeout(limit, api.get_opt(name)).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(
            format!("no answer within {}s", limit.as_secs_f64()).into(),
        )),
    }
}

/// The holder and the age of its last renewal (by this clock).
fn holder_and_age(lease: Option<&Lease>) -> (Option<String>, Option<Duration>) {
    let spec = lease.and_then(|l| l.spec.as_ref());
    let holder = spec.and_then(|s| s.holder_identity.clone());
    let age = spec.and_then(|s| s.renew_time.as_ref()).map(|t| {
        let age = Timestamp::now().duration_since(t.0);
        Duration::try_from(age).unwrap_or_default()
    });
    (holder, age)
}

/// This replica's identity: the pod name (`POD_NAME`, from the downward
/// API; else `HOSTNAME`, which Kubernetes sets to the pod name) and a random
/// suffix, so a restarted container never mistakes its predecessor's Lease
/// for its own.
pub fn identity() -> String {
    let pod = ["POD_NAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "flotilla".to_owned());
    let mut bytes = [0u8; 4];
    // Without randomness the process id still tells restarts apart.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::process::id().to_be_bytes();
    }
    format!("{}-{}", pod.trim(), hex::encode(bytes))
}

/// The running side of an elected [`Leadership`]: the crate's election
/// loop, this replica's reads of the Lease, the status it shares when
/// leading and adopts when standing by.
#[derive(Debug)]
pub struct Election {
    /// Taken when the election starts.
    manager: Option<LeaseManager>,
    fence: Arc<LeaseFence>,
    identity: String,
    retry_period: Duration,
    leading: watch::Sender<bool>,
    /// What the crate last said.
    crate_says: bool,
    /// The status text last adopted or written.
    last_status: Option<String>,
}

/// What the election task works with.
#[derive(Debug, Clone)]
pub struct ElectionContext {
    /// The service's state (written as a standby, shared as the leader).
    pub state: Arc<State>,
    /// The service's metrics.
    pub metrics: Arc<Metrics>,
}

impl Election {
    /// Run until `stop` fires, then release the Lease if held (so a standby
    /// takes over at once). Fire `stop` only once the loop has stopped
    /// writing.
    pub async fn run(mut self, ctx: ElectionContext, stop: Shutdown) {
        let Some(manager) = self.manager.take() else {
            return;
        };
        let (mut crate_rx, task) = manager.watch().await;
        let mut tick = tokio::time::interval(self.retry_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cycles = ctx.state.cycles_completed();
        let mut crate_alive = true;
        loop {
            let next_cycle = ctx.state.wait_for_cycles(cycles + 1);
            tokio::select! {
                biased;
                () = stop.wait() => break,
                changed = crate_rx.changed(), if crate_alive => {
                    match changed {
                        Ok(()) => self.crate_says = *crate_rx.borrow_and_update(),
                        Err(_) => {
                            // The crate's task ended (it only does on a bug):
                            // never lead again without it.
                            tracing::error!("leader election stopped: this replica stands by from now on");
                            crate_alive = false;
                            self.crate_says = false;
                        }
                    }
                    self.read(&ctx).await;
                }
                _ = tick.tick() => self.read(&ctx).await,
                () = next_cycle => {
                    cycles = ctx.state.cycles_completed();
                    if *self.leading.borrow() {
                        self.share(&ctx).await;
                    }
                }
            }
        }
        // Closing the channel makes the crate release the Lease if held.
        drop(crate_rx);
        self.leading.send_replace(false);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader election: lease released"),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "leader election: releasing the lease failed")
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("leader election: the lease was not released in time")
            }
        }
    }

    /// Read the Lease: who holds it, whether it confirms this replica, and
    /// (standing by) the leader's status.
    async fn read(&mut self, ctx: &ElectionContext) {
        let lease = read_lease(&self.fence.api, &self.fence.name, self.retry_period).await;
        match &lease {
            Ok(lease) => {
                let (holder, age) = holder_and_age(lease.as_ref());
                ctx.metrics.set_lease_holder(holder.as_deref());
                let ours = holder.as_deref() == Some(self.identity.as_str());
                let fresh_for = age.and_then(|a| self.fence.renew_deadline.checked_sub(a));
                let mut fresh = self
                    .fence
                    .fresh_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *fresh = match (ours, fresh_for) {
                    (true, Some(left)) => Some(Instant::now() + left),
                    _ => None,
                };
            }
            Err(e) => tracing::debug!(error = %e, "leader election: cannot read the lease"),
        }
        self.update_leading();
        if !*self.leading.borrow()
            && let Ok(Some(lease)) = &lease
        {
            self.adopt(ctx, lease);
        }
    }

    /// Lead while the crate says so and the Lease confirms it (the
    /// service follows the change: see `follow_leadership` in the module
    /// above).
    fn update_leading(&mut self) {
        let now = self.crate_says && self.fence.is_fresh();
        let before = self.leading.send_replace(now);
        if before == now {
            return;
        }
        if now {
            tracing::info!(identity = %self.identity, "leading: auditing and writing from now on");
            self.last_status = None;
        } else {
            tracing::info!(identity = %self.identity, "standing by: no audits, no writes");
        }
    }

    /// Standing by: take the leader's status if it changed.
    fn adopt(&mut self, ctx: &ElectionContext, lease: &Lease) {
        let text = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(status::ANNOTATION));
        let Some(text) = text else { return };
        if self.last_status.as_ref() == Some(text) {
            return;
        }
        self.last_status = Some(text.clone());
        match status::decode(text) {
            Ok(shared) if shared.leader != self.identity => {
                ctx.state.adopt_shared(
                    &shared.leader,
                    shared.revision.clone(),
                    shared.last_cycle,
                    &shared.clusters,
                );
                ctx.metrics.apply_shared(&shared);
                tracing::debug!(leader = %shared.leader, "took the leader's status");
            }
            // This replica's own status from before it stood by: stale.
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %super::error_chain(&e),
                "leader election: the shared status cannot be read; serving the previous one"
            ),
        }
    }

    /// Leading: write this replica's state on the Lease, fenced by the
    /// Lease's `resourceVersion` as read when it confirmed this replica.
    async fn share(&mut self, ctx: &ElectionContext) {
        // One retry: the crate's renewal may land between the read and the
        // write (every `retryPeriod`).
        for _ in 0..2 {
            let lease = match self.fence.confirm(&self.identity).await {
                Ok(lease) => lease,
                Err(e) => {
                    tracing::info!(error = %e, "not sharing the status: leadership not confirmed");
                    return;
                }
            };
            let text = status::encode(&ctx.state, &self.identity, Timestamp::now());
            // A merge patch carrying `metadata.resourceVersion` is refused
            // (409) when the Lease changed since: the patched object keeps
            // that version and the registry's update compares it with the
            // stored one (k8s.io/apiserver `pkg/registry/generic/registry/
            // store.go`, `Update`: "the object has been modified").
            let patch = serde_json::json!({
                "metadata": {
                    "resourceVersion": lease.metadata.resource_version,
                    "annotations": { status::ANNOTATION: text },
                }
            });
            let params = PatchParams {
                field_manager: Some(STATUS_MANAGER.into()),
                ..PatchParams::default()
            };
            let patch = Patch::Merge(&patch);
            let write = self.fence.api.patch(&self.fence.name, &params, &patch);
            match tokio::time::timeout(self.retry_period, write).await {
                Ok(Ok(_)) => {
                    self.last_status = Some(text);
                    return;
                }
                Ok(Err(kube::Error::Api(status))) if status.code == 409 => continue,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot share the status on the lease");
                    return;
                }
                Err(_) => {
                    tracing::warn!("cannot share the status on the lease: no answer");
                    return;
                }
            }
        }
    }
}

/// kube-lease-manager's error as a link of the cause chain: its kube-rs
/// error goes through [`flotilla_live::KubeError`] (the API server's answer,
/// once); its own messages (`Kube error: {0}`, kube-lease-manager
/// `src/error.rs`) repeat their cause, so they are printed as they are.
fn lease_error(error: kube_lease_manager::LeaseManagerError) -> flotilla_live::KubeError {
    match error {
        kube_lease_manager::LeaseManagerError::KubeError(e) => e.into(),
        other => flotilla_live::KubeError::foreign(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alone_always_leads_and_manual_follows_its_switch() {
        let alone = Leadership::alone("a");
        assert!(alone.is_leader());
        assert!(alone.fence().await.is_ok());
        let (switch, manual) = Leadership::manual("b");
        assert!(!manual.is_leader());
        assert!(matches!(manual.fence().await, Err(NotLeader::Standby)));
        switch.set(true);
        assert!(manual.is_leader() && manual.fence().await.is_ok());
    }

    #[test]
    fn identity_is_the_pod_name_and_a_random_suffix() {
        let a = identity();
        let b = identity();
        assert_ne!(a, b);
        let (pod, suffix) = a.rsplit_once('-').unwrap();
        assert!(!pod.is_empty());
        assert_eq!(suffix.len(), 8);
    }
}
