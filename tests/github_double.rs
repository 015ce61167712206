//! A stateful stand-in for the GitHub REST v3 API, served over real HTTP on
//! 127.0.0.1 so that octocrab (and anything else) talks to it exactly as it
//! would to github.com or a GitHub Enterprise `/api/v3`.
//!
//! It keeps just enough state for the drift and preview bots: refs, pull
//! requests with their commits, issue comments, labels, commit statuses and
//! check runs. It serves only routes GitHub has, each named as in GitHub's
//! OpenAPI description ([`served_routes`] lists them, read from the router),
//! and its answers carry every property that description marks required,
//! with GitHub's types and status codes (201 on create, 204 on delete, 404
//! for an unknown route or method, 422 for validation, 401 for bad
//! credentials): `tests/tests/github_double_contract.rs` checks both against
//! an extract of the description in `tests/github-openapi/`. Tests drive it
//! from the outside: inspect state ([`GitHubDouble::pulls`],
//! [`GitHubDouble::comments`], [`GitHubDouble::request_log`], which keeps
//! each answer's route and JSON body), inject faults
//! ([`GitHubDouble::fail_next`]), and play the other actors — a human
//! pushing to the bot's branch ([`GitHubDouble::push`]), a branch moving
//! ([`GitHubDouble::set_ref`]).
//!
//! Credentials are checked but never recorded: the request log keeps the
//! kind of authentication only, and the installation tokens it mints appear
//! in logged answers as `***`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::Method;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

/// Personal token the double accepts unless told otherwise.
pub const DOUBLE_TOKEN: &str = "ghp_doubletoken0123456789";
/// Login the double answers as for [`DOUBLE_TOKEN`].
pub const BOT_LOGIN: &str = "flotilla-bot";
/// App id the double expects in App JWTs.
pub const APP_ID: u64 = 4242;
/// Installation id the double mints tokens for.
pub const INSTALLATION_ID: u64 = 77;
/// Login of comments made with an installation token.
pub const APP_LOGIN: &str = "flotilla[bot]";
/// Git identity of the bot's commits in [`DoubleCommit::bot`].
pub const BOT_EMAIL: &str = "flotilla-bot@users.noreply.github.com";
/// Timestamps in answers; the bots never order by time.
const TIMESTAMP: &str = "2026-01-01T00:00:00Z";
/// GitHub's maximum body length for PRs and comments.
const BODY_LIMIT: usize = 65_536;

/// A commit as GitHub reports it in a PR's commit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleCommit {
    /// Commit id.
    pub sha: String,
    /// Git author name.
    pub author_name: String,
    /// Git author email.
    pub author_email: String,
    /// Git committer email.
    pub committer_email: String,
    /// GitHub account GitHub linked the commit to, if any.
    pub login: Option<String>,
}

impl DoubleCommit {
    /// A commit made by the bot.
    pub fn bot(sha: &str) -> Self {
        Self {
            sha: sha.to_owned(),
            author_name: "flotilla".to_owned(),
            author_email: BOT_EMAIL.to_owned(),
            committer_email: BOT_EMAIL.to_owned(),
            login: Some(BOT_LOGIN.to_owned()),
        }
    }

    /// A commit made by a person.
    pub fn human(sha: &str, name: &str, email: &str) -> Self {
        Self {
            sha: sha.to_owned(),
            author_name: name.to_owned(),
            author_email: email.to_owned(),
            committer_email: email.to_owned(),
            login: Some(name.to_lowercase()),
        }
    }
}

/// A pull request held by the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoublePull {
    /// PR number (shared sequence with issues, as on GitHub).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Head branch name.
    pub head: String,
    /// Base branch name.
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    /// Login that opened it.
    pub user: String,
}

/// An issue comment held by the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleComment {
    /// Comment id.
    pub id: u64,
    /// Issue or PR number.
    pub issue: u64,
    /// Body.
    pub body: String,
    /// Author login.
    pub user: String,
}

/// A commit status held by the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleStatus {
    /// Status id.
    pub id: u64,
    /// Commit.
    pub sha: String,
    /// `pending`, `success`, `failure` or `error`.
    pub state: String,
    /// Context (the check's name).
    pub context: String,
    /// Description.
    pub description: Option<String>,
    /// Link.
    pub target_url: Option<String>,
}

/// How a request authenticated; the credential itself is never kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No `Authorization` header.
    None,
    /// A token the double knows.
    Token,
    /// A GitHub App JWT.
    AppJwt,
    /// Something it did not accept.
    Invalid,
}

/// One request as the double saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Full path, including any `/api/v3` prefix.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// How it authenticated.
    pub auth: AuthKind,
    /// `User-Agent` values sent.
    pub user_agents: Vec<String>,
    /// Status the double answered.
    pub status: u16,
    /// The path template the request matched (without `/api/v3`, as in
    /// [`served_routes`]); `None` for an unknown path and for requests
    /// refused before routing (bad credentials, injected faults).
    pub route: Option<String>,
    /// The JSON body answered, if any.
    pub response: Option<Value>,
}

#[derive(Debug, Clone)]
struct Fault {
    /// Only requests with this method and path (without `/api/v3`);
    /// `None` matches any request.
    target: Option<(String, String)>,
    /// Run the request first, then answer with the fault: GitHub did the
    /// work but the client never heard (a gateway 502 after the write).
    after: bool,
    status: StatusCode,
    headers: Vec<(String, String)>,
    message: String,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.target
            .as_ref()
            .is_none_or(|(m, p)| m == method && p == strip_enterprise(path))
    }
}

#[derive(Debug, Default)]
struct Store {
    owner: String,
    repo: String,
    /// token -> login
    tokens: BTreeMap<String, String>,
    /// `refs/heads/x` -> sha
    refs: BTreeMap<String, String>,
    /// branch -> commits pushed to it (oldest first)
    branch_commits: BTreeMap<String, Vec<DoubleCommit>>,
    pulls: BTreeMap<u64, DoublePull>,
    comments: BTreeMap<u64, DoubleComment>,
    labels: BTreeMap<u64, Vec<String>>,
    statuses: Vec<DoubleStatus>,
    check_runs: Vec<Value>,
    next_number: u64,
    next_id: u64,
    log: Vec<LoggedRequest>,
    faults: VecDeque<Fault>,
    minted: u64,
}

