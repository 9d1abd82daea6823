//! Scheduling passes, table by table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::api::{BatchBudgetStatus, JobDependency};
use crate::budget::BudgetPlan;
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

const NOW: &str = "2026-11-22T15:00:00Z";

fn budget(name: &str, daily: f64) -> BudgetInfo {
    let spec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": daily}]
    }))
    .unwrap();
    BudgetInfo::new(
        Ok(BudgetPlan::from_spec(name, &spec, None).unwrap()),
        BatchBudgetStatus::default(),
    )
}

fn spent_budget(name: &str, daily: f64, spent: f64) -> BudgetInfo {
    let mut b = budget(name, daily);
    b.status = serde_json::from_value(json!({
        "windowStatusList": [{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": spent}]
    }))
    .unwrap();
    b
}

/// A Queued job created `minute` minutes after 09:00 reserving `cost`.
fn job(name: &str, queue: &str, minute: i64, cost: &str) -> JobInfo {
    let created = ts("2026-11-22T09:00:00Z")
        .checked_add(jiff::SignedDuration::from_mins(minute))
        .unwrap();
    JobInfo::queued("ns", name, queue, created, Pricing::Priced(m(cost)))
}

fn with_phase(mut j: JobInfo, phase: JobPhase) -> JobInfo {
    j.phase = Some(phase);
    j
}

fn depending(mut j: JobInfo, deps: serde_json::Value) -> JobInfo {
    j.dependencies = serde_json::from_value::<Vec<JobDependency>>(deps).unwrap();
    j
}

fn snapshot(
    queues: Vec<QueueInfo>,
    budgets: Vec<BudgetInfo>,
    jobs: Vec<JobInfo>,
) -> SchedulingSnapshot {
    SchedulingSnapshot {
        queues,
        budgets,
        jobs,
    }
}

/// `name: verdict` for each action, verdict being `start`, `fail:Reason` or
/// `wait:Type1+Type2`.
fn summary(actions: &[Action<'_>]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Start { job, .. } => format!("{}: start", job.name),
            Action::Fail { job, reason, .. } => format!("{}: fail:{reason}", job.name),
            Action::Wait { job, conditions } => {
                let types: Vec<&str> = conditions.iter().map(|c| c.type_).collect();
                format!("{}: wait:{}", job.name, types.join("+"))
            }
        })
        .collect()
}

fn message<'a>(actions: &'a [Action<'_>], name: &str, type_: &str) -> &'a str {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Wait { job, conditions } if job.name == name => conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| c.message.as_str()),
            Action::Fail { job, message, .. } if job.name == name => Some(message.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {type_} for {name} in {actions:?}"))
}

fn run(s: &SchedulingSnapshot) -> Vec<Action<'_>> {
    schedule(s, ts(NOW))
}

#[test]
fn higher_priority_queues_go_first_then_first_come_first_served() {
    let s = snapshot(
        vec![
            QueueInfo::new("ns", "low", 10, "b"),
            QueueInfo::new("ns", "high", 100, "b"),
        ],
        vec![budget("b", 100.0)],
        vec![
            job("low-early", "low", 0, "1"),
            job("high-late", "high", 30, "1"),
            job("high-early", "high", 10, "1"),
            job("low-late", "low", 20, "1"),
        ],
    );
    assert_eq!(
        summary(&run(&s)),
        [
            "high-early: start",
            "high-late: start",
            "low-early: start",
            "low-late: start"
        ]
    );
}

#[test]
fn ties_on_creation_time_break_by_name() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 100.0)],
        vec![
            job("b", "q", 0, "1"),
            job("a", "q", 0, "1"),
            job("c", "q", 0, "1"),
        ],
    );
    assert_eq!(summary(&run(&s)), ["a: start", "b: start", "c: start"]);
}

