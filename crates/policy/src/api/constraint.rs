//! `BatchJobConstraint`: rules a queue's jobs must satisfy, with defaults for unset fields.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A named list of constraints that queues refer to by name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchJobConstraint",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bjc",
    category = "kbatch",
    doc = "Constraints that the jobs of the queues naming it must satisfy.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobConstraintSpec {
    /// Every constraint must hold.
    #[serde(default)]
    pub constraints: Vec<ConstraintSpec>,
}

/// One rule: `name operator values`, e.g. `WallTime LessThan ["24h"]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintSpec {
    /// The job field: WallTime, Memory, Cpu, Gpu, GpuModel or RetryLimit.
    pub name: String,
    /// LessThan, GreaterThan, Equal, In, NotIn or Exists.
    pub operator: String,
    /// Operands, in the field's syntax.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Value given to jobs that leave the field unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}
