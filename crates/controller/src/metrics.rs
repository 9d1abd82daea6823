//! What the controller tells an operator: Prometheus metrics and readiness.
//!
//! Counters are updated where things happen (reconciles, scheduling passes, every request the
//! client sends, through [`ApiCounting`]); the per-queue and per-budget gauges are read from
//! the controller's stores when `/metrics` is scraped, so they cost nothing between scrapes.
//! Labels are bounded sets: queue, budget and window names (the cluster's policy objects),
//! never job names.

use crate::context::{Context, Error};
use kbatch_policy::api::JobPhase;
use kbatch_policy::budget::{BudgetPlan, window_spent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    /// `ok` | `error`.
    result: &'static str,
    /// `none`, or the error's kind (see [`Error::kind`]).
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    /// `get` | `list` | `watch` | `create` | `update` | `patch` | `delete`.
    verb: &'static str,
    /// The resource, with its subresource: `batchjobs`, `batchjobs/status`, `jobs`, `leases`.
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    namespace: String,
    queue: String,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    budget: String,
    /// The window's duration as written in the budget (`24h`, `720h`).
    window: String,
}

/// Pass durations in seconds, from 1 ms to 10 s.
const PASS_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0];
/// Steps per budget write: 1 when nothing was shared.
const STEPS_PER_WRITE_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 64.0, 256.0];

/// The controller's metrics and health, shared with its probe server.
#[derive(Debug)]
pub struct Observed {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    passes: Histogram,
    api_requests: Family<ApiLabels, Counter>,
    jobs: Family<QueueLabels, Gauge>,
    spent: Family<WindowLabels, Gauge<f64, AtomicU64>>,
    amount: Family<WindowLabels, Gauge<f64, AtomicU64>>,
    budget_writes: Histogram,
    events_dropped: Counter,
    leader: Gauge,
    context: OnceLock<Arc<Context>>,
}

impl Default for Observed {
    fn default() -> Self {
        Observed::new()
    }
}

impl Observed {
    /// Every metric registered, at zero; not leader, no stores yet.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let passes = Histogram::new(PASS_BUCKETS);
        let api_requests = Family::<ApiLabels, Counter>::default();
        let jobs = Family::<QueueLabels, Gauge>::default();
        let spent = Family::<WindowLabels, Gauge<f64, AtomicU64>>::default();
        let amount = Family::<WindowLabels, Gauge<f64, AtomicU64>>::default();
        let leader = Gauge::default();
        let budget_writes = Histogram::new(STEPS_PER_WRITE_BUCKETS);
        let events_dropped = Counter::default();
        registry.register(
            "kbatch_controller_reconciles",
            "BatchJob reconciles, by result and error kind",
            reconciles.clone(),
        );
        registry.register(
            "kbatch_controller_scheduling_pass_duration_seconds",
            "Time of one scheduling pass over every queue",
            passes.clone(),
        );
        registry.register(
            "kbatch_controller_api_requests",
            "Requests the controller sent to the API server, by verb and resource",
            api_requests.clone(),
        );
        registry.register(
            "kbatch_controller_jobs",
            "BatchJobs by queue and phase (unfinished phases, and finished ones still stored)",
            jobs.clone(),
        );
        registry.register(
            "kbatch_controller_budget_spent",
            "Money spent (reserved or charged) in each budget's current window",
            spent.clone(),
        );
        registry.register(
            "kbatch_controller_budget_amount",
            "Each budget window's amount",
            amount.clone(),
        );
        registry.register(
            "kbatch_controller_budget_steps_per_write",
            "Ledger steps (charges, refunds) that one budget status write carried",
            budget_writes.clone(),
        );
        registry.register(
            "kbatch_controller_events_dropped",
            "Events not written because the API server fell behind (the queue was full)",
            events_dropped.clone(),
        );
        registry.register(
            "kbatch_controller_leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Observed {
            registry,
            reconciles,
            passes,
            api_requests,
            jobs,
            spent,
            amount,
            budget_writes,
            events_dropped,
            leader,
            context: OnceLock::new(),
        }
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub(crate) fn set_context(&self, ctx: &Arc<Context>) {
        let _ = self.context.set(Arc::clone(ctx));
    }

