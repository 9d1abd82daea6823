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
//! | B2   | budget | [`apply_refund`]: give back what the `(id, Charge)` entry allows to the windows it names, replace it by `(id, Refund)` — a no-op if a Refund entry exists |
//! | J4   | job    | [`ack_refund`]: `state: Refunded`, the refund as given |
//! | B3   | budget | [`prune`] entries whose job acknowledged its refund (done with any later budget write) |
//!
//! [`next_step`] reads the job's record and the budget's ledger and says which step is due;
//! after a crash the controller simply asks again.
//!
//! **Folded writes.** Only J1, B1 and B2 need writes of their own. The acknowledgements are
//! facts the budget already holds: [`catch_up`] reads them from its ledger, and the
//! controller writes them with the job's next status (J2 with Ready or Running, J4 with the
//! final phase). J3 is not written at all: the refund is planned in memory and applied (B2)
//! before the final phase is written, so a job is never shown Succeeded with its money still
//! held. A single-task job thus costs three job writes (J1, Running, final phase) and two
//! budget writes, which the controller shares between the jobs charged or refunded at once.
//!
//! **Why exactly once.**
//! - *Never twice*: a budget step for `id` changes amounts only if the budget holds no entry
//!   for `id` of that kind, and adds one in the same (atomic, conditional) write. B2 moves
//!   money only against the budget's own Charge entry, which it replaces in that write, so
//!   no view of the job, however stale, refunds twice. A Charge entry leaves only through
//!   B2, a Refund entry only once the job's status shows it acknowledged (J4). The remaining
//!   hazard is a *stale job view* still showing `Charging` after the refund's entry was
//!   pruned. Hence the **fresh-proof rule** for B1: the controller charges a job only right
//!   after a successful conditional write of that job in the same call (J1, or, when
//!   retrying, [`retry`], which bumps `attempt`). A successful conditional write proves the
//!   view was current, i.e. the job was not refunded, so its Charge entry (if the charge
//!   already landed) is still there.
//! - *Never lost*: the job reaches `Charged` (or `Refunded`) only from the budget's entry,
//!   which exists only if the amounts changed; until then [`next_step`] keeps asking for the
//!   budget step. A job with a reservation must carry a finalizer
//!   ([`RESERVATION_FINALIZER`](crate::api::RESERVATION_FINALIZER), added at admission or
//!   before J1) until `Refunded`, so a deleted job is still refunded.
//! - *Bounded*: an entry lives from its charge to the acknowledgement of its refund, so the
//!   ledger holds the reservations not yet refunded: the budget's running jobs, at most
//!   [`MAX_OPEN_RESERVATIONS`](super::balance::MAX_OPEN_RESERVATIONS) (the scheduling pass
//!   starts no job beyond it). Per-window id sets would not do: they are dropped when the
//!   window closes, and a charge whose intent was written just before a window boundary and
//!   retried after it would be counted twice or lost. Keying deduplication on the
//!   acknowledgement instead of the window makes a window roll irrelevant to it.
//!
//! **Whose word.** The job's record says what to refund; the budget's Charge entry says what
//! may be. [`apply_refund`] gives back at most the charged amount less the record's actual
//! cost, to the windows the entry names, and only while the entry is there: a record that
//! claims more, or a settled record put back as unsettled (no Charge entry any more), moves
//! no money that other jobs' charges are in. [`Applied::withheld`] says how much a record
//! claimed beyond that. A job charged by a controller that pruned Charge entries at J2 (before
//! this rule) gets nothing back: drain running jobs before such an upgrade.
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
//!         name: "main".into(), amount: Money::parse("8").unwrap(), max_wall_time_seconds: 4 * 3600, task_count: 0, runs_per_task: 1,
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

mod catch_up;
mod charge;
mod refund;

pub use super::audit::{Discrepancy, WindowKey, audit, expected_totals, window_totals};
pub use catch_up::catch_up;
pub use charge::{ack_charge, apply_charge, plan_charge};
pub use refund::{ack_refund, actual_cost, apply_refund, plan_refund};

use super::cost::CostError;
use super::money::Money;
use super::record::{LedgerEntry, LedgerEntryKind, ReservationRecord, ReservationState};
use crate::api::BatchBudgetStatus;

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
    /// The most the job can cost ([`ReservationRecord::ceiling`]), which bounds what its
    /// refund may charge beyond `amount`.
    pub ceiling: Money,
}

/// A refund to apply to a budget (step B2), as the job's record claims it. The budget gives
/// back at most what its own Charge entry says it charged, less the claimed actual cost, to
/// the windows that entry names ([`apply_refund`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Reservation id (the job's uid).
    pub id: String,
    /// `namespace/name` of the job.
    pub job: String,
    /// The refund the record claims.
    pub amount: Money,
    /// The actual cost the record claims.
    pub actual_cost: Money,
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
    /// How far what the budget gave back is from the refund the record claimed: its own Charge
    /// entry says the job was charged less (or can cost less), or was never charged (or was
    /// refunded already). Zero for an honest record; anything else means it was altered.
    pub withheld: Money,
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

/// The record with `attempt` bumped: writing it (conditionally) before retrying a budget
/// step proves the controller's view of the job is current.
pub fn retry(record: &ReservationRecord) -> ReservationRecord {
    let mut r = record.clone();
    r.attempt = r.attempt.wrapping_add(1);
    r
}

pub(super) fn entry_of<'a>(
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
                ceiling: r.ceiling(),
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
                actual_cost: r.actual_cost.unwrap_or(Money::ZERO),
            }),
        },
        ReservationState::Refunded if budget.ledger.iter().any(|e| e.id == r.id) => {
            LedgerStep::Prune
        }
        ReservationState::Refunded => LedgerStep::Done,
    }
}

pub(super) fn check_ack(
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

/// Whether `entry` may leave the budget's ledger, given the job's record as some view shows
/// it: the job has acknowledged its refund. A Charge entry is the budget's own record of what
/// the job may get back, so it stays until the refund replaces it ([`apply_refund`]); it
/// leaves here only for a job refunded while the entry was kept elsewhere (an older ledger).
/// Job states only move forward, so a stale view can only delay pruning, never make it
/// premature.
pub fn acknowledged(entry: &LedgerEntry, record: Option<&ReservationRecord>) -> bool {
    record.is_some_and(|r| r.id == entry.id && r.state == ReservationState::Refunded)
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
