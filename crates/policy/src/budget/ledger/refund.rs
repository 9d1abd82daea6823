//! Refunding: J3 (plan, in memory), B2 (apply), J4 (acknowledge, with the final phase).

use super::{Applied, LedgerError, Refund, check_ack, entry_of};
use crate::api::BatchBudgetStatus;
use crate::budget::cost::{CostError, prorate_runs_up};
use crate::budget::money::Money;
use crate::budget::record::{
    LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState, WindowRef,
};
use crate::budget::usage::Usage;
use crate::budget::windows::{
    BudgetPlan, parse_seconds, record_spent, roll_windows, set_record_spent, set_window_spent,
    whole_seconds, window_spent,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What the job cost, per task group: with its task time (its pods' runs, see
/// [`Usage`]), the reservation × task time ÷ (tasks × maxWallTime); without it, the
/// reservation × the job's run time ÷ maxWallTime. Either way at most the reservation ×
/// runs per task (`retryLimit + 1`), rounded up. It may exceed the reservation: a retried task
/// pays for each run.
pub fn actual_cost(
    record: &ReservationRecord,
    usage: impl Into<Usage>,
) -> Result<Money, CostError> {
    let usage = usage.into();
    if record.groups.is_empty() {
        // Nothing to prorate by: the whole reservation is kept.
        return Ok(record.amount);
    }
    let nanos = |d: SignedDuration| u128::try_from(d.as_nanos()).unwrap_or(0);
    let job = nanos(usage.job);
    let mut total = Money::ZERO;
    for g in &record.groups {
        let wall = u128::from(g.max_wall_time_seconds) * 1_000_000_000;
        let part = match usage.tasks.get(&g.name) {
            Some(&time) if g.task_count > 0 => {
                let reserved = wall.saturating_mul(u128::from(g.task_count));
                prorate_runs_up(g.amount, nanos(time), reserved, g.runs_per_task)?
            }
            _ => prorate_runs_up(g.amount, job, wall, g.runs_per_task)?,
        };
        total = total.checked_add(part).ok_or(CostError::Overflow)?;
    }
    Ok(total)
}

/// J3: the refund of a finished job that used `usage` (a run time alone, or with its task
/// time per group), to write to its status: the reservation less the actual cost, negative
/// when retries cost more than was reserved (the budget is then charged the difference).
/// Refunds round down (the actual cost rounds up). Idempotent once `Refunding`.
pub fn plan_refund(
    record: &ReservationRecord,
    usage: impl Into<Usage>,
) -> Result<ReservationRecord, LedgerError> {
    match record.state {
        ReservationState::Refunding | ReservationState::Refunded => return Ok(record.clone()),
        ReservationState::Charging => {
            return Err(LedgerError::WrongState {
                id: record.id.clone(),
                expected: ReservationState::Charged,
                found: record.state,
            });
        }
        ReservationState::Charged => {}
    }
    let actual = actual_cost(record, usage)?;
    let mut r = record.clone();
    r.state = ReservationState::Refunding;
    r.actual_cost = Some(actual);
    r.refund = Some(record.amount.saturating_sub(actual));
    Ok(r)
}

/// B2: rolls the windows to `now` and gives back what the budget's own Charge entry allows:
/// the claimed refund, but at most the amount that entry charged less the claimed actual
/// cost, and (a negative refund charges more) at least that amount less the entry's ceiling,
/// to the windows that entry names (see the module docs for closed windows). The Charge
/// entry is replaced by a Refund entry recording what was given. Without a Charge entry (never
/// charged, or refunded already) nothing is given. A no-op when the budget already holds the
/// Refund entry.
pub fn apply_refund(
    status: &BatchBudgetStatus,
    plan: &BudgetPlan,
    refund: &Refund,
    now: Timestamp,
) -> Applied {
    let mut st = roll_windows(status, plan, now);
    if let Some(existing) = entry_of(&st, &refund.id, LedgerEntryKind::Refund) {
        let entry = existing.clone();
        return Applied {
            status: st,
            applied: false,
            entry,
            overdrawn: Vec::new(),
            withheld: Money::ZERO,
        };
    }
    let charged = entry_of(&st, &refund.id, LedgerEntryKind::Charge).map(|c| c.amount);
    let (given, charged_windows) = match entry_of(&st, &refund.id, LedgerEntryKind::Charge) {
        Some(charge) => {
            // At most the charge less the claimed cost; at least (a negative amount: a further
            // charge) the charge less the most the job can cost.
            let most = charge.amount.saturating_sub(refund.actual_cost);
            let least = charge
                .amount
                .saturating_sub(charge.ceiling.unwrap_or(charge.amount))
                .min(Money::ZERO);
            (refund.amount.min(most).max(least), charge.windows.clone())
        }
        None => (Money::ZERO, Vec::new()),
    };
    st.ledger.retain(|e| e.id != refund.id);
    let at = Time(whole_seconds(now));
    let mut credited = Vec::with_capacity(charged_windows.len());
    for target in &charged_windows {
        if let Some(credit) = credit_window(&mut st, target, given) {
            credited.push(credit);
        }
    }
    let entry = LedgerEntry {
        id: refund.id.clone(),
        job: refund.job.clone(),
        kind: LedgerEntryKind::Refund,
        amount: given,
        at: at.clone(),
        windows: credited,
        ceiling: None,
        charged,
    };
    st.ledger.push(entry.clone());
    st.last_updated = Some(at);
    Applied {
        status: st,
        applied: true,
        entry,
        overdrawn: Vec::new(),
        withheld: if refund.amount >= given {
            refund.amount.saturating_sub(given)
        } else {
            given.saturating_sub(refund.amount)
        },
    }
}

/// Gives `amount` back to the window `target` names (current, or its history record), never
/// below zero; a negative `amount` charges it instead. `None` when that window is no longer
/// kept.
fn credit_window(
    st: &mut BatchBudgetStatus,
    target: &WindowRef,
    amount: Money,
) -> Option<WindowRef> {
    let seconds = parse_seconds(&target.duration)?;
    let w = st
        .window_status_list
        .iter_mut()
        .find(|w| parse_seconds(&w.duration) == Some(seconds))?;
    if w.start_time == target.start_time {
        let spent = window_spent(w);
        set_window_spent(w, spent.saturating_sub(amount.min(spent)));
        return Some(WindowRef {
            duration: w.duration.clone(),
            start_time: w.start_time.clone(),
        });
    }
    let h = w
        .window_history
        .iter_mut()
        .find(|h| h.window_start_time == target.start_time)?;
    let spent = record_spent(h);
    set_record_spent(h, spent.saturating_sub(amount.min(spent)));
    Some(WindowRef {
        duration: w.duration.clone(),
        start_time: h.window_start_time.clone(),
    })
}

/// J4: the record acknowledging the budget's refund entry. Idempotent once `Refunded`.
pub fn ack_refund(
    record: &ReservationRecord,
    entry: &LedgerEntry,
) -> Result<ReservationRecord, LedgerError> {
    match record.state {
        ReservationState::Refunded => return Ok(record.clone()),
        ReservationState::Refunding => {}
        found => {
            return Err(LedgerError::WrongState {
                id: record.id.clone(),
                expected: ReservationState::Refunding,
                found,
            });
        }
    }
    check_ack(record, entry, LedgerEntryKind::Refund)?;
    let mut r = record.clone();
    r.state = ReservationState::Refunded;
    // What the budget gave, which is what the job's consumption is computed from.
    r.refund = Some(entry.amount);
    if let Some(charged) = entry.charged {
        // The budget's word, the same on every retry (the record's own estimate depends on
        // when it was made).
        r.actual_cost = Some(charged.saturating_sub(entry.amount));
    }
    r.refunded_at = Some(entry.at.clone());
    r.refund_windows.clone_from(&entry.windows);
    Ok(r)
}
