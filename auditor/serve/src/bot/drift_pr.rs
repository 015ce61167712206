//! One drift pull request per cluster, kept in step with the last audit.
//!
//! The PR lives on a deterministic branch (`flotilla/drift/<cluster>`) so a
//! restarted bot finds its own work again, and every piece of it is derived
//! from the audit alone (no clock): the same drift produces the same tree,
//! body and fingerprint, so an unchanged cluster costs a few reads and no
//! writes. Three situations:
//!
//! - drift, branch ours: commit the adoption edits on top of the audited
//!   commit, force-push when the tree changed, open or update the PR;
//! - drift, a person pushed to the branch: never force-push over their work;
//!   keep the body current and say so in one comment (edited, not repeated,
//!   when the drift changes);
//! - no drift: close the cluster's PR with a comment naming the revision.
//!
//! Every write (the push, opening or updating the PR, the comment, closing
//! it) is preceded by the leadership fence ([`Leadership::fence`]): with
//! several replicas, a replica that lost the Lease stops before its next
//! write. Reads (finding the PR, its commits) need no fence.
//!
//! When nothing can be adopted (every class report-only, or only findings a
//! person must handle), the commit holds `flotilla-drift/REPORT.md` instead:
//! GitHub needs a difference to open a PR, and an issue would be a second
//! kind of artefact to find, dedupe and close. The file is Markdown, so
//! kustomize never reads it and merging it changes nothing in the cluster.
//!
//! The findings table lists the drifts that stay until someone acts first
//! (and Flux health, which is why they may stay), then those the next Flux
//! reconciliation undoes by itself (see `flotilla_core::diff::reverts`):
//! a reviewer reads what needs a decision before what will heal anyway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{PrAction, PrConfig};
use crate::leader::{Leadership, NotLeader};
use flotilla_core::adopt::{self, Action, Actions, AdoptInput, Adoption, DRIFT_DIR};
use flotilla_core::findings::{ClusterReport, Finding, FindingClass, REPORT_VERSION, Report};
use flotilla_core::report::markdown;
use flotilla_live::Live;
use flotilla_render::Desired;
use flotilla_repos::branch::{self, BranchCommit, BranchUpdate, Identity};
use flotilla_repos::git::{self, GitAuth};
use flotilla_repos::github::{self, GitHubClient};
use flotilla_repos::pr::{BotIdentity, PrOutcome, PrSpec};
use sha2::{Digest, Sha256};

/// Marks the one comment that says the bot stopped pushing.
pub const HELD_MARKER: &str = "<!-- flotilla:drift-held -->";

/// Why a cluster's drift PR could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A GitHub call failed (after the client's own retries).
    #[error("cluster {cluster}: github call failed")]
    Github {
        /// Cluster.
        cluster: String,
        /// Cause (boxed: GitHub errors are large).
        #[source]
        source: Box<github::Error>,
    },
    /// The drift commit could not be built or the remote branch read.
    #[error("cluster {cluster}: cannot build the drift branch")]
    Branch {
        /// Cluster.
        cluster: String,
        /// Cause.
        #[source]
        source: branch::Error,
    },
    /// The drift branch could not be pushed.
    #[error("cluster {cluster}: cannot push branch {branch}")]
    Push {
        /// Cluster.
        cluster: String,
        /// Branch.
        branch: String,
        /// Cause (scrubbed of credentials).
        #[source]
        source: git::Error,
    },
    /// A file of the checkout could not be read.
    #[error("cluster {cluster}: cannot read {}", path.display())]
    Read {
        /// Cluster.
        cluster: String,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The audited revision has no commit id (`…@sha1:<hex>`).
    #[error("cluster {cluster}: revision {revision:?} names no commit")]
    Revision {
        /// Cluster.
        cluster: String,
        /// The revision.
        revision: Option<String>,
    },
    /// This replica is no longer the leader: the write was not made.
    #[error("cluster {cluster}: not writing")]
    NotLeader {
        /// Cluster.
        cluster: String,
        /// Why.
        #[source]
        source: NotLeader,
    },
}

