//! The mutating webhook's patch against the policy's own defaulting: for random jobs, queue
//! defaults and security policies, the patch returned by `/mutate`, applied to the submitted
//! object the way the API server applies it, gives exactly the job that `default_job` and
//! `default_job_security` produce. The patch copies only the parts of a job that defaulting
//! writes (`patch::Defaultable`); this is the test that fails when defaulting learns to write
//! somewhere else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use kbatch_admission::{AdmissionConfig, Endpoint, review};
use kbatch_policy::api::{
    BatchJob, BatchJobConstraint, BatchQueue, BatchUserContext, SUBMITTED_BY_ANNOTATION,
};
use kbatch_policy::security::default_job_security;
use kbatch_policy::snapshot::PolicySet;
use kbatch_policy::submission::{default_job, hold_for_refund};
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{Map, Value, json};

const USER: &str = "alice";

/// `Some(value)` or `None`, as a strategy.
fn maybe(value: Value) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(value))]
}

/// An object of the members whose values are `Some`.
fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = members
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

fn quantities() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (maybe(json!("500m")), maybe(json!("2Gi")), maybe(json!("1"))).prop_map(
            |(cpu, memory, gpu)| Some(object(vec![
                ("cpu", cpu),
                ("memory", memory),
                ("nvidia.com/gpu", gpu),
            ]))
        ),
    ]
}

fn resources() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (quantities(), quantities()).prop_map(|(limits, requests)| Some(object(vec![
            ("limits", limits),
            ("requests", requests)
        ]))),
    ]
}

fn container_security() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (
            maybe(json!(25000)),
            maybe(json!(true)),
            maybe(json!(false)),
            prop_oneof![
                Just(None),
                Just(Some(json!({"drop": ["NET_RAW"]}))),
                Just(Some(json!({"add": ["SYS_TIME"]}))),
                Just(Some(json!({}))),
            ],
        )
            .prop_map(
                |(user, escalation, read_only, capabilities)| Some(object(vec![
                    ("runAsUser", user),
                    ("allowPrivilegeEscalation", escalation),
                    ("readOnlyRootFilesystem", read_only),
                    ("capabilities", capabilities),
                ]))
            ),
    ]
}

fn container(name: String) -> impl Strategy<Value = Value> {
    (resources(), container_security()).prop_map(move |(resources, security)| {
        object(vec![
            ("name", Some(json!(name))),
            ("image", Some(json!("busybox:1.36"))),
            ("args", Some(json!(["--frame", "$(KBATCH_ARRAY_INDEX)"]))),
            ("resources", resources),
            ("securityContext", security),
        ])
    })
}

fn containers(prefix: &'static str, count: std::ops::Range<usize>) -> BoxedStrategy<Vec<Value>> {
    count
        .prop_flat_map(move |n| {
            (0..n)
                .map(|j| container(format!("{prefix}{j}")))
                .collect::<Vec<_>>()
        })
        .boxed()
}

fn pod_security() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (
            maybe(json!(21000)),
            maybe(json!(21000)),
            maybe(json!([21000])),
            maybe(json!(true))
        )
            .prop_map(|(user, fs_group, supplemental, non_root)| Some(object(vec![
                ("runAsUser", user),
                ("fsGroup", fs_group),
                ("supplementalGroups", supplemental),
                ("runAsNonRoot", non_root),
            ]))),
    ]
}

fn pod() -> impl Strategy<Value = Value> {
    (
        containers("c", 1..3),
        prop_oneof![Just(None), containers("init", 0..2).prop_map(Some)],
        prop_oneof![Just(None), containers("debug", 1..2).prop_map(Some)],
        prop_oneof![Just(None), Just(Some(json!("OnFailure")))],
        pod_security(),
        maybe(json!([{"name": "scratch", "emptyDir": {}}])),
    )
        .prop_map(|(c, init, ephemeral, restart, security, volumes)| {
            object(vec![
                ("containers", Some(json!(c))),
                ("initContainers", init.map(Value::from)),
                ("ephemeralContainers", ephemeral.map(Value::from)),
                ("restartPolicy", restart),
                ("securityContext", security),
                ("volumes", volumes),
            ])
        })
}

