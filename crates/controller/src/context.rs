//! What every reconcile shares: the client, the reflector stores, metrics, the scheduler's
//! wake-up, and the error type with its requeue policy.

use crate::budget_writer::{BudgetSlot, BudgetSlots, newer};
use crate::metrics::Observed;
use k8s_openapi::api::batch::v1::Job;
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
    PriorityRef,
};
use kbatch_policy::budget::ledger::LedgerError;
use kbatch_policy::budget::{BudgetSpecError, CostError};
use kbatch_policy::snapshot::PolicySet;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A body could not be serialised.
    #[error("serialising a request: {0}")]
    Json(#[from] serde_json::Error),
    /// The ledger refused a step (a record in an unexpected state).
    #[error("budget ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The object lacks a field the API server always sets (a namespace, a uid).
    #[error("{kind} {name} has no {missing}")]
    Unidentified {
        /// Its kind.
        kind: &'static str,
        /// Its name (with its namespace when it has one).
        name: String,
        /// The field it lacks.
        missing: &'static str,
    },
    /// A policy object the job needs does not exist.
    #[error("{kind} {name} does not exist{context}")]
    MissingPolicy {
        /// `BatchBudget` or `BatchCostModel`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What needs it, for people (starts with `: ` when set).
        context: String,
    },
    /// A cost model that cannot price, or a job it cannot price.
    #[error("{what}: {source}")]
    Pricing {
        /// The cost model, or the job.
        what: String,
        /// Why.
        source: CostError,
    },
    /// A budget whose spec cannot be used.
    #[error("budget {name}: {source}")]
    InvalidBudget {
        /// The budget.
        name: String,
        /// Why.
        source: BudgetSpecError,
    },
    /// Other BatchJobs hold the names of this one's Jobs.
    #[error("{0}")]
    JobNameTaken(String),
    /// A reflector store was dropped: the controller is stopping.
    #[error("a reflector store was dropped")]
    StoreDropped,
    /// A JSON patch conditional on the object's resourceVersion (a `test` op) was refused:
    /// the view it was made from is stale, like a 409 on other writes. The API server answers
    /// a failed `test` with 422 and a generic message; kbatch's patches are otherwise valid by
    /// construction (finalizer lists), so that is how the refusal is read.
    #[error("{what} changed since it was read (its conditional patch was refused)")]
    StalePatch {
        /// The object, as `Kind namespace/name`.
        what: String,
    },
    /// The budget write that carried this step (with others') failed.
    #[error("writing budget {name}: {message}")]
    BudgetWrite {
        /// The budget.
        name: String,
        /// Why the write failed, as its writer saw it.
        message: String,
    },
}

impl Error {
    /// A label for metrics: `conflict`, `api` (other API failures), `json`, `ledger`,
    /// `unidentified`, `missing_policy`, `pricing`, `invalid_budget`, `job_name_taken`,
    /// `store_dropped` or `budget_write`.
    pub fn kind(&self) -> &'static str {
        match self {
            _ if self.is_conflict() => "conflict",
            Error::Kube(_) => "api",
            Error::Json(_) => "json",
            Error::Ledger(_) => "ledger",
            Error::Unidentified { .. } => "unidentified",
            Error::MissingPolicy { .. } => "missing_policy",
            Error::Pricing { .. } => "pricing",
            Error::InvalidBudget { .. } => "invalid_budget",
            Error::JobNameTaken(_) => "job_name_taken",
            Error::StoreDropped => "store_dropped",
            Error::StalePatch { .. } => "conflict",
            Error::BudgetWrite { .. } => "budget_write",
        }
    }

    /// A BatchJob without a namespace or uid.
    pub fn unidentified(job: &BatchJob, missing: &'static str) -> Error {
        let name = match job.namespace() {
            Some(ns) => format!("{ns}/{}", job.name_any()),
            None => job.name_any(),
        };
        Error::Unidentified {
            kind: "BatchJob",
            name,
            missing,
        }
    }

    /// Whether retrying soon may succeed: API failures (conflicts, timeouts, 5xx, 429).
    /// A 4xx other than those, and everything else, waits for a change.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Kube(kube::Error::Api(status)) => {
                matches!(status.code, 409 | 429) || status.code >= 500
            }
            Error::Kube(_) | Error::BudgetWrite { .. } | Error::StalePatch { .. } => true,
            _ => false,
        }
    }

    /// Whether the API server refused a write made from a stale view: 409 Conflict, or a
    /// conditional patch's failed `test` ([`Error::StalePatch`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
            || matches!(self, Error::StalePatch { .. })
    }

    /// `error` of a conditional JSON patch of `what`, a 422 read as [`Error::StalePatch`].
    pub fn of_conditional_patch(error: kube::Error, what: impl FnOnce() -> String) -> Error {
        match error {
            kube::Error::Api(status) if status.code == 422 => Error::StalePatch { what: what() },
            other => Error::Kube(other),
        }
    }
}

