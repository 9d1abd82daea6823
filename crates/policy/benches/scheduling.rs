//! One scheduling pass over 10,000 queued jobs in 20 queues (5 priorities, 2 budgets, 10%
//! with dependencies), plus 2,000 finished jobs they can depend on. Target: < 20 ms a pass.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use kbatch_policy::api::{BatchBudgetStatus, JobDependency, JobPhase};
use kbatch_policy::budget::{BudgetPlan, Money};
use kbatch_policy::scheduling::{
    Action, BudgetInfo, JobInfo, Pricing, QueueInfo, SchedulingSnapshot, schedule,
};
use serde_json::json;
use std::hint::black_box;

const QUEUED: usize = 10_000;
const FINISHED: usize = 2_000;
mod population;
use population::{QUEUES, namespace};

fn now() -> Timestamp {
    "2026-11-22T15:00:00Z".parse().unwrap()
}

fn budget(name: &str, daily: u32) -> BudgetInfo {
    let spec = serde_json::from_value(json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": daily}, {"duration": "30d", "amount": daily * 20}]
    }))
    .unwrap();
    BudgetInfo::new(
        Ok(BudgetPlan::from_spec(name, &spec, None).unwrap()),
        BatchBudgetStatus::default(),
    )
}

fn snapshot() -> SchedulingSnapshot {
    let queues = (0..QUEUES)
        .map(|q| {
            let mut info = QueueInfo::new(
                &namespace(q),
                &format!("queue-{q}"),
                (q % 5) as i32 * 100,
                if q % 2 == 0 { "gpu" } else { "cpu" },
            );
            info.paused = q == 7;
            info
        })
        .collect();
    let start: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    let mut jobs = Vec::with_capacity(QUEUED + FINISHED);
    for i in 0..FINISHED {
        let q = i % QUEUES;
        let mut j = JobInfo::queued(
            &namespace(q),
            &format!("done-{i}"),
            &format!("queue-{q}"),
            start,
            Pricing::Priced(Money::ZERO),
        );
        j.phase = Some(if i % 3 == 0 {
            JobPhase::Failed
        } else if i % 3 == 1 {
            JobPhase::Succeeded
        } else {
            JobPhase::Running
        });
        jobs.push(j);
    }
    for i in 0..QUEUED {
        let q = (i * 7) % QUEUES;
        let created = start
            .checked_add(SignedDuration::from_secs(i as i64 * 13))
            .unwrap();
        let cost = Money::from_nanos(((i % 97) as i128 + 1) * 37_000_000);
        let mut j = JobInfo::queued(
            &namespace(q),
            &format!("job-{i}"),
            &format!("queue-{q}"),
            created,
            Pricing::Priced(cost),
        );
        if i % 10 == 0 {
            let target = (i / 10) % FINISHED;
            let kind = ["Success", "Failure", "Complete"][i % 3];
            j.dependencies = serde_json::from_value::<Vec<JobDependency>>(json!([
                {"dependencyItems": [{"names": [format!("done-{target}")], "type": kind}]},
                {"dependencyItems": [{"names": [format!("job-{}", i + 1), "missing"], "type": "Success"}]}
            ]))
            .unwrap();
        }
        jobs.push(j);
    }
    SchedulingSnapshot {
        queues,
        budgets: vec![budget("gpu", 2_000), budget("cpu", 5_000)],
        jobs,
    }
}

fn bench(c: &mut Criterion) {
    let snapshot = snapshot();
    let actions = schedule(&snapshot, now());
    let started = actions
        .iter()
        .filter(|a| matches!(a, Action::Start { .. }))
        .count();
    assert_eq!(actions.len(), QUEUED);
    assert!(
        started > 100 && started < QUEUED,
        "a realistic mix: {started} started"
    );
    c.bench_function("schedule 10k queued jobs, 20 queues, 2 budgets", |b| {
        b.iter(|| schedule(black_box(&snapshot), now()));
    });

    let (queues, priorities, budgets, models) = population::policy();
    let jobs: Vec<_> = (0..QUEUED).map(population::job).collect();
    c.bench_function("build snapshot from 10k BatchJobs (pricing each)", |b| {
        b.iter(|| SchedulingSnapshot::from_objects(&jobs, &queues, &priorities, &budgets, &models));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
