//! A recorded API server: serves a snapshot directory (`discovery/*.json`,
//! `objects/*.json` as `record.sh` or `flotilla snapshot` write them) the way
//! kube-apiserver answers, so kube-rs can read it over real HTTP.
//!
//! - `GET /version`, `/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`: the recorded
//!   discovery documents, verbatim; `/openapi/v3` and
//!   `/openapi/v3/apis/<g>/<v>` (any `?hash=`) the recorded OpenAPI v3 index
//!   and documents (`discovery/openapi_v3*.json`) when the snapshot has them,
//!   404 otherwise, as a server without them answers. `/api` and `/apis` asked with the
//!   aggregated discovery `Accept` (`as=APIGroupDiscoveryList`) answer an
//!   `apidiscovery.k8s.io/v2` list built from those documents, as a 1.30+
//!   server does (switch off with [`ReplayServer::set_aggregated_discovery`]).
//! - `GET /api/v1/<plural>`, `/apis/<g>/<v>/<plural>` (and the
//!   `namespaces/<ns>/` forms): a `<Kind>List` with items stripped of
//!   `apiVersion`/`kind` (as the server sends them), honouring `limit` and
//!   `continue` (opaque base64 tokens, 400 when malformed); every page is
//!   served from one fixed state, so `resourceVersion=0` (the watch cache)
//!   and a quorum read answer the same.
//! - `GET …/<plural>/<name>`: one object, typed.
//! - `watch=true`: 200 and a stream that stays open and silent until the
//!   server is killed (enough for a watcher to sit on; no events yet).
//! - `coordination.k8s.io/v1` Leases (`…/namespaces/<ns>/leases[/<name>]`):
//!   create, read, replace and patch (merge, strategic merge, server-side
//!   apply) with the API server's conflicts, held in memory ([`leases`]), so
//!   replicas of `flotilla serve` can elect a leader against the replay.
//! - anything else: a 404 `Status`; non-GET: 405; paths set with
//!   [`ReplayServer::fail_path`]: that status; continue tokens after
//!   [`ReplayServer::expire_continue_tokens`]: 410 `Expired`.
//!
//! Every answered request is counted and logged (`GET <path>?<query>`).
//! [`ReplayServer::kill`] closes the listener and drops open connections
//! (clients then get "connection refused"); [`ReplayServer::restart`] listens
//! again on the same port: an API server outage.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

mod leases;

type Body = BoxBody<Bytes, Infallible>;

/// A running replay of one snapshot on `127.0.0.1`.
pub struct ReplayServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    addr: SocketAddr,
    state: Arc<State>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

/// What the server answers from, fixed at start, plus its counters.
struct State {
    documents: BTreeMap<String, Bytes>,
    lists: BTreeMap<String, Collection>,
    resource_version: String,
    requests: AtomicU64,
    log: Mutex<Vec<String>>,
    /// Most items per page whatever `limit` asks (0: no cap). A real server
    /// may return fewer items than asked; clients must follow `continue`.
    max_page: AtomicUsize,
    /// Aggregated discovery (`apidiscovery.k8s.io/v2`) of `/api` and
    /// `/apis`, built from the legacy documents.
    aggregated: BTreeMap<String, Bytes>,
    /// Whether to answer aggregated discovery when asked (a 1.30+ server
    /// does); off, `/api` and `/apis` answer legacy documents whatever the
    /// `Accept` header, as older servers do.
    aggregated_on: AtomicBool,
    /// Paths forced to fail with a status code (an aggregated API down).
    failures: Mutex<BTreeMap<String, u16>>,
    /// Continue tokens to answer 410 Gone, as after an etcd compaction.
    expire_tokens: AtomicUsize,
    /// Leases written by clients.
    leases: leases::Leases,
}

/// `Content-Type` of an aggregated discovery answer.
const AGGREGATED_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One resource type: its list path's items, without `apiVersion`/`kind`.
struct Collection {
    api_version: String,
    kind: String,
    items: Vec<Value>,
}

