//! The ledger refunds from its own record, never from the job's word. Only the controller's
//! identity may write a BatchJob's status (see `isolation`), so these attacks use that
//! identity, as a stolen controller token or a controller bug would: a reservation record
//! claiming more than was charged, then a settled record replayed as unsettled. Neither may
//! take money from the windows that other jobs' charges are in.

use crate::common::{create, describe, job, nanos, spent, team, wait_phase, wait_settled};
use k8s_openapi::api::events::v1::Event;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_e2e::cluster::{CONTROLLER_USER, Cluster};
use kbatch_policy::api::{BatchJob, JobPhase};
use kbatch_policy::budget::ReservationRecord;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

fn reservation(job: &BatchJob) -> anyhow::Result<ReservationRecord> {
    job.status
        .as_ref()
        .and_then(|s| s.reservation.clone())
        .ok_or_else(|| anyhow::anyhow!("no reservation: {}", describe(job)))
}

pub fn a_forged_or_replayed_record_refunds_no_more_than_was_charged(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "forged", 10.0).await?;
        let ns = &team.namespace;
        cluster.kubelet.script(ns, |_| Outcome::Hold);
        let alice = cluster.practitioner("alice").await?;
        // `honest` holds 0.72 of the window for the whole test: no refund may reach it.
        create(&alice, ns, &job("honest", &team.queue, 2, "1h")).await?;
        create(&alice, ns, &job("forged", &team.queue, 2, "1h")).await?;
        wait_phase(cluster, ns, "honest", JobPhase::Running).await?;
        wait_phase(cluster, ns, "forged", JobPhase::Running).await?;
        let charge = nanos("0.72")?;
        assert_eq!(
            nanos(&spent(cluster, &team.budget, "24h").await?)?,
            2 * charge
        );

        let controller = cluster
            .client_as(CONTROLLER_USER, &["system:serviceaccounts"])
            .await?;
        let as_controller: Api<BatchJob> = Api::namespaced(controller, ns);
        let params = PatchParams::default();
        // The record claims a reservation of 1000: its refund would be about 1000.
        as_controller
            .patch_status(
                "forged",
                &params,
                &Patch::Merge(json!({"status": {"reservation": {"amount": "1000"}}})),
            )
            .await?;
        // A few seconds of run, so that its actual cost is not zero.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        Api::<BatchJob>::namespaced(alice.clone(), ns)
            .patch(
                "forged",
                &params,
                &Patch::Merge(json!({"spec": {"userCommand": "Terminate"}})),
            )
            .await?;
        wait_phase(cluster, ns, "forged", JobPhase::Failed).await?;
        let settled = reservation(&wait_settled(cluster, ns, "forged").await?)?;
        let cost = nanos(
            &settled
                .actual_cost
                .map(|c| c.to_string())
                .unwrap_or_default(),
        )?;
        assert!(cost > 0 && cost < charge, "it ran a few seconds: {cost}");
        assert_eq!(
            nanos(&spent(cluster, &team.budget, "24h").await?)?,
            charge + cost,
            "the refund gave back what the budget charged it, less its run, and no more"
        );
        assert_eq!(
            nanos(&settled.refund.map(|r| r.to_string()).unwrap_or_default())?,
            charge - cost,
            "its record says what was refunded"
        );
        let events: Api<Event> = Api::namespaced(cluster.admin.clone(), ns);
        wait::until("a RefundWithheld warning on the job", PATIENCE, || async {
            let listed = events
                .list(&ListParams::default().fields("regarding.name=forged"))
                .await?;
            Ok(
                match listed
                    .items
                    .iter()
                    .find(|e| e.reason.as_deref() == Some("RefundWithheld"))
                {
                    Some(e) => {
                        assert_eq!(e.type_.as_deref(), Some("Warning"));
                        Ok(())
                    }
                    None => Err(format!(
                        "{} events, none RefundWithheld",
                        listed.items.len()
                    )),
                },
            )
        })
        .await?;

        // Replay: the settled record put back as it was while the job ran, unrefunded.
        let before = spent(cluster, &team.budget, "24h").await?;
        as_controller
            .patch_status(
                "forged",
                &params,
                &Patch::Merge(json!({"status": {"reservation": {
                    "amount": "0.72", "state": "Charged", "actualCost": null, "refund": null,
                    "refundedAt": null, "refundWindows": null
                }}})),
            )
            .await?;
        // The budget's own Refund entry settles the record again, with what was given the
        // first time; or, once that entry is pruned, the replay gets nothing.
        let again = reservation(&wait_settled(cluster, ns, "forged").await?)?;
        let given = nanos(&again.refund.map(|r| r.to_string()).unwrap_or_default())?;
        assert!(
            given == 0 || given == charge - cost,
            "nothing is refunded twice: {again:?}"
        );
        assert_eq!(spent(cluster, &team.budget, "24h").await?, before);
        Ok(())
    })
}
