//! Reconciling one BatchJob: observe its owned Jobs, decide ([`decide`]), apply.
//!
//! A queued job (no phase yet, or Queued) is the scheduling pass's: its reconcile only wakes
//! the pass for a job it has not seen. A job the pass is starting waits for the Start to end.
//!
//! Otherwise, in order: delete Jobs, create Jobs, write the status. The job is read with its
//! reservation caught up with its budget ([`ledger_io::caught_up`]), so the status written
//! carries the charge's acknowledgement. A status that reaches Succeeded or Failed is
//! written only after the refund is applied ([`ledger_io::refund`]), with its
//! acknowledgement, and the reservation finalizer goes in the same reconcile. When the status
//! does not change, the ledger is settled ([`ledger_io::settle`]: what a crash between two
//! writes left), and the reservation finalizer follows ([`reservation::plan`]).
//!
//! A BatchJob being deleted takes another path (`release`): no Job is created and no phase
//! decided; its Jobs are deleted, its reservation refunded, then its finalizer removed.

use crate::budget_writer::entry;
use crate::context::{Context, Error};
use crate::decide::{READY_AFTER, decide, needs_pods};
use crate::job::JOB_LABEL;
use crate::ledger_io;
use crate::reservation::{self, FinalizerStep, patch_job};
use crate::writes::{create_job, delete_job, write_job_status};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kbatch_policy::api::{BatchBudget, BatchBudgetStatus, BatchJob, BatchJobStatus, JobPhase};
use kbatch_policy::budget::ledger::ack_refund;
use kbatch_policy::budget::{LedgerEntryKind, ReservationRecord, ReservationState};
use kbatch_policy::phase::{is_queued, is_terminal};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// How often a live job is looked at even without events.
const RESYNC: Duration = Duration::from_secs(300);
/// How often a Ready job is looked at: its pods' scheduling changes no Job status, so no
/// event says when they become unschedulable or placed.
const READY_RESYNC: Duration = Duration::from_secs(10);
/// How soon a job the scheduling pass is starting is looked at again.
const STARTING_RETRY: Duration = Duration::from_millis(200);

fn resync(job: &BatchJob) -> Duration {
    match job.status.as_ref().and_then(|s| s.phase) {
        Some(JobPhase::Ready) => READY_RESYNC,
        // To show it Ready if its tasks have not started by then.
        Some(JobPhase::Scheduled) => READY_AFTER,
        _ => RESYNC,
    }
}

/// The objects of kind `K` in `namespace` labelled for BatchJob `name` (its pods).
pub(crate) async fn labelled<K>(ctx: &Context, namespace: &str, name: &str) -> Result<Vec<K>, Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("{JOB_LABEL}={name}");
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

fn key(job: &BatchJob) -> String {
    format!(
        "BatchJob {}/{}",
        job.namespace().unwrap_or_default(),
        job.name_any()
    )
}