impl Store {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

type Shared = Arc<Mutex<Store>>;

/// The login a request acts as, set by the auth middleware.
#[derive(Debug, Clone)]
struct Caller(String);

/// A running double. Dropping it stops the server.
pub struct GitHubDouble {
    addr: SocketAddr,
    store: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GitHubDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GitHubDouble {
    /// Serve `owner/repo` (with a `main` branch) on a free port of
    /// 127.0.0.1, at `/` and at `/api/v3` (GitHub Enterprise layout).
    pub async fn start(owner: &str, repo: &str) -> Self {
        let mut store = Store {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            next_id: 1000,
            ..Store::default()
        };
        store
            .tokens
            .insert(DOUBLE_TOKEN.to_owned(), BOT_LOGIN.to_owned());
        store
            .refs
            .insert("refs/heads/main".to_owned(), sha_of("main"));
        let store = Arc::new(Mutex::new(store));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = router(store.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            store,
            server,
        }
    }

    /// API root as on github.com: `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// API root as on GitHub Enterprise: `http://127.0.0.1:port/api/v3`.
    pub fn enterprise_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("double state poisoned")
    }

    /// Accept another token, acting as `login`.
    pub fn accept_token(&self, token: &str, login: &str) {
        self.lock()
            .tokens
            .insert(token.to_owned(), login.to_owned());
    }

    /// All pull requests, open and closed, by number.
    pub fn pulls(&self) -> Vec<DoublePull> {
        self.lock().pulls.values().cloned().collect()
    }

    /// Open pull requests.
    pub fn open_pulls(&self) -> Vec<DoublePull> {
        self.pulls()
            .into_iter()
            .filter(|p| p.state == "open")
            .collect()
    }

    /// Comments on issue or PR `number`, oldest first.
    pub fn comments(&self, number: u64) -> Vec<DoubleComment> {
        self.lock()
            .comments
            .values()
            .filter(|c| c.issue == number)
            .cloned()
            .collect()
    }

    /// Label names on issue or PR `number`.
    pub fn labels(&self, number: u64) -> Vec<String> {
        self.lock().labels.get(&number).cloned().unwrap_or_default()
    }

    /// Commit statuses, oldest first.
    pub fn statuses(&self) -> Vec<DoubleStatus> {
        self.lock().statuses.clone()
    }

    /// Check runs as posted.
    pub fn check_runs(&self) -> Vec<Value> {
        self.lock().check_runs.clone()
    }

    /// Installation tokens minted so far.
    pub fn minted_tokens(&self) -> u64 {
        self.lock().minted
    }

    /// Every request so far.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// Requests whose method and path match (path without `/api/v3`).
    pub fn requests_to(&self, method: &str, path: &str) -> usize {
        self.request_log()
            .iter()
            .filter(|r| r.method == method && strip_enterprise(&r.path) == path)
            .count()
    }

    /// Where a ref points, e.g. `heads/main`.
    pub fn ref_sha(&self, reference: &str) -> Option<String> {
        self.lock().refs.get(&format!("refs/{reference}")).cloned()
    }

    /// Point `branch` at `sha` without recording a commit, as when someone
    /// force-pushes or resets the branch.
    pub fn set_ref(&self, branch: &str, sha: &str) {
        self.lock()
            .refs
            .insert(format!("refs/heads/{branch}"), sha.to_owned());
    }

    /// Record a push of `commit` onto `branch` (created if missing): the
    /// branch moves to it and it joins the commits of PRs from `branch`.
    pub fn push(&self, branch: &str, commit: DoubleCommit) {
        let mut s = self.lock();
        s.refs
            .insert(format!("refs/heads/{branch}"), commit.sha.clone());
        s.branch_commits
            .entry(branch.to_owned())
            .or_default()
            .push(commit);
    }

    /// Answer the next `n` requests with `status`, these headers and a
    /// GitHub-style error body, whatever they ask.
    pub fn fail_next(&self, n: usize, status: u16, headers: &[(&str, &str)]) {
        let fault = fault(None, false, status, headers);
        self.lock().faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Answer the next `n` requests to `method path` (path without
    /// `/api/v3`) with a fault, leaving other requests alone.
    pub fn fail_next_to(&self, method: &str, path: &str, n: usize, status: u16) {
        let target = Some((method.to_owned(), path.to_owned()));
        let fault = fault(target, false, status, &[]);
        self.lock().faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Drop every fault not played yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Carry out the next request to `method path` but answer `status`, as
    /// when GitHub created the PR or comment and a proxy lost the answer.
    pub fn lose_response_of_next(&self, method: &str, path: &str, status: u16) {
        let target = Some((method.to_owned(), path.to_owned()));
        self.lock()
            .faults
            .push_back(fault(target, true, status, &[]));
    }
}

/// A fault with the message GitHub sends for that status.
fn fault(
    target: Option<(String, String)>,
    after: bool,
    status: u16,
    headers: &[(&str, &str)],
) -> Fault {
    let status = StatusCode::from_u16(status).expect("valid status");
    let secondary = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("retry-after"));
    let message = match status.as_u16() {
        403 if secondary => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        403 => "API rate limit exceeded for installation.",
        429 => "Too many requests.",
        _ => "Server Error",
    };
    Fault {
        target,
        after,
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        message: message.to_owned(),
    }
}

fn strip_enterprise(path: &str) -> &str {
    path.strip_prefix("/api/v3").unwrap_or(path)
}

/// A throwaway RSA key made with the real `openssl`, as an App's key would be.
pub fn app_private_key(dir: &std::path::Path) -> String {
    let path = dir.join("app.pem");
    let status = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&path)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl genrsa failed");
    std::fs::read_to_string(path).unwrap()
}

/// A deterministic 40-hex sha for a name.
pub fn sha_of(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{h:016x}{:016x}{:08x}",
        h.rotate_left(17),
        h as u32 ^ 0x5eed
    )
}

/// A route the double serves: method and path template below the API root
/// (`/` on github.com, `/api/v3` on GitHub Enterprise), as axum spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRoute {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template, e.g. `/repos/{owner}/{repo}/git/ref/{*reference}`.
    pub path: String,
}

/// Every route the double serves, read from the router it builds, so that
/// the list cannot drift from what it answers. The contract test
/// (`tests/tests/github_double_contract.rs`) checks each one against
/// GitHub's OpenAPI description.
pub fn served_routes() -> Vec<ServedRoute> {
    api_routes().served
}

