//! Budget windows: plans, rolling, admission checks.

use crate::api::{BatchBudgetSpec, BatchBudgetStatus};
use crate::budget::{
    BudgetBook, BudgetPlan, BudgetSpecError, Money, can_reserve, record_spent, roll_windows,
    window_spent,
};
use jiff::Timestamp;
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn plan(windows: serde_json::Value, start: &str) -> BudgetPlan {
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": start, "budgetWindows": windows
    }))
    .unwrap();
    BudgetPlan::from_spec("team-a", &spec, None).unwrap()
}

fn daily_and_monthly() -> BudgetPlan {
    plan(
        json!([{"duration": "720h", "amount": 1000}, {"duration": "24h", "amount": 100}]),
        "2026-11-01T00:00:00Z",
    )
}

fn status(windows: serde_json::Value) -> BatchBudgetStatus {
    serde_json::from_value(json!({"windowStatusList": windows})).unwrap()
}

#[test]
fn plans_sort_windows_and_default_the_origin_to_the_creation_time() {
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke",
        "budgetWindows": [{"duration": "30d", "amount": 1000.5}, {"duration": "1d", "amount": 100}]
    }))
    .unwrap();
    let p = BudgetPlan::from_spec("b", &spec, Some(ts("2026-11-01T09:30:00.75Z"))).unwrap();
    assert_eq!(
        p.origin,
        ts("2026-11-01T09:30:00Z"),
        "truncated to whole seconds"
    );
    let labels: Vec<(&str, i64, Money)> = p
        .windows
        .iter()
        .map(|w| (w.label.as_str(), w.seconds, w.limit))
        .collect();
    assert_eq!(
        labels,
        [("1d", 86_400, m("100")), ("30d", 2_592_000, m("1000.5"))]
    );
    assert_eq!(
        BudgetPlan::from_spec("b", &spec, None),
        Err(BudgetSpecError::NoOrigin("b".into()))
    );
}

#[test]
fn plans_refuse_duplicate_durations_and_bad_amounts() {
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": 1}, {"duration": "1d", "amount": 2}]
    }))
    .unwrap();
    assert!(matches!(
        BudgetPlan::from_spec("b", &spec, None),
        Err(BudgetSpecError::Duplicate { index: 1, .. })
    ));
    let spec: BatchBudgetSpec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": -1}]
    }))
    .unwrap();
    assert!(matches!(
        BudgetPlan::from_spec("b", &spec, None),
        Err(BudgetSpecError::Amount { index: 0, .. })
    ));
}

#[test]
fn windows_align_to_the_origin() {
    let p = plan(
        json!([{"duration": "24h", "amount": 1}]),
        "2026-11-01T06:00:00Z",
    );
    let w = &p.windows[0];
    assert_eq!(
        p.window_at(w, ts("2026-11-22T05:59:59Z")),
        (ts("2026-11-21T06:00:00Z"), ts("2026-11-22T06:00:00Z"))
    );
    assert_eq!(
        p.window_at(w, ts("2026-11-22T06:00:00Z")),
        (ts("2026-11-22T06:00:00Z"), ts("2026-11-23T06:00:00Z"))
    );
    // Before the origin, the grid extends backwards.
    assert_eq!(
        p.window_at(w, ts("2026-10-31T07:00:00Z")).0,
        ts("2026-10-31T06:00:00Z")
    );
}

