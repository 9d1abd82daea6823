//! The periodic scheduling pass: a [`SchedulingSnapshot`] from the reflector stores, the
//! policy crate's [`schedule`], and its actions applied.
//!
//! - Start → the ledger's charge sequence ([`ledger_io::start`]): the intent and phase
//!   Scheduled on the job, the charge on the budget (keyed by the reservation id), the
//!   acknowledgement on the job; the BatchJob reconcile then creates the Jobs and moves it
//!   to Ready.
//! - Wait → the job's waiting conditions, written only when they changed.
//! - Fail → phase Failed with the reason.
//!
//! - Budgets whose windows ended are rolled and written, so they show the current window.
//!
//! Runs every [`PERIOD`] and whenever [`Context::wake`] is notified (queue or budget
//! changes, finished jobs).

use crate::context::{Context, Error};
use crate::decide::with_phase;
use crate::ledger_io;
use crate::writes::{write_budget_status, write_job_status};
use jiff::Timestamp;
use kbatch_policy::api::{BatchBudget, BatchJob, JobPhase};
use kbatch_policy::budget::{BudgetPlan, roll_due};
use kbatch_policy::scheduling::{Action, SchedulingSnapshot, merge_conditions, schedule};
use kube::ResourceExt;
use std::collections::HashMap;
use std::time::Duration;

/// The longest time between two passes.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The snapshot of everything the stores hold.
pub fn snapshot(ctx: &Context) -> SchedulingSnapshot {
    let s = &ctx.stores;
    let jobs = s.jobs.state();
    let queues = s.queues.state();
    let priorities = s.priorities.state();
    let budgets = s.budgets.state();
    let models = s.cost_models.state();
    SchedulingSnapshot::from_objects(
        jobs.iter().map(AsRef::as_ref),
        queues.iter().map(AsRef::as_ref),
        priorities.iter().map(AsRef::as_ref),
        budgets.iter().map(AsRef::as_ref),
        models.iter().map(AsRef::as_ref),
    )
}

/// One pass at `now`: returns how many actions failed (each is logged; the next pass or
/// the job's reconcile retries).
pub async fn pass(ctx: &Context, now: Timestamp) -> usize {
    let started = std::time::Instant::now();
    let snapshot = snapshot(ctx);
    let actions = schedule(&snapshot, now);
    // Budgets as last written in this pass: two Starts on one budget must chain their
    // conditional writes.
    let mut budgets: HashMap<String, BatchBudget> = HashMap::new();
    let mut failures = 0;
    for action in actions {
        let job_ref = action.job();
        let Some(job) = ctx.stores.job(job_ref.namespace, job_ref.name, job_ref.uid) else {
            continue;
        };
        if job.metadata.deletion_timestamp.is_some() {
            // Going away: never reserve for it (the reconcile releases it).
            continue;
        }
        if let Err(error) = apply(ctx, &job, action, &mut budgets, now).await {
            failures += 1;
            if error.is_conflict() {
                tracing::debug!(job = %job_ref, %error, "stale view; next pass retries");
            } else {
                tracing::warn!(job = %job_ref, %error, "scheduling action failed");
            }
        }
    }
    let failures = failures + roll_budgets(ctx, &budgets, now).await;
    ctx.observed.pass_took(started.elapsed());
    failures
}

/// Writes the budgets whose windows ended since their last write, rolled (the ledger rolls
/// them too, but only when it charges or refunds): `kubectl get bbud` then shows the current
/// window. At most one write per budget per window. Returns how many writes failed.
async fn roll_budgets(
    ctx: &Context,
    written: &HashMap<String, BatchBudget>,
    now: Timestamp,
) -> usize {
    let mut failures = 0;
    for stored in ctx.stores.budgets.state() {
        let name = stored.name_any();
        let budget = written.get(&name).unwrap_or(&stored);
        let Ok(plan) = BudgetPlan::from_budget(budget) else {
            continue;
        };
        let status = budget.status.clone().unwrap_or_default();
        let Some(rolled) = roll_due(&status, &plan, now) else {
            continue;
        };
        if let Err(error) = write_budget_status(&ctx.client, budget, &rolled).await {
            failures += 1;
            tracing::debug!(budget = %name, %error, "rolling the windows failed; next pass retries");
        }
    }
    failures
}

