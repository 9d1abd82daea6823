//! The ledger's records as they are stored: in `BatchJob.status.reservation` and in
//! `BatchBudget.status.ledger`. See [`ledger`](super::ledger) for how they are used.

use super::money::Money;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

fn time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

fn optional_time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time", "nullable": true})
}

/// A job's budget reservation, written to its status before the budget is touched.
///
/// ```
/// use kbatch_policy::budget::{ReservationRecord, ReservationState};
///
/// let record: ReservationRecord = serde_json::from_value(serde_json::json!({
///     "id": "6f1c…", "budget": "team-a", "amount": "5.10", "state": "Charging",
///     "requestedAt": "2026-11-22T10:00:00Z"
/// })).unwrap();
/// assert_eq!(record.state, ReservationState::Charging);
/// assert_eq!(record.amount.to_string(), "5.10");
/// ```
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationRecord {
    /// The job's `metadata.uid`: the key that makes every budget write idempotent.
    pub id: String,
    /// The BatchBudget charged.
    pub budget: String,
    /// The whole reservation.
    pub amount: Money,
    /// Per task group: its part of the amount and its wall time (to prorate the refund).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ReservedGroup>,
    /// Where the reservation is in its life.
    pub state: ReservationState,
    /// Bumped by each retry of a budget step, so that the retry starts with a successful,
    /// conditional write of the job (see `ledger`: fresh proof).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// When the intent was written.
    #[schemars(schema_with = "time_schema")]
    pub requested_at: Time,
    /// When the budget applied the charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_time_schema")]
    pub charged_at: Option<Time>,
    /// The budget windows the charge went to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowRef>,
    /// What the job's run cost (reserved × run time ÷ maxWallTime, per group, rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_cost: Option<Money>,
    /// The unused part given back: `amount − actualCost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Money>,
    /// When the budget applied the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_time_schema")]
    pub refunded_at: Option<Time>,
    /// The windows the refund went to (those of `windows` still kept when it was applied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refund_windows: Vec<WindowRef>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a reservation is: each state is written to the job before the next budget step.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ReservationState {
    /// Intent written; the charge may or may not have reached the budget yet.
    Charging,
    /// The budget holds the charge (acknowledged from its ledger entry).
    Charged,
    /// Refund computed and written; it may or may not have reached the budget yet.
    Refunding,
    /// The budget holds the refund; nothing more to do.
    Refunded,
}

/// One task group's share of a reservation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedGroup {
    /// Task group name.
    pub name: String,
    /// Its reservation.
    pub amount: Money,
    /// Its `maxWallTime` in seconds.
    pub max_wall_time_seconds: u64,
    /// Its tasks; 0 in records written before tasks were billed by their pods' run time
    /// (such a group is billed by the job's run time).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub task_count: u32,
    /// Runs each task may take (`retryLimit + 1`): its tasks are billed for at most that
    /// many maxWallTimes each.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub runs_per_task: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl ReservationRecord {
    /// The most the job can cost: each group's reservation times its runs per task (every
    /// task retried to its limit, each run to its maxWallTime). What the refund may charge
    /// beyond the reservation is bounded by it.
    pub fn ceiling(&self) -> Money {
        if self.groups.is_empty() {
            return self.amount;
        }
        self.groups.iter().fold(Money::ZERO, |total, g| {
            let runs = i128::from(g.runs_per_task.max(1));
            total.saturating_add(Money::from_nanos(g.amount.nanos().saturating_mul(runs)))
        })
    }
}

/// A budget window, by its duration and start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowRef {
    /// The window's duration as the budget spec writes it (`24h`, `30d`, …).
    pub duration: String,
    /// Start of the window.
    #[schemars(schema_with = "time_schema")]
    pub start_time: Time,
}

/// A budget-side record of a charge the budget has applied and not yet refunded, or of a
/// refund its job has not yet acknowledged. Its presence makes re-applying the same step a
/// no-op, and a Charge entry bounds the refund (see [`ledger`](super::ledger)).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The reservation id (the job's uid).
    pub id: String,
    /// `namespace/name` of the job, for people reading the status.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub job: String,
    /// Charge or refund.
    pub kind: LedgerEntryKind,
    /// The amount added (charge) or given back (refund: at most the charge less the actual
    /// cost, before any clamping of a window at zero).
    pub amount: Money,
    /// When the budget applied it.
    #[schemars(schema_with = "time_schema")]
    pub at: Time,
    /// The windows it went to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowRef>,
    /// On a charge of a job whose tasks may retry: the most the job can cost, which bounds
    /// what its refund may charge beyond the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Money>,
    /// On a refund: what the Charge entry it replaced had charged, so that the job's actual
    /// cost is the budget's word (the charge less the refund) however often it is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<Money>,
}

/// Which step of a reservation a ledger entry records.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum LedgerEntryKind {
    /// The reservation was added to the windows.
    Charge,
    /// The unused part was given back.
    Refund,
}
