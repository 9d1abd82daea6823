//! The plain-HTTP probe server: `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! It runs on its own thread and runtime, so that the kubelet's probes are answered in
//! milliseconds however busy the HTTPS side is, and it is bounded like the HTTPS side: at most
//! [`MAX_CONNECTIONS`] connections, each closed after [`IDLE_TIMEOUT`] without a request.

use crate::connections::Connections;
use crate::memory::ReviewMemory;
use crate::metrics::Metrics;
use crate::review::Reviewer;
use crate::tls::CertStore;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

/// Probe connections open at once: the kubelet's and a scraper's, with room to spare. At the
/// limit a new one closes an idle one.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// Time for a probe connection's first request, its headers, and between its requests.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The OpenMetrics text content type that prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the probes look at.
#[derive(Clone)]
pub(crate) struct ProbeState {
    pub reviewer: Arc<dyn Reviewer>,
    pub certs: Arc<CertStore>,
    pub metrics: Arc<Metrics>,
    /// Read when /metrics is scraped.
    pub memory: Arc<ReviewMemory>,
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

/// The probe server's thread; [`ProbeThread::stop`] ends it.
#[derive(Debug)]
pub(crate) struct ProbeThread {
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<()>,
}

impl ProbeThread {
    /// Stops serving probes; false if the thread has not ended within `within`.
    pub(crate) async fn stop(self, within: Duration) -> bool {
        self.stop.send_replace(true);
        tokio::time::timeout(within, self.done).await.is_ok()
    }
}

/// Serves the probes on `listener` from a thread of their own.
pub(crate) fn spawn(
    listener: std::net::TcpListener,
    state: ProbeState,
) -> std::io::Result<ProbeThread> {
    spawn_router(listener, router(state))
}

/// Serves `router` on `listener` from a thread of its own, bounded as the probes are.
pub(crate) fn spawn_router(
    listener: std::net::TcpListener,
    router: Router,
) -> std::io::Result<ProbeThread> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = watch::channel(false);
    let (finished, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("kbatch-probes".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, router, stopped).await,
                    Err(e) => error!(error = %e, "the probe listener cannot be used"),
                }
            });
            let _ = finished.send(());
        })?;
    Ok(ProbeThread { stop, done })
}

/// What every probe connection task shares.
struct ProbeContext {
    http: auto::Builder<TokioExecutor>,
    router: Router,
}

async fn serve(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>) {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT);
    let http = http.http1_only();
    let context = Arc::new(ProbeContext { http, router });
    let slots = Connections::new(MAX_CONNECTIONS);
    let mut connections = JoinSet::new();
    let stop = stopped.clone();
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => break,
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let slot = slots.admit().await;
                    let context = Arc::clone(&context);
                    let stopped = stop.clone();
                    connections.spawn(async move {
                        let timeouts = (IDLE_TIMEOUT, IDLE_TIMEOUT);
                        let io = TokioIo::new(tcp);
                        crate::server::serve_http(io, &context.http, &context.router, slot, timeouts, peer, stopped).await;
                    });
                }
                Err(error) => {
                    warn!(%error, "accepting a probe connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    debug!("probe server stopping");
    connections.shutdown().await;
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
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the certificate is loaded, the reviewer is ready and no shutdown is under way;
/// else 503 with every reason, one a line.
async fn readyz(State(state): State<ProbeState>) -> (StatusCode, String) {
    let mut reasons: Vec<String> = Vec::new();
    if state.draining.load(Ordering::Relaxed) {
        reasons.push("shutting down".to_owned());
    }
    if !state.certs.is_loaded() {
        reasons.push("TLS certificate not loaded".to_owned());
    }
    reasons.extend(state.reviewer.unready_reason());
    readiness((!reasons.is_empty()).then(|| reasons.join("\n")))
}

/// The Prometheus text exposition (OpenMetrics).
async fn metrics(State(state): State<ProbeState>) -> Response {
    state
        .metrics
        .set_review_memory(state.memory.reserved_bytes());
    openmetrics(state.metrics.encode())
}

/// An encoded exposition as the answer of `GET /metrics`.
pub(crate) fn openmetrics(encoded: Result<String, std::fmt::Error>) -> Response {
    match encoded {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => {
            error!(error = %e, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// 200 `ok`, or 503 with the reasons (one a line).
pub(crate) fn readiness(reason: Option<String>) -> (StatusCode, String) {
    match reason {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(mut reason) => {
            reason.push('\n');
            (StatusCode::SERVICE_UNAVAILABLE, reason)
        }
    }
}
