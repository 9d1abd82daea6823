//! BatchJob task group → Indexed `batch/v1` Job.

use crate::placement;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_policy::api::{BatchJob, TaskGroup};
use kbatch_policy::duration::WallTime;
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// Environment variable holding the task's index (0..taskCount-1) in every container.
pub const ARRAY_INDEX_ENV: &str = "KBATCH_ARRAY_INDEX";
/// Label on Jobs and pods: the owning BatchJob's name.
pub const JOB_LABEL: &str = "kbatch.k8s.io/batchjob";
/// Label on Jobs and pods: the task group's name.
pub const GROUP_LABEL: &str = "kbatch.k8s.io/task-group";
/// Label on Jobs and pods: the queue.
pub const QUEUE_LABEL: &str = "kbatch.k8s.io/queue";

/// Why a BatchJob cannot be turned into Jobs (the webhook admits none of these; a job
/// created while the webhook was down could still be one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRunnable(pub String);

/// The name of the Job of task group `group` of BatchJob `job`: `<job>-<group>`, shortened
/// with a stable hash when longer than a label value may be (63).
///
/// Two jobs can join to the same name (`a` + `b-c`, `a-b` + `c`): the controller finds its
/// Jobs by owner and group label, never by name, and the second one to be created takes
/// [`fallback_job_name`].
pub fn job_name(job: &str, group: &str) -> String {
    shortened(format!("{job}-{group}"))
}

/// The name a group's Job takes when [`job_name`] is another BatchJob's: `<job>-<group>-`
/// and a hash of the owner's uid and the group, the same at every attempt.
pub fn fallback_job_name(job: &str, group: &str, uid: &str) -> String {
    let hash = fnv1a(format!("{uid}/{group}").as_bytes());
    let suffix = format!("-{:08x}", hash as u32);
    let base = shortened(format!("{job}-{group}"));
    format!(
        "{}{suffix}",
        prefix(&base, 63 - suffix.len()).trim_end_matches('-')
    )
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary:
/// names are DNS labels (ASCII) once admitted, but a job the webhook never saw must not crash
/// the controller.
fn prefix(text: &str, max: usize) -> &str {
    let cut = (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..cut]
}

/// FNV-1a: stable across releases (unlike std's hasher), enough to tell names apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn shortened(full: String) -> String {
    if full.len() <= 63 {
        return full;
    }
    let hash = fnv1a(full.as_bytes());
    let keep = prefix(&full, 54).trim_end_matches('-');
    format!("{keep}-{:08x}", hash as u32)
}

/// The Jobs that run `job`, one per task group, owned by it.
pub fn jobs_for(job: &BatchJob) -> Result<Vec<Job>, NotRunnable> {
    job.spec
        .task_groups
        .iter()
        .map(|group| job_for_group(job, group))
        .collect()
}

fn job_for_group(job: &BatchJob, group: &TaskGroup) -> Result<Job, NotRunnable> {
    let wall_time = group
        .max_wall_time
        .as_deref()
        .and_then(|t| WallTime::parse(t).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            NotRunnable(format!(
                "task group {:?} has no valid maxWallTime",
                group.name
            ))
        })?;
    let task_count = group
        .index_spec
        .as_ref()
        .and_then(|s| s.task_count)
        .unwrap_or(1);
    let retry_limit = group.retry_limit.unwrap_or(0);
    let mut owner = job
        .controller_owner_ref(&())
        .ok_or_else(|| NotRunnable("the BatchJob has no name or uid yet".to_owned()))?;
    // A foreground deletion of the BatchJob waits for its Jobs (kube's helper leaves it unset).
    owner.block_owner_deletion = Some(true);
    let labels = BTreeMap::from([
        (JOB_LABEL.to_owned(), job.name_any()),
        (GROUP_LABEL.to_owned(), group.name.clone()),
        (QUEUE_LABEL.to_owned(), job.spec.batch_queue_name.clone()),
    ]);
    let run_secs = i64::try_from(wall_time.as_secs_ceil()).unwrap_or(i64::MAX);

    let mut template: PodTemplateSpec = group.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .extend(labels.clone());
    let pod = template.spec.get_or_insert_with(Default::default);
    // maxWallTime bounds one run of one task, counted from the pod's start on its node (the
    // pod's deadline, not the Job's: a Job's counts the wait for a node too).
    pod.active_deadline_seconds = Some(run_secs);
    // A retry is a new pod (Never): the Job's per-index backoff then counts the runs, and its
    // pod failure policy, which Kubernetes allows only with Never, tells preemptions from
    // failures. `OnFailure` asks for the same: run the task again when it fails.
    pod.restart_policy = Some("Never".to_owned());
    placement::apply(job.spec.batch_node_selector.as_ref(), pod);
    let index = EnvVar {
        name: ARRAY_INDEX_ENV.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                    .to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    for container in pod
        .containers
        .iter_mut()
        .chain(pod.init_containers.iter_mut().flatten())
    {
        let env = container.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != ARRAY_INDEX_ENV);
        env.push(index.clone());
    }
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&job.name_any(), &group.name)),
            namespace: job.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_owned()),
            completions: Some(task_count),
            parallelism: Some(task_count),
            backoff_limit_per_index: Some(retry_limit),
            // Never two pods for one index: a replacement starts only once the old one failed.
            pod_replacement_policy: Some("Failed".to_owned()),
            // No Job deadline: each run has its own (the pod's), and the wait for nodes has
            // none (the job waits Ready, unbilled, saying why).
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    // Preemption and other disruptions are not the task's fault.
                    action: "Ignore".to_owned(),
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".to_owned(),
                        status: Some("True".to_owned()),
                    }]),
                    on_exit_codes: None,
                }],
            }),
            template,
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests;
