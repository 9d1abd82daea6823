//! Default + validate of a realistic BatchJob against a queue with 10 constraints.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kbatch_policy::api::{BatchJob, BatchJobConstraint, BatchQueue};
use kbatch_policy::snapshot::PolicySet;
use kbatch_policy::submission::submit_job;
use serde_json::json;
use std::hint::black_box;

fn policy() -> PolicySet {
    let mut p = PolicySet::new();
    let rules = json!([
        {"name": "WallTime", "operator": "LessThan", "values": ["24h"]},
        {"name": "WallTime", "operator": "GreaterThan", "values": ["1m"]},
        {"name": "Memory", "operator": "LessThan", "values": ["64Gi"]},
        {"name": "Memory", "operator": "Exists", "default": "1Gi"},
        {"name": "Cpu", "operator": "LessThan", "values": ["32"], "default": "1"},
        {"name": "Cpu", "operator": "NotIn", "values": ["7", "11", "13"]},
        {"name": "Gpu", "operator": "In", "values": ["0", "1", "2", "4"]},
        {"name": "GpuModel", "operator": "NotIn", "values": ["nvidia-tesla-k80"]},
        {"name": "RetryLimit", "operator": "In", "values": ["0", "1", "2", "3"]},
        {"name": "RetryLimit", "operator": "LessThan", "values": ["10"]}
    ]);
    let constraint: BatchJobConstraint = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJobConstraint",
        "metadata": {"name": "ten-rules"}, "spec": {"constraints": rules}
    }))
    .unwrap();
    p.upsert_constraint(&constraint);
    let queue: BatchQueue = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
        "metadata": {"name": "default", "namespace": "team-a"},
        "spec": {"batchPriorityName": "high", "batchBudgetName": "team-a", "constraintNames": ["ten-rules"]}
    }))
    .unwrap();
    p.upsert_queue(queue);
    p
}

/// The shape of fixture 020 (render-frames) with an init container added.
fn job() -> BatchJob {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "render-frames", "namespace": "team-a", "labels": {"project": "film"}},
        "spec": {"batchQueueName": "default", "taskGroups": [{
            "name": "render", "maxWallTime": "30m", "retryLimit": 2, "indexSpec": {"taskCount": 10},
            "template": {"spec": {
                "restartPolicy": "Never",
                "initContainers": [{"name": "fetch", "image": "registry.example.com/tools:1",
                    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
                "containers": [{
                    "name": "render", "image": "registry.example.com/render:2.1",
                    "args": ["--frame", "$(KBATCH_ARRAY_INDEX)", "--out", "/out/frame-$(KBATCH_ARRAY_INDEX).png"],
                    "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}},
                    "volumeMounts": [{"mountPath": "/out", "name": "out"}]
                }],
                "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": "film-out"}}]
            }}
        }]}
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let policy = policy();
    let job = job();
    assert!(
        submit_job(&policy, &job).is_ok(),
        "the benchmark job must be accepted"
    );
    c.bench_function("default_and_validate/10_constraints", |b| {
        b.iter(|| submit_job(black_box(&policy), black_box(&job)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
