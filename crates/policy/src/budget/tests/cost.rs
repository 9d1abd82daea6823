//! Pricing jobs.

use crate::api::{BatchCostModelSpec, BatchJobSpec};
use crate::budget::{CostError, CostModel, Money};
use serde_json::json;

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn model() -> CostModel {
    let spec: BatchCostModelSpec = serde_json::from_value(json!({
        "resources": {"cpu": 0.04, "memory": 0.005, "nvidia.com/gpu": 2.5},
        "preemptibleVMCostMultiplier": 0.3
    }))
    .unwrap();
    CostModel::from_spec(&spec).unwrap()
}

fn job(groups: serde_json::Value, selector: serde_json::Value) -> BatchJobSpec {
    serde_json::from_value(json!({
        "batchQueueName": "q", "taskGroups": groups, "batchNodeSelector": selector
    }))
    .unwrap()
}

fn group(name: &str, wall: &str, tasks: i32, requests: serde_json::Value) -> serde_json::Value {
    json!({
        "name": name, "maxWallTime": wall, "indexSpec": {"taskCount": tasks},
        "template": {"spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]}}
    })
}

#[test]
fn prices_cpu_memory_and_gpu_per_task_group() {
    let spec = job(
        json!([
            group("a", "2h", 5, json!({"cpu": "500m", "memory": "2Gi"})),
            group("b", "30m", 1, json!({"cpu": "4", "nvidia.com/gpu": "2"})),
        ]),
        json!(null),
    );
    let cost = model().job_cost(&spec).unwrap();
    // a: 5 × (0.5 × 0.04 + 2 × 0.005) = 0.15/h, × 2h = 0.30
    // b: 1 × (4 × 0.04 + 2 × 2.5) = 5.16/h, × 0.5h = 2.58
    assert_eq!(cost.groups[0].hourly, m("0.15"));
    assert_eq!(cost.groups[0].reservation, m("0.30"));
    assert_eq!(cost.groups[1].hourly, m("5.16"));
    assert_eq!(cost.groups[1].reservation, m("2.58"));
    assert_eq!(cost.hourly, m("5.31"));
    assert_eq!(cost.reservation, m("2.88"));
    assert_eq!(cost.groups[1].max_wall_time.as_secs(), 1800);
}

#[test]
fn memory_is_priced_per_gib() {
    let spec = job(
        json!([group("a", "1h", 1, json!({"memory": "1536Mi"}))]),
        json!(null),
    );
    assert_eq!(model().job_cost(&spec).unwrap().reservation, m("0.0075"));
    // 1 GB (10^9 bytes) is 0.931… GiB: the reservation rounds up to the nano-unit.
    let spec = job(
        json!([group("a", "1h", 1, json!({"memory": "1G"}))]),
        json!(null),
    );
    assert_eq!(
        model().job_cost(&spec).unwrap().reservation,
        m("0.004656613")
    );
}

#[test]
fn reservations_round_up() {
    let model = CostModel::new(m("0.000000001"), Money::ZERO, Money::ZERO);
    let spec = job(
        json!([group("a", "1s", 1, json!({"cpu": "1m"}))]),
        json!(null),
    );
    // 10⁻³ vCPU × 10⁻⁹ per hour × 1/3600 h is far below a nano-unit: still one nano-unit.
    assert_eq!(
        model.job_cost(&spec).unwrap().reservation,
        Money::from_nanos(1)
    );
}

#[test]
fn preemptible_multiplier_applies_only_when_required() {
    let groups = json!([group("a", "1h", 1, json!({"cpu": "10"}))]);
    let require = json!({"usePreemptibleVM": {"operator": "Equals", "values": ["Require"]}});
    let prefer = json!({"usePreemptibleVM": {"operator": "Equals", "values": ["Prefer"]}});
    let model = model();
    assert_eq!(
        model
            .job_cost(&job(groups.clone(), json!(null)))
            .unwrap()
            .reservation,
        m("0.40")
    );
    assert_eq!(
        model
            .job_cost(&job(groups.clone(), require))
            .unwrap()
            .reservation,
        m("0.12")
    );
    assert_eq!(
        model.job_cost(&job(groups, prefer)).unwrap().reservation,
        m("0.40")
    );
}

#[test]
fn retries_do_not_multiply_the_reservation() {
    let mut g = group("a", "1h", 1, json!({"cpu": "1"}));
    let once = model()
        .job_cost(&job(json!([g.clone()]), json!(null)))
        .unwrap()
        .reservation;
    g["retryLimit"] = json!(3);
    let with_retries = model()
        .job_cost(&job(json!([g]), json!(null)))
        .unwrap()
        .reservation;
    assert_eq!(once, with_retries);
}

#[test]
fn limits_stand_in_for_missing_requests_and_init_containers_count() {
    let spec: BatchJobSpec = serde_json::from_value(json!({
        "batchQueueName": "q",
        "taskGroups": [{"name": "a", "maxWallTime": "1h", "template": {"spec": {
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "8"}}}],
            "containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}}}]
        }}}]
    }))
    .unwrap();
    assert_eq!(model().job_cost(&spec).unwrap().reservation, m("0.32"));
}