#[test]
fn the_budget_goes_to_the_higher_priority_queue_first() {
    let s = snapshot(
        vec![
            QueueInfo::new("ns", "low", 10, "b"),
            QueueInfo::new("ns", "high", 100, "b"),
        ],
        vec![budget("b", 10.0)],
        vec![
            job("low-early", "low", 0, "6"),
            job("high-late", "high", 30, "6"),
        ],
    );
    assert_eq!(
        summary(&run(&s)),
        ["high-late: start", "low-early: wait:BudgetExceeded+Waiting"]
    );
}

#[test]
fn paused_queues_hold_their_jobs_and_spend_nothing() {
    let mut paused = QueueInfo::new("ns", "paused", 100, "b");
    paused.paused = true;
    let s = snapshot(
        vec![paused, QueueInfo::new("ns", "open", 1, "b")],
        vec![budget("b", 10.0)],
        vec![job("held", "paused", 0, "10"), job("free", "open", 1, "10")],
    );
    let actions = run(&s);
    assert_eq!(
        summary(&actions),
        ["held: wait:QueuePaused+Waiting", "free: start"]
    );
    assert_eq!(
        message(&actions, "held", "QueuePaused"),
        "queue ns/paused has pauseScheduling set"
    );
}

#[test]
fn only_queued_jobs_are_scheduled_and_a_new_job_is_queued() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 100.0)],
        vec![
            with_phase(job("running", "q", 0, "1"), JobPhase::Running),
            JobInfo {
                phase: None,
                ..job("new", "q", 1, "1")
            },
            with_phase(job("done", "q", 2, "1"), JobPhase::Succeeded),
            job("queued", "q", 3, "1"),
        ],
    );
    // A job the controller has not looked at yet waits like a Queued one: it can start at
    // first sight, without a write saying Queued first.
    assert_eq!(summary(&run(&s)), ["new: start", "queued: start"]);
}

/// (case, dependency type, phase of `dep` or None when missing, expected verdict)
const DEPENDENCY_TABLE: [(&str, &str, Option<JobPhase>, &str); 13] = [
    ("success met", "Success", Some(JobPhase::Succeeded), "start"),
    (
        "success pending",
        "Success",
        Some(JobPhase::Running),
        "wait:DependencyPending+Waiting",
    ),
    (
        "success impossible",
        "Success",
        Some(JobPhase::Failed),
        "fail:DependencyFailed",
    ),
    ("failure met", "Failure", Some(JobPhase::Failed), "start"),
    (
        "failure pending",
        "Failure",
        Some(JobPhase::Queued),
        "wait:DependencyPending+Waiting",
    ),
    (
        "failure impossible",
        "Failure",
        Some(JobPhase::Succeeded),
        "fail:DependencyFailed",
    ),
    (
        "complete after success",
        "Complete",
        Some(JobPhase::Succeeded),
        "start",
    ),
    (
        "complete after failure",
        "Complete",
        Some(JobPhase::Failed),
        "start",
    ),
    (
        "complete pending",
        "Complete",
        Some(JobPhase::Ready),
        "wait:DependencyPending+Waiting",
    ),
    (
        "missing job waits",
        "Success",
        None,
        "wait:DependencyPending+Waiting",
    ),
    (
        "missing job waits for failure",
        "Failure",
        None,
        "wait:DependencyPending+Waiting",
    ),
    (
        "missing job waits for completion",
        "Complete",
        None,
        "wait:DependencyPending+Waiting",
    ),
    (
        "unknown type fails",
        "Sucess",
        Some(JobPhase::Succeeded),
        "fail:DependencyFailed",
    ),
];

