//! The HTTP side: `/metrics`, `/healthz`, `/readyz`, the fleet page (`/`
//! and `/clusters/<name>`), and the server loop that keeps them answering
//! whatever the clients do.
//!
//! Read-only over [`State`] and [`Metrics`]; nothing here can start or stop
//! an audit, so the port can be exposed to Prometheus without granting
//! anything. It does show what drifted (names and non-secret values) to
//! whoever reaches it; Secret values never reach the state. The fleet page is made from [`State`] alone
//! ([`crate::report::html`]): loading it costs no API server request, no
//! git fetch and no GitHub call, however often it is reloaded. It is served
//! with a Content-Security-Policy that lets nothing load or run but its own
//! stylesheet, and `nosniff`, `no-referrer` and `no-store`.
//!
//! The port is reachable from the cluster network, so a misbehaving client
//! must not be able to take the probes down ([`Limits`]):
//!
//! - **Header-read timeout.** A connection that sends nothing, or half a
//!   request, is closed after [`Limits::header_read_timeout`]. It is hyper's
//!   own `header_read_timeout`, which also runs while a keep-alive
//!   connection waits for its next request (hyper `src/proto/h1/conn.rs`:
//!   `poll_read_head` arms it, and going idle re-arms it), so it is the idle
//!   keep-alive timeout too. `axum::serve` installs no timer, which leaves
//!   hyper's timeout inert; hence this loop, after tokio-rs/axum
//!   `examples/serve-with-hyper`.
//! - **Connection cap.** At most [`Limits::max_connections`] (half the
//!   process's file descriptors, at most 256); at the cap the longest-idle
//!   connection is closed to make room ([`super::connections`] says why).
//!   An accept that fails for want of descriptors does the same and retries.
//! - **Request size.** Heads above [`Limits::max_head_bytes`] are refused by
//!   hyper (`max_buf_size`), bodies above [`Limits::max_body_bytes`] get 413
//!   (tower-http `RequestBodyLimitLayer`); no route reads a body.
//! - **Graceful shutdown.** On shutdown the listener closes, idle
//!   connections close, and requests in progress finish (hyper-util
//!   `GracefulShutdown`), for at most [`Limits::shutdown_grace`].

use super::connections::Connections;
use super::metrics::Metrics;
use super::state::{ClusterStatus, State};
use super::{Error, Shutdown};
use crate::report::html::{self, FleetEntry, PageContext};
use axum::Router;
use axum::extract::{Path, State as Shared};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use jiff::Timestamp;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;

/// What the handlers read.
#[derive(Debug, Clone)]
struct Probes {
    state: Arc<State>,
    metrics: Arc<Metrics>,
}

/// The OpenMetrics content type Prometheus negotiates for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How much the server tolerates from clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive within this; also how long a keep-alive
    /// connection may sit idle between requests.
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes; hyper
    /// accepts no less than 8 KiB.
    pub max_head_bytes: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// After shutdown, how long requests in progress get to finish.
    pub shutdown_grace: Duration,
}

/// Never more connections than this, whatever the descriptor limit: the
/// clients are Prometheus, the kubelet and a person with curl.
const MAX_CONNECTIONS: usize = 256;

impl Limits {
    /// The limits `flotilla serve` runs with, the connection cap from this
    /// process's open-file limit.
    pub fn for_this_process() -> Limits {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        Limits {
            max_connections: max_connections_for(nofile),
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    /// 5 s for a request head, 256 connections, 16 KiB heads, 64 KiB
    /// bodies, 10 s of grace.
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            max_connections: MAX_CONNECTIONS,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Half the descriptors go to HTTP connections, the rest stay for git,
/// kustomize and the API server clients; at least 8, at most 256.
pub fn max_connections_for(nofile: Option<u64>) -> usize {
    let half = nofile.map_or(MAX_CONNECTIONS as u64, |n| n / 2);
    usize::try_from(half)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(8, MAX_CONNECTIONS)
}

/// The service's routes.
pub fn router(state: Arc<State>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(fleet_page))
        .route("/clusters/{name}", get(cluster_page))
        .route("/favicon.ico", get(no_icon))
        .with_state(Probes { state, metrics })
}

/// Serve [`router`] on `listener` with the process's [`Limits`] until
/// `shutdown` fires; in-flight requests finish first.
pub async fn serve_http(
    listener: TcpListener,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    serve(
        listener,
        router(state, metrics),
        &Limits::for_this_process(),
        shutdown,
    )
    .await
}

/// Serve `app` on `listener` within `limits` until `shutdown` fires, then
/// let requests in progress finish (for at most `limits.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let app = app.layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    let table = Connections::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8 * 1024));
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        max_connections = limits.max_connections,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        "http server listening"
    );
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e, &table).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        // Every slot is serving a request: closing the newcomer is all
        // that is left (dropping the stream closes it).
        let Some(slot) = table.admit() else {
            continue;
        };
        // The router, marking the connection busy while a request is in
        // progress so that eviction passes it by.
        let (app, activity) = (app.clone(), slot.conn());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = activity.begin_request();
            let call = app.clone().oneshot(request);
            async move {
                let response = call.await;
                drop(busy);
                response
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            tokio::select! {
                // Errors here are the client's (gone, too slow, malformed):
                // nothing to report above debug.
                served = conn => if let Err(e) = served {
                    tracing::debug!(error = %e, "http connection ended");
                },
                () = slot.evicted() => tracing::debug!("http connection evicted"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "http connections still open after the shutdown grace; closing them"
        );
    }
    Ok(())
}