/// The API's routes and the list of them, built together.
struct Routes {
    router: Router<Shared>,
    served: Vec<ServedRoute>,
}

impl Routes {
    /// Serve `method path` with `handler`; routes sharing a path are merged
    /// by axum into one method router.
    fn on<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, Shared>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
        self.router = self.router.route(path, on(filter, handler));
        self.served.push(ServedRoute {
            method: method.to_string(),
            path: path.to_owned(),
        });
        self
    }
}

/// The routes of GitHub's REST API the double implements, each as GitHub
/// names it in its OpenAPI description (`@octokit/openapi`,
/// `generated/api.github.com.json`). Listing refs is
/// `git/matching-refs/{ref}`: GitHub has no `GET git/refs` nor
/// `GET git/refs/{ref}` (only POST, PATCH and DELETE there).
fn api_routes() -> Routes {
    const REPO: &str = "/repos/{owner}/{repo}";
    let r = |tail: &str| format!("{REPO}{tail}");
    Routes {
        router: Router::new(),
        served: Vec::new(),
    }
    .on(Method::GET, REPO, get_repo)
    .on(Method::GET, &r("/git/ref/{*reference}"), get_ref)
    .on(
        Method::GET,
        &r("/git/matching-refs/{*reference}"),
        list_matching_refs,
    )
    .on(Method::POST, &r("/git/refs"), create_ref)
    .on(Method::PATCH, &r("/git/refs/{*reference}"), update_ref)
    .on(Method::DELETE, &r("/git/refs/{*reference}"), delete_ref)
    .on(Method::GET, &r("/pulls"), list_pulls)
    .on(Method::POST, &r("/pulls"), create_pull)
    .on(Method::GET, &r("/pulls/{number}"), get_pull)
    .on(Method::PATCH, &r("/pulls/{number}"), update_pull)
    .on(
        Method::GET,
        &r("/pulls/{number}/commits"),
        list_pull_commits,
    )
    .on(Method::GET, &r("/issues/{number}/comments"), list_comments)
    .on(
        Method::POST,
        &r("/issues/{number}/comments"),
        create_comment,
    )
    .on(Method::GET, &r("/issues/comments/{id}"), get_comment)
    .on(Method::PATCH, &r("/issues/comments/{id}"), update_comment)
    .on(Method::DELETE, &r("/issues/comments/{id}"), delete_comment)
    .on(Method::GET, &r("/issues/{number}/labels"), list_labels)
    .on(Method::POST, &r("/issues/{number}/labels"), add_labels)
    .on(Method::POST, &r("/statuses/{sha}"), create_status)
    .on(
        Method::GET,
        &r("/commits/{reference}/statuses"),
        list_statuses,
    )
    .on(Method::POST, &r("/check-runs"), create_check_run)
    .on(Method::GET, "/rate_limit", rate_limit)
    .on(
        Method::POST,
        "/app/installations/{id}/access_tokens",
        mint_installation_token,
    )
}

fn router(store: Shared) -> Router {
    // Whatever is not a served route, a known path with another method
    // included, gets GitHub's JSON 404 rather than axum's empty 405.
    let api = api_routes()
        .router
        .method_not_allowed_fallback(not_found)
        .fallback(not_found);
    Router::new()
        .nest("/api/v3", api.clone())
        .merge(api)
        .layer(middleware::from_fn_with_state(store.clone(), gatekeeper))
        .with_state(store)
}

/// Log every request, play injected faults, and check credentials.
async fn gatekeeper(State(store): State<Shared>, mut req: Request, next: Next) -> Response {
    let (auth, caller) = authenticate(&store, req.headers(), req.uri().path());
    let mut entry = LoggedRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        auth,
        user_agents: req
            .headers()
            .get_all("user-agent")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect(),
        status: 0,
        route: None,
        response: None,
    };
    let fault = take_fault(&store, &entry.method, &entry.path);
    let response = match (fault, caller) {
        (Some(fault), _) if !fault.after => fault_response(fault),
        (fault, Some(login)) => {
            entry.route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| strip_enterprise(m.as_str()).to_owned());
            req.extensions_mut().insert(Caller(login));
            let answered = next.run(req).await;
            match fault {
                Some(fault) => fault_response(fault),
                None => {
                    let (answered, body) = keep_body(answered).await;
                    entry.response = body;
                    answered
                }
            }
        }
        (_, None) => error(StatusCode::UNAUTHORIZED, "Bad credentials").into_response(),
    };
    entry.status = response.status().as_u16();
    store.lock().expect("double state").log.push(entry);
    response
}

/// The JSON body of an answer, for the log, and the answer rebuilt around
/// the same bytes. The double's bodies are small and already in memory. A
/// minted token is logged as `***`: still a string, never the credential.
async fn keep_body(response: Response) -> (Response, Option<Value>) {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(token) = json.as_mut().and_then(|j| j.get_mut("token")) {
        *token = Value::from("***");
    }
    (
        Response::from_parts(parts, axum::body::Body::from(bytes)),
        json,
    )
}

/// The first queued fault for this request, removed from the queue.
fn take_fault(store: &Shared, method: &str, path: &str) -> Option<Fault> {
    let mut s = store.lock().expect("double state");
    let at = s.faults.iter().position(|f| f.matches(method, path))?;
    s.faults.remove(at)
}

fn fault_response(fault: Fault) -> Response {
    let mut response = error(fault.status, &fault.message).into_response();
    for (k, v) in fault.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// Who is calling: a known token, or (only for minting installation
/// tokens) a JWT whose `iss` is the App.
fn authenticate(store: &Shared, headers: &HeaderMap, path: &str) -> (AuthKind, Option<String>) {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return (AuthKind::None, None);
    };
    let credential = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or_default();
    if strip_enterprise(path).starts_with("/app/") {
        return match jwt_issuer(credential) {
            Some(iss) if iss == APP_ID => (AuthKind::AppJwt, Some(format!("app-{iss}"))),
            _ => (AuthKind::Invalid, None),
        };
    }
    let s = store.lock().expect("double state");
    match s.tokens.get(credential) {
        Some(login) => (AuthKind::Token, Some(login.clone())),
        None => (AuthKind::Invalid, None),
    }
}