#[test]
fn each_dependency_type() {
    for (case, type_, phase, expected) in DEPENDENCY_TABLE {
        let mut jobs = vec![depending(
            job("j", "q", 5, "1"),
            json!([{"dependencyItems": [{"names": ["dep"], "type": type_}]}]),
        )];
        if let Some(p) = phase {
            jobs.push(with_phase(job("dep", "q", 0, "1"), p));
        }
        let s = snapshot(
            vec![QueueInfo::new("ns", "q", 1, "b")],
            vec![budget("b", 100.0)],
            jobs,
        );
        let actions = run(&s);
        let verdict = summary(&actions)
            .into_iter()
            .find_map(|line| line.strip_prefix("j: ").map(str::to_owned))
            .unwrap();
        assert_eq!(verdict, expected, "{case}");
    }
}

#[test]
fn dependency_messages_name_the_jobs_and_why() {
    let deps =
        json!([{"dependencyItems": [{"names": ["render-frames", "prep"], "type": "Success"}]}]);
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 100.0)],
        vec![
            depending(job("encode", "q", 5, "1"), deps.clone()),
            with_phase(job("render-frames", "q", 0, "1"), JobPhase::Running),
        ],
    );
    let actions = run(&s);
    assert_eq!(
        message(&actions, "encode", "DependencyPending"),
        "waiting for render-frames (Running), prep (not found)"
    );

    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 100.0)],
        vec![
            depending(job("encode", "q", 5, "1"), deps),
            with_phase(job("render-frames", "q", 0, "1"), JobPhase::Failed),
        ],
    );
    assert_eq!(
        message(&run(&s), "encode", "DependencyFailed"),
        "dependency can no longer be met: needs Success of render-frames, which Failed"
    );
}

#[test]
fn dependency_entries_are_or_ed_and_items_and_ed() {
    let deps = json!([
        {"dependencyItems": [{"names": ["a"], "type": "Success"}, {"names": ["b"], "type": "Failure"}]},
        {"dependencyItems": [{"names": ["c"], "type": "Complete"}]}
    ]);
    let cases: [(&str, [JobPhase; 3], &str); 5] = [
        (
            "first entry met",
            [JobPhase::Succeeded, JobPhase::Failed, JobPhase::Running],
            "start",
        ),
        (
            "second entry met",
            [JobPhase::Failed, JobPhase::Failed, JobPhase::Succeeded],
            "start",
        ),
        (
            "first half met, second pending",
            [JobPhase::Succeeded, JobPhase::Running, JobPhase::Running],
            "wait",
        ),
        (
            "first broken, second pending",
            [JobPhase::Failed, JobPhase::Running, JobPhase::Running],
            "wait",
        ),
        (
            "both broken? second cannot break",
            [JobPhase::Failed, JobPhase::Succeeded, JobPhase::Queued],
            "wait",
        ),
    ];
    for (case, [a, b, c], expected) in cases {
        let s = snapshot(
            vec![QueueInfo::new("ns", "q", 1, "bud")],
            vec![budget("bud", 100.0)],
            vec![
                depending(job("j", "q", 5, "1"), deps.clone()),
                with_phase(job("a", "q", 0, "1"), a),
                with_phase(job("b", "q", 0, "1"), b),
                with_phase(job("c", "q", 0, "1"), c),
            ],
        );
        let line = summary(&run(&s))
            .into_iter()
            .find(|l| l.starts_with("j: "))
            .unwrap();
        assert!(
            line.starts_with(&format!("j: {expected}")),
            "{case}: {line}"
        );
    }
    // Every alternative broken: the job fails, naming each.
    let deps = json!([
        {"dependencyItems": [{"names": ["a"], "type": "Success"}]},
        {"dependencyItems": [{"names": ["b"], "type": "Failure"}]}
    ]);
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "bud")],
        vec![budget("bud", 100.0)],
        vec![
            depending(job("j", "q", 5, "1"), deps),
            with_phase(job("a", "q", 0, "1"), JobPhase::Failed),
            with_phase(job("b", "q", 0, "1"), JobPhase::Succeeded),
        ],
    );
    assert_eq!(
        message(&run(&s), "j", "DependencyFailed"),
        "no dependency alternative can be met: needs Success of a, which Failed; needs Failure of b, which Succeeded"
    );
}