/// Reconciles one BatchJob (the `kube::runtime::Controller` callback).
pub async fn reconcile(job: Arc<BatchJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Before every store has listed, a budget missing from it may only be not listed yet:
    // taken for deleted, a deleted job would lose its refund. Immediate once synced.
    ctx.stores.ready().await?;
    let name = job.name_any();
    let namespace = job
        .namespace()
        .ok_or_else(|| Error::unidentified(&job, "namespace"))?;
    let uid = job
        .metadata
        .uid
        .clone()
        .ok_or_else(|| Error::unidentified(&job, "uid"))?;
    if ctx.is_starting(&uid) {
        // The pass is between the intent and the charge: its view is the fresh one.
        return Ok(Action::requeue(STARTING_RETRY));
    }
    let now = (ctx.now)();
    let job = ctx.newest_job(job);
    let budget = reserved_budget(&ctx, &job);
    let job = ledger_io::caught_up(&job, budget.as_deref());
    let phase = job.status.as_ref().and_then(|s| s.phase);
    let reserved = job.status.as_ref().is_some_and(|s| s.reservation.is_some());

    // From the watch cache: a Job created a moment ago may be missing, and is then created
    // again, which the API server refuses (409) and `create_job` takes as done.
    let owned = ctx.stores.owned_jobs(&job, &namespace, &uid);
    if job.metadata.deletion_timestamp.is_some() {
        let action = release(&ctx, job.clone().into_owned(), &owned, budget, now).await?;
        ctx.succeeded(&key(&job));
        return Ok(action);
    }
    if is_queued(phase) && !reserved {
        // The scheduling pass writes a queued job's status: Scheduled, or why it waits.
        if phase.is_none() {
            ctx.wake.notify_one();
        }
        ctx.succeeded(&key(&job));
        return Ok(Action::requeue(RESYNC));
    }
    let priority = ctx
        .stores
        .queue_priority(&namespace, &job.spec.batch_queue_name);
    // Its pods are read only while a Ready job has some that do not run, to say why they wait.
    let waiting: Vec<Pod> = if needs_pods(&job, &owned) {
        labelled(&ctx, &namespace, &name).await?
    } else {
        Vec::new()
    };
    let decision = decide(&job, &owned, &waiting, priority, now);

    for job_name in &decision.delete_jobs {
        tracing::info!(batchjob = %format!("{namespace}/{name}"), job = %job_name, "deleting Job");
        delete_job(&ctx.client, &namespace, job_name).await?;
    }
    for k8s in &decision.create_jobs {
        tracing::info!(batchjob = %format!("{namespace}/{name}"), job = %k8s.name_any(), "creating Job");
        create_job(&ctx.client, k8s).await?;
    }
    if let Some(status) = decision.status {
        let (status, budget) = refund_before_the_end(&ctx, &job, status, budget, now).await?;
        let written = write_job_status(&ctx, &job, &status).await?;
        let finished = status.phase.is_some_and(is_terminal);
        if finished {
            // A finished job frees its place (and, once refunded, its budget).
            ctx.wake.notify_one();
            if let FinalizerStep::Remove(patch) =
                reservation::plan(&written, budget_status(budget.as_ref()).as_deref())
            {
                patch_job(&ctx, &written, patch).await?;
            }
        }
        ctx.succeeded(&key(&job));
        return Ok(if finished {
            Action::requeue(RESYNC)
        } else {
            Action::requeue(resync(&written))
        });
    }

    let status = job.status.clone().unwrap_or_default();
    let mut latest = job.clone().into_owned();
    let mut budget = budget;
    if let Some(record) = &status.reservation {
        match budget.take() {
            Some(b) => {
                let (j, b) = ledger_io::settle(&ctx, latest, b, false, now).await?;
                latest = j;
                budget = Some(b);
            }
            // Refunded, or finished with its refund dropped (said when the job ended).
            None if record.state == ReservationState::Refunded
                || status.phase.is_some_and(is_terminal) => {}
            None => {
                return Err(Error::MissingPolicy {
                    kind: "BatchBudget",
                    name: record.budget.clone(),
                    context: format!(": BatchJob {namespace}/{name} holds a reservation of it"),
                });
            }
        }
    }
    match reservation::plan(&latest, budget_status(budget.as_ref()).as_deref()) {
        FinalizerStep::Add(patch) | FinalizerStep::Remove(patch) => {
            patch_job(&ctx, &latest, patch).await?;
        }
        // Settle is only decided for a job being deleted, which took the other path.
        FinalizerStep::Keep | FinalizerStep::Settle => {}
    }
    ctx.succeeded(&key(&job));
    let settled = status.phase.is_some_and(is_terminal)
        && status
            .reservation
            .as_ref()
            .is_none_or(|r| r.state == ReservationState::Refunded);
    Ok(if settled {
        Action::await_change()
    } else {
        Action::requeue(resync(&latest))
    })
}

/// `status`, when it ends the job, with its reservation refunded first: the budget gets its
/// money back before anyone sees the job finished, and the record written acknowledges it.
/// Other statuses, and jobs whose budget is gone, are returned as they are.
async fn refund_before_the_end(
    ctx: &Context,
    job: &BatchJob,
    status: BatchJobStatus,
    budget: Option<Arc<BatchBudget>>,
    now: jiff::Timestamp,
) -> Result<(BatchJobStatus, Option<Arc<BatchBudget>>), Error> {
    let ends = status.phase.is_some_and(is_terminal);
    let Some(record) = status.reservation.clone().filter(|_| ends) else {
        return Ok((status, budget));
    };
    let Some(b) = budget.as_ref() else {
        if record.state != ReservationState::Refunded {
            refund_dropped(ctx, job, &record);
        }
        return Ok((status, budget));
    };
    let finished = BatchJob {
        status: Some(status),
        ..job.clone()
    };
    let (acked, written) = match record.state {
        ReservationState::Charged => {
            let (acked, written) = ledger_io::refund(ctx, &finished, &record, b, now).await?;
            (acked, Some(written))
        }
        // Applied before a crash: its acknowledgement is the budget's entry.
        ReservationState::Refunding => match entry(b, &record.id, LedgerEntryKind::Refund) {
            Some(given) => (ack_refund(&record, given)?, budget),
            None => (record, budget),
        },
        // Not charged yet (the reconcile's settle charges, then refunds), or refunded.
        ReservationState::Charging | ReservationState::Refunded => (record, budget),
    };
    Ok((ledger_io::status_with(&finished, acked), written))
}

