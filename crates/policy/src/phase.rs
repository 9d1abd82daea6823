//! The BatchJob phase state machine.
//!
//! ```text
//!  (none) ─▶ Queued ─▶ Scheduled ─▶ Ready ─▶ Running ─▶ Succeeded
//!  (none) ───────────▶ Scheduled                          (started at first sight)
//!                      Scheduled ──────────▶ Running      (tasks ran before Ready was due)
//!                      Scheduled, Ready ──────────────▶ Succeeded (finished between two looks)
//!  any phase but Succeeded and Failed ─▶ Failed
//! ```
//!
//! - The phase only moves forward; Succeeded and Failed are final.
//! - Failed is reachable from every non-terminal phase: `userCommand: Terminate`
//!   ([`reason::TERMINATED`]), dependencies that can no longer be met (from Queued,
//!   [`reason::DEPENDENCY_FAILED`]), a task group whose tasks exhausted their retries or whose
//!   Kubernetes Job failed (from Scheduled, Ready or Running).
//! - A job with no phase is waiting to be scheduled, like a Queued one ([`is_queued`]): the
//!   controller writes Queued only when the job has to wait, and a job it can start at once
//!   goes straight to Scheduled. Each write of a status costs the API server and etcd a
//!   write, so none is made that says nothing new.
//! - Queued → Scheduled once the budget reservation intent is written. Scheduled → Ready once
//!   the budget holds the charge, every task group's `batch/v1` Job exists *and* no task has
//!   run for a while ([`Observation::tasks_waiting`]): a job whose pods start at once goes
//!   from Scheduled to Running.
//! - Ready → Running once a task actually runs: a pod is Ready, or one has already ended.
//!   A pod created but Pending (waiting for a node or its image) is not running: a job
//!   waiting for nodes stays Ready.
//! - Scheduled or Ready may go straight to Succeeded or Failed when the tasks finished before
//!   the controller saw them running. No other phase is skipped.
//! - Outcome of the tasks: a group fails as soon as its Job reports `Failed` (per-index
//!   backoff reports it once every index has finished), or its counts show every index
//!   finished with at least one failed for good. The BatchJob fails as soon as one group
//!   failed (the controller then stops the other groups); it succeeds when every index of
//!   every group succeeded.
//!
//! [`next_phase`] decides one step from an [`Observation`]; [`check_transition`] refuses
//! anything else (e.g. a status update computed from a stale view).
//!
//! ```
//! use kbatch_policy::api::JobPhase;
//! use kbatch_policy::phase::{Observation, Transition, check_transition, next_phase, reason};
//!
//! let seen = Observation { terminate_requested: true, ..Observation::default() };
//! let Transition::To { phase, reason: why, .. } = next_phase(Some(JobPhase::Running), &seen) else {
//!     panic!("a terminated job fails")
//! };
//! assert_eq!((phase, why), (JobPhase::Failed, reason::TERMINATED));
//! assert!(check_transition(Some(JobPhase::Running), JobPhase::Queued).is_err());
//! ```

use crate::api::JobPhase;
use crate::budget::ReservationState;
use std::fmt;

/// Condition types and reasons the controller writes to `status.conditions`.
pub mod reason {
    /// The job was seen for the first time and queued.
    pub const SUBMITTED: &str = "Submitted";
    /// Chosen to run; the budget reservation is being charged.
    pub const SCHEDULED: &str = "Scheduled";
    /// The budget holds the reservation and the Kubernetes Jobs exist.
    pub const RESERVED: &str = "BudgetReserved";
    /// A task started: one of its pods runs (is Ready) or has run.
    pub const STARTED: &str = "TasksStarted";
    /// Pods of a Ready job that the scheduler cannot place (why, in the message).
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    /// Every task of every group succeeded.
    pub const COMPLETED: &str = "Completed";
    /// `userCommand: Terminate`.
    pub const TERMINATED: &str = "Terminated";
    /// Its dependencies can no longer be met.
    pub const DEPENDENCY_FAILED: &str = "DependencyFailed";
    /// Waiting for jobs it depends on.
    pub const DEPENDENCY_PENDING: &str = "DependencyPending";
    /// Its queue has `pauseScheduling`.
    pub const QUEUE_PAUSED: &str = "QueuePaused";
    /// Its reservation does not fit the budget.
    pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
    /// Its budget holds as many charged reservations as one budget can
    /// ([`MAX_OPEN_RESERVATIONS`](crate::budget::balance::MAX_OPEN_RESERVATIONS)).
    pub const RESERVATION_LIMIT: &str = "ReservationLimit";
    /// Its queue, budget or cost model is missing or malformed.
    pub const BUDGET_UNAVAILABLE: &str = "BudgetUnavailable";
    /// Its queue does not exist.
    pub const QUEUE_MISSING: &str = "QueueMissing";
    /// The job cannot be priced (no maxWallTime, malformed resources).
    pub const UNPRICEABLE: &str = "CannotBePriced";
    /// Where it stands in its queue.
    pub const WAITING: &str = "Waiting";
    /// A task index failed after exhausting its retries.
    pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";
    /// A group's Job ran past its `activeDeadlineSeconds` (the maxWallTime).
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    /// A group's Job failed for another reason.
    pub const JOB_FAILED: &str = "JobFailed";
}

