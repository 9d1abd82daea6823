//! What a scheduling pass reads: small, owned summaries the I/O layer builds from its
//! reflector stores ([`SchedulingSnapshot::from_objects`]), or keeps up to date per object
//! ([`JobInfo::from_job`], [`QueueInfo::from_queue`], [`BudgetInfo::from_budget`]) to avoid
//! re-pricing unchanged jobs.

use crate::api::{
    BatchBudget, BatchBudgetStatus, BatchCostModel, BatchJob, BatchPriority, BatchQueue,
    JobDependency, JobPhase,
};
use crate::budget::{BudgetPlan, CostError, CostModel, Money, ReservationState};
use crate::phase::is_queued;
use jiff::Timestamp;
use std::collections::HashMap;

/// The jobs, queues and budgets a pass looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulingSnapshot {
    /// Every queue.
    pub queues: Vec<QueueInfo>,
    /// Every budget a queue names.
    pub budgets: Vec<BudgetInfo>,
    /// Every job: Queued ones are scheduled; the others answer dependencies and hold
    /// in-flight reservations.
    pub jobs: Vec<JobInfo>,
}

/// A queue, with its priority resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The value of its BatchPriority (0 when the priority object is missing).
    pub priority: i32,
    /// The BatchBudget its jobs spend.
    pub budget: String,
    /// `spec.pauseScheduling`.
    pub paused: bool,
}

impl QueueInfo {
    /// An unpaused queue.
    pub fn new(namespace: &str, name: &str, priority: i32, budget: &str) -> QueueInfo {
        QueueInfo {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            priority,
            budget: budget.to_owned(),
            paused: false,
        }
    }

    /// Summarises a BatchQueue; `priority` looks up a BatchPriority's value by name.
    pub fn from_queue(queue: &BatchQueue, priority: impl Fn(&str) -> Option<i32>) -> QueueInfo {
        QueueInfo {
            namespace: queue.metadata.namespace.clone().unwrap_or_default(),
            name: queue.metadata.name.clone().unwrap_or_default(),
            priority: priority(&queue.spec.batch_priority_name).unwrap_or(0),
            budget: queue.spec.batch_budget_name.clone(),
            paused: queue.spec.pause_scheduling,
        }
    }
}

/// A budget: its parsed spec (or why it cannot be used) and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetInfo {
    /// Its windows, or why the spec is unusable (jobs then wait with `BudgetUnavailable`).
    pub plan: Result<BudgetPlan, String>,
    /// Its status (amounts spent, ledger).
    pub status: BatchBudgetStatus,
    name: String,
}

impl BudgetInfo {
    /// A budget from its plan (which carries the name) and status.
    pub fn new(plan: Result<BudgetPlan, String>, status: BatchBudgetStatus) -> BudgetInfo {
        let name = plan.as_ref().map(|p| p.name.clone()).unwrap_or_default();
        BudgetInfo { plan, status, name }
    }

    /// A budget that cannot be used, named `name`.
    pub fn unusable(name: &str, why: String) -> BudgetInfo {
        BudgetInfo {
            plan: Err(why),
            status: BatchBudgetStatus::default(),
            name: name.to_owned(),
        }
    }

    /// Summarises a BatchBudget.
    pub fn from_budget(budget: &BatchBudget) -> BudgetInfo {
        let name = budget.metadata.name.clone().unwrap_or_default();
        BudgetInfo {
            plan: BudgetPlan::from_budget(budget).map_err(|e| e.to_string()),
            status: budget.status.clone().unwrap_or_default(),
            name,
        }
    }

    /// The budget's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a job's reservation is, as far as the pass is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pricing {
    /// The reservation under its budget's cost model.
    Priced(Money),
    /// The job itself cannot be priced (no maxWallTime, malformed resources): it fails.
    Invalid(String),
    /// Its queue, budget or cost model is missing or malformed: it waits.
    Unavailable(String),
}

impl Pricing {
    /// The pricing of `job` under `model`.
    pub fn of(job: &BatchJob, model: &CostModel) -> Pricing {
        match model.job_cost(&job.spec) {
            Ok(cost) => Pricing::Priced(cost.reservation),
            Err(e @ CostError::BadPrice { .. }) => Pricing::Unavailable(e.to_string()),
            Err(e) => Pricing::Invalid(e.to_string()),
        }
    }
}

