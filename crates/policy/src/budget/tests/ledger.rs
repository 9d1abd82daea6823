//! The ledger's steps, one by one.

use crate::api::{BatchBudgetSpec, BatchBudgetStatus, BatchJob, BatchJobSpec};
use crate::budget::ledger::{self, Charge, LedgerError, LedgerStep};
use crate::budget::{
    BudgetPlan, CostModel, LedgerEntryKind, Money, ReservationRecord, ReservationState,
    ReservedGroup, record_spent, window_spent,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn plan() -> BudgetPlan {
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": 100}, {"duration": "720h", "amount": 1000}]
    }))
    .unwrap();
    BudgetPlan::from_spec("team-a", &spec, None).unwrap()
}

fn record(id: &str, groups: &[(&str, &str, u64)]) -> ReservationRecord {
    let groups: Vec<ReservedGroup> = groups
        .iter()
        .map(|(name, amount, secs)| ReservedGroup {
            name: (*name).into(),
            amount: m(amount),
            max_wall_time_seconds: *secs,
            task_count: 0,
            runs_per_task: 1,
        })
        .collect();
    let amount = groups
        .iter()
        .fold(Money::ZERO, |a, g| a.checked_add(g.amount).unwrap());
    ReservationRecord {
        id: id.into(),
        budget: "team-a".into(),
        amount,
        groups,
        state: ReservationState::Charging,
        attempt: 0,
        requested_at: ts("2026-11-22T10:00:00Z").into(),
        charged_at: None,
        windows: vec![],
        actual_cost: None,
        refund: None,
        refunded_at: None,
        refund_windows: vec![],
    }
}

fn charge_of(r: &ReservationRecord, budget: &BatchBudgetStatus) -> Charge {
    match ledger::next_step(Some(r), false, budget, "ns/job") {
        LedgerStep::ApplyCharge(c) => c,
        other => panic!("expected a charge, got {other:?}"),
    }
}

/// Charges `r` at `at` and acknowledges it.
fn charged(
    r: &ReservationRecord,
    budget: &BatchBudgetStatus,
    at: &str,
) -> (ReservationRecord, BatchBudgetStatus) {
    let applied = ledger::apply_charge(budget, &plan(), &charge_of(r, budget), ts(at));
    assert!(applied.applied);
    (
        ledger::ack_charge(r, &applied.entry).unwrap(),
        applied.status,
    )
}

/// Refunds `r` (which ran `runtime`) at `at` and acknowledges it.
fn refunded(
    r: &ReservationRecord,
    budget: &BatchBudgetStatus,
    runtime: SignedDuration,
    at: &str,
) -> (ReservationRecord, BatchBudgetStatus) {
    let r = ledger::plan_refund(r, runtime).unwrap();
    let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&r), true, budget, "ns/job")
    else {
        panic!("expected a refund")
    };
    let applied = ledger::apply_refund(budget, &plan(), &refund, ts(at));
    assert!(applied.applied);
    (
        ledger::ack_refund(&r, &applied.entry).unwrap(),
        applied.status,
    )
}

fn spent(st: &BatchBudgetStatus) -> Vec<Money> {
    st.window_status_list.iter().map(window_spent).collect()
}