impl ReplayServer {
    /// Load `snapshot_dir` and listen on a free port of 127.0.0.1.
    pub async fn start(snapshot_dir: impl AsRef<Path>) -> io::Result<ReplayServer> {
        let state = Arc::new(load_state(snapshot_dir.as_ref())?);
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(ReplayServer {
            url: format!("http://{addr}"),
            addr,
            state,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// Requests answered since start (or the last [`ReplayServer::reset_counts`]).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// `GET <path>?<query>` of every request answered, in arrival order.
    pub fn request_log(&self) -> Vec<String> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Zero the counter and the log.
    pub fn reset_counts(&self) {
        self.state.requests.store(0, Ordering::SeqCst);
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Cap items per page regardless of `limit` (`None`: no cap).
    pub fn set_max_page(&self, max: Option<usize>) {
        self.state
            .max_page
            .store(max.unwrap_or(0), Ordering::SeqCst);
    }

    /// Answer aggregated discovery when a client asks for it (default: on,
    /// like the recorded v1.36 server); off makes the server look pre-1.26.
    pub fn set_aggregated_discovery(&self, on: bool) {
        self.state.aggregated_on.store(on, Ordering::SeqCst);
    }

    /// Answer the next `count` requests carrying a continue token with
    /// 410 Gone (`Expired`), as a server does once etcd compacted past the
    /// token's resource version.
    pub fn expire_continue_tokens(&self, count: usize) {
        self.state.expire_tokens.store(count, Ordering::SeqCst);
    }

    /// Make GETs of exactly `path` fail with HTTP `code` (e.g. an aggregated
    /// API server that is down); the request is still counted.
    pub fn fail_path(&self, path: &str, code: u16) {
        self.state
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), code);
    }

    /// A kube-rs configuration for this server: plain HTTP, no auth.
    pub fn config(&self) -> kube::Config {
        let uri = self.url.parse().expect("replay url is a valid uri");
        kube::Config::new(uri)
    }

    /// A kube-rs client for this server.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("client for a plain http url")
    }

    /// Stop answering: close the listener and drop every open connection
    /// (open watches end). New connections are refused until restarted.
    pub fn kill(&self) {
        if let Some(task) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// Listen again on the same port after [`ReplayServer::kill`]; counters
    /// keep running.
    pub async fn restart(&self) -> io::Result<()> {
        self.kill();
        let listener = listen(self.addr)?;
        let task = tokio::spawn(accept_loop(listener, self.state.clone()));
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(())
    }

    /// Shut down for good.
    pub fn stop(self) {
        self.kill();
    }

    /// A Lease as the server holds it now (`None`: never written).
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.state.leases.get(namespace, name)
    }

    /// Whether the server is listening (not killed).
    pub fn is_running(&self) -> bool {
        self.accept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A listener with `SO_REUSEADDR`, so a restart can take the port back while
/// the killed connections sit in TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Accept connections until aborted; aborting drops the `JoinSet`, which
/// aborts every connection task with it.
async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: back off, don't spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Leases first (their writes need the body), then the recording.
async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let Some(lease) = leases::lease_path(req.uri().path()) else {
        return answer(state, req);
    };
    let held = match &lease.name {
        Some(name) if req.method() == hyper::Method::GET => {
            state.leases.get(&lease.namespace, name).is_some()
        }
        _ => req.method() != hyper::Method::GET,
    };
    if !held {
        return answer(state, req);
    }
    count(state, &req);
    let method = req.method().clone();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::BAD_REQUEST, "BadRequest", "unreadable body"),
    };
    let write = leases::Write {
        method: &method,
        content_type: &content_type,
        query: &query,
        body: &body,
    };
    state
        .leases
        .answer(&lease, &write)
        .unwrap_or_else(not_found)
}

