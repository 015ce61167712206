//! GitHub REST access through octocrab, wrapped in the retry policy a
//! long-running bot needs.
//!
//! octocrab does authentication (personal token or GitHub App installation),
//! the base URI (github.com or GitHub Enterprise `…/api/v3`) and model
//! decoding. What it does not do is back off when GitHub says "not now": a
//! drift bot that opens PRs for a whole fleet in one pass runs straight into
//! secondary rate limits, and a 502 from GitHub must not cost a whole audit
//! cycle. Every call therefore goes through [`GitHubClient::call`]: a
//! `backon` retry on the [`RetryPolicy`]'s exponential delays, which
//! honours `Retry-After` and `x-ratelimit-reset` instead where GitHub sends
//! them, adds jitter so that several replicas do not retry in lock-step,
//! gives up after a bounded number of attempts with a typed [`Error`], and
//! counts what happened in [`GitHubStats`] for the service metrics.
//!
//! Pull-request and comment primitives built on these calls live in
//! [`crate::pr`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octocrab::Octocrab;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Result of a GitHub operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many items GitHub returns per page at most; asking for the maximum
/// keeps the number of calls (and so the rate-limit cost) down.
pub(crate) const PER_PAGE: usize = 100;

/// A credential: secrecy's `SecretString`, the type octocrab itself takes
/// (its re-export, so the versions never differ). Its `Debug` prints
/// `[REDACTED]`, so a token or a private key can never reach a log line,
/// an error message or a report by accident; it is zeroed when dropped;
/// the one place that sends it calls [`ExposeSecret::expose_secret`].
pub use octocrab::secrecy::{ExposeSecret, SecretString as Secret};

/// How flotilla authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum GitHubAuth {
    /// A personal access token (classic or fine-grained).
    Token(Secret),
    /// A GitHub App: octocrab signs a JWT with the key and exchanges it for
    /// an installation token, refreshed before it expires.
    App {
        /// The App's numeric id.
        app_id: u64,
        /// The App's RSA private key, PEM encoded.
        private_key_pem: Secret,
        /// The installation on the organisation that owns the repository.
        installation_id: u64,
    },
}

/// Bounds on retrying a failed call: the one policy type, shared with the
/// service's back-off.
pub use crate::retry::RetryPolicy;

/// Where and as whom to talk to GitHub.
#[derive(Debug, Clone)]
pub struct GitHubClientConfig {
    /// API root: `None` for api.github.com, or e.g.
    /// `https://ghe.example.com/api/v3` for GitHub Enterprise.
    pub api_url: Option<String>,
    /// Credentials.
    pub auth: GitHubAuth,
    /// Owner (organisation or user) of the fleet repository.
    pub owner: String,
    /// Name of the fleet repository.
    pub repo: String,
    /// Sent as `User-Agent`; GitHub rejects requests without one.
    pub user_agent: String,
    /// Retry bounds.
    pub retry: RetryPolicy,
}