#[test]
fn a_reservation_goes_through_charge_refund_and_prune() {
    let r = record("j1", &[("main", "8", 4 * 3600)]);
    let (r, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    assert_eq!(r.state, ReservationState::Charged);
    assert_eq!(
        r.charged_at.as_ref().map(|t| t.0),
        Some(ts("2026-11-22T10:00:00Z"))
    );
    assert_eq!(r.windows.len(), 2);
    assert_eq!(spent(&st), [m("8"), m("8")]);
    assert_eq!(ledger::consumed(&r), m("8"));
    assert_eq!(
        ledger::next_step(Some(&r), false, &st, "ns/job"),
        LedgerStep::Idle,
        "running"
    );
    assert_eq!(
        ledger::next_step(Some(&r), true, &st, "ns/job"),
        LedgerStep::PlanRefund
    );

    let (r, st) = refunded(
        &r,
        &st,
        SignedDuration::from_mins(90),
        "2026-11-22T11:30:00Z",
    );
    assert_eq!(r.actual_cost, Some(m("3")));
    assert_eq!(r.refund, Some(m("5")));
    assert_eq!(spent(&st), [m("3"), m("3")]);
    assert_eq!(ledger::consumed(&r), m("3"));
    assert_eq!(
        st.ledger.len(),
        1,
        "the refund entry replaced the charge entry"
    );
    assert_eq!(st.ledger[0].kind, LedgerEntryKind::Refund);

    assert_eq!(
        ledger::next_step(Some(&r), true, &st, "ns/job"),
        LedgerStep::Prune
    );
    let (st, removed) = ledger::prune(&st, |e| ledger::acknowledged(e, Some(&r)));
    assert_eq!((removed, st.ledger.len()), (1, 0));
    assert_eq!(
        ledger::next_step(Some(&r), true, &st, "ns/job"),
        LedgerStep::Done
    );
    assert_eq!(ledger::audit(&st, [&r]), []);
}

#[test]
fn reapplying_a_charge_is_a_no_op_even_across_a_window_boundary() {
    let r = record("j1", &[("main", "8", 3600)]);
    let charge = charge_of(&r, &BatchBudgetStatus::default());
    let first = ledger::apply_charge(
        &BatchBudgetStatus::default(),
        &plan(),
        &charge,
        ts("2026-11-22T23:59:59Z"),
    );
    // The response was lost; the controller retries the next day from the new status.
    let retry = ledger::apply_charge(&first.status, &plan(), &charge, ts("2026-11-23T00:00:01Z"));
    assert!(!retry.applied);
    assert_eq!(
        retry.entry, first.entry,
        "the original entry is returned for the acknowledgement"
    );
    let day = &retry.status.window_status_list[0];
    assert_eq!(
        window_spent(day),
        Money::ZERO,
        "the new day was not charged"
    );
    assert_eq!(
        record_spent(&day.window_history[0]),
        m("8"),
        "the old day was charged once"
    );
}

#[test]
fn reapplying_a_refund_is_a_no_op() {
    let r = record("j1", &[("main", "8", 3600)]);
    let (r, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    let r = ledger::plan_refund(&r, SignedDuration::ZERO).unwrap();
    let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&r), true, &st, "ns/job") else {
        panic!()
    };
    let once = ledger::apply_refund(&st, &plan(), &refund, ts("2026-11-22T10:10:00Z"));
    let twice = ledger::apply_refund(&once.status, &plan(), &refund, ts("2026-11-22T10:20:00Z"));
    assert!(once.applied && !twice.applied);
    assert_eq!(spent(&twice.status), [Money::ZERO, Money::ZERO]);
    // And a charge retried after the refund (stale view) is refused by the refund entry too.
    let stale = charge_of(
        &record("j1", &[("main", "8", 3600)]),
        &BatchBudgetStatus::default(),
    );
    let late = ledger::apply_charge(&twice.status, &plan(), &stale, ts("2026-11-22T10:30:00Z"));
    assert!(!late.applied);
}

