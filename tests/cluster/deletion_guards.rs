//! Deletion guards on the real API server: objects still referred to cannot be deleted, and
//! the message names the referrers; once nothing refers to them, their finalizers go and so
//! do they.

use crate::common::{create, job, refusal, team, wait_phase};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchPriority, BatchQueue, JobPhase,
};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource};
use serde_json::json;
use std::fmt::Debug;

async fn gone<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned,
{
    wait::until(&format!("{name} to be deleted"), PATIENCE, || async {
        Ok(match api.get_opt(name).await? {
            None => Ok(()),
            Some(o) => Err(format!("still there, finalizers {:?}", o.meta().finalizers)),
        })
    })
    .await
}

pub fn objects_in_use_cannot_be_deleted_and_finalizers_go_once_unused(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "guards", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |_| Outcome::Hold);
        let alice = cluster.practitioner("alice").await?;
        create(&alice, ns, &job("busy", &team.queue, 1, "1h")).await?;
        wait_phase(cluster, ns, "busy", JobPhase::Running).await?;

        let admin = &cluster.admin;
        let priorities: Api<BatchPriority> = Api::all(admin.clone());
        let queues: Api<BatchQueue> = Api::namespaced(admin.clone(), ns);
        let budgets: Api<BatchBudget> = Api::all(admin.clone());
        let models: Api<BatchCostModel> = Api::all(admin.clone());
        let delete = DeleteParams::default();

        let message = refusal(priorities.delete(&team.priority, &delete).await)?;
        assert!(
            message.contains(&format!("{ns}/main")),
            "names the queue: {message}"
        );
        let message = refusal(queues.delete("main", &delete).await)?;
        assert!(
            message.contains("busy"),
            "names the unfinished job: {message}"
        );
        let message = refusal(models.delete(&team.cost_model, &delete).await)?;
        assert!(
            message.contains(&team.budget),
            "names the budget: {message}"
        );
        assert!(priorities.get_opt(&team.priority).await?.is_some());
        assert!(queues.get_opt("main").await?.is_some());

        // Once the job is over, the queue may go, then what it named.
        Api::<BatchJob>::namespaced(alice.clone(), ns)
            .patch(
                "busy",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"userCommand": "Terminate"}})),
            )
            .await?;
        wait_phase(cluster, ns, "busy", JobPhase::Failed).await?;
        queues.delete("main", &delete).await?;
        gone(&queues, "main").await?;
        priorities.delete(&team.priority, &delete).await?;
        gone(&priorities, &team.priority).await?;
        budgets.delete(&team.budget, &delete).await?;
        gone(&budgets, &team.budget).await?;
        models.delete(&team.cost_model, &delete).await?;
        gone(&models, &team.cost_model).await?;
        Ok(())
    })
}
