//! The drift and preview bots' GitHub primitives, driven through octocrab
//! over real HTTP against the stateful GitHub double.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flotilla_repos::github::{
    Error, GitHubAuth, GitHubClient, GitHubClientConfig, RetryPolicy, Secret, Sleeper,
};
use flotilla_repos::pr::{
    BotIdentity, CheckConclusion, CommentOutcome, CommitState, PREVIEW_MARKER, PrOutcome, PrSpec,
};
use flotilla_tests::github_double::{
    APP_ID, AuthKind, DOUBLE_TOKEN, DoubleCommit, GitHubDouble, INSTALLATION_ID, app_private_key,
    sha_of,
};

const OWNER: &str = "contoso";
const REPO: &str = "fleet";

/// Records the waits the retry policy asks for instead of sleeping, so the
/// tests can check that `Retry-After` was honoured without spending it.
#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl RecordingSleeper {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(
        &self,
        delay: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(delay);
        Box::pin(async {})
    }
}

fn config(api_url: String) -> GitHubClientConfig {
    let mut cfg =
        GitHubClientConfig::new(OWNER, REPO, GitHubAuth::Token(Secret::from(DOUBLE_TOKEN)));
    cfg.api_url = Some(api_url);
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(5),
    };
    cfg
}

fn client(double: &GitHubDouble) -> (GitHubClient, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = GitHubClient::new(&config(double.url()))
        .unwrap()
        .with_sleeper(sleeper.clone());
    (client, sleeper)
}

fn spec(cluster: &str, body: &str, fingerprint: &str) -> PrSpec {
    PrSpec {
        cluster: cluster.to_owned(),
        branch: PrSpec::drift_branch(cluster),
        base: "main".to_owned(),
        title: format!("flotilla: drift on {cluster}"),
        body: body.to_owned(),
        labels: vec!["drift".to_owned(), format!("cluster/{cluster}")],
        fingerprint: fingerprint.to_owned(),
    }
}

/// What the git side does before a PR is opened: push the bot's commit.
fn push_bot_branch(double: &GitHubDouble, cluster: &str) {
    let branch = PrSpec::drift_branch(cluster);
    double.push(&branch, DoubleCommit::bot(&sha_of(&branch)));
}

fn bot() -> BotIdentity {
    BotIdentity {
        login: Some(flotilla_tests::github_double::BOT_LOGIN.to_owned()),
        email: flotilla_tests::github_double::BOT_EMAIL.to_owned(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn opening_creates_exactly_one_labelled_pr_and_repeating_changes_nothing() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "aks-eus2-01");
    let (gh, _) = client(&double);
    let s = spec("aks-eus2-01", "## Drift\n\n- Deployment/app", "fp1");

    let first = gh.open_or_update_pr(&s, 10).await.unwrap();
    let PrOutcome::Opened(n) = first else {
        panic!("expected a new pr, got {first:?}")
    };
    let pulls = double.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].head, "flotilla/drift/aks-eus2-01");
    assert_eq!(pulls[0].base, "main");
    assert!(pulls[0].body.starts_with("## Drift\n\n- Deployment/app"));
    assert!(pulls[0].body.contains("<!-- flotilla:fingerprint=fp1 -->"));
    assert_eq!(double.labels(n), vec!["drift", "cluster/aks-eus2-01"]);

    let posts_before = double.requests_to("POST", "/repos/contoso/fleet/pulls");
    let again = gh.open_or_update_pr(&s, 10).await.unwrap();
    assert_eq!(again, PrOutcome::Unchanged(n));
    assert_eq!(double.pulls().len(), 1);
    assert_eq!(
        double.requests_to("POST", "/repos/contoso/fleet/pulls"),
        posts_before
    );
    assert_eq!(
        double.requests_to("PATCH", &format!("/repos/contoso/fleet/pulls/{n}")),
        0
    );
}

