//! The plain-HTTP probe server: `GET /healthz`, `GET /readyz`, `GET /metrics`.

use crate::metrics::Metrics;
use crate::review::Reviewer;
use crate::tls::CertStore;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::error;

/// The OpenMetrics text content type that prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the probes look at.
#[derive(Clone)]
pub(crate) struct ProbeState {
    pub reviewer: Arc<dyn Reviewer>,
    pub certs: Arc<CertStore>,
    pub metrics: Arc<Metrics>,
    /// Set when shutdown starts, so that /readyz takes the pod out of the Service first.
    pub draining: Arc<AtomicBool>,
}

impl std::fmt::Debug for ProbeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeState")
            .field("certs", &self.certs)
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

/// The probe routes.
pub(crate) fn router(state: ProbeState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the certificate is loaded, the reviewer is ready and no shutdown is under way;
/// else 503 with every reason, one a line.
async fn readyz(State(state): State<ProbeState>) -> (StatusCode, String) {
    let mut reasons = Vec::new();
    if state.draining.load(Ordering::Relaxed) {
        reasons.push("shutting down");
    }
    if !state.certs.is_loaded() {
        reasons.push("TLS certificate not loaded");
    }
    if !state.reviewer.is_ready() {
        reasons.push("policy store not synced");
    }
    if reasons.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        let mut body = reasons.join("\n");
        body.push('\n');
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

/// The Prometheus text exposition (OpenMetrics).
async fn metrics(State(state): State<ProbeState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => {
            error!(error = %e, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