    pub(crate) fn reconciled(&self, error: Option<&Error>) {
        let labels = match error {
            None => ReconcileLabels {
                result: "ok",
                reason: "none",
            },
            Some(e) => ReconcileLabels {
                result: "error",
                reason: e.kind(),
            },
        };
        self.reconciles.get_or_create(&labels).inc();
    }

    pub(crate) fn budget_written(&self, steps: usize) {
        self.budget_writes.observe(steps as f64);
    }

    pub(crate) fn event_dropped(&self) {
        self.events_dropped.inc();
    }

    pub(crate) fn pass_took(&self, elapsed: Duration) {
        self.passes.observe(elapsed.as_secs_f64());
    }

    fn api_request(&self, method: &http::Method, uri: &http::Uri) {
        let labels = ApiLabels {
            verb: verb(method, uri),
            resource: resource(uri.path()),
        };
        self.api_requests.get_or_create(&labels).inc();
    }

    /// Why this replica is not ready: not the leader yet, or its stores have not listed.
    pub fn unready_reason(&self) -> Option<String> {
        if self.leader.get() == 0 {
            return Some("not the leader (waiting for the lease)".to_owned());
        }
        match self.context.get() {
            Some(ctx) if ctx.stores.is_synced() => None,
            _ => Some("stores not synced".to_owned()),
        }
    }

    /// The OpenMetrics text of every metric, the store gauges read now.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Some(ctx) = self.context.get() {
            self.read_stores(ctx);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn read_stores(&self, ctx: &Context) {
        let mut jobs: BTreeMap<(String, String, &'static str), i64> = BTreeMap::new();
        for job in ctx.stores.jobs.state() {
            let phase = job
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .unwrap_or(JobPhase::Queued);
            let namespace = kube::ResourceExt::namespace(&*job).unwrap_or_default();
            let queue = job.spec.batch_queue_name.clone();
            *jobs.entry((namespace, queue, phase.as_str())).or_default() += 1;
        }
        self.jobs.clear();
        for ((namespace, queue, phase), count) in jobs {
            let labels = QueueLabels {
                namespace,
                queue,
                phase,
            };
            self.jobs.get_or_create(&labels).set(count);
        }
        self.spent.clear();
        self.amount.clear();
        for budget in ctx.stores.budgets.state() {
            let Ok(plan) = BudgetPlan::from_budget(&budget) else {
                continue;
            };
            let status = budget.status.clone().unwrap_or_default();
            for window in &plan.windows {
                let labels = WindowLabels {
                    budget: plan.name.clone(),
                    window: window.label.clone(),
                };
                let current = status
                    .window_status_list
                    .iter()
                    .find(|w| w.duration == window.label);
                let spent = current.map(window_spent).unwrap_or_default();
                self.spent.get_or_create(&labels).set(spent.to_f64());
                self.amount
                    .get_or_create(&labels)
                    .set(window.limit.to_f64());
            }
        }
    }
}

/// The verb of a request, as the API server's audit log names it.
fn verb(method: &http::Method, uri: &http::Uri) -> &'static str {
    let query = uri.query().unwrap_or_default();
    let named = resource_segments(uri.path()).len() >= 2;
    match *method {
        http::Method::GET
            if query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1") =>
        {
            "watch"
        }
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// The path after `/api/v1` or `/apis/GROUP/VERSION`, without `namespaces/NS/` unless the
/// resource is namespaces itself.
fn resource_segments(path: &str) -> Vec<&str> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return Vec::new(),
    };
    match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        rest => rest.to_vec(),
    }
}

