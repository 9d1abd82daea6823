//! Tenant isolation, attacked as a hostile tenant would with real identities: a namespace
//! administrator (the built-in `admin` role), a second practitioner, the job's own
//! submitter. Each attack must fail with a clear message and change nothing.

use crate::common::{Team, create, describe, job, nanos, phase, refusal, spent, team, wait_phase};
use k8s_openapi::api::core::v1::Pod;
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_policy::api::{BatchJob, BatchQueue, JobPhase};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::time::Duration;

/// A team whose `alice` runs `name` (two tasks that hold), Running with its budget charged.
async fn running_job(
    cluster: &Cluster,
    prefix: &str,
    name: &str,
) -> anyhow::Result<(Team, Client)> {
    let team = team(cluster, prefix, 10.0).await?;
    cluster.kubelet.script(&team.namespace, |_| Outcome::Hold);
    let alice = cluster.practitioner("alice").await?;
    create(&alice, &team.namespace, &job(name, &team.queue, 2, "1h")).await?;
    wait_phase(cluster, &team.namespace, name, JobPhase::Running).await?;
    Ok((team, alice))
}

fn patch(value: Value) -> Patch<Value> {
    Patch::Merge(value)
}

/// Hole 1: status writes moved budgets. A namespace administrator, and even a cluster
/// administrator, may not write a BatchJob's status: neither the reservation (which the
/// refund reads) nor the phase nor the submitter.
pub fn nobody_but_the_controller_writes_a_job_status(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let (team, _alice) = running_job(cluster, "status-attack", "victim").await?;
        let ns = &team.namespace;
        let nadia = cluster.namespace_admin(ns, "nadia").await?;
        let before = spent(cluster, &team.budget, "24h").await?;
        let forged = [
            json!({"status": {"reservation": {"amount": "1000", "refund": "1000"}}}),
            json!({"status": {"phase": "Succeeded"}}),
            json!({"status": {"submittedBy": "bob"}}),
        ];
        for (who, client) in [
            ("a namespace admin", &nadia),
            ("a cluster admin", &cluster.admin),
        ] {
            let api: Api<BatchJob> = Api::namespaced(client.clone(), ns);
            for body in &forged {
                let message = refusal(
                    api.patch_status("victim", &PatchParams::default(), &patch(body.clone()))
                        .await,
                )?;
                assert!(
                    message.contains("forbidden") || message.contains("controller"),
                    "{who} writing {body} is told why not: {message}"
                );
            }
        }
        // A namespace admin gets no policy objects either: queues are the cluster admin's.
        let queue: BatchQueue = serde_json::from_value(json!({
            "metadata": {"name": "mine"},
            "spec": {"batchPriorityName": team.priority, "batchBudgetName": team.budget}
        }))?;
        refusal(
            Api::<BatchQueue>::namespaced(nadia.clone(), ns)
                .create(&PostParams::default(), &queue)
                .await,
        )?;
        let job = Api::<BatchJob>::namespaced(cluster.admin.clone(), ns)
            .get("victim")
            .await?;
        assert_eq!(phase(&job), Some(JobPhase::Running), "{}", describe(&job));
        let status = job.status.clone().unwrap_or_default();
        assert_eq!(status.submitted_by.as_deref(), Some("alice"));
        assert_eq!(
            status.reservation.map(|r| r.amount.to_string()),
            Some("0.72".to_owned())
        );
        assert_eq!(
            spent(cluster, &team.budget, "24h").await?,
            before,
            "the budget did not move"
        );
        Ok(())
    })
}