/// The budget of `record` is gone: what the job did not use cannot be given back. Said on
/// the job, never silently.
fn refund_dropped(ctx: &Context, job: &BatchJob, record: &ReservationRecord) {
    tracing::warn!(batchjob = %key(job), budget = %record.budget,
        "the budget of the reservation no longer exists: nothing to refund");
    let note = format!(
        "budget {} no longer exists: the unused part of the reservation ({}) is not refunded",
        record.budget, record.amount
    );
    crate::events::warn(ctx.events.as_ref(), job, "RefundDropped", note);
}

/// The budget `job`'s reservation names, when it has one and the budget exists: the newest
/// version this controller knows.
fn reserved_budget(ctx: &Context, job: &BatchJob) -> Option<Arc<BatchBudget>> {
    let record = job.status.as_ref()?.reservation.as_ref()?;
    ctx.newest_budget(&record.budget)
}

/// The status of `budget`, when it exists (empty if it has none yet).
fn budget_status(budget: Option<&Arc<BatchBudget>>) -> Option<Cow<'_, BatchBudgetStatus>> {
    budget.map(|b| {
        b.status
            .as_ref()
            .map_or_else(|| Cow::Owned(BatchBudgetStatus::default()), Cow::Borrowed)
    })
}

/// A BatchJob being deleted: stops its Jobs, refunds the unused part of its reservation
/// through the ledger (exactly once, counting the run time up to now), then removes the
/// reservation finalizer. Each write is conditional; after a failure the next reconcile
/// resumes from what the API server holds.
async fn release(
    ctx: &Context,
    job: BatchJob,
    owned: &[Job],
    budget: Option<Arc<BatchBudget>>,
    now: jiff::Timestamp,
) -> Result<Action, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let mut budget = budget;
    let mut job = job;
    if reservation::plan(&job, budget_status(budget.as_ref()).as_deref()) == FinalizerStep::Settle {
        // The pods stop before the refund is priced: what they run after it is not counted
        // (at most their termination grace period).
        for owned_job in owned
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
        {
            tracing::info!(batchjob = %key(&job), job = %owned_job.name_any(),
                "deleting Job of a deleted BatchJob");
            delete_job(&ctx.client, &namespace, &owned_job.name_any()).await?;
        }
        // Settle is decided only when the budget exists (see `reservation::settled`).
        let Some(b) = budget.take() else {
            return Ok(Action::requeue(RESYNC));
        };
        let (j, b) = ledger_io::settle(ctx, job, b, false, now).await?;
        job = j;
        budget = Some(b);
    }
    match reservation::plan(&job, budget_status(budget.as_ref()).as_deref()) {
        FinalizerStep::Remove(patch) => {
            if let Some(record) = job.status.as_ref().and_then(|s| s.reservation.as_ref())
                && budget.is_none()
                && record.state != ReservationState::Refunded
            {
                refund_dropped(ctx, &job, record);
            }
            patch_job(ctx, &job, patch).await?;
            Ok(Action::await_change())
        }
        // The ledger needs more steps than one reconcile takes: continue soon.
        FinalizerStep::Settle => Ok(Action::requeue(Duration::from_secs(1))),
        // Not ours to remove (or already gone): the object goes without us.
        FinalizerStep::Keep | FinalizerStep::Add(_) => Ok(Action::await_change()),
    }
}

/// The Controller's error policy: see [`Context::requeue_after`].
pub fn error_policy(job: Arc<BatchJob>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.requeue_after(&key(&job), error)
}

#[cfg(test)]
mod tests;
