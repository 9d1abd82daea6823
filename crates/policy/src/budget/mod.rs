//! Money budgets: exact money, the cost of a job, budget windows and the ledger that charges
//! and refunds reservations exactly once.
//!
//! - [`money`]: [`Money`], a fixed-point amount in 10⁻⁹ currency units.
//! - [`cost`]: [`CostModel`] and [`JobCost`]: hourly prices × effective requests × wall time.
//! - [`windows`]: [`BudgetPlan`] and [`roll_windows`].
//! - [`balance`]: [`can_reserve`], [`BudgetBook`] and [`BudgetShortfall`]: what is left.
//! - [`ledger`]: the charge / refund protocol and its pure steps.
//! - [`record`]: what the ledger stores in job and budget statuses.
//! - [`task_time`] and [`Usage`]: what a job's tasks ran, for its bill.
//!
//! ```
//! use jiff::Timestamp;
//! use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus, BatchJobSpec};
//! use kbatch_policy::budget::{BudgetPlan, CostModel, Money, can_reserve};
//!
//! let model = CostModel::new(Money::parse("0.05").unwrap(), Money::ZERO, Money::parse("2.5").unwrap());
//! let job: BatchJobSpec = serde_json::from_value(serde_json::json!({
//!     "batchQueueName": "gpu",
//!     "taskGroups": [{"name": "train", "maxWallTime": "10h", "template": {"spec": {"containers": [{
//!         "name": "c", "resources": {"requests": {"cpu": "4"}, "limits": {"nvidia.com/gpu": "1"}}
//!     }]}}}]
//! })).unwrap();
//! let reservation = model.job_cost(&job).unwrap().reservation; // (4 × 0.05 + 2.5) × 10h
//! assert_eq!(reservation.to_string(), "27.00");
//!
//! let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
//!     "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
//!     "budgetWindows": [{"duration": "24h", "amount": 20}]
//! })).unwrap();
//! let plan = BudgetPlan::from_spec("gpu", &spec, None).unwrap();
//! let now: Timestamp = "2026-11-22T08:00:00Z".parse().unwrap();
//! assert!(can_reserve(&BatchBudgetStatus::default(), &plan, reservation, now).is_err());
//! ```

mod audit;
pub mod balance;
pub mod cost;
pub mod ledger;
pub mod money;
pub mod record;
mod run_time;
mod usage;
mod wide;
pub mod windows;

pub use balance::{BudgetBook, BudgetShortfall, WindowBalance, WindowShortfall, can_reserve};
pub use cost::{CostError, CostModel, GroupCost, JobCost, requires_preemptible};
pub use money::{Money, MoneyError};
pub use record::{
    LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState, ReservedGroup, WindowRef,
};
pub use run_time::run_time;
pub use usage::{GROUP_LABEL, TaskRun, Usage, task_time};
pub use windows::{
    BudgetPlan, BudgetSpecError, WindowPlan, history_limit, record_spent, roll_due, roll_windows,
    window_spent,
};

#[cfg(test)]
mod tests;
