//! Budget windows: which window is current, rolling closed ones into history, and whether a
//! reservation fits.
//!
//! Window `k` of duration `d` covers `[origin + k·d, origin + (k+1)·d)`, where the origin is
//! `spec.budgetStartTime`, else the budget's `creationTimestamp`, truncated to whole seconds
//! (the API stores times to the second).
//!
//! Rolling (`roll_windows`) is pure and idempotent:
//! - a finished window becomes a history record (newest last; 90 kept for 24h windows, 3 for
//!   30-day ones: in general, 90 days' worth);
//! - **gaps**: when several windows passed while the controller was down, each skipped window
//!   gets an empty record, so the history stays a contiguous series (only the newest that
//!   the retention keeps are generated);
//! - a window **added** to the spec opens at the current window of its grid with amount 0:
//!   reservations already running are not charged to it retroactively;
//! - a window **removed** from the spec is dropped with its history;
//! - when the grid **moves** (`budgetStartTime` edited) a window that has ended is closed as
//!   it was; one still running hands its amount to the window of the new grid that contains
//!   now, so editing the start time can never wipe out spending;
//! - a window that starts after `now` (the clock went back) is left alone: windows never move
//!   backwards.

use super::money::Money;
use crate::api::{
    BatchBudget, BatchBudgetSpec, BatchBudgetStatus, BudgetWindowHistoryRecord, BudgetWindowStatus,
};
use crate::duration::WallTime;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// How much history is kept: 90 days' worth of windows (90 daily, 3 thirty-day).
pub const HISTORY_DAYS: i64 = 90;

/// The number of closed windows of `length_seconds` kept in history.
///
/// ```
/// use kbatch_policy::budget::history_limit;
/// assert_eq!(history_limit(24 * 3600), 90);
/// assert_eq!(history_limit(720 * 3600), 3);
/// ```
pub fn history_limit(length_seconds: i64) -> usize {
    let span = HISTORY_DAYS * 86_400;
    let n = if length_seconds <= 0 {
        1
    } else {
        span.saturating_add(length_seconds - 1) / length_seconds
    };
    usize::try_from(n.max(1)).unwrap_or(1)
}

/// A budget's rules, parsed once: its name, the grid origin and its windows.
///
/// ```
/// use kbatch_policy::api::BatchBudget;
/// use kbatch_policy::budget::BudgetPlan;
///
/// let budget: BatchBudget = serde_json::from_value(serde_json::json!({
///     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
///     "metadata": {"name": "team-a", "creationTimestamp": "2026-11-01T09:30:00Z"},
///     "spec": {"batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
///              "budgetWindows": [{"duration": "30d", "amount": 3000}, {"duration": "24h", "amount": 100}]}
/// })).unwrap();
/// let plan = BudgetPlan::from_budget(&budget).unwrap();
/// assert_eq!(plan.windows[0].label, "24h"); // shortest first
/// assert_eq!(plan.origin.to_string(), "2026-11-01T00:00:00Z");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetPlan {
    /// The BatchBudget's name.
    pub name: String,
    /// Start of window 0 of every duration, in whole seconds.
    pub origin: Timestamp,
    /// Its windows, shortest first.
    pub windows: Vec<WindowPlan>,
}

/// One window of a budget spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPlan {
    /// The duration as the spec writes it (`24h`, `1d`, `720h`, `30d`).
    pub label: String,
    /// The duration in seconds.
    pub seconds: i64,
    /// The most the window may spend.
    pub limit: Money,
}

/// Why a budget spec cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetSpecError {
    /// Neither `budgetStartTime` nor a creation time.
    #[error("budget {0}: no budgetStartTime and no creationTimestamp to align the windows to")]
    NoOrigin(String),
    /// A window's duration does not parse or is zero.
    #[error("budget {budget}: spec.budgetWindows[{index}].duration: {message}")]
    Duration {
        /// Budget name.
        budget: String,
        /// Index of the window.
        index: usize,
        /// Why.
        message: String,
    },
    /// A window's amount is not a finite amount ≥ 0.
    #[error("budget {budget}: spec.budgetWindows[{index}].amount: {message}")]
    Amount {
        /// Budget name.
        budget: String,
        /// Index of the window.
        index: usize,
        /// Why.
        message: String,
    },
    /// Two windows of the same duration.
    #[error("budget {budget}: spec.budgetWindows[{index}]: a window of {label} is already defined")]
    Duplicate {
        /// Budget name.
        budget: String,
        /// Index of the second one.
        index: usize,
        /// Its duration.
        label: String,
    },
}

