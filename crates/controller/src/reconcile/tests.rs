#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Reconciles against a mocked API server: every request checked in order.

use super::*;
use crate::fixtures::{BatchJobExt, batch_job, budget, owned_job, progress, to_json};
use crate::mock::{Expect, World, context, finish, serve, test_now};
use crate::writes::job_status_patch;
use http::Method;
use kbatch_policy::api::{GroupStatus, JobPhase, RESERVATION_FINALIZER};
use kbatch_policy::phase::reason;
use kbatch_policy::scheduling::{Condition, merge_conditions};

const STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi/status?";

/// The caches: `job`, the budget, and the Jobs `job` owns.
fn world(job: &BatchJob, owned: Vec<Job>) -> World {
    World {
        jobs: vec![job.clone()],
        budgets: vec![budget()],
        owned,
        ..World::default()
    }
}

/// The status `job` should end with: `phase` with condition `reason: message`, and
/// `groups` as its groupStatus.
fn expected_status(
    job: &BatchJob,
    phase: JobPhase,
    why: &'static str,
    message: &str,
    groups: Vec<GroupStatus>,
) -> kbatch_policy::api::BatchJobStatus {
    let mut status = job.status.clone().unwrap_or_default();
    status.group_status = groups;
    status.conditions = merge_conditions(
        &status.conditions,
        &[Condition::new(why, why, message.to_owned())],
        test_now(),
    );
    status.phase = Some(phase);
    status
}

#[tokio::test]
async fn a_ready_job_gets_exactly_its_jobs() {
    let job = batch_job(3).in_phase(JobPhase::Ready);
    let expected = crate::job::jobs_for(&job).unwrap();
    assert_eq!(expected.len(), 1);
    let (ctx, handle, _writers) = context(world(&job, vec![]));
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::POST,
                "/apis/batch/v1/namespaces/ns/jobs?",
                to_json(&expected[0]),
            )
            .body(to_json(&expected[0])),
        ],
    );
    let action = reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    // Ready: looked at again soon, to say why its pods wait if they do.
    assert_eq!(action, Action::requeue(READY_RESYNC));
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_job_whose_tasks_all_succeeded_succeeds() {
    let job = batch_job(2).in_phase(JobPhase::Running);
    let done = owned_job(2, progress(0, 2));
    let status = expected_status(
        &job,
        JobPhase::Succeeded,
        reason::COMPLETED,
        "2 tasks succeeded",
        vec![GroupStatus {
            name: "main".into(),
            succeeded_indexes: "0-1".into(),
            succeeded: 2,
            ..GroupStatus::default()
        }],
    );
    let mut patched = job.clone();
    patched.status = Some(status.clone());
    let (ctx, handle, _writers) = context(world(&job, vec![done]));
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::PATCH, STATUS, to_json(&patched))
                .body(job_status_patch(Some("7"), &status).unwrap()),
        ],
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn terminate_deletes_the_jobs_and_fails_the_job() {
    let job = batch_job(2).in_phase(JobPhase::Running).terminated();
    let running = owned_job(2, progress(1, 1));
    let status = expected_status(
        &job,
        JobPhase::Failed,
        reason::TERMINATED,
        "terminated by userCommand: Terminate",
        vec![GroupStatus {
            name: "main".into(),
            succeeded_indexes: "0".into(),
            active: 1,
            succeeded: 1,
            ..GroupStatus::default()
        }],
    );
    let mut patched = job.clone();
    patched.status = Some(status.clone());
    let (ctx, handle, _writers) = context(world(&job, vec![running.clone()]));
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/pi-main?",
                to_json(&running),
            )
            .body(serde_json::json!({"propagationPolicy": "Background"})),
            Expect::new(Method::PATCH, STATUS, to_json(&patched))
                .body(job_status_patch(Some("7"), &status).unwrap()),
        ],
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}

