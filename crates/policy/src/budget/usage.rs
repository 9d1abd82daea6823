//! What a job's tasks ran, for its bill: the run time of each task's pods, summed per task
//! group. A task that failed and was retried ran several times and pays for each run; the
//! wait between runs (the Job controller's backoff), the wait for a node and a run that ended
//! because its node was preempted (pod condition `DisruptionTarget`) are not billed.
//!
//! ```
//! use jiff::{SignedDuration, Timestamp};
//! use kbatch_policy::budget::{TaskRun, task_time};
//!
//! let at = |t: &str| t.parse::<Timestamp>().unwrap();
//! let run = |from: &str, to: &str, preempted: bool| TaskRun {
//!     group: "train".into(), started: at(from), finished: Some(at(to)), preempted,
//! };
//! let runs = [
//!     run("2026-11-22T10:00:00Z", "2026-11-22T10:10:00Z", false), // failed, retried
//!     run("2026-11-22T10:20:00Z", "2026-11-22T10:25:00Z", true),  // its node went away
//!     run("2026-11-22T10:30:00Z", "2026-11-22T10:45:00Z", false), // succeeded
//! ];
//! let now = at("2026-11-22T11:00:00Z");
//! assert_eq!(task_time(&runs, now)["train"], SignedDuration::from_mins(25));
//! ```

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;

/// The label with a task's group on its pods (set on the Job's pod template).
pub const GROUP_LABEL: &str = "kbatch.k8s.io/task-group";

/// One run of a task: one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    /// Its task group.
    pub group: String,
    /// When its first container started.
    pub started: Timestamp,
    /// When its last container ended; `None` while it runs.
    pub finished: Option<Timestamp>,
    /// Whether it ended because its node was taken away (not billed).
    pub preempted: bool,
}

impl TaskRun {
    /// The run `pod` shows; `None` for a pod without the group label or that never ran a
    /// container.
    pub fn of_pod(pod: &Pod) -> Option<TaskRun> {
        let group = pod.metadata.labels.as_ref()?.get(GROUP_LABEL)?.clone();
        let status = pod.status.as_ref()?;
        let mut started: Option<Timestamp> = None;
        let mut finished: Option<Timestamp> = None;
        let mut running = false;
        for state in status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref())
        {
            if let Some(r) = &state.running {
                running = true;
                started = earliest(started, r.started_at.as_ref().map(|t| t.0));
            }
            if let Some(t) = &state.terminated {
                started = earliest(started, t.started_at.as_ref().map(|t| t.0));
                finished = latest(finished, t.finished_at.as_ref().map(|t| t.0));
            }
        }
        let preempted = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "DisruptionTarget" && c.status == "True");
        Some(TaskRun {
            group,
            started: started?,
            finished: if running { None } else { finished },
            preempted,
        })
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Task time per group: the sum of its runs' lengths (a run still going counts until
/// `now`), preempted runs left out. Groups without a run are absent.
pub fn task_time(runs: &[TaskRun], now: Timestamp) -> BTreeMap<String, SignedDuration> {
    let mut time: BTreeMap<String, SignedDuration> = BTreeMap::new();
    for run in runs {
        let ran = if run.preempted {
            SignedDuration::ZERO
        } else {
            run.finished
                .unwrap_or(now)
                .duration_since(run.started)
                .max(SignedDuration::ZERO)
        };
        let total = time
            .entry(run.group.clone())
            .or_insert(SignedDuration::ZERO);
        *total = total.saturating_add(ran);
    }
    time
}

/// What a job used, for its refund: its run time (from its conditions, see
/// [`run_time`](super::run_time)) and, when its pods could be read, its task time per group.
/// A group without task time is billed by the job's run time for all its tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// The job's run time.
    pub job: SignedDuration,
    /// Task time per group.
    pub tasks: BTreeMap<String, SignedDuration>,
}

impl From<SignedDuration> for Usage {
    fn from(job: SignedDuration) -> Usage {
        Usage {
            job,
            tasks: BTreeMap::new(),
        }
    }
}