#[test]
fn a_refund_after_the_window_closed_corrects_its_history_record() {
    let r = record("j1", &[("main", "24", 24 * 3600)]);
    let (r, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T20:00:00Z");
    let (r, st) = refunded(
        &r,
        &st,
        SignedDuration::from_hours(6),
        "2026-11-23T02:00:00Z",
    );
    assert_eq!(r.refund, Some(m("18")));
    let day = &st.window_status_list[0];
    assert_eq!(window_spent(day), Money::ZERO, "today is not credited");
    assert_eq!(
        record_spent(&day.window_history[0]),
        m("6"),
        "yesterday spent 6, not 24"
    );
    assert_eq!(
        window_spent(&st.window_status_list[1]),
        m("6"),
        "the 30-day window is still current"
    );
    assert_eq!(r.refund_windows.len(), 2);
    assert_eq!(ledger::audit(&st, [&r]), []);
}

#[test]
fn a_refund_for_a_window_no_longer_kept_is_dropped() {
    let r = record("j1", &[("main", "24", 24 * 3600)]);
    let (r, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T20:00:00Z");
    // 100 days later: the daily record is gone, the 30-day one too.
    let (r, st) = refunded(&r, &st, SignedDuration::ZERO, "2027-03-02T00:00:00Z");
    assert!(r.refund_windows.is_empty());
    assert!(
        st.window_status_list
            .iter()
            .all(|w| window_spent(w) == Money::ZERO)
    );
}

#[test]
fn a_refund_never_takes_a_window_below_zero() {
    let r = record("j1", &[("main", "8", 3600)]);
    let (r, mut st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    // Someone lowered the amount by hand.
    crate::budget::windows::set_window_spent(&mut st.window_status_list[0], m("2"));
    let (_, st) = refunded(&r, &st, SignedDuration::ZERO, "2026-11-22T10:30:00Z");
    assert_eq!(spent(&st), [Money::ZERO, Money::ZERO]);
}

#[test]
fn refunds_prorate_per_group_and_round_down() {
    let r = record("j1", &[("short", "1", 3600), ("long", "10", 10 * 3600)]);
    let r = ReservationRecord {
        state: ReservationState::Charged,
        ..r
    };
    let table: [(SignedDuration, &str, &str); 5] = [
        (SignedDuration::ZERO, "0", "11"),
        (SignedDuration::from_mins(30), "1", "10"), // 0.5 + 0.5
        (SignedDuration::from_hours(2), "3", "8"),  // 1 (capped) + 2
        (SignedDuration::from_hours(100), "11", "0"), // overran: keeps everything, never more
        (SignedDuration::from_secs(-5), "0", "11"), // a negative runtime counts as zero
    ];
    for (runtime, actual, refund) in table {
        let p = ledger::plan_refund(&r, runtime).unwrap();
        assert_eq!(
            (p.actual_cost, p.refund),
            (Some(m(actual)), Some(m(refund))),
            "{runtime}"
        );
    }
    // A third of an hour of 1.00 is 0.333333333…: the actual cost rounds up, the refund down.
    let one = ReservationRecord {
        state: ReservationState::Charged,
        ..record("j2", &[("g", "1", 3600)])
    };
    let p = ledger::plan_refund(&one, SignedDuration::from_mins(20)).unwrap();
    assert_eq!(
        (p.actual_cost, p.refund),
        (Some(m("0.333333334")), Some(m("0.666666666")))
    );
}

#[test]
fn steps_refuse_the_wrong_state_or_entry() {
    let r = record("j1", &[("main", "8", 3600)]);
    assert!(matches!(
        ledger::plan_refund(&r, SignedDuration::ZERO),
        Err(LedgerError::WrongState { .. })
    ));
    let other = ledger::apply_charge(
        &BatchBudgetStatus::default(),
        &plan(),
        &Charge {
            id: "j2".into(),
            job: "ns/other".into(),
            amount: m("1"),
            ceiling: m("1"),
        },
        ts("2026-11-22T10:00:00Z"),
    );
    assert!(matches!(
        ledger::ack_charge(&r, &other.entry),
        Err(LedgerError::EntryMismatch { .. })
    ));
    let (c, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    // Acknowledging again is harmless.
    assert_eq!(ledger::ack_charge(&c, &st.ledger[0]).unwrap(), c);
    assert!(matches!(
        ledger::ack_refund(&c, &st.ledger[0]),
        Err(LedgerError::WrongState { .. })
    ));
    // Planning the refund twice gives the same record.
    let p = ledger::plan_refund(&c, SignedDuration::from_mins(6)).unwrap();
    assert_eq!(ledger::plan_refund(&p, SignedDuration::ZERO).unwrap(), p);
}

#[test]
fn next_step_follows_the_record_and_the_budget_ledger() {
    let r = record("j1", &[("main", "8", 3600)]);
    let empty = BatchBudgetStatus::default();
    assert_eq!(
        ledger::next_step(None, false, &empty, "ns/job"),
        LedgerStep::Idle
    );
    assert_eq!(
        ledger::next_step(None, true, &empty, "ns/job"),
        LedgerStep::Idle
    );
    assert!(matches!(
        ledger::next_step(Some(&r), false, &empty, "ns/job"),
        LedgerStep::ApplyCharge(_)
    ));
    let applied = ledger::apply_charge(
        &empty,
        &plan(),
        &charge_of(&r, &empty),
        ts("2026-11-22T10:00:00Z"),
    );
    assert_eq!(
        ledger::next_step(Some(&r), false, &applied.status, "ns/job"),
        LedgerStep::AckCharge(applied.entry.clone())
    );
    let c = ledger::ack_charge(&r, &applied.entry).unwrap();
    let p = ledger::plan_refund(&c, SignedDuration::ZERO).unwrap();
    assert!(matches!(
        ledger::next_step(Some(&p), true, &applied.status, "ns/job"),
        LedgerStep::ApplyRefund(_)
    ));
}

#[test]
fn a_charge_entry_stays_until_the_refund_is_acknowledged() {
    let r = record("j1", &[("main", "8", 3600)]);
    let empty = BatchBudgetStatus::default();
    let (c, st) = charged(&r, &empty, "2026-11-22T10:00:00Z");
    let entry = st.ledger[0].clone();
    for (view, why) in [
        (None, "unknown job"),
        (Some(&r), "still Charging"),
        (Some(&c), "Charged: the entry is what bounds its refund"),
    ] {
        assert!(!ledger::acknowledged(&entry, view), "{why}");
        let (kept, removed) = ledger::prune(&st, |e| ledger::acknowledged(e, view));
        assert_eq!((removed, kept.ledger.len()), (0, 1), "{why}");
    }
    let (done, st) = refunded(
        &c,
        &st,
        SignedDuration::from_mins(30),
        "2026-11-22T10:30:00Z",
    );
    assert_eq!(
        st.ledger.len(),
        1,
        "the Refund entry replaced the Charge entry"
    );
    assert_eq!(st.ledger[0].kind, LedgerEntryKind::Refund);
    let (pruned, removed) = ledger::prune(&st, |e| ledger::acknowledged(e, Some(&done)));
    assert_eq!((removed, pruned.ledger.len()), (1, 0));
}

/// The record's word against the budget's: a refund is at most the charged amount less the
/// claimed actual cost, given to the windows the Charge entry names, and only once.
#[test]
fn a_refund_is_bounded_by_the_budgets_own_charge_entry() {
    struct Case {
        name: &'static str,
        /// Alters the charged record before the refund is planned.
        alter: fn(&mut ReservationRecord),
        /// Whether the Charge entry is gone (refunded already, or never charged).
        no_charge_entry: bool,
        given: &'static str,
        withheld: &'static str,
    }
    let cases = [
        Case {
            name: "honest: 6 of 8 back after 1 of 4 hours",
            alter: |_| {},
            no_charge_entry: false,
            given: "6",
            withheld: "0",
        },
        Case {
            name: "claims a reservation of 1000",
            alter: |r| r.amount = m("1000"),
            no_charge_entry: false,
            given: "6",
            withheld: "992",
        },
        Case {
            name: "claims 1000 per group, so a larger actual cost: nothing left to give",
            alter: |r| {
                r.amount = m("1000");
                r.groups[0].amount = m("1000");
            },
            no_charge_entry: false,
            given: "0",
            withheld: "750",
        },
        Case {
            name: "claims a wall time of a year: at most the whole charge back",
            alter: |r| r.groups[0].max_wall_time_seconds = 365 * 24 * 3600,
            no_charge_entry: false,
            given: "7.999086757",
            withheld: "0",
        },
        Case {
            name: "replayed after its refund: no Charge entry, nothing given",
            alter: |_| {},
            no_charge_entry: true,
            given: "0",
            withheld: "6",
        },
    ];
    for case in cases {
        let r = record("j1", &[("main", "8", 4 * 3600)]);
        let other = record("j2", &[("main", "5", 3600)]);
        let (mut c, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
        let (_, mut st) = charged(&other, &st, "2026-11-22T10:00:00Z");
        (case.alter)(&mut c);
        if case.no_charge_entry {
            st.ledger.retain(|e| e.id != "j1");
        }
        let planned = ledger::plan_refund(&c, SignedDuration::from_hours(1)).unwrap();
        let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&planned), true, &st, "ns/j1")
        else {
            panic!("{}: expected a refund", case.name)
        };
        let applied = ledger::apply_refund(&st, &plan(), &refund, ts("2026-11-22T11:00:00Z"));
        assert!(applied.applied, "{}", case.name);
        assert_eq!(applied.entry.amount, m(case.given), "{}", case.name);
        assert_eq!(applied.withheld, m(case.withheld), "{}", case.name);
        let expected = m("13").saturating_sub(m(case.given));
        assert_eq!(
            spent(&applied.status),
            [expected, expected],
            "{}",
            case.name
        );
        let acked = ledger::ack_refund(&planned, &applied.entry).unwrap();
        assert_eq!(
            acked.refund,
            Some(m(case.given)),
            "{}: the record says what was given",
            case.name
        );
        // Applying it again (a replay of the same step) gives nothing more.
        let again = ledger::apply_refund(
            &applied.status,
            &plan(),
            &refund,
            ts("2026-11-22T11:00:00Z"),
        );
        assert!(!again.applied, "{}", case.name);
        assert_eq!(
            spent(&again.status),
            spent(&applied.status),
            "{}",
            case.name
        );
    }
}

#[test]
fn charges_beyond_the_amount_are_reported_not_refused() {
    let r = record("j1", &[("main", "150", 3600)]);
    let empty = BatchBudgetStatus::default();
    let applied = ledger::apply_charge(
        &empty,
        &plan(),
        &charge_of(&r, &empty),
        ts("2026-11-22T10:00:00Z"),
    );
    assert!(applied.applied);
    assert_eq!(applied.overdrawn, ["24h"]);
}

#[test]
fn plan_charge_records_the_cost_per_group() {
    let mut job: BatchJob = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "render", "namespace": "ns", "uid": "u-1"},
        "spec": {"batchQueueName": "q", "taskGroups": [
            {"name": "a", "maxWallTime": "2h", "template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}}
        ]}
    }))
    .unwrap();
    let spec: &BatchJobSpec = &job.spec;
    let cost = CostModel::new(m("0.5"), Money::ZERO, Money::ZERO)
        .job_cost(spec)
        .unwrap();
    let r = ledger::plan_charge(&job, "team-a", &cost, ts("2026-11-22T10:00:00.5Z")).unwrap();
    assert_eq!(
        (r.id.as_str(), r.amount, r.state),
        ("u-1", m("1"), ReservationState::Charging)
    );
    assert_eq!(
        r.groups,
        [ReservedGroup {
            name: "a".into(),
            amount: m("1"),
            max_wall_time_seconds: 7200,
            task_count: 1,
            runs_per_task: 1,
        }]
    );
    assert_eq!(
        r.requested_at.0,
        ts("2026-11-22T10:00:00Z"),
        "stored to the second"
    );
    // Planning again returns the record already written.
    job.status = Some(crate::api::BatchJobStatus {
        reservation: Some(ledger::retry(&r)),
        ..Default::default()
    });
    assert_eq!(
        ledger::plan_charge(&job, "team-a", &cost, ts("2026-11-22T11:00:00Z"))
            .unwrap()
            .attempt,
        1
    );
    job.metadata.uid = None;
    assert_eq!(
        ledger::plan_charge(&job, "team-a", &cost, ts("2026-11-22T11:00:00Z")),
        Err(LedgerError::NoUid)
    );
}