/// Hole 2: metadata writes on other users' jobs. An owner reference would have the garbage
/// collector delete the job; a foreign finalizer would make it undeletable; removing kbatch's
/// finalizer from a deleting job would lose its refund.
pub fn nobody_but_the_submitter_touches_a_job_and_kbatch_metadata_is_the_controllers(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let (team, alice) = running_job(cluster, "metadata-attack", "victim").await?;
        let ns = &team.namespace;
        let bob = cluster.practitioner("bob").await?;
        let pod_uid = Api::<Pod>::namespaced(cluster.admin.clone(), ns)
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .find_map(|p| p.metadata.uid)
            .unwrap_or_default();
        let owner = json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": "gone", "uid": pod_uid}]}});
        let bobs = Api::<BatchJob>::namespaced(bob.clone(), ns);
        for body in [
            owner.clone(),
            json!({"metadata": {"finalizers": ["example.com/never"]}}),
            json!({"metadata": {"labels": {"owner": "bob"}}}),
        ] {
            let message = refusal(
                bobs.patch("victim", &PatchParams::default(), &patch(body.clone()))
                    .await,
            )?;
            assert!(
                message.contains("alice"),
                "bob is told whose job it is: {message}"
            );
        }
        // The submitter herself may not add owners either.
        let message = refusal(
            Api::<BatchJob>::namespaced(alice.clone(), ns)
                .patch("victim", &PatchParams::default(), &patch(owner))
                .await,
        )?;
        assert!(message.contains("ownerReferences"), "{message}");
        tokio::time::sleep(Duration::from_secs(5)).await;
        wait_phase(cluster, ns, "victim", JobPhase::Running).await?;

        // Deleted by an administrator: kbatch's finalizer keeps it until the refund, and the
        // submitter cannot take it away.
        let admins = Api::<BatchJob>::namespaced(cluster.admin.clone(), ns);
        admins.delete("victim", &DeleteParams::default()).await?;
        let message = refusal(
            Api::<BatchJob>::namespaced(alice.clone(), ns)
                .patch(
                    "victim",
                    &PatchParams::default(),
                    &Patch::Json::<()>(serde_json::from_value(json!([
                        {"op": "remove", "path": "/metadata/finalizers"}
                    ]))?),
                )
                .await,
        );
        match message {
            Ok(message) => assert!(message.contains("kbatch.k8s.io/reservation"), "{message}"),
            // Already refunded and gone: the controller was faster; nothing was lost.
            Err(e) => assert!(admins.get_opt("victim").await?.is_none(), "{e:#}"),
        }
        wait::until("the deleted job to be released", PATIENCE, || async {
            Ok(match admins.get_opt("victim").await? {
                None => Ok(()),
                Some(j) => Err(describe(&j)),
            })
        })
        .await?;
        let left = nanos(&spent(cluster, &team.budget, "24h").await?)?;
        assert!(
            left < nanos("0.72")?,
            "the unused part was refunded: {left}"
        );
        Ok(())
    })
}

/// Hole 4: constraints dodged through the template. The accelerator and preemptible labels
/// are kbatch's to place by (`batchNodeSelector`), never the template's.
pub fn the_template_cannot_place_pods_on_gpu_or_preemptible_nodes_itself(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "placement-attack", 10.0).await?;
        let ns = &team.namespace;
        let alice = cluster.practitioner("alice").await?;
        let template = |spec: Value| {
            let mut j = job("sneaky", &team.queue, 1, "1h");
            for (k, v) in spec.as_object().unwrap() {
                j["spec"]["taskGroups"][0]["template"]["spec"][k] = v.clone();
            }
            j
        };
        let attacks = [
            json!({"nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}}),
            json!({"tolerations": [{"key": "cloud.google.com/gke-preemptible", "operator": "Exists"}]}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "cloud.google.com/gke-accelerator",
                    "operator": "In", "values": ["nvidia-tesla-t4"]}]}]}}}}),
            json!({"nodeName": "e2e-t4-0"}),
        ];
        for attack in attacks {
            let message = refusal(
                Api::<BatchJob>::namespaced(alice.clone(), ns)
                    .create(&PostParams::default(), &serde_json::from_value(template(attack.clone()))?)
                    .await,
            )?;
            assert!(message.contains("spec.taskGroups[0].template.spec"), "{attack}: {message}");
        }
        Ok(())
    })
}