impl BudgetPlan {
    /// Reads a budget spec; `created` is the budget's creation time (the default origin).
    pub fn from_spec(
        name: &str,
        spec: &BatchBudgetSpec,
        created: Option<Timestamp>,
    ) -> Result<BudgetPlan, BudgetSpecError> {
        let origin = spec
            .budget_start_time
            .as_ref()
            .map(|t| t.0)
            .or(created)
            .ok_or_else(|| BudgetSpecError::NoOrigin(name.to_owned()))?;
        let origin = whole_seconds(origin);
        let mut windows: Vec<WindowPlan> = Vec::with_capacity(spec.budget_windows.len());
        for (index, w) in spec.budget_windows.iter().enumerate() {
            let seconds = parse_seconds(&w.duration).ok_or_else(|| BudgetSpecError::Duration {
                budget: name.to_owned(),
                index,
                message: format!("{:?} is not a positive duration", w.duration),
            })?;
            let limit = Money::from_f64(w.amount)
                .ok()
                .filter(|m| !m.is_negative())
                .ok_or_else(|| BudgetSpecError::Amount {
                    budget: name.to_owned(),
                    index,
                    message: format!("{} is not an amount of 0 or more", w.amount),
                })?;
            if windows.iter().any(|p| p.seconds == seconds) {
                return Err(BudgetSpecError::Duplicate {
                    budget: name.to_owned(),
                    index,
                    label: w.duration.clone(),
                });
            }
            windows.push(WindowPlan {
                label: w.duration.clone(),
                seconds,
                limit,
            });
        }
        windows.sort_by_key(|w| w.seconds);
        Ok(BudgetPlan {
            name: name.to_owned(),
            origin,
            windows,
        })
    }

    /// Reads a BatchBudget object.
    pub fn from_budget(budget: &BatchBudget) -> Result<BudgetPlan, BudgetSpecError> {
        let name = budget.metadata.name.as_deref().unwrap_or_default();
        let created = budget.metadata.creation_timestamp.as_ref().map(|t| t.0);
        BudgetPlan::from_spec(name, &budget.spec, created)
    }

    /// Start and end of the window of `window` that contains `now`.
    pub fn window_at(&self, window: &WindowPlan, now: Timestamp) -> (Timestamp, Timestamp) {
        let start = grid_start(self.origin.as_second(), window.seconds, now.as_second());
        (at(start), at(start.saturating_add(window.seconds)))
    }
}

/// `t` without its fractional second.
pub(crate) fn whole_seconds(t: Timestamp) -> Timestamp {
    at(t.as_second())
}

