//! Hand-written schema fragments for fields whose Rust type has no `JsonSchema` of its own.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A `core/v1` PodTemplateSpec. Embedding its full OpenAPI schema would make the BatchJob CRD
/// several hundred kilobytes; like the original API we keep it an open object and let the
/// admission webhook decode and validate it into the real Kubernetes type.
pub(crate) fn pod_template(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "A core/v1 PodTemplateSpec; decoded and validated by the kbatch admission webhook."
    })
}

/// An RFC 3339 timestamp (`metav1.Time`).
pub(crate) fn optional_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time",
        "nullable": true
    })
}

/// A required RFC 3339 timestamp (`metav1.Time`).
pub(crate) fn time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time"
    })
}