/// Hole 5: the excluded namespaces. The webhooks skip kube-system and kbatch-system, so a
/// BatchJob there would never be checked: the API server itself refuses it.
pub fn no_batchjob_can_be_made_where_the_webhook_does_not_look(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        for ns in ["kube-system", "kbatch-system"] {
            let api = Api::<BatchJob>::namespaced(cluster.admin.clone(), ns);
            let unchecked: BatchJob = serde_json::from_value(job("unchecked", "main", 1, "1h"))?;
            // The API server loads a new admission policy within a few seconds of its creation.
            let dry_run = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            wait::until(
                &format!("the policy to refuse BatchJobs in {ns}"),
                PATIENCE,
                || async {
                    Ok(match api.create(&dry_run, &unchecked).await {
                        Ok(_) => Err("created".to_owned()),
                        Err(_) => Ok(()),
                    })
                },
            )
            .await?;
            let message = refusal(api.create(&PostParams::default(), &unchecked).await)?;
            assert!(
                message.contains(ns) && message.contains("does not look there"),
                "{ns}: {message}"
            );
            assert!(
                api.get_opt("unchecked").await?.is_none(),
                "{ns}: nothing was stored"
            );
        }
        // A name that is no DNS label is refused by the CRD's schema wherever it comes from.
        let team = team(cluster, "names", 10.0).await?;
        let mut j = job("odd-name", &team.queue, 1, "1h");
        j["spec"]["taskGroups"][0]["name"] = json!("über");
        let message = refusal(
            Api::<BatchJob>::namespaced(cluster.practitioner("alice").await?, &team.namespace)
                .create(&PostParams::default(), &serde_json::from_value(j)?)
                .await,
        )?;
        assert!(message.contains("taskGroups[0].name"), "{message}");
        assert!(cluster.controller_running(), "the controller is still up");
        Ok(())
    })
}

/// Hole 3: pods as anyone, anywhere. The BatchUserContext decides the service account and its
/// token, the claims and queues a user may use, and the restricted Pod Security Standard's
/// seccomp, AppArmor, procMount, sysctl and SELinux rules; the webhook writes the safe
/// defaults where a template leaves them unset.
pub fn pods_run_only_as_the_user_context_allows(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "pod-attack", 10.0).await?;
        let ns = &team.namespace;
        let restrict = json!({"spec": {"securityPolicySpec": {
            "allowedPersistentVolumeClaims": ["scratch"], "allowedQueues": [team.queue]}}});
        Api::<kbatch_policy::api::BatchUserContext>::namespaced(cluster.admin.clone(), ns)
            .patch("everyone", &PatchParams::default(), &patch(restrict))
            .await?;
        let pod = |spec: Value| {
            let mut j = job("sneaky", &team.queue, 1, "1h");
            for (k, v) in spec.as_object().unwrap() {
                j["spec"]["taskGroups"][0]["template"]["spec"][k] = v.clone();
            }
            j
        };
        let container = |sc: Value| pod(json!({"containers": [{"name": "work", "image": "busybox:1.36", "securityContext": sc}]}));
        let payroll = pod(json!({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "payroll"}}]}));
        // The webhook sees the tightened context through its watch: wait until it refuses.
        let api = Api::<BatchJob>::namespaced(cluster.admin.clone(), ns);
        let dry_run = PostParams { dry_run: true, ..PostParams::default() };
        let probe: BatchJob = serde_json::from_value(payroll.clone())?;
        wait::until("the webhook to see the tightened context", PATIENCE, || async {
            Ok(match api.create(&dry_run, &probe).await {
                Ok(_) => Err("accepted".to_owned()),
                Err(_) => Ok(()),
            })
        })
        .await?;
        let pod_spec = "spec.taskGroups[0].template.spec";
        let attacks = [
            (pod(json!({"serviceAccountName": "deployer"})), format!("{pod_spec}.serviceAccountName")),
            (pod(json!({"automountServiceAccountToken": true})), format!("{pod_spec}.automountServiceAccountToken")),
            (payroll, format!("{pod_spec}.volumes[0].persistentVolumeClaim.claimName")),
            (pod(json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}})), format!("{pod_spec}.securityContext.seccompProfile.type")),
            (pod(json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}})), format!("{pod_spec}.securityContext.sysctls[0]")),
            (container(json!({"appArmorProfile": {"type": "Unconfined"}})), format!("{pod_spec}.containers[0].securityContext.appArmorProfile.type")),
            (container(json!({"procMount": "Unmasked"})), format!("{pod_spec}.containers[0].securityContext.procMount")),
            (container(json!({"seLinuxOptions": {"user": "system_u"}})), format!("{pod_spec}.containers[0].securityContext.seLinuxOptions.user")),
        ];
        let alice = Api::<BatchJob>::namespaced(cluster.practitioner("alice").await?, ns);
        for (attack, path) in attacks {
            let message = refusal(alice.create(&PostParams::default(), &serde_json::from_value(attack)?).await)?;
            assert!(message.contains(&path), "{path}: {message}");
        }
        let mut elsewhere = job("elsewhere", "other-queue", 1, "1h");
        elsewhere["spec"]["batchQueueName"] = json!("other-queue");
        refusal(alice.create(&PostParams::default(), &serde_json::from_value(elsewhere)?).await)?;
        assert!(api.list(&Default::default()).await?.items.is_empty(), "nothing was stored");

        // A plain job is admitted, and its pods get the safe defaults.
        create(&cluster.practitioner("alice").await?, ns, &job("plain", &team.queue, 1, "1h")).await?;
        wait_phase(cluster, ns, "plain", JobPhase::Succeeded).await?;
        let pods = crate::common::pods_of(cluster, ns, "plain").await?;
        let spec = pods.first().and_then(|p| p.spec.clone()).expect("a pod ran");
        assert_eq!(spec.automount_service_account_token, Some(false));
        let seccomp = spec.security_context.and_then(|s| s.seccomp_profile).map(|p| p.type_);
        assert_eq!(seccomp.as_deref(), Some("RuntimeDefault"));
        Ok(())
    })
}

