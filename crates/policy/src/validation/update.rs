//! What may change after a BatchJob is created: `userCommand` and metadata, nothing else.

use crate::api::{BatchJob, SUBMITTED_BY_ANNOTATION};
use crate::violation::{Reason, Violations, task_group_path};

/// Checks an UPDATE of a BatchJob as a pure function of the stored and the new object.
///
/// The spec is frozen except `userCommand`, which may go from unset/`""` to `Terminate` and
/// never back; the recorded submitter may not change.
pub fn validate_job_update(old: &BatchJob, new: &BatchJob) -> Violations {
    let mut v = Violations::new();
    let mut old_spec = old.spec.clone();
    old_spec.user_command = new.spec.user_command.clone();
    if old_spec != new.spec {
        for field in changed_fields(&old_spec, &new.spec) {
            v.push(
                field,
                Reason::Immutable,
                "a BatchJob's spec cannot change after submission (only userCommand can); submit a new job instead",
            );
        }
    }
    let before = old.spec.user_command.as_deref().unwrap_or("");
    let after = new.spec.user_command.as_deref().unwrap_or("");
    if before == "Terminate" && after != "Terminate" {
        v.push(
            "spec.userCommand",
            Reason::Immutable,
            "a terminated job cannot be resumed: userCommand stays Terminate",
        );
    }
    let annotation = |j: &BatchJob| {
        j.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SUBMITTED_BY_ANNOTATION))
            .cloned()
    };
    if annotation(old) != annotation(new) {
        v.push(
            format!("metadata.annotations[{SUBMITTED_BY_ANNOTATION}]"),
            Reason::Immutable,
            "the recorded submitter cannot be changed",
        );
    }
    v
}

/// The top-level spec fields that differ, as paths.
fn changed_fields(old: &crate::api::BatchJobSpec, new: &crate::api::BatchJobSpec) -> Vec<String> {
    let mut fields = Vec::new();
    if old.batch_queue_name != new.batch_queue_name {
        fields.push("spec.batchQueueName".to_owned());
    }
    if old.task_groups.len() != new.task_groups.len() {
        fields.push("spec.taskGroups".to_owned());
    } else {
        for (i, (a, b)) in old.task_groups.iter().zip(&new.task_groups).enumerate() {
            if a != b {
                fields.push(task_group_path(i));
            }
        }
    }
    if old.dependencies != new.dependencies {
        fields.push("spec.dependencies".to_owned());
    }
    if old.batch_node_selector != new.batch_node_selector {
        fields.push("spec.batchNodeSelector".to_owned());
    }
    fields
}