#[test]
fn records_round_trip_through_json() {
    let r = record("j1", &[("main", "8.125", 3600)]);
    let (r, _) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["amount"], "8.125");
    assert_eq!(json["state"], "Charged");
    assert_eq!(json["windows"][0]["startTime"], "2026-11-22T00:00:00Z");
    let back: ReservationRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

/// A group of 2 tasks, 1 h each, 1.00 a task-hour, `runs` runs per task.
fn retried(runs: u32) -> ReservationRecord {
    let mut r = record("j1", &[("main", "2", 3600)]);
    r.groups[0].task_count = 2;
    r.groups[0].runs_per_task = runs;
    r
}

#[test]
fn actual_cost_bills_task_time_up_to_every_allowed_run() {
    use crate::budget::Usage;
    let hours = |h: i64| SignedDuration::from_hours(h);
    let usage = |job: i64, task: Option<i64>| Usage {
        job: hours(job),
        tasks: task
            .map(|t| [("main".to_owned(), hours(t))].into_iter().collect())
            .unwrap_or_default(),
    };
    let cases = [
        // (name, runs, usage, cost)
        ("both tasks ran their hour", 3, usage(1, Some(2)), "2"),
        (
            "one task retried twice: 4 task-hours",
            3,
            usage(3, Some(4)),
            "4",
        ),
        ("at most 3 runs of 2 tasks", 3, usage(9, Some(10)), "6"),
        ("pods seen, none ran", 1, usage(1, Some(0)), "0"),
        (
            "no pods read: the job's hour for both tasks",
            3,
            usage(1, None),
            "2",
        ),
        (
            "no pods read, three hours of retries",
            3,
            usage(3, None),
            "6",
        ),
        (
            "no retries allowed: one run at most",
            1,
            usage(5, Some(10)),
            "2",
        ),
    ];
    for (name, runs, usage, cost) in cases {
        assert_eq!(
            ledger::actual_cost(&retried(runs), usage).unwrap(),
            m(cost),
            "{name}"
        );
    }
    // A record written before task counts were kept is billed by the job's run time.
    let mut old = retried(1);
    old.groups[0].task_count = 0;
    assert_eq!(
        ledger::actual_cost(&old, usage(1, Some(0))).unwrap(),
        m("2")
    );
}