/// The `iss` claim of a JWT (signature not checked: the double is not the
/// place to test RSA, only that a JWT for the right App arrives).
fn jwt_issuer(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A GitHub-style error answer: status plus `{message, documentation_url}`.
#[derive(Debug)]
struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

/// What a handler answers.
type Answer = Result<Response, Refusal>;

fn error(status: StatusCode, message: &str) -> Refusal {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    Refusal(status, body)
}

fn not_found_error() -> Refusal {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn validation(message: &str, field: &str) -> Refusal {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{ "resource": "Issue", "field": field, "code": "custom", "message": message }],
        "documentation_url": "https://docs.github.com/rest",
    });
    Refusal(StatusCode::UNPROCESSABLE_ENTITY, body)
}

async fn not_found() -> Refusal {
    not_found_error()
}

/// Parse a JSON body strictly: a field the double does not know is a bug in
/// the client, reported as GitHub's 422 would.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Problems parsing JSON: {e}"),
        )
    })
}

/// Owner and repo from the path, or a 404 if they are not the double's.
fn check_repo(s: &Store, owner: &str, repo: &str) -> Result<(), Refusal> {
    if s.owner == owner && s.repo == repo {
        Ok(())
    } else {
        Err(not_found_error())
    }
}

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().expect("double state")
}

#[derive(Deserialize)]
struct RepoPath {
    owner: String,
    repo: String,
}

#[derive(Deserialize)]
struct RepoRefPath {
    owner: String,
    repo: String,
    reference: String,
}

#[derive(Deserialize)]
struct RepoNumberPath {
    owner: String,
    repo: String,
    number: u64,
}

#[derive(Deserialize)]
struct RepoIdPath {
    owner: String,
    repo: String,
    id: u64,
}

#[derive(Deserialize)]
struct RepoShaPath {
    owner: String,
    repo: String,
    sha: String,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    state: Option<String>,
    head: Option<String>,
    base: Option<String>,
}

/// One page of `items` plus GitHub's `Link` header.
fn paged(items: Vec<Value>, q: &PageQuery, base_path: &str) -> Response {
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = axum::Json(Value::Array(chunk)).into_response();
    if page < last {
        let link = format!(
            "<{base_path}?per_page={per_page}&page={}>; rel=\"next\", <{base_path}?per_page={per_page}&page={last}>; rel=\"last\"",
            page + 1
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert("link", v);
        }
    }
    response
}

/// Where the URLs in the double's answers point: hosts of its own that
/// nobody resolves, laid out as github.com's.
const API_ROOT: &str = "https://api.github.example";
const WEB_ROOT: &str = "https://github.example";

fn api_url(s: &Store, tail: &str) -> String {
    format!("{API_ROOT}/repos/{}/{}/{tail}", s.owner, s.repo)
}

fn web_url(s: &Store, tail: &str) -> String {
    format!("{WEB_ROOT}/{}/{}/{tail}", s.owner, s.repo)
}

/// A numeric id for a name, the same in every run.
fn id_of(name: &str) -> u64 {
    u64::from_str_radix(&sha_of(name)[..8], 16).unwrap_or(1)
}

/// Add `more`'s members to the object `base` (the answers are built in
/// parts: one `json!` of a whole repository exceeds the macro's depth).
fn extend(base: &mut Value, more: Value) {
    if let (Value::Object(base), Value::Object(more)) = (base, more) {
        base.extend(more);
    }
}

/// GitHub's `simple-user`: a person, a bot or an organisation (`kind` is
/// `User`, `Bot` or `Organization`).
fn account_json(login: &str, kind: &str) -> Value {
    let id = id_of(login);
    let u = format!("{API_ROOT}/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("U_kgDO{id:08X}"),
        "avatar_url": format!("https://avatars.github.example/u/{id}?v=4"), "gravatar_id": "",
        "url": u, "html_url": format!("{WEB_ROOT}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind, "user_view_type": "public", "site_admin": false,
    })
}

/// A user or, for a `…[bot]` login, the App's bot account.
fn user_json(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    account_json(login, kind)
}

/// The owner of the repository: an organisation.
fn owner_json(s: &Store) -> Value {
    account_json(&s.owner, "Organization")
}

/// GitHub's `repository`, as in a PR's `head.repo` and `base.repo`.
fn repo_json(s: &Store) -> Value {
    let full_name = format!("{}/{}", s.owner, s.repo);
    let api = format!("{API_ROOT}/repos/{full_name}");
    let html = format!("{WEB_ROOT}/{full_name}");
    let open = s.pulls.values().filter(|p| p.state == "open").count();
    let mut repo = json!({
        "id": 1_296_269, "node_id": "R_kgDOABPHjQ", "name": s.repo, "full_name": full_name,
        "owner": owner_json(s), "private": true, "html_url": html,
        "description": "Flux GitOps repository of the fleet", "fork": false, "url": api,
        "homepage": null, "language": null, "mirror_url": null, "license": null,
        "default_branch": "main", "visibility": "private", "topics": ["flux", "gitops"],
    });
    extend(
        &mut repo,
        json!({
            "size": 1024, "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0,
            "watchers_count": 0, "open_issues": open, "open_issues_count": open,
            "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false,
            "has_downloads": true, "has_discussions": false, "is_template": false,
            "archived": false, "disabled": false,
            "pushed_at": TIMESTAMP, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
            "permissions": { "admin": false, "maintain": false, "push": true, "triage": true, "pull": true },
            "allow_rebase_merge": true, "allow_squash_merge": true, "allow_merge_commit": true,
            "allow_auto_merge": false, "delete_branch_on_merge": true, "allow_forking": false,
            "web_commit_signoff_required": false,
        }),
    );
    extend(
        &mut repo,
        json!({
            "git_url": format!("git://github.example/{full_name}.git"),
            "ssh_url": format!("git@github.example:{full_name}.git"),
            "clone_url": format!("{html}.git"), "svn_url": html,
            "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
            "assignees_url": format!("{api}/assignees{{/user}}"),
            "blobs_url": format!("{api}/git/blobs{{/sha}}"),
            "branches_url": format!("{api}/branches{{/branch}}"),
            "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
            "comments_url": format!("{api}/comments{{/number}}"),
            "commits_url": format!("{api}/commits{{/sha}}"),
            "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
            "contents_url": format!("{api}/contents/{{+path}}"),
            "contributors_url": format!("{api}/contributors"),
            "deployments_url": format!("{api}/deployments"),
            "downloads_url": format!("{api}/downloads"),
            "events_url": format!("{api}/events"),
            "forks_url": format!("{api}/forks"),
        }),
    );
    extend(
        &mut repo,
        json!({
            "git_commits_url": format!("{api}/git/commits{{/sha}}"),
            "git_refs_url": format!("{api}/git/refs{{/sha}}"),
            "git_tags_url": format!("{api}/git/tags{{/sha}}"),
            "hooks_url": format!("{api}/hooks"),
            "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
            "issue_events_url": format!("{api}/issues/events{{/number}}"),
            "issues_url": format!("{api}/issues{{/number}}"),
            "keys_url": format!("{api}/keys{{/key_id}}"),
            "labels_url": format!("{api}/labels{{/name}}"),
            "languages_url": format!("{api}/languages"),
            "merges_url": format!("{api}/merges"),
            "milestones_url": format!("{api}/milestones{{/number}}"),
            "notifications_url": format!("{api}/notifications{{?since,all,participating}}"),
            "pulls_url": format!("{api}/pulls{{/number}}"),
            "releases_url": format!("{api}/releases{{/id}}"),
            "stargazers_url": format!("{api}/stargazers"),
            "statuses_url": format!("{api}/statuses/{{sha}}"),
            "subscribers_url": format!("{api}/subscribers"),
            "subscription_url": format!("{api}/subscription"),
            "tags_url": format!("{api}/tags"),
            "teams_url": format!("{api}/teams"),
            "trees_url": format!("{api}/git/trees{{/sha}}"),
        }),
    );
    repo
}

