//! `flotilla preview`: what a change to the GitOps repository does to each cluster.

use flotilla_auditor::audit::{Checkout, LiveTarget};
use flotilla_auditor::preview::run::{PreviewRequest, preview_all_with};
use flotilla_auditor::preview::{PolicyRules, PreviewReport, Validator, print};
use flotilla_auditor::schema::CrdSchemas;
use flotilla_auditor::targets::load_targets;
use flotilla_fleet::{Fleet, Policies, PolicyMode};
use flotilla_repos::github::{GitHubAuth, GitHubClient, GitHubClientConfig, Secret};
use flotilla_repos::pr::{CommitState, GITHUB_BODY_LIMIT, PREVIEW_MARKER};
use flotilla_repos::remote::{check_api_url, scrub_userinfo};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::git_source::{GitSourceArgs, OpenedRepo, checkout_at, repo_urls};
use super::progress::Reporter;
use super::render_args::RenderArgs;
use super::{EXIT_DRIFT, EXIT_ERROR, EXIT_OK, error_chain, fail};

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable.
    Text,
    /// The JSON preview report.
    Json,
    /// The Markdown of the pull-request comment.
    Markdown,
}

/// Show what each cluster will change between two revisions, and whether the
/// head revision breaks a rule.
///
/// Exit status: 0 no change, 1 changes, 2 error or problems in the head revision.
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub git: GitSourceArgs,

    /// Base revision (branch, tag or commit), e.g. the PR's target branch.
    #[arg(long)]
    pub base: String,

    /// Head revision, e.g. the PR's head commit.
    #[arg(long)]
    pub head: String,

    /// Folder of the repository whose sub-folders are the clusters' Flux entry paths.
    #[arg(long, default_value = "clusters")]
    pub clusters_dir: String,

    /// Fleet spec: each cluster's policies (allowed registries, limits, …)
    /// are checked; without it the AKS baseline rules apply, with no registry list.
    #[arg(long)]
    pub fleet: Option<PathBuf>,

    /// CRD files or folders to validate custom resources against (repeatable;
    /// CRDs the repository itself declares are always used).
    #[arg(long = "crds", value_name = "PATH")]
    pub crds: Vec<PathBuf>,

    /// Also compare the head revision with this cluster's live state (kubeconfig context).
    #[arg(long, requires = "cluster")]
    pub context: Option<String>,

    /// … or with a recorded snapshot.
    #[arg(long, requires = "cluster", conflicts_with = "context")]
    pub snapshot: Option<PathBuf>,

    /// The cluster --context or --snapshot belongs to.
    #[arg(long)]
    pub cluster: Option<String>,

    /// Live state for several clusters: a targets file (as for `flotilla audit --targets`).
    #[arg(long, conflicts_with_all = ["context", "snapshot"])]
    pub targets: Option<PathBuf>,

    /// Report format on standard output.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,

    /// Post the preview on this pull request, `owner/repo#N`, as one sticky
    /// comment (edited in place on every run), and set a commit status on the head.
    #[arg(long, value_name = "OWNER/REPO#N")]
    pub github_pr: Option<String>,

    /// GitHub API URL (GitHub Enterprise: `https://HOST/api/v3`); `http://`
    /// only to a loopback host, never with credentials.
    #[arg(long, value_name = "URL")]
    pub github_url: Option<String>,

    /// Environment variable holding the GitHub token.
    #[arg(long, value_name = "VAR", default_value = "GITHUB_TOKEN")]
    pub github_token_env: String,

    #[command(flatten)]
    pub render: RenderArgs,
}

