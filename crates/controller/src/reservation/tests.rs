#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The finalizer decision, as a table over deletion, phase, finalizer and reservation state.

use super::*;
use crate::fixtures::{batch_job, record};
use kbatch_policy::api::{BatchJobStatus, JobPhase};
use kbatch_policy::budget::{LedgerEntry, LedgerEntryKind, Money};
use serde_json::json;

/// What [`plan`] decided, without the patch bodies (checked on their own below).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Keep,
    Add,
    Settle,
    Remove,
}

fn step(s: &FinalizerStep) -> Step {
    match s {
        FinalizerStep::Keep => Step::Keep,
        FinalizerStep::Add(_) => Step::Add,
        FinalizerStep::Settle => Step::Settle,
        FinalizerStep::Remove(_) => Step::Remove,
    }
}

/// The budget's ledger: empty, or holding an entry of `kind` for reservation `u1`.
fn ledger(kind: Option<LedgerEntryKind>) -> BatchBudgetStatus {
    BatchBudgetStatus {
        ledger: kind
            .map(|kind| LedgerEntry {
                id: "u1".into(),
                job: "ns/pi".into(),
                kind,
                amount: Money::parse("2").unwrap(),
                at: record(ReservationState::Charged).requested_at,
                windows: vec![],
                ceiling: None,
                charged: None,
            })
            .into_iter()
            .collect(),
        ..BatchBudgetStatus::default()
    }
}

fn job(
    deleting: bool,
    phase: JobPhase,
    holds: bool,
    reservation: Option<ReservationState>,
) -> BatchJob {
    let mut job = batch_job(1);
    if deleting {
        job.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-22T10:00:00Z".parse().unwrap(),
            ));
    }
    if holds {
        job.metadata.finalizers = Some(vec!["other".into(), RESERVATION_FINALIZER.into()]);
    }
    job.status = Some(BatchJobStatus {
        phase: Some(phase),
        reservation: reservation.map(record),
        ..BatchJobStatus::default()
    });
    job
}

/// deleting, phase, holds the finalizer, reservation state, budget ledger entry → step.
type Case = (
    bool,
    JobPhase,
    bool,
    Option<ReservationState>,
    Option<LedgerEntryKind>,
    Step,
);

#[test]
fn table() {
    use JobPhase::{Failed, Queued, Running, Scheduled, Succeeded};
    use LedgerEntryKind::{Charge, Refund};
    use ReservationState::{Charged, Charging, Refunded, Refunding};
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // deleting, phase, holds, reservation, budget entry → step
        // Live jobs: the finalizer is there while a reservation is outstanding.
        (false, Queued,    false, None,            None,         Step::Keep),
        (false, Queued,    true,  None,            None,         Step::Keep),   // added, charge pending
        (false, Scheduled, true,  Some(Charging),  None,         Step::Keep),
        (false, Scheduled, false, Some(Charging),  None,         Step::Add),    // charged before the finalizer existed
        (false, Running,   false, Some(Charged),   None,         Step::Add),
        (false, Running,   true,  Some(Charged),   None,         Step::Keep),
        (false, Succeeded, true,  Some(Charged),   None,         Step::Keep),   // the reconcile refunds first
        (false, Succeeded, true,  Some(Refunding), None,         Step::Keep),
        (false, Succeeded, true,  Some(Refunded),  Some(Refund), Step::Remove), // the entry is pruned later
        (false, Succeeded, true,  Some(Refunded),  None,         Step::Remove),
        (false, Failed,    true,  None,            None,         Step::Remove), // never reserved
        (false, Failed,    false, Some(Refunded),  None,         Step::Keep),
        // Deleting: settle, then release.
        (true,  Queued,    true,  None,            None,         Step::Remove),
        (true,  Queued,    false, None,            None,         Step::Keep),
        (true,  Scheduled, true,  Some(Charging),  None,         Step::Settle),
        (true,  Scheduled, true,  Some(Charging),  Some(Charge), Step::Settle),
        (true,  Running,   true,  Some(Charged),   None,         Step::Settle),
        (true,  Running,   false, Some(Charged),   None,         Step::Settle), // refund even so
        (true,  Succeeded, true,  Some(Refunding), Some(Refund), Step::Settle),
        (true,  Succeeded, true,  Some(Refunded),  Some(Refund), Step::Remove),
        (true,  Succeeded, true,  Some(Refunded),  None,         Step::Remove),
        (true,  Failed,    false, Some(Refunded),  None,         Step::Keep),
    ];
    for (i, &(deleting, phase, holds, reservation, entry, expected)) in cases.iter().enumerate() {
        let j = job(deleting, phase, holds, reservation);
        let budget = ledger(entry);
        let got = plan(&j, Some(&budget));
        assert_eq!(
            step(&got),
            expected,
            "case {i}: deleting={deleting} {phase:?} holds={holds} {reservation:?} {entry:?}"
        );
    }
}

#[test]
fn a_budget_that_no_longer_exists_releases_the_job() {
    // Nothing can be refunded to a budget that is gone: waiting would block the deletion
    // forever.
    let j = job(
        true,
        JobPhase::Running,
        true,
        Some(ReservationState::Charged),
    );
    assert_eq!(step(&plan(&j, None)), Step::Remove);
    let live = job(
        false,
        JobPhase::Running,
        false,
        Some(ReservationState::Charged),
    );
    assert_eq!(step(&plan(&live, None)), Step::Keep);
}

#[test]
fn patches_are_conditional_and_touch_only_the_finalizer() {
    let mut j = batch_job(1);
    assert_eq!(
        add_patch(&j.metadata).unwrap(),
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/metadata/finalizers", "value": [RESERVATION_FINALIZER]}
        ])
    );
    assert_eq!(remove_patch(&j.metadata), None);

    j.metadata.finalizers = Some(vec!["other".into()]);
    assert_eq!(
        add_patch(&j.metadata).unwrap()[1],
        json!({"op": "add", "path": "/metadata/finalizers/-", "value": RESERVATION_FINALIZER})
    );

    j.metadata.finalizers = Some(vec!["other".into(), RESERVATION_FINALIZER.into()]);
    assert_eq!(add_patch(&j.metadata), None);
    assert_eq!(
        remove_patch(&j.metadata).unwrap(),
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "remove", "path": "/metadata/finalizers/1"}
        ])
    );
}
