//! The service's [`CycleRunner`]: git for `fetch`, the auditor for `audit`,
//! GitHub for `publish`.
//!
//! The runner keeps what one cycle hands to the next: the checkout (fetched,
//! never re-cloned), one render cache (the commit's staged tree and its
//! kustomize builds, shared by every cluster; other commits' are dropped when
//! the commit changes), the rendered desired state per cluster (rendered
//! again only when the commit changed) and the last desired and live state
//! per cluster, which adoption needs when the drift PR is written. Credentials
//! are read from their file or variable each time they are used, so a
//! rotated Secret is picked up without a restart, and never logged.
//!
//! With several replicas, only the leader publishes: a standby's `publish`
//! returns before building a GitHub client (no call, no push), and the
//! leader's writes each pass the leadership fence ([`drift_pr`]); a publish
//! that loses leadership on the way stops before its next write.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::{
    ClusterConfig, ClusterTarget, GitAuthRef, GitHubAuthRef, GitHubConfig, SecretSource,
    ServeConfig,
};
use crate::leader::Leadership;
use crate::state::LastRender;
use crate::{
    BoxError, ClusterAudit, CycleRunner, Error, FetchOutcome, GitHubErrorKind, WatchTarget,
};
use flotilla_auditor::audit::{self, Checkout, LiveTarget};
use flotilla_auditor::cluster_objects::{LiveObjects, SnapshotObjects};
use flotilla_core::diff::{DiffOptions, IgnoreError, IgnoreRules};
use flotilla_core::findings::ClusterReport;
use flotilla_core::secret::Sealer;
use flotilla_live::{self as live, Live};
use flotilla_render::sops::Keyring;
use flotilla_render::{ClusterObjectsRef, Desired, RenderCache, RenderOptions, commit_of};
use flotilla_repos::branch::Identity;
use flotilla_repos::git::{self, GitAuth};
use flotilla_repos::github::{
    self, GitHubAuth, GitHubClient, GitHubClientConfig, RetryPolicy, Secret,
};
use flotilla_repos::pr::PrOutcome;
use flotilla_repos::remote::scrub_userinfo;

use super::drift_pr::{self, ClusterDrift, Context, Published};

/// Why the runner could not be built from a checked config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The ignore rules file is wrong.
    #[error("ignore rules")]
    Ignore(#[source] IgnoreError),
    /// The SOPS key file cannot be read.
    #[error("repo.sopsAgeKeyFile")]
    Sops(#[source] flotilla_render::sops::SopsError),
    /// PRs are on but the repository URL does not name a GitHub repository.
    #[error("repo.url {url:?}: cannot tell the github owner and repository from it")]
    RepoName {
        /// The URL.
        url: String,
    },
}

/// What the config does not say, with defaults for production.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Who drift commits are by.
    pub identity: Identity,
    /// Retries of one GitHub call; the service loop retries the whole
    /// publish after that, with its own backoff.
    pub github_retry: RetryPolicy,
    /// Live state source per cluster instead of the config's target (tests
    /// point a cluster at a recorded snapshot).
    pub live_override: BTreeMap<String, LiveTarget>,
    /// Publish only while this leads, each write behind its fence (default:
    /// always leads).
    pub leadership: Leadership,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            identity: Identity {
                name: "flotilla".into(),
                email: "flotilla@localhost".into(),
            },
            github_retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
            },
            live_override: BTreeMap::new(),
            leadership: Leadership::alone("flotilla"),
        }
    }
}

/// One cluster's last audit inputs, for adoption.
#[derive(Debug)]
struct Audited {
    revision: String,
    desired: Arc<Desired>,
    live: Arc<Live>,
}