/// The reflector stores the reconcilers read.
#[derive(Debug, Clone)]
pub struct Stores {
    /// BatchJobs (the main controller's store).
    pub jobs: Store<BatchJob>,
    /// BatchQueues.
    pub queues: Store<BatchQueue>,
    /// BatchPriorities.
    pub priorities: Store<BatchPriority>,
    /// BatchBudgets.
    pub budgets: Store<BatchBudget>,
    /// BatchCostModels.
    pub cost_models: Store<BatchCostModel>,
    /// BatchJobConstraints.
    pub constraints: Store<BatchJobConstraint>,
    /// The `batch/v1` Jobs labelled for a BatchJob (`kbatch.k8s.io/batchjob`), without their
    /// managed fields and pod templates.
    pub owned: Store<crate::owned_job::OwnedJob>,
}

/// How often [`Stores::ready`] looks again while a store has not listed.
const SYNC_POLL: Duration = Duration::from_millis(100);

impl Stores {
    /// What the BatchJob store keeps of `job` as the watch delivers it: no managed fields
    /// (a list of field paths per writer, never read), and for a finished job no pod
    /// templates. A finished job's Jobs are never created again and its cost is in its
    /// reservation record; at 10,000 jobs the templates were tens of MB.
    pub fn keep_of(job: &mut BatchJob) {
        job.managed_fields_mut().clear();
        let finished = job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(kbatch_policy::phase::is_terminal);
        if finished {
            for group in &mut job.spec.task_groups {
                group.template = Default::default();
            }
        }
    }

    /// Waits until every store has its initial list (a decision on a partial view could, e.g.,
    /// drop a finalizer of an object still in use).
    ///
    /// It looks every 100 ms rather than awaiting `Store::wait_until_ready`: in kube-runtime 5
    /// that future wakes only the last of several waiters, so reconciles waiting at once (a new
    /// leader's first pass) would sleep forever, and the object with them.
    pub async fn ready(&self) -> Result<(), Error> {
        loop {
            match futures::FutureExt::now_or_never(self.listed()) {
                Some(result) => return result,
                None => tokio::time::sleep(SYNC_POLL).await,
            }
        }
    }

    async fn listed(&self) -> Result<(), Error> {
        let lost = |_| Error::StoreDropped;
        self.jobs.wait_until_ready().await.map_err(lost)?;
        self.queues.wait_until_ready().await.map_err(lost)?;
        self.priorities.wait_until_ready().await.map_err(lost)?;
        self.budgets.wait_until_ready().await.map_err(lost)?;
        self.cost_models.wait_until_ready().await.map_err(lost)?;
        self.constraints.wait_until_ready().await.map_err(lost)
    }

    /// Whether every store has its initial list, now.
    pub fn is_synced(&self) -> bool {
        futures::FutureExt::now_or_never(self.listed()).is_some_and(|r| r.is_ok())
    }

    /// The priority of queue `namespace/name`, when both exist.
    pub fn queue_priority(&self, namespace: &str, name: &str) -> Option<PriorityRef> {
        let queue = self
            .queues
            .state()
            .into_iter()
            .find(|q| q.namespace().as_deref() == Some(namespace) && q.name_any() == name)?;
        let priority_name = queue.spec.batch_priority_name.clone();
        let priority = self
            .priorities
            .state()
            .into_iter()
            .find(|p| p.name_any() == priority_name)?;
        Some(PriorityRef {
            name: priority_name,
            value: priority.spec.value,
        })
    }

