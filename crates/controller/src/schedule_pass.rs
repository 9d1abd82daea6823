//! The periodic scheduling pass: a [`SchedulingSnapshot`] from the reflector stores, the
//! policy crate's [`schedule`], and its actions applied.
//!
//! - Start → the intent and phase Scheduled on each job ([`ledger_io::intend`]), then one
//!   charge per budget for every job started on it ([`ledger_io::charge`]); the BatchJob
//!   reconcile then creates the Jobs. Reconciles of the jobs being started wait until their
//!   charge is written ([`Context::is_starting`]).
//! - Wait → phase Queued and the job's waiting conditions, written only when they changed.
//! - Fail → phase Failed with the reason.
//!
//! A job the controller has not looked at yet (no phase) gets its first status here: Scheduled
//! when it can start at once, else Queued with why it waits.
//!
//! - Budgets whose windows ended are rolled and written, so they show the current window; so
//!   are budgets holding entries their jobs acknowledged, when no charge pruned them.
//!
//! Runs every [`PERIOD`] and whenever [`Context::wake`] is notified (queue or budget
//! changes, new or finished jobs).

use crate::budget_writer::{Step, update_budget};
use crate::context::{Context, Error};
use crate::decide::{first_sight, with_phase};
use crate::ledger_io;
use crate::writes::write_job_status;
use futures::StreamExt;
use jiff::Timestamp;
use kbatch_policy::api::{BatchBudgetStatus, BatchJob, JobPhase};
use kbatch_policy::budget::ledger::Charge;
use kbatch_policy::budget::{BudgetPlan, LedgerEntry, roll_due};
use kbatch_policy::phase::reason;
use kbatch_policy::scheduling::{Action, SchedulingSnapshot, merge_conditions, schedule};
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::Arc;
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
    let mut starts: Vec<(Arc<BatchJob>, String)> = Vec::new();
    let mut others: Vec<(Arc<BatchJob>, Action<'_>)> = Vec::new();
    for action in actions {
        let job_ref = action.job();
        let Some(stored) = ctx.stores.job(job_ref.namespace, job_ref.name, job_ref.uid) else {
            continue;
        };
        // The store's own copy unless this controller wrote a newer one: no clone per job.
        let job = ctx.newest_job(stored);
        if job.metadata.deletion_timestamp.is_some() {
            // Going away: never reserve for it (the reconcile releases it).
            continue;
        }
        if let Action::Start { budget, .. } = action {
            starts.push((job, budget.to_owned()));
        } else {
            others.push((job, action));
        }
    }
    // Waits and failures, a few at a time: most write nothing (their conditions stand).
    let failures = futures::stream::iter(others)
        .map(|(job, action)| async move {
            let job_ref = action.job().to_string();
            let outcome = apply(ctx, &job, action, now).await;
            if let Err(error) = &outcome {
                log_failure(&job_ref, error);
            }
            usize::from(outcome.is_err())
        })
        .buffer_unordered(INTENTS_AT_ONCE)
        .fold(0, |sum, failed| async move { sum + failed })
        .await;
    let failed = start_all(ctx, starts, now).await;
    let failures = failures + failed + roll_budgets(ctx, now).await;
    ctx.observed.pass_took(started.elapsed());
    failures
}

fn log_failure(job: &str, error: &Error) {
    if error.is_conflict() {
        tracing::debug!(%job, %error, "stale view; next pass retries");
    } else {
        tracing::warn!(%job, %error, "scheduling action failed");
    }
}

/// How many intents (or waiting conditions) are written at once.
const INTENTS_AT_ONCE: usize = 8;

