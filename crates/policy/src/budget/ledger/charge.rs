//! Charging: J1 (intent), B1 (apply), J2 (acknowledge).

use super::{Applied, Charge, LedgerError, check_ack};
use crate::api::BatchBudgetStatus;
use crate::api::BatchJob;
use crate::budget::cost::JobCost;
use crate::budget::money::Money;
use crate::budget::record::{
    LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState, ReservedGroup, WindowRef,
};
use crate::budget::windows::{
    BudgetPlan, roll_windows, set_window_spent, whole_seconds, window_spent,
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// J1: the intent to reserve `cost` of `budget` for `job`, to write to the job's status
/// (with phase Scheduled) before the budget is touched. Idempotent: a job that already has
/// a reservation gets it back unchanged.
pub fn plan_charge(
    job: &BatchJob,
    budget: &str,
    cost: &JobCost,
    now: Timestamp,
) -> Result<ReservationRecord, LedgerError> {
    let id = job
        .metadata
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or(LedgerError::NoUid)?;
    if let Some(existing) = job.status.as_ref().and_then(|s| s.reservation.as_ref())
        && existing.id == id
    {
        return Ok(existing.clone());
    }
    Ok(ReservationRecord {
        id,
        budget: budget.to_owned(),
        amount: cost.reservation,
        groups: cost
            .groups
            .iter()
            .map(|g| ReservedGroup {
                name: g.name.clone(),
                amount: g.reservation,
                max_wall_time_seconds: g.max_wall_time.as_secs(),
                task_count: u32::try_from(g.task_count).unwrap_or(0),
                runs_per_task: g.runs_per_task,
            })
            .collect(),
        state: ReservationState::Charging,
        attempt: 0,
        requested_at: Time(whole_seconds(now)),
        charged_at: None,
        windows: Vec::new(),
        actual_cost: None,
        refund: None,
        refunded_at: None,
        refund_windows: Vec::new(),
    })
}

/// B1: rolls the windows to `now` and adds the charge to every current window, recording a
/// ledger entry. A no-op (`applied: false`) when the budget already holds an entry for the
/// reservation.
pub fn apply_charge(
    status: &BatchBudgetStatus,
    plan: &BudgetPlan,
    charge: &Charge,
    now: Timestamp,
) -> Applied {
    let mut st = roll_windows(status, plan, now);
    if let Some(existing) = st.ledger.iter().find(|e| e.id == charge.id) {
        let entry = existing.clone();
        return Applied {
            status: st,
            applied: false,
            entry,
            overdrawn: Vec::new(),
            withheld: Money::ZERO,
        };
    }
    let at = Time(whole_seconds(now));
    let mut windows = Vec::with_capacity(st.window_status_list.len());
    let mut overdrawn = Vec::new();
    for w in &mut st.window_status_list {
        let spent = window_spent(w).saturating_add(charge.amount);
        set_window_spent(w, spent);
        windows.push(WindowRef {
            duration: w.duration.clone(),
            start_time: w.start_time.clone(),
        });
        if let Some(wp) = plan.windows.iter().find(|p| p.label == w.duration)
            && spent > wp.limit
        {
            overdrawn.push(w.duration.clone());
        }
    }
    let entry = LedgerEntry {
        id: charge.id.clone(),
        job: charge.job.clone(),
        kind: LedgerEntryKind::Charge,
        amount: charge.amount,
        at: at.clone(),
        windows,
        ceiling: (charge.ceiling > charge.amount).then_some(charge.ceiling),
        charged: None,
    };
    st.ledger.push(entry.clone());
    st.last_updated = Some(at);
    Applied {
        status: st,
        applied: true,
        entry,
        overdrawn,
        withheld: Money::ZERO,
    }
}

/// J2: the record acknowledging the budget's charge entry. Idempotent once `Charged`.
pub fn ack_charge(
    record: &ReservationRecord,
    entry: &LedgerEntry,
) -> Result<ReservationRecord, LedgerError> {
    if record.state != ReservationState::Charging {
        return Ok(record.clone());
    }
    check_ack(record, entry, LedgerEntryKind::Charge)?;
    let mut r = record.clone();
    r.state = ReservationState::Charged;
    r.charged_at = Some(entry.at.clone());
    r.windows.clone_from(&entry.windows);
    Ok(r)
}
