//! The shipped examples, applied as an administrator (policy) and a practitioner (jobs)
//! would, and an array job run to the end.

use crate::common::{
    PhaseLog, condition_time, create, jobs_of, pods_of, wait_admissible, wait_phase,
};
use anyhow::Context;
use kbatch_e2e::cluster::{Cluster, install, manifests_dir};
use kbatch_policy::api::JobPhase;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const NAMESPACE: &str = "team-a";

pub fn the_examples_apply_and_an_array_job_runs_to_success(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        cluster.create_namespace(NAMESPACE).await?;
        // Long enough an image pull that a job seen Running while its pods are Pending shows.
        cluster
            .kubelet
            .start_delay(NAMESPACE, Duration::from_secs(3));
        let examples = manifests_dir().join("examples");
        let policy = install::file(&examples.join("policy.yaml"))?;
        install::apply_all(&cluster.admin, &policy, None)
            .await
            .context("an administrator applies examples/policy.yaml")?;
        let array = json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
            "metadata": {"name": "frames"},
            "spec": {"batchQueueName": "default", "taskGroups": [{
                "name": "render", "maxWallTime": "10m", "indexSpec": {"taskCount": 5},
                "template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "render", "image": "busybox:1.36",
                    "args": ["-in=/data/input_$(KBATCH_ARRAY_INDEX).png"]}]}}
            }]}
        });
        wait_admissible(cluster, NAMESPACE, &array).await?;
        let alice = cluster.practitioner("alice").await?;
        let phases = PhaseLog::watch(cluster, NAMESPACE).await?;
        for job in install::file(&examples.join("jobs-accepted.yaml"))? {
            let name = job["metadata"]["name"]
                .as_str()
                .or(job["metadata"]["generateName"].as_str())
                .unwrap_or_default()
                .to_owned();
            create(&alice, NAMESPACE, &job)
                .await
                .with_context(|| format!("alice creates example job {name}"))?;
        }

        create(&alice, NAMESPACE, &array)
            .await
            .context("alice creates the array job")?;
        let done = wait_phase(cluster, NAMESPACE, "frames", JobPhase::Succeeded).await?;

        // Started at first sight: never Queued. Ready only if its pods took a while to run.
        let seen = phases.of("frames");
        let expected = if seen.contains(&JobPhase::Ready) {
            vec![
                JobPhase::Scheduled,
                JobPhase::Ready,
                JobPhase::Running,
                JobPhase::Succeeded,
            ]
        } else {
            vec![JobPhase::Scheduled, JobPhase::Running, JobPhase::Succeeded]
        };
        assert_eq!(seen, expected, "the phases a watch saw");
        let status = done.status.clone().unwrap_or_default();
        assert_eq!(status.submitted_by.as_deref(), Some("alice"));

        let k8s_jobs = jobs_of(cluster, NAMESPACE, "frames").await?;
        assert_eq!(k8s_jobs.len(), 1, "one Indexed Job per task group");
        let spec = k8s_jobs[0].spec.clone().unwrap_or_default();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(5), Some(5)));

        let pods = pods_of(cluster, NAMESPACE, "frames").await?;
        assert_eq!(pods.len(), 5, "one pod per task, none retried");
        let mut indexes = BTreeSet::new();
        for pod in &pods {
            let index = pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
                .context("a pod without its completion index")?;
            indexes.insert(index.parse::<u32>()?);
            let env = pod.spec.as_ref().unwrap().containers[0]
                .env
                .clone()
                .unwrap_or_default();
            let var = env
                .iter()
                .find(|e| e.name == "KBATCH_ARRAY_INDEX")
                .context("a container without KBATCH_ARRAY_INDEX")?;
            let field = var
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.as_str());
            assert_eq!(
                field,
                Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
            );
        }
        assert_eq!(indexes, (0..5).collect::<BTreeSet<u32>>());

        // Running only once a pod runs: no earlier than the first pod's start.
        let first_start = pods
            .iter()
            .filter_map(|p| p.status.as_ref()?.start_time.as_ref().map(|t| t.0))
            .min()
            .context("no pod ever started")?;
        let running = condition_time(&done, "TasksStarted")?;
        assert!(
            running >= first_start,
            "the job became Running at {running}, before its first pod ran at {first_start}"
        );
        Ok(())
    })
}