#[test]
fn impossible_dependencies_fail_even_in_a_paused_queue() {
    let mut q = QueueInfo::new("ns", "q", 1, "b");
    q.paused = true;
    let s = snapshot(
        vec![q],
        vec![budget("b", 100.0)],
        vec![
            depending(
                job("j", "q", 5, "1"),
                json!([{"dependencyItems": [{"names": ["a"]}]}]),
            ),
            with_phase(job("a", "q", 0, "1"), JobPhase::Failed),
        ],
    );
    assert_eq!(summary(&run(&s)), ["j: fail:DependencyFailed"]);
}

#[test]
fn dependencies_resolve_within_the_namespace() {
    let mut other = with_phase(job("a", "q", 0, "1"), JobPhase::Succeeded);
    other.namespace = "elsewhere".into();
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 100.0)],
        vec![
            depending(
                job("j", "q", 5, "1"),
                json!([{"dependencyItems": [{"names": ["a"]}]}]),
            ),
            other,
        ],
    );
    assert_eq!(summary(&run(&s)), ["j: wait:DependencyPending+Waiting"]);
}

#[test]
fn budget_exceeded_says_what_it_reserves_and_when_the_window_renews() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "default")],
        vec![spent_budget("default", 100.0, 96.8)],
        vec![job("big", "q", 0, "5.1")],
    );
    let actions = run(&s);
    assert_eq!(summary(&actions), ["big: wait:BudgetExceeded+Waiting"]);
    assert_eq!(
        message(&actions, "big", "BudgetExceeded"),
        "budget default: this job reserves 5.10, more than window 24h (100.00) has left; \
         the window renews at 2026-11-23T00:00:00Z"
    );
}

#[test]
fn raising_a_windows_amount_lets_the_job_start() {
    let jobs = vec![job("big", "q", 0, "5.1")];
    let queues = vec![QueueInfo::new("ns", "q", 1, "default")];
    let before = snapshot(
        queues.clone(),
        vec![spent_budget("default", 100.0, 96.8)],
        jobs.clone(),
    );
    assert_eq!(summary(&run(&before)), ["big: wait:BudgetExceeded+Waiting"]);
    let after = snapshot(queues, vec![spent_budget("default", 101.9, 96.8)], jobs);
    assert_eq!(summary(&run(&after)), ["big: start"]);
}

#[test]
fn jobs_admitted_earlier_in_the_pass_consume_the_budget_and_smaller_ones_may_pass() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 10.0)],
        vec![
            job("a", "q", 0, "4"),
            job("b", "q", 1, "4"),
            job("c", "q", 2, "4"),
            job("d", "q", 3, "2"),
        ],
    );
    let actions = run(&s);
    assert_eq!(
        summary(&actions),
        [
            "a: start",
            "b: start",
            "c: wait:BudgetExceeded+Waiting",
            "d: start"
        ]
    );
    assert!(
        message(&actions, "c", "BudgetExceeded")
            .contains("this job reserves 4.00, more than window 24h (10.00) has left")
    );
}

#[test]
fn budgets_shared_by_queues_in_different_namespaces_are_shared_in_the_pass() {
    let mut other_ns = job("theirs", "q", 1, "6");
    other_ns.namespace = "team-b".into();
    let s = snapshot(
        vec![
            QueueInfo::new("ns", "q", 1, "shared"),
            QueueInfo::new("team-b", "q", 1, "shared"),
            QueueInfo::new("ns", "own", 1, "own"),
        ],
        vec![budget("shared", 10.0), budget("own", 10.0)],
        vec![
            job("ours", "q", 0, "6"),
            other_ns,
            job("separate", "own", 2, "6"),
        ],
    );
    assert_eq!(
        summary(&run(&s)),
        [
            "ours: start",
            "theirs: wait:BudgetExceeded+Waiting",
            "separate: start"
        ]
    );
}