fn task_group(i: usize) -> impl Strategy<Value = Value> {
    (
        maybe(json!(1)),
        maybe(json!("2h")),
        maybe(json!({"taskCount": 4})),
        maybe(json!({"labels": {"team": "render"}})),
        prop_oneof![1 => Just(None), 6 => pod().prop_map(Some)],
    )
        .prop_map(move |(retry, wall, index, metadata, pod)| {
            object(vec![
                ("name", Some(json!(format!("g{i}")))),
                ("retryLimit", retry),
                ("maxWallTime", wall),
                ("indexSpec", index),
                (
                    "template",
                    Some(object(vec![("metadata", metadata), ("spec", pod)])),
                ),
            ])
        })
}

fn job() -> impl Strategy<Value = Value> {
    (
        (1usize..4).prop_flat_map(|n| (0..n).map(task_group).collect::<Vec<_>>()),
        maybe(json!([{"dependencyItems": [{"names": ["earlier"]}]}])),
        maybe(json!({"preemptible": "Never"})),
        maybe(json!({"team": "film"})),
    )
        .prop_map(|(groups, dependencies, selector, annotations)| {
            json!({
                "apiVersion": "kbatch.k8s.io/v1beta1",
                "kind": "BatchJob",
                "metadata": object(vec![
                    ("name", Some(json!("render"))),
                    ("namespace", Some(json!("team-a"))),
                    ("annotations", annotations),
                ]),
                "spec": object(vec![
                    ("batchQueueName", Some(json!("q"))),
                    ("taskGroups", Some(json!(groups))),
                    ("dependencies", dependencies),
                    ("batchNodeSelector", selector),
                ]),
            })
        })
}

/// Queue constraints with defaults, any subset.
fn queue_defaults() -> impl Strategy<Value = Vec<Value>> {
    let all = queue_defaults_all();
    let count = all.len();
    subsequence(all, 0..=count)
}

fn id_rule() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!({"rule": "RunAsAny"}))),
        Just(Some(
            json!({"rule": "MustRunAs", "ranges": [{"min": 20000, "max": 29999}]})
        )),
        Just(Some(
            json!({"rule": "MayRunAs", "ranges": [{"min": 30000, "max": 30999}]})
        )),
    ]
}

fn security_policy() -> impl Strategy<Value = Value> {
    (
        (
            maybe(json!(false)),
            maybe(json!(true)),
            subsequence(vec!["ALL", "NET_RAW"], 0..=2),
            subsequence(vec!["SYS_TIME"], 0..=1),
        ),
        (
            prop_oneof![id_rule(), Just(Some(json!({"rule": "MustRunAsNonRoot"}))),],
            id_rule(),
            id_rule(),
            id_rule(),
            maybe(json!({"rule": "MustRunAs", "seLinuxOptions": {"level": "s0:c1,c2"}})),
        ),
    )
        .prop_map(
            |(
                (escalation, read_only, drop, add),
                (user, group, fs_group, supplemental, selinux),
            )| {
                object(vec![
                    ("allowPrivilegeEscalation", escalation),
                    ("readOnlyRootFilesystem", read_only),
                    ("requiredDropCapabilities", Some(json!(drop))),
                    ("defaultAddCapabilities", Some(json!(add))),
                    ("volumes", Some(json!(["*"]))),
                    ("runAsUser", user),
                    ("runAsGroup", group),
                    ("fsGroup", fs_group),
                    ("supplementalGroups", supplemental),
                    ("seLinux", selinux),
                ])
            },
        )
}

fn policy(defaults: Vec<Value>, security: Value) -> PolicySet {
    let mut policy = PolicySet::new();
    let queue: BatchQueue = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
        "metadata": {"name": "q", "namespace": "team-a"},
        "spec": {"constraintNames": ["defaults"]},
    }))
    .unwrap();
    let constraint: BatchJobConstraint = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJobConstraint",
        "metadata": {"name": "defaults"},
        "spec": {"constraints": defaults},
    }))
    .unwrap();
    let context: BatchUserContext = serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchUserContext",
        "metadata": {"name": "everyone", "namespace": "team-a"},
        "spec": {"userName": "*", "securityPolicySpec": security},
    }))
    .unwrap();
    policy.upsert_queue(queue);
    policy.upsert_constraint(&constraint);
    policy.upsert_user_context(context);
    policy
}

