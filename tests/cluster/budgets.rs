//! Budgets on the real API server: the windows hold exactly the reservation while a job
//! runs and exactly its actual cost once it ends; a job over budget waits with
//! `BudgetExceeded` until an administrator raises the window.

use crate::common::{
    ceil_div, condition, condition_time, create, describe, job, nanos, never_for, phase, spent,
    team, wait_for, wait_phase, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::PATIENCE;
use kbatch_policy::api::{BatchBudget, JobPhase};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

pub fn windows_hold_the_reservation_then_exactly_the_actual_cost(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "books", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |_| Outcome::succeed_after(6));
        create(
            &cluster.practitioner("alice").await?,
            ns,
            &job("priced", &team.queue, 2, "1h"),
        )
        .await?;
        // 2 tasks × 1 vCPU × 0.36 per hour × 1 h.
        let reservation = nanos("0.72")?;
        wait_for(cluster, ns, "priced", "Ready or Running", PATIENCE, |j| {
            matches!(phase(j), Some(JobPhase::Ready | JobPhase::Running))
        })
        .await?;
        assert_eq!(
            nanos(&spent(cluster, &team.budget, "24h").await?)?,
            reservation,
            "the reservation, charged at Ready"
        );

        wait_phase(cluster, ns, "priced", JobPhase::Succeeded).await?;
        let done = wait_settled(cluster, ns, "priced").await?;
        let ran = condition_time(&done, "Completed")?
            .duration_since(condition_time(&done, "TasksStarted")?)
            .as_secs();
        // Prorated per second of run time, rounded up to the nano-unit: 0.0002 a second.
        let expected = ceil_div(reservation * i128::from(ran), 3600);
        let charged = spent(cluster, &team.budget, "24h").await?;
        assert_eq!(
            nanos(&charged)?,
            expected,
            "{ran} s of run: {}",
            describe(&done)
        );
        let consumed = done
            .status
            .clone()
            .unwrap_or_default()
            .budget_consumed
            .unwrap_or(-1.0);
        assert!(
            (consumed - expected as f64 / 1e9).abs() < 1e-9,
            "status.budgetConsumed {consumed} shows the same amount"
        );
        Ok(())
    })
}

pub fn a_job_over_budget_waits_until_the_window_is_raised(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "over", 0.1).await?;
        let ns = &team.namespace;
        create(
            &cluster.practitioner("alice").await?,
            ns,
            &job("big", &team.queue, 1, "1h"),
        )
        .await?;
        wait_for(
            cluster,
            ns,
            "big",
            "Queued with BudgetExceeded",
            PATIENCE,
            |j| {
                phase(j) == Some(JobPhase::Queued)
                    && condition(j, "BudgetExceeded").is_some_and(|c| c.status == "True")
            },
        )
        .await?;
        never_for(
            cluster,
            ns,
            "big",
            Duration::from_secs(10),
            "started over budget",
            |j| phase(j) != Some(JobPhase::Queued),
        )
        .await?;
        assert_eq!(nanos(&spent(cluster, &team.budget, "24h").await?)?, 0);

        Api::<BatchBudget>::all(cluster.admin.clone())
            .patch(
                &team.budget,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"budgetWindows": [{"duration": "24h", "amount": 1}]}}),
                ),
            )
            .await?;
        wait_phase(cluster, ns, "big", JobPhase::Succeeded).await?;
        Ok(())
    })
}
