//! Auditing a budget: recomputing from the jobs' reservation records what every window
//! should hold, and comparing it with the budget's status.
//!
//! ```
//! use kbatch_policy::api::BatchBudgetStatus;
//! use kbatch_policy::budget::ledger::audit;
//!
//! // No reservations, no spending: the books balance.
//! assert!(audit(&BatchBudgetStatus::default(), []).is_empty());
//! ```

use super::money::Money;
use super::record::{LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState, WindowRef};
use super::windows::{parse_seconds, record_spent, window_spent};
use crate::api::BatchBudgetStatus;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A budget window, by length and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowKey {
    /// Its duration in seconds.
    pub seconds: i64,
    /// Its start.
    pub start: Timestamp,
}

impl WindowKey {
    fn of(w: &WindowRef) -> Option<WindowKey> {
        Some(WindowKey {
            seconds: parse_seconds(&w.duration)?,
            start: w.start_time.0,
        })
    }
}

/// What every window (current and in history) holds according to the budget's status.
pub fn window_totals(status: &BatchBudgetStatus) -> BTreeMap<WindowKey, Money> {
    let mut totals = BTreeMap::new();
    for w in &status.window_status_list {
        let Some(seconds) = parse_seconds(&w.duration) else {
            continue;
        };
        totals.insert(
            WindowKey {
                seconds,
                start: w.start_time.0,
            },
            window_spent(w),
        );
        for h in &w.window_history {
            totals.insert(
                WindowKey {
                    seconds,
                    start: h.window_start_time.0,
                },
                record_spent(h),
            );
        }
    }
    totals
}

/// Recomputes, from scratch, what every window should hold given the reservation records of
/// the jobs charged to the budget and the budget's ledger (for steps not yet acknowledged).
/// Comparing it with [`window_totals`] audits the budget; windows no job was charged to are
/// absent (they should hold zero).
pub fn expected_totals<'a>(
    records: impl IntoIterator<Item = &'a ReservationRecord>,
    ledger: &[LedgerEntry],
) -> BTreeMap<WindowKey, Money> {
    let mut totals: BTreeMap<WindowKey, Money> = BTreeMap::new();
    let mut add = |windows: &[WindowRef], amount: Money, negative: bool| {
        for key in windows.iter().filter_map(WindowKey::of) {
            let t = totals.entry(key).or_insert(Money::ZERO);
            *t = if negative {
                t.saturating_sub(amount)
            } else {
                t.saturating_add(amount)
            };
        }
    };
    for r in records {
        let charge = entry_in(ledger, &r.id, LedgerEntryKind::Charge);
        let refund = entry_in(ledger, &r.id, LedgerEntryKind::Refund);
        match r.state {
            ReservationState::Charging => match (charge, refund) {
                (Some(e), _) => add(&e.windows, e.amount, false),
                // Charged and refunded before the job acknowledged either.
                (None, Some(e)) => {
                    add(&e.windows, e.charged.unwrap_or(Money::ZERO), false);
                    add(&e.windows, e.amount, true);
                }
                (None, None) => {}
            },
            // The refund may be applied before the job acknowledges it (with its final phase).
            ReservationState::Charged | ReservationState::Refunding => {
                add(&r.windows, r.amount, false);
                if let Some(e) = refund {
                    add(&e.windows, e.amount, true);
                }
            }
            ReservationState::Refunded => {
                add(&r.windows, r.amount, false);
                add(&r.refund_windows, r.refund.unwrap_or(Money::ZERO), true);
            }
        }
    }
    totals
}

/// A window whose amount differs from what the records say it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discrepancy {
    /// The window.
    pub window: WindowKey,
    /// What the records add up to.
    pub expected: Money,
    /// What the budget's status holds.
    pub actual: Money,
}

/// Audits a budget: every window (current or in history) whose amount differs from what the
/// reservation records of its jobs add up to ([`expected_totals`]; windows no record names
/// should hold zero). Empty when the books balance. Only meaningful when `records` holds
/// every reservation ever charged to the windows still kept.
pub fn audit<'a>(
    status: &BatchBudgetStatus,
    records: impl IntoIterator<Item = &'a ReservationRecord>,
) -> Vec<Discrepancy> {
    let expected = expected_totals(records, &status.ledger);
    let actual = window_totals(status);
    let keys: BTreeSet<WindowKey> = expected.keys().chain(actual.keys()).copied().collect();
    keys.into_iter()
        .filter_map(|window| {
            let e = expected.get(&window).copied().unwrap_or(Money::ZERO);
            let a = actual.get(&window).copied().unwrap_or(Money::ZERO);
            (e != a).then_some(Discrepancy {
                window,
                expected: e,
                actual: a,
            })
        })
        .collect()
}

fn entry_in<'a>(
    ledger: &'a [LedgerEntry],
    id: &str,
    kind: LedgerEntryKind,
) -> Option<&'a LedgerEntry> {
    ledger.iter().find(|e| e.id == id && e.kind == kind)
}