#[tokio::test]
async fn opening_updating_and_leaving_alone_each_do_what_they_say() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let writes = |d: &GitHubDouble| d.request_log().iter().filter(|r| r.method != "GET").count();

    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    assert_eq!(double.pulls().len(), 1);
    assert_eq!(double.labels(n), vec!["drift", "cluster/c1"]);

    // Unchanged writes nothing, and reads at most once: a budget, not a
    // count, that keeps a fleet's steady state cheap on the rate limit
    // (`open_or_update_pr`: "costs one call when nothing changed").
    let (requests, written) = (double.request_log().len(), writes(&double));
    assert_eq!(
        gh.open_or_update_pr(&spec("c1", "b", "f"), 10)
            .await
            .unwrap(),
        PrOutcome::Unchanged(n)
    );
    assert!(
        double.request_log().len() - requests <= 1,
        "{:#?}",
        &double.request_log()[requests..]
    );
    assert_eq!(writes(&double), written, "unchanged wrote");

    // Changed drift edits the same PR in place.
    assert_eq!(
        gh.open_or_update_pr(&spec("c1", "b2", "f2"), 10)
            .await
            .unwrap(),
        PrOutcome::Updated(n)
    );
    let pulls = double.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert!(pulls[0].body.starts_with("b2"), "{}", pulls[0].body);
    assert!(
        pulls[0].body.contains("fingerprint=f2"),
        "{}",
        pulls[0].body
    );
    assert_eq!(double.labels(n), vec!["drift", "cluster/c1"]);
    assert_eq!(gh.stats().errors, 0);
}

#[tokio::test]
async fn a_personal_token_is_handed_to_git_as_is() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, _) = client(&double);
    assert_eq!(
        flotilla_repos::github::ExposeSecret::expose_secret(&gh.git_token().await.unwrap()),
        DOUBLE_TOKEN
    );
    assert!(double.request_log().is_empty());
}

#[tokio::test]
async fn a_secondary_limit_without_retry_after_waits_a_minute() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    double.fail_next(1, 403, &[]);
    // The test policy allows 5s at most, so the minute is refused at once.
    let err = gh.find_pr("a", "b").await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after, attempts: 1, .. } if retry_after == Duration::from_secs(60)),
        "{err:?}"
    );
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn changed_findings_update_the_body_in_place() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "one finding", "fp-a"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };

    let updated = gh
        .open_or_update_pr(&spec("c1", "two findings", "fp-b"), 10)
        .await
        .unwrap();
    assert_eq!(updated, PrOutcome::Updated(n));
    let pulls = double.pulls();
    assert_eq!(pulls.len(), 1, "updated in place, not reopened");
    assert!(pulls[0].body.starts_with("two findings"));
    assert!(pulls[0].body.contains("fingerprint=fp-b"));
    assert!(!pulls[0].body.contains("fp-a"));
}

#[tokio::test]
async fn a_restarted_client_finds_the_existing_pr_by_branch_and_by_title() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let s = spec("c1", "body", "fp");
    let PrOutcome::Opened(n) = client(&double).0.open_or_update_pr(&s, 10).await.unwrap() else {
        panic!("not opened")
    };

    let (restarted, _) = client(&double);
    assert_eq!(
        restarted.open_or_update_pr(&s, 10).await.unwrap(),
        PrOutcome::Unchanged(n)
    );
    let found = restarted
        .find_pr(&s.branch, &s.title)
        .await
        .unwrap()
        .expect("found by branch");
    assert_eq!(found.number, n);
    assert_eq!(found.fingerprint.as_deref(), Some("fp"));

    // A branch the head filter does not know (renamed scheme): found by title.
    let by_title = restarted
        .find_pr("flotilla/drift-v2/c1", &s.title)
        .await
        .unwrap()
        .expect("found by title");
    assert_eq!(by_title.number, n);
    assert_eq!(double.pulls().len(), 1);
}