/// Run the preview.
pub async fn run(args: &PreviewArgs) -> ExitCode {
    // The token goes to this URL: https only (or http to loopback), no
    // credentials in it. Checked before any work.
    if let Some(url) = &args.github_url
        && let Err(e) = check_api_url(url)
    {
        return fail(anyhow::anyhow!("--github-url {}: {e}", scrub_userinfo(url)));
    }
    let report = match preview(args).await {
        Ok(r) => r,
        Err(message) => return fail(anyhow::Error::msg(message)),
    };
    if let Err(e) = print_report(&report, args.output) {
        return fail(anyhow::Error::new(e).context("cannot write the report"));
    }
    if let Some(pr) = &args.github_pr
        && let Err(message) = post(&report, pr, args).await
    {
        return fail(anyhow::Error::msg(message));
    }
    for c in &report.clusters {
        for e in &c.errors {
            eprintln!("flotilla: cluster {}: {e}", c.cluster);
        }
    }
    if report.has_problems() {
        ExitCode::from(EXIT_ERROR)
    } else if report.has_changes() {
        ExitCode::from(EXIT_DRIFT)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

async fn preview(args: &PreviewArgs) -> Result<PreviewReport, String> {
    let schemas = load_crds(&args.crds)?;
    let fleet = match &args.fleet {
        Some(path) => Some(flotilla_fleet::load(path).map_err(|e| error_chain(&e))?),
        None => None,
    };
    let live = live_targets(args)?;
    let base = checkout_at(&args.git, Some(&args.base)).map_err(|e| error_chain(&e))?;
    let head = checkout_at(&args.git, Some(&args.head)).map_err(|e| error_chain(&e))?;
    let render = args.render.options(repo_urls(&args.git))?;
    let validator_for = |cluster: &str| Validator {
        schemas: Arc::clone(&schemas),
        policy: policy_for(fleet.as_ref(), cluster),
    };
    let req = PreviewRequest {
        base: &checkout_of(&base),
        head: &checkout_of(&head),
        clusters_dir: &args.clusters_dir,
        render: &render,
        validator_for: &validator_for,
        live: &live,
    };
    let progress = Reporter::for_stderr("previewed");
    let report = preview_all_with(&req, &progress).await;
    progress.finish();
    Ok(report)
}

fn checkout_of(repo: &OpenedRepo) -> Checkout {
    Checkout {
        root: repo.root().to_owned(),
        revision: repo.revision.clone(),
    }
}

/// CRD schemas, shared by every cluster's validator.
fn load_crds(paths: &[PathBuf]) -> Result<Arc<CrdSchemas>, String> {
    let mut schemas = CrdSchemas::new();
    for path in paths {
        schemas.add_path(path).map_err(|e| error_chain(&e))?;
    }
    Ok(Arc::new(schemas))
}

fn policy_for(fleet: Option<&Fleet>, cluster: &str) -> PolicyRules {
    match fleet.and_then(|f| f.cluster(cluster)) {
        Some(c) => rules_of(&c.policies),
        None => PolicyRules::baseline(),
    }
}

fn rules_of(p: &Policies) -> PolicyRules {
    let mut exempt = PolicyRules::baseline().exempt_namespaces;
    exempt.extend(p.exempt_namespaces.iter().cloned());
    PolicyRules {
        allowed_registries: p.allowed_registries.clone(),
        require_limits: true,
        forbid_privileged: p.forbid_privileged,
        forbid_host_path: p.forbid_host_path,
        exempt_namespaces: exempt,
        enforce: p.mode == PolicyMode::Deny,
    }
}

fn live_targets(args: &PreviewArgs) -> Result<BTreeMap<String, LiveTarget>, String> {
    if let Some(file) = &args.targets {
        let targets = load_targets(file).map_err(|e| error_chain(&e))?;
        return Ok(targets.into_iter().map(|t| (t.name, t.live)).collect());
    }
    let Some(cluster) = &args.cluster else {
        return Ok(BTreeMap::new());
    };
    let live = match (&args.snapshot, &args.context) {
        (Some(dir), _) => LiveTarget::Snapshot(dir.clone()),
        (None, Some(ctx)) => LiveTarget::Cluster {
            context: Some(ctx.clone()),
            kubeconfig: None,
        },
        (None, None) => return Ok(BTreeMap::new()),
    };
    Ok(BTreeMap::from([(cluster.clone(), live)]))
}

fn print_report(report: &PreviewReport, output: Output) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output {
        Output::Text => print::text(report, &mut out)?,
        Output::Json => print::json(report, &mut out)?,
        Output::Markdown => writeln!(out, "{}", print::markdown(report, GITHUB_BODY_LIMIT))?,
    }
    out.flush()
}

/// `owner/repo#N` → (owner, repo, N).
fn parse_pr_ref(s: &str) -> Option<(String, String, u64)> {
    let (repo_part, number) = s.rsplit_once('#')?;
    let (owner, repo) = repo_part.split_once('/')?;
    let n = number.parse().ok()?;
    (!owner.is_empty() && !repo.is_empty()).then(|| (owner.to_owned(), repo.to_owned(), n))
}

/// The sticky comment and the commit status.
async fn post(report: &PreviewReport, pr: &str, args: &PreviewArgs) -> Result<(), String> {
    let (owner, repo, number) =
        parse_pr_ref(pr).ok_or_else(|| format!("--github-pr {pr}: expected OWNER/REPO#NUMBER"))?;
    let token = std::env::var(&args.github_token_env)
        .map_err(|_| format!("--github-pr needs a token in ${}", args.github_token_env))?;
    let mut cfg = GitHubClientConfig::new(owner, repo, GitHubAuth::Token(Secret::from(token)));
    cfg.api_url = args.github_url.clone();
    let client = GitHubClient::new(&cfg).map_err(|e| error_chain(&e))?;
    let room = GITHUB_BODY_LIMIT - PREVIEW_MARKER.len() - 1;
    let body = print::markdown(report, room);
    client
        .upsert_sticky_comment(number, PREVIEW_MARKER, &body)
        .await
        .map_err(|e| format!("comment on {pr}: {}", error_chain(&e)))?;
    let Some(sha) = report.head.rsplit_once("sha1:").map(|(_, h)| h.to_owned()) else {
        return Err("head revision has no commit to set a status on".into());
    };
    let (state, description) = status_of(report);
    client
        .set_commit_status(&sha, state, "flotilla/preview", &description, None)
        .await
        .map_err(|e| format!("commit status on {sha}: {}", error_chain(&e)))?;
    Ok(())
}

fn status_of(report: &PreviewReport) -> (CommitState, String) {
    let problems: usize = report
        .clusters
        .iter()
        .map(|c| c.new_problems().count() + c.errors.len())
        .sum();
    let changed = report
        .clusters
        .iter()
        .filter(|c| !c.changes.is_empty())
        .count();
    if problems > 0 {
        (
            CommitState::Failure,
            format!("{problems} problem(s) in the head revision"),
        )
    } else {
        (
            CommitState::Success,
            format!("{changed} cluster(s) change, no problems"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_references_parse() {
        assert_eq!(
            parse_pr_ref("contoso/fleet-gitops#42"),
            Some(("contoso".into(), "fleet-gitops".into(), 42))
        );
        assert_eq!(parse_pr_ref("contoso#42"), None);
        assert_eq!(parse_pr_ref("contoso/fleet#x"), None);
    }
}