/// Count and log one request.
fn count(state: &State, req: &Request<Incoming>) {
    let path = req.uri().path();
    state.requests.fetch_add(1, Ordering::SeqCst);
    let line = match req.uri().query() {
        Some(q) => format!("{} {path}?{q}", req.method()),
        None => format!("{} {path}", req.method()),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(line);
}

fn answer(state: &State, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    count(state, &req);

    if req.method() != hyper::Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the replay server is read-only",
        );
    }
    let failure = state
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&path)
        .copied();
    if let Some(code) = failure {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return status(code, "InternalError", "injected failure");
    }
    let wants_aggregated = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.contains("as=APIGroupDiscoveryList"))
        });
    let aggregated = state.aggregated.get(&path);
    if let Some(doc) =
        aggregated.filter(|_| wants_aggregated && state.aggregated_on.load(Ordering::SeqCst))
    {
        let mut response = json_response(StatusCode::OK, doc.clone());
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(AGGREGATED_TYPE),
        );
        return response;
    }
    if let Some(doc) = state.documents.get(&path) {
        return json_response(StatusCode::OK, doc.clone());
    }
    match route(state, &path) {
        Some(Route::List {
            collection,
            namespace,
        }) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            let _ = (collection, namespace);
            silent_stream()
        }
        Some(Route::List {
            collection,
            namespace,
        }) => list_page(state, collection, namespace.as_deref(), &query),
        Some(Route::Get {
            collection,
            namespace,
            name,
        }) => get_object(collection, namespace.as_deref(), &name),
        None => not_found(),
    }
}

enum Route<'a> {
    List {
        collection: &'a Collection,
        namespace: Option<String>,
    },
    Get {
        collection: &'a Collection,
        namespace: Option<String>,
        name: String,
    },
}

/// Split `<group-version path>/[namespaces/<ns>/]<plural>[/<name>]`.
fn route<'a>(state: &'a State, path: &str) -> Option<Route<'a>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let gv_len = match *segments.first()? {
        "api" => 2,
        "apis" => 3,
        _ => return None,
    };
    if segments.len() <= gv_len {
        return None;
    }
    let gv = format!("/{}", segments[..gv_len].join("/"));
    let rest = &segments[gv_len..];
    let lookup = |plural: &str| state.lists.get(&format!("{gv}/{plural}"));
    match rest {
        [plural] => Some(Route::List {
            collection: lookup(plural)?,
            namespace: None,
        }),
        [plural, name] => Some(Route::Get {
            collection: lookup(plural)?,
            namespace: None,
            name: (*name).to_owned(),
        }),
        ["namespaces", ns, plural] => Some(Route::List {
            collection: lookup(plural)?,
            namespace: Some((*ns).to_owned()),
        }),
        ["namespaces", ns, plural, name] => Some(Route::Get {
            collection: lookup(plural)?,
            namespace: Some((*ns).to_owned()),
            name: (*name).to_owned(),
        }),
        _ => None,
    }
}

fn in_namespace(item: &Value, namespace: Option<&str>) -> bool {
    namespace.is_none_or(|ns| item["metadata"]["namespace"].as_str() == Some(ns))
}

/// One page of a LIST. The continue token encodes the resource version and
/// the offset of the next item, base64 like the real server's.
fn list_page(
    state: &State,
    collection: &Collection,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Response<Body> {
    let token = query.get("continue").filter(|c| !c.is_empty());
    let expire = |n: usize| n.checked_sub(1);
    if token.is_some()
        && state
            .expire_tokens
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, expire)
            .is_ok()
    {
        return status(
            StatusCode::GONE,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result.",
        );
    }
    let start = match token {
        None => 0,
        Some(token) => match decode_token(token, &state.resource_version) {
            Some(offset) => offset,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "continue key is not valid",
                );
            }
        },
    };
    let matching: Vec<&Value> = collection
        .items
        .iter()
        .filter(|i| in_namespace(i, namespace))
        .collect();
    let mut limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let cap = state.max_page.load(Ordering::SeqCst);
    if cap > 0 {
        limit = limit.min(cap);
    }
    let end = start.saturating_add(limit).min(matching.len());
    let page: Vec<Value> = matching
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|v| (*v).clone())
        .collect();
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        Value::String(state.resource_version.clone()),
    );
    if end < matching.len() {
        metadata.insert(
            "continue".into(),
            Value::String(encode_token(&state.resource_version, end)),
        );
        metadata.insert("remainingItemCount".into(), json!(matching.len() - end));
    }
    let body = json!({
        "kind": format!("{}List", collection.kind),
        "apiVersion": collection.api_version,
        "metadata": metadata,
        "items": page,
    });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