#[test]
fn retries_beyond_the_reservation_are_charged_within_the_ceiling() {
    use crate::budget::Usage;
    let r = retried(3);
    assert_eq!(r.ceiling(), m("6"));
    let (c, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    assert_eq!(st.ledger[0].ceiling, Some(m("6")));
    let usage = Usage {
        job: SignedDuration::from_hours(5),
        tasks: [("main".to_owned(), SignedDuration::from_hours(5))]
            .into_iter()
            .collect(),
    };
    let planned = ledger::plan_refund(&c, usage).unwrap();
    assert_eq!(
        planned.refund,
        Some(m("-3")),
        "5 task-hours on a reservation of 2"
    );
    let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&planned), true, &st, "ns/j1")
    else {
        panic!("expected a refund")
    };
    let applied = ledger::apply_refund(&st, &plan(), &refund, ts("2026-11-22T15:00:00Z"));
    assert_eq!((applied.entry.amount, applied.withheld), (m("-3"), m("0")));
    assert_eq!(
        spent(&applied.status),
        [m("5"), m("5")],
        "charged the difference"
    );
    let done = ledger::ack_refund(&planned, &applied.entry).unwrap();
    assert_eq!(ledger::consumed(&done), m("5"));

    // A record claiming more than the ceiling allows charges only up to it.
    let mut forged = refund.clone();
    forged.amount = m("-100");
    forged.actual_cost = m("102");
    let applied = ledger::apply_refund(&st, &plan(), &forged, ts("2026-11-22T15:00:00Z"));
    assert_eq!((applied.entry.amount, applied.withheld), (m("-4"), m("96")));
    assert_eq!(spent(&applied.status), [m("6"), m("6")]);
}