/// Hole 6: one user fills the cluster. The onboarding example's ResourceQuota caps the
/// BatchJobs of a namespace; the next one is refused naming the quota, and other namespaces
/// go on. (The cluster-wide cap of 10,000 unfinished jobs is the policy crate's, unit-tested.)
pub fn a_namespace_holds_no_more_jobs_than_its_quota(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "quota", 10.0).await?;
        let ns = &team.namespace;
        let onboarding = kbatch_e2e::cluster::manifests_dir().join("tenancy/team-a.yaml");
        let mut quota = kbatch_e2e::cluster::install::file(&onboarding)?
            .into_iter()
            .find(|d| d["kind"] == "ResourceQuota")
            .expect("the onboarding example has a ResourceQuota");
        quota["metadata"]["namespace"] = json!(ns);
        quota["spec"]["hard"]["count/batchjobs.kbatch.k8s.io"] = json!("2");
        kbatch_e2e::cluster::install::apply(&cluster.admin, &quota, None).await?;
        // The quota controller computes its usage before the API server enforces it.
        let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
            Api::namespaced(cluster.admin.clone(), ns);
        wait::until("the quota's usage to be computed", PATIENCE, || async {
            let q = quotas.get("kbatch-jobs").await?;
            Ok(match q.status.and_then(|s| s.used) {
                Some(used) if used.contains_key("count/batchjobs.kbatch.k8s.io") => Ok(()),
                other => Err(format!("{other:?}")),
            })
        })
        .await?;
        cluster.kubelet.script(ns, |_| Outcome::Hold);
        let alice = cluster.practitioner("alice").await?;
        for name in ["one", "two"] {
            create(&alice, ns, &job(name, &team.queue, 1, "1h")).await?;
        }
        let message = refusal(
            Api::<BatchJob>::namespaced(alice.clone(), ns)
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(job("three", &team.queue, 1, "1h"))?,
                )
                .await,
        )?;
        assert!(
            message.contains("exceeded quota: kbatch-jobs")
                && message.contains("count/batchjobs.kbatch.k8s.io"),
            "{message}"
        );
        // Another namespace is not held back by this one's quota.
        let other = crate::common::team(cluster, "quota-other", 10.0).await?;
        create(
            &alice,
            &other.namespace,
            &job("free", &other.queue, 1, "1h"),
        )
        .await?;
        Ok(())
    })
}