#[tokio::test]
async fn closing_comments_then_closes() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };

    gh.close_pr(n, "drift is gone: closing").await.unwrap();
    let pr = &double.pulls()[0];
    assert_eq!(pr.state, "closed");
    let comments = double.comments(n);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "drift is gone: closing");
    assert!(
        gh.find_pr("flotilla/drift/c1", "x")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_cap_on_open_prs_is_respected() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, _) = client(&double);
    for c in ["c1", "c2", "c3"] {
        push_bot_branch(&double, c);
    }
    assert!(matches!(
        gh.open_or_update_pr(&spec("c1", "b", "f1"), 2)
            .await
            .unwrap(),
        PrOutcome::Opened(_)
    ));
    assert!(matches!(
        gh.open_or_update_pr(&spec("c2", "b", "f2"), 2)
            .await
            .unwrap(),
        PrOutcome::Opened(_)
    ));
    assert_eq!(
        gh.open_or_update_pr(&spec("c3", "b", "f3"), 2)
            .await
            .unwrap(),
        PrOutcome::CapReached
    );
    assert_eq!(double.open_pulls().len(), 2);
    // An existing PR is still updated at the cap.
    assert!(matches!(
        gh.open_or_update_pr(&spec("c1", "new", "f1b"), 2)
            .await
            .unwrap(),
        PrOutcome::Updated(_)
    ));
}

#[tokio::test]
async fn a_human_push_is_detected() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    assert!(!gh.human_pushed(n, &bot()).await.unwrap());

    let human = DoubleCommit::human(&sha_of("alice-fix"), "Alice", "alice@contoso.com");
    double.push("flotilla/drift/c1", human);
    assert!(gh.human_pushed(n, &bot()).await.unwrap());
    let commits = gh.pr_commits(n).await.unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(
        commits[1].author_email.as_deref(),
        Some("alice@contoso.com")
    );
    // The branch moved: the PR's head follows it.
    let info = gh.find_pr("flotilla/drift/c1", "").await.unwrap().unwrap();
    assert_eq!(info.head_sha, sha_of("alice-fix"));
    assert_eq!(
        gh.branch_head("flotilla/drift/c1").await.unwrap(),
        Some(sha_of("alice-fix"))
    );
    assert_eq!(gh.branch_head("no/such/branch").await.unwrap(), None);
}

#[tokio::test]
async fn secondary_rate_limit_is_retried_after_retry_after() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, sleeper) = client(&double);
    double.fail_next(1, 403, &[("retry-after", "1")]);

    let outcome = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap();
    assert!(matches!(outcome, PrOutcome::Opened(_)));
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(1), "{waits:?}");
    let log = double.request_log();
    assert_eq!(log[0].status, 403);
    assert_eq!(
        (log[1].method.as_str(), log[1].path.as_str(), log[1].status),
        (log[0].method.as_str(), log[0].path.as_str(), 200),
        "the refused request was sent again"
    );
    let stats = gh.stats();
    assert_eq!((stats.errors, stats.retries, stats.rate_limited), (1, 1, 1));
    assert_eq!(stats.calls, log.len() as u64);
}

#[tokio::test]
async fn secondary_rate_limit_really_waits_on_the_real_clock() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let gh = GitHubClient::new(&config(double.url())).unwrap();
    double.fail_next(1, 403, &[("retry-after", "1")]);
    let started = std::time::Instant::now();
    assert!(gh.find_pr("a", "b").await.unwrap().is_none());
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(double.request_log()[0].status, 403);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_and_primary_limit_waits_for_reset() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    double.fail_next(1, 429, &[("retry-after", "3")]);
    let reset = (now() + 2).to_string();
    double.fail_next(
        1,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
    );

    assert!(gh.find_pr("a", "b").await.unwrap().is_none());
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(3), "{waits:?}");
    assert!(
        waits[1] >= Duration::from_secs(1) && waits[1] <= Duration::from_secs(3),
        "{waits:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    double.fail_next(1, 502, &[]);
    double.fail_next(1, 503, &[]);

    assert!(gh.find_pr("a", "b").await.unwrap().is_none());
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 2);
    assert!(waits[1] > waits[0], "exponential: {waits:?}");
    let statuses: Vec<u16> = double.request_log().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], &[502, 503, 200]);
}