    /// The budget named `name`.
    pub fn budget(&self, name: &str) -> Option<Arc<BatchBudget>> {
        self.budgets.get(&ObjectRef::new(name))
    }

    /// The BatchJob `namespace/name` with uid `uid`.
    ///
    /// A keyed lookup, not a scan: the scheduling pass asks once per action and the ledger
    /// once per budget entry, over up to 10,000 jobs.
    pub fn job(&self, namespace: &str, name: &str, uid: &str) -> Option<Arc<BatchJob>> {
        self.jobs
            .get(&ObjectRef::new(name).within(namespace))
            .filter(|j| j.metadata.uid.as_deref() == Some(uid))
    }

    /// The Jobs of `job` (namespace `namespace`, uid `uid`) in the store: for each of its
    /// task groups, the Job under its name or its fallback name that `uid` owns. A lookup by
    /// name per group, not a scan of every Job.
    pub fn owned_jobs(&self, job: &BatchJob, namespace: &str, uid: &str) -> Vec<Job> {
        let name = job.name_any();
        job.spec
            .task_groups
            .iter()
            .flat_map(|g| {
                [
                    crate::job::job_name(&name, &g.name),
                    crate::job::fallback_job_name(&name, &g.name, uid),
                ]
            })
            .filter_map(|n| self.owned.get(&ObjectRef::new(&n).within(namespace)))
            .filter(|j| j.owner_references().iter().any(|o| o.uid == uid))
            .map(|j| Job::from(j.as_ref()))
            .collect()
    }

    /// What the deletion guards need: queues, budgets and jobs.
    pub fn policy_set(&self) -> PolicySet {
        let mut set = PolicySet::new();
        for q in self.queues.state() {
            set.upsert_queue((*q).clone());
        }
        for b in self.budgets.state() {
            set.upsert_budget((*b).clone());
        }
        for j in self.jobs.state() {
            set.upsert_job(&j);
        }
        set
    }
}

/// Jobs the scheduling pass is starting ([`Context::starting`]): their reconciles wait.
#[derive(Debug)]
pub struct Starting<'a> {
    ctx: &'a Context,
    uids: Vec<String>,
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        let mut set = self
            .ctx
            .starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for uid in &self.uids {
            set.remove(uid);
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The reflector stores.
    pub stores: Stores,
    /// Metrics and readiness, shared with the probe server.
    pub observed: Arc<Observed>,
    /// Writes the BatchJobs' Events (`None` in tests that script every API call).
    pub events: Option<crate::events::Publisher>,
    /// Wakes the scheduling pass early (queue or budget changed, a job finished).
    pub wake: Notify,
    /// The clock (fixed in tests).
    pub now: fn() -> jiff::Timestamp,
    /// Consecutive failures per object, for the requeue backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Per budget: its writer ([`crate::budget_writer`]).
    budget_slots: BudgetSlots,
    /// Jobs whose Start the scheduling pass is making (their uids): their reconciles wait.
    starting: Mutex<HashSet<String>>,
    /// BatchJobs as this controller last wrote them (by uid), kept until the store catches up.
    written_jobs: Mutex<HashMap<String, (Arc<BatchJob>, Instant)>>,
}

/// How many written jobs are kept before the old ones (see [`WRITTEN_KEPT_FOR`]) are dropped.
const WRITTEN_JOBS: usize = 1024;
/// How long a written job is kept at most once there are many: far longer than a watch lags.
const WRITTEN_KEPT_FOR: Duration = Duration::from_secs(10);

