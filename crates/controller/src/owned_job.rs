//! The owned Jobs as the controller's store holds them: metadata, the completion count and
//! the status, decoded straight from the watch.
//!
//! A `batch/v1` Job holds its pod template inline (a `PodSpec` and its containers are
//! kilobytes of mostly-empty fields even when emptied), and the controller never reads it:
//! the owner's spec says what the pods run. At 10,000 Jobs that was the larger part of the
//! Job store's memory. A reconcile turns the few Jobs of its BatchJob back into `Job`s.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus};
use kube::api::ObjectMeta;
use serde::Deserialize;
use std::borrow::Cow;

/// A `batch/v1` Job without its pod template.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct OwnedJob {
    /// The Job's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the controller reads of the spec.
    #[serde(default)]
    pub spec: Option<OwnedJobSpec>,
    /// The Job's status, whole.
    #[serde(default)]
    pub status: Option<JobStatus>,
}

/// The fields of a Job's spec the controller reads.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OwnedJobSpec {
    /// `spec.completions`.
    #[serde(default)]
    pub completions: Option<i32>,
    /// `spec.parallelism`.
    #[serde(default)]
    pub parallelism: Option<i32>,
}

impl kube::Resource for OwnedJob {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind((): &()) -> Cow<'_, str> {
        Job::kind(&())
    }
    fn group((): &()) -> Cow<'_, str> {
        Job::group(&())
    }
    fn version((): &()) -> Cow<'_, str> {
        Job::version(&())
    }
    fn plural((): &()) -> Cow<'_, str> {
        Job::plural(&())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl From<&Job> for OwnedJob {
    fn from(job: &Job) -> OwnedJob {
        OwnedJob {
            metadata: job.metadata.clone(),
            spec: job.spec.as_ref().map(|s| OwnedJobSpec {
                completions: s.completions,
                parallelism: s.parallelism,
            }),
            status: job.status.clone(),
        }
    }
}

impl From<&OwnedJob> for Job {
    /// The Job with an empty pod template: what the decisions read of it.
    fn from(job: &OwnedJob) -> Job {
        Job {
            metadata: job.metadata.clone(),
            spec: job.spec.map(|s| JobSpec {
                completions: s.completions,
                parallelism: s.parallelism,
                ..JobSpec::default()
            }),
            status: job.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn decodes_a_job_as_the_api_server_sends_it_keeping_what_is_read() {
        let sent = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi-main", "namespace": "ns", "uid": "j1",
                "labels": {"kbatch.k8s.io/batchjob": "pi", "kbatch.k8s.io/group": "main"},
                "ownerReferences": [{"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
                    "name": "pi", "uid": "u1", "controller": true}]},
            "spec": {"completions": 4, "parallelism": 2, "completionMode": "Indexed",
                "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"active": 2, "completedIndexes": "0,1", "succeeded": 2}
        });
        let slim: OwnedJob = serde_json::from_value(sent.clone()).unwrap();
        let full: Job = serde_json::from_value(sent).unwrap();
        assert_eq!(slim, OwnedJob::from(&full));
        let back = Job::from(&slim);
        assert_eq!(back.metadata, full.metadata);
        assert_eq!(back.status, full.status);
        let spec = back.spec.unwrap();
        assert_eq!((spec.completions, spec.parallelism), (Some(4), Some(2)));
        assert_eq!(spec.template, Default::default());
    }

    #[test]
    fn is_listed_and_watched_where_jobs_are() {
        assert_eq!(
            OwnedJob::url_path(&(), Some("ns")),
            Job::url_path(&(), Some("ns"))
        );
        assert_eq!(OwnedJob::api_version(&()), "batch/v1");
        assert_eq!(OwnedJob::kind(&()), "Job");
    }
}
