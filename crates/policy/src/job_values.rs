//! Reading a job's values for the constraint fields, and writing defaults back.

use crate::api::{BatchJobSpec, BatchNodeSelectorRequirement, TaskGroup};
use crate::constraint::{Field, Value};
use crate::duration::WallTime;
use crate::quantity::Quantity;
use crate::resources::{GPU, effective_request};
use crate::violation::task_group_path;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;

/// A job's value for one field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading {
    /// The job leaves it unset.
    Unset,
    /// The job's value.
    Set(Value),
    /// Written but malformed; structural validation reports it, constraints skip it.
    Unreadable,
}

/// The Kubernetes resource name behind a resource field.
fn resource_name(field: Field) -> Option<&'static str> {
    match field {
        Field::Memory => Some("memory"),
        Field::Cpu => Some("cpu"),
        Field::Gpu => Some(GPU),
        _ => None,
    }
}

/// The value of a per-task-group field (everything but GpuModel).
pub(crate) fn task_group_value(group: &TaskGroup, field: Field) -> Reading {
    match field {
        Field::WallTime => match group.max_wall_time.as_deref() {
            None => Reading::Unset,
            Some(text) => WallTime::parse(text)
                .map(|d| Reading::Set(Value::Duration(d)))
                .unwrap_or(Reading::Unreadable),
        },
        Field::RetryLimit => match group.retry_limit {
            None => Reading::Unset,
            Some(n) => Reading::Set(Value::Integer(i64::from(n))),
        },
        Field::GpuModel => Reading::Unset,
        Field::Memory | Field::Cpu | Field::Gpu => {
            let (Some(resource), Some(spec)) = (resource_name(field), group.template.spec.as_ref())
            else {
                return Reading::Unset;
            };
            match effective_request(spec, resource) {
                Ok(Some(q)) => Reading::Set(Value::Quantity(q)),
                Ok(None) => Reading::Unset,
                Err(_) => Reading::Unreadable,
            }
        }
    }
}

/// The job's GPU model, from `spec.batchNodeSelector.gpuType`.
pub(crate) fn gpu_model(spec: &BatchJobSpec) -> Reading {
    match spec
        .batch_node_selector
        .as_ref()
        .and_then(|s| s.gpu_type.as_ref())
    {
        None => Reading::Unset,
        Some(r) if r.operator == "Equals" && r.values.len() == 1 => {
            Reading::Set(Value::Text(r.values[0].clone()))
        }
        Some(_) => Reading::Unreadable,
    }
}

/// Where a field lives in the job, for violation paths.
pub(crate) fn field_path(group_index: usize, field: Field) -> String {
    let tg = task_group_path(group_index);
    match field {
        Field::WallTime => format!("{tg}.maxWallTime"),
        Field::RetryLimit => format!("{tg}.retryLimit"),
        Field::Memory => format!("{tg}.template.spec.containers[*].resources.requests[memory]"),
        Field::Cpu => format!("{tg}.template.spec.containers[*].resources.requests[cpu]"),
        Field::Gpu => format!("{tg}.template.spec.containers[*].resources.limits[{GPU}]"),
        Field::GpuModel => "spec.batchNodeSelector.gpuType".to_owned(),
    }
}

/// How the job's value reads in a message: `has maxWallTime 48h`, `needs 20Gi of memory per task`.
pub(crate) fn describe_reading(field: Field, reading: &Reading) -> String {
    match (field, reading) {
        (Field::WallTime, Reading::Set(v)) => format!("has maxWallTime {v}"),
        (Field::WallTime, _) => "does not set maxWallTime".to_owned(),
        (Field::RetryLimit, Reading::Set(v)) => format!("has retryLimit {v}"),
        (Field::RetryLimit, _) => "does not set retryLimit".to_owned(),
        (Field::Memory, Reading::Set(Value::Quantity(q))) => {
            format!("needs {} of memory per task", memory_text(*q))
        }
        (Field::Cpu, Reading::Set(v)) => format!("needs {v} cpu per task"),
        (Field::Gpu, Reading::Set(v)) => format!("needs {v} {GPU} per task"),
        (Field::Memory | Field::Cpu | Field::Gpu, _) => format!(
            "does not request {}",
            resource_name(field).unwrap_or_default()
        ),
        (Field::GpuModel, Reading::Set(v)) => format!("asks for GPU model {v}"),
        (Field::GpuModel, _) => "sets no spec.batchNodeSelector.gpuType".to_owned(),
    }
}

/// Memory in the binary unit a person would write, when exact.
pub(crate) fn memory_text(q: Quantity) -> String {
    const NANOS: i128 = 1_000_000_000;
    let n = q.nanos();
    if n != 0 && n % NANOS == 0 {
        let bytes = n / NANOS;
        for (suffix, size) in [
            ("Ti", 1i128 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if bytes % size == 0 {
                return format!("{}{suffix}", bytes / size);
            }
        }
    }
    q.to_string()
}

/// Writes a constraint's default into an unset per-task-group field.
pub(crate) fn set_task_group_default(
    group: &mut TaskGroup,
    field: Field,
    value: &Value,
    raw: &str,
) {
    match (field, value) {
        (Field::WallTime, _) => group.max_wall_time = Some(raw.to_owned()),
        (Field::RetryLimit, Value::Integer(n)) => {
            // RetryLimit operands are parsed as int32 (constraint::Field::parse_value).
            group.retry_limit = Some(i32::try_from(*n).unwrap_or(i32::MAX));
        }
        (Field::Memory | Field::Cpu | Field::Gpu, _) => {
            let Some(resource) = resource_name(field) else {
                return;
            };
            let Some(container) = group
                .template
                .spec
                .as_mut()
                .and_then(|s| s.containers.first_mut())
            else {
                return;
            };
            let resources = container.resources.get_or_insert_with(Default::default);
            // Extended resources such as GPUs are set as limits (the request follows); cpu and
            // memory as requests, leaving limits to the practitioner.
            let map = if field == Field::Gpu {
                resources.limits.get_or_insert_with(Default::default)
            } else {
                resources.requests.get_or_insert_with(Default::default)
            };
            map.insert(resource.to_owned(), KubeQuantity(raw.to_owned()));
        }
        _ => {}
    }
}

/// Writes a GpuModel default into the job.
pub(crate) fn set_gpu_model_default(spec: &mut BatchJobSpec, raw: &str) {
    let selector = spec
        .batch_node_selector
        .get_or_insert_with(Default::default);
    selector.gpu_type = Some(BatchNodeSelectorRequirement {
        operator: "Equals".to_owned(),
        values: vec![raw.to_owned()],
    });
}