#[test]
fn reservations_in_flight_count_against_the_budget_until_the_ledger_holds_them() {
    let mut in_flight = with_phase(job("in-flight", "q", 0, "6"), JobPhase::Scheduled);
    in_flight.charging = Some(m("6"));
    let queued = job("queued", "q", 1, "6");
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 10.0)],
        vec![in_flight.clone(), queued.clone()],
    );
    assert_eq!(summary(&run(&s)), ["queued: wait:BudgetExceeded+Waiting"]);

    // Once the budget holds the charge (its amount includes it), it is not taken twice.
    let mut charged = spent_budget("b", 10.0, 6.0);
    charged.status.ledger.push(crate::budget::LedgerEntry {
        id: in_flight.uid.clone(),
        job: "ns/in-flight".into(),
        kind: crate::budget::LedgerEntryKind::Charge,
        amount: m("6"),
        at: ts("2026-11-22T14:00:00Z").into(),
        windows: vec![],
        ceiling: None,
        charged: None,
    });
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![charged],
        vec![in_flight, job("small", "q", 1, "4")],
    );
    assert_eq!(summary(&run(&s)), ["small: start"]);
}

#[test]
fn a_waiting_jobs_notes_do_not_change_while_the_queue_drains_or_the_budget_moves() {
    // Three jobs wait for a budget with 1.0 left, each reserving 5: each carries its queue
    // and the budget's reason. Then more of the budget is spent and the first of them has
    // gone: what the others carry is unchanged, so their status is not rewritten.
    let jobs = vec![
        job("a", "q", 0, "5"),
        job("x", "other", 1, "5"),
        job("b", "q", 2, "5"),
        job("c", "q", 3, "5"),
    ];
    let queues = || {
        vec![
            QueueInfo::new("ns", "q", 1, "b"),
            QueueInfo::new("ns", "other", 1, "b"),
        ]
    };
    let first = snapshot(queues(), vec![spent_budget("b", 100.0, 99.0)], jobs.clone());
    let before = run(&first);
    assert_eq!(
        message(&before, "a", "Waiting"),
        "waiting for its turn in queue ns/q (higher queue priority first, then oldest first)"
    );
    assert_eq!(
        message(&before, "x", "Waiting"),
        "waiting for its turn in queue ns/other (higher queue priority first, then oldest first)"
    );
    let later = snapshot(
        queues(),
        vec![spent_budget("b", 100.0, 99.5)],
        jobs[1..].to_vec(),
    );
    let after = run(&later);
    for name in ["x", "b", "c"] {
        for type_ in ["Waiting", "BudgetExceeded"] {
            assert_eq!(
                message(&after, name, type_),
                message(&before, name, type_),
                "{name} {type_}"
            );
        }
    }
}

#[test]
fn missing_queues_and_budgets_keep_jobs_waiting_and_unpriceable_jobs_fail() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "gone")],
        vec![BudgetInfo::unusable(
            "broken",
            "budget broken: spec.budgetWindows[0].duration: bad".into(),
        )],
        vec![
            job("no-queue", "nope", 0, "1"),
            job("no-budget", "q", 1, "1"),
            JobInfo {
                pricing: Pricing::Invalid("task group main: maxWallTime is not set".into()),
                ..job("unpriced", "q", 2, "1")
            },
        ],
    );
    let actions = run(&s);
    assert_eq!(
        summary(&actions),
        [
            "no-budget: wait:BudgetUnavailable+Waiting",
            "unpriced: fail:CannotBePriced",
            "no-queue: wait:QueueMissing+Waiting"
        ]
    );
    assert_eq!(
        message(&actions, "no-budget", "BudgetUnavailable"),
        "queue ns/q names budget gone, which does not exist"
    );
    assert_eq!(
        message(&actions, "no-queue", "QueueMissing"),
        "queue ns/nope does not exist"
    );

    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "broken")],
        vec![BudgetInfo::unusable(
            "broken",
            "budget broken: spec.budgetWindows[0].duration: bad".into(),
        )],
        vec![job("j", "q", 0, "1")],
    );
    assert_eq!(
        message(&run(&s), "j", "BudgetUnavailable"),
        "budget broken: spec.budgetWindows[0].duration: bad"
    );
}

