#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash injection for the reservation finalizer and the ledger, through the controller's
//! real I/O code (`schedule_pass::pass`, `reconcile::reconcile`) against a stateful fake API
//! server ([`fake_api`](crate::fake_api)).
//!
//! One BatchJob is started (finalizer, J1 intent, B1 charge), runs (its Job is created and
//! its pod seen running), and is deleted by its user; the controller then stops it, refunds
//! the unused part (B2, J4) and removes the finalizer. Each write in turn fails — before it
//! is persisted, or after with the answer lost — and the deletion comes either once the job
//! is charged or right at the faulted write (the user deletes while the controller is in
//! trouble). Right after a fault the controller's caches may be one event behind. After
//! every call the books must balance (`ledger::audit`); at the end the job must be gone,
//! its reservation refunded, the budget's ledger hold no charge (and, after a later pass,
//! nothing), and every window must hold exactly what the job consumed.

use crate::fake_api::{FakeApi, Fault, serve};
use crate::fixtures::{batch_job, budget, priority, queue, to_json};
use crate::mock::{World, context_at};
use crate::{reconcile, schedule_pass};
use jiff::Timestamp;
use kbatch_policy::api::{BatchBudget, BatchCostModel, BatchJob, BatchJobStatus, JobPhase};
use kbatch_policy::budget::ledger::{audit, consumed};
use kbatch_policy::budget::{
    Money, ReservationRecord, ReservationState, record_spent, window_spent,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const JOB: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi";
const BUDGET: &str = "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team";

/// Before the deletion.
fn t0() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

/// From the deletion on: half of the reserved hour later.
fn t1() -> Timestamp {
    "2026-11-22T10:30:00Z".parse().unwrap()
}

/// A pass long after the job went: the refund entry left in the ledger is pruned.
fn t2() -> Timestamp {
    "2026-11-22T10:35:00Z".parse().unwrap()
}

fn cost_model() -> BatchCostModel {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
        "metadata": {"name": "gke"}, "spec": {"resources": {"cpu": 0.5}}
    }))
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DeleteAt {
    /// Once it runs (charged, its Job created, a pod seen running).
    Running,
    /// Right after the faulted write (or once charged, if no fault came).
    Fault,
}

fn record_of(job: &Value) -> Option<ReservationRecord> {
    serde_json::from_value(job["status"]["reservation"].clone()).ok()
}

/// The world the controller's caches hold: the current objects, or one version behind.
fn world(api: &FakeApi, stale: bool) -> World {
    let pick = |path: &str| {
        if stale {
            api.previous(path)
        } else {
            api.current(path)
        }
        .cloned()
    };
    World {
        jobs: pick(JOB)
            .map(|j| serde_json::from_value::<BatchJob>(j).unwrap())
            .into_iter()
            .collect(),
        queues: vec![queue()],
        priorities: vec![priority(false)],
        budgets: pick(BUDGET)
            .map(|b| serde_json::from_value::<BatchBudget>(b).unwrap())
            .into_iter()
            .collect(),
        cost_models: vec![cost_model()],
        // Jobs are created once and never rewritten here: the cache holds what the API holds.
        owned: api
            .jobs
            .values()
            .map(|j| serde_json::from_value(j.clone()).unwrap())
            .collect(),
    }
}

/// One scheduling pass, then one reconcile of the job (as its watch event would bring).
async fn round(api: &Arc<Mutex<FakeApi>>, now: fn() -> Timestamp, stale: bool) {
    let (ctx, handle, _writers) = context_at(world(&api.lock().unwrap(), stale), now);
    let server = serve(handle, api.clone());
    schedule_pass::pass(&ctx, now()).await;
    drop(ctx);
    server.await.unwrap();

    let (ctx, handle, _writers) = context_at(world(&api.lock().unwrap(), stale), now);
    let job = ctx.stores.jobs.state().first().cloned();
    let server = serve(handle, api.clone());
    if let Some(job) = job {
        // Errors are what the fault injects; the next round is the retry.
        let _ = reconcile::reconcile(job, ctx.clone()).await;
    }
    drop(ctx);
    server.await.unwrap();
}

/// What each of the budget's windows holds in all (its current period and its history).
fn spent(budget: &BatchBudget) -> Vec<Money> {
    let status = budget.status.clone().unwrap_or_default();
    status
        .window_status_list
        .iter()
        .map(|w| {
            w.window_history
                .iter()
                .map(record_spent)
                .fold(window_spent(w), |acc, m| acc.checked_add(m).unwrap())
        })
        .collect()
}

