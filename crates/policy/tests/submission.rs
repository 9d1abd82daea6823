//! Defaulting then validation of BatchJobs against their queues, as specifications.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_policy::api::{BatchJob, BatchJobConstraint, BatchQueue};
use kbatch_policy::snapshot::PolicySet;
use kbatch_policy::submission::{default_job, submit_job, validate_job_create};
use kbatch_policy::{Reason, Violations};
use serde_json::{Value, json};

fn queue(name: &str, constraints: &[&str], paused: bool) -> BatchQueue {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"batchPriorityName": "high", "batchBudgetName": "b",
                 "constraintNames": constraints, "pauseAdmission": paused}
    }))
    .unwrap()
}

fn constraint(name: &str, rules: Value) -> BatchJobConstraint {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJobConstraint",
        "metadata": {"name": name}, "spec": {"constraints": rules}
    }))
    .unwrap()
}

fn policy(rules: Value) -> PolicySet {
    let mut p = PolicySet::new();
    p.upsert_constraint(&constraint("rules", rules));
    p.upsert_queue(queue("q", &["rules"], false));
    p
}

/// A job in queue `q` with one task group `main` whose fields are merged from `group`.
fn job(group: Value) -> BatchJob {
    let mut g = json!({
        "name": "main", "maxWallTime": "1h",
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}
    });
    merge(&mut g, group);
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "j", "namespace": "team-a"},
        "spec": {"batchQueueName": "q", "taskGroups": [g]}
    }))
    .unwrap()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn resources(r: Value) -> Value {
    json!({"template": {"spec": {"containers": [{"name": "c", "image": "busybox", "resources": r}]}}})
}

fn reasons(v: &Violations) -> Vec<(Reason, String)> {
    v.iter().map(|v| (v.reason, v.field.clone())).collect()
}