/// What a pass needs to know about one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid` (the reservation id).
    pub uid: String,
    /// `spec.batchQueueName`.
    pub queue: String,
    /// `status.phase`.
    pub phase: Option<JobPhase>,
    /// `metadata.creationTimestamp`: first come, first served.
    pub created: Timestamp,
    /// `spec.dependencies`.
    pub dependencies: Vec<JobDependency>,
    /// `spec.userCommand` is `Terminate`.
    pub terminate: bool,
    /// Its reservation (only needed for Queued jobs).
    pub pricing: Pricing,
    /// A reservation intent written but not yet acknowledged as charged (state Charging):
    /// the pass takes it from the budget unless the budget's ledger already holds it.
    pub charging: Option<Money>,
}

/// Identifies the job an action is about (borrowed from the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobRef<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// `metadata.uid`.
    pub uid: &'a str,
}

impl<'a> JobRef<'a> {
    pub(crate) fn of(job: &'a JobInfo) -> JobRef<'a> {
        JobRef {
            namespace: &job.namespace,
            name: &job.name,
            uid: &job.uid,
        }
    }
}

impl std::fmt::Display for JobRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl JobInfo {
    /// A Queued job without dependencies (its uid is `namespace/name`), for tests and tools.
    pub fn queued(
        namespace: &str,
        name: &str,
        queue: &str,
        created: Timestamp,
        pricing: Pricing,
    ) -> JobInfo {
        JobInfo {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: format!("{namespace}/{name}"),
            queue: queue.to_owned(),
            phase: Some(JobPhase::Queued),
            created,
            dependencies: Vec::new(),
            terminate: false,
            pricing,
            charging: None,
        }
    }

