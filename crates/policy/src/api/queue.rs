//! `BatchQueue`: groups jobs under one priority, one budget and any constraints.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A queue of BatchJobs in one namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchQueue",
    namespaced,
    status = "BatchQueueStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bq",
    category = "kbatch",
    doc = "A queue of BatchJobs: one priority, one budget, any job constraints.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Priority", "type": "string", "jsonPath": ".spec.batchPriorityName"}"#,
    printcolumn = r#"{"name": "Budget", "type": "string", "jsonPath": ".spec.batchBudgetName"}"#,
    printcolumn = r#"{"name": "Constraints", "type": "string", "jsonPath": ".spec.constraintNames"}"#,
    printcolumn = r#"{"name": "Pause-Admission", "type": "boolean", "jsonPath": ".spec.pauseAdmission"}"#,
    printcolumn = r#"{"name": "Pause-Scheduling", "type": "boolean", "jsonPath": ".spec.pauseScheduling"}"#,
    printcolumn = r#"{"name": "Queued", "type": "integer", "jsonPath": ".status.jobs.phaseCounts.Queued"}"#,
    printcolumn = r#"{"name": "Running", "type": "integer", "jsonPath": ".status.jobs.phaseCounts.Running"}"#,
    printcolumn = r#"{"name": "Succeeded", "type": "integer", "priority": 1, "jsonPath": ".status.jobs.phaseCounts.Succeeded"}"#,
    printcolumn = r#"{"name": "Failed", "type": "integer", "priority": 1, "jsonPath": ".status.jobs.phaseCounts.Failed"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchQueueSpec {
    /// Name of the (cluster-scoped) BatchPriority of the queue's jobs.
    #[serde(default)]
    pub batch_priority_name: String,
    /// Name of the (cluster-scoped) BatchBudget the queue's jobs spend.
    #[serde(default)]
    pub batch_budget_name: String,
    /// Names of (cluster-scoped) BatchJobConstraints every job must satisfy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraint_names: Vec<String>,
    /// Refuse new jobs; existing ones keep scheduling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pause_admission: bool,
    /// Hold queued jobs; admission goes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pause_scheduling: bool,
}

/// Observed state of a queue.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchQueueStatus {
    /// Job counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<QueueJobsStatus>,
}

/// How many of the queue's jobs are in each phase.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueJobsStatus {
    /// When the counts were taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_time")]
    pub last_updated: Option<Time>,
    /// Phase name → number of jobs.
    #[serde(default)]
    pub phase_counts: BTreeMap<String, i32>,
}
