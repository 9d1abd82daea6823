//! The HTTPS routes `POST /mutate` and `POST /validate`: read the body, ask the reviewer,
//! answer, count, trace.
//!
//! Each request gets an `admission` span with `endpoint`, `uid`, `kind`, `namespace`,
//! `object_name` (not `name`, which JSON logs use for the span's own name), `operation`,
//! `outcome`, `allowed` and `latency_us`; its closing event is `info` for denials and errors,
//! `debug` for admissions.
//!
//! Before its body is read, a request reserves what it will cost from the review memory budget
//! (see [`crate::memory`]); large bodies are then decided on the review threads, so that a few
//! costly reviews cannot take the async workers from TLS, HTTP and every other request.
//!
//! Answers the server gives itself (the reviewer never saw the request, or failed):
//! 413 body over the limit, 408 body not received within the request timeout, 503 no review
//! slot, memory or review thread free within it, 500 the reviewer panicked or gave an
//! impossible status. They are counted with kind and operation `unknown` and outcome
//! `invalid` (the client's fault) or `error` (ours).

use crate::memory::{LARGE_BODY_BYTES, Reservation, ReviewMemory};
use crate::metrics::{Metrics, RequestLabels};
use crate::review::{Endpoint, Reply, Reviewer};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};
use tracing::field::Empty;
use tracing::{Instrument, Span, debug, error, info, info_span};

/// What the admission routes share.
#[derive(Clone)]
pub(crate) struct AdmissionState {
    pub reviewer: Arc<dyn Reviewer>,
    pub metrics: Arc<Metrics>,
    /// One permit per request being read or reviewed.
    pub limiter: Arc<Semaphore>,
    /// The bytes requests may cost at once.
    pub memory: Arc<ReviewMemory>,
    /// One permit per review thread: large bodies are decided there.
    pub review_threads: Arc<Semaphore>,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub queue_timeout: Duration,
}

impl std::fmt::Debug for AdmissionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmissionState")
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// `POST /mutate` and `POST /validate`; other methods get 405, other paths 404. Query strings
/// (the API server's `?timeout=10s`) are ignored.
pub(crate) fn router(state: AdmissionState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .with_state(state)
}

async fn mutate(State(state): State<AdmissionState>, request: Request) -> Response {
    admit(&state, Endpoint::Mutate, request).await
}

async fn validate(State(state): State<AdmissionState>, request: Request) -> Response {
    admit(&state, Endpoint::Validate, request).await
}

/// Why the server answered itself.
#[derive(Debug)]
enum Failure {
    TooLarge,
    BodyTimeout,
    BodyError(String),
    Overloaded,
    Panicked,
    BadStatus(u16),
}

async fn admit(state: &AdmissionState, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    // An absurd timeout (`Duration::MAX`) must not overflow: a year is forever here.
    let forever = started + Duration::from_secs(365 * 24 * 3600);
    let deadline = started
        .checked_add(state.request_timeout)
        .unwrap_or(forever);
    let queue_deadline = started
        .checked_add(state.queue_timeout)
        .unwrap_or(forever)
        .min(deadline);
    let span = info_span!(
        "admission",
        endpoint = endpoint.as_str(),
        uid = Empty,
        kind = Empty,
        namespace = Empty,
        object_name = Empty,
        operation = Empty,
        outcome = Empty,
        allowed = Empty,
        latency_us = Empty
    );
    let _in_flight = state.metrics.request_in_flight();
    let work = async {
        let declared = declared_length(&request);
        if declared.is_some_and(|length| length > state.body_limit as u64) {
            return Err(Failure::TooLarge);
        }
        let _permit = match timeout_at(queue_deadline, state.limiter.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a timeout means every slot stayed busy.
            Ok(Err(_)) | Err(_) => return Err(Failure::Overloaded),
        };
        // Undeclared lengths (chunked bodies) may be as large as the limit: reserve for that.
        let expected = declared
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(state.body_limit);
        let Ok(reserved) = timeout_at(queue_deadline, state.memory.reserve(expected)).await else {
            return Err(Failure::Overloaded);
        };
        let body = read_body(request.into_body(), expected, state.body_limit, deadline).await?;
        if body.len() > LARGE_BODY_BYTES {
            // The body is in: waiting for a thread holds no connection's window.
            review_on_thread(state, endpoint, body, reserved, deadline).await
        } else {
            call_reviewer(state.reviewer.as_ref(), endpoint, &body)
        }
    };
    let result = work.instrument(span.clone()).await;
    finish(&state.metrics, endpoint, &span, started, result)
}

fn declared_length(request: &Request) -> Option<u64> {
    let value = request.headers().get(header::CONTENT_LENGTH)?;
    value.to_str().ok()?.parse().ok()
}