impl GitHubClientConfig {
    /// A configuration for api.github.com with the default retry policy.
    pub fn new(owner: impl Into<String>, repo: impl Into<String>, auth: GitHubAuth) -> Self {
        Self {
            api_url: None,
            auth,
            owner: owner.into(),
            repo: repo.into(),
            user_agent: concat!("flotilla/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Errors talking to GitHub. Each names the operation (method and route);
/// none ever contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API URL is refused: credentials in it, or plain http to a host
    /// that is not loopback (see [`crate::remote::check_api_url`]).
    #[error("github api url {url:?}")]
    RefusedApiUrl {
        /// The URL, scrubbed.
        url: String,
        /// Which rule it breaks.
        #[source]
        source: crate::remote::UrlError,
    },
    /// `--github-url` is not a URI octocrab accepts.
    #[error("github api url {url:?} is not a valid uri")]
    ApiUrl {
        /// The URL, scrubbed.
        url: String,
        /// octocrab's reason.
        #[source]
        source: octocrab::Error,
    },
    /// The App private key could not be read.
    #[error("github app {app_id}: private key is not a valid rsa pem key")]
    AppKey {
        /// The App id, to tell which key is wrong.
        app_id: u64,
        /// The decoder's reason.
        #[source]
        source: octocrab::jsonwebtoken::errors::Error,
    },
    /// octocrab could not build its HTTP client.
    #[error("building the github client failed")]
    Build {
        /// octocrab's reason.
        #[source]
        source: octocrab::Error,
    },
    /// GitHub kept rate-limiting the call, or asked for a longer pause than
    /// [`RetryPolicy::max_delay`].
    #[error("{op}: rate limited by github after {attempts} attempts, retry after {retry_after:?}")]
    RateLimited {
        /// Method and route.
        op: String,
        /// Attempts made.
        attempts: u32,
        /// How long GitHub asked to wait.
        retry_after: Duration,
    },
    /// GitHub answered 5xx on every attempt.
    #[error("{op}: github unavailable (status {status}) after {attempts} attempts")]
    Unavailable {
        /// Method and route.
        op: String,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// GitHub refused the request (4xx other than a rate limit).
    #[error("{op}: github answered {status}: {message}")]
    Api {
        /// Method and route.
        op: String,
        /// HTTP status.
        status: u16,
        /// GitHub's `message`.
        message: String,
    },
    /// GitHub could not be reached on any attempt.
    #[error("{op}: github unreachable after {attempts} attempts")]
    Transport {
        /// Method and route.
        op: String,
        /// Attempts made.
        attempts: u32,
        /// The last connection error.
        #[source]
        source: octocrab::Error,
    },
    /// GitHub answered with something octocrab could not decode.
    #[error("{op}: unexpected response from github")]
    Response {
        /// Method and route.
        op: String,
        /// The decoding error.
        #[source]
        source: octocrab::Error,
    },
}

impl Error {
    /// The HTTP status GitHub answered, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Unavailable { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for GitHub's 422 "already exists", which a retried create gets
    /// when the first attempt succeeded but its answer was lost.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::Api { status: 422, message, .. } if message.contains("already exists"))
    }

    /// True for a 404, which lookups turn into `None`.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Counters for the service metrics. `calls` counts HTTP attempts, so one
/// call retried twice counts three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitHubStats {
    /// HTTP requests sent.
    pub calls: u64,
    /// Requests that failed (any status or transport error).
    pub errors: u64,
    /// Failed requests that were tried again.
    pub retries: u64,
    /// Failures that were rate limits (403 or 429).
    pub rate_limited: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// Waits between attempts. Injected so that tests can record the waits the
/// policy asked for instead of spending them.
pub trait Sleeper: Send + Sync {
    /// Wait for `delay`.
    fn sleep(&self, delay: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, delay: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(delay))
    }
}

/// backon's sleeper over the injected [`Sleeper`] (a type of its own:
/// backon wants a `'static` sleeper, which a closure inside the generic
/// [`GitHubClient::call`] is not).
struct BackonSleeper(Arc<dyn Sleeper>);

impl backon::Sleeper for BackonSleeper {
    type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn sleep(&self, wait: Duration) -> Self::Sleep {
        let sleeper = Arc::clone(&self.0);
        Box::pin(async move { sleeper.sleep(wait).await })
    }
}

/// A GitHub client bound to one repository.
#[derive(Clone)]
pub struct GitHubClient {
    octo: Octocrab,
    /// The personal token, kept to hand to git; `None` for an App, whose
    /// tokens octocrab mints and caches.
    personal_token: Option<Secret>,
    owner: String,
    repo: String,
    api_url: Option<String>,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    counters: Arc<Counters>,
}

impl fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubClient")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("api_url", &self.api_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// Build a client. Does no I/O: an App installation token is fetched on
    /// the first call and refreshed by octocrab before it expires.
    pub fn new(cfg: &GitHubClientConfig) -> Result<Self> {
        let octo = build_octocrab(cfg)?;
        let personal_token = match &cfg.auth {
            GitHubAuth::Token(token) => Some(token.clone()),
            GitHubAuth::App { .. } => None,
        };
        Ok(Self {
            octo,
            personal_token,
            owner: cfg.owner.clone(),
            repo: cfg.repo.clone(),
            api_url: cfg.api_url.clone(),
            retry: RetryPolicy {
                max_attempts: cfg.retry.max_attempts.max(1),
                ..cfg.retry
            },
            sleeper: Arc::new(TokioSleeper),
            counters: Arc::default(),
        })
    }

    /// Replace the clock used between attempts.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Counters since the client was built (shared by its clones).
    pub fn stats(&self) -> GitHubStats {
        GitHubStats {
            calls: self.counters.calls.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Owner of the repository.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Name of the repository.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The commit a branch points at on GitHub, or `None` when it does not
    /// exist. The drift bot compares it with what it pushed last to notice
    /// that someone else moved the branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>> {
        let route = self.repo_route(&format!("git/ref/heads/{branch}"));
        match self.get::<octocrab::models::repos::Ref>(&route, &[]).await {
            Ok(r) => Ok(Some(object_sha(&r.object))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The token git should present for HTTPS pushes to the same host
    /// (`x-access-token:<token>`): the personal token, or the App's current
    /// installation token, minted (or reused while valid) by octocrab.
    pub async fn git_token(&self) -> Result<Secret> {
        if let Some(token) = &self.personal_token {
            return Ok(token.clone());
        }
        let op = "POST /app/installations/{id}/access_tokens";
        let token = self.call(op, || self.octo.installation_token()).await?;
        Ok(Secret::from(token.expose_secret()))
    }

    /// `/repos/{owner}/{repo}/{tail}`.
    pub(crate) fn repo_route(&self, tail: &str) -> String {
        format!("/repos/{}/{}/{tail}", self.owner, self.repo)
    }

    /// GET a JSON document.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let op = format!("GET {route}");
        let params = (!query.is_empty()).then_some(query);
        self.call(&op, || self.octo.get(route, params)).await
    }

    /// GET every page of a list, `PER_PAGE` at a time. Pages are requested
    /// by number on the configured base rather than by following `Link`
    /// headers, because octocrab only sends credentials to absolute URLs on
    /// api.github.com and would drop them on GitHub Enterprise.
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for page in 1.. {
            let mut params = query.to_vec();
            params.push(("per_page", PER_PAGE.to_string()));
            params.push(("page", page.to_string()));
            let items: Vec<T> = self.get(route, &params).await?;
            let last = items.len() < PER_PAGE;
            all.extend(items);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// POST a JSON body, decode the answer.
    pub(crate) async fn post<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<T> {
        let op = format!("POST {route}");
        self.call(&op, || self.octo.post(route, Some(body))).await
    }

    /// PATCH a JSON body, decode the answer.
    pub(crate) async fn patch<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<T> {
        let op = format!("PATCH {route}");
        self.call(&op, || self.octo.patch(route, Some(body))).await
    }

    /// DELETE, expecting no body back.
    pub(crate) async fn delete(&self, route: &str) -> Result<()> {
        let op = format!("DELETE {route}");
        self.call(&op, || async {
            let response = self.octo._delete(route, None::<&()>).await?;
            octocrab::map_github_error(response).await.map(drop)
        })
        .await
    }

    /// Run one request with the retry policy: count it, classify failures,
    /// wait as GitHub asks (plus jitter) and try again within the budget.
    async fn call<T, F, Fut>(&self, op: &str, mut send: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        use backon::Retryable;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let attempt = || {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            let sent = send();
            async move {
                let err = match sent.await {
                    Ok(value) => return Ok(value),
                    Err(err) => err,
                };
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let failure = classify(err, now_epoch());
                if matches!(failure, Failure::RateLimited { .. }) {
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                Err(failure)
            }
        };
        let max_delay = self.retry.max_delay;
        let result = attempt
            .retry(self.retry.backoff())
            .sleep(BackonSleeper(Arc::clone(&self.sleeper)))
            .when(|failure: &Failure| failure.retryable())
            // GitHub's own figure wins over the exponential delay; a wait
            // beyond `max_delay`, or none left in the budget, ends the call.
            .adjust(|failure, backoff| {
                let wait = failure.wait(backoff?);
                (wait <= max_delay).then(|| add_jitter(wait))
            })
            .notify(|failure, wait| {
                tracing::warn!(op, attempt = attempts.load(Ordering::Relaxed), wait_ms = wait.as_millis() as u64, reason = %failure, "github call failed, backing off");
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        result.map_err(|failure| {
            let n = attempts.load(Ordering::Relaxed);
            failure.into_error(op, n, self.retry.delay(n))
        })
    }
}

/// Build octocrab for the configured host and credentials.
///
/// The token goes out as an `Authorization` header on every call, so the
/// base URL must be `https://` (or `http://` to loopback, for the tests'
/// double). Redirects cannot downgrade that: octocrab adds the header before
/// its `FollowRedirectLayer` (octocrab `src/lib.rs`, `build`), whose default
/// `FilterCredentials` policy drops `Authorization` on a redirect to another
/// origin, and a change of scheme is another origin (tower-http
/// `src/follow_redirect/policy/filter_credentials.rs`).
fn build_octocrab(cfg: &GitHubClientConfig) -> Result<Octocrab> {
    let mut builder =
        Octocrab::builder().add_header(http::header::USER_AGENT, cfg.user_agent.clone());
    if let Some(url) = &cfg.api_url {
        crate::remote::check_api_url(url).map_err(|source| Error::RefusedApiUrl {
            url: crate::remote::scrub_userinfo(url),
            source,
        })?;
        builder = builder
            .base_uri(url.as_str())
            .map_err(|source| Error::ApiUrl {
                url: crate::remote::scrub_userinfo(url),
                source,
            })?;
    }
    match &cfg.auth {
        GitHubAuth::Token(token) => builder
            .personal_token(token.expose_secret().to_owned())
            .build()
            .map_err(|source| Error::Build { source }),
        GitHubAuth::App {
            app_id,
            private_key_pem,
            installation_id,
        } => {
            let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(
                private_key_pem.expose_secret().as_bytes(),
            )
            .map_err(|source| Error::AppKey {
                app_id: *app_id,
                source,
            })?;
            let app = builder
                .app((*app_id).into(), key)
                .build()
                .map_err(|source| Error::Build { source })?;
            app.installation((*installation_id).into())
                .map_err(|source| Error::Build { source })
        }
    }
}

/// Why an attempt failed, and whether waiting could help.
#[derive(Debug)]
enum Failure {
    /// 403/429 rate limit: wait what GitHub asked (`None`: the policy's
    /// delay), at least `at_least`.
    RateLimited {
        asked: Option<Duration>,
        at_least: Duration,
    },
    /// 5xx; wait what GitHub asked, or the policy's delay.
    Unavailable {
        status: u16,
        asked: Option<Duration>,
    },
    /// Connection-level failure; wait the policy's delay.
    Transport { source: octocrab::Error },
    /// Any other GitHub answer: retrying would get the same.
    Api { status: u16, message: String },
    /// A body octocrab could not decode.
    Response { source: octocrab::Error },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RateLimited { .. } => f.write_str("rate limited"),
            Failure::Unavailable { status, .. } => write!(f, "status {status}"),
            Failure::Transport { .. } => f.write_str("transport error"),
            Failure::Api { status, .. } => write!(f, "status {status}"),
            Failure::Response { .. } => f.write_str("undecodable response"),
        }
    }
}

impl Failure {
    /// Whether waiting could help.
    fn retryable(&self) -> bool {
        !matches!(self, Failure::Api { .. } | Failure::Response { .. })
    }

    /// The wait before the next attempt, given the policy's delay.
    fn wait(&self, backoff: Duration) -> Duration {
        match self {
            Failure::RateLimited { asked, at_least } => asked.unwrap_or(backoff).max(*at_least),
            Failure::Unavailable { asked, .. } => asked.unwrap_or(backoff),
            _ => backoff,
        }
    }

    fn into_error(self, op: &str, attempts: u32, backoff: Duration) -> Error {
        let op = op.to_owned();
        let retry_after = self.wait(backoff);
        match self {
            Failure::RateLimited { .. } => Error::RateLimited {
                op,
                attempts,
                retry_after,
            },
            Failure::Unavailable { status, .. } => Error::Unavailable {
                op,
                status,
                attempts,
            },
            Failure::Transport { source } => Error::Transport {
                op,
                attempts,
                source,
            },
            Failure::Api { status, message } => Error::Api {
                op,
                status,
                message,
            },
            Failure::Response { source } => Error::Response { op, source },
        }
    }
}

/// Sort an octocrab error into a [`Failure`], reading GitHub's rate-limit
/// headers. GitHub documents three signals: `x-ratelimit-remaining: 0` with
/// `x-ratelimit-reset` (primary limit), `retry-after` (secondary limit and
/// 429), and a 403 whose message mentions a secondary rate limit without any
/// header, for which it asks clients to wait at least a minute.
fn classify(err: octocrab::Error, now: u64) -> Failure {
    let gh = match err {
        octocrab::Error::GitHub { source, .. } => source,
        source @ (octocrab::Error::Hyper { .. }
        | octocrab::Error::Service { .. }
        | octocrab::Error::Http { .. }) => {
            return Failure::Transport { source };
        }
        source => return Failure::Response { source },
    };
    let status = gh.status_code.as_u16();
    let header = |name: &str| {
        gh.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header("retry-after").map(Duration::from_secs);
    let exhausted = header("x-ratelimit-remaining") == Some(0);
    let reset = header("x-ratelimit-reset").map(|at| Duration::from_secs(at.saturating_sub(now)));
    let mentions_limit = gh.message.to_ascii_lowercase().contains("rate limit");
    match status {
        403 | 429 if exhausted => Failure::RateLimited {
            asked: retry_after.or(reset),
            at_least: Duration::from_secs(1),
        },
        403 | 429 if retry_after.is_some() => Failure::RateLimited {
            asked: retry_after,
            at_least: Duration::ZERO,
        },
        429 => Failure::RateLimited {
            asked: None,
            at_least: Duration::ZERO,
        },
        403 if mentions_limit => Failure::RateLimited {
            asked: Some(Duration::from_secs(60)),
            at_least: Duration::ZERO,
        },
        500..=599 => Failure::Unavailable {
            status,
            asked: retry_after,
        },
        _ => Failure::Api {
            status,
            message: api_message(&gh),
        },
    }
}

/// GitHub's message plus the messages of its `errors` entries: a 422 says
/// only "Validation Failed" at the top and the reason ("a pull request
/// already exists …") inside.
fn api_message(gh: &octocrab::GitHubError) -> String {
    let details: Vec<&str> = gh
        .errors
        .iter()
        .flatten()
        .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
        .collect();
    if details.is_empty() {
        gh.message.clone()
    } else {
        format!("{}: {}", gh.message, details.join("; "))
    }
}

/// Add up to 10% (at most one second) on top of a wait, never less: several
/// flotilla replicas told "retry after 1s" must not all come back in the
/// same millisecond, and GitHub's own figure is a minimum.
fn add_jitter(wait: Duration) -> Duration {
    let spread = (wait / 10).min(Duration::from_secs(1));
    let extra = fastrand::u64(0..=spread.as_millis() as u64);
    wait + Duration::from_millis(extra)
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The commit id behind a ref, whatever kind of object it names.
fn object_sha(object: &octocrab::models::repos::Object) -> String {
    use octocrab::models::repos::Object;
    match object {
        Object::Commit { sha, .. }
        | Object::Tag { sha, .. }
        | Object::Tree { sha, .. }
        | Object::Blob { sha, .. } => sha.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::UrlError;

    #[test]
    fn jitter_never_shortens_and_stays_within_ten_percent() {
        for _ in 0..200 {
            let j = add_jitter(Duration::from_secs(2));
            assert!(
                j >= Duration::from_secs(2) && j <= Duration::from_millis(2200),
                "{j:?}"
            );
        }
    }

    #[test]
    fn secret_debug_hides_the_value() {
        let auth = GitHubAuth::Token(Secret::from("ghp_supersecret"));
        let shown = format!("{auth:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }

    #[tokio::test]
    async fn the_client_refuses_plain_http_and_credentials_in_the_api_url() {
        let build = |url: &str| {
            let mut cfg =
                GitHubClientConfig::new("o", "r", GitHubAuth::Token(Secret::from("ghp_x")));
            cfg.api_url = Some(url.to_owned());
            GitHubClient::new(&cfg)
        };
        for (url, want) in [
            ("http://example.com", UrlError::PlainHttp),
            ("HTTP://ghe.example.com/api/v3", UrlError::PlainHttp),
            (
                "https://x:ghp_1234@ghe.example.com/api/v3",
                UrlError::Credentials,
            ),
        ] {
            let err = build(url).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(
                matches!(&err, Error::RefusedApiUrl { source, .. } if *source == want),
                "{url}: {text}"
            );
            assert!(!text.contains("ghp_1234"), "{text}");
        }
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("https://ghe.example.com/api/v3").is_ok());
    }
}
