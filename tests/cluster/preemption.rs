//! A preempted task is run again without consuming a retry, whatever the restart policy.

use crate::common::{create, describe, job, pods_of, team, wait_phase};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::JobPhase;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn preempted_once(cluster: &Cluster, restart_policy: &str) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(
            cluster,
            &format!("preempt-{}", restart_policy.to_lowercase()),
            10.0,
        )
        .await?;
        let ns = &team.namespace;
        // The first run of each index holds until preempted; later runs succeed.
        let runs: Arc<Mutex<HashMap<Option<u32>, u32>>> = Arc::default();
        cluster.kubelet.script(ns, move |run| {
            let mut runs = runs.lock().unwrap();
            let n = runs.entry(run.index).or_insert(0);
            *n += 1;
            if *n == 1 {
                Outcome::Hold
            } else {
                Outcome::succeed_after(1)
            }
        });
        let mut spot = job("spot", &team.queue, 1, "10m");
        spot["spec"]["taskGroups"][0]["template"]["spec"]["restartPolicy"] = json!(restart_policy);
        create(&cluster.practitioner("alice").await?, ns, &spot).await?;
        let running = wait::until("the task's pod to run", PATIENCE, || async {
            let pods = pods_of(cluster, ns, "spot").await?;
            let running = pods
                .iter()
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
            Ok(running
                .and_then(|p| p.metadata.name.clone())
                .ok_or_else(|| format!("{} pods, none running", pods.len())))
        })
        .await?;
        cluster.kubelet.preempt(ns, &running).await?;
        let done = wait_phase(cluster, ns, "spot", JobPhase::Succeeded).await?;
        let group = &done.status.clone().unwrap_or_default().group_status[0];
        assert_eq!(
            (group.succeeded, group.failed),
            (1, 0),
            "{}",
            describe(&done)
        );
        let succeeded: Vec<String> = pods_of(cluster, ns, "spot")
            .await?
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(succeeded.len(), 1, "one run succeeded");
        assert_ne!(
            succeeded[0], running,
            "a replacement pod ran after the preemption"
        );
        Ok(())
    })
}

pub fn a_preempted_task_does_not_consume_retries_with_restart_never(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    preempted_once(cluster, "Never")
}

pub fn a_preempted_task_does_not_consume_retries_with_restart_on_failure(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    preempted_once(cluster, "OnFailure")
}