/// GitHub's `full-repository`, the answer to `GET /repos/{owner}/{repo}`:
/// the repository plus its organisation and counts.
fn full_repo_json(s: &Store) -> Value {
    let mut repo = repo_json(s);
    extend(
        &mut repo,
        json!({ "organization": owner_json(s), "network_count": 0, "subscribers_count": 3 }),
    );
    repo
}

fn ref_json(s: &Store, name: &str, sha: &str) -> Value {
    json!({
        "ref": name, "node_id": format!("REF_kwDO{}", &sha_of(name)[..12]),
        "url": api_url(s, &format!("git/{name}")),
        "object": { "type": "commit", "sha": sha, "url": api_url(s, &format!("git/commits/{sha}")) },
    })
}

fn head_sha(s: &Store, branch: &str) -> String {
    s.refs
        .get(&format!("refs/heads/{branch}"))
        .cloned()
        .unwrap_or_else(|| sha_of(branch))
}

/// GitHub's `label`. The description is an empty string, as for a label
/// whose description was cleared, not `null`: the `labels` of
/// `pull-request-simple` do not allow `null` there.
fn label_json(s: &Store, name: &str) -> Value {
    let id = id_of(name);
    json!({
        "id": id, "node_id": format!("LA_kwDO{id:08X}"), "url": api_url(s, &format!("labels/{name}")),
        "name": name, "color": "ededed", "default": false, "description": "",
    })
}

/// How GitHub relates an author to the repository: the bot's personal
/// account is a member of the organisation, an App's bot is not.
fn association(login: &str) -> &'static str {
    if login.ends_with("[bot]") {
        "NONE"
    } else {
        "MEMBER"
    }
}

/// GitHub's `pull-request-simple`: a PR as listed by `GET …/pulls`.
fn pull_simple_json(s: &Store, p: &DoublePull) -> Value {
    let n = p.number;
    let url = api_url(s, &format!("pulls/{n}"));
    let html = web_url(s, &format!("pull/{n}"));
    let issue = api_url(s, &format!("issues/{n}"));
    let statuses = api_url(s, &format!("statuses/{}", head_sha(s, &p.head)));
    let branch = |name: &str| {
        json!({
            "label": format!("{}:{name}", s.owner), "ref": name, "sha": head_sha(s, name),
            "user": owner_json(s), "repo": repo_json(s),
        })
    };
    let labels: Vec<Value> = s
        .labels
        .get(&n)
        .map(|ls| ls.iter().map(|l| label_json(s, l)).collect())
        .unwrap_or_default();
    let link = |href: &str| json!({ "href": href });
    let mut pull = json!({
        "url": url, "id": 5_000_000 + n, "node_id": format!("PR_kwDO{n:08}"), "html_url": html,
        "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"), "issue_url": issue,
        "commits_url": format!("{url}/commits"), "review_comments_url": format!("{url}/comments"),
        "review_comment_url": api_url(s, "pulls/comments{/number}"),
        "comments_url": format!("{issue}/comments"), "statuses_url": statuses,
        "number": n, "state": p.state, "locked": false, "title": p.title,
        "user": user_json(&p.user), "body": p.body, "labels": labels,
        "milestone": null, "active_lock_reason": null,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "closed_at": if p.state == "closed" { Value::from(TIMESTAMP) } else { Value::Null },
        "merged_at": null, "merge_commit_sha": sha_of(&format!("merge/{n}/{}", head_sha(s, &p.head))),
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
    });
    extend(
        &mut pull,
        json!({
            "head": branch(&p.head), "base": branch(&p.base),
            "_links": {
                "self": link(&url), "html": link(&html), "issue": link(&issue),
                "comments": link(&format!("{issue}/comments")),
                "review_comments": link(&format!("{url}/comments")),
                "review_comment": link(&api_url(s, "pulls/comments{/number}")),
                "commits": link(&format!("{url}/commits")), "statuses": link(&statuses),
            },
            "author_association": association(&p.user), "auto_merge": null, "draft": false,
        }),
    );
    pull
}

/// GitHub's `pull-request`: one PR as got, opened or edited, which adds the
/// merge state and counts to the listed shape. Nothing is ever merged here;
/// an open PR is mergeable, a closed one no longer computed.
fn pull_json(s: &Store, p: &DoublePull) -> Value {
    let mut pull = pull_simple_json(s, p);
    let open = p.state == "open";
    let commits = s.branch_commits.get(&p.head).map_or(0, Vec::len);
    let comments = s.comments.values().filter(|c| c.issue == p.number).count();
    extend(
        &mut pull,
        json!({
            "merged": false, "mergeable": if open { Value::Bool(true) } else { Value::Null },
            "rebaseable": if open { Value::Bool(true) } else { Value::Null },
            "mergeable_state": if open { "clean" } else { "unknown" }, "merged_by": null,
            "comments": comments, "review_comments": 0, "maintainer_can_modify": false,
            "commits": commits, "additions": 0, "deletions": 0, "changed_files": 0,
        }),
    );
    pull
}

