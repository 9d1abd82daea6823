//! Driving a job's reservation through the ledger (`kbatch_policy::budget::ledger`): the
//! pure functions decide each write, this module makes them, in the documented order.
//!
//! [`settle`] loops: it asks [`next_step`] what is due for the job given the budget, makes
//! that one conditional write, and asks again with the objects the API server returned,
//! until nothing is due. **Fresh-proof rule**: a budget step (charge or refund) is made only
//! right after a successful conditional write of the job in the same call; when there is
//! none, the record's `attempt` is bumped and written first ([`retry`]).
//!
//! A job being deleted counts as finished: its reservation is refunded like that of a job
//! that ended, while the reservation finalizer ([`reservation`](crate::reservation)) keeps it.

use crate::context::{Context, Error};
use crate::decide::with_phase;
use crate::reservation::{add_patch, patch_job};
use crate::writes::{write_budget_status, write_job_status};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kbatch_policy::api::{BatchBudget, BatchBudgetStatus, BatchJob, BatchJobStatus, JobPhase};
use kbatch_policy::budget::ledger::{
    LedgerStep, ack_charge, ack_refund, acknowledged, apply_charge, apply_refund, consumed,
    next_step, plan_charge, plan_refund, prune, retry,
};
use kbatch_policy::budget::{
    BudgetPlan, CostModel, LedgerEntry, LedgerEntryKind, Money, ReservationRecord, TaskRun, Usage,
    run_time, task_time,
};
use kbatch_policy::phase::{is_terminal, reason};
use kube::ResourceExt;
use std::collections::HashSet;

/// At most this many writes per call: a full charge or refund takes three.
const MAX_STEPS: usize = 8;

fn key(job: &BatchJob) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

pub(crate) fn status_with(job: &BatchJob, record: ReservationRecord) -> BatchJobStatus {
    let mut status = job.status.clone().unwrap_or_default();
    status.budget_consumed = Some(consumed(&record).to_f64());
    status.reservation = Some(record);
    status
}

/// What the budget's own Charge entry for reservation `id` says it charged ("nothing" when
/// it holds none), for people reading a RefundWithheld Event.
fn charged_amount(budget: &BatchBudgetStatus, id: &str) -> String {
    budget
        .ledger
        .iter()
        .find(|e| e.id == id && e.kind == LedgerEntryKind::Charge)
        .map_or_else(|| "nothing".to_owned(), |e| e.amount.to_string())
}

/// How long a ledger entry whose job is gone is kept before it is dropped: far longer than
/// the job store can lag behind a job just created and charged.
const ORPHAN_AGE: SignedDuration = SignedDuration::from_mins(10);