/// A BatchJob deleted while it runs, holding a charged reservation of 2.00 for 1 h charged
/// at 09:30: at 10:00 its Job is deleted, the unused 1.00 refunded (J3 → B2 → J4 → B3 prune),
/// and only then the finalizer removed, conditional on the last job write.
#[tokio::test]
async fn a_deleted_job_is_refunded_then_released() {
    use crate::fixtures::record;
    use crate::ledger_io::status_with;
    use crate::writes::budget_status_patch;
    use kbatch_policy::budget::ledger::{
        Charge, Refund, ack_refund, acknowledged, apply_charge, apply_refund, plan_refund, prune,
    };
    use kbatch_policy::budget::{BudgetPlan, ReservationState};

    const JOB: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi?";
    const BUDGET_STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team/status?";

    let mut job = batch_job(1).in_phase(JobPhase::Running);
    job.metadata.finalizers = Some(vec!["other".into(), RESERVATION_FINALIZER.into()]);
    job.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:55:00Z".parse().unwrap(),
    ));
    let mut charged = record(ReservationState::Charged);
    charged.charged_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:30:00Z".parse().unwrap(),
    ));
    job.status.as_mut().unwrap().reservation = Some(charged.clone());
    // Its tasks started at the charge: it ran from 09:30.
    job.status.as_mut().unwrap().conditions = vec![kbatch_policy::api::BatchJobCondition {
        type_: kbatch_policy::phase::reason::STARTED.into(),
        status: "True".into(),
        time: charged.charged_at.clone(),
        ..Default::default()
    }];
    let now = test_now();

    let plan = BudgetPlan::from_budget(&budget()).unwrap();
    let b1 = apply_charge(
        &Default::default(),
        &plan,
        &Charge {
            id: "u1".into(),
            job: "ns/pi".into(),
            amount: charged.amount,
            ceiling: charged.amount,
        },
        now,
    );
    let mut budget_v5 = budget();
    budget_v5.status = Some(b1.status.clone());

    // J3: 30 of the 60 reserved minutes ran (until now, not until the Running condition).
    let planned = plan_refund(&charged, jiff::SignedDuration::from_mins(30)).unwrap();
    assert_eq!(
        planned.refund.map(|m| m.to_string()).as_deref(),
        Some("1.00")
    );
    let j3 = status_with(&job, planned.clone());
    let mut job_v8 = job.clone();
    job_v8.status = Some(j3.clone());
    job_v8.metadata.resource_version = Some("8".into());
    // B2: the refund, keyed by the reservation id.
    let refund = Refund {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: planned.refund.unwrap(),
        actual_cost: planned.actual_cost.unwrap(),
    };
    let b2 = apply_refund(&b1.status, &plan, &refund, now);
    assert!(b2.applied);
    let mut budget_v6 = budget_v5.clone();
    budget_v6.status = Some(b2.status.clone());
    budget_v6.metadata.resource_version = Some("6".into());
    // J4: the acknowledgement.
    let j4 = status_with(&job_v8, ack_refund(&planned, &b2.entry).unwrap());
    let mut job_v9 = job_v8.clone();
    job_v9.status = Some(j4.clone());
    job_v9.metadata.resource_version = Some("9".into());
    // B3: the entry leaves the ledger before the job can go (nothing would prune it after).
    let (pruned, removed) = prune(&b2.status, |e| acknowledged(e, j4.reservation.as_ref()));
    assert_eq!(removed, 1);
    let mut budget_v7 = budget_v6.clone();
    budget_v7.status = Some(pruned.clone());
    // F: the finalizer goes last, conditional on J4's version; the other one stays.
    let release = serde_json::json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "9"},
        {"op": "remove", "path": "/metadata/finalizers/1"}
    ]);
    let mut released = job_v9.clone();
    released.metadata.finalizers = Some(vec!["other".into()]);

    let running = owned_job(1, progress(1, 0));
    let (ctx, handle, _writers) = context(World {
        jobs: vec![job.clone()],
        budgets: vec![budget_v5.clone()],
        owned: vec![running.clone()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/pi-main?",
                to_json(&running),
            ),
            Expect::new(Method::PATCH, STATUS, to_json(&job_v8))
                .body(job_status_patch(Some("7"), &j3).unwrap()),
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v6))
                .body(budget_status_patch(Some("5"), &b2.status).unwrap()),
            Expect::new(Method::PATCH, STATUS, to_json(&job_v9))
                .body(job_status_patch(Some("8"), &j4).unwrap()),
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v7))
                .body(budget_status_patch(Some("6"), &pruned).unwrap()),
            Expect::new(Method::PATCH, JOB, to_json(&released)).body(release),
        ],
    );
    let action = reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    drop(ctx);
    finish(verifier).await;
}

/// A job deleted after the finalizer was added but before anything was reserved (a crash
/// between the two writes): the finalizer goes, nothing else is written.
#[tokio::test]
async fn a_deleted_job_that_never_reserved_is_released_at_once() {
    let mut job = batch_job(1);
    job.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
    job.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:55:00Z".parse().unwrap(),
    ));
    let mut released = job.clone();
    released.metadata.finalizers = Some(vec![]);
    let (ctx, handle, _writers) = context(world(&job, vec![]));
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::PATCH,
                "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi?",
                to_json(&released),
            )
            .body(serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "remove", "path": "/metadata/finalizers/0"}
            ])),
        ],
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}

/// A deleted job whose reservation is charged, seen before the budget store has listed: the
/// reconcile waits for the stores rather than taking "budget not in the store" for "budget
/// deleted", which would remove the finalizer and lose the refund.
#[tokio::test]
async fn a_reconcile_waits_for_the_stores_before_it_releases_a_charged_job() {
    use crate::fixtures::record;
    use kbatch_policy::budget::ReservationState;

    let mut job = batch_job(1).in_phase(JobPhase::Running);
    job.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
    job.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-22T09:55:00Z".parse().unwrap(),
    ));
    job.status.as_mut().unwrap().reservation = Some(record(ReservationState::Charged));
    let (ctx, handle, _writers, _budgets) = crate::mock::context_with_budgets_unsynced(World {
        jobs: vec![job.clone()],
        ..World::default()
    });
    // No request at all: not even the list of its Jobs.
    let verifier = serve(handle, vec![]);
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        reconcile(Arc::new(job), ctx.clone()),
    )
    .await;
    assert!(
        waited.is_err(),
        "the reconcile went on without the budgets: {waited:?}"
    );
    drop(ctx);
    finish(verifier).await;
}
