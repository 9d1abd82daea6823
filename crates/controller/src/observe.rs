//! What the controller sees of a BatchJob's `batch/v1` Jobs, as the policy crate's
//! [`Observation`](kbatch_policy::phase::Observation) and the job's `status.groupStatus`.
//!
//! Pure: the reconciler lists the owned Jobs and hands them here.

use crate::job::GROUP_LABEL;
use k8s_openapi::api::batch::v1::Job;
use kbatch_policy::api::{BatchJob, GroupStatus};
use kbatch_policy::phase::GroupObservation;
use kube::ResourceExt;

/// How many indexes an index list like `0-3,7` names (`""` names none). Malformed parts
/// count as nothing: the Job controller writes these, and a wrong count only delays a phase.
///
/// ```
/// use kbatch_controller::observe::count_indexes;
/// assert_eq!(count_indexes("0-3,7"), 5);
/// assert_eq!(count_indexes(""), 0);
/// ```
pub fn count_indexes(list: &str) -> i32 {
    let mut total: i64 = 0;
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n = match part.split_once('-') {
            Some((a, b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => i64::from(part.parse::<i64>().is_ok()),
        };
        total = total.saturating_add(n);
    }
    i32::try_from(total).unwrap_or(i32::MAX)
}

/// The reason of a Job's `Failed=True` condition (`FailedIndexes`, `DeadlineExceeded`, …).
pub fn failed_reason(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| c.reason.clone().unwrap_or_else(|| "Failed".to_owned()))
}

/// The owned Job of task group `group`, by its group label: `owned` holds only Jobs this
/// BatchJob owns, and a name could be another job's (see [`job_name`](crate::job::job_name)).
pub fn job_of<'a>(group: &str, owned: &'a [Job]) -> Option<&'a Job> {
    owned
        .iter()
        .find(|j| j.labels().get(GROUP_LABEL).map(String::as_str) == Some(group))
}

/// One [`GroupObservation`] per task group of `job`, in spec order; a group whose Job does
/// not exist (yet) shows nothing done.
pub fn observe_groups(job: &BatchJob, owned: &[Job]) -> Vec<GroupObservation> {
    job.spec
        .task_groups
        .iter()
        .map(|group| {
            let spec_count = group
                .index_spec
                .as_ref()
                .and_then(|s| s.task_count)
                .unwrap_or(1);
            let Some(k8s) = job_of(&group.name, owned) else {
                return GroupObservation {
                    name: group.name.clone(),
                    task_count: spec_count,
                    ..GroupObservation::default()
                };
            };
            let status = k8s.status.clone().unwrap_or_default();
            let succeeded = match status.completed_indexes.as_deref() {
                Some(list) => count_indexes(list),
                None => status.succeeded.unwrap_or(0),
            };
            let failed_indexes = status.failed_indexes.clone().unwrap_or_default();
            GroupObservation {
                name: group.name.clone(),
                task_count: k8s
                    .spec
                    .as_ref()
                    .and_then(|s| s.completions)
                    .unwrap_or(spec_count),
                active: status.active.unwrap_or(0),
                running: status.ready.unwrap_or(0),
                succeeded,
                // `status.failed` counts failed pods, retries included: only the failed
                // indexes (retries exhausted) count against the group.
                failed: count_indexes(&failed_indexes),
                failed_runs: status.failed.unwrap_or(0),
                failed_indexes,
                job_failed: failed_reason(k8s),
            }
        })
        .collect()
}

/// `status.groupStatus` from the owned Jobs, one entry per task group in spec order.
pub fn group_status(job: &BatchJob, owned: &[Job]) -> Vec<GroupStatus> {
    observe_groups(job, owned)
        .into_iter()
        .map(|g| {
            let status = job_of(&g.name, owned).and_then(|j| j.status.clone());
            let status = status.unwrap_or_default();
            GroupStatus {
                succeeded_indexes: status.completed_indexes.unwrap_or_default(),
                failed_indexes: status.failed_indexes.unwrap_or_default(),
                active: g.active,
                succeeded: g.succeeded,
                failed: g.failed,
                name: g.name,
            }
        })
        .collect()
}

/// Whether every task group of `job` has its Job among `owned`.
pub fn all_jobs_exist(job: &BatchJob, owned: &[Job]) -> bool {
    job.spec
        .task_groups
        .iter()
        .all(|g| job_of(&g.name, owned).is_some())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use serde_json::json;

    fn batch_job() -> BatchJob {
        serde_json::from_value(json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
            "spec": {"batchQueueName": "q", "taskGroups": [
                {"name": "a", "maxWallTime": "1h", "indexSpec": {"taskCount": 4}, "template": {}},
                {"name": "b", "maxWallTime": "1h", "template": {}}
            ]}
        }))
        .unwrap()
    }

    /// The Job of group `name` minus its `pi-` prefix (found by its group label).
    fn k8s_job(name: &str, completions: i32, status: JobStatus) -> Job {
        let group = name.trim_start_matches("pi-");
        let mut j: Job = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns",
                "labels": {"kbatch.k8s.io/task-group": group}},
            "spec": {"completions": completions, "template": {}}
        }))
        .unwrap();
        j.status = Some(status);
        j
    }

    #[test]
    fn counts_index_lists() {
        for (list, n) in [
            ("", 0),
            ("0", 1),
            ("0-3", 4),
            ("0-3,7", 5),
            ("1,3,5-6", 4),
            ("x", 0),
            ("5-2", 0),
        ] {
            assert_eq!(count_indexes(list), n, "{list:?}");
        }
    }

    #[test]
    fn a_group_without_its_job_shows_nothing_done() {
        let g = observe_groups(&batch_job(), &[]);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].task_count, g[0].succeeded, g[0].active), (4, 0, 0));
        assert!(!all_jobs_exist(&batch_job(), &[]));
    }

    #[test]
    fn counts_indexes_not_pods() {
        let a = k8s_job(
            "pi-a",
            4,
            JobStatus {
                active: Some(1),
                succeeded: Some(2),
                failed: Some(5), // five failed pods, retries included
                completed_indexes: Some("0-1".into()),
                failed_indexes: Some("3".into()),
                ..JobStatus::default()
            },
        );
        let g = observe_groups(&batch_job(), std::slice::from_ref(&a));
        assert_eq!((g[0].active, g[0].succeeded, g[0].failed), (1, 2, 1));
        let s = group_status(&batch_job(), &[a]);
        assert_eq!(s[0].succeeded_indexes, "0-1");
        assert_eq!(s[0].failed_indexes, "3");
        assert_eq!(s[1].name, "b");
    }

    #[test]
    fn reports_the_failed_condition_reason() {
        let a = k8s_job(
            "pi-a",
            4,
            JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: "Failed".into(),
                    status: "True".into(),
                    reason: Some("DeadlineExceeded".into()),
                    ..JobCondition::default()
                }]),
                ..JobStatus::default()
            },
        );
        let b = k8s_job("pi-b", 1, JobStatus::default());
        let g = observe_groups(&batch_job(), &[a.clone(), b.clone()]);
        assert_eq!(g[0].job_failed.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(g[1].job_failed, None);
        assert!(all_jobs_exist(&batch_job(), &[a, b]));
    }
}