#[test]
fn a_group_without_resources_or_template_spec_costs_nothing() {
    let spec: BatchJobSpec = serde_json::from_value(json!({
        "batchQueueName": "q", "taskGroups": [{"name": "a", "maxWallTime": "1h", "template": {}}]
    }))
    .unwrap();
    assert_eq!(model().job_cost(&spec).unwrap().reservation, Money::ZERO);
}

#[test]
fn unpriceable_jobs_say_why() {
    let mut g = group("a", "1h", 1, json!({"cpu": "1"}));
    g.as_object_mut().unwrap().remove("maxWallTime");
    let err = model().job_cost(&job(json!([g]), json!(null))).unwrap_err();
    assert!(
        matches!(err, CostError::WallTime { ref group, .. } if group == "a"),
        "{err}"
    );

    let err = model()
        .job_cost(&job(json!([group("a", "soon", 1, json!({}))]), json!(null)))
        .unwrap_err();
    assert!(matches!(err, CostError::WallTime { .. }));

    let err = model()
        .job_cost(&job(json!([group("a", "1h", 0, json!({}))]), json!(null)))
        .unwrap_err();
    assert_eq!(
        err,
        CostError::TaskCount {
            group: "a".into(),
            count: 0
        }
    );

    let err = model()
        .job_cost(&job(
            json!([group("a", "1h", 1, json!({"cpu": "lots"}))]),
            json!(null),
        ))
        .unwrap_err();
    assert!(matches!(err, CostError::Resource { .. }), "{err}");
}

#[test]
fn cost_model_prices_must_be_non_negative() {
    let spec: BatchCostModelSpec =
        serde_json::from_value(json!({"resources": {"cpu": -1.0}})).unwrap();
    assert!(matches!(
        CostModel::from_spec(&spec),
        Err(CostError::BadPrice { .. })
    ));
    let spec: BatchCostModelSpec = serde_json::from_value(json!({"resources": {}})).unwrap();
    assert_eq!(
        CostModel::from_spec(&spec).unwrap(),
        CostModel::new(Money::ZERO, Money::ZERO, Money::ZERO)
    );
}

#[test]
fn huge_jobs_are_counted_exactly_or_refused() {
    let model = CostModel::new(m("1000000"), m("1000000"), m("1000000"));
    let spec = job(
        json!([group(
            "a",
            "8760h",
            1000,
            json!({"cpu": "1000", "memory": "1000Ti", "nvidia.com/gpu": "64"})
        )]),
        json!(null),
    );
    let cost = model.job_cost(&spec).unwrap();
    // 1000 tasks × (1000 + 1024000 + 64) × 10⁶ per hour × 8760 h
    assert_eq!(
        cost.reservation,
        Money::from_nanos(1000 * 1_025_064 * 1_000_000 * 8760 * 1_000_000_000_i128)
    );
}
