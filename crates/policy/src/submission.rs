//! Submitting a BatchJob to its queue: defaulting from the queue's constraints, then
//! validation against them. The webhook's mutate and validate calls and `kbatch check` all
//! run exactly these functions.

use crate::api::{BatchJob, RESERVATION_FINALIZER, namespace_or_default};
use crate::constraint::{ConstraintSet, Field};
use crate::dependency::find_cycle;
use crate::job_values::{
    Reading, describe_reading, field_path, gpu_model, set_gpu_model_default,
    set_task_group_default, task_group_value,
};
use crate::snapshot::{MAX_UNFINISHED_JOBS, PolicySet};
use crate::validation::validate_job_structure;
use crate::violation::{Reason, Violations};
use kube::ResourceExt;

/// Longest BatchJob (and BatchQueue) name: both become label values of the Jobs and pods
/// that run the job, and label values are at most 63 characters.
pub const MAX_NAME_LENGTH: usize = 63;

const PER_GROUP_FIELDS: [Field; 5] = [
    Field::WallTime,
    Field::Memory,
    Field::Cpu,
    Field::Gpu,
    Field::RetryLimit,
];

/// The namespace a job is submitted in ([`namespace_or_default`] of its metadata).
pub fn job_namespace(job: &BatchJob) -> &str {
    namespace_or_default(&job.metadata)
}

/// The constraint objects of the job's queue that parse, in the queue's order.
fn queue_constraints<'p>(policy: &'p PolicySet, job: &BatchJob) -> Vec<&'p ConstraintSet> {
    let namespace = job_namespace(job);
    let Some(queue) = policy.queue(namespace, &job.spec.batch_queue_name) else {
        return Vec::new();
    };
    queue
        .object
        .spec
        .constraint_names
        .iter()
        .filter_map(|name| policy.constraint(name))
        .filter_map(|entry| entry.object.as_ref().ok())
        .collect()
}

/// Fills what the job leaves unset: first from its queue's constraints (the explicit
/// `default`, else `Equal`'s value, else `In`'s first value), then the API's own defaults
/// (`retryLimit: 0`, `taskCount: 1`, `restartPolicy: Never`, dependency `type: Success`).
///
/// ```
/// use kbatch_policy::api::{BatchJob, BatchJobSpec, TaskGroup};
/// use kbatch_policy::snapshot::PolicySet;
/// use kbatch_policy::submission::default_job;
///
/// let mut job = BatchJob::new("pi", BatchJobSpec {
///     batch_queue_name: "default".into(),
///     task_groups: vec![TaskGroup { name: "main".into(), ..Default::default() }],
///     ..Default::default()
/// });
/// default_job(&PolicySet::new(), &mut job);
/// assert_eq!(job.spec.task_groups[0].retry_limit, Some(0));
/// ```
pub fn default_job(policy: &PolicySet, job: &mut BatchJob) {
    let sets = queue_constraints(policy, job);
    let first_default = |field: Field| {
        sets.iter()
            .flat_map(|s| &s.constraints)
            .filter(|c| c.field == field)
            .find_map(|c| c.default_value())
    };
    for group in &mut job.spec.task_groups {
        for field in PER_GROUP_FIELDS {
            // The queue's default first: reading a resource field sums the pod's quantities.
            if let Some((value, raw)) = first_default(field)
                && task_group_value(group, field) == Reading::Unset
            {
                set_task_group_default(group, field, value, raw);
            }
        }
        group.retry_limit.get_or_insert(0);
        group
            .index_spec
            .get_or_insert_with(Default::default)
            .task_count
            .get_or_insert(1);
        if let Some(spec) = group.template.spec.as_mut() {
            spec.restart_policy
                .get_or_insert_with(|| "Never".to_owned());
        }
    }
    if gpu_model(&job.spec) == Reading::Unset
        && let Some((_, raw)) = first_default(Field::GpuModel)
    {
        set_gpu_model_default(&mut job.spec, raw);
    }
    for item in job
        .spec
        .dependencies
        .iter_mut()
        .flat_map(|d| &mut d.dependency_items)
    {
        item.type_.get_or_insert_with(|| "Success".to_owned());
    }
}

/// Adds the reservation finalizer ([`RESERVATION_FINALIZER`]) to a job being created, unless
/// it is there: a job that holds budget must be refunded before it goes, and a finalizer
/// given at admission spares the controller a write per job. (The controller still adds it
/// before charging a job created while the webhook was bypassed.)
///
/// ```
/// use kbatch_policy::api::{BatchJob, BatchJobSpec, RESERVATION_FINALIZER};
/// use kbatch_policy::submission::hold_for_refund;
///
/// let mut job = BatchJob::new("pi", BatchJobSpec::default());
/// hold_for_refund(&mut job);
/// hold_for_refund(&mut job);
/// assert_eq!(job.metadata.finalizers, Some(vec![RESERVATION_FINALIZER.to_owned()]));
/// ```
pub fn hold_for_refund(job: &mut BatchJob) {
    let finalizers = job.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == RESERVATION_FINALIZER) {
        finalizers.push(RESERVATION_FINALIZER.to_owned());
    }
}

