//! Driving a job's reservation through the ledger (`kbatch_policy::budget::ledger`): the
//! pure functions decide each write, this module makes them.
//!
//! The usual path takes three writes of the job and shares two budget writes with other jobs:
//! - [`intend`] (the scheduling pass's Start): J1, the intent and phase Scheduled; then
//!   [`charge`] applies the intents of every job the pass started on one budget in one write
//!   (B1). The acknowledgement (J2) is not written on its own: [`caught_up`] reads it from the
//!   budget and the job's next status carries it.
//! - [`refund`], before the final phase is written: the refund is planned in memory, applied
//!   (B2, shared with the refunds of other reconciles at the same moment, see
//!   [`budget_writer`](crate::budget_writer)), and acknowledged in the record the caller writes
//!   with the final phase.
//!
//! [`settle`] is the general loop for everything else (a crash between two writes, a job being
//! deleted, an older record): it asks [`next_step`] what is due given the budget, takes that
//! step, and asks again. **Fresh-proof rule**: a charge is made only right after a
//! successful conditional write of the job in the same call; when there is none, the record's
//! `attempt` is bumped and written first ([`retry`]).
//!
//! A job being deleted counts as finished: its reservation is refunded like that of a job
//! that ended, while the reservation finalizer ([`reservation`](crate::reservation)) keeps it.

use crate::budget_writer::{Step, entry, update_budget};
use crate::context::{Context, Error};
use crate::decide::with_phase;
use crate::reservation::{add_patch, patch_job};
use crate::writes::write_job_status;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kbatch_policy::api::{BatchBudget, BatchBudgetStatus, BatchJob, BatchJobStatus, JobPhase};
use kbatch_policy::budget::ledger::{
    Charge, LedgerStep, Refund, ack_charge, ack_refund, acknowledged, apply_charge, apply_refund,
    catch_up, consumed, next_step, plan_charge, plan_refund, retry,
};
use kbatch_policy::budget::{
    BudgetPlan, CostModel, LedgerEntry, LedgerEntryKind, Money, ReservationRecord, TaskRun, Usage,
    run_time, task_time,
};
use kbatch_policy::phase::{is_terminal, reason};
use kube::ResourceExt;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

/// At most this many writes per call of [`settle`].
const MAX_STEPS: usize = 8;

fn key(job: &BatchJob) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

/// `job`'s status with `record` as its reservation (and what it consumed).
pub(crate) fn status_with(job: &BatchJob, record: ReservationRecord) -> BatchJobStatus {
    let mut status = job.status.clone().unwrap_or_default();
    status.budget_consumed = Some(consumed(&record).to_f64());
    status.reservation = Some(record);
    status
}

/// `job` with its record caught up with what `budget` holds ([`catch_up`]): the charge or
/// refund acknowledged in memory, written with the job's next status.
///
/// Borrowed when there is nothing to catch up: every reconcile asks, most of them of jobs
/// whose record is current or that have none.
pub fn caught_up<'a>(job: &'a BatchJob, budget: Option<&BatchBudget>) -> Cow<'a, BatchJob> {
    let record = job.status.as_ref().and_then(|s| s.reservation.as_ref());
    let (Some(record), Some(status)) = (record, budget.and_then(|b| b.status.as_ref())) else {
        return Cow::Borrowed(job);
    };
    let caught = catch_up(record, status);
    if caught == *record {
        return Cow::Borrowed(job);
    }
    Cow::Owned(BatchJob {
        status: Some(status_with(job, caught)),
        ..job.clone()
    })
}

/// How long a Charge entry whose job is gone is kept before it is dropped: far longer than
/// the job store can lag behind a job just created and charged.
const ORPHAN_AGE: SignedDuration = SignedDuration::from_mins(10);

/// Whether the budget's ledger `entry` may be pruned, as the job store shows its job: the
/// job acknowledged the refund; or the job is gone and the entry is a Refund (nothing is
/// owed any more: only the job's acknowledgement was), or a Charge older than
/// [`ORPHAN_AGE`] (its finalizer was removed by force).
pub(crate) fn entry_acknowledged(ctx: &Context, entry: &LedgerEntry, now: Timestamp) -> bool {
    let Some((ns, name)) = entry.job.split_once('/') else {
        return false;
    };
    match ctx.stores.job(ns, name, &entry.id) {
        Some(j) => {
            let record = j.status.as_ref().and_then(|s| s.reservation.as_ref());
            acknowledged(entry, record)
        }
        None if !ctx.stores.is_synced() => false,
        None if entry.kind == LedgerEntryKind::Refund => true,
        None => {
            let orphaned = now.duration_since(entry.at.0) > ORPHAN_AGE;
            if orphaned {
                tracing::warn!(job = %entry.job, id = %entry.id,
                    "dropping the charge of a job that is gone without its refund");
            }
            orphaned
        }
    }
}