/// The `flotilla serve` runner.
#[derive(Debug)]
pub struct Runner {
    config: ServeConfig,
    options: RunnerOptions,
    diff: DiffOptions,
    owner_repo: Option<(String, String)>,
    desired: LastRender<Desired>,
    render_cache: Arc<RenderCache>,
    audited: Mutex<BTreeMap<String, Audited>>,
    revision: Mutex<Option<String>>,
    /// Each cluster's open drift PR (web link), as the last publish left it.
    pull_requests: Mutex<BTreeMap<String, String>>,
    /// Seals Secrets on both sides of every audit of this process (one
    /// random key per process), unless a cluster's live side is a flotilla
    /// snapshot with its own key.
    sealer: Sealer,
    /// SOPS age identities (`repo.sopsAgeKeyFile`), read once at start.
    sops_keys: Option<Arc<Keyring>>,
}

impl Runner {
    /// A runner for a checked config; reads the ignore rules now.
    pub fn new(config: ServeConfig, options: RunnerOptions) -> Result<Runner, BuildError> {
        let ignore = match &config.ignore_file {
            Some(path) => audit::load_ignore_rules(path).map_err(BuildError::Ignore)?,
            None => IgnoreRules::default(),
        };
        let owner_repo = github_repo_of(&config.repo.url);
        if config.pr.enabled && owner_repo.is_none() {
            return Err(BuildError::RepoName {
                url: scrub_userinfo(&config.repo.url),
            });
        }
        let sops_keys = match &config.repo.sops_age_key_file {
            Some(file) => Some(Arc::new(
                Keyring::from_age_file(file).map_err(BuildError::Sops)?,
            )),
            None => None,
        };
        Ok(Runner {
            sops_keys,
            config,
            options,
            diff: DiffOptions {
                ignore,
                ..DiffOptions::default()
            },
            owner_repo,
            desired: LastRender::default(),
            render_cache: Arc::new(RenderCache::new()),
            audited: Mutex::new(BTreeMap::new()),
            revision: Mutex::new(None),
            pull_requests: Mutex::new(BTreeMap::new()),
            sealer: Sealer::random(),
        })
    }

    /// The render cache every cluster and cycle shares (its build and hit
    /// counts show what kustomize ran).
    pub fn render_cache(&self) -> &RenderCache {
        &self.render_cache
    }

    fn checkout_dir(&self) -> PathBuf {
        self.config.repo.checkout_dir.clone()
    }

