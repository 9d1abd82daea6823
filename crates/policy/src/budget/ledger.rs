//! The ledger: charging and refunding reservations exactly once, across crashes, restarts,
//! stale caches and conflicts.
//!
//! Kubernetes gives no transaction across two objects, only a conditional write of one
//! (`metadata.resourceVersion`). So a reservation moves through four states recorded in the
//! **job's** status ([`ReservationState`]), and each budget write between them is made
//! idempotent by a **ledger entry** in the budget's status, keyed by the reservation id (the
//! job's uid):
//!
//! | step | object | write (always conditional on resourceVersion)                      |
//! |------|--------|--------------------------------------------------------------------|
//! | J1   | job    | intent: `reservation = {id, amount, state: Charging}` ([`plan_charge`]), phase Scheduled |
//! | B1   | budget | [`apply_charge`]: roll windows, add the amount to every current window, add entry `(id, Charge)` — a no-op if an entry for `id` exists |
//! | J2   | job    | [`ack_charge`]: `state: Charged`, windows and time copied from the entry |
//! | J3   | job    | when the job ends, [`plan_refund`]: `state: Refunding`, actual cost and refund |
//! | B2   | budget | [`apply_refund`]: give the refund back to the windows charged, replace the entry by `(id, Refund)` — a no-op if a Refund entry exists |
//! | J4   | job    | [`ack_refund`]: `state: Refunded` |
//! | B3   | budget | [`prune`] entries whose job acknowledged them (done with any later budget write) |
//!
//! [`next_step`] reads the job's record and the budget's ledger and says which step is due;
//! after a crash the controller simply asks again.
//!
//! **Why exactly once.**
//! - *Never twice*: a budget step for `id` changes amounts only if the budget holds no entry
//!   for `id` of that kind, and adds one in the same (atomic, conditional) write. An entry is
//!   removed only once the job's status shows the step acknowledged (J2 / J4). Job states
//!   only move forward, so a view showing the acknowledgement — however stale — is true.
//!   The remaining hazard is a *stale job view* still showing `Charging` after the entry was
//!   pruned. Hence the **fresh-proof rule**: the controller makes a budget step for a job
//!   only right after a successful conditional write of that job in the same reconcile (J1,
//!   or, when retrying, [`retry`], which bumps `attempt`). A successful conditional write
//!   proves the view was current, i.e. the step is still unacknowledged, so its entry (if the
//!   step already landed) has not been pruned.
//! - *Never lost*: the job reaches `Charged` (or `Refunded`) only from the budget's entry,
//!   which exists only if the amounts changed; until then [`next_step`] keeps asking for the
//!   budget step. A job with a reservation must carry a finalizer until `Refunded`, so a
//!   deleted job is still refunded.
//! - *Bounded*: entries live from a budget step to its acknowledgement, so the ledger holds
//!   only the reservations with a step in flight (a handful in steady state; at most the
//!   unfinished jobs, ≤ 10,000). Per-window id sets would not do: they are dropped when the
//!   window closes, and a charge whose intent was written just before a window boundary and
//!   retried after it would be counted twice or lost. Keying deduplication on the
//!   acknowledgement instead of the window makes a window roll irrelevant to it.
//!
//! **Which window.** A charge belongs to the windows current when the budget applies it.
//! A refund goes to the window the charge went to: the current window if it is still the
//! same, else that window's history record (correcting what the closed window spent; the
//! money a closed window reserved but did not use is gone with it). If that record is no
//! longer kept, or the window was removed from the spec or re-aligned, the refund for that
//! window is dropped: the budget over-counts, never under-counts. A refund never takes a
//! window below zero.
//!
//! ```
//! use jiff::{SignedDuration, Timestamp};
//! use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus};
//! use kbatch_policy::budget::ledger::{self, LedgerStep};
//! use kbatch_policy::budget::{BudgetPlan, Money, ReservationRecord, ReservationState, window_spent};
//!
//! let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
//!     "batchCostModelName": "gke", "budgetStartTime": "2026-11-22T00:00:00Z",
//!     "budgetWindows": [{"duration": "24h", "amount": 100}]
//! })).unwrap();
//! let plan = BudgetPlan::from_spec("team-a", &spec, None).unwrap();
//! let t0: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
//!
//! // J1: the intent (normally from plan_charge), then B1 and J2.
//! let mut record = ReservationRecord {
//!     id: "uid-1".into(), budget: "team-a".into(), amount: Money::parse("8").unwrap(),
//!     groups: vec![kbatch_policy::budget::ReservedGroup {
//!         name: "main".into(), amount: Money::parse("8").unwrap(), max_wall_time_seconds: 4 * 3600,
//!     }],
//!     state: ReservationState::Charging, attempt: 0, requested_at: t0.into(), charged_at: None,
//!     windows: vec![], actual_cost: None, refund: None, refunded_at: None, refund_windows: vec![],
//! };
//! let budget = BatchBudgetStatus::default();
//! let LedgerStep::ApplyCharge(charge) = ledger::next_step(Some(&record), false, &budget, "ns/job") else { panic!() };
//! let b1 = ledger::apply_charge(&budget, &plan, &charge, t0);
//! assert!(b1.applied);
//! // Applying it again (a retry after a lost response) changes nothing.
//! assert!(!ledger::apply_charge(&b1.status, &plan, &charge, t0).applied);
//! record = ledger::ack_charge(&record, &b1.entry).unwrap();
//!
//! // The job ran 1 of its 4 hours: 6 of the 8 come back.
//! record = ledger::plan_refund(&record, SignedDuration::from_hours(1)).unwrap();
//! let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&record), true, &b1.status, "ns/job") else { panic!() };
//! let b2 = ledger::apply_refund(&b1.status, &plan, &refund, t0);
//! record = ledger::ack_refund(&record, &b2.entry).unwrap();
//! assert_eq!(window_spent(&b2.status.window_status_list[0]), Money::parse("2").unwrap());
//! assert_eq!(ledger::consumed(&record), Money::parse("2").unwrap());
//! ```

