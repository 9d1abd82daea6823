#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

/// A BatchJob as a user writes it; each case below changes one part of it.
const JOB: &str = r#"
apiVersion: kbatch.k8s.io/v1beta1
kind: BatchJob
metadata: {name: render, namespace: team-a}
spec:
  batchQueueName: default
  taskGroups:
  - name: render
    maxWallTime: 30m
    retryLimit: 2
    indexSpec: {taskCount: 10}
    template:
      spec:
        restartPolicy: Never
        containers:
        - name: render
          image: registry.example.com/render:2.1
          resources:
            requests: {cpu: "2", memory: 4Gi}
            limits: {cpu: 2, nvidia.com/gpu: 1}
"#;

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

/// `JOB` with the value at `pointer` replaced (or removed when `value` is `None`).
fn job_with(pointer: &str, value: Option<Value>) -> Value {
    let mut job = yaml(JOB);
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let target = job.pointer_mut(parent).expect(pointer);
    match (target, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(last.to_owned(), value);
        }
        (Value::Object(map), None) => {
            map.remove(last).expect(pointer);
        }
        (Value::Array(items), Some(value)) => items[last.parse::<usize>().unwrap()] = value,
        (other, _) => panic!("{pointer}: {other}"),
    }
    job
}

fn found(kind: Kind, object: &Value) -> Vec<(String, Reason, String)> {
    check(kind, object)
        .into_iter()
        .map(|v| (v.field, v.reason, v.message))
        .collect()
}

const GROUP: &str = "/spec/taskGroups/0";
const CONTAINER: &str = "/spec/taskGroups/0/template/spec/containers/0";

#[test]
fn a_well_formed_job_passes() {
    assert_eq!(found(Kind::BatchJob, &yaml(JOB)), vec![]);
}

#[test]
fn each_break_of_the_schema_is_named_by_its_field() {
    use serde_json::json;
    let cases: Vec<(&str, Value, &str, Reason, &str)> = vec![
        // (what, object, field, reason, message)
        (
            "a list where the spec belongs",
            job_with("/spec", Some(json!(["default", []]))),
            "spec",
            Reason::Invalid,
            "must be of type object, not array",
        ),
        (
            "a list where the index spec belongs",
            job_with(&format!("{GROUP}/indexSpec"), Some(json!([10]))),
            "spec.taskGroups[0].indexSpec",
            Reason::Invalid,
            "must be of type object, not array",
        ),
        (
            "a misspelt field",
            job_with(&format!("{GROUP}/maxWalltime"), Some(json!("1h"))),
            "spec.taskGroups[0].maxWalltime",
            Reason::Invalid,
            "unknown field",
        ),
        (
            "an unknown field deep in the pod template",
            job_with(
                &format!("{CONTAINER}/imagePullPolicyy"),
                Some(json!("Always")),
            ),
            "spec.taskGroups[0].template.spec.containers[0].imagePullPolicyy",
            Reason::Invalid,
            "unknown field",
        ),
        (
            "an unknown field of the metadata (an ObjectMeta, which the CRD schema leaves out)",
            job_with("/metadata/someday", Some(json!(["anything"]))),
            "metadata.someday",
            Reason::Invalid,
            "unknown field",
        ),
        (
            "a label that is not a string",
            job_with("/metadata/labels", Some(json!({"tier": 1}))),
            "metadata.labels[tier]",
            Reason::Invalid,
            "must be of type string, not integer",
        ),
        (
            "a required field left out",
            job_with("/spec/batchQueueName", None),
            "spec.batchQueueName",
            Reason::Required,
            "required value",
        ),
        (
            "a required field given as null",
            job_with("/spec/batchQueueName", Some(Value::Null)),
            "spec.batchQueueName",
            Reason::Required,
            "required value",
        ),
        (
            "a required field of a list item left out",
            job_with(&format!("{GROUP}/name"), None),
            "spec.taskGroups[0].name",
            Reason::Required,
            "required value",
        ),
        (
            "a string where an integer belongs",
            job_with(&format!("{GROUP}/retryLimit"), Some(json!("two"))),
            "spec.taskGroups[0].retryLimit",
            Reason::Invalid,
            "must be of type integer, not string",
        ),
        (
            "a fraction where an integer belongs",
            job_with(&format!("{GROUP}/retryLimit"), Some(json!(1.5))),
            "spec.taskGroups[0].retryLimit",
            Reason::Invalid,
            "must be of type integer, not number",
        ),
        (
            "a number where a string belongs",
            job_with(&format!("{GROUP}/maxWallTime"), Some(json!(30))),
            "spec.taskGroups[0].maxWallTime",
            Reason::Invalid,
            "must be of type string, not integer",
        ),
        (
            "an object where a list belongs",
            job_with("/spec/taskGroups", Some(json!({"name": "g"}))),
            "spec.taskGroups",
            Reason::Invalid,
            "must be of type array, not object",
        ),
        (
            "a null list item",
            job_with(
                &format!("{GROUP}/template/spec/containers/0"),
                Some(Value::Null),
            ),
            "spec.taskGroups[0].template.spec.containers[0]",
            Reason::Invalid,
            "must be of type object, not null",
        ),
        (
            "a boolean quantity (int-or-string), named by its map key",
            job_with(
                &format!("{CONTAINER}/resources/limits/cpu"),
                Some(json!(true)),
            ),
            "spec.taskGroups[0].template.spec.containers[0].resources.limits[cpu]",
            Reason::Invalid,
            "must be a number or a string, not boolean",
        ),
        (
            "a value outside an enum",
            job_with("/status", Some(json!({"phase": "Paused"}))),
            "status.phase",
            Reason::Invalid,
            r#"unsupported value "Paused": supported values: "Queued", "Scheduled", "Ready", "Running", "Succeeded", "Failed""#,
        ),
        (
            "a number under its minimum",
            job_with(
                "/status",
                Some(
                    json!({"reservation": {"amount": "1", "budget": "b", "id": "u",
                    "requestedAt": "2026-11-22T08:00:00Z", "state": "Charging", "attempt": -1}}),
                ),
            ),
            "status.reservation.attempt",
            Reason::OutOfRange,
            "must be greater than or equal to 0",
        ),
    ];
    for (what, object, field, reason, message) in cases {
        assert_eq!(
            found(Kind::BatchJob, &object),
            vec![(field.to_owned(), reason, message.to_owned())],
            "{what}"
        );
    }
}