#[tokio::test]
async fn an_exhausted_budget_is_a_typed_error() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, _) = client(&double);
    double.fail_next(3, 429, &[("retry-after", "1")]);
    let err = gh.find_pr("a", "b").await.unwrap_err();
    match &err {
        Error::RateLimited {
            attempts,
            retry_after,
            op,
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(*retry_after, Duration::from_secs(1));
            assert!(op.starts_with("GET /repos/contoso/fleet/pulls"), "{op}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(double.request_log().len(), 3);

    double.fail_next(3, 503, &[]);
    let err = gh.find_pr("a", "b").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wait_longer_than_allowed_fails_at_once() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    let reset = (now() + 3600).to_string();
    double.fail_next(
        1,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
    );
    let err = gh.find_pr("a", "b").await.unwrap_err();
    let Error::RateLimited {
        retry_after,
        attempts,
        ..
    } = err
    else {
        panic!("expected RateLimited, got {err:?}")
    };
    assert_eq!(attempts, 1);
    assert!(retry_after > Duration::from_secs(3500));
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    // No branch pushed: GitHub answers 422 for an unknown head.
    let err = gh
        .open_or_update_pr(&spec("ghost", "b", "f"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err:?}");
    assert!(sleeper.waits().is_empty());
    assert!(
        err.to_string()
            .starts_with("POST /repos/contoso/fleet/pulls: github answered 422")
    );
}

#[tokio::test]
async fn the_sticky_comment_is_created_once_then_edited_across_restarts() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    // Enough other comments to push the sticky one past the first page.
    for i in 0..120 {
        gh.comment(n, &format!("chatter {i}")).await.unwrap();
    }

    let CommentOutcome::Created(id) = gh
        .upsert_sticky_comment(n, PREVIEW_MARKER, "preview v1")
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    for _ in 0..5 {
        gh.comment(n, "more chatter").await.unwrap();
    }
    let (restarted, _) = client(&double);
    assert_eq!(
        restarted
            .upsert_sticky_comment(n, PREVIEW_MARKER, "preview v1")
            .await
            .unwrap(),
        CommentOutcome::Unchanged(id)
    );
    assert_eq!(
        restarted
            .upsert_sticky_comment(n, PREVIEW_MARKER, "preview v2")
            .await
            .unwrap(),
        CommentOutcome::Updated(id)
    );
    let sticky: Vec<_> = double
        .comments(n)
        .into_iter()
        .filter(|c| c.body.contains(PREVIEW_MARKER))
        .collect();
    assert_eq!(sticky.len(), 1);
    assert_eq!(sticky[0].id, id);
    assert!(sticky[0].body.ends_with("preview v2"));
}

#[tokio::test]
async fn duplicate_sticky_comments_are_healed_to_one() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    let first = gh
        .comment(n, &format!("{PREVIEW_MARKER}\nold a"))
        .await
        .unwrap();
    gh.comment(n, &format!("{PREVIEW_MARKER}\nold b"))
        .await
        .unwrap();

    let outcome = gh
        .upsert_sticky_comment(n, PREVIEW_MARKER, "new")
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated(first));
    let comments = double.comments(n);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, format!("{PREVIEW_MARKER}\nnew"));
}

#[tokio::test]
async fn an_oversized_body_is_truncated_to_what_github_accepts() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    let huge = "| Deployment | app | replicas 3 → 5 |\n".repeat(5000);
    let s = spec("c1", &huge, "fp-huge");
    let PrOutcome::Opened(n) = gh.open_or_update_pr(&s, 10).await.unwrap() else {
        panic!("not opened")
    };
    let body = &double.pulls()[0].body;
    assert!(body.chars().count() <= 65_536);
    assert!(body.contains("truncated"));
    assert!(body.ends_with("<!-- flotilla:fingerprint=fp-huge -->"));
    assert_eq!(
        gh.open_or_update_pr(&s, 10).await.unwrap(),
        PrOutcome::Unchanged(n)
    );
    let outcome = gh
        .upsert_sticky_comment(n, PREVIEW_MARKER, &huge)
        .await
        .unwrap();
    assert!(matches!(outcome, CommentOutcome::Created(_)));
}

