//! The seam between the HTTPS server and the admission decisions.
//!
//! The server knows nothing about AdmissionReviews: it hands the raw request body of
//! `POST /mutate` or `POST /validate` to a [`Reviewer`] and writes back the [`Reply`]. The
//! types of the answer are the decision crate's own (`kbatch-admission`), so the two layers
//! cannot drift apart.

pub use kbatch_admission::{Endpoint, Outcome, Reply};

/// The decision layer. Synchronous and CPU-only (pure).
///
/// The server calls `review` inline on an async runtime worker for small bodies, and on one of
/// its review threads for large ones (over 64 KiB). Either way it must not block on I/O or on
/// locks held across slow work, and it cannot be interrupted by the request timeout. A panic is
/// caught and answered with HTTP 500, so it must not leave shared state broken.
pub trait Reviewer: Send + Sync + 'static {
    /// Decides one request body (the raw bytes of an AdmissionReview, untrusted).
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply;
    /// True once the policy store is synced (for /readyz).
    fn is_ready(&self) -> bool;

    /// Why the reviewer cannot decide well now (for /readyz), or `None` when it can. By default,
    /// "policy store not synced" until [`Reviewer::is_ready`].
    fn unready_reason(&self) -> Option<String> {
        (!self.is_ready()).then(|| "policy store not synced".to_owned())
    }
}

/// **Benchmarks only**: a reviewer that reads nothing and allows everything.
///
/// It answers a fixed allowed AdmissionReview with `uid: ""` (which a real API server would
/// reject), so it measures the ceiling of the server stack itself (TLS, HTTP, routing,
/// metrics, tracing) with the decision cost taken out. Never serve it to a cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopReviewer;

/// The fixed body of [`NoopReviewer`].
const NOOP_BODY: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}"#;

impl Reviewer for NoopReviewer {
    fn review(&self, _endpoint: Endpoint, _body: &[u8]) -> Reply {
        Reply {
            http_status: 200,
            body: NOOP_BODY.to_vec(),
            kind: "unknown",
            operation: "unknown",
            outcome: Outcome::Allowed,
            uid: String::new(),
            namespace: String::new(),
            name: String::new(),
        }
    }

    fn is_ready(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_reply_is_a_fixed_allowed_review() {
        let reply = NoopReviewer.review(Endpoint::Validate, b"anything");
        assert_eq!(reply.http_status, 200);
        assert_eq!(reply.outcome, Outcome::Allowed);
        let text = String::from_utf8_lossy(&reply.body);
        assert!(text.contains(r#""allowed":true"#));
        assert!(text.contains(r#""uid":"""#));
        assert!(NoopReviewer.is_ready());
    }

    #[test]
    fn labels() {
        assert_eq!(Endpoint::Mutate.as_str(), "mutate");
        assert_eq!(Endpoint::Validate.as_str(), "validate");
        assert_eq!(Outcome::Patched.as_str(), "patched");
        assert!(Outcome::Patched.is_allowed());
        assert!(!Outcome::Denied.is_allowed());
        assert!(!Outcome::Invalid.is_allowed());
    }
}
