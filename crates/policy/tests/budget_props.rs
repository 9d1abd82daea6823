//! Properties of money, cost and budget windows.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use jiff::{SignedDuration, Timestamp};
use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus, BatchJobSpec};
use kbatch_policy::budget::ledger::{self, Charge, LedgerStep};
use kbatch_policy::budget::{
    BudgetPlan, CostModel, Money, ReservationRecord, ReservationState, ReservedGroup, record_spent,
    roll_windows, window_spent,
};
use proptest::prelude::*;
use serde_json::json;

fn plan() -> BudgetPlan {
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": 100}, {"duration": "720h", "amount": 1000}]
    }))
    .unwrap();
    BudgetPlan::from_spec("b", &spec, None).unwrap()
}

fn origin() -> Timestamp {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn job_spec(cpu_milli: u64, mem_mi: u64, gpus: u64, tasks: i32, wall_minutes: u64) -> BatchJobSpec {
    serde_json::from_value(json!({
        "batchQueueName": "q",
        "taskGroups": [{
            "name": "g", "maxWallTime": format!("{wall_minutes}m"), "indexSpec": {"taskCount": tasks},
            "template": {"spec": {"containers": [{"name": "c", "resources": {
                "requests": {"cpu": format!("{cpu_milli}m"), "memory": format!("{mem_mi}Mi")},
                "limits": {"nvidia.com/gpu": gpus.to_string()}
            }}]}}
        }]
    }))
    .unwrap()
}

fn money() -> impl Strategy<Value = Money> {
    (0_i128..1_000_000_000_000_000).prop_map(Money::from_nanos)
}

fn record(id: &str, amount: Money, wall_seconds: u64) -> ReservationRecord {
    ReservationRecord {
        id: id.into(),
        budget: "b".into(),
        amount,
        groups: vec![ReservedGroup {
            name: "g".into(),
            amount,
            max_wall_time_seconds: wall_seconds,
            task_count: 0,
            runs_per_task: 1,
        }],
        state: ReservationState::Charging,
        attempt: 0,
        requested_at: origin().into(),
        charged_at: None,
        windows: vec![],
        actual_cost: None,
        refund: None,
        refunded_at: None,
        refund_windows: vec![],
    }
}

/// Σ of a status's windows of one length, current and history.
fn all_windows(status: &BatchBudgetStatus, duration: &str) -> Money {
    status
        .window_status_list
        .iter()
        .filter(|w| w.duration == duration)
        .map(|w| {
            w.window_history
                .iter()
                .map(record_spent)
                .fold(window_spent(w), |a, m| a.checked_add(m).unwrap())
        })
        .fold(Money::ZERO, |a, m| a.checked_add(m).unwrap())
}

proptest! {
    #[test]
    fn money_display_parses_back(nanos in any::<i128>()) {
        let m = Money::from_nanos(nanos);
        prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }

    #[test]
    fn decimal_text_survives_parse_and_display(units in 0_u64..1_000_000_000_000, frac in 0_u32..1_000_000_000, digits in 0_usize..=9, negative: bool) {
        let frac = format!("{frac:09}");
        let text = if digits == 0 { units.to_string() } else { format!("{units}.{}", &frac[..digits]) };
        let text = if negative { format!("-{text}") } else { text };
        let m = Money::parse(&text).unwrap();
        let shown = m.to_string();
        prop_assert_eq!(Money::parse(&shown).unwrap(), m);
        // Display only pads to two decimals or trims zeros: the value is the same text.
        let canonical = |s: &str| {
            let s = s.trim_start_matches('-');
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            format!("{}.{}", int.trim_start_matches('0'), frac.trim_end_matches('0'))
        };
        prop_assert_eq!(canonical(&shown), canonical(&text));
    }

    #[test]
    fn money_through_f64_round_trips_below_a_million(nanos in -1_000_000_000_000_000_i128..1_000_000_000_000_000) {
        let m = Money::from_nanos(nanos);
        prop_assert_eq!(Money::from_f64(m.to_f64()), Ok(m));
    }

    #[test]
    fn cost_is_monotonic_in_resources_tasks_and_time(
        cpu in 0_u64..64_000, mem in 0_u64..262_144, gpus in 0_u64..8, tasks in 1_i32..1000, wall in 1_u64..10_000,
        which in 0_usize..5, more in 1_u64..1000,
        prices in (0_i128..10_000_000_000, 0_i128..10_000_000_000, 0_i128..10_000_000_000),
    ) {
        let model = CostModel::new(Money::from_nanos(prices.0), Money::from_nanos(prices.1), Money::from_nanos(prices.2));
        let base = model.job_cost(&job_spec(cpu, mem, gpus, tasks, wall)).unwrap();
        let bigger = match which {
            0 => job_spec(cpu + more, mem, gpus, tasks, wall),
            1 => job_spec(cpu, mem + more, gpus, tasks, wall),
            2 => job_spec(cpu, mem, gpus + more % 8, tasks, wall),
            3 => job_spec(cpu, mem, gpus, (tasks + i32::try_from(more).unwrap()).min(1000), wall),
            _ => job_spec(cpu, mem, gpus, tasks, wall + more),
        };
        let bigger = model.job_cost(&bigger).unwrap();
        prop_assert!(bigger.reservation >= base.reservation);
        prop_assert!(bigger.hourly >= base.hourly);
        // The exact rate r lies in (hourly − 1 nano, hourly]; the reservation is ⌈r × wall⌉:
        // (hourly − 1) × wall < 60 × reservation < hourly × wall + 60 (wall in minutes).
        let (hourly, reservation, wall) = (base.hourly.nanos(), base.reservation.nanos(), i128::from(wall));
        prop_assert!(60 * reservation > (hourly - 1) * wall || reservation == 0);
        prop_assert!(60 * reservation < hourly * wall + 60);
    }

    #[test]
    fn charge_then_full_refund_returns_exactly_to_the_start(
        start in prop::collection::vec(money(), 2),
        amount in money(),
        wall_hours in 1_u64..100,
        minutes_later in 0_i64..(30 * 24 * 60),
    ) {
        let now = origin().checked_add(SignedDuration::from_mins(minutes_later)).unwrap();
        let mut status = roll_windows(&BatchBudgetStatus::default(), &plan(), now);
        for (w, m) in status.window_status_list.iter_mut().zip(&start) {
            w.amount = m.to_f64();
            w.amount_exact = Some(*m);
        }
        let before: Vec<Money> = status.window_status_list.iter().map(window_spent).collect();
        let r = record("uid", amount, wall_hours * 3600);
        let charged = ledger::apply_charge(&status, &plan(), &Charge { id: "uid".into(), job: "ns/j".into(), amount, ceiling: amount }, now);
        let r = ledger::ack_charge(&r, &charged.entry).unwrap();
        let r = ledger::plan_refund(&r, SignedDuration::ZERO).unwrap();
        prop_assert_eq!(r.refund, Some(amount));
        let LedgerStep::ApplyRefund(refund) = ledger::next_step(Some(&r), true, &charged.status, "ns/j") else {
            panic!("a refund is due")
        };
        let refunded = ledger::apply_refund(&charged.status, &plan(), &refund, now);
        let r = ledger::ack_refund(&r, &refunded.entry).unwrap();
        let (after, _) = ledger::prune(&refunded.status, |e| ledger::acknowledged(e, Some(&r)));
        let amounts: Vec<Money> = after.window_status_list.iter().map(window_spent).collect();
        prop_assert_eq!(amounts, before);
        prop_assert!(after.ledger.is_empty());
    }

    #[test]
    fn partial_refunds_never_exceed_the_charge(amount in money(), wall in 1_u64..1_000_000, runtime in -10_i64..2_000_000) {
        let r = ReservationRecord { state: ReservationState::Charged, ..record("uid", amount, wall) };
        let planned = ledger::plan_refund(&r, SignedDuration::from_secs(runtime)).unwrap();
        let (actual, refund) = (planned.actual_cost.unwrap(), planned.refund.unwrap());
        prop_assert!(refund >= Money::ZERO && refund <= amount);
        prop_assert_eq!(actual.checked_add(refund), Some(amount));
    }

    #[test]
    fn window_rollover_never_loses_or_duplicates_amounts(
        events in prop::collection::vec((0_i64..(24 * 60 * 3), 0_i128..1_000_000_000_000, any::<bool>()), 1..60),
    ) {
        // Within 90 days nothing leaves the history: every window's totals equal the charges.
        let plan = plan();
        let mut now = origin();
        let mut status = BatchBudgetStatus::default();
        let mut total = Money::ZERO;
        for (i, (minutes, nanos, roll_twice)) in events.into_iter().enumerate() {
            let next = now.checked_add(SignedDuration::from_mins(minutes)).unwrap();
            if next >= origin().checked_add(SignedDuration::from_hours(89 * 24)).unwrap() {
                break;
            }
            now = next;
            status = roll_windows(&status, &plan, now);
            if roll_twice {
                prop_assert_eq!(roll_windows(&status, &plan, now), status.clone());
            }
            let amount = Money::from_nanos(nanos);
            let applied = ledger::apply_charge(&status, &plan, &Charge { id: format!("c{i}"), job: String::new(), amount, ceiling: amount }, now);
            status = applied.status;
            total = total.checked_add(amount).unwrap();
            prop_assert_eq!(all_windows(&status, "24h"), total);
            prop_assert_eq!(all_windows(&status, "720h"), total);
        }
        // Rolling far ahead (still within retention of the last charge) keeps the totals.
        let later = roll_windows(&status, &plan, now.checked_add(SignedDuration::from_hours(24)).unwrap());
        prop_assert_eq!(all_windows(&later, "24h"), total);
    }
}