#[test]
fn a_pod_shows_its_run_its_group_and_whether_it_was_preempted() {
    use crate::budget::TaskRun;
    use k8s_openapi::api::core::v1::Pod;
    let pod =
        |labels: serde_json::Value, state: serde_json::Value, conditions: serde_json::Value| {
            serde_json::from_value::<Pod>(json!({
                "metadata": {"name": "p", "labels": labels},
                "status": {"conditions": conditions, "containerStatuses": [
                    {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                     "state": state}]}
            }))
            .unwrap()
        };
    let group = json!({"kbatch.k8s.io/task-group": "main"});
    let ended = json!({"terminated": {"exitCode": 1, "startedAt": "2026-11-22T10:00:00Z",
        "finishedAt": "2026-11-22T10:05:00Z"}});
    let running = json!({"running": {"startedAt": "2026-11-22T10:00:00Z"}});
    let waiting = json!({"waiting": {"reason": "ContainerCreating"}});
    let preempted = json!([{"type": "DisruptionTarget", "status": "True"}]);
    let now = ts("2026-11-22T10:10:00Z");
    let cases = [
        (
            "ended",
            pod(group.clone(), ended.clone(), json!([])),
            Some(("10:05", false)),
        ),
        (
            "running",
            pod(group.clone(), running, json!([])),
            Some(("running", false)),
        ),
        (
            "preempted",
            pod(group.clone(), ended.clone(), preempted),
            Some(("10:05", true)),
        ),
        (
            "never started",
            pod(group.clone(), waiting, json!([])),
            None,
        ),
        ("no group label", pod(json!({}), ended, json!([])), None),
    ];
    for (name, pod, expected) in cases {
        let run = TaskRun::of_pod(&pod);
        let seen = run.as_ref().map(|r| {
            let end = r
                .finished
                .map_or("running".to_owned(), |t| t.strftime("%H:%M").to_string());
            (end, r.preempted)
        });
        assert_eq!(seen, expected.map(|(end, p)| (end.to_owned(), p)), "{name}");
        if let Some(run) = run {
            assert_eq!(run.group, "main", "{name}");
            assert_eq!(run.started, ts("2026-11-22T10:00:00Z"), "{name}");
            let billed = crate::budget::task_time(&[run], now)["main"];
            let minutes = match (name, expected) {
                ("preempted", _) => 0,
                ("running", _) => 10,
                _ => 5,
            };
            assert_eq!(billed, SignedDuration::from_mins(minutes), "{name}");
        }
    }
}