/// `batchjobs`, `batchjobs/status`, `jobs`: the resource and subresource of a request path.
fn resource(path: &str) -> String {
    match resource_segments(path).as_slice() {
        [] => "other".to_owned(),
        [kind] | [kind, _] => (*kind).to_owned(),
        [kind, _, sub, ..] => format!("{kind}/{sub}"),
    }
}

/// A client layer counting every request in [`Observed`]'s `api_requests`.
#[derive(Debug, Clone)]
pub struct ApiCounting(pub Arc<Observed>);

impl<S> tower::Layer<S> for ApiCounting {
    type Service = CountedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountedService {
            inner,
            observed: Arc::clone(&self.0),
        }
    }
}

/// The service [`ApiCounting`] wraps.
#[derive(Debug, Clone)]
pub struct CountedService<S> {
    inner: S,
    observed: Arc<Observed>,
}

impl<S, B> tower::Service<http::Request<B>> for CountedService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.observed.api_request(request.method(), request.uri());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_are_named_by_verb_and_resource() {
        let cases = [
            (
                "GET",
                "/apis/kbatch.k8s.io/v1beta1/batchjobs?watch=true&resourceVersion=5",
                "watch",
                "batchjobs",
            ),
            (
                "GET",
                "/apis/kbatch.k8s.io/v1beta1/batchjobs",
                "list",
                "batchjobs",
            ),
            (
                "GET",
                "/apis/batch/v1/namespaces/team-a/jobs?labelSelector=x",
                "list",
                "jobs",
            ),
            (
                "GET",
                "/apis/batch/v1/namespaces/team-a/jobs/j-1",
                "get",
                "jobs",
            ),
            (
                "PATCH",
                "/apis/kbatch.k8s.io/v1beta1/namespaces/team-a/batchjobs/j/status",
                "patch",
                "batchjobs/status",
            ),
            (
                "PATCH",
                "/apis/kbatch.k8s.io/v1beta1/batchbudgets/gpu/status",
                "patch",
                "batchbudgets/status",
            ),
            (
                "POST",
                "/apis/batch/v1/namespaces/team-a/jobs",
                "create",
                "jobs",
            ),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/kbatch-system/leases/kbatch-controller",
                "update",
                "leases",
            ),
            (
                "DELETE",
                "/apis/batch/v1/namespaces/team-a/jobs/j-1",
                "delete",
                "jobs",
            ),
            ("GET", "/api/v1/namespaces", "list", "namespaces"),
            ("GET", "/api/v1/namespaces/team-a", "get", "namespaces"),
            ("GET", "/version", "list", "other"),
        ];
        for (method, uri, want_verb, want_resource) in cases {
            let uri: http::Uri = uri.parse().unwrap();
            let method: http::Method = method.parse().unwrap();
            assert_eq!(verb(&method, &uri), want_verb, "{uri}");
            assert_eq!(resource(uri.path()), want_resource, "{uri}");
        }
    }

    #[test]
    fn counts_and_readiness_show_in_the_exposition() {
        let observed = Observed::new();
        assert_eq!(
            observed.unready_reason().as_deref(),
            Some("not the leader (waiting for the lease)")
        );
        observed.set_leader(true);
        assert_eq!(
            observed.unready_reason().as_deref(),
            Some("stores not synced")
        );
        observed.reconciled(None);
        observed.reconciled(Some(&Error::StoreDropped));
        observed.api_request(
            &http::Method::POST,
            &"/apis/batch/v1/namespaces/a/jobs".parse().unwrap(),
        );
        let text = observed.encode().unwrap();
        for line in [
            r#"kbatch_controller_reconciles_total{result="ok",reason="none"} 1"#,
            r#"kbatch_controller_reconciles_total{result="error",reason="store_dropped"} 1"#,
            r#"kbatch_controller_api_requests_total{verb="create",resource="jobs"} 1"#,
            "kbatch_controller_leader 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