    fn cluster(&self, name: &str) -> Result<&ClusterConfig, Error> {
        self.config
            .clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::Audit {
                cluster: name.to_owned(),
                source: "not a cluster of the config".into(),
            })
    }

    fn live_target(&self, cluster: &ClusterConfig) -> LiveTarget {
        if let Some(t) = self.options.live_override.get(&cluster.name) {
            return t.clone();
        }
        match &cluster.target {
            ClusterTarget::InCluster => LiveTarget::Cluster {
                context: None,
                kubeconfig: None,
            },
            ClusterTarget::Kubeconfig {
                context,
                kubeconfig,
            } => LiveTarget::Cluster {
                context: context.clone(),
                kubeconfig: kubeconfig.clone(),
            },
        }
    }

    /// The URL is scrubbed although the config refuses credentials in it:
    /// this error is logged on every failed cycle.
    fn fetch_error(&self, source: impl Into<BoxError>) -> Error {
        Error::GitFetch {
            url: scrub_userinfo(&self.config.repo.url),
            source: source.into(),
        }
    }

    fn lock_audited(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Audited>> {
        self.audited.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn render(
        &self,
        cluster: &ClusterConfig,
        revision: &str,
        sealer: &Sealer,
    ) -> Result<Arc<Desired>, Error> {
        let checkout = Checkout {
            root: self.checkout_dir(),
            revision: Some(revision.to_owned()),
        };
        // Builds of the commit are shared by every cluster and kept across
        // cycles; a new commit drops the previous one's stage and builds.
        if let Some(commit) = commit_of(revision) {
            self.render_cache.retain_commit(commit);
        }
        // `substituteFrom` reads the cluster first, as Flux does. The render
        // is cached per commit, so a value changed in the cluster alone is
        // read again at the next commit (or restart).
        let cluster_objects: Option<ClusterObjectsRef> = match self.live_target(cluster) {
            LiveTarget::Snapshot(dir) => Some(ClusterObjectsRef(Arc::new(SnapshotObjects::new(
                dir,
                sealer.clone(),
            )))),
            LiveTarget::Cluster {
                context,
                kubeconfig,
            } => live::client_for(context.as_deref(), kubeconfig.as_deref())
                .await
                .ok()
                .map(|client| {
                    ClusterObjectsRef(Arc::new(LiveObjects::new(
                        client,
                        tokio::runtime::Handle::current(),
                    )))
                }),
        };
        let options = RenderOptions {
            cache: Some(Arc::clone(&self.render_cache)),
            allow_remote_bases: self.config.repo.allow_remote_bases,
            sealer: sealer.clone(),
            repo_urls: vec![scrub_userinfo(&self.config.repo.url)],
            cluster: cluster_objects,
            sops_keys: self.sops_keys.clone(),
            ..RenderOptions::default()
        };
        // Cached per revision and sealer: a snapshot recorded again brings
        // another key, and desired state sealed with the old one never matches.
        let cache_key = format!("{revision} {}", sealer.id());
        self.desired
            .get_or_render(&cluster.name, &cache_key, || {
                audit::render_desired(&checkout, &cluster.entry, &options)
            })
            .await
            .map_err(|e| Error::Render {
                cluster: cluster.name.clone(),
                revision: revision.to_owned(),
                source: Box::new(e),
            })
    }

    async fn publish_all(
        &self,
        client: &GitHubClient,
        push_auth: &GitAuth,
        reports: &[ClusterReport],
    ) -> Result<(), Error> {
        let repo_dir = self.checkout_dir();
        let ctx = Context {
            client,
            repo_dir: &repo_dir,
            push_auth,
            pr: &self.config.pr,
            identity: &self.options.identity,
            leadership: &self.options.leadership,
        };
        let mut first_error = None;
        for report in reports {
            let result = self.publish_one(&ctx, report).await;
            match result {
                Ok(done) => {
                    tracing::debug!(cluster = %report.cluster, ?done, "drift pr published");
                    self.remember_pull_request(&report.cluster, done);
                }
                Err(drift_pr::Error::NotLeader { cluster, source }) => {
                    tracing::info!(
                        cluster,
                        reason = %source,
                        "leadership lost: stopping before the next write"
                    );
                    return first_error.map_or(Ok(()), Err);
                }
                Err(e) => {
                    tracing::warn!(
                        cluster = %report.cluster,
                        error = crate::error_chain(&e),
                        "drift pr failed"
                    );
                    first_error.get_or_insert(publish_error(e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn publish_one(
        &self,
        ctx: &Context<'_>,
        report: &ClusterReport,
    ) -> Result<Published, drift_pr::Error> {
        let (desired, live) = {
            let audited = self.lock_audited();
            match audited.get(&report.cluster) {
                Some(a) if Some(&a.revision) == report.revision.as_ref() => {
                    (Arc::clone(&a.desired), Arc::clone(&a.live))
                }
                // No inputs for this report (another runner audited it):
                // nothing to adopt from, try next cycle.
                _ => return Ok(Published::Incomplete),
            }
        };
        let entry = self
            .config
            .clusters
            .iter()
            .find(|c| c.name == report.cluster)
            .map_or_else(
                || audit::AuditedCluster::default_entry(&report.cluster),
                |c| c.entry.clone(),
            );
        let drift = ClusterDrift {
            report,
            entry: &entry,
            desired: &desired,
            live: &live,
        };
        drift_pr::publish_cluster(ctx, &drift).await
    }

    /// Keep the link of the cluster's open PR (or forget it) after a publish.
    fn remember_pull_request(&self, cluster: &str, done: Published) {
        let number = match done {
            Published::Pr { outcome, .. } => match outcome {
                PrOutcome::Opened(n) | PrOutcome::Updated(n) | PrOutcome::Unchanged(n) => Some(n),
                PrOutcome::CapReached => None,
            },
            Published::Held(n) => Some(n),
            Published::Closed(_) | Published::Clean => None,
            // The drift may still be there: keep what was known.
            Published::Incomplete => return,
        };
        let mut prs = self
            .pull_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let link = number.and_then(|n| {
            let gh = self.config.pr.github.as_ref()?;
            let (owner, repo) = self.owner_repo.as_ref()?;
            Some(format!("{}/{owner}/{repo}/pull/{n}", web_url(&gh.url)))
        });
        match link {
            Some(link) => prs.insert(cluster.to_owned(), link),
            None => prs.remove(cluster),
        };
    }

    /// The GitHub client, built per publish so a rotated token is read.
    fn github_client(&self, gh: &GitHubConfig) -> Result<GitHubClient, Error> {
        let (owner, repo) = self.owner_repo.clone().unwrap_or_default();
        let auth = match &gh.auth {
            GitHubAuthRef::Token(source) => GitHubAuth::Token(Secret::from(
                read_secret(source).map_err(github_auth_error)?,
            )),
            GitHubAuthRef::App {
                app_id,
                key_file,
                installation_id,
            } => GitHubAuth::App {
                app_id: *app_id,
                private_key_pem: Secret::from(
                    std::fs::read_to_string(key_file).map_err(github_auth_error)?,
                ),
                installation_id: *installation_id,
            },
        };
        let mut cfg = GitHubClientConfig::new(owner, repo, auth);
        cfg.api_url = Some(gh.url.clone());
        cfg.retry = self.options.github_retry;
        GitHubClient::new(&cfg).map_err(github_error)
    }

    /// Push credentials: the repo's own, else (GitHub App) an installation
    /// token, else none.
    async fn push_auth(&self, client: &GitHubClient) -> Result<GitAuth, Error> {
        match &self.config.repo.auth {
            // The push's own credentials: a failure to read them fails the
            // push, whatever the next fetch makes of them.
            Some(auth) => git_auth(auth).map_err(|e| Error::GitPush {
                source: format!("cannot read the push credentials (repo.auth): {e}").into(),
            }),
            None => match self.config.pr.github.as_ref().map(|g| &g.auth) {
                Some(GitHubAuthRef::App { .. }) => {
                    let token = client.git_token().await.map_err(github_error)?;
                    Ok(GitAuth::Token(
                        github::ExposeSecret::expose_secret(&token).to_owned(),
                    ))
                }
                _ => Ok(GitAuth::None),
            },
        }
    }
}

impl Runner {
    /// What to watch on each cluster for `flotilla serve`'s change-driven
    /// audits: every resource type Git declares for it at `revision`
    /// (one discovery request per group version). Objects of other types
    /// (unmanaged ones in governed namespaces) are caught by the schedule.
    /// A cluster that cannot be discovered now is left to the schedule.
    pub async fn watch_targets(&self, revision: &str) -> Vec<WatchTarget> {
        let mut targets = Vec::new();
        for cluster in &self.config.clusters {
            match self.watch_target(cluster, revision).await {
                Ok(t) => targets.push(t),
                Err(e) => tracing::warn!(
                    cluster = %cluster.name,
                    error = crate::error_chain(e.as_ref()),
                    "not watching this cluster; the schedule still audits it"
                ),
            }
        }
        targets
    }

    async fn watch_target(
        &self,
        cluster: &ClusterConfig,
        revision: &str,
    ) -> Result<WatchTarget, BoxError> {
        let LiveTarget::Cluster {
            context,
            kubeconfig,
        } = self.live_target(cluster)
        else {
            return Err("a snapshot cannot be watched".into());
        };
        // A cluster target: the process's sealer, as its audits use.
        let desired = self.render(cluster, revision, &self.sealer).await?;
        let client = live::client_for(context.as_deref(), kubeconfig.as_deref()).await?;
        let resources = live::watched_resources(&client, &declared_kinds(&desired)).await?;
        Ok(WatchTarget {
            cluster: cluster.name.clone(),
            client,
            resources,
        })
    }
}

/// `(group, version)` → kinds of the objects Git declares.
fn declared_kinds(
    desired: &Desired,
) -> BTreeMap<(String, String), std::collections::BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), std::collections::BTreeSet<String>> = BTreeMap::new();
    for d in &desired.objects {
        let (Some(api_version), Some(kind)) = (
            d.object.get("apiVersion").and_then(|v| v.as_str()),
            d.object.get("kind").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        out.entry((group.to_owned(), version.to_owned()))
            .or_default()
            .insert(kind.to_owned());
    }
    out
}

impl CycleRunner for Runner {
    async fn fetch(&self) -> Result<FetchOutcome, Error> {
        let repo = self.config.repo.clone();
        let auth = match &repo.auth {
            Some(a) => git_auth(a).map_err(|e| self.fetch_error(e))?,
            None => GitAuth::None,
        };
        let checkout = tokio::task::spawn_blocking(move || fetch_checkout(&repo, &auth))
            .await
            .map_err(|e| self.fetch_error(e))?
            .map_err(|e| self.fetch_error(e))?;
        let mut last = self.revision.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = last.as_deref() != Some(checkout.revision.as_str());
        *last = Some(checkout.revision.clone());
        Ok(FetchOutcome {
            revision: checkout.revision,
            changed,
        })
    }

    async fn audit(&self, cluster: &str, revision: &str) -> Result<ClusterAudit, Error> {
        let config = self.cluster(cluster)?;
        let target = self.live_target(config);
        let sealer =
            audit::sealer_for(&target, &self.sealer).map_err(|e| live_error(cluster, e))?;
        let desired = self.render(config, revision, &sealer).await?;
        let scope = audit::scope_for(&desired);
        let live = audit::read_live(&target, &scope, &sealer)
            .await
            .map_err(|e| live_error(cluster, e))?;
        let report = audit::report_for(cluster, &desired, &live, &self.diff);
        let apiserver_requests = live.requests;
        self.lock_audited().insert(
            cluster.to_owned(),
            Audited {
                revision: revision.to_owned(),
                desired,
                live: Arc::new(live),
            },
        );
        Ok(ClusterAudit {
            report,
            apiserver_requests,
        })
    }

    async fn publish(&self, reports: &[ClusterReport]) -> Result<(), Error> {
        if !self.options.leadership.is_leader() {
            tracing::debug!("standing by: not publishing");
            return Ok(());
        }
        let Some(gh) = self
            .config
            .pr
            .github
            .as_ref()
            .filter(|_| self.config.pr.enabled)
        else {
            return Ok(());
        };
        let client = self.github_client(gh)?;
        let push_auth = self.push_auth(&client).await?;
        self.publish_all(&client, &push_auth, reports).await
    }

    fn pull_request(&self, cluster: &str) -> Option<String> {
        self.pull_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(cluster)
            .cloned()
    }
}

/// The web address of the GitHub an API URL belongs to: `api.github.com`
/// → `github.com`, a GitHub Enterprise `https://HOST/api/v3` → `https://HOST`.
fn web_url(api_url: &str) -> String {
    let url = api_url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("https://api.github.com") {
        return format!("https://github.com{rest}");
    }
    url.strip_suffix("/api/v3").unwrap_or(url).to_owned()
}

/// Clone on first use, then fetch and check out the configured branch.
fn fetch_checkout(
    repo: &crate::config::RepoConfig,
    auth: &GitAuth,
) -> Result<git::Checkout, git::Error> {
    let dir = &repo.checkout_dir;
    if dir.join(".git").exists() {
        git::fetch_commit(dir, Some(&repo.branch), auth)?;
        git::checkout_fetched(dir, Some(&repo.branch), auth)
    } else {
        git::checkout(&repo.url, Some(&repo.branch), auth, dir)
    }
}

/// The value behind a secret reference, trimmed of the trailing newline
/// files usually have.
fn read_secret(source: &SecretSource) -> Result<String, std::io::Error> {
    let value = match source {
        SecretSource::File(path) => std::fs::read_to_string(path)?,
        SecretSource::Env(var) => std::env::var(var).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("environment variable {var} is not set"),
            )
        })?,
    };
    Ok(value.trim_end().to_owned())
}

fn git_auth(auth: &GitAuthRef) -> Result<GitAuth, std::io::Error> {
    Ok(match auth {
        GitAuthRef::SshKey { key_file, .. } => GitAuth::SshKey {
            path: key_file.clone(),
            passphrase: None,
        },
        GitAuthRef::Token(source) => GitAuth::Token(read_secret(source)?),
    })
}

/// `owner/repo` from an https, ssh or scp-style GitHub URL (or any URL
/// whose path ends in two segments).
pub fn github_repo_of(url: &str) -> Option<(String, String)> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?.1,
        None => url.split_once(':')?.1,
    };
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let repo = segments.next()?.trim_end_matches(".git");
    let owner = segments.next()?;
    (!owner.is_empty() && !repo.is_empty()).then(|| (owner.to_owned(), repo.to_owned()))
}

/// A live read's failure by its class: no HTTP answer means the API server
/// is unreachable; 401 or 403 means its credentials are refused (it did
/// answer); anything else (an undecodable answer, another status, the
/// kubeconfig, a snapshot) is the audit's.
fn live_error(cluster: &str, e: live::Error) -> Error {
    if e.is_no_answer() {
        Error::ApiServerUnreachable {
            cluster: cluster.to_owned(),
            source: Box::new(e),
        }
    } else if matches!(e.http_status(), Some(401 | 403)) {
        Error::ApiServerAuth {
            cluster: cluster.to_owned(),
            source: Box::new(e),
        }
    } else {
        Error::Audit {
            cluster: cluster.to_owned(),
            source: Box::new(e),
        }
    }
}

fn github_auth_error(e: std::io::Error) -> Error {
    Error::GitHub {
        kind: GitHubErrorKind::Auth,
        retry_after: None,
        source: Box::new(e),
    }
}

/// The loop's view of a GitHub failure: its kind and how long to wait.
fn github_error(e: github::Error) -> Error {
    let (kind, retry_after) = match &e {
        github::Error::RateLimited { retry_after, .. } => {
            (GitHubErrorKind::RateLimited, Some(*retry_after))
        }
        github::Error::Unavailable { .. } | github::Error::Response { .. } => {
            (GitHubErrorKind::ServerError, None)
        }
        github::Error::Api {
            status: 401 | 403, ..
        } => (GitHubErrorKind::Auth, None),
        github::Error::Api { status: 429, .. } => (GitHubErrorKind::RateLimited, None),
        github::Error::Transport { .. } => (GitHubErrorKind::Network, None),
        _ => (GitHubErrorKind::Client, None),
    };
    Error::GitHub {
        kind,
        retry_after,
        source: Box::new(e),
    }
}

/// A cluster's publish failure as the loop counts it, by its real class:
/// GitHub's answer (`github`, by kind), the push (`git-push`), or preparing
/// the drift commit in the checkout (`drift-branch`).
fn publish_error(e: drift_pr::Error) -> Error {
    match e {
        drift_pr::Error::Github { source, .. } => github_error(*source),
        drift_pr::Error::Push { .. } => Error::GitPush {
            source: Box::new(e),
        },
        drift_pr::Error::Branch { ref cluster, .. }
        | drift_pr::Error::Read { ref cluster, .. }
        | drift_pr::Error::Revision { ref cluster, .. }
        | drift_pr::Error::NotLeader { ref cluster, .. } => Error::DriftBranch {
            cluster: cluster.clone(),
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_repo_come_from_any_url_form() {
        let want = Some(("contoso".to_owned(), "fleet".to_owned()));
        assert_eq!(github_repo_of("https://github.com/contoso/fleet.git"), want);
        assert_eq!(
            github_repo_of("ssh://git@github.com/contoso/fleet.git"),
            want
        );
        assert_eq!(github_repo_of("git@github.com:contoso/fleet.git"), want);
        assert_eq!(github_repo_of("git://127.0.0.1:9418/contoso/fleet"), want);
        assert_eq!(github_repo_of("https://github.com/fleet"), None);
    }

    #[test]
    fn pull_request_links_point_at_the_web_not_the_api() {
        assert_eq!(web_url("https://api.github.com"), "https://github.com");
        assert_eq!(
            web_url("https://ghe.contoso.com/api/v3/"),
            "https://ghe.contoso.com"
        );
        assert_eq!(web_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
