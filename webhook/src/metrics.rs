//! Prometheus metrics of the webhook server. Labels are bounded sets: never object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Latency buckets in seconds, from 100 µs to 5 s.
const DURATION_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Labels of one admission request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// `mutate` | `validate`.
    pub endpoint: &'static str,
    /// The object's kind, or `unknown`.
    pub kind: &'static str,
    /// `CREATE` | `UPDATE` | `DELETE` | `CONNECT` | `unknown`.
    pub operation: &'static str,
    /// `allowed` | `patched` | `denied` | `invalid` | `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    /// `idle` | `evicted`.
    reason: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric of the server, and the registry that exposes them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    reloads: Family<ReloadLabels, Counter>,
    in_flight: Gauge,
    connections: Gauge,
    handshake_failures: Counter,
    closed: Family<CloseLabels, Counter>,
    review_memory: Gauge,
}

impl Metrics {
    /// A registry with every metric registered at zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        let reloads = Family::<ReloadLabels, Counter>::default();
        let in_flight = Gauge::default();
        let connections = Gauge::default();
        let handshake_failures = Counter::default();
        let closed = Family::<CloseLabels, Counter>::default();
        let review_memory = Gauge::default();
        registry.register(
            "kbatch_webhook_connections_closed",
            "HTTPS connections the server closed, by reason (idle | evicted: idle, to make room)",
            closed.clone(),
        );
        registry.register(
            "kbatch_webhook_review_memory_reserved_bytes",
            "Bytes of the review memory budget reserved by requests being read or reviewed",
            review_memory.clone(),
        );
        registry.register(
            "kbatch_admission_requests",
            "Admission requests answered, by endpoint, kind, operation and outcome",
            requests.clone(),
        );
        registry.register(
            "kbatch_admission_request_duration_seconds",
            "Time from the request's arrival to its answer",
            durations.clone(),
        );
        registry.register(
            "kbatch_admission_requests_in_flight",
            "Admission requests being received or reviewed",
            in_flight.clone(),
        );
        registry.register(
            "kbatch_webhook_open_connections",
            "HTTPS connections open (handshaking or serving)",
            connections.clone(),
        );
        registry.register(
            "kbatch_webhook_tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            handshake_failures.clone(),
        );
        registry.register(
            "kbatch_tls_certificate_reloads",
            "Attempts to load a changed certificate pair, by result (success | failure)",
            reloads.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            reloads,
            in_flight,
            connections,
            handshake_failures,
            closed,
            review_memory,
        }
    }

    /// Counts one connection the server closed: `idle` or `evicted`.
    pub(crate) fn connection_closed(&self, reason: &'static str) {
        self.closed.get_or_create(&CloseLabels { reason }).inc();
    }

    /// Records the review memory reserved now.
    pub(crate) fn set_review_memory(&self, bytes: usize) {
        self.review_memory
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Counts one answered request and its latency.
    pub(crate) fn observe_request(&self, labels: RequestLabels, elapsed: Duration) {
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts one certificate reload attempt.
    pub(crate) fn certificate_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// Counts one failed TLS handshake.
    pub(crate) fn handshake_failed(&self) {
        self.handshake_failures.inc();
    }

    /// Marks a request in flight until the guard is dropped.
    pub(crate) fn request_in_flight(&self) -> GaugeGuard {
        GaugeGuard::new(&self.in_flight)
    }

    /// Marks a connection open until the guard is dropped.
    pub(crate) fn connection_open(&self) -> GaugeGuard {
        GaugeGuard::new(&self.connections)
    }

    /// The Prometheus (OpenMetrics) text exposition of every metric.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Increments a gauge now and decrements it on drop.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let metrics = Metrics::new();
        let labels = RequestLabels {
            endpoint: "validate",
            kind: "BatchJob",
            operation: "CREATE",
            outcome: "denied",
        };
        metrics.observe_request(labels, Duration::from_micros(300));
        metrics.certificate_reload(true);
        let guard = metrics.request_in_flight();
        let text = metrics.encode().unwrap_or_default();
        drop(guard);
        assert!(text.contains(
            r#"kbatch_admission_requests_total{endpoint="validate",kind="BatchJob",operation="CREATE",outcome="denied"} 1"#
        ), "{text}");
        assert!(text.contains("kbatch_admission_request_duration_seconds_bucket{"));
        assert!(text.contains(r#"le="0.0001""#));
        assert!(text.contains(r#"le="5.0""#));
        assert!(text.contains(r#"kbatch_tls_certificate_reloads_total{result="success"} 1"#));
        assert!(text.contains("kbatch_admission_requests_in_flight 1"));
        assert!(text.ends_with("# EOF\n"));
        let after = metrics.encode().unwrap_or_default();
        assert!(after.contains("kbatch_admission_requests_in_flight 0"));
    }
}