/// The timestamp `seconds` after the epoch (clamped to jiff's range).
pub(crate) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A window duration in seconds, `None` unless positive.
pub(crate) fn parse_seconds(text: &str) -> Option<i64> {
    WallTime::parse(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .filter(|&s| s > 0)
}

pub(crate) fn grid_start(origin: i64, length: i64, now: i64) -> i64 {
    let k = now.saturating_sub(origin).div_euclid(length);
    origin.saturating_add(k.saturating_mul(length))
}

/// The exact amount of a current window.
pub fn window_spent(w: &BudgetWindowStatus) -> Money {
    w.amount_exact
        .unwrap_or_else(|| Money::from_f64(w.amount).unwrap_or(Money::ZERO))
}

/// The exact amount of a closed window.
pub fn record_spent(r: &BudgetWindowHistoryRecord) -> Money {
    r.amount_exact
        .unwrap_or_else(|| Money::from_f64(r.amount).unwrap_or(Money::ZERO))
}

pub(crate) fn set_window_spent(w: &mut BudgetWindowStatus, m: Money) {
    w.amount = m.to_f64();
    w.amount_exact = Some(m);
}

pub(crate) fn set_record_spent(r: &mut BudgetWindowHistoryRecord, m: Money) {
    r.amount = m.to_f64();
    r.amount_exact = Some(m);
}

/// How a status window relates to the grid window containing now.
pub(crate) enum Position {
    /// It is the current window.
    Current,
    /// It is an earlier window of the grid: close it, record gaps, open the current one.
    Ended,
    /// Off the grid and over: close it as it was, open the current one.
    EndedOffGrid,
    /// Off the grid and still running: its amount moves to the current grid window.
    Moved,
    /// Starts after now: leave it.
    Ahead,
}

pub(crate) fn position(w: &BudgetWindowStatus, origin: i64, length: i64, now: i64) -> Position {
    let start = w.start_time.0.as_second();
    let current = grid_start(origin, length, now);
    let on_grid = start.saturating_sub(origin).rem_euclid(length) == 0;
    if start == current {
        Position::Current
    } else if on_grid && start < current {
        Position::Ended
    } else if on_grid {
        Position::Ahead
    } else if start.saturating_add(length) <= now {
        Position::EndedOffGrid
    } else {
        Position::Moved
    }
}

pub(crate) fn find_window(status: &BatchBudgetStatus, seconds: i64) -> Option<&BudgetWindowStatus> {
    status
        .window_status_list
        .iter()
        .find(|w| parse_seconds(&w.duration) == Some(seconds))
}

/// Brings the status to `now`: closes finished windows into history, opens the current
/// ones, follows spec changes (see the module docs). Returns the status unchanged when
/// nothing is due; `lastUpdated` is set only when something changed.
///
/// ```
/// use jiff::Timestamp;
/// use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus};
/// use kbatch_policy::budget::{BudgetPlan, roll_windows};
///
/// let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
///     "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
///     "budgetWindows": [{"duration": "24h", "amount": 100}]
/// })).unwrap();
/// let plan = BudgetPlan::from_spec("team-a", &spec, None).unwrap();
/// let day1: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
/// let opened = roll_windows(&BatchBudgetStatus::default(), &plan, day1);
/// assert_eq!(opened.window_status_list[0].start_time.0.to_string(), "2026-11-01T00:00:00Z");
///
/// let day4: Timestamp = "2026-11-04T10:00:00Z".parse().unwrap();
/// let rolled = roll_windows(&opened, &plan, day4);
/// let w = &rolled.window_status_list[0];
/// assert_eq!(w.start_time.0.to_string(), "2026-11-04T00:00:00Z");
/// assert_eq!(w.window_history.len(), 3); // the 1st, and empty records for the 2nd and 3rd
/// ```
/// The status rolled to `now` when rolling changes which windows are current (one ended, or
/// none was open yet), so that the budget shows today's spending without waiting for the next
/// charge; `None` when every window is current already.
///
/// ```
/// use jiff::Timestamp;
/// use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus};
/// use kbatch_policy::budget::{BudgetPlan, roll_due};
///
/// let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
///     "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
///     "budgetWindows": [{"duration": "24h", "amount": 100}]
/// })).unwrap();
/// let plan = BudgetPlan::from_spec("team-a", &spec, None).unwrap();
/// let day1: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
/// let opened = roll_due(&BatchBudgetStatus::default(), &plan, day1).unwrap();
/// assert!(roll_due(&opened, &plan, "2026-11-01T23:59:59Z".parse().unwrap()).is_none());
/// let next = roll_due(&opened, &plan, "2026-11-02T00:00:00Z".parse().unwrap()).unwrap();
/// assert_eq!(next.window_status_list[0].window_history.len(), 1);
/// ```
pub fn roll_due(
    status: &BatchBudgetStatus,
    plan: &BudgetPlan,
    now: Timestamp,
) -> Option<BatchBudgetStatus> {
    let rolled = roll_windows(status, plan, now);
    let current = |s: &BatchBudgetStatus| -> Vec<(String, Time)> {
        s.window_status_list
            .iter()
            .map(|w| (w.duration.clone(), w.start_time.clone()))
            .collect()
    };
    (current(&rolled) != current(status)).then_some(rolled)
}

pub fn roll_windows(
    status: &BatchBudgetStatus,
    plan: &BudgetPlan,
    now: Timestamp,
) -> BatchBudgetStatus {
    let origin = plan.origin.as_second();
    let now_s = now.as_second();
    let mut list = Vec::with_capacity(plan.windows.len());
    for wp in &plan.windows {
        let length = wp.seconds;
        let current = at(grid_start(origin, length, now_s));
        let limit = history_limit(length);
        let Some(existing) = find_window(status, length) else {
            list.push(BudgetWindowStatus {
                duration: wp.label.clone(),
                start_time: Time(current),
                amount: 0.0,
                amount_exact: Some(Money::ZERO),
                window_history: Vec::new(),
            });
            continue;
        };
        let mut w = existing.clone();
        w.duration.clone_from(&wp.label);
        match position(existing, origin, length, now_s) {
            Position::Current | Position::Ahead => {}
            Position::Moved => w.start_time = Time(current),
            Position::Ended | Position::EndedOffGrid => {
                let start = w.start_time.0.as_second();
                let end = start.saturating_add(length);
                let mut record = BudgetWindowHistoryRecord {
                    window_start_time: w.start_time.clone(),
                    window_end_time: Time(at(end)),
                    amount: 0.0,
                    amount_exact: None,
                };
                set_record_spent(&mut record, window_spent(&w));
                w.window_history.push(record);
                if matches!(position(existing, origin, length, now_s), Position::Ended) {
                    push_gaps(
                        &mut w.window_history,
                        end,
                        current.as_second(),
                        length,
                        limit,
                    );
                }
                w.start_time = Time(current);
                set_window_spent(&mut w, Money::ZERO);
            }
        }
        let excess = w.window_history.len().saturating_sub(limit);
        w.window_history.drain(..excess);
        list.push(w);
    }
    let mut rolled = status.clone();
    if rolled.window_status_list != list {
        rolled.window_status_list = list;
        rolled.last_updated = Some(Time(whole_seconds(now)));
    }
    rolled
}

/// Empty records for the windows between `from` (inclusive) and `to` (exclusive), at most
/// the `limit` newest.
fn push_gaps(
    history: &mut Vec<BudgetWindowHistoryRecord>,
    from: i64,
    to: i64,
    length: i64,
    limit: usize,
) {
    let count = to.saturating_sub(from) / length;
    let keep = count.min(i64::try_from(limit).unwrap_or(i64::MAX));
    let mut start = from.saturating_add((count - keep).saturating_mul(length));
    while start < to {
        history.push(BudgetWindowHistoryRecord {
            window_start_time: Time(at(start)),
            window_end_time: Time(at(start.saturating_add(length))),
            amount: 0.0,
            amount_exact: Some(Money::ZERO),
        });
        start = start.saturating_add(length);
    }
}