fn encode_token(resource_version: &str, offset: usize) -> String {
    STANDARD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": resource_version, "start": offset}).to_string())
}

fn decode_token(token: &str, resource_version: &str) -> Option<usize> {
    let bytes = STANDARD.decode(token).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    if value["rv"].as_str() != Some(resource_version) {
        return None;
    }
    value["start"].as_u64().map(|s| s as usize)
}

fn get_object(collection: &Collection, namespace: Option<&str>, name: &str) -> Response<Body> {
    let found = collection.items.iter().find(|i| {
        i["metadata"]["name"].as_str() == Some(name)
            && in_namespace(i, namespace)
            && (namespace.is_some() || i["metadata"]["namespace"].is_null())
    });
    let Some(item) = found else {
        return not_found();
    };
    let mut typed = Map::new();
    typed.insert(
        "apiVersion".into(),
        Value::String(collection.api_version.clone()),
    );
    typed.insert("kind".into(), Value::String(collection.kind.clone()));
    if let Value::Object(fields) = item {
        typed.extend(fields.clone());
    }
    json_response(
        StatusCode::OK,
        Bytes::from(Value::Object(typed).to_string()),
    )
}

/// A watch that never sends an event and never ends (until killed).
fn silent_stream() -> Response<Body> {
    let stream = futures::stream::pending::<Result<Frame<Bytes>, Infallible>>();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("static response")
}

fn not_found() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    json_response(code, Bytes::from(body.to_string()))
}

fn json_response(code: StatusCode, body: Bytes) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(Full::new(body)))
        .expect("static response")
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read `discovery/` into API paths and `objects/` into collections.
fn load_state(dir: &Path) -> io::Result<State> {
    let mut documents = BTreeMap::new();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    for (name, bytes) in read_json_files(&dir.join("discovery"))? {
        let doc: Value = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        if let Some(gv) = doc["groupVersion"].as_str() {
            for r in doc["resources"].as_array().into_iter().flatten() {
                if let (Some(plural), Some(kind)) = (r["name"].as_str(), r["kind"].as_str()) {
                    kinds.insert(format!("{}/{plural}", gv_path(gv)), kind.to_owned());
                }
            }
        }
        documents.insert(discovery_path(&name), Bytes::from(bytes));
    }
    let mut lists = BTreeMap::new();
    let mut max_rv = 0u64;
    for (name, bytes) in read_json_files(&dir.join("objects"))? {
        let Some((path, api_version)) = object_file_path(&name) else {
            continue;
        };
        let list: Value = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        let mut kind = kinds.get(&path).cloned();
        let mut items = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let Value::Object(mut fields) = item.clone() else {
                continue;
            };
            if let Some(Value::String(k)) = fields.shift_remove("kind") {
                kind.get_or_insert(k);
            }
            fields.shift_remove("apiVersion");
            if let Some(rv) = fields
                .get("metadata")
                .and_then(|m| m["resourceVersion"].as_str())
                .and_then(|rv| rv.parse().ok())
            {
                max_rv = max_rv.max(rv);
            }
            items.push(Value::Object(fields));
        }
        let kind = kind.unwrap_or_else(|| "".to_owned());
        lists.insert(
            path,
            Collection {
                api_version,
                kind,
                items,
            },
        );
    }
    let aggregated = aggregate_discovery(&documents)?;
    Ok(State {
        aggregated,
        aggregated_on: AtomicBool::new(true),
        failures: Mutex::new(BTreeMap::new()),
        expire_tokens: AtomicUsize::new(0),
        leases: leases::Leases::new(),
        documents,
        lists,
        resource_version: (max_rv + 1).to_string(),
        requests: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
        max_page: AtomicUsize::new(0),
    })
}

fn read_json_files(dir: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            out.push((stem.to_owned(), std::fs::read(entry.path())?));
        }
    }
    out.sort();
    Ok(out)
}