/// The Starts of one pass: every intent (J1), then one charge per budget (B1). Returns how
/// many failed (the budgets as written are their writers' latest: [`Context::newest_budget`]).
async fn start_all(ctx: &Context, starts: Vec<(Arc<BatchJob>, String)>, now: Timestamp) -> usize {
    if starts.is_empty() {
        return 0;
    }
    let uids: Vec<String> = starts
        .iter()
        .filter_map(|(j, _)| j.metadata.uid.clone())
        .collect();
    let _starting = ctx.starting(uids);
    let intents: Vec<(String, Result<Charge, Error>)> = futures::stream::iter(starts)
        .map(|(job, budget)| async move {
            let outcome = intend_one(ctx, &job, &budget, now).await;
            if let Err(error) = &outcome {
                log_failure(
                    &format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any()),
                    error,
                );
            }
            (budget, outcome)
        })
        // In the pass's order, so that charges apply in priority order.
        .buffered(INTENTS_AT_ONCE)
        .collect()
        .await;
    let mut failures = 0;
    let mut by_budget: HashMap<String, Vec<Charge>> = HashMap::new();
    for (budget, outcome) in intents {
        match outcome {
            Ok(charge) => by_budget.entry(budget).or_default().push(charge),
            Err(_) => failures += 1,
        }
    }
    for (name, charges) in by_budget {
        let Some(budget) = ctx.newest_budget(&name) else {
            failures += charges.len();
            continue;
        };
        let count = charges.len();
        tracing::info!(budget = %name, jobs = count, "charging the jobs started");
        if let Err(error) = ledger_io::charge(ctx, &budget, charges, now).await {
            // Their reconciles charge them one by one, each after a fresh proof.
            failures += count;
            tracing::warn!(budget = %name, %error, "charging the jobs started failed");
        }
    }
    failures
}

async fn intend_one(
    ctx: &Context,
    job: &BatchJob,
    budget: &str,
    now: Timestamp,
) -> Result<Charge, Error> {
    let current = ctx
        .newest_budget(budget)
        .ok_or_else(|| Error::MissingPolicy {
            kind: "BatchBudget",
            name: budget.to_owned(),
            context: format!(": the queue of {} names it", job.name_any()),
        })?;
    tracing::info!(job = %job.name_any(), %budget, "starting: reserving the budget");
    let priority = queue_priority(ctx, job);
    let (_, charge) =
        ledger_io::intend(ctx, job, &current, |s| first_sight(job, s, priority), now).await?;
    Ok(charge)
}

fn queue_priority(ctx: &Context, job: &BatchJob) -> Option<kbatch_policy::api::PriorityRef> {
    let namespace = job.namespace().unwrap_or_default();
    ctx.stores
        .queue_priority(&namespace, &job.spec.batch_queue_name)
}