async fn apply(
    ctx: &Context,
    job: &BatchJob,
    action: Action<'_>,
    budgets: &mut HashMap<String, BatchBudget>,
    now: Timestamp,
) -> Result<(), Error> {
    let status = job.status.clone().unwrap_or_default();
    match action {
        Action::Start { job: r, budget, .. } => {
            let current = match budgets.remove(budget) {
                Some(b) => b,
                None => ctx
                    .stores
                    .budget(budget)
                    .ok_or_else(|| Error::MissingPolicy {
                        kind: "BatchBudget",
                        name: budget.to_owned(),
                        context: format!(": the queue of {r} names it"),
                    })?,
            };
            tracing::info!(job = %r, %budget, "starting: reserving the budget");
            let written = ledger_io::start(ctx, job, current, now).await?;
            budgets.insert(budget.to_owned(), written);
        }
        Action::Wait { conditions, .. } => {
            let merged = merge_conditions(&status.conditions, &conditions, now);
            if merged != status.conditions {
                let mut next = status;
                next.conditions = merged;
                write_job_status(ctx, job, &next).await?;
            }
        }
        Action::Fail {
            job: r,
            reason,
            message,
        } => {
            tracing::info!(job = %r, reason, %message, "failing");
            let next = with_phase(&status, JobPhase::Failed, reason, message, now);
            write_job_status(ctx, job, &next).await?;
        }
    }
    Ok(())
}

