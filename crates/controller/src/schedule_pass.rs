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
//! Runs every [`PERIOD`] and whenever [`Context::wake`] is notified (queue or budget
//! changes, finished jobs).

use crate::context::{Context, Error};
use crate::decide::with_phase;
use crate::ledger_io;
use crate::writes::write_job_status;
use jiff::Timestamp;
use kbatch_policy::api::{BatchBudget, BatchJob, JobPhase};
use kbatch_policy::scheduling::{Action, SchedulingSnapshot, merge_conditions, schedule};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
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
    ctx.metrics.passes.fetch_add(1, Ordering::Relaxed);
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
                    .ok_or_else(|| Error::Permanent(format!("budget {budget} not found")))?,
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
                write_job_status(&ctx.client, job, &next).await?;
            }
        }
        Action::Fail {
            job: r,
            reason,
            message,
        } => {
            tracing::info!(job = %r, reason, %message, "failing");
            let next = with_phase(&status, JobPhase::Failed, reason, message, now);
            write_job_status(&ctx.client, job, &next).await?;
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
    use crate::writes::job_status_patch;
    use http::Method;
    use kbatch_policy::api::BatchJobStatus;

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
}