    /// Summarises a BatchJob. `model` is the cost model of its queue's budget (`Err` says
    /// why there is none); it is consulted only for queued jobs ([`is_queued`]).
    pub fn from_job(job: &BatchJob, model: Result<&CostModel, &str>) -> JobInfo {
        let status = job.status.as_ref();
        let phase = status.and_then(|s| s.phase);
        let reservation = status.and_then(|s| s.reservation.as_ref());
        let pricing = match (is_queued(phase), model) {
            (true, Ok(model)) => Pricing::of(job, model),
            (true, Err(why)) => Pricing::Unavailable(why.to_owned()),
            (false, _) => Pricing::Priced(reservation.map_or(Money::ZERO, |r| r.amount)),
        };
        JobInfo {
            namespace: job.metadata.namespace.clone().unwrap_or_default(),
            name: job.metadata.name.clone().unwrap_or_default(),
            uid: job.metadata.uid.clone().unwrap_or_default(),
            queue: job.spec.batch_queue_name.clone(),
            phase,
            created: job
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
            dependencies: job.spec.dependencies.clone(),
            terminate: job.spec.user_command.as_deref() == Some("Terminate"),
            pricing,
            charging: reservation
                .filter(|r| r.state == ReservationState::Charging)
                .map(|r| r.amount),
        }
    }
}

impl SchedulingSnapshot {
    /// Builds a snapshot from the API objects (e.g. the reflector stores' contents): resolves
    /// each queue's priority, parses each budget, and prices each Queued job with the cost
    /// model of its queue's budget.
    ///
    /// ```
    /// use kbatch_policy::api::{BatchBudget, BatchCostModel, BatchJob, BatchPriority, BatchQueue};
    /// use kbatch_policy::scheduling::{Action, SchedulingSnapshot, schedule};
    /// use serde_json::json;
    ///
    /// let obj = |v: serde_json::Value| v;
    /// let queue: BatchQueue = serde_json::from_value(obj(json!({
    ///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
    ///     "metadata": {"name": "batch", "namespace": "ns"},
    ///     "spec": {"batchPriorityName": "high", "batchBudgetName": "team"}}))).unwrap();
    /// let priority: BatchPriority = serde_json::from_value(json!({
    ///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchPriority",
    ///     "metadata": {"name": "high"}, "spec": {"value": 100, "description": "urgent"}})).unwrap();
    /// let budget: BatchBudget = serde_json::from_value(json!({
    ///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
    ///     "metadata": {"name": "team", "creationTimestamp": "2026-11-01T00:00:00Z"},
    ///     "spec": {"batchCostModelName": "gke", "budgetWindows": [{"duration": "24h", "amount": 1}]}})).unwrap();
    /// let model: BatchCostModel = serde_json::from_value(json!({
    ///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
    ///     "metadata": {"name": "gke"}, "spec": {"resources": {"cpu": 0.5}}})).unwrap();
    /// let job: BatchJob = serde_json::from_value(json!({
    ///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
    ///     "metadata": {"name": "pi", "namespace": "ns", "uid": "u1", "creationTimestamp": "2026-11-22T09:00:00Z"},
    ///     "spec": {"batchQueueName": "batch", "taskGroups": [{"name": "main", "maxWallTime": "4h",
    ///         "template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}}]},
    ///     "status": {"phase": "Queued"}})).unwrap();
    ///
    /// let snapshot = SchedulingSnapshot::from_objects([&job], [&queue], [&priority], [&budget], [&model]);
    /// let actions = schedule(&snapshot, "2026-11-22T10:00:00Z".parse().unwrap());
    /// let Action::Wait { conditions, .. } = &actions[0] else { panic!() };
    /// assert_eq!(conditions[0].type_, "BudgetExceeded"); // 0.5 × 4h = 2.00 > 1.00
    /// ```
    pub fn from_objects<'a>(
        jobs: impl IntoIterator<Item = &'a BatchJob>,
        queues: impl IntoIterator<Item = &'a BatchQueue>,
        priorities: impl IntoIterator<Item = &'a BatchPriority>,
        budgets: impl IntoIterator<Item = &'a BatchBudget>,
        cost_models: impl IntoIterator<Item = &'a BatchCostModel>,
    ) -> SchedulingSnapshot {
        let priorities: HashMap<&str, i32> = priorities
            .into_iter()
            .filter_map(|p| Some((p.metadata.name.as_deref()?, p.spec.value)))
            .collect();
        let models: HashMap<&str, Result<CostModel, String>> = cost_models
            .into_iter()
            .filter_map(|m| {
                let name = m.metadata.name.as_deref()?;
                Some((
                    name,
                    CostModel::from_spec(&m.spec).map_err(|e| format!("cost model {name}: {e}")),
                ))
            })
            .collect();
        let budgets: Vec<&BatchBudget> = budgets.into_iter().collect();
        // Budget name → its cost model, or why there is none.
        let budget_models: HashMap<&str, Result<&CostModel, String>> = budgets
            .iter()
            .filter_map(|b| {
                let name = b.metadata.name.as_deref()?;
                let model_name = b.spec.batch_cost_model_name.as_str();
                let model = match models.get(model_name) {
                    Some(Ok(m)) => Ok(m),
                    Some(Err(why)) => Err(why.clone()),
                    None => Err(format!(
                        "budget {name} names cost model {model_name}, which does not exist"
                    )),
                };
                Some((name, model))
            })
            .collect();
        let queues: Vec<QueueInfo> = queues
            .into_iter()
            .map(|q| QueueInfo::from_queue(q, |p| priorities.get(p).copied()))
            .collect();
        let queue_budget: HashMap<(&str, &str), &str> = queues
            .iter()
            .map(|q| ((q.namespace.as_str(), q.name.as_str()), q.budget.as_str()))
            .collect();
        let jobs = jobs
            .into_iter()
            .map(|job| {
                let ns = job.metadata.namespace.as_deref().unwrap_or_default();
                let queue = job.spec.batch_queue_name.as_str();
                let model = match queue_budget.get(&(ns, queue)) {
                    None => Err(format!("queue {ns}/{queue} does not exist")),
                    Some(budget) => match budget_models.get(budget) {
                        None => Err(format!(
                            "queue {ns}/{queue} names budget {budget}, which does not exist"
                        )),
                        Some(Ok(m)) => Ok(*m),
                        Some(Err(why)) => Err(why.clone()),
                    },
                };
                match &model {
                    Ok(m) => JobInfo::from_job(job, Ok(m)),
                    Err(why) => JobInfo::from_job(job, Err(why)),
                }
            })
            .collect();
        SchedulingSnapshot {
            queues,
            budgets: budgets.into_iter().map(BudgetInfo::from_budget).collect(),
            jobs,
        }
    }
}
