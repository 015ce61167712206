//! `flotilla audit`: what differs between Git and the live clusters.

use flotilla_auditor::audit::{self, Checkout, LiveTarget, Target};
use flotilla_auditor::diff::{DiffOptions, IgnoreRules};
use flotilla_auditor::findings::Report;
use flotilla_auditor::report;
use flotilla_auditor::stats::{self, RunStats};
use flotilla_auditor::targets::load_targets;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::git_source::{GitSourceArgs, open_repo, repo_urls};
use super::progress::Reporter;
use super::render_args::RenderArgs;
use super::{EXIT_DRIFT, EXIT_ERROR, EXIT_OK, fail};

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable, grouped by cluster and Kustomization (coloured on a terminal).
    Text,
    /// The stable JSON report (see the README, "Audit report").
    Json,
    /// Markdown tables, as used in pull requests.
    Markdown,
    /// One self-contained HTML page (no scripts, no external files), e.g.
    /// `> report.html` for a CI artifact or an e-mail.
    Html,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// When standard output is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Report where live clusters differ from what the GitOps repository declares.
///
/// Exit status: 0 no drift, 1 drift, 2 error (a cluster could not be audited).
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub git: GitSourceArgs,

    /// Cluster name: names it in the report and gives the default entry path `clusters/<cluster>`.
    #[arg(long)]
    pub cluster: Option<String>,

    /// Flux entry path of the cluster in the repository (default: `clusters/<cluster>`).
    #[arg(long)]
    pub path: Option<String>,

    /// kubeconfig context of the live cluster (default: the current context, or in-cluster config).
    #[arg(long, conflicts_with = "snapshot")]
    pub context: Option<String>,

    /// kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, conflicts_with = "snapshot")]
    pub kubeconfig: Option<PathBuf>,

    /// Read live state from a recorded snapshot directory (see `flotilla snapshot`) instead of a cluster.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,

    /// Audit several clusters concurrently: a YAML file listing clusters with their
    /// context, kubeconfig or snapshot (see examples/targets.yaml).
    #[arg(long, conflicts_with_all = ["cluster", "path", "context", "kubeconfig", "snapshot"])]
    pub targets: Option<PathBuf>,

    /// Ignore file: extra fields that are never drift (JSON pointers per kind/name).
    #[arg(long)]
    pub ignore: Option<PathBuf>,

    /// Report format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,

    /// Colour the text report.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,

    #[command(flatten)]
    pub render: RenderArgs,

    /// Show what the audit cost: render, live read and diff time, kustomize
    /// builds and cache hits, API requests by verb and resource, objects
    /// desired/live/compared, peak memory. A `stats` object in the JSON
    /// report; a short block on stderr for text and Markdown.
    #[arg(long)]
    pub stats: bool,
}

/// Run the audit and print the report.
pub async fn run(args: &AuditArgs) -> ExitCode {
    match audit(args).await {
        Ok((report, stats)) => finish(&report, stats.as_ref(), args),
        Err(message) => fail(&message),
    }
}

async fn audit(args: &AuditArgs) -> Result<(Report, Option<RunStats>), String> {
    let targets = targets_of(args)?;
    let diff_opts = diff_options(args.ignore.as_deref())?;
    let repo = open_repo(&args.git).map_err(|e| e.to_string())?;
    let checkout = Checkout {
        root: repo.root().to_owned(),
        revision: repo.revision.clone(),
    };
    tracing::info!(revision = ?checkout.revision, clusters = targets.len(), "auditing");
    // One cache for every cluster: the repository is staged once, shared
    // paths are built once, kustomize processes share the cores.
    let render = args.render.options(repo_urls(&args.git))?;
    let progress = Reporter::for_stderr("audited");
    let (report, stats) =
        audit::audit_all_with(&checkout, &targets, &render, &diff_opts, &progress).await;
    progress.finish();
    Ok((report, args.stats.then_some(stats)))
}

fn targets_of(args: &AuditArgs) -> Result<Vec<Target>, String> {
    if let Some(file) = &args.targets {
        return load_targets(file).map_err(|e| e.to_string());
    }
    let name = match (&args.cluster, &args.path) {
        (Some(c), _) => c.clone(),
        (None, Some(p)) => last_segment(p),
        (None, None) => return Err("give --cluster, --path or --targets".into()),
    };
    let live = match &args.snapshot {
        Some(dir) => LiveTarget::Snapshot(dir.clone()),
        None => LiveTarget::Cluster {
            context: args.context.clone(),
            kubeconfig: args.kubeconfig.clone(),
        },
    };
    Ok(vec![Target {
        entry: args
            .path
            .clone()
            .unwrap_or_else(|| Target::default_entry(&name)),
        name,
        live,
        hub: None,
    }])
}

fn last_segment(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .to_owned()
}

fn diff_options(ignore: Option<&Path>) -> Result<DiffOptions, String> {
    let ignore = match ignore {
        Some(p) => IgnoreRules::load(p).map_err(|e| e.to_string())?,
        None => IgnoreRules::default(),
    };
    Ok(DiffOptions {
        ignore,
        ..DiffOptions::default()
    })
}

fn finish(report: &Report, stats: Option<&RunStats>, args: &AuditArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out = stdout.lock();
    let printed = match args.output {
        Output::Text => report::text::print(report, &mut out, color),
        Output::Json => report::json::print_with_stats(report, stats, &mut out),
        Output::Markdown => report::markdown::print(report, &mut out),
        Output::Html => report::html::print(report, &mut out),
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        return fail(&format!("cannot write the report: {e}"));
    }
    // JSON carries the figures in the document; the others get them on
    // stderr, so stdout stays the report.
    if let Some(stats) = stats.filter(|_| args.output != Output::Json) {
        let _ = stats::print_text(stats, &mut std::io::stderr().lock());
    }
    for cluster in &report.clusters {
        for error in &cluster.errors {
            eprintln!("flotilla: cluster {}: {error}", cluster.cluster);
        }
    }
    if report.has_errors() {
        ExitCode::from(EXIT_ERROR)
    } else if report.has_drift() {
        ExitCode::from(EXIT_DRIFT)
    } else {
        ExitCode::from(EXIT_OK)
    }
}