/// What was done for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Drift, and GitHub shows it as this PR outcome; `pushed` says whether
    /// a new commit went to the branch.
    Pr {
        /// What happened to the PR.
        outcome: PrOutcome,
        /// Whether the branch was force-pushed.
        pushed: bool,
    },
    /// Drift, but a person pushed to the branch: not pushed, commented.
    Held(u64),
    /// No drift; this PR was closed.
    Closed(u64),
    /// No drift and no PR.
    Clean,
    /// The audit was incomplete and found nothing: the drift may still be
    /// there, so an open PR is left alone.
    Incomplete,
}

/// Everything shared by the clusters of one publish.
#[derive(Debug)]
pub struct Context<'a> {
    /// GitHub, bound to the GitOps repository.
    pub client: &'a GitHubClient,
    /// The checkout the audit read (its object database takes the commit).
    pub repo_dir: &'a Path,
    /// Credentials for the push.
    pub push_auth: &'a GitAuth,
    /// The `pr` section of the config.
    pub pr: &'a PrConfig,
    /// Who the bot commits as.
    pub identity: &'a Identity,
    /// Checked right before every write.
    pub leadership: &'a Leadership,
}

/// The fence before one write of `cluster`'s PR.
async fn fence(ctx: &Context<'_>, cluster: &str) -> Result<(), Error> {
    ctx.leadership
        .fence()
        .await
        .map_err(|source| Error::NotLeader {
            cluster: cluster.to_owned(),
            source,
        })
}

/// One cluster's last audit, as adoption needs it.
#[derive(Debug, Clone, Copy)]
pub struct ClusterDrift<'a> {
    /// The report being published.
    pub report: &'a ClusterReport,
    /// Repository-relative Flux entry path.
    pub entry: &'a str,
    /// Desired state the report was computed from.
    pub desired: &'a Desired,
    /// Live state the report was computed from.
    pub live: &'a Live,
}

/// The drift branch and PR title of a cluster.
pub fn pr_title(cluster: &str) -> String {
    format!("flotilla: drift in {cluster}")
}

/// Bring `drift.report.cluster`'s PR in line with its report.
pub async fn publish_cluster(
    ctx: &Context<'_>,
    drift: &ClusterDrift<'_>,
) -> Result<Published, Error> {
    let cluster = drift.report.cluster.as_str();
    let gh = |source| Error::Github {
        cluster: cluster.to_owned(),
        source: Box::new(source),
    };
    let branch = PrSpec::drift_branch(cluster);
    let title = pr_title(cluster);
    if drift.report.findings.is_empty() {
        return close_if_gone(ctx, drift.report, &branch, &title).await;
    }
    let parent = commit_of(drift.report)?;
    let adoption = adopt_drift(ctx, drift)?;
    let fingerprint = fingerprint(&drift.report.findings);
    let existing = ctx.client.find_pr(&branch, &title).await.map_err(gh)?;
    let held = is_held(
        ctx,
        existing.as_ref().map(|p| p.number),
        &branch,
        &parent,
        cluster,
    )
    .await?;
    let pushed = if held {
        false
    } else {
        let edits = edits_for(drift, &adoption);
        commit_and_push(ctx, cluster, &branch, &parent, &edits).await?
    };
    let spec = PrSpec {
        cluster: cluster.to_owned(),
        branch,
        base: ctx.pr.base_branch.clone(),
        title,
        body: pr_body(drift.report, &adoption),
        labels: ctx.pr.labels.clone(),
        fingerprint,
    };
    let max_open = usize::try_from(ctx.pr.max_open).unwrap_or(usize::MAX);
    fence(ctx, cluster).await?;
    let outcome = ctx
        .client
        .open_or_update_pr(&spec, max_open)
        .await
        .map_err(gh)?;
    match (held, number_of(outcome)) {
        (true, Some(number)) => comment_held(ctx, &spec, number).await,
        _ => Ok(Published::Pr { outcome, pushed }),
    }
}

/// Say once (per drift) that a person holds the branch.
async fn comment_held(ctx: &Context<'_>, spec: &PrSpec, number: u64) -> Result<Published, Error> {
    let text = held_comment(&spec.fingerprint);
    fence(ctx, &spec.cluster).await?;
    ctx.client
        .upsert_sticky_comment(number, HELD_MARKER, &text)
        .await
        .map_err(|source| Error::Github {
            cluster: spec.cluster.clone(),
            source: Box::new(source),
        })?;
    tracing::info!(
        cluster = %spec.cluster,
        number,
        "a person pushed to the drift branch: commented, not pushed"
    );
    Ok(Published::Held(number))
}