/// Runs passes forever: every [`PERIOD`], or sooner when woken. Starts once the stores
/// hold their initial lists.
pub async fn run(ctx: &Context) -> Result<std::convert::Infallible, Error> {
    ctx.stores.ready().await?;
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = ctx.wake.notified() => {}
        }
        let failed = pass(ctx, (ctx.now)()).await;
        if failed > 0 {
            tracing::debug!(failed, "scheduling pass finished with failures");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::fixtures::{batch_job, budget, queue, to_json};
    use crate::mock::{Expect, World, context, finish, serve, test_now};
    use crate::writes::{budget_status_patch, job_status_patch};
    use http::Method;
    use kbatch_policy::api::{BatchCostModel, BatchJobStatus, RESERVATION_FINALIZER};
    use kbatch_policy::budget::ledger::{Charge, ack_charge, apply_charge, plan_charge};
    use kbatch_policy::budget::{BudgetPlan, CostModel};
    use kbatch_policy::phase::reason;
    use serde_json::json;

    const BUDGET_STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/batchbudgets/team/status?";

    fn job_uri(name: &str, status: bool) -> String {
        let sub = if status { "/status" } else { "" };
        format!("/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/{name}{sub}?")
    }

    fn cost_model() -> BatchCostModel {
        serde_json::from_value(json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
            "metadata": {"name": "gke"}, "spec": {"resources": {"cpu": 0.5}}
        }))
        .unwrap()
    }

    /// A queued job `name` (uid `uid`, resourceVersion `rv`) created `minute` minutes past 9.
    fn queued(name: &str, uid: &str, rv: &str, minute: u32) -> BatchJob {
        let mut job = batch_job(1);
        job.metadata.name = Some(name.into());
        job.metadata.uid = Some(uid.into());
        job.metadata.resource_version = Some(rv.into());
        job.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                format!("2026-11-22T09:{minute:02}:00Z").parse().unwrap(),
            ));
        job.status = Some(BatchJobStatus {
            phase: Some(JobPhase::Queued),
            ..BatchJobStatus::default()
        });
        job
    }

    /// The requests of one Start of `job` whose budget is `budget` (as last written),
    /// answered as the API server would: F, J1, B1, J2. Returns them and the budget as B1
    /// stored it.
    fn start_requests(
        job: &BatchJob,
        budget: &BatchBudget,
        new_rv: u32,
    ) -> (Vec<Expect>, BatchBudget) {
        let name = job.metadata.name.clone().unwrap();
        let now = test_now();
        let model = CostModel::from_spec(&cost_model().spec).unwrap();
        let intent = plan_charge(job, "team", &model.job_cost(&job.spec).unwrap(), now).unwrap();
        let rv = job.metadata.resource_version.clone();
        // F: the finalizer, conditional on the stored version.
        let mut with_finalizer = job.clone();
        with_finalizer.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
        with_finalizer.metadata.resource_version = Some(new_rv.to_string());
        let f = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers", "value": [RESERVATION_FINALIZER]}
        ]);
        // J1: the intent, conditional on F's answer.
        let j1 = with_phase(
            &crate::ledger_io::status_with(job, intent.clone()),
            JobPhase::Scheduled,
            reason::SCHEDULED,
            "chosen to run; reserving its budget".into(),
            now,
        );
        let mut after_j1 = with_finalizer.clone();
        after_j1.status = Some(j1.clone());
        after_j1.metadata.resource_version = Some((new_rv + 1).to_string());
        // B1: conditional on the budget as last written in this pass.
        let plan = BudgetPlan::from_budget(budget).unwrap();
        let charge = Charge {
            id: job.metadata.uid.clone().unwrap(),
            job: format!("ns/{name}"),
            amount: intent.amount,
            ceiling: intent.ceiling(),
        };
        let b1 = apply_charge(
            &budget.status.clone().unwrap_or_default(),
            &plan,
            &charge,
            now,
        );
        assert!(b1.applied);
        let mut charged = budget.clone();
        charged.status = Some(b1.status.clone());
        let budget_rv: u32 = budget
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        charged.metadata.resource_version = Some((budget_rv + 1).to_string());
        // J2: the acknowledgement.
        let j2 = crate::ledger_io::status_with(&after_j1, ack_charge(&intent, &b1.entry).unwrap());
        let mut after_j2 = after_j1.clone();
        after_j2.status = Some(j2.clone());
        let requests = vec![
            Expect::new(
                Method::PATCH,
                &job_uri(&name, false),
                to_json(&with_finalizer),
            )
            .body(f),
            Expect::new(Method::PATCH, &job_uri(&name, true), to_json(&after_j1))
                .body(job_status_patch(Some(&new_rv.to_string()), &j1).unwrap()),
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&charged)).body(
                budget_status_patch(budget.metadata.resource_version.as_deref(), &b1.status)
                    .unwrap(),
            ),
            Expect::new(Method::PATCH, &job_uri(&name, true), to_json(&after_j2))
                .body(job_status_patch(Some(&(new_rv + 1).to_string()), &j2).unwrap()),
        ];
        (requests, charged)
    }

    /// Two Starts on one budget in one pass: the second charge is conditional on the
    /// version the first one returned (and adds to it), not on the store's stale one. A
    /// queued job being deleted gets nothing.
    #[tokio::test]
    async fn starts_reserve_in_order_and_chain_their_budget_writes() {
        let first = queued("pi", "u1", "7", 0);
        let second = queued("pj", "u2", "17", 1);
        let mut deleting = queued("pk", "u3", "27", 2);
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(test_now()),
        );
        let (mut expected, after_first) = start_requests(&first, &budget(), 8);
        let (more, _) = start_requests(&second, &after_first, 18);
        expected.extend(more);

        let (ctx, handle, _writers) = context(World {
            jobs: vec![first, second, deleting],
            queues: vec![queue()],
            priorities: vec![crate::fixtures::priority(false)],
            budgets: vec![budget()],
            cost_models: vec![cost_model()],
            owned: vec![],
        });
        let verifier = serve(handle, expected);
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;
    }

    /// A queued job its user terminated fails with the scheduler's reason, in one write.
    #[tokio::test]
    async fn a_job_terminated_before_it_started_fails() {
        let mut job = queued("pi", "u1", "7", 0);
        job.spec.user_command = Some(crate::decide::TERMINATE.into());
        let status = with_phase(
            job.status.as_ref().unwrap(),
            JobPhase::Failed,
            reason::TERMINATED,
            "terminated by userCommand: Terminate before it started".into(),
            test_now(),
        );
        let mut failed = job.clone();
        failed.status = Some(status.clone());
        let (ctx, handle, _writers) = context(World {
            jobs: vec![job],
            queues: vec![queue()],
            budgets: vec![budget()],
            cost_models: vec![cost_model()],
            ..World::default()
        });
        let verifier = serve(
            handle,
            vec![
                Expect::new(Method::PATCH, &job_uri("pi", true), to_json(&failed))
                    .body(job_status_patch(Some("7"), &status).unwrap()),
            ],
        );
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;
    }

    /// A failed write is counted and the pass goes on with the next action.
    #[tokio::test]
    async fn a_refused_write_is_counted_not_fatal() {
        let mut job = queued("pi", "u1", "7", 0);
        job.spec.user_command = Some(crate::decide::TERMINATE.into());
        let (ctx, handle, _writers) = context(World {
            jobs: vec![job],
            queues: vec![queue()],
            budgets: vec![budget()],
            cost_models: vec![cost_model()],
            ..World::default()
        });
        let verifier = serve(
            handle,
            vec![
                Expect::new(
                    Method::PATCH,
                    &job_uri("pi", true),
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Conflict", "code": 409, "message": "modified"}),
                )
                .status(409),
            ],
        );
        assert_eq!(pass(&ctx, test_now()).await, 1);
        drop(ctx);
        finish(verifier).await;
    }

    #[tokio::test]
    async fn a_job_of_a_paused_queue_gets_its_waiting_conditions_once() {
        let mut job = batch_job(1);
        job.status = Some(BatchJobStatus {
            phase: Some(JobPhase::Queued),
            ..BatchJobStatus::default()
        });
        let mut paused = queue();
        paused.spec.pause_scheduling = true;
        let world = |job: &BatchJob| World {
            jobs: vec![job.clone()],
            queues: vec![paused.clone()],
            budgets: vec![budget()],
            ..World::default()
        };
        let (ctx, handle, _writers) = context(world(&job));
        let view = snapshot(&ctx);
        let actions = schedule(&view, test_now());
        let Some(Action::Wait { conditions, .. }) = actions.first() else {
            panic!("a job of a paused queue waits: {actions:?}")
        };
        assert!(conditions.iter().any(|c| c.type_ == "QueuePaused"));
        let status = BatchJobStatus {
            phase: Some(JobPhase::Queued),
            conditions: merge_conditions(&[], conditions, test_now()),
            ..BatchJobStatus::default()
        };
        let mut written = job.clone();
        written.status = Some(status.clone());
        let verifier = serve(
            handle,
            vec![
                Expect::new(
                    Method::PATCH,
                    "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi/status?",
                    to_json(&written),
                )
                .body(job_status_patch(Some("7"), &status).unwrap()),
            ],
        );
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;

        // Next pass, same view of the world with the conditions written: no write.
        drop(actions);
        drop(view);
        let (ctx, handle, _writers) = context(world(&written));
        let verifier = serve(handle, vec![]);
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;
    }

    /// A window that ended since the budget's last write is rolled by the pass, once.
    #[tokio::test]
    async fn an_ended_window_is_rolled_once_without_any_job() {
        let mut stale = budget();
        let plan = BudgetPlan::from_budget(&stale).unwrap();
        let yesterday: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        stale.status = Some(kbatch_policy::budget::roll_windows(
            &Default::default(),
            &plan,
            yesterday,
        ));
        let rolled =
            kbatch_policy::budget::roll_windows(stale.status.as_ref().unwrap(), &plan, test_now());
        assert_eq!(rolled.window_status_list[0].window_history.len(), 1);
        let mut written = stale.clone();
        written.status = Some(rolled.clone());
        let (ctx, handle, _writers) = context(World {
            budgets: vec![stale],
            ..World::default()
        });
        let verifier = serve(
            handle,
            vec![
                Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&written))
                    .body(budget_status_patch(Some("5"), &rolled).unwrap()),
            ],
        );
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;

        // Current now: nothing to write.
        let (ctx, handle, _writers) = context(World {
            budgets: vec![written],
            ..World::default()
        });
        let verifier = serve(handle, vec![]);
        assert_eq!(pass(&ctx, test_now()).await, 0);
        drop(ctx);
        finish(verifier).await;
    }
}
