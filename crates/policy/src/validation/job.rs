//! The shape of a BatchJob, independent of any queue.

use crate::api::{BatchJobSpec, BatchNodeSelectorRequirement, TaskGroup};
use crate::duration::WallTime;
use crate::names::{dns1123_label_problem, dns1123_subdomain_problem};
use crate::resources::resource_problems;
use crate::violation::{Reason, Violations, pod_spec_path, task_group_path};
use std::collections::HashSet;

/// Most tasks in one task group.
pub const MAX_TASK_COUNT: i32 = 1000;

/// Checks everything about a job that does not depend on its queue.
///
/// Run it on the defaulted job: `maxWallTime` is required by then, since a job's budget
/// reservation is priced from it.
pub fn validate_job_structure(spec: &BatchJobSpec) -> Violations {
    let mut v = Violations::new();
    if spec.batch_queue_name.is_empty() {
        v.push(
            "spec.batchQueueName",
            Reason::Required,
            "name the BatchQueue to submit the job to",
        );
    } else if let Some(why) = dns1123_subdomain_problem(&spec.batch_queue_name) {
        v.push("spec.batchQueueName", Reason::InvalidName, why);
    }
    if spec.task_groups.is_empty() {
        v.push(
            "spec.taskGroups",
            Reason::Required,
            "a job needs at least one task group",
        );
    }
    let mut names = HashSet::with_capacity(spec.task_groups.len());
    for (i, group) in spec.task_groups.iter().enumerate() {
        validate_task_group(i, group, &mut names, &mut v);
    }
    validate_dependencies(spec, &mut v);
    match spec.user_command.as_deref() {
        None | Some("") | Some("Terminate") => {}
        Some(other) => v.push(
            "spec.userCommand",
            Reason::Invalid,
            format!("unknown user command {other:?}: expected \"\" or \"Terminate\""),
        ),
    }
    if let Some(selector) = &spec.batch_node_selector {
        if let Some(r) = &selector.use_preemptible_vm {
            validate_selector(
                "spec.batchNodeSelector.usePreemptibleVM",
                r,
                Some(&["Require", "Prefer", "Forbid"]),
                &mut v,
            );
        }
        if let Some(r) = &selector.gpu_type {
            validate_selector("spec.batchNodeSelector.gpuType", r, None, &mut v);
        }
    }
    v
}

fn validate_task_group<'a>(
    i: usize,
    group: &'a TaskGroup,
    names: &mut HashSet<&'a str>,
    v: &mut Violations,
) {
    // Paths are only written for violations: this runs on every admission.
    let at = || task_group_path(i);
    if let Some(why) = dns1123_label_problem(&group.name) {
        let reason = if group.name.is_empty() {
            Reason::Required
        } else {
            Reason::InvalidName
        };
        v.push(
            format!("{}.name", at()),
            reason,
            format!("task group name {why}"),
        );
    } else if !names.insert(&group.name) {
        v.push(
            format!("{}.name", at()),
            Reason::Duplicate,
            format!(
                "task group name {:?} is used twice; names must be unique",
                group.name
            ),
        );
    }
    match group.max_wall_time.as_deref() {
        None => v.push(
            format!("{}.maxWallTime", at()),
            Reason::Required,
            "set maxWallTime (e.g. 30m, 2h, 1d): the budget reservation is priced from it",
        ),
        Some(text) => match WallTime::parse(text) {
            Err(e) => v.push(
                format!("{}.maxWallTime", at()),
                Reason::Invalid,
                e.to_string(),
            ),
            Ok(d) if d.is_zero() => v.push(
                format!("{}.maxWallTime", at()),
                Reason::OutOfRange,
                "maxWallTime must be longer than zero",
            ),
            Ok(_) => {}
        },
    }
    if let Some(n) = group.retry_limit
        && n < 0
    {
        v.push(
            format!("{}.retryLimit", at()),
            Reason::OutOfRange,
            format!("retryLimit is {n}; it must be 0 or more"),
        );
    }
    if let Some(n) = group.index_spec.as_ref().and_then(|s| s.task_count)
        && !(1..=MAX_TASK_COUNT).contains(&n)
    {
        v.push(
            format!("{}.indexSpec.taskCount", at()),
            Reason::OutOfRange,
            format!("taskCount is {n}; it must be between 1 and {MAX_TASK_COUNT}"),
        );
    }
    validate_template(i, group, v);
}

