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
const JOB: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi?";
const BUDGET_STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team/status?";

/// The budget holding the 2.00 charge of `pi`'s reservation (`u1`), made at 09:00.
fn charged_budget() -> BatchBudget {
    use kbatch_policy::budget::BudgetPlan;
    use kbatch_policy::budget::ledger::{Charge, apply_charge};
    let mut b = budget();
    let plan = BudgetPlan::from_budget(&b).unwrap();
    let charge = Charge {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: kbatch_policy::budget::Money::parse("2").unwrap(),
        ceiling: kbatch_policy::budget::Money::parse("2").unwrap(),
    };
    let at = "2026-11-22T09:00:00Z".parse().unwrap();
    b.status = Some(apply_charge(b.status.as_ref().unwrap(), &plan, &charge, at).status);
    b
}

/// B2 of `record` after a run of `ran` against `budget`, as the reconcile makes it at
/// [`test_now`]: the budget status written and the record acknowledging it.
fn refunded(
    budget: &BatchBudget,
    record: &kbatch_policy::budget::ReservationRecord,
    ran: jiff::SignedDuration,
) -> (
    kbatch_policy::api::BatchBudgetStatus,
    kbatch_policy::budget::ReservationRecord,
) {
    use kbatch_policy::budget::BudgetPlan;
    use kbatch_policy::budget::ledger::{Refund, ack_refund, apply_refund, plan_refund};
    let plan = BudgetPlan::from_budget(budget).unwrap();
    let planned = plan_refund(record, ran).unwrap();
    let claim = Refund {
        id: "u1".into(),
        job: "ns/pi".into(),
        amount: planned.refund.unwrap(),
        actual_cost: planned.actual_cost.unwrap(),
    };
    let b2 = apply_refund(budget.status.as_ref().unwrap(), &plan, &claim, test_now());
    assert!(b2.applied);
    (b2.status, ack_refund(&planned, &b2.entry).unwrap())
}

/// The requests that end a charged job at [`test_now`] with `status` (its final phase,
/// reservation Charged): B2 (billed from the charge at 09:00, the record having no Running
/// condition, to 10:00), the final status with the refund acknowledged, then the finalizer's
/// removal conditional on that write. Returns them with the budget holding the charge.
fn refunded_then_ended(
    job: &BatchJob,
    mut status: kbatch_policy::api::BatchJobStatus,
) -> (BatchBudget, Vec<Expect>) {
    let budget = charged_budget();
    let record = status.reservation.clone().unwrap();
    let (b2, acked) = refunded(&budget, &record, jiff::SignedDuration::from_hours(1));
    status.budget_consumed = Some(kbatch_policy::budget::ledger::consumed(&acked).to_f64());
    status.reservation = Some(acked);
    let mut patched = at_version(job, "8");
    patched.status = Some(status.clone());
    let mut released = at_version(&patched, "9");
    released.metadata.finalizers = Some(vec![]);
    let mut written_budget = at_version(&budget, "6");
    written_budget.status = Some(b2.clone());
    let requests = vec![
        Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&written_budget))
            .body(crate::writes::budget_status_patch(Some("5"), &b2).unwrap()),
        Expect::new(Method::PATCH, STATUS, to_json(&patched))
            .body(job_status_patch(Some("7"), &status).unwrap()),
        Expect::new(Method::PATCH, JOB, to_json(&released)).body(release_patch("8", 0)),
    ];
    (budget, requests)
}

/// `object` as the API server returns it after a write: `resourceVersion` `rv`.
fn at_version<T: kube::Resource + Clone>(object: &T, rv: &str) -> T {
    let mut o = object.clone();
    o.meta_mut().resource_version = Some(rv.into());
    o
}

/// The JSON patch removing the reservation finalizer (at `index`), conditional on `rv`.
fn release_patch(rv: &str, index: usize) -> serde_json::Value {
    serde_json::json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")}
    ])
}

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
async fn a_job_whose_tasks_all_succeeded_is_refunded_then_succeeds() {
    // B2 first, then the final phase with the refund acknowledged, then the finalizer (from
    // the version the status write returned): no job is seen Succeeded holding its money.
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
    let (budget, ending) = refunded_then_ended(&job, status);
    let (ctx, handle, _writers) = context(World {
        budgets: vec![budget.clone()],
        ..world(&job, vec![done])
    });
    let verifier = serve(handle, ending);
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
    let (budget, ending) = refunded_then_ended(&job, status);
    let (ctx, handle, _writers) = context(World {
        budgets: vec![budget.clone()],
        ..world(&job, vec![running.clone()])
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/pi-main?",
                to_json(&running),
            )
            .body(serde_json::json!({"propagationPolicy": "Background"})),
        ]
        .into_iter()
        .chain(ending)
        .collect(),
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}

