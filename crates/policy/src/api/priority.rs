//! `BatchPriority`: an integer rank shared by queues.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A priority level; jobs of queues with a higher value start first.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchPriority",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bpri",
    category = "kbatch",
    doc = "A priority level for BatchQueues.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Value", "type": "integer", "jsonPath": ".spec.value"}"#,
    printcolumn = r#"{"name": "Description", "type": "string", "jsonPath": ".spec.description"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchPrioritySpec {
    /// Higher runs first.
    pub value: i32,
    /// What the level is for.
    #[serde(default)]
    pub description: String,
}