/// The etcd revision in a resourceVersion (opaque to clients in general; kbatch only runs
/// against the API server, whose versions are revisions). `None` when unreadable.
fn revision(meta: &kube::api::ObjectMeta) -> Option<u64> {
    meta.resource_version.as_deref()?.parse().ok()
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("stores", &self.stores)
            .field("observed", &self.observed)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context over `client` and `stores`, with metrics of its own and no Events.
    pub fn new(client: Client, stores: Stores) -> Context {
        Context {
            client,
            stores,
            observed: Arc::default(),
            events: None,
            wake: Notify::new(),
            now: jiff::Timestamp::now,
            failures: Mutex::new(HashMap::new()),
            budget_slots: BudgetSlots::default(),
            starting: Mutex::new(HashSet::new()),
            written_jobs: Mutex::new(HashMap::new()),
        }
    }

    /// The writer slot of budget `name` (made on first use; one per budget that exists).
    pub fn budget_slot(&self, name: &str) -> Arc<BudgetSlot> {
        self.budget_slots.get(name)
    }

    /// The newest version of budget `name` this controller knows: the store's, or the one it
    /// last wrote when the store has not caught up.
    ///
    /// Shared, not copied: a budget holds a ledger entry per running job, and every reconcile
    /// of a job with a reservation reads it.
    pub fn newest_budget(&self, name: &str) -> Option<Arc<BatchBudget>> {
        let stored = self.stores.budget(name)?;
        let written = self.budget_slot(name).latest();
        Some(Arc::clone(newer(&stored, written.as_ref())))
    }

    /// Marks the jobs of `uids` as being started by the scheduling pass until the returned
    /// guard is dropped (also when the pass is cancelled half-way).
    pub fn starting(&self, uids: Vec<String>) -> Starting<'_> {
        let mut set = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        set.extend(uids.iter().cloned());
        Starting { ctx: self, uids }
    }

    /// Remembers `job` as this controller just wrote it.
    pub fn remember_job(&self, job: &BatchJob) {
        let Some(uid) = job.metadata.uid.clone() else {
            return;
        };
        let mut written = self
            .written_jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if written.len() >= WRITTEN_JOBS {
            written.retain(|_, (_, at)| at.elapsed() < WRITTEN_KEPT_FOR);
        }
        written.insert(uid, (Arc::new(job.clone()), Instant::now()));
    }

    /// The newest version of `stored` this controller knows: the store's, or the one it last
    /// wrote when the store has not caught up with it yet (a reconcile started by an older
    /// event would otherwise act on a view its own writes have passed, and be refused).
    pub fn newest_job(&self, stored: Arc<BatchJob>) -> Arc<BatchJob> {
        let Some(uid) = stored.metadata.uid.as_deref() else {
            return stored;
        };
        let mut written = self
            .written_jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match written.get(uid) {
            Some((mine, _)) if revision(&mine.metadata) > revision(&stored.metadata) => {
                Arc::clone(mine)
            }
            Some(_) => {
                written.remove(uid);
                stored
            }
            None => stored,
        }
    }

    /// Whether the scheduling pass is starting the job `uid`.
    pub fn is_starting(&self, uid: &str) -> bool {
        self.starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// What to do after `error` for the object `key`: a conflict (a stale view, which the
    /// watch corrects within moments) is retried after [`CONFLICT_RETRY`] and does not count;
    /// other transient errors back off exponentially (1 s, 2 s, … capped at 5 min); permanent
    /// ones wait 10 min (or a change).
    pub fn requeue_after(&self, key: &str, error: &Error) -> Action {
        self.observed.reconciled(Some(error));
        if error.is_conflict() {
            tracing::debug!(object = key, %error, "stale view; retrying");
            return Action::requeue(CONFLICT_RETRY);
        }
        if !error.is_transient() {
            tracing::error!(object = key, %error, "reconcile failed; waiting for a change");
            return Action::requeue(Duration::from_secs(600));
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let delay = backoff(*n);
        tracing::warn!(object = key, %error, retry_in = ?delay, "reconcile failed; retrying");
        Action::requeue(delay)
    }
}

/// How soon a reconcile refused for a stale view (409 Conflict) runs again. Under load many
/// writers meet on a budget or a job; backing off exponentially from conflicts alone left
/// jobs waiting minutes after their view was fresh again.
pub const CONFLICT_RETRY: Duration = Duration::from_secs(1);

/// The delay before retry `n` (1-based): 2^(n-1) seconds, at most 5 minutes.
pub fn backoff(n: u32) -> Duration {
    let secs = 1u64
        .checked_shl(n.saturating_sub(1).min(16))
        .unwrap_or(u64::MAX);
    Duration::from_secs(secs.min(300))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_store_keeps_a_finished_jobs_spec_without_its_pod_templates() {
        use crate::fixtures::{BatchJobExt, batch_job};
        use kbatch_policy::api::JobPhase;
        for (phase, template_kept) in [
            (JobPhase::Queued, true),
            (JobPhase::Scheduled, true),
            (JobPhase::Ready, true),
            (JobPhase::Running, true),
            (JobPhase::Succeeded, false),
            (JobPhase::Failed, false),
        ] {
            let mut job = batch_job(2).in_phase(phase);
            job.metadata.managed_fields = Some(vec![Default::default()]);
            let before = job.clone();
            Stores::keep_of(&mut job);
            assert_eq!(job.metadata.managed_fields, Some(vec![]), "{phase:?}");
            let group = &job.spec.task_groups[0];
            let original = &before.spec.task_groups[0];
            assert_eq!(
                group.template == original.template,
                template_kept,
                "{phase:?}"
            );
            assert_ne!(original.template, Default::default());
            // What the decisions of a finished job read stays.
            assert_eq!(
                (&group.name, &group.index_spec, &group.max_wall_time),
                (
                    &original.name,
                    &original.index_spec,
                    &original.max_wall_time
                ),
            );
            assert_eq!(job.status, before.status);
        }
        let mut never_seen = batch_job(1);
        let before = never_seen.clone();
        Stores::keep_of(&mut never_seen);
        assert_eq!(never_seen.spec, before.spec);
    }

    #[tokio::test]
    async fn a_job_is_found_by_namespace_name_and_uid() {
        let (ctx, _handle, _writers) = crate::mock::context(crate::mock::World {
            jobs: vec![crate::fixtures::batch_job(1)],
            ..crate::mock::World::default()
        });
        let found = ctx.stores.job("ns", "pi", "u1");
        assert_eq!(
            found.and_then(|j| j.metadata.uid.clone()),
            Some("u1".to_owned())
        );
        // A job recreated under the same name is another job.
        assert!(ctx.stores.job("ns", "pi", "u2").is_none());
        assert!(ctx.stores.job("other", "pi", "u1").is_none());
        assert!(ctx.stores.job("ns", "pj", "u1").is_none());
    }

    #[tokio::test]
    async fn every_waiter_wakes_once_the_stores_have_listed() {
        use kube::runtime::reflector;
        use kube::runtime::watcher::Event;
        let (jobs, mut jobs_writer) = reflector::store();
        let (queues, mut queues_writer) = reflector::store();
        let (ctx, _handle, _writers) = crate::mock::context(crate::mock::World::default());
        let mut stores = ctx.stores.clone();
        stores.jobs = jobs;
        stores.queues = queues;
        assert!(!stores.is_synced());
        // A new leader's first pass: many reconciles wait at once, as separate futures.
        let waiting: Vec<_> = (0..6)
            .map(|_| {
                let stores = stores.clone();
                tokio::spawn(async move { stores.ready().await })
            })
            .collect();
        tokio::task::yield_now().await;
        for event in [Event::Init, Event::InitDone] {
            jobs_writer.apply_watcher_event(&event);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for event in [Event::Init, Event::InitDone] {
            queues_writer.apply_watcher_event(&event);
        }
        for (i, waiter) in waiting.into_iter().enumerate() {
            let woke = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert!(
                matches!(woke, Ok(Ok(Ok(())))),
                "waiter {i} never woke: {woke:?}"
            );
        }
        assert!(stores.is_synced());
    }

    #[tokio::test]
    async fn owned_jobs_are_looked_up_by_their_names_and_owner() {
        use crate::fixtures::{owned_job, progress};
        let job = crate::fixtures::batch_job(1);
        let ours = owned_job(1, progress(1, 0));
        let mut fallback = ours.clone();
        fallback.metadata.name = Some(crate::job::fallback_job_name("pi", "main", "u1"));
        let mut theirs = ours.clone();
        theirs.metadata.namespace = Some("other".into());
        let mut foreign = ours.clone();
        foreign.metadata.name = Some("pi-main-x".into());
        let (ctx, _handle, _writers) = crate::mock::context(crate::mock::World {
            owned: vec![ours, fallback, theirs, foreign],
            ..crate::mock::World::default()
        });
        let names = |uid: &str| -> Vec<String> {
            ctx.stores
                .owned_jobs(&job, "ns", uid)
                .into_iter()
                .filter_map(|j| j.metadata.name)
                .collect()
        };
        assert_eq!(
            names("u1"),
            [
                "pi-main".to_owned(),
                crate::job::fallback_job_name("pi", "main", "u1")
            ]
        );
        assert!(names("u2").is_empty(), "owned by another uid");
    }

    #[test]
    fn each_error_has_its_metric_label_and_a_message_naming_the_object() {
        let mut job = crate::fixtures::batch_job(1);
        job.metadata.uid = None;
        let conflict = Error::Kube(kube::Error::Api(
            kube::core::Status::failure("the object has been modified", "Conflict")
                .with_code(409)
                .boxed(),
        ));
        let refused_test = |code| {
            kube::Error::Api(
                kube::core::Status::failure(
                    "the server rejected our request due to an error in our request",
                    "Invalid",
                )
                .with_code(code)
                .boxed(),
            )
        };
        let stale = Error::of_conditional_patch(refused_test(422), || "BatchJob ns/pi".into());
        let cases: Vec<(Error, &str, &str)> = vec![
            (conflict, "conflict", "the object has been modified"),
            (
                stale,
                "conflict",
                "BatchJob ns/pi changed since it was read",
            ),
            (
                Error::unidentified(&job, "uid"),
                "unidentified",
                "BatchJob ns/pi has no uid",
            ),
            (
                Error::MissingPolicy {
                    kind: "BatchBudget",
                    name: "team".into(),
                    context: ": the queue of ns/pi names it".into(),
                },
                "missing_policy",
                "BatchBudget team does not exist: the queue of ns/pi names it",
            ),
            (
                Error::Pricing {
                    what: "ns/pi".into(),
                    source: CostError::Overflow,
                },
                "pricing",
                "ns/pi: ",
            ),
            (
                Error::JobNameTaken("Job pi-main belongs to another BatchJob".into()),
                "job_name_taken",
                "Job pi-main belongs to another BatchJob",
            ),
            (
                Error::StoreDropped,
                "store_dropped",
                "a reflector store was dropped",
            ),
        ];
        for (error, kind, message) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.to_string().contains(message), "{kind}: {error}");
            assert_eq!(error.is_transient(), kind == "conflict", "{kind}");
            assert_eq!(error.is_conflict(), kind == "conflict", "{kind}");
        }
        // Only a 422 of a conditional patch reads as a stale view.
        let forbidden = Error::of_conditional_patch(refused_test(403), || "BatchJob ns/pi".into());
        assert_eq!(forbidden.kind(), "api");
        assert!(!forbidden.is_conflict());
    }

    #[tokio::test]
    async fn conflicts_retry_soon_and_do_not_grow_the_backoff_of_other_errors() {
        let (ctx, _handle, _writers) = crate::mock::context(crate::mock::World::default());
        let conflict = Error::Kube(kube::Error::Api(
            kube::core::Status::failure("the object has been modified", "Conflict")
                .with_code(409)
                .boxed(),
        ));
        let unavailable = Error::Kube(kube::Error::Api(
            kube::core::Status::failure("etcd leader changed", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        ));
        for _ in 0..5 {
            assert_eq!(
                ctx.requeue_after("BatchJob ns/a", &conflict),
                Action::requeue(CONFLICT_RETRY)
            );
        }
        // The first other failure after five conflicts is the first retry.
        assert_eq!(
            ctx.requeue_after("BatchJob ns/a", &unavailable),
            Action::requeue(Duration::from_secs(1))
        );
        assert_eq!(
            ctx.requeue_after("BatchJob ns/a", &unavailable),
            Action::requeue(Duration::from_secs(2))
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let secs: Vec<u64> = [1, 2, 3, 9, 10, 100]
            .into_iter()
            .map(|n| backoff(n).as_secs())
            .collect();
        assert_eq!(secs, vec![1, 2, 4, 256, 300, 300]);
    }
}
