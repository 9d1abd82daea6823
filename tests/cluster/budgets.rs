//! Budgets on the real API server: the windows hold exactly the reservation while a job
//! runs and exactly its actual cost once it ends; a job over budget waits with
//! `BudgetExceeded` until an administrator raises the window.

use crate::common::{
    ceil_div, condition, create, describe, job, nanos, never_for, phase, spent, task_seconds, team,
    wait_for, wait_phase, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait;
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
        // Billed per second its tasks' pods ran, rounded up to the nano-unit: 0.0001 a second
        // for each of the two tasks.
        let ran = task_seconds(cluster, ns, "priced").await?;
        let expected = ceil_div(reservation / 2 * i128::from(ran), 3600);
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

/// The windows roll on time: once a window ends, `kubectl get bbud` shows the new one (empty)
/// and the ended one in the history, without waiting for the next job to be charged.
pub fn a_window_rolls_over_on_time_without_any_job(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "rollover", 10.0).await?;
        let ns = &team.namespace;
        // The 24h window ends 40 s from now.
        let boundary = jiff::Timestamp::now()
            .round(jiff::Unit::Second)?
            .checked_add(jiff::SignedDuration::from_secs(40))?;
        let start = boundary.checked_sub(jiff::SignedDuration::from_hours(24))?;
        let budgets: Api<BatchBudget> = Api::all(cluster.admin.clone());
        budgets
            .patch(
                &team.budget,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"budgetStartTime": start.to_string()}})),
            )
            .await?;
        cluster.kubelet.script(ns, |_| Outcome::succeed_after(2));
        create(
            &cluster.practitioner("alice").await?,
            ns,
            &job("before", &team.queue, 1, "1h"),
        )
        .await?;
        wait_phase(cluster, ns, "before", JobPhase::Succeeded).await?;
        let done = wait_settled(cluster, ns, "before").await?;
        let cost = done
            .status
            .clone()
            .unwrap_or_default()
            .reservation
            .and_then(|r| r.actual_cost);
        let cost = cost.map(|c| c.to_string()).unwrap_or_default();
        assert_ne!(nanos(&cost)?, 0, "the job cost something");
        anyhow::ensure!(
            jiff::Timestamp::now() < boundary,
            "the job ended after the window did: the test proves nothing"
        );
        wait::until("the 24h window to roll over", PATIENCE, || async {
            let b = budgets.get(&team.budget).await?;
            let window = b
                .status
                .unwrap_or_default()
                .window_status_list
                .into_iter()
                .find(|w| w.duration == "24h");
            Ok(match window {
                Some(w) if w.start_time.0 == boundary => Ok(w),
                other => Err(format!("{:?}", other.map(|w| w.start_time))),
            })
        })
        .await
        .and_then(|w| {
            assert_eq!(
                nanos(&w.amount_exact.map(|m| m.to_string()).unwrap_or_default())?,
                0
            );
            let ended = w
                .window_history
                .last()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no history record for the ended window"))?;
            assert_eq!(
                ended.window_end_time.0, boundary,
                "the ended window is in the history"
            );
            let spent = ended
                .amount_exact
                .map(|m| m.to_string())
                .unwrap_or_default();
            assert_eq!(nanos(&spent)?, nanos(&cost)?, "with what the job cost");
            Ok(())
        })
    })
}