#[test]
fn terminated_queued_jobs_fail() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![budget("b", 10.0)],
        vec![JobInfo {
            terminate: true,
            ..job("stop", "q", 0, "1")
        }],
    );
    assert_eq!(summary(&run(&s)), ["stop: fail:Terminated"]);
}

#[test]
fn a_fresh_window_lets_waiting_jobs_run() {
    let s = snapshot(
        vec![QueueInfo::new("ns", "q", 1, "b")],
        vec![spent_budget("b", 10.0, 10.0)],
        vec![job("j", "q", 0, "5")],
    );
    assert_eq!(
        summary(&schedule(&s, ts("2026-11-22T23:59:59Z"))),
        ["j: wait:BudgetExceeded+Waiting"]
    );
    assert_eq!(
        summary(&schedule(&s, ts("2026-11-23T00:00:00Z"))),
        ["j: start"]
    );
}

#[test]
fn merge_conditions_keeps_other_types_and_drops_stale_waiting_ones() {
    let t0 = ts("2026-11-22T10:00:00Z");
    let t1 = ts("2026-11-22T11:00:00Z");
    let submitted = Condition::new("Submitted", "Submitted", "queued".into()).to_api();
    let first = merge_conditions(
        &[submitted],
        &[
            Condition::new("BudgetExceeded", "BudgetExceeded", "short".into()),
            explain::turn("ns/q"),
        ],
        t0,
    );
    let second = merge_conditions(&first, &[explain::turn("ns/other")], t1);
    let types: Vec<&str> = second.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Submitted", "Waiting"]);
    assert_eq!(second[1].time.as_ref().map(|t| t.0), Some(t0));
    assert_eq!(
        second[1].message.as_deref(),
        Some(crate::scheduling::waiting_message("ns/other").as_str())
    );
}

#[test]
fn a_budget_holding_as_many_open_reservations_as_it_can_starts_no_more_jobs() {
    use crate::budget::balance::MAX_OPEN_RESERVATIONS;
    use crate::budget::{LedgerEntry, LedgerEntryKind};
    let entry = |i: usize| LedgerEntry {
        id: format!("uid-{i}"),
        job: format!("ns/running-{i}"),
        kind: LedgerEntryKind::Charge,
        amount: m("0.01"),
        at: ts("2026-11-22T09:00:00Z").into(),
        windows: vec![],
        ceiling: None,
        charged: None,
    };
    let with_entries = |n: usize| {
        let mut b = budget("b", 1000.0);
        b.status.ledger = (0..n).map(entry).collect();
        b
    };
    let queues = vec![QueueInfo::new("ns", "q", 1, "b")];
    let jobs = vec![job("one", "q", 0, "1"), job("two", "q", 1, "1")];
    // One place left: the first job takes it, the second waits for a refund.
    let s = snapshot(
        queues.clone(),
        vec![with_entries(MAX_OPEN_RESERVATIONS - 1)],
        jobs.clone(),
    );
    let actions = run(&s);
    assert_eq!(
        summary(&actions),
        ["one: start", "two: wait:ReservationLimit+Waiting"]
    );
    assert_eq!(
        message(&actions, "two", "ReservationLimit"),
        format!(
            "budget b holds the reservations of {MAX_OPEN_RESERVATIONS} running jobs, the most \
             one budget holds at once; this job starts when one of them is refunded"
        )
    );
    // A refund frees a place.
    let s = snapshot(queues, vec![with_entries(MAX_OPEN_RESERVATIONS - 2)], jobs);
    assert_eq!(summary(&run(&s)), ["one: start", "two: start"]);
}
