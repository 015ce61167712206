//! Pull-request primitives for the drift and preview bots.
//!
//! Everything here takes plain data (a [`PrSpec`], a marker, a body): the
//! auditor renders the findings, this module only makes GitHub hold exactly
//! one PR per cluster and exactly one preview comment per PR, however often
//! the bot restarts. Two hidden HTML comments make that possible without
//! local state: `<!-- flotilla:fingerprint=… -->` in a PR body says which
//! drift the PR describes (so an unchanged audit edits nothing), and a caller
//! supplied marker such as [`PREVIEW_MARKER`] identifies the sticky comment.

use serde::{Deserialize, Serialize};
use serde_json::json;

use octocrab::models::issues::Comment;
use octocrab::models::pulls::PullRequest;
use octocrab::models::repos::RepoCommit;

use crate::github::{GitHubClient, Result};

/// GitHub rejects issue and PR bodies longer than this many characters.
pub const GITHUB_BODY_LIMIT: usize = 65_536;

/// Marker of the preview bot's sticky comment.
pub const PREVIEW_MARKER: &str = "<!-- flotilla:preview -->";

const FINGERPRINT_PREFIX: &str = "<!-- flotilla:fingerprint=";
const MARKER_SUFFIX: &str = " -->";

/// What the drift bot wants on GitHub for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrSpec {
    /// Cluster the drift belongs to (for messages only).
    pub cluster: String,
    /// Head branch, e.g. `flotilla/drift/<cluster>`; already pushed.
    pub branch: String,
    /// Base branch, e.g. `main`.
    pub base: String,
    /// PR title; also how a PR is recognised when its branch was renamed.
    pub title: String,
    /// Markdown body, without the fingerprint (added here).
    pub body: String,
    /// Labels to put on the PR.
    pub labels: Vec<String>,
    /// Stable digest of the drift; a PR is edited only when it changes or
    /// the body does.
    pub fingerprint: String,
}

impl PrSpec {
    /// The drift bot's branch for a cluster.
    pub fn drift_branch(cluster: &str) -> String {
        format!("flotilla/drift/{cluster}")
    }
}

/// An open pull request as the bots need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrInfo {
    /// PR number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body as on GitHub.
    pub body: String,
    /// Head branch name.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: String,
    /// Fingerprint found in the body, if the bot wrote it.
    pub fingerprint: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
}

/// What [`GitHubClient::open_or_update_pr`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOutcome {
    /// A new PR was opened.
    Opened(u64),
    /// The existing PR's title, body or labels were edited.
    Updated(u64),
    /// The existing PR already said exactly this.
    Unchanged(u64),
    /// No PR exists for this cluster and `max_open` bot PRs are already
    /// open; nothing was created.
    CapReached,
}

/// What [`GitHubClient::upsert_sticky_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentOutcome {
    /// A new comment was posted.
    Created(u64),
    /// The marked comment was edited.
    Updated(u64),
    /// The marked comment already said exactly this.
    Unchanged(u64),
}

/// A commit status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitState {
    /// Still running.
    Pending,
    /// Passed.
    Success,
    /// Failed on its merits (drift, bad preview).
    Failure,
    /// Could not be determined.
    Error,
}

/// The conclusion of a completed check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Informational only.
    Neutral,
}

/// The git identity the bot commits with. A commit on its branch by anyone
/// else means a human took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// GitHub login the commits are linked to, when GitHub links them.
    pub login: Option<String>,
    /// The `user.email` the bot commits with.
    pub email: String,
}

/// One commit of a PR, reduced to who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommit {
    /// Commit id.
    pub sha: String,
    /// Git author name.
    pub author_name: String,
    /// Git author email.
    pub author_email: Option<String>,
    /// Git committer email.
    pub committer_email: Option<String>,
    /// GitHub login linked to the author, if any.
    pub author_login: Option<String>,
    /// GitHub login linked to the committer, if any.
    pub committer_login: Option<String>,
}