#[tokio::test]
async fn a_commit_status_is_set() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, _) = client(&double);
    let sha = sha_of("head");
    let long = "x".repeat(300);
    gh.set_commit_status(
        &sha,
        CommitState::Failure,
        "flotilla/preview",
        &long,
        Some("https://ci.example/run/1"),
    )
    .await
    .unwrap();
    gh.set_commit_status(
        &sha,
        CommitState::Success,
        "flotilla/preview",
        "clean",
        None,
    )
    .await
    .unwrap();
    let statuses = double.statuses();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].state, "failure");
    assert_eq!(
        statuses[0].description.as_ref().unwrap().chars().count(),
        140
    );
    assert_eq!(
        statuses[0].target_url.as_deref(),
        Some("https://ci.example/run/1")
    );
    assert_eq!(
        (statuses[1].state.as_str(), statuses[1].sha.as_str()),
        ("success", sha.as_str())
    );
    assert_eq!(statuses[1].context, "flotilla/preview");
}

#[tokio::test]
async fn the_token_never_shows_in_debug_or_errors() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let mut cfg = config(double.url());
    let secret = "ghp_wrongwrongwrong42";
    cfg.auth = GitHubAuth::Token(Secret::from(secret));
    let gh = GitHubClient::new(&cfg).unwrap();
    let err = gh.find_pr("a", "b").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    for shown in [
        format!("{cfg:?}"),
        format!("{gh:?}"),
        format!("{err}"),
        format!("{err:?}"),
    ] {
        assert!(!shown.contains(secret), "token leaked: {shown}");
        assert!(!shown.contains(DOUBLE_TOKEN), "token leaked: {shown}");
    }
    assert_eq!(double.request_log()[0].auth, AuthKind::Invalid);
}

