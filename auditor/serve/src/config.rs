//! The `flotilla serve` config file: what to audit, when, and where to report.
//!
//! Two layers, as in the rest of flotilla: `Spec*` structs mirror the YAML
//! (unknown fields are errors, values keep their line), and [`ServeConfig`]
//! is the checked result. Credentials are only ever *named* here (a file or
//! an environment variable); the config never holds a secret, so it can live
//! in a ConfigMap and be logged. URLs follow `flotilla_repos::remote`: no
//! credentials in `repo.url` or `pr.github.url` in any spelling, and no
//! token over plain `http://` except to a loopback host.

use super::backoff::RetryPolicy;
use super::schedule::{Cron, ParseError, Schedule};
use flotilla_core::findings::FindingClass;
use flotilla_repos::remote::{check_api_url, check_git_url, token_may_travel};
use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Spanned};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A config file problem, always with the file and (where known) line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// Config file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, or a field that does not exist, or a value of the wrong type.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Parse {
        /// Config file.
        path: PathBuf,
        /// 1-based line (0 if unknown).
        line: u64,
        /// 1-based column (0 if unknown).
        column: u64,
        /// The field named by the error (`?` if the parser named none).
        field: String,
        /// The parser's message.
        message: String,
    },
    /// Valid YAML with a value that makes no sense.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// Config file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// Dotted field path, e.g. `clusters[1].context`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The checked service configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// The GitOps repository to audit against.
    pub repo: RepoConfig,
    /// Clusters to audit, in file order; names are unique.
    pub clusters: Vec<ClusterConfig>,
    /// Timer-driven audits.
    pub schedule: Schedule,
    /// Watch-driven audits.
    pub watch: WatchConfig,
    /// Drift pull requests.
    pub pr: PrConfig,
    /// Ignore rules file (see the audit docs), if any.
    pub ignore_file: Option<PathBuf>,
    /// Address of the HTTP server (`/metrics`, `/healthz`, `/readyz`).
    pub listen: SocketAddr,
    /// Longest one cluster's audit may take before it counts as failed.
    pub audit_timeout: Duration,
    /// Retry policy for every fault (API server, git, GitHub).
    pub backoff: RetryPolicy,
    /// Leader election between replicas (off: this process always leads).
    pub leader_election: LeaderElectionConfig,
}

/// Leader election on a `coordination.k8s.io/v1` Lease, so that two or more
/// replicas can run and only one audits and writes (see
/// [`super::leader`]). The three durations keep client-go's names and
/// order (`retryPeriod < renewDeadline < leaseDuration`), but the meaning
/// follows the crate that runs the protocol: the leader renews every
/// `retryPeriod`; a standby takes the Lease once `leaseDuration` passed
/// without a renewal; the leader stops writing when its last renewal, as the
/// Lease shows it, is older than `renewDeadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Whether to elect at all. Off (the default), the process leads alone.
    pub enabled: bool,
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// How long a Lease stays valid after its last renewal (whole seconds:
    /// the Lease records seconds).
    pub lease_duration: Duration,
    /// The leader writes to Git or GitHub only while its last renewal is
    /// younger than this.
    pub renew_deadline: Duration,
    /// How often the leader renews and every replica reads the Lease (whole
    /// seconds).
    pub retry_period: Duration,
    /// Kubeconfig context of the cluster holding the Lease; with neither
    /// this nor `kubeconfig`, the cluster flotilla runs in.
    pub context: Option<String>,
    /// Kubeconfig file of the cluster holding the Lease.
    pub kubeconfig: Option<PathBuf>,
}

impl Default for LeaderElectionConfig {
    /// Off; Lease `flotilla-system/flotilla`; 10 s, 5 s, 2 s: a standby
    /// takes over about 11 s after the leader is lost (the Lease's 10 s plus
    /// at most one second of the crate's release pause).
    fn default() -> LeaderElectionConfig {
        LeaderElectionConfig {
            enabled: false,
            lease_name: "flotilla".into(),
            namespace: "flotilla-system".into(),
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(5),
            retry_period: Duration::from_secs(2),
            context: None,
            kubeconfig: None,
        }
    }
}