impl PrCommit {
    /// True when the bot both wrote and committed this commit.
    pub fn is_by(&self, bot: &BotIdentity) -> bool {
        let email_ok = |e: &Option<String>| {
            e.as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&bot.email))
        };
        let login_ok = |l: &Option<String>| match (l, &bot.login) {
            (Some(l), Some(bot)) => l.eq_ignore_ascii_case(bot),
            _ => true,
        };
        email_ok(&self.author_email)
            && email_ok(&self.committer_email)
            && login_ok(&self.author_login)
            && login_ok(&self.committer_login)
    }
}

#[derive(Serialize)]
struct NewPull<'a> {
    title: &'a str,
    head: &'a str,
    base: &'a str,
    body: &'a str,
}

#[derive(Serialize)]
struct EditPull<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
}

#[derive(Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct NewStatus<'a> {
    state: CommitState,
    context: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<&'a str>,
}

#[derive(Serialize)]
struct NewCheckRun<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: &'static str,
    conclusion: CheckConclusion,
    output: CheckOutput<'a>,
}

#[derive(Serialize)]
struct CheckOutput<'a> {
    title: &'a str,
    summary: &'a str,
}

/// GitHub's answer to a new status or check run; only the id matters.
#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// GitHub's cap on a check run's output summary.
const CHECK_SUMMARY_LIMIT: usize = 65_535;

impl GitHubClient {
    /// The open PR for `branch`, else an open PR the bot wrote with exactly
    /// `title` (found again after the branch naming changed or the head
    /// filter missed it, so a restart never opens a duplicate).
    pub async fn find_pr(&self, branch: &str, title: &str) -> Result<Option<PrInfo>> {
        if let Some(pr) = self.pr_for_branch(branch).await? {
            return Ok(Some(pr));
        }
        Ok(bot_pr_titled(self.open_prs().await?, title))
    }

    /// The open PR whose head is `branch` in this repository: one call.
    async fn pr_for_branch(&self, branch: &str) -> Result<Option<PrInfo>> {
        let head = format!("{}:{branch}", self.owner());
        let query = [("state", "open".to_owned()), ("head", head)];
        let pulls: Vec<PullRequest> = self.get(&self.repo_route("pulls"), &query).await?;
        Ok(pulls
            .into_iter()
            .find(|pr| pr.head.ref_field == branch)
            .map(pr_info))
    }

    /// All open PRs of the repository.
    pub async fn open_prs(&self) -> Result<Vec<PrInfo>> {
        let query = [("state", "open".to_owned())];
        let pulls: Vec<PullRequest> = self.get_all(&self.repo_route("pulls"), &query).await?;
        Ok(pulls.into_iter().map(pr_info).collect())
    }

    /// Make GitHub show `spec`: edit the cluster's PR if its title, body or
    /// fingerprint differ, or open one if there is none and fewer than
    /// `max_open` bot PRs (those carrying a fingerprint) are open. The head
    /// branch must already be pushed.
    ///
    /// Costs one call when nothing changed, and one listing of open PRs
    /// (shared by the title lookup and the cap) before opening.
    pub async fn open_or_update_pr(&self, spec: &PrSpec, max_open: usize) -> Result<PrOutcome> {
        let body = body_with_fingerprint(&spec.body, &spec.fingerprint);
        if let Some(pr) = self.pr_for_branch(&spec.branch).await? {
            return self.update_pr(&pr, spec, &body).await;
        }
        let open = self.open_prs().await?;
        let bot_open = open.iter().filter(|pr| pr.fingerprint.is_some()).count();
        if let Some(pr) = bot_pr_titled(open, &spec.title) {
            return self.update_pr(&pr, spec, &body).await;
        }
        if bot_open >= max_open {
            tracing::info!(cluster = %spec.cluster, max_open, "open pr cap reached, not opening");
            return Ok(PrOutcome::CapReached);
        }
        let new = NewPull {
            title: &spec.title,
            head: &spec.branch,
            base: &spec.base,
            body: &body,
        };
        let number = match self
            .post::<PullRequest, _>(&self.repo_route("pulls"), &new)
            .await
        {
            Ok(pr) => pr.number,
            Err(e) if e.is_already_exists() => return self.adopt_lost_pr(spec, &body, e).await,
            Err(e) => return Err(e),
        };
        self.add_labels(number, &spec.labels).await?;
        tracing::info!(cluster = %spec.cluster, number, "opened drift pr");
        Ok(PrOutcome::Opened(number))
    }