/// No findings: close the PR, unless the audit was incomplete.
async fn close_if_gone(
    ctx: &Context<'_>,
    report: &ClusterReport,
    branch: &str,
    title: &str,
) -> Result<Published, Error> {
    if !report.errors.is_empty() {
        return Ok(Published::Incomplete);
    }
    let gh = |source| Error::Github {
        cluster: report.cluster.clone(),
        source: Box::new(source),
    };
    let Some(pr) = ctx.client.find_pr(branch, title).await.map_err(gh)? else {
        return Ok(Published::Clean);
    };
    let revision = report.revision.as_deref().unwrap_or("the audited revision");
    let comment = format!("drift is gone at {revision}");
    fence(ctx, &report.cluster).await?;
    ctx.client.close_pr(pr.number, &comment).await.map_err(gh)?;
    tracing::info!(cluster = %report.cluster, number = pr.number, "drift gone: closed the pr");
    Ok(Published::Closed(pr.number))
}

fn number_of(outcome: PrOutcome) -> Option<u64> {
    match outcome {
        PrOutcome::Opened(n) | PrOutcome::Updated(n) | PrOutcome::Unchanged(n) => Some(n),
        PrOutcome::CapReached => None,
    }
}

/// The commit id in `…@sha1:<hex>`.
fn commit_of(report: &ClusterReport) -> Result<String, Error> {
    report
        .revision
        .as_deref()
        .and_then(|r| r.rsplit_once("sha1:"))
        .map(|(_, hex)| hex.to_owned())
        .filter(|hex| hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| Error::Revision {
            cluster: report.cluster.clone(),
            revision: report.revision.clone(),
        })
}

/// Whether a person pushed to the branch: GitHub says so for the PR's
/// commits, or the branch as fetched holds a commit the bot did not make.
async fn is_held(
    ctx: &Context<'_>,
    pr: Option<u64>,
    branch: &str,
    parent: &str,
    cluster: &str,
) -> Result<bool, Error> {
    let bot = BotIdentity {
        login: None,
        email: ctx.identity.email.clone(),
    };
    if let Some(number) = pr {
        let human = ctx
            .client
            .human_pushed(number, &bot)
            .await
            .map_err(|source| Error::Github {
                cluster: cluster.to_owned(),
                source: Box::new(source),
            })?;
        if human {
            return Ok(true);
        }
    }
    let (dir, branch, parent, email) = (
        ctx.repo_dir.to_owned(),
        branch.to_owned(),
        parent.to_owned(),
        bot.email,
    );
    blocking(move || branch::foreign_commits_on(&dir, &branch, &parent, &email))
        .await
        .map_err(|source| Error::Branch {
            cluster: cluster.to_owned(),
            source,
        })
}

/// Commit the edits as the branch and push it if it changed; `true` when
/// pushed.
async fn commit_and_push(
    ctx: &Context<'_>,
    cluster: &str,
    branch_name: &str,
    parent: &str,
    edits: &BTreeMap<String, String>,
) -> Result<bool, Error> {
    let message = format!(
        "flotilla: adopt drift in {cluster}\n\nWritten by flotilla serve from the audit of {parent}."
    );
    let (dir, identity, branch, parent, edits) = (
        ctx.repo_dir.to_owned(),
        ctx.identity.clone(),
        branch_name.to_owned(),
        parent.to_owned(),
        edits.clone(),
    );
    let update = blocking(move || {
        branch::commit_edits(
            &dir,
            &BranchCommit {
                branch: &branch,
                parent: &parent,
                edits: &edits,
                message: &message,
                identity: &identity,
            },
        )
    })
    .await
    .map_err(|source| Error::Branch {
        cluster: cluster.to_owned(),
        source,
    })?;
    let BranchUpdate::Created(sha) = update else {
        return Ok(false);
    };
    fence(ctx, cluster).await?;
    let (dir, auth, branch) = (
        ctx.repo_dir.to_owned(),
        ctx.push_auth.clone(),
        branch_name.to_owned(),
    );
    blocking(move || git::push_branch(&dir, &branch, true, &auth))
        .await
        .map_err(|source| Error::Push {
            cluster: cluster.to_owned(),
            branch: branch_name.to_owned(),
            source,
        })?;
    tracing::info!(
        cluster,
        branch = branch_name,
        commit = sha,
        "pushed the drift branch"
    );
    Ok(true)
}