#[test]
fn what_the_api_server_accepts_passes() {
    use serde_json::json;
    for (what, object) in [
        (
            "a null the schema does not allow is pruned, as if absent",
            job_with(&format!("{GROUP}/retryLimit"), Some(Value::Null)),
        ),
        (
            "a nullable field set to null",
            job_with("/spec/userCommand", Some(Value::Null)),
        ),
        (
            "a quantity written as a fraction",
            job_with(
                &format!("{CONTAINER}/resources/limits/cpu"),
                Some(json!(1.5)),
            ),
        ),
        (
            "an int-or-string quantity written as a string",
            job_with(
                &format!("{CONTAINER}/resources/limits/cpu"),
                Some(json!("500m")),
            ),
        ),
        (
            "a free-form object (managedFields' fieldsV1) holds anything",
            job_with(
                &format!("{GROUP}/template/metadata"),
                Some(json!({"managedFields": [{"fieldsV1": {"f:spec": {".": {}}}}]})),
            ),
        ),
        (
            "a value in its enum",
            job_with("/status", Some(json!({"phase": "Running"}))),
        ),
    ] {
        assert_eq!(found(Kind::BatchJob, &object), vec![], "{what}");
    }
}

#[test]
fn every_break_is_reported_not_only_the_first() {
    let mut job = job_with("/spec/batchQueueName", None);
    job["spec"]["taskGroups"][0]["retryLimit"] = Value::from("two");
    job["spec"]["extra"] = Value::from(1);
    let fields: Vec<String> = found(Kind::BatchJob, &job)
        .into_iter()
        .map(|(field, _, _)| field)
        .collect();
    assert_eq!(
        fields,
        [
            "spec.extra",
            "spec.taskGroups[0].retryLimit",
            "spec.batchQueueName"
        ]
    );
}

#[test]
fn every_kind_has_a_schema_and_is_checked_by_it() {
    for kind in Kind::ALL {
        assert!(schemas().contains_key(kind.as_str()), "{kind}");
        let object = yaml(&format!(
            "{{apiVersion: kbatch.k8s.io/v1beta1, kind: {kind}, metadata: {{name: x}}, spec: []}}"
        ));
        assert_eq!(
            found(kind, &object),
            vec![(
                "spec".to_owned(),
                Reason::Invalid,
                "must be of type object, not array".to_owned()
            )],
            "{kind}"
        );
    }
}

#[test]
fn a_document_that_is_not_an_object_is_refused_whole() {
    assert_eq!(
        found(Kind::BatchQueue, &Value::from("queue")),
        vec![(
            String::new(),
            Reason::Invalid,
            "must be of type object, not string".to_owned()
        )]
    );
}
