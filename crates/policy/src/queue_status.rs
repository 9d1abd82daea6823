//! A BatchQueue's status: how many of its jobs are in each phase (`jobs.phaseCounts`, as
//! the original API's `kubectl get bq -o yaml` shows it).
//!
//! ```
//! use kbatch_policy::api::{BatchJob, BatchQueueStatus};
//! use kbatch_policy::queue_status::{counts_by_queue, status_due};
//!
//! let job: BatchJob = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
//!     "metadata": {"name": "a", "namespace": "team-a"},
//!     "spec": {"batchQueueName": "main", "taskGroups": []},
//!     "status": {"phase": "Running"}
//! })).unwrap();
//! let counts = counts_by_queue([&job]);
//! let main = &counts[&("team-a".to_owned(), "main".to_owned())];
//! assert_eq!(main["Running"], 1);
//! let now = "2026-12-07T10:00:00Z".parse().unwrap();
//! let written = status_due(None, main, now).unwrap();
//! assert!(status_due(Some(&written), main, now).is_none(), "unchanged counts: no write");
//! ```

use crate::api::{BatchJob, BatchQueueStatus, JobPhase, QueueJobsStatus, namespace_or_default};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

/// Phase name → number of jobs.
pub type PhaseCounts = BTreeMap<String, i32>;

/// The phase counts of every queue that has jobs, keyed by (namespace, queue name). A job
/// with no phase yet counts as Queued.
pub fn counts_by_queue<'a>(
    jobs: impl IntoIterator<Item = &'a BatchJob>,
) -> BTreeMap<(String, String), PhaseCounts> {
    let mut counts: BTreeMap<(String, String), PhaseCounts> = BTreeMap::new();
    for job in jobs {
        let phase = job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(JobPhase::Queued);
        let key = (
            namespace_or_default(&job.metadata).to_owned(),
            job.spec.batch_queue_name.clone(),
        );
        *counts
            .entry(key)
            .or_default()
            .entry(phase.as_str().to_owned())
            .or_default() += 1;
    }
    counts
}

/// The status to write when `counts` differ from `current`'s (a queue with no jobs has empty
/// counts); `None` when they are the same, so that an unchanged queue is not written.
pub fn status_due(
    current: Option<&BatchQueueStatus>,
    counts: &PhaseCounts,
    now: Timestamp,
) -> Option<BatchQueueStatus> {
    let stored = current.and_then(|s| s.jobs.as_ref());
    let same = match stored {
        Some(jobs) => &jobs.phase_counts == counts,
        None => counts.is_empty(),
    };
    (!same).then(|| BatchQueueStatus {
        jobs: Some(QueueJobsStatus {
            last_updated: Some(Time(now)),
            phase_counts: counts.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn job(ns: &str, queue: &str, phase: Option<&str>) -> BatchJob {
        let mut value = serde_json::json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
            "metadata": {"name": "j", "namespace": ns},
            "spec": {"batchQueueName": queue, "taskGroups": []}
        });
        if let Some(phase) = phase {
            value["status"] = serde_json::json!({"phase": phase});
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn counts_are_per_namespace_and_queue_and_a_new_job_is_queued() {
        let jobs = [
            job("a", "main", None),
            job("a", "main", Some("Running")),
            job("a", "main", Some("Running")),
            job("b", "main", Some("Succeeded")),
            job("a", "gpu", Some("Failed")),
        ];
        let counts = counts_by_queue(&jobs);
        let main_a = &counts[&("a".to_owned(), "main".to_owned())];
        assert_eq!(main_a.get("Queued"), Some(&1));
        assert_eq!(main_a.get("Running"), Some(&2));
        assert_eq!(
            counts[&("b".to_owned(), "main".to_owned())].get("Succeeded"),
            Some(&1)
        );
        assert_eq!(
            counts[&("a".to_owned(), "gpu".to_owned())].get("Failed"),
            Some(&1)
        );
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn a_write_is_due_only_when_the_counts_change() {
        let now: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let empty = PhaseCounts::new();
        assert!(
            status_due(None, &empty, now).is_none(),
            "no jobs, no status: nothing to say"
        );
        let one: PhaseCounts = [("Running".to_owned(), 1)].into();
        let written = status_due(None, &one, now).unwrap();
        assert_eq!(written.jobs.as_ref().unwrap().phase_counts, one);
        assert!(status_due(Some(&written), &one, now).is_none());
        let emptied = status_due(Some(&written), &empty, now).unwrap();
        assert!(
            emptied.jobs.unwrap().phase_counts.is_empty(),
            "the last job went"
        );
    }
}