/// Run blocking git work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The adoption edits for the configured actions.
fn adopt_drift(ctx: &Context<'_>, drift: &ClusterDrift<'_>) -> Result<Adoption, Error> {
    let cluster = &drift.report.cluster;
    let entry_dir = ctx.repo_dir.join(drift.entry);
    let kustomization_path = entry_dir.join("kustomization.yaml");
    let kustomization = match std::fs::read_to_string(&kustomization_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                cluster: cluster.clone(),
                path: kustomization_path,
                source,
            });
        }
    };
    let entry_files = yaml_files_in(&entry_dir).map_err(|source| Error::Read {
        cluster: cluster.clone(),
        path: entry_dir.clone(),
        source,
    })?;
    Ok(adopt::adopt(&AdoptInput {
        entry: drift.entry,
        kustomization_yaml: kustomization.as_deref(),
        entry_files: &entry_files,
        desired: drift.desired,
        live: drift.live,
        findings: &drift.report.findings,
        actions: &actions_of(ctx.pr),
    }))
}

fn yaml_files_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The config's per-class actions as adoption reads them; classes not
/// listed are report-only.
pub fn actions_of(pr: &PrConfig) -> Actions {
    let action = |class| match pr.actions.get(&class) {
        Some(PrAction::Adopt) => Action::Adopt,
        _ => Action::ReportOnly,
    };
    Actions {
        modified: action(FindingClass::Modified),
        unmanaged: action(FindingClass::Unmanaged),
    }
}

/// What the branch commit holds: the adoption edits, or the report file
/// when nothing could be adopted (see the module doc).
pub fn edits_for(drift: &ClusterDrift<'_>, adoption: &Adoption) -> BTreeMap<String, String> {
    if !adoption.edits.is_empty() {
        return adoption.edits.clone();
    }
    let path = format!("{}/{DRIFT_DIR}/REPORT.md", drift.entry);
    let text = format!(
        "# Drift in {}\n\nNothing here could be adopted into Git; a person has to act.\n\n{}",
        drift.report.cluster,
        report_markdown(drift.report)
    );
    BTreeMap::from([(path, text)])
}