/// Runs the scenario; returns the number of writes and what the job consumed.
async fn run(faults: &[(usize, Fault)], delete_at: DeleteAt) -> Result<(usize, Money), String> {
    let mut job = batch_job(1);
    job.status = Some(BatchJobStatus {
        phase: Some(JobPhase::Queued),
        ..BatchJobStatus::default()
    });
    let mut fake = FakeApi::new(vec![
        (JOB.to_owned(), to_json(&job)),
        (BUDGET.to_owned(), to_json(&budget())),
    ]);
    fake.faults = faults.iter().copied().collect();
    let api = Arc::new(Mutex::new(fake));
    let mut deleted = false;
    let mut stale = false;
    for _ in 0..40 {
        let (gone, faulted_before) = {
            let mut a = api.lock().unwrap();
            let running = a
                .current(JOB)
                .is_some_and(|j| j["status"]["phase"] == "Running");
            let due = running || (delete_at == DeleteAt::Fault && a.faulted);
            if !deleted && due {
                a.delete(JOB, "2026-11-22T10:30:00Z");
                deleted = true;
            }
            (a.current(JOB).is_none(), a.faulted)
        };
        if gone {
            break;
        }
        round(&api, if deleted { t1 } else { t0 }, stale).await;
        let a = api.lock().unwrap();
        // Right after a fault the caches lag one event (a restart re-listing a stale cache).
        stale = a.faulted && !faulted_before;
        let budget: BatchBudget = serde_json::from_value(a.current(BUDGET).unwrap().clone())
            .map_err(|e| e.to_string())?;
        let records: Vec<ReservationRecord> = a.last(JOB).and_then(record_of).into_iter().collect();
        let problems = audit(&budget.status.clone().unwrap_or_default(), &records);
        if !problems.is_empty() {
            return Err(format!("books do not balance: {problems:?}\n{:#?}", a.log));
        }
    }
    let writes = {
        let a = api.lock().unwrap();
        if a.current(JOB).is_some() {
            return Err(format!("the job was never released\n{:#?}", a.log));
        }
        let budget: BatchBudget =
            serde_json::from_value(a.current(BUDGET).unwrap().clone()).unwrap();
        let status = budget.status.clone().unwrap_or_default();
        let owed: Vec<_> = status
            .ledger
            .iter()
            .filter(|e| e.kind != kbatch_policy::budget::LedgerEntryKind::Refund)
            .collect();
        if !owed.is_empty() {
            return Err(format!("charges left behind: {owed:?}"));
        }
        a.writes
    };
    // Passes later (a faulted write is retried by the next): the refund entry of the job
    // that is gone leaves the ledger.
    for _ in 0..3 {
        let (ctx, handle, _writers) = context_at(world(&api.lock().unwrap(), false), t2);
        let server = serve(handle, api.clone());
        schedule_pass::pass(&ctx, t2()).await;
        drop(ctx);
        server.await.unwrap();
    }
    let a = api.lock().unwrap();
    let after: BatchBudget = serde_json::from_value(a.current(BUDGET).unwrap().clone()).unwrap();
    let left = after.status.clone().unwrap_or_default().ledger;
    if !left.is_empty() {
        return Err(format!("ledger entries left behind: {left:?}"));
    }
    let record = a.last(JOB).and_then(record_of);
    if let Some(r) = &record
        && r.state != ReservationState::Refunded
    {
        return Err(format!("released while {:?}\n{:#?}", r.state, a.log));
    }
    let used = record.as_ref().map_or(Money::ZERO, consumed);
    let windows = spent(&after);
    if windows.iter().any(|w| *w != used) || (used != Money::ZERO && windows.is_empty()) {
        return Err(format!(
            "the budget's windows hold {windows:?} but the job consumed {used}\n{:#?}",
            a.log
        ));
    }
    Ok((writes, used))
}

#[tokio::test]
async fn without_faults_a_deleted_job_pays_for_the_half_hour_it_ran() {
    let (writes, used) = run(&[], DeleteAt::Running).await.unwrap();
    // 1 CPU at 0.50 an hour, deleted after 30 of its 60 reserved minutes.
    assert_eq!(used, Money::parse("0.25").unwrap());
    // F, J1, B1 | Job create | Running (with the charge acknowledged) | Job delete, B2, J4
    // (with the refund acknowledged), F removed.
    assert_eq!(writes, 9, "writes");
}

#[tokio::test]
async fn a_fault_at_each_write_still_leaves_exact_books() {
    let (baseline, _) = run(&[], DeleteAt::Running).await.unwrap();
    let mut runs = 0;
    for index in 0..baseline + 3 {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            for delete_at in [DeleteAt::Running, DeleteAt::Fault] {
                let result = run(&[(index, fault)], delete_at).await;
                let (_, used) = result
                    .unwrap_or_else(|e| panic!("{fault:?} at write {index}, {delete_at:?}: {e}"));
                if delete_at == DeleteAt::Running {
                    // Running from 10:00 whatever the retries, refunded at 10:30.
                    assert_eq!(used, Money::parse("0.25").unwrap(), "{fault:?} at {index}");
                }
                runs += 1;
            }
        }
    }
    assert_eq!(runs, (baseline + 3) * 4);
}

#[tokio::test]
async fn two_faults_in_a_row_still_leave_exact_books() {
    let (baseline, _) = run(&[], DeleteAt::Running).await.unwrap();
    for first in 0..baseline {
        for (a, b) in [
            (Fault::FailBefore, Fault::FailAfter),
            (Fault::FailAfter, Fault::FailAfter),
            (Fault::FailAfter, Fault::FailBefore),
        ] {
            for delete_at in [DeleteAt::Running, DeleteAt::Fault] {
                let faults = [(first, a), (first + 1, b)];
                if let Err(e) = run(&faults, delete_at).await {
                    panic!("{a:?} at {first}, {b:?} next, {delete_at:?}: {e}");
                }
            }
        }
    }
}