    /// A create that GitHub refused as a duplicate right after no PR was
    /// found: an earlier attempt of this very call created it and its answer
    /// was lost (then retried). Finish the job on that PR instead of failing.
    async fn adopt_lost_pr(
        &self,
        spec: &PrSpec,
        body: &str,
        refusal: crate::github::Error,
    ) -> Result<PrOutcome> {
        let Some(pr) = self.pr_for_branch(&spec.branch).await? else {
            return Err(refusal);
        };
        self.update_pr(&pr, spec, body).await?;
        tracing::info!(cluster = %spec.cluster, number = pr.number, "opened drift pr (answer was lost)");
        Ok(PrOutcome::Opened(pr.number))
    }

    /// Bring an existing PR in line with `spec`; labels are only added, so
    /// that labels people put on the PR stay.
    async fn update_pr(&self, pr: &PrInfo, spec: &PrSpec, body: &str) -> Result<PrOutcome> {
        let missing: Vec<String> = spec
            .labels
            .iter()
            .filter(|l| !pr.labels.contains(l))
            .cloned()
            .collect();
        let same_text = pr.body == body && pr.title == spec.title;
        if same_text && missing.is_empty() {
            return Ok(PrOutcome::Unchanged(pr.number));
        }
        if !same_text {
            let edit = EditPull {
                title: Some(&spec.title),
                body: Some(body),
                state: None,
            };
            let route = self.repo_route(&format!("pulls/{}", pr.number));
            let _: PullRequest = self.patch(&route, &edit).await?;
        }
        self.add_labels(pr.number, &missing).await?;
        tracing::info!(cluster = %spec.cluster, number = pr.number, "updated drift pr");
        Ok(PrOutcome::Updated(pr.number))
    }