/// What the controller saw of one task group's `batch/v1` Job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupObservation {
    /// Task group name.
    pub name: String,
    /// `completions`: the group's taskCount.
    pub task_count: i32,
    /// Pods created and not finished: Pending ones included (`status.active`).
    pub active: i32,
    /// Pods that run: started and Ready (`status.ready`).
    pub running: i32,
    /// Pods that ended in failure, retried ones included (`status.failed`).
    pub failed_runs: i32,
    /// Indexes that succeeded.
    pub succeeded: i32,
    /// Indexes that failed for good (retries exhausted; preemptions do not count).
    pub failed: i32,
    /// Those indexes, as the Job lists them (`0-2,7`).
    pub failed_indexes: String,
    /// The Job's `Failed` condition reason when it has one (`FailedIndexes`,
    /// `DeadlineExceeded`, `BackoffLimitExceeded`, …).
    pub job_failed: Option<String>,
}

/// Where the job's dependencies stand (see [`scheduling`](crate::scheduling)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DependencyState {
    /// Met, or none.
    #[default]
    Met,
    /// Not yet met; the message names what it waits for.
    Pending(String),
    /// Can no longer be met; the message says which and why.
    Failed(String),
}

/// What the controller observed about a job, the input of [`next_phase`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// `spec.userCommand` is `Terminate`.
    pub terminate_requested: bool,
    /// Its dependencies.
    pub dependencies: DependencyState,
    /// `status.reservation.state`, `None` before the intent is written.
    pub reservation: Option<ReservationState>,
    /// Every task group's `batch/v1` Job exists.
    pub jobs_created: bool,
    /// The Jobs have existed for a while and no task runs yet: a Scheduled job is shown
    /// Ready (waiting for nodes or images) instead of going straight to Running.
    pub tasks_waiting: bool,
    /// Per task group, what its Job reports.
    pub groups: Vec<GroupObservation>,
}

/// What [`next_phase`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Keep the current phase.
    Stay,
    /// Move to `phase`, recording a condition with `reason` and `message`.
    To {
        /// The new phase.
        phase: JobPhase,
        /// A [`reason`] constant.
        reason: &'static str,
        /// For people.
        message: String,
    },
}

fn to(phase: JobPhase, reason: &'static str, message: impl Into<String>) -> Transition {
    Transition::To {
        phase,
        reason,
        message: message.into(),
    }
}

/// Whether a job in `phase` waits to be scheduled: Queued, or no phase yet (not looked at).
pub fn is_queued(phase: Option<JobPhase>) -> bool {
    matches!(phase, None | Some(JobPhase::Queued))
}

/// Whether the phase is final.
pub fn is_terminal(phase: JobPhase) -> bool {
    matches!(phase, JobPhase::Succeeded | JobPhase::Failed)
}

/// The order of phases: Queued 1 … Running 4, both terminal phases 5 (no phase is 0).
pub fn rank(phase: Option<JobPhase>) -> u8 {
    match phase {
        None => 0,
        Some(JobPhase::Queued) => 1,
        Some(JobPhase::Scheduled) => 2,
        Some(JobPhase::Ready) => 3,
        Some(JobPhase::Running) => 4,
        Some(JobPhase::Succeeded | JobPhase::Failed) => 5,
    }
}

/// A phase change that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhaseError {
    /// The job already finished.
    #[error("the job is {from:?}, a final phase: it cannot become {to:?}")]
    Final {
        /// Current phase.
        from: JobPhase,
        /// Requested phase.
        to: JobPhase,
    },
    /// Phases only move forward.
    #[error("{} → {to:?} moves backwards", name(*from))]
    Backward {
        /// Current phase.
        from: Option<JobPhase>,
        /// Requested phase.
        to: JobPhase,
    },
    /// A forward move that skips a step that must happen (reserving the budget, creating
    /// the Jobs).
    #[error("{} → {to:?} skips a phase", name(*from))]
    Skips {
        /// Current phase.
        from: Option<JobPhase>,
        /// Requested phase.
        to: JobPhase,
    },
}

fn name(phase: Option<JobPhase>) -> String {
    phase.map_or_else(|| "(no phase)".to_owned(), |p| format!("{p:?}"))
}

