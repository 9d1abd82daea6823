//! `BatchBudget`: spending limits per window, charged by reservation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How much the queues naming this budget may spend per day and per 30 days.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchBudget",
    status = "BatchBudgetStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bbud",
    category = "kbatch",
    doc = "Spending windows (24h, 30d) against a BatchCostModel.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Cost-Model", "type": "string", "jsonPath": ".spec.batchCostModelName"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchBudgetSpec {
    /// Name of the BatchCostModel that prices the jobs.
    #[serde(default)]
    pub batch_cost_model_name: String,
    /// Start of the first window; defaults to the budget's creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_time")]
    pub budget_start_time: Option<Time>,
    /// At most one window per duration.
    #[serde(default)]
    pub budget_windows: Vec<BudgetWindow>,
}

/// A spending limit over a window.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetWindow {
    /// `24h` (or `1d`) or `720h` (or `30d`).
    pub duration: String,
    /// The limit, in the cost model's currency.
    pub amount: f64,
}

/// Spending so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchBudgetStatus {
    /// When the controller last wrote this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::optional_time")]
    pub last_updated: Option<Time>,
    /// One entry per window of the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_status_list: Vec<BudgetWindowStatus>,
    /// The budget's own record of its reservations: a Charge entry for each one not yet
    /// refunded (bounding its refund), then a Refund entry until the job acknowledges it.
    /// Re-applying one of these is a no-op (see `kbatch_policy::budget::ledger`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger: Vec<crate::budget::LedgerEntry>,
}

/// The current window of one duration and its history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetWindowStatus {
    /// The window's duration, as in the spec.
    pub duration: String,
    /// Start of the current window.
    #[schemars(schema_with = "super::schema::time")]
    pub start_time: Time,
    /// Spent (reserved, net of refunds) in the current window.
    pub amount: f64,
    /// `amount`, exactly: the controller's source of truth when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_exact: Option<crate::budget::Money>,
    /// Closed windows, newest last: 90 daily, 3 thirty-day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_history: Vec<BudgetWindowHistoryRecord>,
}

/// What one closed window spent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetWindowHistoryRecord {
    /// Start of the window.
    #[schemars(schema_with = "super::schema::time")]
    pub window_start_time: Time,
    /// End of the window.
    #[schemars(schema_with = "super::schema::time")]
    pub window_end_time: Time,
    /// Spent in it.
    pub amount: f64,
    /// `amount`, exactly: the controller's source of truth when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_exact: Option<crate::budget::Money>,
}