/// `apis_apps_v1` → `/apis/apps/v1`; `api_v1` → `/api/v1`; `version` → `/version`.
fn discovery_path(stem: &str) -> String {
    format!("/{}", stem.replace('_', "/"))
}

fn gv_path(group_version: &str) -> String {
    if group_version.contains('/') {
        format!("/apis/{group_version}")
    } else {
        format!("/api/{group_version}")
    }
}

/// `apps_v1_deployments` → (`/apis/apps/v1/deployments`, `apps/v1`).
fn object_file_path(stem: &str) -> Option<(String, String)> {
    let mut parts = stem.splitn(3, '_');
    let (group, version, plural) = (parts.next()?, parts.next()?, parts.next()?);
    let api_version = if group == "core" {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some((format!("{}/{plural}", gv_path(&api_version)), api_version))
}

/// Build the aggregated answers of `/api` and `/apis` from the legacy
/// documents: groups in `/apis` order, versions preferred first, resources
/// with their subresources nested, as the server's `APIGroupDiscoveryList`.
fn aggregate_discovery(documents: &BTreeMap<String, Bytes>) -> io::Result<BTreeMap<String, Bytes>> {
    let doc = |path: &str| -> io::Result<Option<Value>> {
        documents
            .get(path)
            .map(|b| serde_json::from_slice(b).map_err(io::Error::other))
            .transpose()
    };
    let mut out = BTreeMap::new();
    if let Some(api) = doc("/api")? {
        let versions: Vec<String> = api["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let core = aggregated_group("", &versions, &doc)?;
        out.insert("/api".to_owned(), aggregated_list(vec![core]));
    }
    if let Some(apis) = doc("/apis")? {
        let mut items = Vec::new();
        for g in apis["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or_default();
            let mut versions: Vec<String> = g["preferredVersion"]["version"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect();
            for v in g["versions"].as_array().into_iter().flatten() {
                let v = v["version"].as_str().unwrap_or_default().to_owned();
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
            items.push(aggregated_group(name, &versions, &doc)?);
        }
        out.insert("/apis".to_owned(), aggregated_list(items));
    }
    Ok(out)
}

fn aggregated_list(items: Vec<Value>) -> Bytes {
    let list = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    Bytes::from(list.to_string())
}

fn aggregated_group(
    group: &str,
    versions: &[String],
    doc: &dyn Fn(&str) -> io::Result<Option<Value>>,
) -> io::Result<Value> {
    let mut out = Vec::new();
    for version in versions {
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let Some(list) = doc(&path)? else { continue };
        let resources: Vec<&Value> = list["resources"].as_array().into_iter().flatten().collect();
        let entries: Vec<Value> = resources
            .iter()
            .filter_map(|r| {
                let name = r["name"].as_str()?;
                (!name.contains('/')).then(|| aggregated_resource(group, version, r, &resources))
            })
            .collect();
        out.push(json!({"version": version, "resources": entries, "freshness": "Current"}));
    }
    let metadata = if group.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": group, "creationTimestamp": null})
    };
    Ok(json!({"metadata": metadata, "versions": out}))
}

fn aggregated_resource(group: &str, version: &str, r: &Value, all: &[&Value]) -> Value {
    let name = r["name"].as_str().unwrap_or_default();
    let prefix = format!("{name}/");
    let subresources: Vec<Value> = all
        .iter()
        .filter_map(|s| {
            let sub = s["name"].as_str()?.strip_prefix(&prefix)?;
            Some(json!({
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": s["kind"]},
                "verbs": s["verbs"],
            }))
        })
        .collect();
    let mut entry = json!({
        "resource": name,
        "responseKind": {"group": group, "version": version, "kind": r["kind"]},
        "scope": if r["namespaced"] == true { "Namespaced" } else { "Cluster" },
        "singularResource": r["singularName"],
        "verbs": r["verbs"],
    });
    for optional in ["shortNames", "categories"] {
        if r.get(optional).is_some() {
            entry[optional] = r[optional].clone();
        }
    }
    if !subresources.is_empty() {
        entry["subresources"] = Value::Array(subresources);
    }
    entry
}
