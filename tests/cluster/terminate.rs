//! `userCommand: Terminate`: another practitioner is refused; the submitter stops every pod,
//! the job ends Failed/Terminated and the unused part of its reservation is refunded.

use crate::common::{
    ceil_div, condition, condition_time, create, describe, job, nanos, pods_of, refusal, spent,
    team, wait_phase, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::{BatchJob, JobPhase};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

pub fn the_submitter_terminates_and_is_refunded_another_user_is_refused(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "terminate", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |_| Outcome::Hold);
        let alice = cluster.practitioner("alice").await?;
        let bob = cluster.practitioner("bob").await?;
        create(&alice, ns, &job("long", &team.queue, 2, "1h")).await?;
        wait_phase(cluster, ns, "long", JobPhase::Running).await?;
        let terminate = Patch::Merge(json!({"spec": {"userCommand": "Terminate"}}));

        let message = refusal(
            Api::<BatchJob>::namespaced(bob.clone(), ns)
                .patch("long", &PatchParams::default(), &terminate)
                .await,
        )?;
        assert!(
            message.contains("alice"),
            "bob is told whose job it is: {message}"
        );
        let still = wait_phase(cluster, ns, "long", JobPhase::Running).await?;
        assert_eq!(still.spec.user_command, None, "bob's change was not stored");

        Api::<BatchJob>::namespaced(alice.clone(), ns)
            .patch("long", &PatchParams::default(), &terminate)
            .await?;
        let ended = wait_phase(cluster, ns, "long", JobPhase::Failed).await?;
        assert!(
            condition(&ended, "Terminated").is_some_and(|c| c.status == "True"),
            "{}",
            describe(&ended)
        );
        wait::until("the terminated job's pods to go", PATIENCE, || async {
            let live = pods_of(cluster, ns, "long")
                .await?
                .into_iter()
                .filter(|p| {
                    !matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
                })
                .count();
            Ok(if live == 0 {
                Ok(())
            } else {
                Err(format!("{live} pods still live"))
            })
        })
        .await?;
        // The refund leaves what the pods ran: 2 tasks × 0.36 per hour, prorated by their run
        // up to the termination. The conditions' times are whole seconds, and the pods ran a
        // moment before the controller saw them: within a few seconds of what they say.
        let ran = condition_time(&ended, "Terminated")?
            .duration_since(condition_time(&ended, "TasksStarted")?)
            .as_secs();
        let cost = |secs: i64| -> anyhow::Result<i128> {
            Ok(ceil_div(nanos("0.72")? * i128::from(secs.max(0)), 3600))
        };
        let settled = wait_settled(cluster, ns, "long").await?;
        let charged = nanos(&spent(cluster, &team.budget, "24h").await?)?;
        let recorded = settled
            .status
            .as_ref()
            .and_then(|s| s.reservation.as_ref())
            .and_then(|r| r.actual_cost)
            .map(|c| c.to_string())
            .unwrap_or_default();
        assert_eq!(
            charged,
            nanos(&recorded)?,
            "the window holds what the record says it cost"
        );
        assert!(
            (cost(ran - 1)?..=cost(ran + 3)?).contains(&charged),
            "{charged} for {ran} s of run"
        );
        Ok(())
    })
}