fn mutate_request(object: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0a6f1c2e-5d3b-4c7a-9e8f-1b2c3d4e5f60",
            "kind": {"group": "kbatch.k8s.io", "version": "v1beta1", "kind": "BatchJob"},
            "resource": {"group": "kbatch.k8s.io", "version": "v1beta1", "resource": "batchjobs"},
            "name": "render",
            "namespace": "team-a",
            "operation": "CREATE",
            "userInfo": {"username": USER, "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
        }
    })
}

/// The object after the API server applies the webhook's patch.
fn mutated(policy: &PolicySet, object: &Value) -> Value {
    let body = serde_json::to_vec(&mutate_request(object)).unwrap();
    let reply = review(policy, &AdmissionConfig::default(), Endpoint::Mutate, &body);
    assert_eq!(reply.http_status, 200);
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{response}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a job is always patched"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    patched
}

/// What the policy's defaulting makes of the job, as JSON.
fn defaulted(policy: &PolicySet, object: &Value) -> Value {
    let mut job: BatchJob = serde_json::from_value(object.clone()).unwrap();
    default_job(policy, &mut job);
    default_job_security(policy, &mut job, USER);
    hold_for_refund(&mut job);
    job.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SUBMITTED_BY_ANNOTATION.to_owned(), USER.to_owned());
    serde_json::to_value(&job).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_patch_gives_the_job_as_the_policy_defaults_it(
        object in job(),
        defaults in queue_defaults(),
        security in security_policy(),
    ) {
        let policy = policy(defaults, security);
        // Through a typed round trip, as the oracle sees it (no managed fields here).
        let submitted: BatchJob = serde_json::from_value(object).unwrap();
        let object = serde_json::to_value(&submitted).unwrap();
        prop_assert_eq!(mutated(&policy, &object), defaulted(&policy, &object));
    }
}

#[test]
fn the_generated_policies_do_default_something_in_every_copied_part() {
    // A guard on the generators above: with every default on, defaulting writes the spec, a
    // task group, the pod's restart policy and security context, and every container list.
    let policy = policy(
        queue_defaults_all(),
        json!({
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "requiredDropCapabilities": ["ALL"], "volumes": ["*"],
            "runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 20000, "max": 29999}]},
            "fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 20000, "max": 29999}]},
        }),
    );
    let object = json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "render", "namespace": "team-a"},
        "spec": {"batchQueueName": "q", "taskGroups": [{"name": "g0", "template": {"spec": {
            "containers": [{"name": "c0", "image": "busybox"}],
            "initContainers": [{"name": "init0", "image": "busybox"}],
            "ephemeralContainers": [{"name": "debug0", "image": "busybox"}],
        }}}]},
    });
    let patched = mutated(&policy, &object);
    assert_eq!(patched, defaulted(&policy, &object));
    let pod = &patched["spec"]["taskGroups"][0]["template"]["spec"];
    assert_eq!(
        patched["spec"]["batchNodeSelector"]["gpuType"]["values"][0],
        "nvidia-l4"
    );
    assert_eq!(patched["spec"]["taskGroups"][0]["retryLimit"], 2);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsUser"], 20000);
    assert_eq!(
        pod["containers"][0]["resources"]["requests"]["memory"],
        "1Gi"
    );
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        assert_eq!(
            pod[list][0]["securityContext"]["capabilities"]["drop"][0], "ALL",
            "{list}"
        );
    }
}

/// A queue constraint with a default for every field that has one.
fn queue_defaults_all() -> Vec<Value> {
    vec![
        json!({"name": "WallTime", "operator": "Exists", "default": "1h"}),
        json!({"name": "Cpu", "operator": "Exists", "default": "1"}),
        json!({"name": "Memory", "operator": "Exists", "default": "1Gi"}),
        json!({"name": "Gpu", "operator": "LessThan", "values": ["5"], "default": "0"}),
        json!({"name": "RetryLimit", "operator": "In", "values": ["2", "3"]}),
        json!({"name": "GpuModel", "operator": "In", "values": ["nvidia-l4"]}),
    ]
}