/// Acknowledged entries a budget may hold before a write of their own prunes them (other
/// budget writes prune them anyway).
const PRUNE_BATCH: usize = 64;
/// How long an acknowledged entry may stay when no other write prunes it.
const PRUNE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Writes the budgets whose windows ended since their last write, rolled (the ledger rolls
/// them too, but only when it charges or refunds): `kubectl get bbud` then shows the current
/// window. At most one write per budget per window. Budgets holding many entries their jobs
/// acknowledged, or old ones, are written too, to prune them. Returns how many writes failed.
async fn roll_budgets(ctx: &Context, now: Timestamp) -> usize {
    let mut failures = 0;
    for stored in ctx.stores.budgets.state() {
        let name = stored.name_any();
        // This pass's charges included: the writer keeps what it wrote.
        let budget = &ctx.newest_budget(&name).unwrap_or(stored);
        let Ok(plan) = BudgetPlan::from_budget(budget) else {
            continue;
        };
        let no_status = BatchBudgetStatus::default();
        let status = budget.status.as_ref().unwrap_or(&no_status);
        let due = roll_due(status, &plan, now).is_some();
        let acknowledged: Vec<&LedgerEntry> = status
            .ledger
            .iter()
            .filter(|e| ledger_io::entry_acknowledged(ctx, e, now))
            .collect();
        let prune = acknowledged.len() >= PRUNE_BATCH
            || acknowledged
                .iter()
                .any(|e| now.duration_since(e.at.0) > PRUNE_AFTER);
        if !due && !prune {
            continue;
        }
        // The writer prunes what is acknowledged with any write it makes.
        let step: Step =
            Box::new(move |st| Some(roll_due(st, &plan, now).unwrap_or_else(|| st.clone())));
        if let Err(error) = update_budget(ctx, budget, "", step).await {
            failures += 1;
            tracing::debug!(budget = %name, %error, "rolling or pruning failed; next pass retries");
        }
    }
    failures
}

async fn apply(
    ctx: &Context,
    job: &BatchJob,
    action: Action<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    let status = job.status.clone().unwrap_or_default();
    let mut next = status.clone();
    first_sight(job, &mut next, queue_priority(ctx, job));
    match action {
        // Made by `start_all`.
        Action::Start { .. } => return Ok(()),
        Action::Wait { conditions, .. } => {
            if next.phase.is_none() {
                next = with_phase(
                    &next,
                    JobPhase::Queued,
                    reason::SUBMITTED,
                    "queued".to_owned(),
                    now,
                );
            }
            next.conditions = merge_conditions(&next.conditions, &conditions, now);
        }
        Action::Fail {
            job: r,
            reason,
            message,
        } => {
            tracing::info!(job = %r, reason, %message, "failing");
            next = with_phase(&next, JobPhase::Failed, reason, message, now);
        }
    }
    if next != status {
        write_job_status(ctx, job, &next).await?;
    }
    Ok(())
}

/// The shortest time between two passes: jobs submitted together are started by one pass,
/// which charges their budget in one write.
pub const MIN_GAP: Duration = Duration::from_millis(500);

/// Runs passes forever: every [`PERIOD`], or sooner when woken (at most one per
/// [`MIN_GAP`]). Starts once the stores hold their initial lists.
pub async fn run(ctx: &Context) -> Result<std::convert::Infallible, Error> {
    ctx.stores.ready().await?;
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = ctx.wake.notified() => {}
        }
        if let Some(at) = last {
            tokio::time::sleep_until(at + MIN_GAP).await;
        }
        last = Some(tokio::time::Instant::now());
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
    use crate::mock::{Expect, World, context, finish, serve, serve_any_order, test_now};
    use crate::writes::{budget_status_patch, job_status_patch};
    use http::Method;
    use kbatch_policy::api::{BatchCostModel, BatchJobStatus, RESERVATION_FINALIZER};
    use kbatch_policy::budget::ledger::{apply_charge, plan_charge};
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

    /// The requests of the Start of `job` up to its intent, answered as the API server would:
    /// F (the finalizer, when the webhook did not add it) then J1. Returns them and its charge.
    fn intent_requests(job: &BatchJob, new_rv: u32) -> (Vec<Expect>, Charge) {
        let name = job.metadata.name.clone().unwrap();
        let now = test_now();
        let model = CostModel::from_spec(&cost_model().spec).unwrap();
        let intent = plan_charge(job, "team", &model.job_cost(&job.spec).unwrap(), now).unwrap();
        let rv = job.metadata.resource_version.clone();
        let mut requests = Vec::new();
        let mut with_finalizer = job.clone();
        let mut j1_rv = rv.clone().unwrap();
        if !crate::reservation::holds_finalizer(&job.metadata) {
            // F: the finalizer, conditional on the stored version.
            with_finalizer.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
            with_finalizer.metadata.resource_version = Some(new_rv.to_string());
            let f = json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "add", "path": "/metadata/finalizers", "value": [RESERVATION_FINALIZER]}
            ]);
            requests.push(
                Expect::new(
                    Method::PATCH,
                    &job_uri(&name, false),
                    to_json(&with_finalizer),
                )
                .body(f),
            );
            j1_rv = new_rv.to_string();
        }
        // J1: the intent (and what a job's first status takes), conditional on F's answer.
        let mut queued = crate::ledger_io::status_with(job, intent.clone());
        crate::decide::first_sight(job, &mut queued, Some(priority_ref()));
        assert_eq!(queued.batch_priority, Some(priority_ref()));
        let j1 = with_phase(
            &queued,
            JobPhase::Scheduled,
            reason::SCHEDULED,
            "chosen to run; reserving its budget".into(),
            now,
        );
        let mut after_j1 = with_finalizer.clone();
        after_j1.status = Some(j1.clone());
        after_j1.metadata.resource_version = Some((new_rv + 1).to_string());
        requests.push(
            Expect::new(Method::PATCH, &job_uri(&name, true), to_json(&after_j1))
                .body(job_status_patch(Some(&j1_rv), &j1).unwrap()),
        );
        let charge = Charge {
            id: job.metadata.uid.clone().unwrap(),
            job: format!("ns/{name}"),
            amount: intent.amount,
            ceiling: intent.ceiling(),
        };
        (requests, charge)
    }

    fn priority_ref() -> kbatch_policy::api::PriorityRef {
        let p = crate::fixtures::priority(false);
        kbatch_policy::api::PriorityRef {
            name: p.name_any(),
            value: p.spec.value,
        }
    }

    /// Two Starts on one budget in one pass: their intents, then one budget write charging
    /// both, in the pass's order. A job the webhook gave the finalizer takes no finalizer
    /// write; a queued job being deleted gets nothing; no acknowledgement is written.
    #[tokio::test]
    async fn starts_write_their_intents_then_share_one_charge() {
        let first = queued("pi", "u1", "7", 0);
        let mut second = queued("pj", "u2", "17", 1);
        second.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
        let mut deleting = queued("pk", "u3", "27", 2);
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(test_now()),
        );
        let (mut expected, pi) = intent_requests(&first, 8);
        let (more, pj) = intent_requests(&second, 18);
        expected.extend(more);
        let plan = BudgetPlan::from_budget(&budget()).unwrap();
        let once = apply_charge(budget().status.as_ref().unwrap(), &plan, &pi, test_now());
        let both = apply_charge(&once.status, &plan, &pj, test_now());
        assert!(once.applied && both.applied);
        let mut charged = budget();
        charged.status = Some(both.status.clone());
        charged.metadata.resource_version = Some("6".into());
        expected.push(
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&charged))
                .body(budget_status_patch(Some("5"), &both.status).unwrap()),
        );

        let (ctx, handle, _writers) = context(World {
            jobs: vec![first, second, deleting],
            queues: vec![queue()],
            priorities: vec![crate::fixtures::priority(false)],
            budgets: vec![budget()],
            cost_models: vec![cost_model()],
            owned: vec![],
        });
        let verifier = serve_any_order(handle, expected);
        assert_eq!(pass(&ctx, test_now()).await, 0);
        assert!(!ctx.is_starting("u1") && !ctx.is_starting("u2"));
        assert_eq!(ctx.budget_slot("team").latest(), Some(Arc::new(charged)));
        drop(ctx);
        finish(verifier).await;
    }

    /// A job the controller has not written yet starts at first sight: no Queued write.
    #[tokio::test]
    async fn a_new_job_starts_without_being_queued_first() {
        let mut job = queued("pi", "u1", "7", 0);
        job.status = None;
        job.metadata.finalizers = Some(vec![RESERVATION_FINALIZER.into()]);
        let (mut expected, charge) = intent_requests(&job, 8);
        assert_eq!(expected.len(), 1, "J1 only");
        let plan = BudgetPlan::from_budget(&budget()).unwrap();
        let b1 = apply_charge(
            budget().status.as_ref().unwrap(),
            &plan,
            &charge,
            test_now(),
        );
        let mut charged = budget();
        charged.status = Some(b1.status.clone());
        expected.push(
            Expect::new(Method::PATCH, BUDGET_STATUS, to_json(&charged))
                .body(budget_status_patch(Some("5"), &b1.status).unwrap()),
        );
        let (ctx, handle, _writers) = context(World {
            jobs: vec![job],
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
        let mut first = job.status.clone().unwrap();
        crate::decide::first_sight(&job, &mut first, None);
        assert_eq!(first.submitted_by.as_deref(), Some("alice"));
        let status = with_phase(
            &first,
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
        let mut status = BatchJobStatus {
            phase: Some(JobPhase::Queued),
            conditions: merge_conditions(&[], conditions, test_now()),
            ..BatchJobStatus::default()
        };
        crate::decide::first_sight(&job, &mut status, None);
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
