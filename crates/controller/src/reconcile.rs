//! Reconciling one BatchJob: observe its owned Jobs, decide ([`decide`]), apply.
//!
//! Order of writes: delete Jobs, create Jobs, patch the status. When the status changed the
//! reconcile ends there (the status event brings the next one); otherwise the reservation
//! is settled through the ledger ([`ledger_io::settle`]), e.g. the refund of a finished job.

use crate::context::{Context, Error};
use crate::decide::decide;
use crate::job::JOB_LABEL;
use crate::ledger_io;
use crate::writes::{create_job, delete_job, write_job_status};
use k8s_openapi::api::batch::v1::Job;
use kbatch_policy::api::BatchJob;
use kbatch_policy::budget::ReservationState;
use kbatch_policy::phase::is_terminal;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a live job is looked at even without events.
const RESYNC: Duration = Duration::from_secs(300);

/// The Jobs in `namespace` labelled for BatchJob `name` and owned by `uid`.
async fn owned_jobs(
    ctx: &Context,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<Vec<Job>, Error> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("{JOB_LABEL}={name}");
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|j| j.owner_references().iter().any(|o| o.uid == uid))
        .collect())
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
    ctx.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
    let name = job.name_any();
    let namespace = job
        .namespace()
        .ok_or_else(|| Error::Permanent(format!("BatchJob {name} has no namespace")))?;
    let uid = job
        .metadata
        .uid
        .clone()
        .ok_or_else(|| Error::Permanent(format!("BatchJob {namespace}/{name} has no uid")))?;
    let now = (ctx.now)();

    let owned = owned_jobs(&ctx, &namespace, &name, &uid).await?;
    let priority = ctx
        .stores
        .queue_priority(&namespace, &job.spec.batch_queue_name);
    let decision = decide(&job, &owned, priority, now);

    for job_name in &decision.delete_jobs {
        tracing::info!(batchjob = %format!("{namespace}/{name}"), job = %job_name, "deleting Job");
        delete_job(&ctx.client, &namespace, job_name).await?;
    }
    for k8s in &decision.create_jobs {
        tracing::info!(batchjob = %format!("{namespace}/{name}"), job = %k8s.name_any(), "creating Job");
        create_job(&ctx.client, k8s).await?;
    }
    if let Some(status) = &decision.status {
        let written = write_job_status(&ctx.client, &job, status).await?;
        if written
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(is_terminal)
        {
            // A finished job frees its place (and, once refunded, its budget).
            ctx.wake.notify_one();
        }
        ctx.succeeded(&key(&job));
        return Ok(Action::requeue(RESYNC));
    }

    let status = job.status.clone().unwrap_or_default();
    if let Some(record) = &status.reservation {
        match ctx.stores.budget(&record.budget) {
            Some(budget) => {
                ledger_io::settle(&ctx, (*job).clone(), budget, false, now).await?;
            }
            None if record.state == ReservationState::Refunded => {}
            None => {
                return Err(Error::Permanent(format!(
                    "BatchJob {namespace}/{name} holds a reservation of budget {}, which does not exist",
                    record.budget
                )));
            }
        }
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
        Action::requeue(RESYNC)
    })
}

/// The Controller's error policy: see [`Context::requeue_after`].
pub fn error_policy(job: Arc<BatchJob>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.requeue_after(&key(&job), error)
}

#[cfg(test)]
mod tests;
