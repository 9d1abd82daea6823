//! `BatchJob`: one user job made of task groups.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a practitioner submits: task groups to run, the queue to run them in, and optionally
/// dependencies on other jobs and node requirements.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchJob",
    namespaced,
    status = "BatchJobStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bj",
    category = "kbatch",
    doc = "A batch job: task groups run as Indexed Jobs, admitted against its queue's constraints.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Queue", "type": "string", "jsonPath": ".spec.batchQueueName"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Priority", "type": "integer", "jsonPath": ".status.batchPriority.value"}"#,
    printcolumn = r#"{"name": "Budget-Consumed", "type": "number", "jsonPath": ".status.budgetConsumed"}"#,
    printcolumn = r#"{"name": "Submitted-By", "type": "string", "jsonPath": ".status.submittedBy"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobSpec {
    /// Name of the BatchQueue (in the job's namespace) the job is submitted to.
    pub batch_queue_name: String,
    /// The task groups; at least one, names unique DNS-1123 labels.
    pub task_groups: Vec<TaskGroup>,
    /// Alternatives (OR-ed) of dependency sets (AND-ed) on other BatchJobs of the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<JobDependency>,
    /// `""` or `"Terminate"`: setting `Terminate` stops every pod and fails the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_command: Option<String>,
    /// Preemptible-VM and GPU-model requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_node_selector: Option<BatchNodeSelector>,
}

/// A group of identical tasks (an array job when `indexSpec.taskCount > 1`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskGroup {
    /// DNS-1123 label, unique within the job.
    #[schemars(schema_with = "super::schema::dns_label")]
    pub name: String,
    /// Wall-time limit of one run of one task: `50m`, `1h`, `1d`, or Go-style `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_time: Option<String>,
    /// Retries per task (runs = retryLimit + 1); defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_limit: Option<i32>,
    /// Number of tasks; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_spec: Option<IndexSpec>,
    /// Pod template of every task; `restartPolicy` must be `Never` or `OnFailure`.
    #[schemars(schema_with = "super::schema::pod_template")]
    pub template: PodTemplateSpec,
}

/// The size of an array job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSpec {
    /// 1..=1000 tasks, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_count: Option<i32>,
}

/// One alternative of the job's dependencies: all its items must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobDependency {
    /// Items that must all hold (AND).
    #[serde(default)]
    pub dependency_items: Vec<DependencyItem>,
}

/// A set of jobs that must all have reached the outcome `type`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyItem {
    /// Names of BatchJobs in the same namespace.
    #[serde(default)]
    pub names: Vec<String>,
    /// `Success` (afterok), `Failure` (afternotok) or `Complete` (afterany).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// Requirements on the nodes the tasks run on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchNodeSelector {
    /// `Equals` one of `Require`, `Prefer`, `Forbid`.
    #[serde(
        rename = "usePreemptibleVM",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_preemptible_vm: Option<BatchNodeSelectorRequirement>,
    /// `Equals` the GPU model the tasks need, e.g. `nvidia-tesla-t4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<BatchNodeSelectorRequirement>,
}

/// An operator and its values; the original API supports only `Equals` with one value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchNodeSelectorRequirement {
    /// `Equals`.
    #[serde(default)]
    pub operator: String,
    /// Exactly one value.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Where a BatchJob is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum JobPhase {
    /// Registered, waiting for its turn (priority, dependencies, budget, paused scheduling).
    Queued,
    /// Chosen to run; the budget reservation is in progress.
    Scheduled,
    /// Budget reserved, Kubernetes Jobs created, pods not yet running.
    Ready,
    /// At least one task is running.
    Running,
    /// Every task of every group succeeded.
    Succeeded,
    /// A task exhausted its retries, a dependency can no longer be met, or it was terminated.
    Failed,
}

impl JobPhase {
    /// The phase as the API writes it.
    ///
    /// ```
    /// assert_eq!(kbatch_policy::api::JobPhase::Running.as_str(), "Running");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Queued => "Queued",
            JobPhase::Scheduled => "Scheduled",
            JobPhase::Ready => "Ready",
            JobPhase::Running => "Running",
            JobPhase::Succeeded => "Succeeded",
            JobPhase::Failed => "Failed",
        }
    }
}

/// Observed state, written by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<JobPhase>,
    /// The queue's priority when the job was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_priority: Option<PriorityRef>,
    /// Budget consumed by all tasks so far (the reservation while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_consumed: Option<f64>,
    /// The authenticated user who created the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// Why the job waits or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BatchJobCondition>,
    /// Per task group: which task indexes succeeded, failed or are active.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_status: Vec<GroupStatus>,
    /// The job's budget reservation and how far charging and refunding it have got
    /// (see `kbatch_policy::budget::ledger`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<crate::budget::ReservationRecord>,
}

/// A copy of the queue's BatchPriority.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriorityRef {
    /// BatchPriority name.
    pub name: String,
    /// Its value.
    pub value: i32,
}

/// One observation about the job (the original's condition shape).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobCondition {
    /// e.g. `BudgetExceeded`, `DependencyPending`, `QueuePaused`, `Terminated`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a practitioner can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_time")]
    pub time: Option<Time>,
}

/// Results of one task group, indexes written as ranges (`0-3,7`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// Task group name.
    pub name: String,
    /// Indexes that succeeded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub succeeded_indexes: String,
    /// Indexes that failed for good.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failed_indexes: String,
    /// Pods currently running.
    #[serde(default)]
    pub active: i32,
    /// Count of succeeded indexes.
    #[serde(default)]
    pub succeeded: i32,
    /// Count of failed indexes.
    #[serde(default)]
    pub failed: i32,
}