#[tokio::test]
async fn github_enterprise_base_path_is_used() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let gh = GitHubClient::new(&config(double.enterprise_url())).unwrap();
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    gh.upsert_sticky_comment(n, PREVIEW_MARKER, "hi")
        .await
        .unwrap();
    let log = double.request_log();
    assert!(!log.is_empty());
    for r in &log {
        assert!(r.path.starts_with("/api/v3/repos/contoso/fleet/"), "{r:?}");
        assert_eq!(r.auth, AuthKind::Token, "{r:?}");
        assert!(
            r.user_agents.iter().any(|ua| ua.starts_with("flotilla/")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn a_github_app_installation_token_is_minted_and_used() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(double.enterprise_url());
    cfg.auth = GitHubAuth::App {
        app_id: APP_ID,
        private_key_pem: Secret::from(app_private_key(dir.path())),
        installation_id: INSTALLATION_ID,
    };
    assert!(!format!("{cfg:?}").contains("PRIVATE KEY"));
    let gh = GitHubClient::new(&cfg).unwrap();
    let PrOutcome::Opened(n) = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap()
    else {
        panic!("not opened")
    };
    gh.comment(n, "hello from the app").await.unwrap();
    let summary = "x".repeat(70_000);
    let run = gh
        .set_check_run(
            &sha_of("head"),
            "flotilla/preview",
            CheckConclusion::Failure,
            "2 changes",
            &summary,
        )
        .await
        .unwrap();
    let runs = double.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], run);
    assert_eq!(runs[0]["conclusion"], "failure");
    assert_eq!(runs[0]["status"], "completed");
    assert!(
        runs[0]["output"]["summary"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 65_535
    );

    let git_token = gh.git_token().await.unwrap();
    assert!(
        flotilla_repos::github::ExposeSecret::expose_secret(&git_token)
            .starts_with("ghs_installation1")
    );
    let shown = format!("{git_token:?}");
    assert!(
        shown.contains("[REDACTED]") && !shown.contains("ghs_"),
        "{shown}"
    );
    assert_eq!(double.minted_tokens(), 1, "token cached and reused");
    let log = double.request_log();
    assert_eq!(log[0].path, "/api/v3/app/installations/77/access_tokens");
    assert_eq!(log[0].auth, AuthKind::AppJwt);
    assert!(
        log[1..].iter().all(|r| r.auth == AuthKind::Token),
        "{log:?}"
    );
    assert_eq!(double.comments(n)[0].user, "flotilla[bot]");
}

#[tokio::test]
async fn a_bad_app_key_is_a_typed_error_without_the_key() {
    let mut cfg = config("http://127.0.0.1:9".to_owned());
    cfg.auth = GitHubAuth::App {
        app_id: 7,
        private_key_pem: Secret::from(
            "-----BEGIN RSA PRIVATE KEY-----\nnotakey\n-----END RSA PRIVATE KEY-----\n",
        ),
        installation_id: 1,
    };
    let err = GitHubClient::new(&cfg).unwrap_err();
    assert!(matches!(err, Error::AppKey { app_id: 7, .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("notakey"));
}

#[tokio::test]
async fn a_lost_create_answer_does_not_duplicate_the_pr() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    // GitHub creates the PR, the gateway answers 502; the retry gets 422.
    double.lose_response_of_next("POST", "/repos/contoso/fleet/pulls", 502);

    let outcome = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap();
    let PrOutcome::Opened(n) = outcome else {
        panic!("expected opened, got {outcome:?}")
    };
    // One PR, the one GitHub created, finished as if the answer had come:
    // however many calls that took.
    let pulls = double.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(pulls[0].number, n);
    assert!(pulls[0].body.contains("fingerprint=f"), "{}", pulls[0].body);
    assert_eq!(double.labels(n), vec!["drift", "cluster/c1"]);
    assert_eq!(
        gh.open_or_update_pr(&spec("c1", "b", "f"), 10)
            .await
            .unwrap(),
        PrOutcome::Unchanged(n)
    );
    assert_eq!(double.pulls().len(), 1);
}

#[tokio::test]
async fn faults_can_target_one_route() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    push_bot_branch(&double, "c1");
    let (gh, _) = client(&double);
    double.fail_next_to("POST", "/repos/contoso/fleet/issues/1/labels", 3, 503);
    let err = gh
        .open_or_update_pr(&spec("c1", "b", "f"), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { status: 503, attempts: 3, op } if op.ends_with("/issues/1/labels")),
        "{err:?}"
    );
    // The PR itself was opened; the next pass adds the labels.
    assert_eq!(
        gh.open_or_update_pr(&spec("c1", "b", "f"), 10)
            .await
            .unwrap(),
        PrOutcome::Updated(1)
    );
    assert_eq!(double.labels(1), vec!["drift", "cluster/c1"]);
}

#[tokio::test]
async fn an_unreachable_github_is_a_transport_error_after_the_budget() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sleeper = Arc::new(RecordingSleeper::default());
    let gh = GitHubClient::new(&config(url))
        .unwrap()
        .with_sleeper(sleeper.clone());
    let err = gh.find_pr("a", "b").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(sleeper.waits().len(), 2);
    assert_eq!(gh.stats().calls, 3);
}

#[tokio::test]
async fn a_check_run_with_a_personal_token_is_refused_without_retry() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let (gh, sleeper) = client(&double);
    let err = gh
        .set_check_run(
            &sha_of("h"),
            "flotilla/preview",
            CheckConclusion::Success,
            "ok",
            "ok",
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err:?}");
    assert!(
        sleeper.waits().is_empty(),
        "a permission 403 is not a rate limit"
    );
    assert!(double.check_runs().is_empty());
}