/// Checks a job against its structure and its queue: the queue exists and admits jobs, its
/// constraint objects exist and are well formed, and every constraint holds for every task
/// group. Every violation is reported.
pub fn validate_job(policy: &PolicySet, job: &BatchJob) -> Violations {
    let mut v = validate_job_structure(&job.spec);
    let namespace = job_namespace(job);
    let queue_name = &job.spec.batch_queue_name;
    if queue_name.is_empty() {
        return v;
    }
    let Some(queue) = policy.queue(namespace, queue_name) else {
        let known: Vec<String> = policy.queues_in(namespace).map(|q| q.name_any()).collect();
        let hint = if known.is_empty() {
            format!("namespace {namespace:?} has no queues")
        } else {
            format!("queues in {namespace:?}: {}", known.join(", "))
        };
        v.push(
            "spec.batchQueueName",
            Reason::QueueNotFound,
            format!("BatchQueue {queue_name:?} does not exist in namespace {namespace:?} ({hint})"),
        );
        return v;
    };
    if queue.deleting {
        v.push(
            "spec.batchQueueName",
            Reason::ReferenceBeingDeleted,
            format!("BatchQueue {queue_name:?} is being deleted and accepts no new jobs"),
        );
    }
    if queue.object.spec.pause_admission {
        v.push(
            "spec.batchQueueName",
            Reason::QueuePaused,
            format!("BatchQueue {queue_name:?} is not admitting new jobs (pauseAdmission is set); try again later or use another queue"),
        );
    }
    for name in &queue.object.spec.constraint_names {
        match policy.constraint(name).map(|e| &e.object) {
            None => v.push(
                "spec.batchQueueName",
                Reason::ConstraintNotFound,
                format!("BatchQueue {queue_name:?} names BatchJobConstraint {name:?}, which does not exist; ask an administrator to fix the queue"),
            ),
            Some(Err(problems)) => v.push(
                "spec.batchQueueName",
                Reason::ConstraintNotFound,
                format!("BatchQueue {queue_name:?} names BatchJobConstraint {name:?}, which is malformed ({problems}); ask an administrator to fix it"),
            ),
            Some(Ok(set)) => check_constraints(queue_name, set, job, &mut v),
        }
    }
    v
}

fn check_constraints(queue: &str, set: &ConstraintSet, job: &BatchJob, v: &mut Violations) {
    for c in &set.constraints {
        // Paths and subjects are only written for violations: this runs on every admission.
        let mut judge = |index: usize, subject: &dyn Fn() -> String, reading: Reading| {
            let actual = match &reading {
                Reading::Unreadable => return,
                Reading::Unset => None,
                Reading::Set(value) => Some(value),
            };
            if !c.holds(actual) {
                v.push(
                    field_path(index, c.field),
                    Reason::ConstraintViolated,
                    format!(
                        "queue {queue:?} requires {} (BatchJobConstraint {:?}), but {} {}",
                        c.describe(),
                        set.name,
                        subject(),
                        describe_reading(c.field, &reading)
                    ),
                );
            }
        };
        if c.field == Field::GpuModel {
            judge(0, &|| "the job".to_owned(), gpu_model(&job.spec));
        } else {
            for (i, g) in job.spec.task_groups.iter().enumerate() {
                judge(
                    i,
                    &|| format!("task group {:?}", g.name),
                    task_group_value(g, c.field),
                );
            }
        }
    }
}

/// [`validate_job`] plus what only matters when a job is created: the cluster-wide limit of
/// unfinished jobs and dependency cycles through existing jobs.
pub fn validate_job_create(policy: &PolicySet, job: &BatchJob) -> Violations {
    let mut v = validate_job(policy, job);
    if policy.unfinished_jobs() >= MAX_UNFINISHED_JOBS {
        v.push(
            "metadata",
            Reason::TooManyJobs,
            format!(
                "kbatch's cluster-wide limit: the cluster already has {} unfinished BatchJobs in all namespaces, the most kbatch allows ({MAX_UNFINISHED_JOBS}); wait for some to finish",
                policy.unfinished_jobs()
            ),
        );
    }
    if let Some(name) = job.metadata.name.as_deref()
        && name.len() > MAX_NAME_LENGTH
    {
        v.push(
            "metadata.name",
            Reason::Invalid,
            format!(
                "the name is {} characters long; BatchJob names are at most {MAX_NAME_LENGTH} (they label the Jobs and pods that run the job)",
                name.len()
            ),
        );
    }
    let namespace = job_namespace(job);
    if let Some(name) = job.metadata.name.as_deref()
        && let Some(cycle) = find_cycle(policy, namespace, name, &job.spec)
    {
        v.push(
            "spec.dependencies",
            Reason::DependencyCycle,
            format!("dependencies form a cycle: {}", cycle.join(" → ")),
        );
    }
    v
}

/// Defaults then validates a new job exactly as the webhook's mutate-then-validate round
/// does, returning the defaulted job or every reason it is refused.
pub fn submit_job(policy: &PolicySet, job: &BatchJob) -> Result<BatchJob, Violations> {
    let mut defaulted = job.clone();
    default_job(policy, &mut defaulted);
    validate_job_create(policy, &defaulted).into_result()?;
    Ok(defaulted)
}

/// [`submit_job`] as submitted by `user`: the user's BatchUserContext defaults and checks the
/// pod templates too, and a user without a context is refused unless `allow_without_context`.
pub fn submit_job_as(
    policy: &PolicySet,
    job: &BatchJob,
    user: &str,
    allow_without_context: bool,
) -> Result<BatchJob, Violations> {
    let mut defaulted = job.clone();
    default_job(policy, &mut defaulted);
    crate::security::default_job_security(policy, &mut defaulted, user);
    let mut v = validate_job_create(policy, &defaulted);
    v.extend(crate::security::validate_job_security(
        policy,
        &defaulted,
        user,
        allow_without_context,
    ));
    v.into_result()?;
    Ok(defaulted)
}
