//! Reading a job's acknowledgements from the budget instead of from its status.

use super::{ack_charge, entry_of};
use crate::api::BatchBudgetStatus;
use crate::budget::record::{LedgerEntryKind, ReservationRecord, ReservationState};

/// The record as far as the budget's ledger proves it, for a controller that writes the
/// acknowledgements (J2, J4) with the job's next status instead of on their own:
/// - `Charging`, and the budget holds its Charge entry: `Charged`, as [`ack_charge`] makes it;
/// - `Charging` or `Charged`, and the budget holds its Refund entry: `Refunding`, so that
///   [`next_step`](super::next_step) asks for [`AckRefund`](super::LedgerStep::AckRefund)
///   (the refund was applied, its acknowledgement not yet written);
/// - otherwise unchanged.
///
/// The budget's entries are its own record and entries of one id only appear in this order,
/// so a stale view of either object can only make the result lag, never run ahead. Pure.
///
/// ```
/// use kbatch_policy::api::BatchBudgetStatus;
/// use kbatch_policy::budget::ledger::catch_up;
/// use kbatch_policy::budget::{LedgerEntry, LedgerEntryKind, Money, ReservationRecord, ReservationState};
///
/// let record: ReservationRecord = serde_json::from_value(serde_json::json!({
///     "id": "uid-1", "budget": "team-a", "amount": "8", "state": "Charging",
///     "requestedAt": "2026-11-22T10:00:00Z"
/// })).unwrap();
/// let mut budget = BatchBudgetStatus::default();
/// assert_eq!(catch_up(&record, &budget).state, ReservationState::Charging);
/// budget.ledger.push(LedgerEntry {
///     id: "uid-1".into(), job: "ns/job".into(), kind: LedgerEntryKind::Charge,
///     amount: Money::parse("8").unwrap(), at: record.requested_at.clone(),
///     windows: vec![], ceiling: None, charged: None,
/// });
/// assert_eq!(catch_up(&record, &budget).state, ReservationState::Charged);
/// ```
pub fn catch_up(record: &ReservationRecord, budget: &BatchBudgetStatus) -> ReservationRecord {
    let refunded = || entry_of(budget, &record.id, LedgerEntryKind::Refund).is_some();
    match record.state {
        ReservationState::Charging | ReservationState::Charged if refunded() => {
            let mut r = record.clone();
            r.state = ReservationState::Refunding;
            r
        }
        ReservationState::Charging => entry_of(budget, &record.id, LedgerEntryKind::Charge)
            // The entry matches the record's id and kind, and the state is Charging: the
            // acknowledgement cannot be refused.
            .and_then(|entry| ack_charge(record, entry).ok())
            .unwrap_or_else(|| record.clone()),
        _ => record.clone(),
    }
}
