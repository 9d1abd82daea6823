#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ledger's writes against a mocked API server: F (reservation finalizer, when the
//! webhook did not add it) → J1 (intent) → B1 (charge, shared), the acknowledgement read from
//! the budget; B2 (refund) → J4 (acknowledgement, with the final phase). Each write is
//! conditional on the resourceVersion the previous answer returned.

use super::*;
use crate::fixtures::{batch_job, budget, to_json};
use crate::mock::{Expect, World, context, finish, serve, test_now};
use crate::writes::{budget_status_patch, job_status_patch};
use http::Method;
use kbatch_policy::api::BatchCostModel;
use kbatch_policy::budget::ReservationState;
use kbatch_policy::budget::ledger::Charge;
use serde_json::json;

const JOB_STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi/status?";
const JOB: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi?";
const BUDGET_STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team/status?";

fn cost_model() -> BatchCostModel {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
        "metadata": {"name": "gke"}, "spec": {"resources": {"cpu": 0.5}}
    }))
    .unwrap()
}

fn stored<T: Clone>(object: &T, set: impl FnOnce(&mut T)) -> T {
    let mut o = object.clone();
    set(&mut o);
    o
}

#[tokio::test]
async fn intend_adds_the_finalizer_and_writes_the_intent_then_charge_writes_the_budget() {
    let mut job = batch_job(1);
    job.status = Some(kbatch_policy::api::BatchJobStatus {
        phase: Some(JobPhase::Queued),
        ..Default::default()
    });
    let now = test_now();

    // F: the finalizer, before anything is reserved.
    let finalizer = crate::reservation::add_patch(&job.metadata).unwrap();
    let job_v8 = stored(&job, |j| {
        j.metadata.finalizers = Some(vec![kbatch_policy::api::RESERVATION_FINALIZER.into()]);
        j.metadata.resource_version = Some("8".into());
    });

    // J1: the intent, phase Scheduled.
    let cost = CostModel::from_spec(&cost_model().spec)
        .unwrap()
        .job_cost(&job.spec)
        .unwrap();
    let intent = plan_charge(&job, "team", &cost, now).unwrap();
    assert_eq!(intent.amount.to_string(), "0.50");
    let j1 = with_phase(
        &status_with(&job, intent.clone()),
        JobPhase::Scheduled,
        reason::SCHEDULED,
        "chosen to run; reserving its budget".into(),
        now,
    );
    let job_v9 = stored(&job_v8, |j| {
        j.status = Some(j1.clone());
        j.metadata.resource_version = Some("9".into());
    });
    // B1: the charge, keyed by the reservation id.
    let plan = BudgetPlan::from_budget(&budget()).unwrap();
    let charge = Charge {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: intent.amount,
        ceiling: intent.amount,
    };
    let b1 = apply_charge(&Default::default(), &plan, &charge, now);
    assert!(b1.applied);
    let budget_v6 = stored(&budget(), |b| {
        b.status = Some(b1.status.clone());
        b.metadata.resource_version = Some("6".into());
    });
    // J2 is not written: the budget's entry is the acknowledgement, read on the next look.
    let acked = ack_charge(&intent, &b1.entry).unwrap();
    assert_eq!(acked.state, ReservationState::Charged);

    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone()],
        budgets: vec![budget()],
        cost_models: vec![cost_model()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, JOB, to_json(&job_v8)).body(finalizer),
            Expect::new(Method::PATCH, JOB_STATUS, to_json(&job_v9))
                .body(job_status_patch(Some("8"), &j1).unwrap()),
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v6))
                .body(budget_status_patch(Some("5"), &b1.status).unwrap()),
        ],
    );
    let (intended, charge) = intend(&ctx, &job, &budget(), |_| {}, now).await.unwrap();
    assert_eq!(intended, job_v9);
    let written = super::charge(&ctx, &Arc::new(budget()), vec![charge], now)
        .await
        .unwrap();
    assert_eq!(written.metadata.resource_version.as_deref(), Some("6"));
    let seen = caught_up(&intended, Some(&written)).into_owned();
    assert_eq!(seen.status.unwrap().reservation, Some(acked));
    assert_eq!(ctx.budget_slot("team").latest(), Some(written));
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_job_the_webhook_gave_the_finalizer_takes_no_finalizer_write() {
    let mut job = batch_job(1);
    job.metadata.finalizers = Some(vec![kbatch_policy::api::RESERVATION_FINALIZER.into()]);
    let now = test_now();
    let cost = CostModel::from_spec(&cost_model().spec)
        .unwrap()
        .job_cost(&job.spec)
        .unwrap();
    let intent = plan_charge(&job, "team", &cost, now).unwrap();
    // What the pass fills on a job it has never written.
    let mut queued = status_with(&job, intent);
    queued.submitted_by = Some("alice".into());
    let j1 = with_phase(
        &queued,
        JobPhase::Scheduled,
        reason::SCHEDULED,
        "chosen to run; reserving its budget".into(),
        now,
    );
    let job_v8 = stored(&job, |j| {
        j.status = Some(j1.clone());
        j.metadata.resource_version = Some("8".into());
    });
    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone()],
        budgets: vec![budget()],
        cost_models: vec![cost_model()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, JOB_STATUS, to_json(&job_v8))
                .body(job_status_patch(Some("7"), &j1).unwrap()),
        ],
    );
    let fill = |s: &mut kbatch_policy::api::BatchJobStatus| s.submitted_by = Some("alice".into());
    let (intended, _) = intend(&ctx, &job, &budget(), fill, now).await.unwrap();
    assert_eq!(intended, job_v8);
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_finished_job_is_refunded_then_acknowledged() {
    // A Succeeded job whose reservation is Charged (written so by a crash before B2): B2 →
    // J4. The refund is planned in memory (no J3): B2 moves money only against the budget's
    // Charge entry, which it replaces, so it needs no fresh proof.
    let mut job = batch_job(1);
    let mut record = crate::fixtures::record(ReservationState::Charged);
    record.charged_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:00:00Z".parse().unwrap(),
    ));
    let mut status = status_with(&job, record.clone());
    status = with_phase(
        &status,
        JobPhase::Running,
        reason::STARTED,
        "tasks are running".into(),
        "2026-11-22T09:00:00Z".parse().unwrap(),
    );
    status = with_phase(
        &status,
        JobPhase::Succeeded,
        reason::COMPLETED,
        "1 task succeeded".into(),
        "2026-11-22T09:30:00Z".parse().unwrap(),
    );
    job.status = Some(status.clone());
    let now = test_now();
    let plan = BudgetPlan::from_budget(&budget()).unwrap();
    let charged = apply_charge(
        &Default::default(),
        &plan,
        &Charge {
            id: "u1".into(),
            job: "ns/pi".into(),
            amount: record.amount,
            ceiling: record.amount,
        },
        now,
    );
    let budget_v5 = stored(&budget(), |b| b.status = Some(charged.status.clone()));

    let planned = plan_refund(&record, jiff::SignedDuration::from_mins(30)).unwrap();
    assert_eq!(
        planned.refund.map(|m| m.to_string()).as_deref(),
        Some("1.00")
    );
    let refund = kbatch_policy::budget::ledger::Refund {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: planned.refund.unwrap(),
        actual_cost: planned.actual_cost.unwrap(),
    };
    let b2 = apply_refund(&charged.status, &plan, &refund, now);
    let budget_v6 = stored(&budget_v5, |b| {
        b.status = Some(b2.status.clone());
        b.metadata.resource_version = Some("6".into());
    });
    let j4 = status_with(&job, ack_refund(&planned, &b2.entry).unwrap());
    let job_v8 = stored(&job, |j| {
        j.status = Some(j4.clone());
        j.metadata.resource_version = Some("8".into());
    });
    // The refund entry stays until a later write sees the acknowledgement.
    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone()],
        budgets: vec![budget_v5.clone()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v6))
                .body(budget_status_patch(Some("5"), &b2.status).unwrap()),
            Expect::new(Method::PATCH, JOB_STATUS, to_json(&job_v8))
                .body(job_status_patch(Some("7"), &j4).unwrap()),
        ],
    );
    settle(&ctx, job, Arc::new(budget_v5), false, now)
        .await
        .unwrap();
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn entries_of_jobs_gone_without_a_refund_are_dropped_once_old() {
    // `pi` is charged (B1); the budget already holds four entries of other jobs: `ns/gone`
    // charged an hour ago and absent from the store (its finalizer was removed by force),
    // `ns/new` charged a minute ago and not in the store yet, `ns/running`, charged an hour
    // ago and in the store, and `ns/deleted`, refunded a minute ago and gone (nothing is owed
    // to a job that is gone once refunded). B1's write drops the first and the last.
    let now = test_now();
    let mut job = batch_job(1);
    job.status = Some(status_with(
        &job,
        crate::fixtures::record(ReservationState::Charging),
    ));
    let mut running = batch_job(1);
    running.metadata.name = Some("running".into());
    running.metadata.uid = Some("u-running".into());
    running.status = Some(status_with(&running, {
        let mut r = crate::fixtures::record(ReservationState::Charged);
        r.id = "u-running".into();
        r
    }));
    let entry = |id: &str, job: &str, minutes_ago: i64| kbatch_policy::budget::LedgerEntry {
        id: id.into(),
        job: job.into(),
        kind: if id == "u-deleted" {
            LedgerEntryKind::Refund
        } else {
            LedgerEntryKind::Charge
        },
        amount: kbatch_policy::budget::Money::parse("1").unwrap(),
        at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            now.checked_sub(jiff::SignedDuration::from_mins(minutes_ago))
                .unwrap(),
        ),
        windows: vec![],
        ceiling: None,
        charged: None,
    };
    let mut held = budget();
    let mut status = held.status.clone().unwrap();
    status.ledger = vec![
        entry("u-gone", "ns/gone", 60),
        entry("u-new", "ns/new", 1),
        entry("u-running", "ns/running", 60),
        entry("u-deleted", "ns/deleted", 1),
    ];
    held.status = Some(status.clone());

    let plan = BudgetPlan::from_budget(&held).unwrap();
    let charge = Charge {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: kbatch_policy::budget::Money::parse("2").unwrap(),
        ceiling: kbatch_policy::budget::Money::parse("2").unwrap(),
    };
    let b1 = apply_charge(&status, &plan, &charge, now);
    let mut kept = b1.status.clone();
    kept.ledger
        .retain(|e| e.id != "u-gone" && e.id != "u-deleted");
    assert_eq!(kept.ledger.len(), 3, "u-new, u-running and pi's own");
    let budget_v6 = stored(&held, |b| {
        b.status = Some(kept.clone());
        b.metadata.resource_version = Some("6".into());
    });
    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone(), running],
        budgets: vec![held.clone()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v6))
                .body(budget_status_patch(Some("5"), &kept).unwrap()),
        ],
    );
    // Charged, and read so from the budget: no acknowledgement written.
    let (seen, _) = settle(&ctx, job, Arc::new(held), true, now).await.unwrap();
    assert_eq!(seen.metadata.resource_version.as_deref(), Some("7"));
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_refund_bills_the_task_time_of_the_jobs_pods() {
    // Succeeded after 30 minutes, but its one task ran twice: 10 + 15 minutes, with a wait
    // in between. B2 bills the 25 minutes its pods ran; the pod of another Job is not its.
    let mut job = batch_job(1);
    let mut record = crate::fixtures::record(ReservationState::Charged);
    record.groups[0].task_count = 1;
    record.groups[0].runs_per_task = 2;
    record.charged_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:00:00Z".parse().unwrap(),
    ));
    let mut status = status_with(&job, record.clone());
    for (phase, why, at) in [
        (JobPhase::Running, reason::STARTED, "2026-11-22T09:00:00Z"),
        (
            JobPhase::Succeeded,
            reason::COMPLETED,
            "2026-11-22T09:30:00Z",
        ),
    ] {
        status = with_phase(&status, phase, why, String::new(), at.parse().unwrap());
    }
    job.status = Some(status.clone());
    let mut owned = crate::fixtures::owned_job(1, crate::fixtures::progress(0, 1));
    owned.metadata.uid = Some("job-uid".into());
    let pod = |owner: &str, from: &str, to: &str| {
        json!({"metadata": {"name": format!("pi-{from}"), "namespace": "ns",
            "labels": {"kbatch.k8s.io/batchjob": "pi", "kbatch.k8s.io/task-group": "main"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi-main",
                "uid": owner}]},
         "status": {"containerStatuses": [{"name": "c", "image": "i", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0,
            "startedAt": from, "finishedAt": to}}}]}})
    };
    let pods = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        pod("job-uid", "2026-11-22T09:00:00Z", "2026-11-22T09:10:00Z"),
        pod("job-uid", "2026-11-22T09:15:00Z", "2026-11-22T09:30:00Z"),
        pod("another-job", "2026-11-22T09:00:00Z", "2026-11-22T10:00:00Z"),
    ]});
    let usage = Usage {
        job: jiff::SignedDuration::from_mins(30),
        tasks: [("main".to_owned(), jiff::SignedDuration::from_mins(25))]
            .into_iter()
            .collect(),
    };
    let planned = plan_refund(&record, usage).unwrap();
    // 2.00 an hour for the task: 25 minutes cost 0.8333…, rounded up.
    assert_eq!(
        planned.actual_cost.map(|m| m.to_string()).as_deref(),
        Some("0.833333334")
    );
    let plan = BudgetPlan::from_budget(&budget()).unwrap();
    let charge = Charge {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: record.amount,
        ceiling: record.ceiling(),
    };
    let charged = stored(&budget(), |b| {
        b.status = Some(apply_charge(b.status.as_ref().unwrap(), &plan, &charge, test_now()).status)
    });
    let claim = kbatch_policy::budget::ledger::Refund {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: planned.refund.unwrap(),
        actual_cost: planned.actual_cost.unwrap(),
    };
    let b2 = apply_refund(charged.status.as_ref().unwrap(), &plan, &claim, test_now());
    assert_eq!(b2.entry.amount.to_string(), "1.166666666");
    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone()],
        budgets: vec![charged.clone()],
        owned: vec![owned],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::GET,
                "/api/v1/namespaces/ns/pods?&labelSelector=kbatch.k8s.io%2Fbatchjob%3Dpi",
                pods,
            ),
            // The budget write fails: the test ends at B2, whose body shows what was billed.
            Expect::new(
                Method::PATCH,
                BUDGET_STATUS,
                json!({"kind": "Status", "code": 500}),
            )
            .status(500)
            .body(budget_status_patch(Some("5"), &b2.status).unwrap()),
        ],
    );
    let failed = settle(&ctx, job, Arc::new(charged), true, test_now()).await;
    assert!(failed.is_err());
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_budget_write_that_conflicts_is_made_again_on_the_budget_as_stored() {
    // Someone else wrote the budget (resourceVersion 9): the step is applied to that version
    // and written at once, not left to a requeue and a retry of the job's record.
    let seen = budget();
    let mut theirs = budget();
    theirs.metadata.resource_version = Some("9".into());
    theirs.status.as_mut().unwrap().last_updated =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-11-22T09:59:00Z".parse().unwrap(),
        ));
    let step: crate::budget_writer::Step = Box::new(|current| {
        let mut next = current.clone();
        next.ledger.clear();
        Some(next)
    });
    let mut written = theirs.clone();
    written.metadata.resource_version = Some("10".into());
    let (ctx, handle, _writers) = context(World::default());
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::PATCH,
                BUDGET_STATUS,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "reason": "Conflict", "code": 409, "message": "modified"}),
            )
            .status(409)
            .body(budget_status_patch(Some("5"), seen.status.as_ref().unwrap()).unwrap()),
            Expect::new(
                Method::GET,
                "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team",
                to_json(&theirs),
            ),
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&written))
                .body(budget_status_patch(Some("9"), theirs.status.as_ref().unwrap()).unwrap()),
        ],
    );
    // The second PATCH's body is their version: the step was applied to it.
    let stored = update_budget(&ctx, &Arc::new(seen), "u1", step)
        .await
        .unwrap();
    assert_eq!(stored.metadata.resource_version.as_deref(), Some("10"));
    // The next writer starts from the version last written, not the stale one it was given.
    assert_eq!(
        ctx.budget_slot("team")
            .latest()
            .and_then(|b| b.metadata.resource_version.clone()),
        Some("10".into())
    );
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn steps_waiting_for_the_writer_share_one_write() {
    // Three refunds reach the budget while its writer is busy: the next writer applies all
    // three in one write, and each caller gets the budget as stored.
    let seen = Arc::new(budget());
    let plan = BudgetPlan::from_budget(&seen).unwrap();
    let now = test_now();
    let charges: Vec<Charge> = (1..=3)
        .map(|i| Charge {
            id: format!("u{i}"),
            job: format!("ns/j{i}"),
            amount: kbatch_policy::budget::Money::parse("2").unwrap(),
            ceiling: kbatch_policy::budget::Money::parse("2").unwrap(),
        })
        .collect();
    let mut all = seen.status.clone().unwrap();
    for c in &charges {
        all = apply_charge(&all, &plan, c, now).status;
    }
    let written = stored(&*seen, |b| {
        b.status = Some(all.clone());
        b.metadata.resource_version = Some("6".into());
    });
    let (ctx, handle, _writers) = context(World::default());
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&written))
                .body(budget_status_patch(Some("5"), &all).unwrap()),
        ],
    );
    let slot = ctx.budget_slot("team");
    let busy = slot.hold_writer().await;
    let callers = charges.into_iter().map(|c| {
        let ctx = &ctx;
        let seen = &seen;
        let plan = plan.clone();
        async move {
            let id = c.id.clone();
            let step: crate::budget_writer::Step = Box::new(move |current| {
                let applied = apply_charge(current, &plan, &c, now);
                applied.applied.then_some(applied.status)
            });
            update_budget(ctx, seen, &id, step).await
        }
    });
    let release = async {
        while slot.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        drop(busy);
    };
    let (results, ()) = tokio::join!(futures::future::join_all(callers), release);
    for result in results {
        assert_eq!(*result.unwrap(), written);
    }
    drop(ctx);
    finish(verifier).await;
}