/// The markdown printer's view of one cluster (secrets masked, names
/// escaped by the printer), drifts that stay first.
fn report_markdown(report: &ClusterReport) -> String {
    let mut report = report.clone();
    // Stable: within each half the audit's order (class, kind, name) holds.
    report.findings.sort_by_key(|f| !f.stays());
    let one = Report {
        version: REPORT_VERSION,
        clusters: vec![report],
    };
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = markdown::print(&one, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// PR body: the findings table (drifts that stay first), how many Flux
/// undoes by itself, then what was not adopted and why.
pub fn pr_body(report: &ClusterReport, adoption: &Adoption) -> String {
    let mut body = report_markdown(report);
    let staying = report.findings.iter().filter(|f| f.stays()).count();
    body.push_str(&format!(
        "\n{staying} of {} findings stay until someone acts (listed first); the next Flux reconcile undoes the other {}.\n",
        report.findings.len(),
        report.findings.len() - staying
    ));
    body.push_str(&format!(
        "\n### Adopted into Git\n\n{} of {} findings: merging this PR makes Git match the cluster for them.\n",
        adoption.adopted.len(),
        report.findings.len()
    ));
    if !adoption.not_adopted.is_empty() {
        body.push_str("\n### Not adopted\n\n");
        for (i, reason) in &adoption.not_adopted {
            if let Some(f) = report.findings.get(*i) {
                body.push_str(&format!(
                    "- `{}` {}: {}\n",
                    f.class.as_str(),
                    markdown::escape(&object_name(f)),
                    markdown::escape(reason)
                ));
            }
        }
    }
    body
}

fn object_name(f: &Finding) -> String {
    match &f.namespace {
        Some(ns) => format!("{} {ns}/{}", f.kind, f.name),
        None => format!("{} {}", f.kind, f.name),
    }
}

fn held_comment(fingerprint: &str) -> String {
    format!(
        "Someone other than flotilla pushed to this branch, so flotilla no longer force-pushes it. \
         The description above shows the current drift (fingerprint `{fingerprint}`); \
         delete the branch to let flotilla take it over again."
    )
}

/// Identity of the drift: each finding's class, object, paths and live
/// values (sha256, hex). No time goes in, so the same drift always gives
/// the same fingerprint; sensitive values stay out, so it says nothing
/// about a secret.
pub fn fingerprint(findings: &[Finding]) -> String {
    let mut items: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let paths: Vec<serde_json::Value> = f
                .paths
                .iter()
                .map(|p| {
                    let live = if p.sensitive { None } else { p.live.clone() };
                    serde_json::json!([p.path, live])
                })
                .collect();
            serde_json::json!([
                f.class.as_str(),
                f.api_version,
                f.kind,
                f.namespace,
                f.name,
                paths
            ])
        })
        .collect();
    items.sort_by_key(|v| v.to_string());
    let digest = Sha256::digest(serde_json::Value::Array(items).to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::findings::FieldChange;

    fn finding(name: &str, live: &str, sensitive: bool) -> Finding {
        Finding {
            class: FindingClass::Modified,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("ingress".into()),
            name: name.into(),
            kustomization: None,
            paths: vec![FieldChange {
                path: "/data/x".into(),
                field: "data.x".into(),
                desired: None,
                live: Some(live.into()),
                manager: None,
                time: None,
                sensitive,
                reverts: None,
            }],
            manager: None,
            condition: None,
            reverts: None,
        }
    }

    #[test]
    fn fingerprint_ignores_order_and_secret_values_but_not_live_values() {
        let a = finding("a", "1", false);
        let b = finding("b", "2", false);
        assert_eq!(
            fingerprint(&[a.clone(), b.clone()]),
            fingerprint(&[b, a.clone()])
        );
        assert_ne!(fingerprint(&[a]), fingerprint(&[finding("a", "3", false)]));
        assert_eq!(
            fingerprint(&[finding("s", "one", true)]),
            fingerprint(&[finding("s", "two", true)])
        );
    }

    #[test]
    fn drifts_that_stay_come_first_in_the_body() {
        use flotilla_core::findings::{RevertCode, Reverts};
        let mut healing = finding("a-heals", "1", false);
        healing.paths[0].reverts = Some(Reverts::undone(
            RevertCode::FluxApplies,
            "re-applied",
            Some("10m".into()),
        ));
        let mut staying = finding("z-stays", "2", false);
        staying.paths[0].reverts = Some(Reverts::stays(
            RevertCode::Suspended,
            "Kustomization flux-system/apps is suspended",
        ));
        let report = ClusterReport {
            cluster: "c".into(),
            findings: vec![healing, staying],
            ..ClusterReport::default()
        };
        let adoption = Adoption {
            edits: BTreeMap::new(),
            adopted: vec![],
            not_adopted: vec![(0, "report-only".into())],
        };
        let body = pr_body(&report, &adoption);
        let (stays, heals) = (body.find("z-stays").unwrap(), body.find("a-heals").unwrap());
        assert!(stays < heals, "{body}");
        assert!(
            body.contains("1 of 2 findings stay until someone acts"),
            "{body}"
        );
        // Indices of the adoption still name the audit's findings.
        assert!(
            body.contains("- `modified` ConfigMap ingress/a-heals: report-only"),
            "{body}"
        );
    }

    #[test]
    fn revision_must_name_a_commit() {
        let mut report = ClusterReport {
            cluster: "c".into(),
            revision: Some(format!("main@sha1:{}", "a".repeat(40))),
            ..ClusterReport::default()
        };
        assert_eq!(commit_of(&report).unwrap(), "a".repeat(40));
        report.revision = Some("main".into());
        assert!(matches!(commit_of(&report), Err(Error::Revision { .. })));
    }
}