/// GitHub's `pull-request-minimal`: a PR as a check run names it.
fn pull_minimal_json(s: &Store, p: &DoublePull) -> Value {
    let repo = json!({
        "id": 1_296_269, "name": s.repo,
        "url": format!("{API_ROOT}/repos/{}/{}", s.owner, s.repo),
    });
    let branch = |name: &str| json!({ "ref": name, "sha": head_sha(s, name), "repo": repo });
    json!({
        "id": 5_000_000 + p.number, "number": p.number,
        "url": api_url(s, &format!("pulls/{}", p.number)),
        "head": branch(&p.head), "base": branch(&p.base),
    })
}

fn comment_json(s: &Store, c: &DoubleComment) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_kwDO{:08}", c.id),
        "url": api_url(s, &format!("issues/comments/{}", c.id)),
        "html_url": web_url(s, &format!("pull/{}#issuecomment-{}", c.issue, c.id)),
        "issue_url": api_url(s, &format!("issues/{}", c.issue)),
        "body": c.body, "user": user_json(&c.user), "author_association": association(&c.user),
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    })
}

/// GitHub's `commit` in a PR's commit list. `author` and `committer` are
/// the accounts GitHub linked the commit to, `null` when it linked none.
fn commit_json(s: &Store, c: &DoubleCommit, parent: &str) -> Value {
    let linked = c.login.as_deref().map_or(Value::Null, user_json);
    let tree = sha_of(&c.sha);
    json!({
        "url": api_url(s, &format!("commits/{}", c.sha)), "sha": c.sha,
        "node_id": format!("C_kwDO{}", &c.sha[..12.min(c.sha.len())]),
        "html_url": web_url(s, &format!("commit/{}", c.sha)),
        "comments_url": api_url(s, &format!("commits/{}/comments", c.sha)),
        "commit": {
            "url": api_url(s, &format!("git/commits/{}", c.sha)),
            "author": { "name": c.author_name, "email": c.author_email, "date": TIMESTAMP },
            "committer": { "name": c.author_name, "email": c.committer_email, "date": TIMESTAMP },
            "message": "flotilla: drift", "comment_count": 0,
            "tree": { "sha": tree, "url": api_url(s, &format!("git/trees/{tree}")) },
            "verification": {
                "verified": false, "reason": "unsigned", "signature": null, "payload": null,
                "verified_at": null,
            },
        },
        "author": linked, "committer": linked,
        "parents": [{
            "sha": parent, "url": api_url(s, &format!("commits/{parent}")),
            "html_url": web_url(s, &format!("commit/{parent}")),
        }],
    })
}

fn status_json(s: &Store, st: &DoubleStatus) -> Value {
    let creator = user_json(BOT_LOGIN);
    json!({
        "id": st.id, "node_id": format!("SC_kwDO{:08}", st.id), "state": st.state,
        "context": st.context, "description": st.description, "target_url": st.target_url,
        "avatar_url": creator["avatar_url"], "url": api_url(s, &format!("statuses/{}", st.sha)),
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "creator": creator,
    })
}

/// GitHub's `integration`: the App that posts check runs.
fn app_json(s: &Store) -> Value {
    json!({
        "id": APP_ID, "slug": "flotilla", "node_id": format!("A_kwDO{APP_ID:08}"),
        "client_id": "Iv23liflotilla0000000", "owner": owner_json(s), "name": "flotilla",
        "description": "Drift pull requests and previews for a Flux fleet",
        "external_url": "https://flotilla.example", "html_url": format!("{WEB_ROOT}/apps/flotilla"),
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "permissions": {
            "checks": "write", "contents": "write", "metadata": "read",
            "pull_requests": "write", "statuses": "write",
        },
        "events": ["pull_request", "push"],
    })
}

async fn rate_limit() -> Response {
    let rate = json!({ "limit": 5000, "used": 1, "remaining": 4999, "reset": 4_102_444_800u64 });
    let resources = json!({ "core": rate, "search": rate, "graphql": rate });
    axum::Json(json!({ "resources": resources, "rate": rate })).into_response()
}

