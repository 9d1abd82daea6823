//! The API objects of the scheduling benchmarks: 20 queues in 4 namespaces (5 priorities, 2
//! budgets on one cost model) and queued jobs spread over them. Shared by this crate's
//! `scheduling` bench and the controller's `memory_10k` example (which includes this file by
//! path), so that both measure the same population.
// Each includer uses part of it.
#![allow(clippy::unwrap_used, dead_code)]

use kbatch_policy::api::{BatchBudget, BatchCostModel, BatchJob, BatchPriority, BatchQueue};
use serde_json::json;

/// Queues of the population.
pub const QUEUES: usize = 20;

/// The namespace of queue `q`.
pub fn namespace(q: usize) -> String {
    format!("team-{}", q % 4)
}

/// Queues, priorities, budgets and cost models.
pub type Policy = (
    Vec<BatchQueue>,
    Vec<BatchPriority>,
    Vec<BatchBudget>,
    Vec<BatchCostModel>,
);

/// The policy objects.
pub fn policy() -> Policy {
    let queues = (0..QUEUES)
        .map(|q| {
            serde_json::from_value(json!({
                "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
                "metadata": {"name": format!("queue-{q}"), "namespace": namespace(q)},
                "spec": {"batchPriorityName": format!("p{}", q % 5),
                    "batchBudgetName": if q % 2 == 0 { "gpu" } else { "cpu" }}
            }))
            .unwrap()
        })
        .collect();
    let priorities = (0..5)
        .map(|p| {
            serde_json::from_value(json!({
                "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchPriority",
                "metadata": {"name": format!("p{p}")}, "spec": {"value": p * 100, "description": "bench"}
            }))
            .unwrap()
        })
        .collect();
    let budgets = ["gpu", "cpu"]
        .iter()
        .map(|b| {
            serde_json::from_value(json!({
                "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
                "metadata": {"name": b, "resourceVersion": "1", "creationTimestamp": "2026-11-01T00:00:00Z"},
                "spec": {"batchCostModelName": "gke", "budgetWindows": [{"duration": "24h", "amount": 3000}]}
            }))
            .unwrap()
        })
        .collect();
    let models = vec![
        serde_json::from_value(json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
            "metadata": {"name": "gke"},
            "spec": {"resources": {"cpu": 0.031611, "memory": 0.004237, "nvidia.com/gpu": 0.35}}
        }))
        .unwrap(),
    ];
    (queues, priorities, budgets, models)
}

/// Queued job `i`: queue `(7 i) mod 20`, 1 to 8 tasks, 250m to 4 CPUs and 2Gi each.
pub fn job(i: usize) -> BatchJob {
    let q = (i * 7) % QUEUES;
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": format!("job-{i}"), "namespace": namespace(q), "uid": format!("uid-{i}"),
                     "resourceVersion": "1", "creationTimestamp": "2026-11-22T09:00:00Z"},
        "spec": {"batchQueueName": format!("queue-{q}"), "taskGroups": [{
            "name": "main", "maxWallTime": "2h", "indexSpec": {"taskCount": 1 + i % 8},
            "template": {"spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": format!("{}m", 250 * (1 + i % 16)), "memory": "2Gi"}}}]}}
        }]},
        "status": {"phase": "Queued"}
    }))
    .unwrap()
}