use super::cost::{CostError, JobCost, prorate_up};
use super::money::Money;
use super::record::{
    LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState, ReservedGroup, WindowRef,
};
use super::windows::{
    BudgetPlan, parse_seconds, record_spent, roll_windows, set_record_spent, set_window_spent,
    whole_seconds, window_spent,
};
use crate::api::{BatchBudgetStatus, BatchJob};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

/// Why a ledger step cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The job has no `metadata.uid` yet (it was never stored).
    #[error("the job has no metadata.uid")]
    NoUid,
    /// The record is not in the state the step starts from.
    #[error("reservation {id} is {found:?}, not {expected:?}")]
    WrongState {
        /// Reservation id.
        id: String,
        /// The state the step needs.
        expected: ReservationState,
        /// The record's state.
        found: ReservationState,
    },
    /// The ledger entry is for another reservation or another step.
    #[error("ledger entry {entry_id} ({kind:?}) does not acknowledge reservation {id}")]
    EntryMismatch {
        /// Reservation id.
        id: String,
        /// The entry's id.
        entry_id: String,
        /// The entry's kind.
        kind: LedgerEntryKind,
    },
    /// Pricing the refund overflowed.
    #[error(transparent)]
    Cost(#[from] CostError),
}

/// A charge to apply to a budget (step B1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Reservation id (the job's uid).
    pub id: String,
    /// `namespace/name` of the job.
    pub job: String,
    /// The amount.
    pub amount: Money,
}

/// A refund to apply to a budget (step B2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Reservation id (the job's uid).
    pub id: String,
    /// `namespace/name` of the job.
    pub job: String,
    /// The amount given back.
    pub amount: Money,
    /// The windows the charge went to.
    pub windows: Vec<WindowRef>,
}

/// The result of a budget step.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new budget status (windows rolled to `now` even when nothing was applied).
    pub status: BatchBudgetStatus,
    /// Whether the amounts changed: `false` when the budget already held the step.
    pub applied: bool,
    /// The ledger entry that records the step (the existing one when not applied), to
    /// acknowledge on the job.
    pub entry: LedgerEntry,
    /// Windows that the charge took beyond their amount (possible only when the admission
    /// check ran on a stale view: the step never refuses, since the job is already Scheduled).
    pub overdrawn: Vec<String>,
}