/// What `job` used, for its refund: its run time, and the task time of each group whose
/// pods can still be read (the pods of the Jobs the cache holds for it); a group whose Jobs or
/// pods are gone (a job terminated or deleted: its Jobs went first) is billed by the run time.
async fn usage(
    ctx: &Context,
    job: &BatchJob,
    status: &BatchJobStatus,
    now: Timestamp,
) -> Result<Usage, Error> {
    let job_time = run_time(status, now);
    let (Some(namespace), Some(uid)) = (job.namespace(), job.metadata.uid.as_deref()) else {
        return Ok(job_time.into());
    };
    let owners: HashSet<String> = ctx
        .stores
        .owned_jobs(job, &namespace, uid)
        .into_iter()
        .filter_map(|j| j.metadata.uid)
        .collect();
    if owners.is_empty() {
        return Ok(job_time.into());
    }
    let pods: Vec<Pod> = crate::reconcile::labelled(ctx, &namespace, &job.name_any()).await?;
    let runs: Vec<TaskRun> = pods
        .iter()
        .filter(|p| p.owner_references().iter().any(|o| owners.contains(&o.uid)))
        .filter_map(TaskRun::of_pod)
        .collect();
    Ok(Usage {
        job: job_time,
        tasks: task_time(&runs, now),
    })
}

/// The charge of budget `budget` that `job`'s Start makes (priced with the budget's cost
/// model), and its intent record.
fn price(
    ctx: &Context,
    job: &BatchJob,
    budget: &BatchBudget,
    now: Timestamp,
) -> Result<ReservationRecord, Error> {
    let model_name = &budget.spec.batch_cost_model_name;
    let model = ctx
        .stores
        .cost_models
        .state()
        .into_iter()
        .find(|m| m.name_any() == *model_name)
        .ok_or_else(|| Error::MissingPolicy {
            kind: "BatchCostModel",
            name: model_name.clone(),
            context: format!(": budget {} names it", budget.name_any()),
        })?;
    let model = CostModel::from_spec(&model.spec).map_err(|source| Error::Pricing {
        what: format!("cost model {model_name}"),
        source,
    })?;
    let cost = model.job_cost(&job.spec).map_err(|source| Error::Pricing {
        what: key(job),
        source,
    })?;
    Ok(plan_charge(job, &budget.name_any(), &cost, now)?)
}

fn plan_of(budget: &BatchBudget) -> Result<BudgetPlan, Error> {
    BudgetPlan::from_budget(budget).map_err(|source| Error::InvalidBudget {
        name: budget.name_any(),
        source,
    })
}

/// The Start of the scheduling pass, first half: adds the reservation finalizer when the
/// webhook did not (a write of its own, before anything is reserved: a crash right after it
/// leaves a finalizer without a charge, never the reverse), then writes the intent and phase
/// Scheduled (J1, conditional). `first_sight` fills what a job never looked at lacks (see
/// [`crate::decide::first_sight`]). Returns the job as written and its charge, for [`charge`].
pub async fn intend(
    ctx: &Context,
    job: &BatchJob,
    budget: &BatchBudget,
    first_sight: impl FnOnce(&mut BatchJobStatus),
    now: Timestamp,
) -> Result<(BatchJob, Charge), Error> {
    let record = price(ctx, job, budget, now)?;
    let patched;
    let job = match add_patch(&job.metadata) {
        Some(patch) => {
            patched = patch_job(ctx, job, patch).await?;
            &patched
        }
        None => job,
    };
    let mut queued = status_with(job, record.clone());
    first_sight(&mut queued);
    let status = with_phase(
        &queued,
        JobPhase::Scheduled,
        reason::SCHEDULED,
        "chosen to run; reserving its budget".to_owned(),
        now,
    );
    let written = write_job_status(ctx, job, &status).await?;
    let charge = Charge {
        id: record.id.clone(),
        job: key(&written),
        amount: record.amount,
        ceiling: record.ceiling(),
    };
    Ok((written, charge))
}

/// B1 for the intents the pass just wrote (each one's fresh proof) on `budget`: one write.
/// Returns the budget as stored; a charge missing from it failed (the job's reconcile
/// charges it later, after a fresh proof of its own).
pub async fn charge(
    ctx: &Context,
    budget: &Arc<BatchBudget>,
    charges: Vec<Charge>,
    now: Timestamp,
) -> Result<Arc<BatchBudget>, Error> {
    let plan = plan_of(budget)?;
    let id = charges.first().map(|c| c.id.clone()).unwrap_or_default();
    let step: Step = Box::new(move |current| {
        let mut status = None;
        for charge in &charges {
            let applied = apply_charge(status.as_ref().unwrap_or(current), &plan, charge, now);
            if applied.applied {
                status = Some(applied.status);
            }
        }
        status
    });
    update_budget(ctx, budget, &id, step).await
}