async fn mint_installation_token(
    State(store): State<Shared>,
    Path(id): Path<u64>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
) -> Answer {
    if id != INSTALLATION_ID || !caller.starts_with("app-") {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let mut s = lock(&store);
    s.minted += 1;
    let token = format!("ghs_installation{}{}", s.minted, &sha_of("token")[..12]);
    s.tokens.insert(token.clone(), APP_LOGIN.to_owned());
    let body = json!({
        "token": token, "expires_at": "2099-01-01T00:00:00Z",
        "permissions": {
            "checks": "write", "contents": "write", "metadata": "read",
            "pull_requests": "write", "statuses": "write",
        },
        "repository_selection": "selected",
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn get_repo(State(store): State<Shared>, Path(p): Path<RepoPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    Ok(axum::Json(full_repo_json(&s)).into_response())
}

async fn get_ref(State(store): State<Shared>, Path(p): Path<RepoRefPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let name = format!("refs/{}", p.reference);
    match s.refs.get(&name) {
        Some(sha) => Ok(axum::Json(ref_json(&s, &name, sha)).into_response()),
        None => Err(not_found_error()),
    }
}

/// `git/matching-refs/{ref}`: every ref whose name starts with `refs/{ref}`
/// (`heads/flotilla` lists `refs/heads/flotilla/drift/…`), an empty list
/// when none does.
async fn list_matching_refs(State(store): State<Shared>, Path(p): Path<RepoRefPath>) -> Answer {
    matching_refs(&store, &p.owner, &p.repo, &format!("refs/{}", p.reference))
}

fn matching_refs(store: &Shared, owner: &str, repo: &str, prefix: &str) -> Answer {
    let s = lock(store);
    check_repo(&s, owner, repo)?;
    let refs: Vec<Value> = s
        .refs
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, sha)| ref_json(&s, name, sha))
        .collect();
    Ok(axum::Json(Value::Array(refs)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

async fn create_ref(
    State(store): State<Shared>,
    Path(p): Path<RepoPath>,
    body: axum::body::Bytes,
) -> Answer {
    let new: NewRef = parse(&body)?;
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    if !new.name.starts_with("refs/") || s.refs.contains_key(&new.name) {
        return Err(validation("Reference already exists", "ref"));
    }
    s.refs.insert(new.name.clone(), new.sha.clone());
    Ok((
        StatusCode::CREATED,
        axum::Json(ref_json(&s, &new.name, &new.sha)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRef {
    sha: String,
    #[serde(default)]
    force: bool,
}

async fn update_ref(
    State(store): State<Shared>,
    Path(p): Path<RepoRefPath>,
    body: axum::body::Bytes,
) -> Answer {
    let mv: MoveRef = parse(&body)?;
    let _ = mv.force;
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let name = format!("refs/{}", p.reference);
    if !s.refs.contains_key(&name) {
        return Err(validation("Reference does not exist", "ref"));
    }
    s.refs.insert(name.clone(), mv.sha.clone());
    Ok(axum::Json(ref_json(&s, &name, &mv.sha)).into_response())
}

async fn delete_ref(State(store): State<Shared>, Path(p): Path<RepoRefPath>) -> Answer {
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    match s.refs.remove(&format!("refs/{}", p.reference)) {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(validation("Reference does not exist", "ref")),
    }
}

async fn list_pulls(
    State(store): State<Shared>,
    Path(p): Path<RepoPath>,
    Query(q): Query<PageQuery>,
) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let state = q.state.as_deref().unwrap_or("open");
    let head = q.head.as_deref().map(|h| match h.split_once(':') {
        Some((owner, branch)) if owner == s.owner => Some(branch.to_owned()),
        Some(_) => None,
        None => Some(h.to_owned()),
    });
    let pulls: Vec<Value> = s
        .pulls
        .values()
        .rev()
        .filter(|pr| state == "all" || pr.state == state)
        .filter(|pr| {
            head.as_ref()
                .is_none_or(|h| h.as_deref() == Some(pr.head.as_str()))
        })
        .filter(|pr| q.base.as_ref().is_none_or(|b| *b == pr.base))
        .map(|pr| pull_simple_json(&s, pr))
        .collect();
    Ok(paged(pulls, &q, &api_url(&s, "pulls")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPull {
    title: String,
    head: String,
    base: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    maintainer_can_modify: Option<bool>,
}

async fn create_pull(
    State(store): State<Shared>,
    Path(p): Path<RepoPath>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> Answer {
    let new: NewPull = parse(&body)?;
    let _ = (new.draft, new.maintainer_can_modify);
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let head = new
        .head
        .split_once(':')
        .map_or(new.head.clone(), |(_, b)| b.to_owned());
    check_new_pull(&s, &head, &new.base, new.body.as_deref())?;
    s.next_number += 1;
    let pull = DoublePull {
        number: s.next_number,
        title: new.title,
        body: new.body.unwrap_or_default(),
        head,
        base: new.base,
        state: "open".to_owned(),
        user: caller,
    };
    s.pulls.insert(pull.number, pull.clone());
    Ok((StatusCode::CREATED, axum::Json(pull_json(&s, &pull))).into_response())
}

/// GitHub's 422s for a new PR: unknown branches, a duplicate open PR for
/// the same head and base, an over-long body.
fn check_new_pull(s: &Store, head: &str, base: &str, body: Option<&str>) -> Result<(), Refusal> {
    for (field, branch) in [("head", head), ("base", base)] {
        if !s.refs.contains_key(&format!("refs/heads/{branch}")) {
            return Err(validation(&format!("{field} invalid"), field));
        }
    }
    let duplicate = s
        .pulls
        .values()
        .any(|pr| pr.state == "open" && pr.head == head && pr.base == base);
    if duplicate {
        let msg = format!("A pull request already exists for {}:{head}.", s.owner);
        return Err(validation(&msg, "head"));
    }
    check_body_length(body)
}

fn check_body_length(body: Option<&str>) -> Result<(), Refusal> {
    match body {
        Some(b) if b.chars().count() > BODY_LIMIT => Err(validation(
            "body is too long (maximum is 65536 characters)",
            "body",
        )),
        _ => Ok(()),
    }
}

async fn get_pull(State(store): State<Shared>, Path(p): Path<RepoNumberPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    match s.pulls.get(&p.number) {
        Some(pr) => Ok(axum::Json(pull_json(&s, pr)).into_response()),
        None => Err(not_found_error()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditPull {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    base: Option<String>,
}

async fn update_pull(
    State(store): State<Shared>,
    Path(p): Path<RepoNumberPath>,
    body: axum::body::Bytes,
) -> Answer {
    let edit: EditPull = parse(&body)?;
    check_body_length(edit.body.as_deref())?;
    if edit
        .state
        .as_deref()
        .is_some_and(|st| st != "open" && st != "closed")
    {
        return Err(validation("state is not included in the list", "state"));
    }
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let Some(pr) = s.pulls.get_mut(&p.number) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if let Some(t) = edit.title {
        pr.title = t;
    }
    if let Some(b) = edit.body {
        pr.body = b;
    }
    if let Some(st) = edit.state {
        pr.state = st;
    }
    if let Some(b) = edit.base {
        pr.base = b;
    }
    let pr = pr.clone();
    Ok(axum::Json(pull_json(&s, &pr)).into_response())
}

async fn list_pull_commits(
    State(store): State<Shared>,
    Path(p): Path<RepoNumberPath>,
    Query(q): Query<PageQuery>,
) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let Some(pr) = s.pulls.get(&p.number) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    let commits: Vec<Value> = s
        .branch_commits
        .get(&pr.head)
        .map(|cs| {
            let mut parent = head_sha(&s, &pr.base);
            cs.iter()
                .map(|c| {
                    let json = commit_json(&s, c, &parent);
                    parent.clone_from(&c.sha);
                    json
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(paged(
        commits,
        &q,
        &api_url(&s, &format!("pulls/{}/commits", p.number)),
    ))
}

async fn list_comments(
    State(store): State<Shared>,
    Path(p): Path<RepoNumberPath>,
    Query(q): Query<PageQuery>,
) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    if !s.pulls.contains_key(&p.number) {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let comments: Vec<Value> = s
        .comments
        .values()
        .filter(|c| c.issue == p.number)
        .map(|c| comment_json(&s, c))
        .collect();
    Ok(paged(
        comments,
        &q,
        &api_url(&s, &format!("issues/{}/comments", p.number)),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentText {
    body: String,
}

async fn create_comment(
    State(store): State<Shared>,
    Path(p): Path<RepoNumberPath>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> Answer {
    let text: CommentText = parse(&body)?;
    check_body_length(Some(&text.body))?;
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    if !s.pulls.contains_key(&p.number) {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let comment = DoubleComment {
        id: s.id(),
        issue: p.number,
        body: text.body,
        user: caller,
    };
    s.comments.insert(comment.id, comment.clone());
    Ok((StatusCode::CREATED, axum::Json(comment_json(&s, &comment))).into_response())
}

async fn get_comment(State(store): State<Shared>, Path(p): Path<RepoIdPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    match s.comments.get(&p.id) {
        Some(c) => Ok(axum::Json(comment_json(&s, c)).into_response()),
        None => Err(not_found_error()),
    }
}

async fn update_comment(
    State(store): State<Shared>,
    Path(p): Path<RepoIdPath>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> Answer {
    let text: CommentText = parse(&body)?;
    check_body_length(Some(&text.body))?;
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let Some(c) = s.comments.get_mut(&p.id) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if c.user != caller {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    c.body = text.body;
    let c = c.clone();
    Ok(axum::Json(comment_json(&s, &c)).into_response())
}

async fn delete_comment(State(store): State<Shared>, Path(p): Path<RepoIdPath>) -> Answer {
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    match s.comments.remove(&p.id) {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(not_found_error()),
    }
}

async fn list_labels(State(store): State<Shared>, Path(p): Path<RepoNumberPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let labels: Vec<Value> = s
        .labels
        .get(&p.number)
        .map(|ls| ls.iter().map(|l| label_json(&s, l)).collect())
        .unwrap_or_default();
    Ok(axum::Json(Value::Array(labels)).into_response())
}

/// GitHub takes `{"labels": [...]}` or a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum LabelsBody {
    Wrapped { labels: Vec<String> },
    Bare(Vec<String>),
}

async fn add_labels(
    State(store): State<Shared>,
    Path(p): Path<RepoNumberPath>,
    body: axum::body::Bytes,
) -> Answer {
    let names = match parse::<LabelsBody>(&body) {
        Ok(LabelsBody::Wrapped { labels } | LabelsBody::Bare(labels)) => labels,
        Err(r) => return Err(r),
    };
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    if !s.pulls.contains_key(&p.number) {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let on_issue = s.labels.entry(p.number).or_default();
    for name in names {
        if !on_issue.contains(&name) {
            on_issue.push(name);
        }
    }
    let all: Vec<Value> = s.labels[&p.number]
        .iter()
        .map(|l| label_json(&s, l))
        .collect();
    Ok(axum::Json(Value::Array(all)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    state: String,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

async fn create_status(
    State(store): State<Shared>,
    Path(p): Path<RepoShaPath>,
    body: axum::body::Bytes,
) -> Answer {
    let new: NewStatus = parse(&body)?;
    if !["pending", "success", "failure", "error"].contains(&new.state.as_str()) {
        return Err(validation("state is not included in the list", "state"));
    }
    if new
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return Err(validation(
            "description is too long (maximum is 140 characters)",
            "description",
        ));
    }
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let status = DoubleStatus {
        id: s.id(),
        sha: p.sha,
        state: new.state,
        context: new.context.unwrap_or_else(|| "default".to_owned()),
        description: new.description,
        target_url: new.target_url,
    };
    s.statuses.push(status.clone());
    Ok((StatusCode::CREATED, axum::Json(status_json(&s, &status))).into_response())
}

async fn list_statuses(State(store): State<Shared>, Path(p): Path<RepoRefPath>) -> Answer {
    let s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let sha = s
        .refs
        .get(&format!("refs/heads/{}", p.reference))
        .cloned()
        .unwrap_or(p.reference);
    let list: Vec<Value> = s
        .statuses
        .iter()
        .rev()
        .filter(|st| st.sha == sha)
        .map(|st| status_json(&s, st))
        .collect();
    Ok(axum::Json(Value::Array(list)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCheckRun {
    name: String,
    head_sha: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    details_url: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    output: Option<CheckOutput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckOutput {
    title: String,
    summary: String,
    #[serde(default)]
    text: Option<String>,
}

/// Check runs: GitHub Apps only, as on GitHub; a completed run needs a
/// conclusion; the summary is capped at 65,535 characters.
async fn create_check_run(
    State(store): State<Shared>,
    Path(p): Path<RepoPath>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> Answer {
    let run: NewCheckRun = parse(&body)?;
    if !caller.ends_with("[bot]") {
        return Err(error(
            StatusCode::FORBIDDEN,
            "You must authenticate via a GitHub App.",
        ));
    }
    let status = run.status.as_deref().unwrap_or("queued");
    if status == "completed" && run.conclusion.is_none() {
        return Err(validation(
            "conclusion is required when completed",
            "conclusion",
        ));
    }
    if run
        .output
        .as_ref()
        .is_some_and(|o| o.summary.chars().count() > 65_535)
    {
        return Err(validation("summary is too long", "output.summary"));
    }
    let mut s = lock(&store);
    check_repo(&s, &p.owner, &p.repo)?;
    let id = s.id();
    let url = api_url(&s, &format!("check-runs/{id}"));
    let (title, summary, text) = run.output.map_or((None, None, None), |o| {
        (Some(o.title), Some(o.summary), o.text)
    });
    let pulls: Vec<Value> = s
        .pulls
        .values()
        .filter(|pr| pr.state == "open" && head_sha(&s, &pr.head) == run.head_sha)
        .map(|pr| pull_minimal_json(&s, pr))
        .collect();
    let completed = status == "completed";
    let mut stored = json!({
        "id": id, "node_id": format!("CR_kwDO{id:08}"), "name": run.name, "head_sha": run.head_sha,
        "status": status, "conclusion": run.conclusion, "details_url": run.details_url,
        "external_id": run.external_id.unwrap_or_default(), "url": url,
        "html_url": web_url(&s, &format!("runs/{id}")),
        "started_at": TIMESTAMP,
        "completed_at": if completed { Value::from(TIMESTAMP) } else { Value::Null },
    });
    extend(
        &mut stored,
        json!({
            "output": {
                "title": title, "summary": summary, "text": text,
                "annotations_count": 0, "annotations_url": format!("{url}/annotations"),
            },
            "check_suite": { "id": id_of(&format!("suite/{}", run.head_sha)) },
            "app": app_json(&s), "pull_requests": pulls,
        }),
    );
    s.check_runs.push(stored.clone());
    Ok((StatusCode::CREATED, axum::Json(stored)).into_response())
}
