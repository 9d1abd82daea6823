//! Leader hand-over with two controller replicas: a frozen leader (SIGSTOP, as a stalled node
//! or a long GC pause would) is replaced within the lease's time, stops acting once it runs
//! again, and no Job is created twice nor a budget charged twice; a replica stopped with
//! SIGTERM gives the lease up at once.

use crate::common::{create, describe, job, jobs_of, nanos, spent, team, wait_phase, wait_settled};
use k8s_openapi::api::coordination::v1::Lease;
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::process::{Process, free_port};
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::JobPhase;
use kube::Api;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const STANDBY: &str = "kbatch-controller-standby";

async fn lease_holder(cluster: &Cluster) -> anyhow::Result<Option<String>> {
    let lease = Api::<Lease>::namespaced(cluster.admin.clone(), "kbatch-system")
        .get("kbatch-controller")
        .await?;
    Ok(lease.spec.and_then(|s| s.holder_identity))
}

async fn wait_ready(cluster: &Cluster, port: u16, what: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    wait::until(what, Duration::from_secs(60), || async {
        Ok(if cluster.ready_on(port).await {
            Ok(())
        } else {
            Err("not ready".to_owned())
        })
    })
    .await?;
    Ok(start.elapsed())
}

pub fn a_frozen_leader_is_replaced_and_nothing_is_done_twice(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let leader_port = cluster.controller_probe_addr().port();
    cluster.run(wait_ready(cluster, leader_port, "the controller to lead"))?;
    let port = free_port()?;
    let standby = cluster.start_standby_controller(STANDBY, port)?;
    let result = cluster.run(hand_over(cluster, standby, port));
    // Whatever happened, leave one healthy controller for the scenarios that follow.
    let _ = cluster.signal_controller("CONT");
    cluster.restart_controller()?;
    result
}

async fn hand_over(cluster: &Cluster, mut standby: Process, port: u16) -> anyhow::Result<()> {
    let team = team(cluster, "failover", 10.0).await?;
    let ns = &team.namespace;
    cluster.kubelet.script(ns, |_| Outcome::succeed_after(10));
    let alice = cluster.practitioner("alice").await?;
    assert!(
        !cluster.ready_on(port).await,
        "the standby is unready while the leader holds the lease"
    );
    let first = ["a", "b", "c", "d"];
    for name in first {
        create(&alice, ns, &job(name, &team.queue, 1, "1h")).await?;
    }
    let mut created = BTreeMap::new();
    for name in first {
        wait_phase(cluster, ns, name, JobPhase::Running).await?;
        let jobs = jobs_of(cluster, ns, name).await?;
        created.insert(name, jobs[0].metadata.uid.clone());
    }

    cluster.signal_controller("STOP")?;
    // Submitted while the leader is frozen: only the standby can start them.
    for name in ["e", "f"] {
        create(&alice, ns, &job(name, &team.queue, 1, "1h")).await?;
    }
    let took = wait_ready(cluster, port, "the standby to lead").await?;
    // 15 s lease seen unchanged, a 2 s retry period, the stores' first list.
    assert!(took < Duration::from_secs(30), "took over after {took:?}");
    assert_eq!(lease_holder(cluster).await?.as_deref(), Some(STANDBY));

    let mut actual = 0;
    for name in first.iter().chain(&["e", "f"]) {
        wait_phase(cluster, ns, name, JobPhase::Succeeded).await?;
        let done = wait_settled(cluster, ns, name).await?;
        let record = done.status.clone().unwrap_or_default().reservation;
        let cost = record
            .and_then(|r| r.actual_cost)
            .map(|c| c.to_string())
            .unwrap_or_default();
        actual += nanos(&cost)?;
        let jobs = jobs_of(cluster, ns, name).await?;
        assert_eq!(jobs.len(), 1, "{name}: one Job: {}", describe(&done));
        if let Some(uid) = created.get(name) {
            assert_eq!(
                &jobs[0].metadata.uid, uid,
                "{name}: its Job was never recreated"
            );
        }
    }
    assert_eq!(
        nanos(&spent(cluster, &team.budget, "24h").await?)?,
        actual,
        "each job charged once and refunded once"
    );

    // Thawed, the old leader finds its renew deadline long past and stops.
    cluster.signal_controller("CONT")?;
    wait::until("the thawed leader to stop", PATIENCE, || async {
        Ok(if cluster.controller_running() {
            Err("still running".to_owned())
        } else {
            Ok(())
        })
    })
    .await?;
    assert!(
        cluster
            .controller_log(40)
            .contains("stopping so that only one replica reconciles"),
        "{}",
        cluster.controller_log(40)
    );
    assert_eq!(lease_holder(cluster).await?.as_deref(), Some(STANDBY));

    // SIGTERM: the standby stops and gives the lease up for the next one.
    standby.signal("TERM")?;
    let deadline = Instant::now() + PATIENCE;
    while standby.running() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the standby did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        lease_holder(cluster).await?,
        None,
        "released on SIGTERM: {}",
        standby.tail(20)
    );
    Ok(())
}
