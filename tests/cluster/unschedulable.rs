//! A job that no node can hold: it waits in Ready, says why, is neither billed for the
//! wait nor killed by its wall time, and runs once a node that fits appears.

use crate::common::{
    ceil_div, condition, condition_time, create, describe, job, nanos, never_for, phase, spent,
    team, wait_for, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::{FakeNode, Outcome};
use kbatch_e2e::cluster::wait::PATIENCE;
use kbatch_policy::api::JobPhase;
use serde_json::json;
use std::time::Duration;

pub fn a_job_no_node_can_hold_waits_ready_unbilled_and_unkilled(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "unschedulable", 10.0).await?;
        let ns = &team.namespace;
        let model = format!("nvidia-h100-{ns}");
        cluster.kubelet.script(ns, |_| Outcome::succeed_after(3));
        let mut waiting = job("waits", &team.queue, 1, "15s");
        waiting["spec"]["batchNodeSelector"] =
            json!({"gpuType": {"operator": "Equals", "values": [model]}});
        waiting["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
            ["nvidia.com/gpu"] = json!(1);
        let alice = cluster.practitioner("alice").await?;
        create(&alice, ns, &waiting).await?;

        let ready = wait_for(
            cluster,
            ns,
            "waits",
            "Ready with a condition saying its pods are unschedulable",
            PATIENCE,
            |j| {
                phase(j) == Some(JobPhase::Ready)
                    && condition(j, "Unschedulable").is_some_and(|c| c.status == "True")
            },
        )
        .await?;
        let why = condition(&ready, "Unschedulable")
            .and_then(|c| c.message.clone())
            .unwrap_or_default();
        assert!(
            why.contains("0/") && why.contains("nodes are available"),
            "the condition quotes the scheduler: {why}"
        );
        // Reserved: (1 vCPU × 0.36 + 1 GPU × 0.72) per hour × 15 s.
        let reservation = spent(cluster, &team.budget, "24h").await?;
        assert_eq!(nanos(&reservation)?, nanos("0.0045")?, "charged at Ready");

        // Three wall times pass: still Ready, never Running nor Failed.
        never_for(
            cluster,
            ns,
            "waits",
            Duration::from_secs(45),
            "left Ready while no node could hold it",
            |j| phase(j) != Some(JobPhase::Ready),
        )
        .await?;

        cluster
            .kubelet
            .add_node(&FakeNode::named(&format!("h100-{ns}")).gpu(&model, 1))
            .await?;
        wait_for(cluster, ns, "waits", "Succeeded", PATIENCE, |j| {
            phase(j) == Some(JobPhase::Succeeded)
        })
        .await?;
        let done = wait_settled(cluster, ns, "waits").await?;
        assert!(
            condition(&done, "Unschedulable").is_none_or(|c| c.status != "True"),
            "the unschedulable condition is cleared once it ran: {}",
            describe(&done)
        );
        // Billed from its first task's start to its end, not for the wait.
        let ran = condition_time(&done, "Completed")?
            .duration_since(condition_time(&done, "TasksStarted")?)
            .as_secs();
        let ran = i128::from(ran);
        let expected = ceil_div(nanos("0.0045")? * ran, 15).min(nanos("0.0045")?);
        let charged = spent(cluster, &team.budget, "24h").await?;
        assert_eq!(
            nanos(&charged)?,
            expected,
            "spent {charged} for {ran} s of run time after {} waiting",
            describe(&done)
        );
        Ok(())
    })
}