#[test]
fn catch_up_reads_each_acknowledgement_from_the_budget() {
    use ReservationState::{Charged, Charging, Refunded, Refunding};
    let intent = record("j1", &[("main", "8", 4 * 3600)]);
    let empty = BatchBudgetStatus::default();
    let (acked, with_charge) = charged(&intent, &empty, "2026-11-22T10:00:00Z");
    let (settled, with_refund) = refunded(
        &acked,
        &with_charge,
        SignedDuration::from_hours(1),
        "2026-11-22T11:00:00Z",
    );
    let (pruned, _) = ledger::prune(&with_refund, |e| ledger::acknowledged(e, Some(&settled)));
    let in_state = |state| ReservationRecord {
        state,
        ..acked.clone()
    };
    // (what, record, budget, state after catch_up)
    let table = [
        (
            "an intent the budget has not charged",
            intent.clone(),
            &empty,
            Charging,
        ),
        (
            "an intent the budget charged",
            intent.clone(),
            &with_charge,
            Charged,
        ),
        (
            "an intent charged and refunded",
            intent.clone(),
            &with_refund,
            Refunding,
        ),
        (
            "a charged record, refund applied",
            acked.clone(),
            &with_refund,
            Refunding,
        ),
        (
            "a charged record, the budget unchanged",
            acked.clone(),
            &with_charge,
            Charged,
        ),
        (
            "a charged record, entries pruned",
            acked.clone(),
            &pruned,
            Charged,
        ),
        (
            "a refunding record",
            in_state(Refunding),
            &with_refund,
            Refunding,
        ),
        ("a settled record", settled.clone(), &pruned, Refunded),
        (
            "an intent, entries pruned (stale view)",
            intent.clone(),
            &pruned,
            Charging,
        ),
    ];
    for (what, r, budget, expected) in table {
        assert_eq!(ledger::catch_up(&r, budget).state, expected, "{what}");
    }
    // Caught up from the Charge entry, the record is the one J2 would have written.
    assert_eq!(ledger::catch_up(&intent, &with_charge), acked);
    // Then the acknowledgement of the refund follows from the Refund entry.
    let caught = ledger::catch_up(&intent, &with_refund);
    let LedgerStep::AckRefund(entry) =
        ledger::next_step(Some(&caught), true, &with_refund, "ns/job")
    else {
        panic!("expected the refund's acknowledgement")
    };
    let done = ledger::ack_refund(&caught, &entry).unwrap();
    assert_eq!(
        (done.refund, done.actual_cost),
        (settled.refund, settled.actual_cost)
    );
}

#[test]
fn the_actual_cost_is_the_budgets_word_on_every_retry() {
    let r = record("j1", &[("main", "8", 4 * 3600)]);
    let (r, st) = charged(&r, &BatchBudgetStatus::default(), "2026-11-22T10:00:00Z");
    // Priced after 1 h, applied; the acknowledgement is lost (a crash).
    let (first, st) = refunded(
        &r,
        &st,
        SignedDuration::from_hours(1),
        "2026-11-22T11:00:00Z",
    );
    // Asked again later, the record's own estimate has changed: the budget's has not.
    let again = ledger::plan_refund(&r, SignedDuration::from_hours(2)).unwrap();
    let LedgerStep::AckRefund(entry) = ledger::next_step(Some(&again), true, &st, "ns/job") else {
        panic!("the refund is applied already")
    };
    let acked = ledger::ack_refund(&again, &entry).unwrap();
    assert_eq!(acked.actual_cost, Some(m("2")));
    assert_eq!(acked.actual_cost, first.actual_cost);
    assert_eq!(ledger::consumed(&acked), m("2"));
}