/// Whether the budget's ledger `entry` may be pruned: its job acknowledged the refund, as
/// `job` (just written) or the job store shows it, or the job is gone without a refund (its
/// finalizer removed by force) and the entry is older than [`ORPHAN_AGE`].
fn entry_acknowledged(ctx: &Context, job: &BatchJob, entry: &LedgerEntry, now: Timestamp) -> bool {
    let record_of = |j: &BatchJob| j.status.as_ref().and_then(|s| s.reservation.clone());
    if job.metadata.uid.as_deref() == Some(entry.id.as_str()) {
        return acknowledged(entry, record_of(job).as_ref());
    }
    let Some((ns, name)) = entry.job.split_once('/') else {
        return false;
    };
    match ctx.stores.job(ns, name, &entry.id) {
        Some(j) => acknowledged(entry, record_of(&j).as_ref()),
        None => {
            let orphaned = ctx.stores.is_synced() && now.duration_since(entry.at.0) > ORPHAN_AGE;
            if orphaned {
                tracing::warn!(job = %entry.job, id = %entry.id, kind = ?entry.kind,
                    "dropping the ledger entry of a job that is gone without its refund");
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

/// The Start action of the scheduling pass: adds the reservation finalizer to the job (a
/// write of its own, before anything is reserved: a crash right after it leaves a finalizer
/// without a charge, never the reverse), writes the reservation intent and phase Scheduled
/// (J1, conditional on the version the finalizer write returned), then charges the budget
/// and acknowledges it ([`settle`]). Returns the budget as last written, for the next Start
/// of the same pass.
pub async fn start(
    ctx: &Context,
    job: &BatchJob,
    budget: BatchBudget,
    now: Timestamp,
) -> Result<BatchBudget, Error> {
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
    let record = plan_charge(job, &budget.name_any(), &cost, now)?;
    let patched;
    let job = match add_patch(&job.metadata) {
        Some(patch) => {
            patched = patch_job(&ctx.client, job, patch).await?;
            &patched
        }
        None => job,
    };
    let status = with_phase(
        &status_with(job, record),
        JobPhase::Scheduled,
        reason::SCHEDULED,
        "chosen to run; reserving its budget".to_owned(),
        now,
    );
    let written = write_job_status(ctx, job, &status).await?;
    let (_, budget) = settle(ctx, written, budget, true, now).await?;
    Ok(budget)
}

/// How many times a budget write is tried again after a conflict with a writer outside this
/// controller (an administrator changing the spec).
const BUDGET_CONFLICTS: usize = 3;

/// The newer of two versions of a budget (resourceVersions are etcd revisions; an
/// unreadable one loses).
fn newer<'a>(a: &'a BatchBudget, b: Option<&'a BatchBudget>) -> &'a BatchBudget {
    let version = |x: &BatchBudget| {
        x.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    match b {
        Some(b) if version(b) > version(a) => b,
        _ => a,
    }
}

/// Writes `budget`'s status as `step` makes it from the latest version this controller knows
/// (`None`: nothing to write), returning the budget as stored and what `step` returned.
///
/// One writer per budget at a time, starting from the version it last wrote: reconciles
/// refunding against the same budget at once would otherwise collide on its resourceVersion,
/// each collision costing a failed write, a retry of the job's record and a requeue. A
/// conflict left (someone else wrote) reads the budget and applies `step` again: a budget step
/// is idempotent and the job's fresh proof still holds (only this reconcile acknowledges it).
async fn update_budget<T>(
    ctx: &Context,
    seen: &BatchBudget,
    step: impl Fn(&BatchBudgetStatus) -> Option<(BatchBudgetStatus, T)>,
) -> Result<(BatchBudget, Option<T>), Error> {
    let slot = ctx.budget_slot(&seen.name_any());
    let mut last = slot.lock().await;
    // The budget status holds an entry per running job: cloned once, not per look.
    let mut current = newer(seen, last.as_ref()).clone();
    let empty = BatchBudgetStatus::default();
    let mut conflicts = 0;
    loop {
        let Some((status, out)) = step(current.status.as_ref().unwrap_or(&empty)) else {
            return Ok((current, None));
        };
        match write_budget_status(&ctx.client, &current, &status).await {
            Ok(written) => {
                *last = Some(written.clone());
                return Ok((written, Some(out)));
            }
            Err(e) if e.is_conflict() && conflicts < BUDGET_CONFLICTS => {
                conflicts += 1;
                let api: kube::Api<BatchBudget> = kube::Api::all(ctx.client.clone());
                current = api.get(&current.name_any()).await?;
            }
            Err(e) => {
                *last = None;
                return Err(e);
            }
        }
    }
}

/// Takes every ledger step due for `job` against `budget`; `fresh` says whether `job` was
/// just returned by a successful write (see the module docs). Returns the job and the budget
/// as last written (or as given).
pub async fn settle(
    ctx: &Context,
    mut job: BatchJob,
    mut budget: BatchBudget,
    mut fresh: bool,
    now: Timestamp,
) -> Result<(BatchJob, BatchBudget), Error> {
    let plan = BudgetPlan::from_budget(&budget).map_err(|source| Error::InvalidBudget {
        name: budget.name_any(),
        source,
    })?;
    for _ in 0..MAX_STEPS {
        let status = job.status.clone().unwrap_or_default();
        let Some(record) = status.reservation.clone() else {
            return Ok((job, budget));
        };
        let finished =
            status.phase.is_some_and(is_terminal) || job.metadata.deletion_timestamp.is_some();
        let budget_status = budget.status.clone().unwrap_or_default();
        let step = next_step(Some(&record), finished, &budget_status, &key(&job));
        tracing::debug!(job = %key(&job), ?step, "ledger step");
        match step {
            LedgerStep::Idle | LedgerStep::Done => return Ok((job, budget)),
            LedgerStep::ApplyCharge(_) | LedgerStep::ApplyRefund(_) if !fresh => {
                job = write_job_status(ctx, &job, &status_with(&job, retry(&record))).await?;
                fresh = true;
            }
            LedgerStep::ApplyCharge(charge) => {
                let (written, applied) = update_budget(ctx, &budget, |current| {
                    let applied = apply_charge(current, &plan, &charge, now);
                    let (pruned, _) = prune(&applied.status, |e| {
                        e.id != charge.id && entry_acknowledged(ctx, &job, e, now)
                    });
                    Some((pruned, applied))
                })
                .await?;
                if applied.is_some_and(|a| !a.overdrawn.is_empty()) {
                    tracing::warn!(job = %key(&job),
                        "charge took windows beyond their amount (admitted on a stale view)");
                }
                budget = written;
                fresh = false;
            }
            LedgerStep::AckCharge(entry) => {
                let acked = ack_charge(&record, &entry)?;
                job = write_job_status(ctx, &job, &status_with(&job, acked)).await?;
                fresh = true;
            }
            LedgerStep::PlanRefund => {
                let planned = plan_refund(&record, usage(ctx, &job, &status, now).await?)?;
                job = write_job_status(ctx, &job, &status_with(&job, planned)).await?;
                fresh = true;
            }
            LedgerStep::ApplyRefund(refund) => {
                let (written, applied) = update_budget(ctx, &budget, |current| {
                    let applied = apply_refund(current, &plan, &refund, now);
                    let (pruned, _) = prune(&applied.status, |e| {
                        e.id != refund.id && entry_acknowledged(ctx, &job, e, now)
                    });
                    Some((pruned, (applied, charged_amount(current, &refund.id))))
                })
                .await?;
                budget = written;
                fresh = false;
                if let Some((applied, charged)) = applied
                    && applied.applied
                    && applied.withheld > Money::ZERO
                {
                    let note = format!(
                        "the job's reservation record claims a refund of {}, but budget {} \
                         charged it {}: {} refunded, {} withheld (the record was altered)",
                        refund.amount,
                        budget.name_any(),
                        charged,
                        applied.entry.amount,
                        applied.withheld
                    );
                    tracing::warn!(job = %key(&job), "{note}");
                    crate::events::warn(ctx.events.as_ref(), &job, "RefundWithheld", note);
                }
            }
            LedgerStep::AckRefund(entry) => {
                let acked = ack_refund(&record, &entry)?;
                job = write_job_status(ctx, &job, &status_with(&job, acked)).await?;
                fresh = true;
                ctx.wake.notify_one();
            }
            LedgerStep::Prune => {
                let (written, removed) = update_budget(ctx, &budget, |current| {
                    let (pruned, removed) =
                        prune(current, |e| entry_acknowledged(ctx, &job, e, now));
                    (removed > 0).then_some((pruned, removed))
                })
                .await?;
                if removed.is_none() {
                    return Ok((job, budget));
                }
                budget = written;
                fresh = false;
            }
        }
    }
    Ok((job, budget))
}

#[cfg(test)]
mod tests;