/// The GitOps repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// Clone URL (`https://…` or `ssh://…`), never with credentials.
    pub url: String,
    /// Branch to audit.
    pub branch: String,
    /// How to authenticate, if the repository is private.
    pub auth: Option<GitAuthRef>,
    /// Where to keep the checkout (an emptyDir in the Deployment).
    pub checkout_dir: PathBuf,
    /// Let kustomize fetch remote bases (`allowRemoteBases`, default false).
    pub allow_remote_bases: bool,
    /// age identities for SOPS-encrypted files (`sopsAgeKeyFile`, a file
    /// mounted from a Secret); without it encrypted values are not compared.
    pub sops_age_key_file: Option<PathBuf>,
}

/// Git credentials, by reference: where they are, never their value
/// (flotilla-repos' `GitAuth` holds the value, read at the last moment).
#[derive(Debug, Clone, PartialEq)]
pub enum GitAuthRef {
    /// An SSH private key file, with an optional `known_hosts` file.
    SshKey {
        /// Private key file.
        key_file: PathBuf,
        /// known_hosts to verify the server against.
        known_hosts_file: Option<PathBuf>,
    },
    /// An HTTPS token.
    Token(SecretSource),
}

/// Where a secret comes from. Reading it is the consumer's job; this type
/// never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (e.g. a mounted Secret key).
    File(PathBuf),
    /// An environment variable name.
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "env ${v}"),
        }
    }
}

/// One cluster to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Cluster name, as in the fleet and in metric labels.
    pub name: String,
    /// How to reach its API server.
    pub target: ClusterTarget,
    /// Flux entry path in the repo, default `clusters/<name>`.
    pub entry: String,
}

/// How to reach a cluster's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterTarget {
    /// The cluster flotilla runs in (service account token).
    InCluster,
    /// A kubeconfig context.
    Kubeconfig {
        /// Context name; the file's current context if unset.
        context: Option<String>,
        /// Kubeconfig file; `$KUBECONFIG` or `~/.kube/config` if unset.
        kubeconfig: Option<PathBuf>,
    },
}

/// Watch-driven audits: changes to governed objects trigger an audit of that
/// cluster once things are quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// Whether to watch at all.
    pub enabled: bool,
    /// Wait for this long without events before auditing.
    pub quiet: Duration,
    /// But never wait longer than this after the first event.
    pub max_delay: Duration,
}

/// What a drift PR does with one class of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrAction {
    /// Write the live value back into Git (accept the drift).
    Adopt,
    /// Only describe it in the PR body.
    ReportOnly,
}

/// Drift pull requests.
#[derive(Debug, Clone, PartialEq)]
pub struct PrConfig {
    /// Whether to open PRs at all (off: metrics and logs only).
    pub enabled: bool,
    /// Branch PRs target.
    pub base_branch: String,
    /// Labels put on every PR.
    pub labels: Vec<String>,
    /// At most this many flotilla PRs open at once.
    pub max_open: u32,
    /// Per finding class; classes not listed are `report-only`.
    pub actions: BTreeMap<FindingClass, PrAction>,
    /// The GitHub API.
    pub github: Option<GitHubConfig>,
}

/// GitHub API access.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubConfig {
    /// API base URL (`https://api.github.com`, or a GHES `…/api/v3`);
    /// `http://` only to a loopback host.
    pub url: String,
    /// Credentials.
    pub auth: GitHubAuthRef,
}

/// GitHub credentials, by reference: where they are, never their value
/// (flotilla-repos' `GitHubAuth` holds the value, read at the last moment).
#[derive(Debug, Clone, PartialEq)]
pub enum GitHubAuthRef {
    /// A token (PAT or fine-grained).
    Token(SecretSource),
    /// A GitHub App installation.
    App {
        /// App id.
        app_id: u64,
        /// PEM private key file.
        key_file: PathBuf,
        /// Installation id.
        installation_id: u64,
    },
}

