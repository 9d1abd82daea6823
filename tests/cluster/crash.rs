//! The controller killed (SIGKILL) at arbitrary moments while 50 jobs run, and restarted each
//! time: every job still succeeds with one Job, and each window's spending is exactly the sum
//! of the jobs' actual costs (each charged once, refunded once).

use crate::common::{
    Team, create, describe, job, jobs_of, nanos, spent, team, wait_phase, wait_settled,
};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::{BatchBudget, JobPhase};
use kube::Api;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const JOBS: usize = 50;
const KILLS: usize = 5;

fn name(i: usize) -> String {
    format!("j-{i:02}")
}

/// Pauses between kills, 0.5–4.5 s, from a seed printed on failure.
fn pauses(seed: u64) -> Vec<Duration> {
    let mut state = seed | 1;
    (0..KILLS)
        .map(|_| {
            // xorshift64: enough to spread the kills over the run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_millis(500 + state % 4_000)
        })
        .collect()
}

pub fn the_books_balance_after_the_controller_is_killed_five_times(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let team = cluster.run(async {
        let team = team(cluster, "crash", 100.0).await?;
        // Tasks of 3 to 7 s, so that kills land in every step of the jobs' lives.
        cluster.kubelet.script(&team.namespace, |run| {
            Outcome::succeed_after(3 + run.pod.bytes().map(u64::from).sum::<u64>() % 5)
        });
        let alice = cluster.practitioner("alice").await?;
        for i in 0..JOBS {
            create(
                &alice,
                &team.namespace,
                &job(&name(i), &team.queue, 1, "1h"),
            )
            .await?;
        }
        anyhow::Ok(team)
    })?;
    for pause in pauses(seed) {
        std::thread::sleep(pause);
        cluster.signal_controller("KILL")?;
        cluster.restart_controller()?;
    }
    cluster
        .run(check_books(cluster, &team))
        .map_err(|e| e.context(format!("kill pauses from seed {seed}: {:?}", pauses(seed))))
}

async fn check_books(cluster: &Cluster, team: &Team) -> anyhow::Result<()> {
    let ns = &team.namespace;
    let mut actual = 0;
    for i in 0..JOBS {
        let name = name(i);
        wait_phase(cluster, ns, &name, JobPhase::Succeeded).await?;
        let done = wait_settled(cluster, ns, &name).await?;
        let cost = done
            .status
            .clone()
            .unwrap_or_default()
            .reservation
            .and_then(|r| r.actual_cost)
            .map(|c| c.to_string())
            .unwrap_or_default();
        actual += nanos(&cost)?;
        let jobs = jobs_of(cluster, ns, &name).await?;
        assert_eq!(jobs.len(), 1, "{name}: one Job: {}", describe(&done));
    }
    assert_eq!(
        nanos(&spent(cluster, &team.budget, "24h").await?)?,
        actual,
        "each job charged once and refunded once"
    );
    let budgets: Api<BatchBudget> = Api::all(cluster.admin.clone());
    wait::until("the budget's ledger to empty", PATIENCE, || async {
        let ledger = budgets
            .get(&team.budget)
            .await?
            .status
            .unwrap_or_default()
            .ledger;
        Ok(if ledger.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} entries left: {:?}",
                ledger.len(),
                ledger.first()
            ))
        })
    })
    .await
}
