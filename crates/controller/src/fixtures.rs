//! Test builders: BatchJobs, owned Jobs and policy objects that read like what they are, and
//! a mocked API server that checks every request in order.

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use kbatch_policy::api::{BatchJob, BatchPriority, BatchQueue, JobPhase, RESERVATION_FINALIZER};
use kbatch_policy::budget::{Money, ReservationRecord, ReservationState, ReservedGroup};
use serde_json::{Value, json};

/// A BatchJob `pi` in `ns` (uid `u1`) with one group `main` of `tasks` tasks, queue `q`.
pub fn batch_job(tasks: i32) -> BatchJob {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "pi", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
            "annotations": {"kbatch.k8s.io/submitted-by": "alice"},
            "creationTimestamp": "2026-11-22T09:00:00Z"},
        "spec": {"batchQueueName": "q", "taskGroups": [{
            "name": "main", "maxWallTime": "1h", "indexSpec": {"taskCount": tasks},
            "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox",
                    "resources": {"requests": {"cpu": "1"}}}]}}
        }]}
    }))
    .unwrap_or_default()
}

/// A reservation of 2.00 on budget `team`, in `state`.
pub fn record(state: ReservationState) -> ReservationRecord {
    ReservationRecord {
        id: "u1".into(),
        budget: "team".into(),
        amount: Money::parse("2").unwrap_or(Money::ZERO),
        groups: vec![ReservedGroup {
            name: "main".into(),
            amount: Money::parse("2").unwrap_or(Money::ZERO),
            max_wall_time_seconds: 3600,
            task_count: 0,
            runs_per_task: 1,
        }],
        state,
        attempt: 0,
        requested_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-11-22T09:00:00Z".parse().unwrap_or_default(),
        ),
        charged_at: None,
        windows: vec![],
        actual_cost: None,
        refund: None,
        refunded_at: None,
        refund_windows: vec![],
    }
}

/// Builder-style helpers on a BatchJob.
pub trait BatchJobExt {
    /// In `phase`, with what the controller already recorded (submitter, a charged
    /// reservation and its finalizer).
    fn in_phase(self, phase: JobPhase) -> Self;
    /// With `userCommand: Terminate`.
    fn terminated(self) -> Self;
}

impl BatchJobExt for BatchJob {
    fn in_phase(mut self, phase: JobPhase) -> Self {
        // A charged job holds the reservation finalizer (added before the charge).
        self.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.to_owned()]);
        let status = self.status.get_or_insert_with(Default::default);
        status.phase = Some(phase);
        status.submitted_by = Some("alice".into());
        status.reservation = Some(record(ReservationState::Charged));
        status.budget_consumed = Some(2.0);
        self
    }
    fn terminated(mut self) -> Self {
        self.spec.user_command = Some("Terminate".into());
        self
    }
}

/// The owned Job `pi-main` of `tasks` completions with `status`.
pub fn owned_job(tasks: i32, status: JobStatus) -> Job {
    let mut job: Job = serde_json::from_value(json!({
        "metadata": {"name": "pi-main", "namespace": "ns",
            "labels": {"kbatch.k8s.io/batchjob": "pi", "kbatch.k8s.io/task-group": "main"},
            "ownerReferences": [{"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
                "name": "pi", "uid": "u1", "controller": true}]},
        "spec": {"completions": tasks, "template": {}}
    }))
    .unwrap_or_default();
    job.status = Some(status);
    job
}

/// A Job status with `active` pods and `done` of the indexes `0..` completed.
pub fn progress(active: i32, done: i32) -> JobStatus {
    JobStatus {
        active: Some(active),
        ready: Some(active),
        succeeded: Some(done),
        completed_indexes: (done > 0).then(|| {
            if done == 1 {
                "0".to_owned()
            } else {
                format!("0-{}", done - 1)
            }
        }),
        ..JobStatus::default()
    }
}

/// A Job status with `active` pods created and none running yet (Pending).
pub fn pending(active: i32) -> JobStatus {
    JobStatus {
        active: Some(active),
        ready: Some(0),
        ..JobStatus::default()
    }
}

/// A Job status of a Job that failed with `reason`.
pub fn failed(reason: &str) -> JobStatus {
    JobStatus {
        conditions: Some(vec![JobCondition {
            type_: "Failed".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            ..JobCondition::default()
        }]),
        ..JobStatus::default()
    }
}

/// BatchPriority `high` (value 100), optionally being deleted, with the in-use finalizer.
pub fn priority(deleting: bool) -> BatchPriority {
    let mut v = json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchPriority",
        "metadata": {"name": "high", "resourceVersion": "3",
            "finalizers": ["kbatch.k8s.io/in-use-protection"]},
        "spec": {"value": 100, "description": "urgent"}
    });
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!("2026-11-22T10:00:00Z");
    }
    serde_json::from_value(v).unwrap_or_default()
}

/// BatchQueue `ns/q` naming priority `high` and budget `team`.
pub fn queue() -> BatchQueue {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
        "metadata": {"name": "q", "namespace": "ns"},
        "spec": {"batchPriorityName": "high", "batchBudgetName": "team"}
    }))
    .unwrap_or_default()
}

/// `value` as JSON, for comparing bodies.
pub fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// BatchBudget `team`: 100 a day on cost model `gke`.
pub fn budget() -> kbatch_policy::api::BatchBudget {
    let mut budget: kbatch_policy::api::BatchBudget = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
        "metadata": {"name": "team", "resourceVersion": "5"},
        "spec": {"batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
            "budgetWindows": [{"duration": "24h", "amount": 100}]}
    }))
    .unwrap_or_default();
    // Its window is open and current at the tests' clock, as the controller keeps it: a pass
    // has nothing to roll.
    if let Ok(plan) = kbatch_policy::budget::BudgetPlan::from_budget(&budget) {
        budget.status = Some(kbatch_policy::budget::roll_windows(
            &Default::default(),
            &plan,
            crate::mock::test_now(),
        ));
    }
    budget
}