/// A BatchJob deleted while it runs, holding a charged reservation of 2.00 for 1 h charged
/// at 09:30: at 10:00 its Job is deleted, the unused 1.00 refunded (B2 → J4), and only then
/// the finalizer removed, conditional on the last job write. (The refund entry is pruned by a
/// later budget write, or at once when the job is gone.)
#[tokio::test]
async fn a_deleted_job_is_refunded_then_released() {
    use crate::fixtures::record;
    use crate::ledger_io::status_with;
    use crate::writes::budget_status_patch;
    use kbatch_policy::budget::ledger::{
        Charge, Refund, ack_refund, apply_charge, apply_refund, plan_refund,
    };
    use kbatch_policy::budget::{BudgetPlan, ReservationState};

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

    // 30 of the 60 reserved minutes ran (until now, not until the Running condition).
    let planned = plan_refund(&charged, jiff::SignedDuration::from_mins(30)).unwrap();
    assert_eq!(
        planned.refund.map(|m| m.to_string()).as_deref(),
        Some("1.00")
    );
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
    let j4 = status_with(&job, ack_refund(&planned, &b2.entry).unwrap());
    let mut job_v8 = job.clone();
    job_v8.status = Some(j4.clone());
    job_v8.metadata.resource_version = Some("8".into());
    // F: the finalizer goes last, conditional on J4's version; the other one stays.
    let mut released = job_v8.clone();
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
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&budget_v6))
                .body(budget_status_patch(Some("5"), &b2.status).unwrap()),
            Expect::new(Method::PATCH, STATUS, to_json(&job_v8))
                .body(job_status_patch(Some("7"), &j4).unwrap()),
            Expect::new(Method::PATCH, JOB, to_json(&released)).body(release_patch("8", 1)),
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
        vec![Expect::new(Method::PATCH, JOB, to_json(&released)).body(release_patch("7", 0))],
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

/// The pass is between a job's intent and its charge: its reconcile sends nothing and looks
/// again soon.
#[tokio::test]
async fn a_job_being_started_waits_for_its_start() {
    let job = batch_job(1).in_phase(JobPhase::Scheduled);
    let (ctx, handle, _writers) = context(world(&job, vec![]));
    let verifier = serve(handle, vec![]);
    let starting = ctx.starting(vec!["u1".into()]);
    let action = reconcile(Arc::new(job.clone()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(STARTING_RETRY));
    drop(starting);
    assert!(!ctx.is_starting("u1"));
    drop(ctx);
    finish(verifier).await;
}

/// A job no one has written yet is the scheduling pass's: no request, no Queued write.
#[tokio::test]
async fn a_new_job_is_left_to_the_scheduling_pass() {
    let job = batch_job(1);
    let (ctx, handle, _writers) = context(world(&job, vec![]));
    let verifier = serve(handle, vec![]);
    let action = reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    drop(ctx);
    finish(verifier).await;
}

/// Scheduled, its charge in the budget but not acknowledged on the job, its task running:
/// one write, Running with the charge acknowledged (J2 folded into it).
#[tokio::test]
async fn the_running_write_carries_the_charges_acknowledgement() {
    use crate::fixtures::record;
    use kbatch_policy::budget::ReservationState;
    use kbatch_policy::budget::ledger::catch_up;

    let mut job = batch_job(1).in_phase(JobPhase::Scheduled);
    let intent = record(ReservationState::Charging);
    job.status.as_mut().unwrap().reservation = Some(intent.clone());
    job.status.as_mut().unwrap().budget_consumed = Some(0.0);
    let budget = charged_budget();
    let acked = catch_up(&intent, budget.status.as_ref().unwrap());
    assert_eq!(acked.state, ReservationState::Charged);
    let running = owned_job(1, progress(1, 0));
    let mut caught = job.clone();
    caught.status = Some(crate::ledger_io::status_with(&job, acked));
    let status = expected_status(
        &caught,
        JobPhase::Running,
        reason::STARTED,
        "tasks are running",
        vec![GroupStatus {
            name: "main".into(),
            active: 1,
            ..GroupStatus::default()
        }],
    );
    let mut patched = at_version(&job, "8");
    patched.status = Some(status.clone());
    let (ctx, handle, _writers) = context(World {
        budgets: vec![budget],
        ..world(&job, vec![running])
    });
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

/// The store still shows the job before the controller's own Running write (its watch lags):
/// the reconcile acts on the version the controller wrote, so nothing is written again (a
/// write from the stale version would be refused, then retried).
#[tokio::test]
async fn a_store_behind_the_controllers_own_write_is_not_acted_on() {
    let job = batch_job(1).in_phase(JobPhase::Scheduled);
    let running_job = owned_job(1, progress(1, 0));
    let status = expected_status(
        &job,
        JobPhase::Running,
        reason::STARTED,
        "tasks are running",
        vec![GroupStatus {
            name: "main".into(),
            active: 1,
            ..GroupStatus::default()
        }],
    );
    let mut written = at_version(&job, "8");
    written.status = Some(status);
    let (ctx, handle, _writers) = context(world(&job, vec![running_job]));
    let verifier = serve(handle, vec![]);
    ctx.remember_job(&written);
    reconcile(Arc::new(job.clone()), ctx.clone()).await.unwrap();
    // Once the store has caught up, its version is the one used (and the copy dropped).
    assert_eq!(*ctx.newest_job(Arc::new(written.clone())), written);
    assert_eq!(*ctx.newest_job(Arc::new(job.clone())), job);
    drop(ctx);
    finish(verifier).await;
}