/// B2 for a finished job (or one being deleted) whose `record` is Charged, before its final
/// status is written (`job` carries that status: its run time ends with it): plans the refund
/// from what it used, applies it to `budget` (shared with
/// the refunds queued at the same moment), and returns the record acknowledging it, for the
/// caller to write, with the budget as stored.
pub async fn refund(
    ctx: &Context,
    job: &BatchJob,
    record: &ReservationRecord,
    budget: &Arc<BatchBudget>,
    now: Timestamp,
) -> Result<(ReservationRecord, Arc<BatchBudget>), Error> {
    let status = job.status.clone().unwrap_or_default();
    let planned = plan_refund(record, usage(ctx, job, &status, now).await?)?;
    let claim = Refund {
        id: planned.id.clone(),
        job: key(job),
        amount: planned.refund.unwrap_or(Money::ZERO),
        actual_cost: planned.actual_cost.unwrap_or(Money::ZERO),
    };
    let written = apply_refunds(ctx, budget, claim.clone(), now).await?;
    let Some(given) = entry(&written, &claim.id, LedgerEntryKind::Refund) else {
        return Err(Error::BudgetWrite {
            name: budget.name_any(),
            message: format!(
                "the refund of {} is missing from the budget written",
                key(job)
            ),
        });
    };
    warn_withheld(ctx, job, &written, &claim, given);
    Ok((ack_refund(&planned, given)?, written))
}

async fn apply_refunds(
    ctx: &Context,
    budget: &Arc<BatchBudget>,
    claim: Refund,
    now: Timestamp,
) -> Result<Arc<BatchBudget>, Error> {
    let plan = plan_of(budget)?;
    let id = claim.id.clone();
    let step: Step = Box::new(move |current| {
        let applied = apply_refund(current, &plan, &claim, now);
        applied.applied.then_some(applied.status)
    });
    update_budget(ctx, budget, &id, step).await
}

/// A record that claims another refund than its budget's Charge entry allows was altered: say
/// so on the job. (A record with no Charge entry left is a replay, or a stale view of a job
/// refunded already: nothing moved, nothing to say.)
fn warn_withheld(
    ctx: &Context,
    job: &BatchJob,
    budget: &BatchBudget,
    claim: &Refund,
    given: &LedgerEntry,
) {
    let Some(charged) = given.charged else {
        return;
    };
    if given.amount == claim.amount {
        return;
    }
    let note = format!(
        "the job's reservation record claims a refund of {}, but budget {} charged it {}: {} \
         refunded (the record was altered)",
        claim.amount,
        budget.name_any(),
        charged,
        given.amount,
    );
    tracing::warn!(job = %key(job), "{note}");
    crate::events::warn(ctx.events.as_ref(), job, "RefundWithheld", note);
}

/// Takes every ledger step due for `job` against `budget`; `fresh` says whether `job` was
/// just returned by a successful write (see the module docs). Returns the job and the budget
/// as last written (or as given). The job's acknowledgements are written here only when
/// the job is finished (no later status write would carry them).
pub async fn settle(
    ctx: &Context,
    mut job: BatchJob,
    mut budget: Arc<BatchBudget>,
    mut fresh: bool,
    now: Timestamp,
) -> Result<(BatchJob, Arc<BatchBudget>), Error> {
    let no_status = BatchBudgetStatus::default();
    for _ in 0..MAX_STEPS {
        let finished = job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(is_terminal)
            || job.metadata.deletion_timestamp.is_some();
        let view = caught_up(&job, Some(&budget));
        let status = view.status.clone().unwrap_or_default();
        let Some(record) = status.reservation.clone() else {
            return Ok((job, budget));
        };
        let budget_status = budget.status.as_ref().unwrap_or(&no_status);
        let step = next_step(Some(&record), finished, budget_status, &key(&job));
        tracing::debug!(job = %key(&job), ?step, "ledger step");
        match step {
            LedgerStep::Idle | LedgerStep::Done | LedgerStep::Prune => return Ok((job, budget)),
            LedgerStep::ApplyCharge(_) if !fresh => {
                job = write_job_status(ctx, &job, &status_with(&job, retry(&record))).await?;
                fresh = true;
            }
            LedgerStep::ApplyCharge(charge) => {
                budget = self::charge(ctx, &budget, vec![charge], now).await?;
                fresh = false;
            }
            LedgerStep::AckCharge(entry) => {
                let acked = ack_charge(&record, &entry)?;
                job = write_job_status(ctx, &job, &status_with(&job, acked)).await?;
                fresh = true;
            }
            LedgerStep::PlanRefund => {
                let (acked, written) = refund(ctx, &view, &record, &budget, now).await?;
                budget = written;
                job = write_job_status(ctx, &job, &status_with(&job, acked)).await?;
                fresh = true;
                ctx.wake.notify_one();
            }
            LedgerStep::ApplyRefund(claim) => {
                // A record planned by an older controller: apply it as it stands.
                budget = apply_refunds(ctx, &budget, claim, now).await?;
                fresh = false;
            }
            LedgerStep::AckRefund(entry) => {
                let acked = ack_refund(&record, &entry)?;
                job = write_job_status(ctx, &job, &status_with(&job, acked)).await?;
                fresh = true;
                ctx.wake.notify_one();
            }
        }
    }
    Ok((job, budget))
}

#[cfg(test)]
mod tests;