fn validate_template(i: usize, group: &TaskGroup, v: &mut Violations) {
    let at = || pod_spec_path(i);
    let Some(spec) = group.template.spec.as_ref() else {
        v.push(
            at(),
            Reason::Required,
            "the task group's pod template needs a spec with containers",
        );
        return;
    };
    match spec.restart_policy.as_deref() {
        Some("Never" | "OnFailure") => {}
        None => v.push(
            format!("{}.restartPolicy", at()),
            Reason::Required,
            "set restartPolicy to Never or OnFailure",
        ),
        Some(other) => v.push(
            format!("{}.restartPolicy", at()),
            Reason::Invalid,
            format!(
                "restartPolicy {other:?} is not allowed for batch tasks: use Never or OnFailure"
            ),
        ),
    }
    if spec.containers.is_empty() {
        v.push(
            format!("{}.containers", at()),
            Reason::Required,
            "the pod template needs at least one container",
        );
    }
    let mut names = HashSet::new();
    let lists = [
        ("containers", spec.containers.as_slice()),
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or(&[]),
        ),
    ];
    for (list, containers) in lists {
        for (j, c) in containers.iter().enumerate() {
            let path = || format!("{}.{list}[{j}]", at());
            if let Some(why) = dns1123_label_problem(&c.name) {
                let reason = if c.name.is_empty() {
                    Reason::Required
                } else {
                    Reason::InvalidName
                };
                v.push(
                    format!("{}.name", path()),
                    reason,
                    format!("container name {why}"),
                );
            } else if !names.insert(c.name.as_str()) {
                v.push(
                    format!("{}.name", path()),
                    Reason::Duplicate,
                    format!("container name {:?} is used twice", c.name),
                );
            }
            if c.image.as_deref().is_none_or(str::is_empty) {
                v.push(
                    format!("{}.image", path()),
                    Reason::Required,
                    "set the container image",
                );
            }
        }
    }
    for (path, message) in resource_problems(spec) {
        v.push(format!("{}.{path}", at()), Reason::Invalid, message);
    }
    for (path, message) in crate::placement::template_placement_problems(spec) {
        v.push(format!("{}.{path}", at()), Reason::Forbidden, message);
    }
}

fn validate_dependencies(spec: &BatchJobSpec, v: &mut Violations) {
    for (i, dep) in spec.dependencies.iter().enumerate() {
        let at = format!("spec.dependencies[{i}]");
        if dep.dependency_items.is_empty() {
            v.push(
                format!("{at}.dependencyItems"),
                Reason::Required,
                "a dependency needs at least one item",
            );
        }
        for (j, item) in dep.dependency_items.iter().enumerate() {
            let at = format!("{at}.dependencyItems[{j}]");
            if item.names.is_empty() {
                v.push(
                    format!("{at}.names"),
                    Reason::Required,
                    "name at least one BatchJob to wait for",
                );
            }
            for (k, name) in item.names.iter().enumerate() {
                if let Some(why) = dns1123_subdomain_problem(name) {
                    v.push(format!("{at}.names[{k}]"), Reason::InvalidName, why);
                }
            }
            match item.type_.as_deref() {
                None | Some("Success" | "Failure" | "Complete") => {}
                Some(other) => v.push(
                    format!("{at}.type"),
                    Reason::Invalid,
                    format!(
                        "unknown dependency type {other:?}: expected Success, Failure or Complete"
                    ),
                ),
            }
        }
    }
}

fn validate_selector(
    at: &str,
    r: &BatchNodeSelectorRequirement,
    allowed: Option<&[&str]>,
    v: &mut Violations,
) {
    if r.operator != "Equals" {
        v.push(
            format!("{at}.operator"),
            Reason::Invalid,
            format!("operator {:?} is not supported: use Equals", r.operator),
        );
    }
    match r.values.as_slice() {
        [value] => {
            if value.is_empty() {
                v.push(
                    format!("{at}.values[0]"),
                    Reason::Required,
                    "the value must not be empty",
                );
            } else if let Some(allowed) = allowed
                && !allowed.contains(&value.as_str())
            {
                v.push(
                    format!("{at}.values[0]"),
                    Reason::Invalid,
                    format!("{value:?} is not one of {}", allowed.join(", ")),
                );
            }
        }
        values => v.push(
            format!("{at}.values"),
            Reason::Invalid,
            format!("Equals takes exactly one value, got {}", values.len()),
        ),
    }
}
