//! Dependencies: a job waits with `DependencyPending` and starts after what it needs; the
//! `Failure` and `Complete` types; a job whose dependency failed fails saying which.

use crate::common::{
    condition, condition_time, create, describe, job, phase, team, wait_for, wait_phase,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::PATIENCE;
use kbatch_policy::api::JobPhase;
use serde_json::{Value, json};

fn after(name: &str, queue: &str, on: &str, type_: &str) -> Value {
    let mut j = job(name, queue, 1, "10m");
    j["spec"]["dependencies"] = json!([{"dependencyItems": [{"names": [on], "type": type_}]}]);
    j
}

pub fn a_dependent_job_waits_then_starts_or_fails_by_type(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "deps", 100.0).await?;
        let ns = &team.namespace;
        let q = &team.queue;
        cluster
            .kubelet
            .script(ns, |run| match run.batch_job.as_deref() {
                Some("first") => Outcome::succeed_after(8),
                Some("doomed") => Outcome::fail_after(1, 1),
                _ => Outcome::succeed_after(1),
            });
        let alice = cluster.practitioner("alice").await?;
        create(&alice, ns, &job("first", q, 1, "10m")).await?;
        create(&alice, ns, &job("doomed", q, 1, "10m")).await?;
        create(&alice, ns, &after("on-success", q, "first", "Success")).await?;
        create(&alice, ns, &after("on-failure", q, "first", "Failure")).await?;
        create(&alice, ns, &after("on-complete", q, "first", "Complete")).await?;
        create(&alice, ns, &after("after-doomed", q, "doomed", "Success")).await?;

        wait_for(
            cluster,
            ns,
            "on-success",
            "Queued with DependencyPending",
            PATIENCE,
            |j| {
                phase(j) == Some(JobPhase::Queued)
                    && condition(j, "DependencyPending").is_some_and(|c| c.status == "True")
            },
        )
        .await?;
        let first = wait_phase(cluster, ns, "first", JobPhase::Succeeded).await?;
        let first_done = condition_time(&first, "Completed")?;
        for name in ["on-success", "on-complete"] {
            let done = wait_phase(cluster, ns, name, JobPhase::Succeeded).await?;
            let started = condition_time(&done, "TasksStarted")?;
            assert!(
                started >= first_done,
                "{name} started at {started}, before first ended at {first_done}"
            );
        }
        for (name, on) in [("on-failure", "first"), ("after-doomed", "doomed")] {
            let failed = wait_phase(cluster, ns, name, JobPhase::Failed).await?;
            let why = condition(&failed, "DependencyFailed")
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            assert!(
                why.contains(on),
                "{name} says which dependency failed it: {}",
                describe(&failed)
            );
        }
        Ok(())
    })
}