impl ServeConfig {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<ServeConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        ServeConfig::parse(&text, path)
    }

    /// Check config text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ServeConfig, Error> {
        let spec: SpecConfig = serde_saphyr::from_str(text).map_err(|e| parse_error(&e, path))?;
        spec.check(&Ctx { path })
    }
}

fn parse_error(err: &serde_saphyr::Error, path: &Path) -> Error {
    let message = serde_saphyr::DefaultMessageFormatter
        .format_message(err)
        .into_owned();
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    Error::Parse {
        path: path.to_owned(),
        line,
        column,
        field: named_field(&message).unwrap_or("?").to_owned(),
        message,
    }
}

/// serde names the field in backticks: "unknown field `foo`, expected …".
fn named_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Where errors point.
struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn invalid<T>(
        &self,
        line: u64,
        field: impl Into<String>,
        message: impl fmt::Display,
    ) -> Result<T, Error> {
        Err(Error::Invalid {
            path: self.path.to_owned(),
            line,
            field: field.into(),
            message: message.to_string(),
        })
    }

    fn duration(&self, value: &Spanned<String>, field: &str) -> Result<Duration, Error> {
        // One grammar for every duration flotilla reads: Go's, plus `d`
        // (flotilla_core::duration), as the fleet spec checks it.
        let parsed = match flotilla_core::duration::parse(&value.value) {
            Ok(d) if d.is_zero() => Err(ParseError::ZeroDuration),
            Ok(d) => Ok(d),
            Err(_) => Err(ParseError::Duration(value.value.clone())),
        };
        parsed.or_else(|e| self.invalid(value.referenced.line(), field, e))
    }

    fn optional_duration(
        &self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, Error> {
        value
            .as_ref()
            .map_or(Ok(default), |v| self.duration(v, field))
    }

    /// Exactly one of `file`/`env`, or neither.
    fn secret(
        &self,
        file: &Option<Spanned<PathBuf>>,
        env: &Option<Spanned<String>>,
        field: &str,
    ) -> Result<Option<SecretSource>, Error> {
        match (file, env) {
            (Some(_), Some(e)) => self.invalid(
                e.referenced.line(),
                field,
                "set either a file or an env variable, not both",
            ),
            (Some(f), None) => Ok(Some(SecretSource::File(f.value.clone()))),
            (None, Some(e)) if e.value.is_empty() => {
                self.invalid(e.referenced.line(), field, "env variable name is empty")
            }
            (None, Some(e)) => Ok(Some(SecretSource::Env(e.value.clone()))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecConfig {
    repo: SpecRepo,
    clusters: Spanned<Vec<SpecCluster>>,
    #[serde(default)]
    schedule: Option<Spanned<SpecSchedule>>,
    #[serde(default)]
    watch: Option<SpecWatch>,
    #[serde(default)]
    pr: Option<SpecPr>,
    #[serde(default)]
    ignore_file: Option<PathBuf>,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    audit_timeout: Option<Spanned<String>>,
    #[serde(default)]
    backoff: Option<SpecBackoff>,
    #[serde(default)]
    leader_election: Option<Spanned<SpecLeaderElection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecLeaderElection {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    lease_name: Option<Spanned<String>>,
    #[serde(default)]
    namespace: Option<Spanned<String>>,
    #[serde(default)]
    lease_duration: Option<Spanned<String>>,
    #[serde(default)]
    renew_deadline: Option<Spanned<String>>,
    #[serde(default)]
    retry_period: Option<Spanned<String>>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    kubeconfig: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecRepo {
    url: Spanned<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    auth: Option<Spanned<SpecGitAuth>>,
    #[serde(default)]
    checkout_dir: Option<PathBuf>,
    #[serde(default)]
    allow_remote_bases: bool,
    #[serde(default)]
    sops_age_key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecGitAuth {
    #[serde(default)]
    ssh_key_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    known_hosts_file: Option<PathBuf>,
    #[serde(default)]
    token_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    token_env: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecCluster {
    name: Spanned<String>,
    #[serde(default)]
    in_cluster: bool,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    kubeconfig: Option<PathBuf>,
    #[serde(default)]
    entry: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecSchedule {
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    cron: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecWatch {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    quiet: Option<Spanned<String>>,
    #[serde(default)]
    max_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecPr {
    #[serde(default)]
    enabled: Option<Spanned<bool>>,
    #[serde(default)]
    base_branch: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    max_open: Option<u32>,
    #[serde(default)]
    actions: Option<SpecActions>,
    #[serde(default)]
    github: Option<SpecGitHub>,
}

/// One optional action per finding class, so a misspelt class is an
/// unknown-field error rather than silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecActions {
    #[serde(default)]
    modified: Option<PrAction>,
    #[serde(default)]
    missing: Option<PrAction>,
    #[serde(default)]
    unmanaged: Option<PrAction>,
    #[serde(default)]
    flux_unhealthy: Option<PrAction>,
    #[serde(default)]
    flux_suspended: Option<PrAction>,
    #[serde(default)]
    flux_stale: Option<PrAction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecGitHub {
    #[serde(default)]
    url: Option<Spanned<String>>,
    auth: Spanned<SpecGitHubAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecGitHubAuth {
    #[serde(default)]
    token_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    token_env: Option<Spanned<String>>,
    #[serde(default)]
    app_id: Option<u64>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    installation_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecBackoff {
    #[serde(default)]
    initial: Option<Spanned<String>>,
    #[serde(default)]
    max: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

impl SpecConfig {
    fn check(self, ctx: &Ctx<'_>) -> Result<ServeConfig, Error> {
        let listen = self.listen.as_ref().map_or(
            Ok(DEFAULT_LISTEN.parse().expect("valid default")),
            |l| {
                l.value.parse().or_else(|e| {
                    ctx.invalid(
                        l.referenced.line(),
                        "listen",
                        format_args!("{e}: expected host:port"),
                    )
                })
            },
        )?;
        let defaults = RetryPolicy::service();
        let backoff = match &self.backoff {
            None => defaults,
            Some(b) => RetryPolicy {
                base_delay: ctx.optional_duration(
                    &b.initial,
                    "backoff.initial",
                    defaults.base_delay,
                )?,
                max_delay: ctx.optional_duration(&b.max, "backoff.max", defaults.max_delay)?,
                ..defaults
            },
        };
        Ok(ServeConfig {
            repo: self.repo.check(ctx)?,
            clusters: check_clusters(&self.clusters, ctx)?,
            schedule: check_schedule(self.schedule.as_ref(), ctx)?,
            watch: check_watch(self.watch.as_ref(), ctx)?,
            pr: check_pr(self.pr, ctx)?,
            ignore_file: self.ignore_file,
            listen,
            audit_timeout: ctx.optional_duration(
                &self.audit_timeout,
                "auditTimeout",
                Duration::from_secs(300),
            )?,
            backoff,
            leader_election: check_leader_election(self.leader_election.as_ref(), ctx)?,
        })
    }
}

impl SpecRepo {
    fn check(self, ctx: &Ctx<'_>) -> Result<RepoConfig, Error> {
        let url = self.url.value.trim().to_owned();
        if url.is_empty() {
            return ctx.invalid(self.url.referenced.line(), "repo.url", "must not be empty");
        }
        // The same rules as `--repo` and the git client itself
        // (flotilla_repos::remote): no credentials in any spelling, an SSH
        // user name only.
        if let Err(e) = check_git_url(&url) {
            return ctx.invalid(
                self.url.referenced.line(),
                "repo.url",
                format_args!("{e}; use repo.auth.tokenFile or tokenEnv"),
            );
        }
        let auth = match &self.auth {
            None => None,
            Some(a) => check_git_auth(a, ctx)?,
        };
        if let Some(GitAuthRef::Token(_)) = &auth
            && let Err(e) = token_may_travel(&url)
        {
            return ctx.invalid(self.url.referenced.line(), "repo.url", e);
        }
        Ok(RepoConfig {
            url,
            branch: self.branch.unwrap_or_else(|| "main".into()),
            auth,
            checkout_dir: self
                .checkout_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/flotilla/checkout")),
            allow_remote_bases: self.allow_remote_bases,
            sops_age_key_file: self.sops_age_key_file,
        })
    }
}

fn check_git_auth(auth: &Spanned<SpecGitAuth>, ctx: &Ctx<'_>) -> Result<Option<GitAuthRef>, Error> {
    let line = auth.referenced.line();
    let a = &auth.value;
    let token = ctx.secret(&a.token_file, &a.token_env, "repo.auth")?;
    match (&a.ssh_key_file, token) {
        (Some(_), Some(_)) => ctx.invalid(
            line,
            "repo.auth",
            "set either sshKeyFile or a token, not both",
        ),
        (Some(k), None) => Ok(Some(GitAuthRef::SshKey {
            key_file: k.value.clone(),
            known_hosts_file: a.known_hosts_file.clone(),
        })),
        (None, Some(t)) => Ok(Some(GitAuthRef::Token(t))),
        (None, None) => ctx.invalid(
            line,
            "repo.auth",
            "set sshKeyFile, tokenFile or tokenEnv (or drop auth)",
        ),
    }
}

fn check_clusters(
    clusters: &Spanned<Vec<SpecCluster>>,
    ctx: &Ctx<'_>,
) -> Result<Vec<ClusterConfig>, Error> {
    if clusters.value.is_empty() {
        return ctx.invalid(
            clusters.referenced.line(),
            "clusters",
            "list at least one cluster",
        );
    }
    let mut seen = BTreeSet::new();
    clusters
        .value
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let line = c.name.referenced.line();
            let name = c.name.value.trim();
            if name.is_empty() {
                return ctx.invalid(line, format!("clusters[{i}].name"), "must not be empty");
            }
            if !seen.insert(name.to_owned()) {
                return ctx.invalid(
                    line,
                    format!("clusters[{i}].name"),
                    format_args!("cluster {name} is listed twice"),
                );
            }
            let target = match (c.in_cluster, &c.context, &c.kubeconfig) {
                (true, None, None) => ClusterTarget::InCluster,
                (true, _, _) => {
                    return ctx.invalid(
                        line,
                        format!("clusters[{i}].inCluster"),
                        "inCluster cannot be combined with context or kubeconfig",
                    );
                }
                (false, None, None) => {
                    return ctx.invalid(
                        line,
                        format!("clusters[{i}]"),
                        format_args!(
                            "cluster {name}: set inCluster: true, or context and/or kubeconfig"
                        ),
                    );
                }
                (false, context, kubeconfig) => ClusterTarget::Kubeconfig {
                    context: context.clone(),
                    kubeconfig: kubeconfig.clone(),
                },
            };
            Ok(ClusterConfig {
                name: name.to_owned(),
                target,
                entry: c
                    .entry
                    .clone()
                    .unwrap_or_else(|| format!("clusters/{name}")),
            })
        })
        .collect()
}

fn check_schedule(
    schedule: Option<&Spanned<SpecSchedule>>,
    ctx: &Ctx<'_>,
) -> Result<Schedule, Error> {
    let Some(s) = schedule else {
        return Ok(Schedule {
            interval: Some(DEFAULT_INTERVAL),
            cron: None,
        });
    };
    let interval = s
        .value
        .interval
        .as_ref()
        .map(|i| ctx.duration(i, "schedule.interval"))
        .transpose()?;
    let cron = s
        .value
        .cron
        .as_ref()
        .map(|c| {
            Cron::parse(&c.value)
                .or_else(|e: ParseError| ctx.invalid(c.referenced.line(), "schedule.cron", e))
        })
        .transpose()?;
    if interval.is_none() && cron.is_none() {
        return ctx.invalid(
            s.referenced.line(),
            "schedule",
            "set interval, cron or both",
        );
    }
    Ok(Schedule { interval, cron })
}

fn check_watch(watch: Option<&SpecWatch>, ctx: &Ctx<'_>) -> Result<WatchConfig, Error> {
    let quiet = ctx.optional_duration(
        &watch.and_then(|w| w.quiet.clone()),
        "watch.quiet",
        Duration::from_secs(2),
    )?;
    let max_delay = ctx.optional_duration(
        &watch.and_then(|w| w.max_delay.clone()),
        "watch.maxDelay",
        Duration::from_secs(10),
    )?;
    if let Some(m) = watch.and_then(|w| w.max_delay.as_ref())
        && max_delay < quiet
    {
        return ctx.invalid(
            m.referenced.line(),
            "watch.maxDelay",
            "must be at least watch.quiet",
        );
    }
    Ok(WatchConfig {
        enabled: watch.is_none_or(|w| w.enabled),
        quiet,
        max_delay,
    })
}

fn check_leader_election(
    spec: Option<&Spanned<SpecLeaderElection>>,
    ctx: &Ctx<'_>,
) -> Result<LeaderElectionConfig, Error> {
    let defaults = LeaderElectionConfig::default();
    let Some(spec) = spec else {
        return Ok(defaults);
    };
    let line = spec.referenced.line();
    let le = &spec.value;
    let name = |value: &Option<Spanned<String>>, field: &str, default: &str, max: usize| {
        let Some(v) = value else {
            return Ok(default.to_owned());
        };
        if is_dns_name(&v.value, max) {
            Ok(v.value.clone())
        } else {
            ctx.invalid(
                v.referenced.line(),
                field,
                format_args!(
                    "{:?} is not a Kubernetes name (lower-case letters, digits, '-' and '.', \
                     starting and ending with a letter or digit, at most {max} characters)",
                    v.value
                ),
            )
        }
    };
    // A Lease name is a DNS subdomain, a namespace a DNS label
    // (kubernetes apimachinery `validation.IsDNS1123Subdomain` / `IsDNS1123Label`).
    let lease_name = name(
        &le.lease_name,
        "leaderElection.leaseName",
        &defaults.lease_name,
        253,
    )?;
    let namespace = name(
        &le.namespace,
        "leaderElection.namespace",
        &defaults.namespace,
        63,
    )?;
    if namespace.contains('.') {
        return ctx.invalid(
            le.namespace.as_ref().map_or(line, |n| n.referenced.line()),
            "leaderElection.namespace",
            "a namespace name has no '.'",
        );
    }
    let whole_seconds = |value: &Option<Spanned<String>>, field: &str, default: Duration| {
        let d = ctx.optional_duration(value, field, default)?;
        if d.is_zero() || d.subsec_nanos() != 0 {
            return ctx.invalid(
                value.as_ref().map_or(line, |v| v.referenced.line()),
                field,
                "must be a whole number of seconds, at least 1s (the Lease records seconds)",
            );
        }
        Ok(d)
    };
    let lease_duration = whole_seconds(
        &le.lease_duration,
        "leaderElection.leaseDuration",
        defaults.lease_duration,
    )?;
    let retry_period = whole_seconds(
        &le.retry_period,
        "leaderElection.retryPeriod",
        defaults.retry_period,
    )?;
    let renew_deadline = ctx.optional_duration(
        &le.renew_deadline,
        "leaderElection.renewDeadline",
        defaults.renew_deadline,
    )?;
    // client-go refuses the same orders (k8s.io/client-go
    // tools/leaderelection/leaderelection.go, NewLeaderElector): the leader
    // must renew more often than its deadline, and stop writing before a
    // standby may take the Lease.
    if retry_period >= renew_deadline || renew_deadline >= lease_duration {
        let at = le
            .renew_deadline
            .as_ref()
            .or(le.retry_period.as_ref())
            .or(le.lease_duration.as_ref())
            .map_or(line, |v| v.referenced.line());
        return ctx.invalid(
            at,
            "leaderElection.renewDeadline",
            format_args!(
                "need retryPeriod < renewDeadline < leaseDuration, got {}s, {}s, {}s",
                retry_period.as_secs_f64(),
                renew_deadline.as_secs_f64(),
                lease_duration.as_secs_f64()
            ),
        );
    }
    Ok(LeaderElectionConfig {
        enabled: le.enabled,
        lease_name,
        namespace,
        lease_duration,
        renew_deadline,
        retry_period,
        context: le.context.clone(),
        kubeconfig: le.kubeconfig.clone(),
    })
}

/// RFC 1123 name: lower-case alphanumerics, `-` and `.`, alphanumeric at
/// both ends, at most `max` characters.
fn is_dns_name(name: &str, max: usize) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

fn check_pr(pr: Option<SpecPr>, ctx: &Ctx<'_>) -> Result<PrConfig, Error> {
    let Some(pr) = pr else {
        return Ok(PrConfig {
            enabled: false,
            base_branch: "main".into(),
            labels: vec![],
            max_open: 10,
            actions: BTreeMap::new(),
            github: None,
        });
    };
    let github = pr
        .github
        .as_ref()
        .map(|g| check_github(g, ctx))
        .transpose()?;
    let enabled = pr.enabled.as_ref().is_some_and(|e| e.value);
    if let Some(e) = &pr.enabled
        && e.value
        && github.is_none()
    {
        return ctx.invalid(
            e.referenced.line(),
            "pr.enabled",
            "pull requests need pr.github",
        );
    }
    Ok(PrConfig {
        enabled,
        base_branch: pr.base_branch.unwrap_or_else(|| "main".into()),
        labels: pr.labels,
        max_open: pr.max_open.unwrap_or(10),
        actions: pr.actions.map(SpecActions::into_map).unwrap_or_default(),
        github,
    })
}

impl SpecActions {
    fn into_map(self) -> BTreeMap<FindingClass, PrAction> {
        [
            (FindingClass::Modified, self.modified),
            (FindingClass::Missing, self.missing),
            (FindingClass::Unmanaged, self.unmanaged),
            (FindingClass::FluxUnhealthy, self.flux_unhealthy),
            (FindingClass::FluxSuspended, self.flux_suspended),
            (FindingClass::FluxStale, self.flux_stale),
        ]
        .into_iter()
        .filter_map(|(class, action)| action.map(|a| (class, a)))
        .collect()
    }
}

fn check_github(g: &SpecGitHub, ctx: &Ctx<'_>) -> Result<GitHubConfig, Error> {
    let line = g.auth.referenced.line();
    let a = &g.auth.value;
    let token = ctx.secret(&a.token_file, &a.token_env, "pr.github.auth")?;
    let app = (a.app_id, &a.key_file, a.installation_id);
    let auth = match (token, app) {
        (Some(t), (None, None, None)) => GitHubAuthRef::Token(t),
        (None, (Some(app_id), Some(key_file), Some(installation_id))) => GitHubAuthRef::App {
            app_id,
            key_file: key_file.clone(),
            installation_id,
        },
        (Some(_), _) => {
            return ctx.invalid(
                line,
                "pr.github.auth",
                "set either a token or an app, not both",
            );
        }
        (None, _) => {
            return ctx.invalid(
                line,
                "pr.github.auth",
                "set tokenFile, tokenEnv, or all of appId, keyFile and installationId",
            );
        }
    };
    let url = match &g.url {
        None => "https://api.github.com".to_owned(),
        Some(u) => {
            let url = u.value.trim().to_owned();
            if let Err(e) = check_api_url(&url) {
                return ctx.invalid(u.referenced.line(), "pr.github.url", e);
            }
            url
        }
    };
    Ok(GitHubConfig { url, auth })
}