/// What the controller should do next for one job's reservation.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerStep {
    /// No reservation, or one whose job is still running: nothing to do.
    Idle,
    /// B1: apply this charge (after a fresh proof, see the module docs).
    ApplyCharge(Charge),
    /// J2: write the acknowledgement of this entry to the job.
    AckCharge(LedgerEntry),
    /// J3: the job has ended; compute the refund with [`plan_refund`] and write it.
    PlanRefund,
    /// B2: apply this refund (after a fresh proof).
    ApplyRefund(Refund),
    /// J4: write the acknowledgement of this entry to the job.
    AckRefund(LedgerEntry),
    /// B3: the reservation is settled but the budget still holds its entries: prune them.
    Prune,
    /// Settled and pruned.
    Done,
}

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

/// The record with `attempt` bumped: writing it (conditionally) before retrying a budget
/// step proves the controller's view of the job is current.
pub fn retry(record: &ReservationRecord) -> ReservationRecord {
    let mut r = record.clone();
    r.attempt = r.attempt.wrapping_add(1);
    r
}

fn entry_of<'a>(
    status: &'a BatchBudgetStatus,
    id: &str,
    kind: LedgerEntryKind,
) -> Option<&'a LedgerEntry> {
    status.ledger.iter().find(|e| e.id == id && e.kind == kind)
}

/// Which step is due for `record` given the controller's view of the budget; `finished` says
/// whether the job has reached Succeeded or Failed; `job` is its `namespace/name`.
pub fn next_step(
    record: Option<&ReservationRecord>,
    finished: bool,
    budget: &BatchBudgetStatus,
    job: &str,
) -> LedgerStep {
    let Some(r) = record else {
        return LedgerStep::Idle;
    };
    match r.state {
        ReservationState::Charging => match entry_of(budget, &r.id, LedgerEntryKind::Charge) {
            Some(e) => LedgerStep::AckCharge(e.clone()),
            None => LedgerStep::ApplyCharge(Charge {
                id: r.id.clone(),
                job: job.to_owned(),
                amount: r.amount,
            }),
        },
        ReservationState::Charged if finished => LedgerStep::PlanRefund,
        ReservationState::Charged => LedgerStep::Idle,
        ReservationState::Refunding => match entry_of(budget, &r.id, LedgerEntryKind::Refund) {
            Some(e) => LedgerStep::AckRefund(e.clone()),
            None => LedgerStep::ApplyRefund(Refund {
                id: r.id.clone(),
                job: job.to_owned(),
                amount: r.refund.unwrap_or(Money::ZERO),
                windows: r.windows.clone(),
            }),
        },
        ReservationState::Refunded if budget.ledger.iter().any(|e| e.id == r.id) => {
            LedgerStep::Prune
        }
        ReservationState::Refunded => LedgerStep::Done,
    }
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
    };
    st.ledger.push(entry.clone());
    st.last_updated = Some(at);
    Applied {
        status: st,
        applied: true,
        entry,
        overdrawn,
    }
}

