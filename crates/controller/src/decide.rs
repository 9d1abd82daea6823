//! The pure decision of one reconcile of a BatchJob: from the job, its owned `batch/v1` Jobs
//! and its queue's priority to the API calls to make.
//!
//! The I/O layer ([`reconcile`](crate::reconcile)) lists the owned Jobs, calls [`decide`],
//! and applies the [`Decision`] in order: delete, create, then the status patch. Budget
//! steps are not decided here: they follow the ledger ([`ledger_io`](crate::ledger_io)).

use crate::job::{GROUP_LABEL, NotRunnable, jobs_for};
use crate::observe::{all_jobs_exist, group_status, job_of, observe_groups};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kbatch_policy::api::{
    BatchJob, BatchJobStatus, GroupStatus, JobPhase, PriorityRef, SUBMITTED_BY_ANNOTATION,
};
use kbatch_policy::budget::ReservationState;
use kbatch_policy::budget::ledger::consumed;
use kbatch_policy::phase::{
    DependencyState, Observation, Transition, is_queued, is_terminal, next_phase,
};
use kbatch_policy::scheduling::{Condition, merge_conditions, unschedulable};
use kube::ResourceExt;

/// `spec.userCommand` value that stops a job.
pub const TERMINATE: &str = "Terminate";

/// Reason of the condition written when a job's Jobs cannot be built (the webhook admits no
/// such job; one created while it was down can still be one).
pub const NOT_RUNNABLE: &str = "NotRunnable";

/// What one reconcile should do, in this order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Owned Jobs to delete (background propagation), by name.
    pub delete_jobs: Vec<String>,
    /// Jobs to create (an existing one is left alone).
    pub create_jobs: Vec<Job>,
    /// The new status, when it differs from the current one.
    pub status: Option<BatchJobStatus>,
}

/// `status` moved to `phase` with a condition of type and reason `reason` (`status: True`);
/// waiting conditions are dropped.
pub fn with_phase(
    status: &BatchJobStatus,
    phase: JobPhase,
    reason: &'static str,
    message: String,
    now: Timestamp,
) -> BatchJobStatus {
    let mut next = status.clone();
    next.phase = Some(phase);
    next.conditions = merge_conditions(
        &status.conditions,
        &[Condition::new(reason, reason, message)],
        now,
    );
    next
}

/// Whether the pods of `job` are worth reading: it is Ready and some of the pods its Jobs
/// created do not run yet (they may be waiting for a node).
pub fn needs_pods(job: &BatchJob, owned: &[Job]) -> bool {
    let ready = job.status.as_ref().and_then(|s| s.phase) == Some(JobPhase::Ready);
    ready
        && owned.iter().any(|j| {
            let status = j.status.as_ref();
            let active = status.and_then(|s| s.active).unwrap_or(0);
            let running = status.and_then(|s| s.ready).unwrap_or(0);
            active > running
        })
}

/// How long a Scheduled job's tasks may wait to run, once the Job controller has created their
/// pods, before the job is shown Ready (waiting for nodes or images): tasks that start sooner
/// take it straight to Running, one status write fewer. Counted from the Job's `startTime`,
/// not its creation: the time a busy Job controller takes to get to a new Job is not a wait
/// for nodes, and at 1,000 jobs submitted at once it would have cost most of them a write.
pub const READY_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the Job controller started one of the `owned` Jobs [`READY_AFTER`] ago or more.
fn tasks_waiting(owned: &[Job], now: Timestamp) -> bool {
    let wait = jiff::SignedDuration::try_from(READY_AFTER).unwrap_or_default();
    owned
        .iter()
        .filter_map(|j| j.status.as_ref()?.start_time.as_ref())
        .min_by_key(|t| t.0)
        .is_some_and(|t| now.duration_since(t.0) >= wait)
}

/// Whether `observed` says something `shown` does not: a task that started, succeeded or
/// failed. A task that stopped running but whose outcome its Job has not counted yet is
/// not worth a write: its count follows.
fn worth_showing(shown: &[GroupStatus], observed: &[GroupStatus]) -> bool {
    shown.len() != observed.len()
        || shown.iter().zip(observed).any(|(s, o)| {
            o.active > s.active
                || o.succeeded != s.succeeded
                || o.failed != s.failed
                || o.succeeded_indexes != s.succeeded_indexes
                || o.failed_indexes != s.failed_indexes
        })
}

