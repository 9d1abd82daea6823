//! Wiring: leader election, then the BatchJob controller, the finalizer controllers of the
//! policy kinds (whose stores the reconcilers read) and the scheduling pass, until the lease
//! is lost or the process is asked to stop.

use crate::context::{Context, Error, Stores};
use crate::finalizers::{self, Guarded};
use crate::job::JOB_LABEL;
use crate::leader::{self, LeaseConfig};
use crate::metrics::Observed;
use crate::owned_job::OwnedJob;
use crate::{reconcile, schedule_pass};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::fmt::Debug;
use std::sync::Arc;

/// Logs one reconcile result; watch and reconcile errors are never dropped silently.
fn report<K, E1, E2>(
    result: Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E1, E2>>,
) where
    K: Resource,
    E1: std::error::Error,
    E2: std::error::Error,
{
    match result {
        Ok((object, _)) => tracing::trace!(%object, "reconciled"),
        Err(kube::runtime::controller::Error::ReconcilerFailed(error, object)) => {
            tracing::debug!(%object, %error, "reconcile failed");
        }
        Err(error) => tracing::warn!(%error, "controller error"),
    }
}

/// The most BatchJob reconciles in flight at once, by default. Without a bound, a new
/// leader's first pass started a reconcile, and its requests, for every job at once. A
/// reconcile mostly waits (on the API server, and a finishing job on its budget's shared
/// write), so the bound is well above the cores: with 16, reconciles waiting for refunds
/// held every slot while started jobs waited for their Jobs (`make bench-cluster`).
pub const JOB_RECONCILES: u16 = 64;
/// The same for each policy kind, whose reconciles only guard deletions.
const POLICY_RECONCILES: u16 = 4;

fn policy_controller<K: Guarded>(client: &Client) -> Controller<K>
where
    K::DynamicType: Debug + Unpin,
{
    Controller::new(Api::<K>::all(client.clone()), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(POLICY_RECONCILES))
}

async fn run_policy<K: Guarded>(controller: Controller<K>, ctx: Arc<Context>)
where
    K::DynamicType: Debug + Unpin + Clone + Eq + std::hash::Hash,
{
    controller
        .shutdown_on_signal()
        .run(
            finalizers::reconcile::<K>,
            finalizers::error_policy::<K>,
            ctx,
        )
        .for_each(|r| async move { report(r) })
        .await;
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(error) = result {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
        () = terminate => {}
    }
}

/// Runs the controller against `client` until the lease is lost (an error: restart as a
/// follower) or the process gets SIGINT/SIGTERM (`Ok`, the lease released). `observed` gets
/// its metrics and readiness (leader, stores synced), for a probe server.
pub async fn run(client: Client, observed: Arc<Observed>, reconciles: u16) -> Result<(), RunError> {
    let lease_config = LeaseConfig::from_env(&client);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_config.namespace);
    tracing::info!(namespace = %lease_config.namespace, identity = %lease_config.identity,
        "waiting for the leader lease");
    let acquired = tokio::select! {
        sent = leader::acquire(&leases, &lease_config) => sent,
        () = shutdown_signal() => return Ok(()),
    };
    observed.set_leader(true);

    // The owned Jobs' one watch: it fills the store the reconciles read, and its events
    // trigger the owners' reconciles.
    let (owned, owned_writer) = reflector::store::<OwnedJob>();
    let owned_jobs = reflector::reflector(
        owned_writer,
        watcher::watcher(
            Api::<OwnedJob>::all(client.clone()),
            watcher::Config::default().labels(JOB_LABEL),
        )
        .default_backoff()
        // Never read: a list of field paths per writer.
        .modify(|job| job.managed_fields_mut().clear()),
    )
    .applied_objects();
    // The BatchJobs' watch, slimmed by `Stores::keep_of`: 10,000 jobs are held in memory.
    let (batch_jobs, batch_jobs_writer) = reflector::store::<BatchJob>();
    let batch_job_events = reflector::reflector(
        batch_jobs_writer,
        watcher::watcher(
            Api::<BatchJob>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify(Stores::keep_of),
    )
    .applied_objects();
    let jobs = Controller::for_stream(batch_job_events, batch_jobs)
        .owns_stream(owned_jobs)
        .with_config(controller::Config::default().concurrency(reconciles.max(1)));
    let queues = policy_controller::<BatchQueue>(&client);
    let priorities = policy_controller::<BatchPriority>(&client);
    let budgets = policy_controller::<BatchBudget>(&client);
    let models = policy_controller::<BatchCostModel>(&client);
    let constraints = policy_controller::<BatchJobConstraint>(&client);
    let stores = Stores {
        jobs: jobs.store(),
        queues: queues.store(),
        priorities: priorities.store(),
        budgets: budgets.store(),
        cost_models: models.store(),
        constraints: constraints.store(),
        owned,
    };
    let mut context = Context::new(client.clone(), stores);
    context.observed = Arc::clone(&observed);
    context.events = Some(crate::events::Publisher::start(
        client,
        &lease_config.identity,
        Arc::clone(&observed),
    ));
    let ctx = Arc::new(context);
    observed.set_context(&ctx);

    let main = jobs
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|r| {
            // Failures are counted by the error policy, with their kind.
            if r.is_ok() {
                observed.reconciled(None);
            }
            async move { report(r) }
        });
    let controllers = futures::future::join(
        main,
        futures::future::join5(
            run_policy(queues, ctx.clone()),
            run_policy(priorities, ctx.clone()),
            run_policy(budgets, ctx.clone()),
            run_policy(models, ctx.clone()),
            run_policy(constraints, ctx.clone()),
        ),
    );
    let scheduler = schedule_pass::run(&ctx);
    let queue_counts = crate::queue_status::run(&ctx);

    // Biased, the lease first: a leader resumed after a freeze sees its deadline passed and
    // stops before any reconcile it had in flight takes another step.
    let result = tokio::select! {
        biased;
        lost = leader::hold(&leases, &lease_config, acquired) => Err(RunError::LeaseLost(lost)),
        _ = controllers => {
            tracing::info!("controllers stopped");
            Ok(())
        }
        result = scheduler => {
            let error: Error = match result {
                Err(e) => e,
                Ok(never) => match never {},
            };
            Err(RunError::SchedulingStopped(error))
        }
        result = queue_counts => {
            let error: Error = match result {
                Err(e) => e,
                Ok(never) => match never {},
            };
            Err(RunError::QueueCountsStopped(error))
        }
    };
    // Every reconcile has stopped (the other futures are dropped): hand the lease over now
    // rather than make the next leader wait for it to expire. Not after a loss: it is not ours.
    observed.set_leader(false);
    if !matches!(result, Err(RunError::LeaseLost(_))) {
        leader::release(&leases, &lease_config).await;
    }
    result
}

/// Why [`run`] stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The leader lease was lost: stop so that only one replica reconciles.
    #[error("{0}; stopping so that only one replica reconciles")]
    LeaseLost(leader::LeaseLost),
    /// The scheduling pass failed for good.
    #[error("scheduling pass stopped: {0}")]
    SchedulingStopped(Error),
    /// The BatchQueue status writer failed for good.
    #[error("queue counts stopped: {0}")]
    QueueCountsStopped(Error),
}