/// (case name, constraint rules, task group overrides, expected violations as (reason, field))
type Case = (&'static str, Value, Value, Vec<(Reason, String)>);

#[test]
fn accepted_and_refused_per_constraint() {
    let tg = "spec.taskGroups[0]";
    let mem = format!("{tg}.template.spec.containers[*].resources.requests[memory]");
    let cpu = format!("{tg}.template.spec.containers[*].resources.requests[cpu]");
    let cases: Vec<Case> = vec![
        (
            "walltime below the limit",
            json!([{"name": "WallTime", "operator": "LessThan", "values": ["24h"]}]),
            json!({"maxWallTime": "23h"}),
            vec![],
        ),
        (
            "walltime equal to the limit",
            json!([{"name": "WallTime", "operator": "LessThan", "values": ["24h"]}]),
            json!({"maxWallTime": "24h"}),
            vec![(Reason::ConstraintViolated, format!("{tg}.maxWallTime"))],
        ),
        (
            "1d is 24h",
            json!([{"name": "WallTime", "operator": "LessThan", "values": ["24h"]}]),
            json!({"maxWallTime": "1d"}),
            vec![(Reason::ConstraintViolated, format!("{tg}.maxWallTime"))],
        ),
        (
            "memory 1Gi equals 1073741824",
            json!([{"name": "Memory", "operator": "Equal", "values": ["1073741824"]}]),
            resources(json!({"requests": {"memory": "1Gi"}})),
            vec![],
        ),
        (
            "memory request defaults to limit",
            json!([{"name": "Memory", "operator": "LessThan", "values": ["1Gi"]}]),
            resources(json!({"limits": {"memory": "2Gi"}})),
            vec![(Reason::ConstraintViolated, mem.clone())],
        ),
        (
            "cpu 1000m equals 1",
            json!([{"name": "Cpu", "operator": "Equal", "values": ["1"]}]),
            resources(json!({"requests": {"cpu": "1000m"}})),
            vec![],
        ),
        (
            "cpu float 0.5 equals 500m",
            json!([{"name": "Cpu", "operator": "In", "values": ["500m"]}]),
            resources(json!({"requests": {"cpu": 0.5}})),
            vec![],
        ),
        (
            "cpu unset cannot satisfy GreaterThan",
            json!([{"name": "Cpu", "operator": "GreaterThan", "values": ["0"]}]),
            json!({}),
            vec![(Reason::ConstraintViolated, cpu.clone())],
        ),
        (
            "gpu unset satisfies NotIn",
            json!([{"name": "Gpu", "operator": "NotIn", "values": ["8"]}]),
            json!({}),
            vec![],
        ),
        (
            "retry limit defaulted to 0 fails GreaterThan 0",
            json!([{"name": "RetryLimit", "operator": "GreaterThan", "values": ["0"]}]),
            json!({}),
            vec![(Reason::ConstraintViolated, format!("{tg}.retryLimit"))],
        ),
        (
            "gpu model missing",
            json!([{"name": "GpuModel", "operator": "Exists"}]),
            json!({}),
            vec![(
                Reason::ConstraintViolated,
                "spec.batchNodeSelector.gpuType".to_owned(),
            )],
        ),
    ];
    for (name, rules, group, expected) in cases {
        let result = submit_job(&policy(rules), &job(group));
        let got = match &result {
            Ok(_) => vec![],
            Err(v) => reasons(v),
        };
        assert_eq!(got, expected, "{name}: {result:?}");
    }
}

#[test]
fn defaults_come_from_the_queue_then_the_api() {
    let p = policy(json!([
        {"name": "WallTime", "operator": "LessThan", "values": ["24h"], "default": "2h"},
        {"name": "Cpu", "operator": "In", "values": ["1", "2"]},
        {"name": "Memory", "operator": "Exists", "default": "1Gi"},
        {"name": "Gpu", "operator": "Equal", "values": ["0"]},
        {"name": "GpuModel", "operator": "NotIn", "values": ["k80"], "default": "nvidia-l4"},
        {"name": "RetryLimit", "operator": "Equal", "values": ["1"]}
    ]));
    let mut j = job(json!({"maxWallTime": null}));
    default_job(&p, &mut j);
    let v = serde_json::to_value(&j).unwrap();
    let group = &v["spec"]["taskGroups"][0];
    assert_eq!(group["maxWallTime"], "2h");
    assert_eq!(group["retryLimit"], 1);
    assert_eq!(group["indexSpec"]["taskCount"], 1);
    let r = &group["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(r["requests"]["cpu"], "1");
    assert_eq!(r["requests"]["memory"], "1Gi");
    assert_eq!(r["limits"]["nvidia.com/gpu"], "0");
    assert_eq!(
        v["spec"]["batchNodeSelector"]["gpuType"],
        json!({"operator": "Equals", "values": ["nvidia-l4"]})
    );
    assert!(submit_job(&p, &j).is_ok());
}

#[test]
fn set_values_are_never_overwritten_by_defaults() {
    let p = policy(
        json!([{"name": "WallTime", "operator": "LessThan", "values": ["24h"], "default": "2h"}]),
    );
    let refused = submit_job(&p, &job(json!({"maxWallTime": "48h"}))).unwrap_err();
    let message = &refused.as_slice()[0].message;
    // Names the queue, the constraint object, the field and both values.
    for part in [
        "\"q\"",
        "\"rules\"",
        "WallTime LessThan 24h",
        "maxWallTime 48h",
        "task group \"main\"",
    ] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
}

#[test]
fn every_violation_is_reported() {
    let p = policy(json!([
        {"name": "WallTime", "operator": "LessThan", "values": ["1h"]},
        {"name": "RetryLimit", "operator": "Equal", "values": ["0"]}
    ]));
    let refused = submit_job(
        &p,
        &job(json!({"maxWallTime": "2h", "retryLimit": 3, "indexSpec": {"taskCount": 0}})),
    )
    .unwrap_err();
    assert_eq!(
        reasons(&refused),
        [
            (
                Reason::OutOfRange,
                "spec.taskGroups[0].indexSpec.taskCount".to_owned()
            ),
            (
                Reason::ConstraintViolated,
                "spec.taskGroups[0].maxWallTime".to_owned()
            ),
            (
                Reason::ConstraintViolated,
                "spec.taskGroups[0].retryLimit".to_owned()
            ),
        ]
    );
}

#[test]
fn queue_problems_are_named() {
    let mut p = policy(json!([]));
    p.upsert_queue(queue("paused", &[], true));
    p.upsert_queue(queue("broken", &["missing"], false));
    p.upsert_constraint(&constraint(
        "bad",
        json!([{"name": "Disk", "operator": "Exists"}]),
    ));
    p.upsert_queue(queue("malformed", &["bad"], false));
    for (queue_name, reason) in [
        ("nope", Reason::QueueNotFound),
        ("paused", Reason::QueuePaused),
        ("broken", Reason::ConstraintNotFound),
        ("malformed", Reason::ConstraintNotFound),
    ] {
        let mut j = job(json!({}));
        j.spec.batch_queue_name = queue_name.to_owned();
        let refused = submit_job(&p, &j).unwrap_err();
        assert_eq!(
            reasons(&refused),
            [(reason, "spec.batchQueueName".to_owned())],
            "{queue_name}"
        );
    }
}

#[test]
fn dependency_cycles_through_existing_jobs_are_refused() {
    let mut p = policy(json!([]));
    let with_deps = |name: &str, deps: &[&str]| {
        let mut j = job(json!({}));
        j.metadata.name = Some(name.to_owned());
        j.spec.dependencies =
            vec![serde_json::from_value(json!({"dependencyItems": [{"names": deps}]})).unwrap()];
        j
    };
    p.upsert_job(&with_deps("a", &["b"]));
    p.upsert_job(&with_deps("b", &["c"]));
    let refused = validate_job_create(&p, &with_deps("c", &["a"]));
    assert_eq!(
        reasons(&refused),
        [(Reason::DependencyCycle, "spec.dependencies".to_owned())]
    );
    assert!(
        refused.as_slice()[0].message.contains("c → a → b → c"),
        "{refused}"
    );
    assert!(validate_job_create(&p, &with_deps("d", &["a"])).is_empty());
}

#[test]
fn names_longer_than_a_label_value_are_refused() {
    let p = policy(json!([]));
    let mut j = job(json!({}));
    j.metadata.name = Some("a".repeat(63));
    assert!(validate_job_create(&p, &j).is_empty());
    j.metadata.name = Some("a".repeat(64));
    assert_eq!(
        reasons(&validate_job_create(&p, &j)),
        [(Reason::Invalid, "metadata.name".to_owned())]
    );
}

/// The cluster-wide cap: at 10,000 unfinished BatchJobs (in any namespaces) a new one is
/// refused, saying it is the cluster's limit, not the namespace's; finished jobs do not count.
#[test]
fn the_cluster_wide_cap_refuses_job_10001_and_says_whose_limit_it_is() {
    let mut p = policy(json!([]));
    let mut other: BatchJob = job(json!({}));
    other.status = Some(kbatch_policy::api::BatchJobStatus {
        phase: Some(kbatch_policy::api::JobPhase::Running),
        ..Default::default()
    });
    for i in 0..kbatch_policy::snapshot::MAX_UNFINISHED_JOBS {
        other.metadata.name = Some(format!("j{i}"));
        other.metadata.namespace = Some(format!("team-{}", i % 7));
        p.upsert_job(&other);
    }
    let at_cap = validate_job_create(&p, &job(json!({})));
    let refused: Vec<_> = at_cap
        .iter()
        .filter(|v| v.reason == Reason::TooManyJobs)
        .collect();
    assert_eq!(refused.len(), 1, "{at_cap:?}");
    assert!(
        refused[0].message.contains("cluster-wide limit")
            && refused[0]
                .message
                .contains("already has 10000 unfinished BatchJobs"),
        "{}",
        refused[0].message
    );

    // One of them finishes: there is room again.
    other.metadata.name = Some("j0".into());
    other.metadata.namespace = Some("team-0".into());
    other.status.as_mut().unwrap().phase = Some(kbatch_policy::api::JobPhase::Succeeded);
    p.upsert_job(&other);
    let below = validate_job_create(&p, &job(json!({})));
    assert!(
        below.iter().all(|v| v.reason != Reason::TooManyJobs),
        "{below:?}"
    );
}