/// Fills what a job's status takes from the job and its queue the first time the controller
/// writes it: who submitted it (from the webhook's annotation), and its queue's priority while
/// it waits (`priority`; once scheduled it is kept).
pub fn first_sight(job: &BatchJob, status: &mut BatchJobStatus, priority: Option<PriorityRef>) {
    if status.submitted_by.is_none() {
        status.submitted_by = job.annotations().get(SUBMITTED_BY_ANNOTATION).cloned();
    }
    if is_queued(status.phase) && priority.is_some() {
        status.batch_priority = priority;
    }
}

/// Whether the job asks to be terminated.
pub fn terminate_requested(job: &BatchJob) -> bool {
    job.spec.user_command.as_deref() == Some(TERMINATE)
}

/// Decides one reconcile of `job` given its `owned` Jobs, the `waiting` pods of a Ready job
/// that has pods not yet running (see [`needs_pods`]; empty otherwise), its queue's priority
/// (`None` when the queue or priority is unknown) and the time.
pub fn decide(
    job: &BatchJob,
    owned: &[Job],
    waiting: &[Pod],
    priority: Option<PriorityRef>,
    now: Timestamp,
) -> Decision {
    let current = job.status.clone().unwrap_or_default();
    let mut next = current.clone();
    let phase = current.phase;
    let terminal = phase.is_some_and(is_terminal);
    let terminate = terminate_requested(job);

    first_sight(job, &mut next, priority);
    if let Some(record) = &current.reservation {
        next.budget_consumed = Some(consumed(record).to_f64());
    }

    let mut decision = Decision::default();
    let observation = Observation {
        terminate_requested: terminate,
        dependencies: DependencyState::Met,
        reservation: current.reservation.as_ref().map(|r| r.state),
        jobs_created: all_jobs_exist(job, owned),
        tasks_waiting: tasks_waiting(owned, now),
        groups: observe_groups(job, owned),
    };
    let mut transition = next_phase(phase, &observation);

    let charged = current
        .reservation
        .as_ref()
        .is_some_and(|r| r.state >= ReservationState::Charged);
    let runs = matches!(
        phase,
        Some(JobPhase::Scheduled | JobPhase::Ready | JobPhase::Running)
    );
    if !terminal && !terminate && charged && runs && transition == Transition::Stay {
        match jobs_for(job) {
            Ok(jobs) => {
                decision.create_jobs = jobs
                    .into_iter()
                    .filter(|j| {
                        let group = j.labels().get(GROUP_LABEL).map(String::as_str);
                        group.is_none_or(|g| job_of(g, owned).is_none())
                    })
                    .collect();
            }
            Err(NotRunnable(why)) => {
                transition = Transition::To {
                    phase: JobPhase::Failed,
                    reason: NOT_RUNNABLE,
                    message: why,
                };
            }
        }
    }

    if !owned.is_empty() {
        let observed = group_status(job, owned);
        let shown = matches!(phase, Some(JobPhase::Ready | JobPhase::Running));
        if transition != Transition::Stay
            || (shown && worth_showing(&current.group_status, &observed))
        {
            next.group_status = observed;
        }
    }
    if transition == Transition::Stay && phase == Some(JobPhase::Ready) {
        // Waiting for nodes: say why, in the scheduler's words, until the pods are placed.
        let fresh: Vec<Condition> = unschedulable(waiting).into_iter().collect();
        next.conditions = merge_conditions(&next.conditions, &fresh, now);
    }
    if let Transition::To {
        phase: to,
        reason,
        message,
    } = transition
    {
        if to == JobPhase::Failed {
            // Terminate stops every pod; a failed group stops the groups still running.
            decision.delete_jobs = owned
                .iter()
                .filter(|j| j.metadata.deletion_timestamp.is_none())
                .filter(|j| terminate || j.status.as_ref().and_then(|s| s.active).unwrap_or(0) > 0)
                .map(ResourceExt::name_any)
                .collect();
        }
        next = with_phase(&next, to, reason, message, now);
    }
    if next != current {
        decision.status = Some(next);
    }
    decision
}

#[cfg(test)]
mod tests;
