#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::{Value, json};

fn batch_job(spec: Value) -> BatchJob {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "render-frames", "namespace": "team-a", "uid": "53e7bbc0-1f68-4db4-8b7a-e374c00d4ddf"},
        "spec": spec
    }))
    .unwrap()
}

#[test]
fn a_task_group_becomes_exactly_this_indexed_job() {
    let job = batch_job(json!({
        "batchQueueName": "default",
        "batchNodeSelector": {
            "gpuType": {"operator": "Equals", "values": ["nvidia-l4"]},
            "usePreemptibleVM": {"operator": "Equals", "values": ["Require"]}
        },
        "taskGroups": [{
            "name": "render", "maxWallTime": "30m", "retryLimit": 2, "indexSpec": {"taskCount": 10},
            "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "render", "image": "registry.example.com/render:2.1",
                "args": ["--frame", "$(KBATCH_ARRAY_INDEX)"],
                "resources": {"limits": {"cpu": 2, "memory": "4Gi", "nvidia.com/gpu": 1}}
            }]}}
        }]
    }));
    let jobs = jobs_for(&job).unwrap();
    let labels = json!({"kbatch.k8s.io/batchjob": "render-frames", "kbatch.k8s.io/queue": "default", "kbatch.k8s.io/task-group": "render"});
    assert_eq!(
        serde_json::to_value(&jobs).unwrap(),
        json!([{
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "render-frames-render", "namespace": "team-a", "labels": labels,
                "ownerReferences": [{
                    "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob", "name": "render-frames",
                    "uid": "53e7bbc0-1f68-4db4-8b7a-e374c00d4ddf", "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "completionMode": "Indexed", "completions": 10, "parallelism": 10,
                "backoffLimitPerIndex": 2, "podReplacementPolicy": "Failed",
                "podFailurePolicy": {"rules": [{"action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never", "activeDeadlineSeconds": 1800,
                        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-preemptible": "true"},
                        "tolerations": [{"key": "cloud.google.com/gke-preemptible", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
                        "containers": [{
                            "name": "render", "image": "registry.example.com/render:2.1",
                            "args": ["--frame", "$(KBATCH_ARRAY_INDEX)"],
                            "resources": {"limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}},
                            "env": [{"name": "KBATCH_ARRAY_INDEX", "valueFrom": {"fieldRef": {
                                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
                        }]
                    }
                }
            }
        }])
    );
}

fn pod_of(selector: Value, pod: Value) -> Value {
    let job = batch_job(json!({
        "batchQueueName": "q", "batchNodeSelector": selector,
        "taskGroups": [{"name": "g", "maxWallTime": "1h", "template": {"spec": pod}}]
    }));
    serde_json::to_value(&jobs_for(&job).unwrap()[0]).unwrap()["spec"]["template"]["spec"].clone()
}

#[test]
fn preemptible_vms_are_required_preferred_or_forbidden() {
    let containers = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]});
    let prefer = pod_of(
        json!({"usePreemptibleVM": {"operator": "Equals", "values": ["Prefer"]}}),
        containers.clone(),
    );
    assert_eq!(
        prefer["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"]
            ["matchExpressions"][0],
        json!({"key": "cloud.google.com/gke-preemptible", "operator": "In", "values": ["true"]})
    );
    assert_eq!(
        prefer["tolerations"][0]["key"],
        "cloud.google.com/gke-preemptible"
    );
    assert_eq!(prefer.get("nodeSelector"), None);

    let forbid = pod_of(
        json!({"usePreemptibleVM": {"operator": "Equals", "values": ["Forbid"]}}),
        containers,
    );
    assert_eq!(
        forbid["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"],
        json!([{"key": "cloud.google.com/gke-preemptible", "operator": "DoesNotExist"}])
    );
    assert_eq!(forbid.get("tolerations"), None);
}

#[test]
fn every_container_gets_the_index_and_init_containers_too() {
    let pod = pod_of(
        json!({}),
        json!({"restartPolicy": "OnFailure",
            "initContainers": [{"name": "fetch", "image": "i", "env": [{"name": "KBATCH_ARRAY_INDEX", "value": "forged"}]}],
            "containers": [{"name": "a", "image": "i", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "i"}]}),
    );
    for container in [
        &pod["initContainers"][0],
        &pod["containers"][0],
        &pod["containers"][1],
    ] {
        let env = container["env"].as_array().unwrap();
        let index: Vec<&Value> = env
            .iter()
            .filter(|e| e["name"] == "KBATCH_ARRAY_INDEX")
            .collect();
        assert_eq!(index.len(), 1, "{container}");
        assert!(
            index[0].get("valueFrom").is_some(),
            "a user value cannot replace the index: {container}"
        );
    }
    assert_eq!(
        pod["containers"][0]["env"][0],
        json!({"name": "X", "value": "1"})
    );
}

/// Kubernetes takes `backoffLimitPerIndex` and a pod failure policy only with restartPolicy
/// Never: an OnFailure task runs as Never pods, retried per index, preemptions ignored.
#[test]
fn on_failure_tasks_run_as_never_pods_retried_per_index_and_preemptions_ignored() {
    let job = batch_job(
        json!({"batchQueueName": "q", "taskGroups": [{"name": "g", "maxWallTime": "1h", "retryLimit": 3,
        "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "i"}]}}}]}),
    );
    let spec = jobs_for(&job).unwrap().remove(0).spec.unwrap();
    let pod = spec.template.spec.clone().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(
        serde_json::to_value(&spec.pod_failure_policy).unwrap(),
        json!({"rules": [{"action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]})
    );
    assert_eq!(spec.backoff_limit_per_index, Some(3));
}

/// The wait for a node is not bounded by maxWallTime: only each run is (the pod's deadline).
#[test]
fn the_wall_time_bounds_each_run_not_the_job() {
    let job = batch_job(
        json!({"batchQueueName": "q", "taskGroups": [{"name": "g", "maxWallTime": "15s", "retryLimit": 2,
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}]}),
    );
    let spec = jobs_for(&job).unwrap().remove(0).spec.unwrap();
    assert_eq!(spec.active_deadline_seconds, None);
    assert_eq!(
        spec.template.spec.unwrap().active_deadline_seconds,
        Some(15)
    );
}

#[test]
fn long_names_are_shortened_stably() {
    let long = "a".repeat(60);
    let name = job_name(&long, "worker");
    assert!(name.len() <= 63, "{name}");
    assert_eq!(name, job_name(&long, "worker"));
    assert_ne!(name, job_name(&long, "worker2"));
    assert_eq!(job_name("pi", "main"), "pi-main");
    // Byte 54 inside a character: cut before it, never through it.
    let wide = format!("{}über-gruppe-{}", "a".repeat(52), "ü".repeat(10));
    let name = job_name(&wide, "g");
    assert!(
        name.len() <= 63 && name.starts_with(&"a".repeat(52)),
        "{name}"
    );
}

#[test]
fn fallback_names_tell_owners_apart_and_stay_within_63() {
    // `a` + `b-c` and `a-b` + `c` join alike; their fallbacks do not.
    assert_eq!(job_name("a", "b-c"), job_name("a-b", "c"));
    let first = fallback_job_name("a", "b-c", "uid-1");
    assert_ne!(first, fallback_job_name("a-b", "c", "uid-2"));
    assert_eq!(
        first,
        fallback_job_name("a", "b-c", "uid-1"),
        "the same at every attempt"
    );
    assert!(first.starts_with("a-b-c-"), "{first}");
    let long = fallback_job_name(&"j".repeat(63), "group", "uid");
    assert!(long.len() <= 63, "{long}");
    assert_ne!(long, job_name(&"j".repeat(63), "group"));
}

#[test]
fn a_job_without_a_valid_wall_time_is_not_runnable() {
    let job = batch_job(
        json!({"batchQueueName": "q", "taskGroups": [{"name": "g", "maxWallTime": "soon",
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}]}),
    );
    assert!(jobs_for(&job).is_err());
}