    /// Add labels to a PR or issue (GitHub creates unknown labels).
    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let route = self.repo_route(&format!("issues/{number}/labels"));
        let _: Vec<octocrab::models::Label> =
            self.post(&route, &json!({ "labels": labels })).await?;
        Ok(())
    }

    /// Explain and close a PR, e.g. when the drift is gone.
    pub async fn close_pr(&self, number: u64, comment: &str) -> Result<()> {
        self.comment(number, comment).await?;
        let edit = EditPull {
            title: None,
            body: None,
            state: Some("closed"),
        };
        let route = self.repo_route(&format!("pulls/{number}"));
        let _: PullRequest = self.patch(&route, &edit).await?;
        Ok(())
    }

    /// Post a comment on a PR or issue; returns its id.
    pub async fn comment(&self, number: u64, text: &str) -> Result<u64> {
        let body = truncate_body(text, GITHUB_BODY_LIMIT);
        let route = self.repo_route(&format!("issues/{number}/comments"));
        let c: Comment = self.post(&route, &CommentBody { body: &body }).await?;
        Ok(c.id.into_inner())
    }

    /// The commits of a PR with their authors and committers.
    pub async fn pr_commits(&self, number: u64) -> Result<Vec<PrCommit>> {
        let route = self.repo_route(&format!("pulls/{number}/commits"));
        let commits: Vec<RepoCommit> = self.get_all(&route, &[]).await?;
        Ok(commits.into_iter().map(pr_commit).collect())
    }

    /// True when a commit on the PR was authored or committed by someone
    /// other than the bot: the bot must then stop force-pushing (it would
    /// destroy their work) and comment instead.
    pub async fn human_pushed(&self, number: u64, bot: &BotIdentity) -> Result<bool> {
        let commits = self.pr_commits(number).await?;
        Ok(commits.iter().any(|c| !c.is_by(bot)))
    }

    /// Create or edit the one comment on `number` that contains `marker`.
    /// Older duplicates (from a crash between two posts, or an older
    /// version) are deleted so that the PR ends with exactly one.
    pub async fn upsert_sticky_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<CommentOutcome> {
        let text = sticky_text(marker, body);
        let route = self.repo_route(&format!("issues/{number}/comments"));
        let comments: Vec<Comment> = self.get_all(&route, &[]).await?;
        let mut marked = comments
            .into_iter()
            .filter(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        let Some(first) = marked.next() else {
            let c: Comment = self.post(&route, &CommentBody { body: &text }).await?;
            return Ok(CommentOutcome::Created(c.id.into_inner()));
        };
        for extra in marked {
            let extra_route = self.repo_route(&format!("issues/comments/{}", extra.id));
            self.delete(&extra_route).await?;
        }
        let id = first.id.into_inner();
        if first.body.as_deref() == Some(text.as_str()) {
            return Ok(CommentOutcome::Unchanged(id));
        }
        let edit_route = self.repo_route(&format!("issues/comments/{id}"));
        let _: Comment = self
            .patch(&edit_route, &CommentBody { body: &text })
            .await?;
        Ok(CommentOutcome::Updated(id))
    }

    /// Set a commit status (the check next to a PR's head commit); returns
    /// the status id.
    pub async fn set_commit_status(
        &self,
        sha: &str,
        state: CommitState,
        context: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<u64> {
        // GitHub rejects descriptions over 140 characters.
        let description: String = description.chars().take(140).collect();
        let status = NewStatus {
            state,
            context,
            description: &description,
            target_url,
        };
        let route = self.repo_route(&format!("statuses/{sha}"));
        let created: Created = self.post(&route, &status).await?;
        Ok(created.id)
    }

    /// Report a completed check run on `sha` with a markdown summary; the
    /// richer alternative to a status, available to GitHub Apps only (a
    /// personal token gets a 403). Returns the check run id.
    pub async fn set_check_run(
        &self,
        sha: &str,
        name: &str,
        conclusion: CheckConclusion,
        title: &str,
        summary: &str,
    ) -> Result<u64> {
        let summary = truncate_body(summary, CHECK_SUMMARY_LIMIT);
        let run = NewCheckRun {
            name,
            head_sha: sha,
            status: "completed",
            conclusion,
            output: CheckOutput {
                title,
                summary: &summary,
            },
        };
        let created: Created = self.post(&self.repo_route("check-runs"), &run).await?;
        Ok(created.id)
    }
}

/// Cut `body` to at most `limit` characters, ending with a note that says
/// so; GitHub refuses longer bodies outright and a drift report for a badly
/// drifted cluster can exceed them. Cuts on a line boundary when one is near
/// so that a markdown table or code fence is not split mid-line.
pub fn truncate_body(body: &str, limit: usize) -> String {
    const NOTE: &str = "\n\n… truncated: the full report is too long for a GitHub comment; run `flotilla audit` for all of it.";
    if body.chars().count() <= limit {
        return body.to_owned();
    }
    let keep = limit.saturating_sub(NOTE.chars().count());
    let cut = body.char_indices().nth(keep).map_or(body.len(), |(i, _)| i);
    let head = &body[..cut];
    let head = match head.rfind('\n') {
        Some(nl) if nl >= head.len() / 2 => &head[..nl],
        _ => head,
    };
    let mut out = head.to_owned();
    out.push_str(NOTE);
    out.chars().take(limit).collect()
}

/// The PR body GitHub should hold: the spec's body, truncated so that the
/// fingerprint line after it always survives.
fn body_with_fingerprint(body: &str, fingerprint: &str) -> String {
    let tag = format!("\n\n{FINGERPRINT_PREFIX}{fingerprint}{MARKER_SUFFIX}");
    let room = GITHUB_BODY_LIMIT.saturating_sub(tag.chars().count());
    let mut out = truncate_body(body, room);
    out.push_str(&tag);
    out
}

/// The fingerprint the bot embedded in a PR body.
pub fn fingerprint_of(body: &str) -> Option<String> {
    let start = body.rfind(FINGERPRINT_PREFIX)? + FINGERPRINT_PREFIX.len();
    let len = body[start..].find(MARKER_SUFFIX)?;
    Some(body[start..start + len].to_owned())
}

/// The sticky comment text: marker first so that it survives truncation.
fn sticky_text(marker: &str, body: &str) -> String {
    let room = GITHUB_BODY_LIMIT.saturating_sub(marker.chars().count() + 1);
    format!("{marker}\n{}", truncate_body(body, room))
}

/// The bot's open PR with exactly this title: a PR carrying the bot's
/// fingerprint, so that a person's PR that happens to share the title is
/// never taken over.
fn bot_pr_titled(open: Vec<PrInfo>, title: &str) -> Option<PrInfo> {
    open.into_iter()
        .find(|pr| pr.title == title && pr.fingerprint.is_some())
}

fn pr_info(pr: PullRequest) -> PrInfo {
    let body = pr.body.unwrap_or_default();
    PrInfo {
        number: pr.number,
        title: pr.title.unwrap_or_default(),
        fingerprint: fingerprint_of(&body),
        body,
        head_ref: pr.head.ref_field,
        head_sha: pr.head.sha,
        labels: pr
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.name)
            .collect(),
    }
}