/// `Ok` when `from → to` is allowed (staying in the same phase is). See the module docs.
///
/// ```
/// use kbatch_policy::api::JobPhase::*;
/// use kbatch_policy::phase::{PhaseError, check_transition};
///
/// assert!(check_transition(Some(Queued), Failed).is_ok());
/// assert!(check_transition(Some(Ready), Succeeded).is_ok());
/// assert_eq!(check_transition(Some(Queued), Ready), Err(PhaseError::Skips { from: Some(Queued), to: Ready }));
/// assert!(matches!(check_transition(Some(Failed), Running), Err(PhaseError::Final { .. })));
/// ```
pub fn check_transition(from: Option<JobPhase>, to: JobPhase) -> Result<(), PhaseError> {
    use JobPhase::{Failed, Queued, Ready, Running, Scheduled, Succeeded};
    if from == Some(to) {
        return Ok(());
    }
    if let Some(f) = from
        && is_terminal(f)
    {
        return Err(PhaseError::Final { from: f, to });
    }
    let allowed = matches!(
        (from, to),
        (_, Failed)
            | (None | Some(Queued), Queued | Scheduled)
            | (Some(Scheduled), Ready | Running | Succeeded)
            | (Some(Ready), Running | Succeeded)
            | (Some(Running), Succeeded)
    );
    if allowed {
        Ok(())
    } else if rank(Some(to)) <= rank(from) {
        Err(PhaseError::Backward { from, to })
    } else {
        Err(PhaseError::Skips { from, to })
    }
}

/// The next phase of a job in `current` given what the controller `observed`; at most one
/// step (call again after writing it). Every transition it returns passes
/// [`check_transition`].
pub fn next_phase(current: Option<JobPhase>, observed: &Observation) -> Transition {
    if current.is_some_and(is_terminal) {
        return Transition::Stay;
    }
    if observed.terminate_requested {
        return to(
            JobPhase::Failed,
            reason::TERMINATED,
            "terminated by userCommand: Terminate",
        );
    }
    match current {
        None => to(JobPhase::Queued, reason::SUBMITTED, "queued"),
        Some(JobPhase::Queued) => {
            if let DependencyState::Failed(why) = &observed.dependencies {
                to(JobPhase::Failed, reason::DEPENDENCY_FAILED, why.clone())
            } else if observed.reservation.is_some() {
                to(
                    JobPhase::Scheduled,
                    reason::SCHEDULED,
                    "chosen to run; reserving its budget",
                )
            } else {
                Transition::Stay
            }
        }
        Some(JobPhase::Scheduled) => {
            let charged = observed
                .reservation
                .is_some_and(|s| s >= ReservationState::Charged);
            if !(charged && observed.jobs_created) {
                return Transition::Stay;
            }
            match tasks_outcome(JobPhase::Scheduled, &observed.groups) {
                Transition::Stay if observed.tasks_waiting => to(
                    JobPhase::Ready,
                    reason::RESERVED,
                    "budget reserved; Kubernetes Jobs created",
                ),
                outcome => outcome,
            }
        }
        Some(phase @ (JobPhase::Ready | JobPhase::Running)) => {
            tasks_outcome(phase, &observed.groups)
        }
        Some(JobPhase::Succeeded | JobPhase::Failed) => Transition::Stay,
    }
}

fn tasks_outcome(phase: JobPhase, groups: &[GroupObservation]) -> Transition {
    if groups.is_empty() {
        return Transition::Stay;
    }
    for g in groups {
        if let Some(why) = &g.job_failed {
            let (reason, message) = match why.as_str() {
                "DeadlineExceeded" => (
                    reason::DEADLINE_EXCEEDED,
                    format!("task group {} ran past its maxWallTime", g.name),
                ),
                "FailedIndexes" | "BackoffLimitExceeded" => {
                    (reason::RETRIES_EXHAUSTED, exhausted(g))
                }
                other => (
                    reason::JOB_FAILED,
                    format!("task group {}: its Job failed ({other})", g.name),
                ),
            };
            return to(JobPhase::Failed, reason, message);
        }
        let finished = g.succeeded.saturating_add(g.failed) >= g.task_count;
        if g.failed > 0 && g.active == 0 && finished {
            return to(JobPhase::Failed, reason::RETRIES_EXHAUSTED, exhausted(g));
        }
    }
    if groups
        .iter()
        .all(|g| g.task_count > 0 && g.succeeded >= g.task_count)
    {
        let tasks: i64 = groups.iter().map(|g| i64::from(g.task_count)).sum();
        let s = if tasks == 1 { "" } else { "s" };
        return to(
            JobPhase::Succeeded,
            reason::COMPLETED,
            format!("{tasks} task{s} succeeded"),
        );
    }
    // `active` counts Pending pods too: only a Ready pod, or one that ran, means a start.
    let started = groups
        .iter()
        .any(|g| g.running > 0 || g.succeeded > 0 || g.failed > 0 || g.failed_runs > 0);
    if phase != JobPhase::Running && started {
        return to(JobPhase::Running, reason::STARTED, "tasks are running");
    }
    Transition::Stay
}

fn exhausted(g: &GroupObservation) -> String {
    let which = match g.failed_indexes.as_str() {
        "" => String::new(),
        one if one.parse::<u32>().is_ok() => format!(" (index {one})"),
        many => format!(" (indexes {many})"),
    };
    format!(
        "task group {}: {} of {} tasks failed after exhausting their retries{which}",
        g.name, g.failed, g.task_count
    )
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transition::Stay => f.write_str("no change"),
            Transition::To {
                phase,
                reason,
                message,
            } => write!(f, "{phase:?} ({reason}): {message}"),
        }
    }
}

#[cfg(test)]
mod tests;
