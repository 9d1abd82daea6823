//! The conditions a waiting job carries, and merging them into its status.
//!
//! Messages are deterministic (the same snapshot gives the same text), so the I/O layer can
//! skip a status write when nothing changed; [`merge_conditions`] keeps each condition's
//! `time` while its type, status and reason stay the same, as Kubernetes does for
//! `lastTransitionTime`.

use crate::api::BatchJobCondition;
use crate::phase::reason;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Reason of the note that a job waits for its turn in its queue ([`reason::WAITING`]
/// condition).
pub const QUEUE_ORDER: &str = "QueueOrder";

/// A condition a waiting job carries: always `status: True`; its `time` is set when it is
/// merged into the job's status ([`merge_conditions`]). Cheap to build: only the message is
/// allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The condition type, e.g. `BudgetExceeded`.
    pub type_: &'static str,
    /// Machine-readable reason.
    pub reason: &'static str,
    /// What a practitioner can act on.
    pub message: String,
}

impl Condition {
    /// A condition of `type_` with `reason` and `message`.
    ///
    /// ```
    /// use kbatch_policy::scheduling::Condition;
    /// let c = Condition::new("QueuePaused", "QueuePaused", "queue team-a/batch has pauseScheduling set".into());
    /// let api = c.to_api();
    /// assert_eq!((api.type_.as_str(), api.status.as_str()), ("QueuePaused", "True"));
    /// ```
    pub fn new(type_: &'static str, reason: &'static str, message: String) -> Condition {
        Condition {
            type_,
            reason,
            message,
        }
    }

    /// The API form, without a time.
    pub fn to_api(&self) -> BatchJobCondition {
        BatchJobCondition {
            type_: self.type_.to_owned(),
            status: "True".to_owned(),
            reason: Some(self.reason.to_owned()),
            message: Some(self.message.clone()),
            time: None,
        }
    }
}

/// The note on a job waiting for its turn in `queue`. It does not say the job's place: the
/// place changes with every job that starts ahead of it, and a status write per waiting job
/// per start makes draining a queue of N jobs cost N² writes. `kubectl get bq` counts the
/// jobs waiting; the order is the one [`schedule`](super::schedule) documents.
///
/// ```
/// use kbatch_policy::scheduling::waiting_message;
/// assert_eq!(
///     waiting_message("team-a/batch"),
///     "waiting for its turn in queue team-a/batch (higher queue priority first, then oldest first)"
/// );
/// ```
pub fn waiting_message(queue: &str) -> String {
    format!(
        "waiting for its turn in queue {queue} (higher queue priority first, then oldest first)"
    )
}

pub(crate) fn turn(queue: &str) -> Condition {
    Condition::new(reason::WAITING, QUEUE_ORDER, waiting_message(queue))
}

pub(crate) fn paused(queue: &str) -> Condition {
    Condition::new(
        reason::QUEUE_PAUSED,
        reason::QUEUE_PAUSED,
        format!("queue {queue} has pauseScheduling set"),
    )
}

pub(crate) fn dependency_pending(message: String) -> Condition {
    Condition::new(
        reason::DEPENDENCY_PENDING,
        reason::DEPENDENCY_PENDING,
        message,
    )
}

/// The job's conditions after a scheduling pass: `fresh` replaces the conditions of the
/// types it names and of every waiting type it no longer names, keeping `time` from the
/// existing condition when type, status and reason are unchanged (else `now`). Conditions of
/// other types (e.g. written by phase transitions) are kept.
///
/// ```
/// use kbatch_policy::scheduling::{Condition, merge_conditions};
///
/// let t0 = "2026-11-22T10:00:00Z".parse().unwrap();
/// let t1 = "2026-11-22T10:05:00Z".parse().unwrap();
/// let first = merge_conditions(&[], &[Condition::new("Waiting", "QueueOrder", "3 jobs ahead".into())], t0);
/// let next = merge_conditions(&first, &[Condition::new("Waiting", "QueueOrder", "2 jobs ahead".into())], t1);
/// assert_eq!(next[0].time.as_ref().map(|t| t.0), Some(t0)); // same reason: time kept
/// assert_eq!(next[0].message.as_deref(), Some("2 jobs ahead"));
/// ```
pub fn merge_conditions(
    existing: &[BatchJobCondition],
    fresh: &[Condition],
    now: Timestamp,
) -> Vec<BatchJobCondition> {
    const WAITING_TYPES: [&str; 8] = [
        reason::WAITING,
        reason::UNSCHEDULABLE,
        reason::QUEUE_PAUSED,
        reason::DEPENDENCY_PENDING,
        reason::BUDGET_EXCEEDED,
        reason::BUDGET_UNAVAILABLE,
        reason::RESERVATION_LIMIT,
        reason::QUEUE_MISSING,
    ];
    let now = Time(crate::budget::windows::whole_seconds(now));
    let mut out: Vec<BatchJobCondition> = existing
        .iter()
        .filter(|c| {
            !WAITING_TYPES.contains(&c.type_.as_str()) && !fresh.iter().any(|f| f.type_ == c.type_)
        })
        .cloned()
        .collect();
    for c in fresh {
        let mut c = c.to_api();
        let previous = existing.iter().find(|e| e.type_ == c.type_);
        c.time = match previous {
            Some(p) if p.status == c.status && p.reason == c.reason => {
                p.time.clone().or(Some(now.clone()))
            }
            _ => Some(now.clone()),
        };
        out.push(c);
    }
    out
}
