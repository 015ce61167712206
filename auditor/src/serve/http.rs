//! The HTTP side: `/metrics`, `/healthz`, `/readyz`.
//!
//! Read-only over [`State`] and [`Metrics`]; nothing here can start or stop
//! an audit, so the port can be exposed to Prometheus without granting
//! anything.

use super::metrics::Metrics;
use super::state::State;
use super::{Error, Shutdown};
use axum::Router;
use axum::extract::State as Shared;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use jiff::Timestamp;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the handlers read.
#[derive(Debug, Clone)]
struct Probes {
    state: Arc<State>,
    metrics: Arc<Metrics>,
}

/// The OpenMetrics content type Prometheus negotiates for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The service's routes.
pub fn router(state: Arc<State>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Probes { state, metrics })
}

/// Serve [`router`] on `listener` until `shutdown` fires; in-flight
/// requests finish first.
pub async fn serve_http(
    listener: TcpListener,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    axum::serve(listener, router(state, metrics))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(Error::Http)
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
