//! With the webhook down and `failurePolicy: Fail`, kbatch writes fail with a clear error
//! while pods, Jobs and the system namespaces go on as before.

use crate::common::{create, job, refusal, team};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::BatchJob;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

pub fn with_the_webhook_down_batchjobs_fail_closed_and_nothing_else_does(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let team = cluster.run(team(cluster, "webhook-down", 10.0))?;
    let ns = team.namespace.clone();
    cluster.stop_webhook();
    let outcome = cluster.run(async {
        let alice = cluster.practitioner("alice").await?;
        let message = refusal(
            Api::<BatchJob>::namespaced(alice.clone(), &ns)
                .create(&PostParams::default(), &serde_json::from_value(job("refused", &team.queue, 1, "1h"))?)
                .await,
        )?;
        assert!(
            message.contains("failed calling webhook") && message.contains("kbatch.k8s.io"),
            "the user is told the kbatch webhook could not be called: {message}"
        );
        assert!(Api::<BatchJob>::namespaced(cluster.admin.clone(), &ns).get_opt("refused").await?.is_none());

        let admin = &cluster.admin;
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "plain-pod"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
        }))?;
        Api::<Pod>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &pod).await?;
        let plain_job: Job = serde_json::from_value(json!({
            "metadata": {"name": "plain-job"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox:1.36"}]}}}
        }))?;
        Api::<Job>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &plain_job).await?;
        for system in ["kube-system", "kbatch-system"] {
            let config: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": format!("e2e-{ns}")}, "data": {"written": "while the webhook was down"}
            }))?;
            let api = Api::<ConfigMap>::namespaced(admin.clone(), system);
            api.create(&PostParams::default(), &config).await?;
            api.delete(&format!("e2e-{ns}"), &DeleteParams::default()).await?;
        }
        // The controller's leader lease (kbatch-system) is still renewed.
        let leases: Api<Lease> = Api::namespaced(admin.clone(), "kbatch-system");
        let renewed = |l: Option<Lease>| l.and_then(|l| l.spec?.renew_time).map(|t| t.0);
        let before = renewed(leases.get_opt("kbatch-controller").await?);
        wait::until("the controller to renew its lease", PATIENCE, || async {
            let now = renewed(leases.get_opt("kbatch-controller").await?);
            Ok(if now.is_some() && now > before { Ok(()) } else { Err(format!("{now:?}")) })
        })
        .await?;
        anyhow::Ok(())
    });
    // Back up for whatever runs next, whatever happened above.
    cluster.restart_webhook()?;
    outcome?;
    cluster.run(async {
        let alice = cluster.practitioner("alice").await?;
        create(&alice, &ns, &job("accepted", &team.queue, 1, "1h")).await?;
        anyhow::Ok(())
    })
}