/// After a failed accept: a connection reset before it was accepted needs
/// nothing; running out of descriptors (EMFILE, ENFILE) or memory frees the
/// longest-idle connection and pauses briefly, so a lasting error neither
/// spins nor leaves the backlog unserved.
async fn accept_failed(error: &io::Error, table: &Connections) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    let evicted = table.evict_idlest();
    tracing::debug!(error = %error, evicted, open = table.len(), "http accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn metrics_text(Shared(p): Shared<Probes>) -> impl IntoResponse {
    let body = p.metrics.encode(&p.state, Timestamp::now());
    ([(header::CONTENT_TYPE, OPENMETRICS)], body)
}

/// The process answers: that is all liveness means. A stuck audit is
/// visible in metrics and must not get the pod killed mid-cycle.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(Shared(p): Shared<Probes>) -> (StatusCode, &'static str) {
    if p.state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first audit of every cluster\n",
        )
    }
}

/// How often the fleet page reloads itself, in seconds.
const PAGE_REFRESH_SECONDS: u32 = 30;

/// The fleet page's headers: HTML, the page's CSP (with `frame-ancestors`,
/// which only a header can carry), no sniffing, no referrer, no caching.
fn page(status: StatusCode, body: String) -> impl IntoResponse {
    let csp = format!(
        "{}; frame-ancestors 'none'",
        html::content_security_policy()
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
}

fn page_context(state: &State) -> PageContext {
    PageContext {
        now: Timestamp::now(),
        refresh_seconds: Some(PAGE_REFRESH_SECONDS),
        revision: state.revision(),
        fetch_error: state.last_fetch_error(),
    }
}

fn fleet_entry(name: String, status: ClusterStatus) -> FleetEntry {
    let pull_request = status.pull_request().map(str::to_owned);
    FleetEntry {
        name,
        report: status.last_good,
        last_success: status.last_success,
        last_error: status.last_error,
        consecutive_failures: status.consecutive_failures,
        drift_since: status.drift_since,
        pull_request,
    }
}

async fn fleet_page(Shared(p): Shared<Probes>) -> impl IntoResponse {
    let entries: Vec<FleetEntry> = p
        .state
        .clusters()
        .into_iter()
        .map(|(name, status)| fleet_entry(name, status))
        .collect();
    page(
        StatusCode::OK,
        html::fleet_page(&entries, &page_context(&p.state)),
    )
}

async fn cluster_page(Shared(p): Shared<Probes>, Path(name): Path<String>) -> impl IntoResponse {
    let ctx = page_context(&p.state);
    match p.state.cluster(&name) {
        Some(status) => page(
            StatusCode::OK,
            html::cluster_page(&fleet_entry(name, status), &ctx),
        ),
        None => page(StatusCode::NOT_FOUND, html::not_found_page(&name, &ctx)),
    }
}

/// Browsers ask for an icon; an empty answer keeps a 404 out of their console.
async fn no_icon() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_page(state: Arc<State>, path: &str) -> (StatusCode, http::HeaderMap, String) {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(state, Arc::new(Metrics::new()))
            .oneshot(request)
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn the_fleet_page_lists_clusters_under_a_strict_policy() {
        let state = Arc::new(State::new(["aks-a".to_owned(), "aks-b".to_owned()]));
        let report = crate::findings::ClusterReport {
            cluster: "aks-a".into(),
            ..Default::default()
        };
        state.record_success(report, Timestamp::now());
        let (status, headers, body) = get_page(Arc::clone(&state), "/").await;
        assert_eq!(status, StatusCode::OK);
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            body.contains("<a href=\"/clusters/aks-a\">aks-a</a>"),
            "{body}"
        );
        assert!(body.contains("✓ clean") && body.contains("… not yet audited"));
        let (status, _, body) = get_page(Arc::clone(&state), "/clusters/aks-b").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Not audited yet."), "{body}");
    }

    #[tokio::test]
    async fn an_unknown_cluster_is_a_404_that_shows_its_name_as_text() {
        let state = Arc::new(State::new(["aks-a".to_owned()]));
        let (status, headers, body) =
            get_page(state, "/clusters/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(!body.contains("<script>"), "{body}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{body}"
        );
    }

    #[test]
    fn the_connection_cap_follows_the_descriptor_limit() {
        assert_eq!(max_connections_for(Some(128)), 64);
        assert_eq!(max_connections_for(Some(1024)), 256);
        assert_eq!(max_connections_for(Some(1 << 20)), 256);
        assert_eq!(max_connections_for(Some(10)), 8);
        assert_eq!(max_connections_for(None), 256);
    }
}
