//! The reservation finalizer of BatchJobs ([`RESERVATION_FINALIZER`]): a job deleted while it
//! holds budget must still give back the part it did not use.
//!
//! The invariant: a BatchJob carries the finalizer whenever its reservation may be charged
//! and is not yet settled (refunded).
//! - The webhook adds it when the job is created
//!   ([`hold_for_refund`](kbatch_policy::submission::hold_for_refund)). A job created while
//!   the webhook was bypassed gets it **before** the charge's intent is written
//!   ([`ledger_io::intend`]), in a separate write: a crash between the two leaves a finalizer
//!   without a charge (harmless: removed on deletion or once the job ends), never a charge
//!   without a finalizer.
//! - On a BatchJob being deleted, the reconcile stops its Jobs, settles the reservation
//!   through the ledger (the same exactly-once refund as a finished job, with the run time
//!   counted up to now), and only then removes the finalizer.
//! - A finished job loses the finalizer as soon as it is refunded (in the reconcile that
//!   writes its final phase), so that deleting it later is immediate.
//!
//! [`plan`] is the pure decision; [`patch_job`] is the write.
//!
//! [`ledger_io::intend`]: crate::ledger_io::intend

use crate::context::{Context, Error};
use crate::finalizers;
use kbatch_policy::api::{BatchBudgetStatus, BatchJob, RESERVATION_FINALIZER};
use kbatch_policy::budget::{ReservationRecord, ReservationState};
use kbatch_policy::phase::is_terminal;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

/// What to do with a BatchJob's reservation finalizer.
#[derive(Debug, Clone, PartialEq)]
pub enum FinalizerStep {
    /// Nothing.
    Keep,
    /// Add it with this JSON patch: the job holds an unsettled reservation without it (a
    /// job charged by a controller that predates the finalizer).
    Add(Value),
    /// The job is being deleted and its reservation is not settled: take the ledger steps
    /// first (with the job counted as finished), then ask again.
    Settle,
    /// Remove it with this JSON patch: the reservation is refunded or was never made, and
    /// the job is finished or being deleted.
    Remove(Value),
}

/// Whether `meta` lists the reservation finalizer.
pub fn holds_finalizer(meta: &ObjectMeta) -> bool {
    finalizers::holds(meta, RESERVATION_FINALIZER)
}

/// The JSON patch adding the finalizer to the object `meta` describes, conditional on its
/// `resourceVersion`; `None` when it is already there.
pub fn add_patch(meta: &ObjectMeta) -> Option<Value> {
    finalizers::add_patch(meta, RESERVATION_FINALIZER)
}

/// The JSON patch removing the finalizer, conditional on `resourceVersion`; `None` when it
/// is not there.
pub fn remove_patch(meta: &ObjectMeta) -> Option<Value> {
    finalizers::remove_patch(meta, RESERVATION_FINALIZER)
}

/// Whether nothing more is owed between `record` and its budget: no reservation, or one
/// refunded. (The budget's Refund entry may stay a while: it is pruned with a later write,
/// or as soon as the job is gone.) `budget` is `None` when the budget no longer exists:
/// nothing can be refunded to it, so there is nothing left to wait for.
pub fn settled(record: Option<&ReservationRecord>, budget: Option<&BatchBudgetStatus>) -> bool {
    let Some(r) = record else {
        return true;
    };
    budget.is_none() || r.state == ReservationState::Refunded
}

/// The finalizer step for `job`, given the status of the budget its reservation names
/// (`None` when it has no reservation or the budget does not exist). Pure.
///
/// | deleting | finished | holds | settled | step   |
/// |----------|----------|-------|---------|--------|
/// | yes      | –        | –     | no      | Settle |
/// | yes      | –        | yes   | yes     | Remove |
/// | no       | yes      | yes   | yes     | Remove |
/// | no       | –        | no    | no      | Add    |
/// | otherwise                            || | Keep   |
///
/// A live queued job may hold the finalizer without a reservation (added just before a
/// charge that has not happened yet): it keeps it, the next Start uses it.
pub fn plan(job: &BatchJob, budget: Option<&BatchBudgetStatus>) -> FinalizerStep {
    let meta = &job.metadata;
    let status = job.status.as_ref();
    let record = status.and_then(|s| s.reservation.as_ref());
    let deleting = meta.deletion_timestamp.is_some();
    let finished = deleting || status.and_then(|s| s.phase).is_some_and(is_terminal);
    let done = settled(record, budget);
    if deleting && !done {
        return FinalizerStep::Settle;
    }
    if finished && done {
        return remove_patch(meta).map_or(FinalizerStep::Keep, FinalizerStep::Remove);
    }
    if !done {
        // Not deleting, not settled: the reservation needs the finalizer.
        return add_patch(meta).map_or(FinalizerStep::Keep, FinalizerStep::Add);
    }
    FinalizerStep::Keep
}

/// Sends the JSON `patch` to `job` and returns the job as stored.
pub async fn patch_job(ctx: &Context, job: &BatchJob, patch: Value) -> Result<BatchJob, Error> {
    let namespace = job
        .namespace()
        .ok_or_else(|| Error::unidentified(job, "namespace"))?;
    let api: Api<BatchJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch: json_patch::Patch = serde_json::from_value(patch)?;
    let written = api
        .patch(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
        .map_err(|e| {
            Error::of_conditional_patch(e, || format!("BatchJob {namespace}/{}", job.name_any()))
        })?;
    ctx.remember_job(&written);
    Ok(written)
}

#[cfg(test)]
mod tests;
