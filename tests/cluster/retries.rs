//! Retries per task index: an index that fails twice succeeds on its third run with
//! `retryLimit: 2`; without retries the job fails naming the index; never two pods for one
//! index at once.

use crate::common::{
    CPU_HOUR, PodLog, ceil_div, condition, create, describe, job, nanos, runs_of, spent,
    task_seconds, team, wait_phase, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_policy::api::JobPhase;
use serde_json::json;

pub fn an_index_that_fails_twice_succeeds_on_its_third_attempt(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "retries", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |run| {
            if run.index == Some(1) && run.attempt < 2 {
                Outcome::fail_after(1, 1)
            } else {
                Outcome::succeed_after(1)
            }
        });
        let pods = PodLog::watch(cluster, ns).await?;
        let mut flaky = job("flaky", &team.queue, 3, "10m");
        flaky["spec"]["taskGroups"][0]["retryLimit"] = json!(2);
        create(&cluster.practitioner("alice").await?, ns, &flaky).await?;
        let done = wait_phase(cluster, ns, "flaky", JobPhase::Succeeded).await?;

        let group = &done.status.clone().unwrap_or_default().group_status[0];
        assert_eq!(
            (group.succeeded, group.failed),
            (3, 0),
            "{}",
            describe(&done)
        );
        let runs_of_one: Vec<String> = runs_of(cluster, ns, "flaky", 1)
            .await?
            .into_iter()
            .map(|p| p.status.and_then(|s| s.phase).unwrap_or_default())
            .collect();
        let mut sorted = runs_of_one.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["Failed", "Failed", "Succeeded"],
            "index 1 ran three times"
        );
        assert_eq!(pods.overlaps(), Vec::<String>::new());
        Ok(())
    })
}

pub fn without_retries_the_job_fails_naming_the_index(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "no-retries", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |run| {
            if run.index == Some(2) {
                Outcome::fail_after(1, 3)
            } else {
                Outcome::succeed_after(1)
            }
        });
        let pods = PodLog::watch(cluster, ns).await?;
        create(
            &cluster.practitioner("alice").await?,
            ns,
            &job("fragile", &team.queue, 3, "10m"),
        )
        .await?;
        let failed = wait_phase(cluster, ns, "fragile", JobPhase::Failed).await?;
        let why = condition(&failed, "RetriesExhausted")
            .and_then(|c| c.message.clone())
            .unwrap_or_default();
        assert!(
            why.contains("index 2") && why.contains("main"),
            "the failure names the group and the index: {}",
            describe(&failed)
        );
        let runs_of_two = runs_of(cluster, ns, "fragile", 2).await?.len();
        assert_eq!(runs_of_two, 1, "retryLimit 0: one run");
        assert_eq!(pods.overlaps(), Vec::<String>::new());
        Ok(())
    })
}

/// Retries are billed: an index that runs three times runs longer than one maxWallTime, and
/// the job pays for each run of its pods (one vCPU at 0.36 an hour × the pods' run time),
/// not one run's reservation, and not the Job controller's backoff between runs.
pub fn a_retried_job_is_billed_for_each_run(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "retry-bill", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |run| {
            if run.attempt < 2 {
                Outcome::fail_after(4, 1)
            } else {
                Outcome::succeed_after(4)
            }
        });
        let mut retried = job("retried", &team.queue, 1, "6s");
        retried["spec"]["taskGroups"][0]["retryLimit"] = json!(2);
        create(&cluster.practitioner("alice").await?, ns, &retried).await?;
        wait_phase(cluster, ns, "retried", JobPhase::Succeeded).await?;
        let done = wait_settled(cluster, ns, "retried").await?;
        let runs = runs_of(cluster, ns, "retried", 0).await?;
        let ran = task_seconds(cluster, ns, "retried").await?;
        assert_eq!(runs.len(), 3, "three runs");
        // One vCPU at 0.36 an hour: 0.0001 a second; one run's reservation is 0.0006.
        let reservation = nanos("0.0006")?;
        let expected = ceil_div(nanos(CPU_HOUR)? * i128::from(ran), 3600);
        assert!(
            ran > 6,
            "three runs of 4 s take longer than one maxWallTime: {ran} s"
        );
        let charged = nanos(&spent(cluster, &team.budget, "24h").await?)?;
        assert_eq!(charged, expected, "{ran} s of runs: {}", describe(&done));
        assert!(charged > reservation);
        Ok(())
    })
}