fn pr_commit(c: RepoCommit) -> PrCommit {
    let author = c.commit.author;
    let committer = c.commit.committer;
    PrCommit {
        sha: c.sha,
        author_name: author.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
        author_email: author.and_then(|a| a.email),
        committer_email: committer.and_then(|a| a.email),
        author_login: c.author.map(|a| a.login),
        committer_login: c.committer.map(|a| a.login),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_body_is_untouched() {
        assert_eq!(truncate_body("hello", 100), "hello");
    }

    #[test]
    fn long_body_is_cut_to_the_limit_with_a_note() {
        let body = "| row |\n".repeat(20_000);
        let out = truncate_body(&body, GITHUB_BODY_LIMIT);
        assert!(out.chars().count() <= GITHUB_BODY_LIMIT);
        assert!(
            out.ends_with("for all of it."),
            "{}",
            &out[out.len() - 80..]
        );
        assert!(out.starts_with("| row |\n| row |"));
        assert!(!out.contains("| row\n"), "cut mid-line");
    }

    #[test]
    fn multibyte_bodies_are_cut_on_char_boundaries() {
        let body = "é".repeat(300);
        let out = truncate_body(&body, 200);
        assert!(out.chars().count() <= 200);
    }

    #[test]
    fn fingerprint_survives_truncation() {
        let body = "x".repeat(GITHUB_BODY_LIMIT * 2);
        let full = body_with_fingerprint(&body, "abc123");
        assert!(full.chars().count() <= GITHUB_BODY_LIMIT);
        assert_eq!(fingerprint_of(&full).as_deref(), Some("abc123"));
    }

    #[test]
    fn commit_by_another_email_is_not_the_bot() {
        let bot = BotIdentity {
            login: Some("flotilla-bot".into()),
            email: "bot@flotilla.dev".into(),
        };
        let mut c = PrCommit {
            sha: "1".into(),
            author_name: "flotilla".into(),
            author_email: Some("bot@flotilla.dev".into()),
            committer_email: Some("bot@flotilla.dev".into()),
            author_login: None,
            committer_login: None,
        };
        assert!(c.is_by(&bot));
        c.committer_email = Some("alice@example.com".into());
        assert!(!c.is_by(&bot));
    }
}