#[test]
fn rolling_opens_missing_windows_at_zero() {
    let rolled = roll_windows(
        &BatchBudgetStatus::default(),
        &daily_and_monthly(),
        ts("2026-11-22T10:00:00Z"),
    );
    let got: Vec<(&str, String, Money)> = rolled
        .window_status_list
        .iter()
        .map(|w| {
            (
                w.duration.as_str(),
                w.start_time.0.to_string(),
                window_spent(w),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("24h", "2026-11-22T00:00:00Z".into(), Money::ZERO),
            ("720h", "2026-11-01T00:00:00Z".into(), Money::ZERO)
        ]
    );
    assert_eq!(
        rolled.last_updated.map(|t| t.0),
        Some(ts("2026-11-22T10:00:00Z"))
    );
}

#[test]
fn rolling_is_idempotent_within_a_window() {
    let p = daily_and_monthly();
    let once = roll_windows(
        &BatchBudgetStatus::default(),
        &p,
        ts("2026-11-22T10:00:00Z"),
    );
    let again = roll_windows(&once, &p, ts("2026-11-22T23:59:59Z"));
    assert_eq!(once, again, "nothing due: not even lastUpdated changes");
}

#[test]
fn rolling_closes_a_finished_window_into_history() {
    let p = daily_and_monthly();
    let st = status(json!([
        {"duration": "24h", "startTime": "2026-11-21T00:00:00Z", "amount": 42.5},
        {"duration": "720h", "startTime": "2026-11-01T00:00:00Z", "amount": 300}
    ]));
    let rolled = roll_windows(&st, &p, ts("2026-11-22T00:00:00Z"));
    let day = &rolled.window_status_list[0];
    assert_eq!(day.start_time.0, ts("2026-11-22T00:00:00Z"));
    assert_eq!(window_spent(day), Money::ZERO);
    assert_eq!(day.window_history.len(), 1);
    let h = &day.window_history[0];
    assert_eq!(
        (h.window_start_time.0, h.window_end_time.0),
        (ts("2026-11-21T00:00:00Z"), ts("2026-11-22T00:00:00Z"))
    );
    assert_eq!(record_spent(h), m("42.5"));
    let month = &rolled.window_status_list[1];
    assert_eq!(
        (window_spent(month), month.window_history.len()),
        (m("300"), 0)
    );
}

#[test]
fn rolling_after_a_gap_records_each_skipped_window_empty() {
    let p = daily_and_monthly();
    let st = status(json!([{"duration": "24h", "startTime": "2026-11-18T00:00:00Z", "amount": 7}]));
    let rolled = roll_windows(&st, &p, ts("2026-11-22T12:00:00Z"));
    let history: Vec<(String, Money)> = rolled.window_status_list[0]
        .window_history
        .iter()
        .map(|h| (h.window_start_time.0.to_string(), record_spent(h)))
        .collect();
    assert_eq!(
        history,
        [
            ("2026-11-18T00:00:00Z".into(), m("7")),
            ("2026-11-19T00:00:00Z".into(), Money::ZERO),
            ("2026-11-20T00:00:00Z".into(), Money::ZERO),
            ("2026-11-21T00:00:00Z".into(), Money::ZERO),
        ]
    );
}

#[test]
fn history_keeps_ninety_days_and_three_months() {
    let p = daily_and_monthly();
    let st = status(json!([
        {"duration": "24h", "startTime": "2026-11-01T00:00:00Z", "amount": 1},
        {"duration": "720h", "startTime": "2026-11-01T00:00:00Z", "amount": 2}
    ]));
    // Two years later: far more windows passed than are kept.
    let rolled = roll_windows(&st, &p, ts("2028-11-01T12:00:00Z"));
    let day = &rolled.window_status_list[0];
    let month = &rolled.window_status_list[1];
    assert_eq!(
        (day.window_history.len(), month.window_history.len()),
        (90, 3)
    );
    // The newest are kept, contiguous up to the current window.
    assert_eq!(day.window_history[89].window_end_time, day.start_time);
    assert_eq!(month.window_history[2].window_end_time, month.start_time);
    // And they are all empty: the old amounts are beyond retention.
    assert!(
        day.window_history
            .iter()
            .all(|h| record_spent(h) == Money::ZERO)
    );
}

#[test]
fn a_removed_window_is_dropped_and_an_added_one_opens_at_zero() {
    let st = status(json!([
        {"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 9},
        {"duration": "720h", "startTime": "2026-11-01T00:00:00Z", "amount": 90}
    ]));
    let only_monthly = plan(
        json!([{"duration": "720h", "amount": 1000}]),
        "2026-11-01T00:00:00Z",
    );
    let rolled = roll_windows(&st, &only_monthly, ts("2026-11-22T10:00:00Z"));
    assert_eq!(rolled.window_status_list.len(), 1);
    assert_eq!(window_spent(&rolled.window_status_list[0]), m("90"));

    let back = roll_windows(&rolled, &daily_and_monthly(), ts("2026-11-22T11:00:00Z"));
    assert_eq!(back.window_status_list[0].duration, "24h");
    assert_eq!(window_spent(&back.window_status_list[0]), Money::ZERO);
}

#[test]
fn renaming_a_duration_keeps_the_window() {
    let st = status(json!([{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 9}]));
    let p = plan(
        json!([{"duration": "1d", "amount": 100}]),
        "2026-11-01T00:00:00Z",
    );
    let rolled = roll_windows(&st, &p, ts("2026-11-22T10:00:00Z"));
    assert_eq!(rolled.window_status_list[0].duration, "1d");
    assert_eq!(window_spent(&rolled.window_status_list[0]), m("9"));
}

#[test]
fn moving_the_start_time_never_wipes_spending() {
    let st =
        status(json!([{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 60}]));
    let moved = plan(
        json!([{"duration": "24h", "amount": 100}]),
        "2026-11-01T06:00:00Z",
    );
    // Still inside the old window: its amount moves to the new grid's current window.
    let rolled = roll_windows(&st, &moved, ts("2026-11-22T10:00:00Z"));
    let w = &rolled.window_status_list[0];
    assert_eq!(
        (w.start_time.0, window_spent(w)),
        (ts("2026-11-22T06:00:00Z"), m("60"))
    );
    assert!(w.window_history.is_empty());
    // Past the old window's end: it is closed as it was, without gap records.
    let rolled = roll_windows(&st, &moved, ts("2026-11-24T10:00:00Z"));
    let w = &rolled.window_status_list[0];
    assert_eq!(
        (w.start_time.0, window_spent(w)),
        (ts("2026-11-24T06:00:00Z"), Money::ZERO)
    );
    assert_eq!(w.window_history.len(), 1);
    assert_eq!(
        w.window_history[0].window_end_time.0,
        ts("2026-11-23T00:00:00Z")
    );
}

#[test]
fn windows_never_move_backwards_when_the_clock_does() {
    let p = daily_and_monthly();
    let st = roll_windows(
        &BatchBudgetStatus::default(),
        &p,
        ts("2026-11-22T10:00:00Z"),
    );
    assert_eq!(roll_windows(&st, &p, ts("2026-11-21T23:00:00Z")), st);
    let book = BudgetBook::open(&p, &st, ts("2026-11-21T23:00:00Z"));
    assert_eq!(book.windows[0].renews_at, ts("2026-11-23T00:00:00Z"));
}

#[test]
fn shortfall_message_names_the_window_what_is_left_and_the_renewal() {
    let p = plan(
        json!([{"duration": "24h", "amount": 100}]),
        "2026-11-22T00:00:00Z",
    );
    let st =
        status(json!([{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 96.8}]));
    let short = can_reserve(&st, &p, m("5.1"), ts("2026-11-22T15:00:00Z")).unwrap_err();
    assert_eq!(
        short.to_string(),
        "budget team-a: window 24h has 3.20 of 100.00 left; this job reserves 5.10; \
         the window renews at 2026-11-23T00:00:00Z"
    );
    assert_eq!(short.renews_at(), Some(ts("2026-11-23T00:00:00Z")));
    // Exactly what is left fits.
    assert!(can_reserve(&st, &p, m("3.2"), ts("2026-11-22T15:00:00Z")).is_ok());
    // The next day, the window is fresh.
    assert!(can_reserve(&st, &p, m("5.1"), ts("2026-11-23T00:00:00Z")).is_ok());
}

#[test]
fn shortfall_lists_every_short_window() {
    let p = daily_and_monthly();
    let st = status(json!([
        {"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 99},
        {"duration": "720h", "startTime": "2026-11-01T00:00:00Z", "amount": 998}
    ]));
    let short = can_reserve(&st, &p, m("5"), ts("2026-11-22T15:00:00Z")).unwrap_err();
    assert_eq!(
        short.to_string(),
        "budget team-a: window 24h has 1.00 of 100.00 left, window 720h has 2.00 of 1000.00 left; \
         this job reserves 5.00; the windows renew at 2026-11-23T00:00:00Z (24h) and 2026-12-01T00:00:00Z (720h)"
    );
    assert_eq!(short.renews_at(), Some(ts("2026-12-01T00:00:00Z")));
}

#[test]
fn a_reservation_larger_than_the_window_says_the_amount_must_be_raised() {
    let p = plan(
        json!([{"duration": "24h", "amount": 100}]),
        "2026-11-22T00:00:00Z",
    );
    let short = can_reserve(
        &BatchBudgetStatus::default(),
        &p,
        m("150"),
        ts("2026-11-22T15:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(
        short.to_string(),
        "budget team-a: window 24h has 100.00 of 100.00 left; this job reserves 150.00, \
         more than a whole window: it can only run once the amount is raised"
    );
}

#[test]
fn overdrawn_windows_show_nothing_left() {
    let p = plan(
        json!([{"duration": "24h", "amount": 100}]),
        "2026-11-22T00:00:00Z",
    );
    let st =
        status(json!([{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 120}]));
    let short = can_reserve(&st, &p, m("1"), ts("2026-11-22T15:00:00Z")).unwrap_err();
    assert!(
        short.to_string().contains("has 0.00 of 100.00 left"),
        "{short}"
    );
    assert_eq!(short.windows[0].remaining, m("-20"));
}

#[test]
fn a_book_takes_reservations_one_after_the_other() {
    let p = plan(
        json!([{"duration": "24h", "amount": 10}]),
        "2026-11-22T00:00:00Z",
    );
    let mut book = BudgetBook::open(
        &p,
        &BatchBudgetStatus::default(),
        ts("2026-11-22T15:00:00Z"),
    );
    assert!(book.reserve(m("6")).is_ok());
    assert!(book.reserve(m("6")).is_err(), "only 4 left");
    assert!(book.reserve(m("4")).is_ok());
    assert_eq!(book.windows[0].remaining(), Money::ZERO);
    // A budget without windows is unlimited.
    let unlimited = plan(json!([]), "2026-11-22T00:00:00Z");
    assert!(
        can_reserve(
            &BatchBudgetStatus::default(),
            &unlimited,
            m("1000000"),
            ts("2026-11-22T15:00:00Z")
        )
        .is_ok()
    );
}

#[test]
fn history_limit_handles_any_length() {
    assert_eq!(crate::budget::history_limit(i64::MAX), 1);
    assert_eq!(crate::budget::history_limit(0), 1);
    assert_eq!(crate::budget::history_limit(3600), 2160);
}