/// Reads the body into one buffer sized for `expected` bytes (no copy when the length was
/// declared), refusing it past `limit`.
async fn read_body(
    body: Body,
    expected: usize,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Failure> {
    let read = async {
        let mut body = body;
        let mut buffer = Vec::with_capacity(expected.min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::BodyError(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > limit {
                    return Err(Failure::TooLarge);
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(buffer)
    };
    timeout_at(deadline, read)
        .await
        .unwrap_or(Err(Failure::BodyTimeout))
}

/// Decides a large body on a review thread (the blocking pool, at most `review_threads` at
/// once), leaving the async workers to TLS, HTTP and small reviews.
async fn review_on_thread(
    state: &AdmissionState,
    endpoint: Endpoint,
    body: Vec<u8>,
    reserved: Reservation,
    deadline: Instant,
) -> Result<Reply, Failure> {
    let threads = Arc::clone(&state.review_threads);
    let Ok(Ok(thread)) = timeout_at(deadline, threads.acquire_owned()).await else {
        return Err(Failure::Overloaded);
    };
    let reviewer = Arc::clone(&state.reviewer);
    // The thread slot and the memory go with the work: they stay held until the decision is
    // done, even if this request is dropped first.
    let decided = tokio::task::spawn_blocking(move || {
        let _held = (thread, reserved);
        call_reviewer(reviewer.as_ref(), endpoint, &body)
    });
    match decided.await {
        Ok(result) => result,
        // `call_reviewer` catches the reviewer's panics; this is the pool's own failure.
        Err(error) => {
            error!(%error, "a review thread failed; answering 500");
            Err(Failure::Panicked)
        }
    }
}

/// Calls the reviewer inline, turning a panic into [`Failure::Panicked`].
fn call_reviewer(
    reviewer: &dyn Reviewer,
    endpoint: Endpoint,
    body: &[u8],
) -> Result<Reply, Failure> {
    // The reviewer is pure: a panic leaves no state behind that later calls could see broken.
    match catch_unwind(AssertUnwindSafe(|| reviewer.review(endpoint, body))) {
        Ok(reply) => Ok(reply),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            error!(panic = %message, "the reviewer panicked; answering 500");
            Err(Failure::Panicked)
        }
    }
}

/// Builds the response, counts it and closes the span.
fn finish(
    metrics: &Metrics,
    endpoint: Endpoint,
    span: &Span,
    started: Instant,
    result: Result<Reply, Failure>,
) -> Response {
    let result = result.and_then(|reply| match StatusCode::from_u16(reply.http_status) {
        Ok(status) => Ok((status, reply)),
        Err(_) => Err(Failure::BadStatus(reply.http_status)),
    });
    let (response, labels, allowed) = match result {
        Ok((status, reply)) => {
            span.record("uid", sanitize(&reply.uid).as_ref());
            span.record("namespace", sanitize(&reply.namespace).as_ref());
            span.record("object_name", sanitize(&reply.name).as_ref());
            let labels = RequestLabels {
                endpoint: endpoint.as_str(),
                kind: reply.kind,
                operation: reply.operation,
                outcome: reply.outcome.as_str(),
            };
            let content_type = content_type(&reply.body);
            let response = (status, [(header::CONTENT_TYPE, content_type)], reply.body);
            (response.into_response(), labels, reply.outcome.is_allowed())
        }
        Err(failure) => {
            let (status, outcome, message) = failure.answer();
            let labels = RequestLabels {
                endpoint: endpoint.as_str(),
                kind: "unknown",
                operation: "unknown",
                outcome,
            };
            (plain(status, message), labels, false)
        }
    };
    let elapsed = started.elapsed();
    span.record("kind", labels.kind);
    span.record("operation", labels.operation);
    span.record("outcome", labels.outcome);
    span.record("allowed", allowed);
    span.record(
        "latency_us",
        u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    );
    span.in_scope(|| match labels.outcome {
        "allowed" | "patched" => debug!("admission request answered"),
        _ => info!("admission request answered"),
    });
    metrics.observe_request(labels, elapsed);
    response
}

impl Failure {
    /// Status, outcome label and message of the server's own answer.
    fn answer(self) -> (StatusCode, &'static str, Cow<'static, str>) {
        match self {
            Failure::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid",
                "request body too large".into(),
            ),
            Failure::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid",
                "request body not received in time".into(),
            ),
            Failure::BodyError(e) => (
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("reading the request body: {e}").into(),
            ),
            Failure::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "server busy: no review slot, memory or thread free in time".into(),
            ),
            Failure::Panicked => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                "internal error".into(),
            ),
            Failure::BadStatus(code) => {
                error!(
                    code,
                    "the reviewer answered an invalid HTTP status; answering 500"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "internal error".into(),
                )
            }
        }
    }
}

fn plain(status: StatusCode, message: Cow<'static, str>) -> Response {
    let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
    let mut body = message.into_owned();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `application/json` unless the body plainly is not JSON (a reviewer's plain-text 400 reason).
fn content_type(body: &[u8]) -> HeaderValue {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{' | b'[' | b'"') | None => HeaderValue::from_static("application/json"),
        Some(_) => HeaderValue::from_static("text/plain; charset=utf-8"),
    }
}

/// A request-controlled string made safe for a log line: at most 253 characters (the longest
/// Kubernetes name), control characters replaced.
fn sanitize(value: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 253;
    if value.len() <= MAX_CHARS && !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    let mut clean: String = value
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if value.chars().nth(MAX_CHARS).is_some() {
        clean.push('…');
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_bounds_and_cleans() {
        assert_eq!(sanitize("job-1"), "job-1");
        assert_eq!(sanitize("a\nb\u{1b}[31m"), "a\u{fffd}b\u{fffd}[31m");
        let long = "x".repeat(1000);
        let clean = sanitize(&long);
        assert_eq!(clean.chars().count(), 254);
        assert!(clean.ends_with('…'));
    }

    #[test]
    fn content_type_sniffs_plain_text() {
        assert_eq!(content_type(b" {\"a\":1}"), "application/json");
        assert_eq!(content_type(b""), "application/json");
        assert_eq!(content_type(b"bad request"), "text/plain; charset=utf-8");
    }
}