fn check_ack(
    record: &ReservationRecord,
    entry: &LedgerEntry,
    kind: LedgerEntryKind,
) -> Result<(), LedgerError> {
    if entry.id == record.id && entry.kind == kind {
        Ok(())
    } else {
        Err(LedgerError::EntryMismatch {
            id: record.id.clone(),
            entry_id: entry.id.clone(),
            kind: entry.kind,
        })
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

/// The actual cost of a run of `runtime`: per task group, its reservation × runtime ÷
/// maxWallTime (runtime capped at maxWallTime), rounded up.
pub fn actual_cost(
    record: &ReservationRecord,
    runtime: SignedDuration,
) -> Result<Money, CostError> {
    if record.groups.is_empty() {
        // Nothing to prorate by: the whole reservation is kept.
        return Ok(record.amount);
    }
    let used = u128::try_from(runtime.as_nanos()).unwrap_or(0);
    let mut total = Money::ZERO;
    for g in &record.groups {
        let wall = u128::from(g.max_wall_time_seconds) * 1_000_000_000;
        let part = prorate_up(g.amount, used, wall)?;
        total = total.checked_add(part).ok_or(CostError::Overflow)?;
    }
    Ok(total.min(record.amount))
}

/// J3: the refund of a finished job that ran for `actual_runtime` (negative counts as zero),
/// to write to its status. Refunds round down (the actual cost rounds up). Idempotent once
/// `Refunding`.
pub fn plan_refund(
    record: &ReservationRecord,
    actual_runtime: SignedDuration,
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
    let actual = actual_cost(record, actual_runtime)?;
    let mut r = record.clone();
    r.state = ReservationState::Refunding;
    r.actual_cost = Some(actual);
    r.refund = Some(record.amount.saturating_sub(actual).max(Money::ZERO));
    Ok(r)
}

/// B2: rolls the windows to `now`, gives the refund back to the windows the charge went to
/// (see the module docs for closed windows) and replaces the reservation's entry by a Refund
/// entry. A no-op when the budget already holds the Refund entry.
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
        };
    }
    // The job is Refunding, so it acknowledged the charge: its entry has served its purpose.
    st.ledger.retain(|e| e.id != refund.id);
    let at = Time(whole_seconds(now));
    let mut credited = Vec::with_capacity(refund.windows.len());
    for target in &refund.windows {
        let Some(seconds) = parse_seconds(&target.duration) else {
            continue;
        };
        let Some(w) = st
            .window_status_list
            .iter_mut()
            .find(|w| parse_seconds(&w.duration) == Some(seconds))
        else {
            continue;
        };
        if w.start_time == target.start_time {
            let spent = window_spent(w);
            set_window_spent(w, spent.saturating_sub(refund.amount.min(spent)));
            credited.push(WindowRef {
                duration: w.duration.clone(),
                start_time: w.start_time.clone(),
            });
        } else if let Some(h) = w
            .window_history
            .iter_mut()
            .find(|h| h.window_start_time == target.start_time)
        {
            let spent = record_spent(h);
            set_record_spent(h, spent.saturating_sub(refund.amount.min(spent)));
            credited.push(WindowRef {
                duration: w.duration.clone(),
                start_time: h.window_start_time.clone(),
            });
        }
    }
    let entry = LedgerEntry {
        id: refund.id.clone(),
        job: refund.job.clone(),
        kind: LedgerEntryKind::Refund,
        amount: refund.amount,
        at: at.clone(),
        windows: credited,
    };
    st.ledger.push(entry.clone());
    st.last_updated = Some(at);
    Applied {
        status: st,
        applied: true,
        entry,
        overdrawn: Vec::new(),
    }
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
    r.refunded_at = Some(entry.at.clone());
    r.refund_windows.clone_from(&entry.windows);
    Ok(r)
}

/// Whether `entry` may leave the budget's ledger, given the job's record as some view shows
/// it: the job has acknowledged the step. Job states only move forward, so a stale view can
/// only delay pruning, never make it premature.
pub fn acknowledged(entry: &LedgerEntry, record: Option<&ReservationRecord>) -> bool {
    let Some(r) = record.filter(|r| r.id == entry.id) else {
        return false;
    };
    match entry.kind {
        LedgerEntryKind::Charge => r.state >= ReservationState::Charged,
        LedgerEntryKind::Refund => r.state == ReservationState::Refunded,
    }
}

/// B3: removes the entries `is_acknowledged` says the jobs have acknowledged (use
/// [`acknowledged`] with the controller's job views). Returns the new status and how many
/// entries were removed.
pub fn prune(
    status: &BatchBudgetStatus,
    is_acknowledged: impl Fn(&LedgerEntry) -> bool,
) -> (BatchBudgetStatus, usize) {
    let mut st = status.clone();
    let before = st.ledger.len();
    st.ledger.retain(|e| !is_acknowledged(e));
    let removed = before - st.ledger.len();
    (st, removed)
}

/// What the job has consumed, for `status.budgetConsumed`: nothing while charging, the
/// reservation while charged, the actual cost once refunded.
pub fn consumed(record: &ReservationRecord) -> Money {
    match record.state {
        ReservationState::Charging => Money::ZERO,
        ReservationState::Charged | ReservationState::Refunding => record.amount,
        ReservationState::Refunded => record
            .amount
            .saturating_sub(record.refund.unwrap_or(Money::ZERO)),
    }
}

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
            ReservationState::Charging => {
                if let Some(e) = charge {
                    add(&e.windows, e.amount, false);
                }
            }
            ReservationState::Charged => add(&r.windows, r.amount, false),
            ReservationState::Refunding => {
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
    let keys: std::collections::BTreeSet<WindowKey> =
        expected.keys().chain(actual.keys()).copied().collect();
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
