//! Replays the recorded API-server requests (tests/fixtures/admission) the way the API server
//! does: mutate, apply the returned patch, validate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, policy};
use kbatch_admission::{AdmissionConfig, Endpoint, Outcome, review};
use kbatch_policy::snapshot::PolicySet;
use serde_json::{Value, json};

struct Answer {
    outcome: Outcome,
    response: Value,
}

fn call(policy: &PolicySet, endpoint: Endpoint, review_body: &Value) -> Answer {
    let reply = review(
        policy,
        &AdmissionConfig::default(),
        endpoint,
        &serde_json::to_vec(review_body).unwrap(),
    );
    assert_eq!(reply.http_status, 200);
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    let response = body["response"].clone();
    assert_eq!(
        response["uid"], review_body["request"]["uid"],
        "the uid is echoed"
    );
    Answer {
        outcome: reply.outcome,
        response,
    }
}

/// The JSON Patch of a response, decoded from base64 (the API server's `[]byte` encoding).
fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    use base64::Engine;
    let text = response
        .get("patch")?
        .as_str()
        .expect("the patch is a base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    assert_eq!(response["patchType"], "JSONPatch");
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// One API-server round: the mutate request, its patch applied to the validate request's
/// object, then the validate request. Returns the validate answer and the patched object.
fn round(policy: &PolicySet, mutate_n: u32, validate_n: u32) -> (Answer, Value) {
    let mutate = call(policy, Endpoint::Mutate, &fixture(mutate_n));
    assert_eq!(
        mutate.response["allowed"], true,
        "{mutate_n:03}: {}",
        mutate.response
    );
    let mut validate_review = fixture(validate_n);
    if let Some(patch) = patch_of(&mutate.response) {
        json_patch::patch(&mut validate_review["request"]["object"], &patch).unwrap();
    }
    let object = validate_review["request"]["object"].clone();
    (call(policy, Endpoint::Validate, &validate_review), object)
}

#[test]
fn every_recorded_round_is_answered_as_the_policy_says() {
    let policy = policy();
    // (mutate, validate, allowed) for every pair of the recording but the update of 031/032,
    // which needs the stored object as our webhook would have written it (see below).
    let rounds = [
        (1, 2, true),
        (3, 4, true),
        (5, 6, true),
        (7, 8, true),
        (9, 10, true),
        (11, 12, true),
        (13, 14, true),
        (15, 16, true),
        (17, 18, true),
        (19, 20, true),
        (21, 22, true),
        (23, 24, true),
        (25, 26, true),
        (27, 28, true),
        (29, 30, true),
        // A status write by a cluster admin (the recording's "admin"): the controller's alone.
        (33, 34, false),
        (35, 36, true),
        (37, 38, false),
        (39, 40, true),
        (41, 42, true),
    ];
    for (m, v, allowed) in rounds {
        let (answer, _) = round(&policy, m, v);
        assert_eq!(
            answer.response["allowed"], allowed,
            "{m:03}/{v:03}: {}",
            answer.response
        );
    }
}

#[test]
fn a_new_job_is_defaulted_from_its_queue_and_records_its_submitter() {
    let (answer, job) = round(&policy(), 19, 20);
    assert_eq!(answer.outcome, Outcome::Allowed);
    assert_eq!(
        job["metadata"]["annotations"]["kbatch.k8s.io/submitted-by"],
        "alice"
    );
    let container = &job["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0];
    // cpu-short: Gpu Equal 0 is the default for jobs that ask for no GPU.
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], "0");
    // What the user wrote is untouched.
    assert_eq!(container["resources"]["requests"]["memory"], "4Gi");
    assert_eq!(job["spec"]["taskGroups"][0]["retryLimit"], 2);
}

#[test]
fn defaulting_fills_unset_retry_limit_from_the_first_in_value() {
    let (answer, job) = round(&policy(), 21, 22);
    assert_eq!(answer.response["allowed"], true);
    let group = &job["spec"]["taskGroups"][0];
    assert_eq!(group["retryLimit"], 0);
    assert_eq!(group["indexSpec"]["taskCount"], 1);
    assert_eq!(
        job["spec"]["dependencies"][0]["dependencyItems"][0]["type"],
        "Success"
    );
    // Numbers the user wrote as numbers stay what they were: the patch only adds.
    assert_eq!(
        group["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        1.5
    );
}

#[test]
fn a_service_account_is_recorded_as_the_submitter() {
    let (answer, job) = round(&policy(), 41, 42);
    assert_eq!(answer.response["allowed"], true);
    assert_eq!(
        job["metadata"]["annotations"]["kbatch.k8s.io/submitted-by"],
        "system:serviceaccount:team-a:batch-bot"
    );
}

#[test]
fn dry_run_is_answered_exactly_like_a_real_request() {
    let policy = policy();
    for (real, dry) in [(19, 25), (21, 27), (23, 29)] {
        let a = call(&policy, Endpoint::Mutate, &fixture(real));
        let b = call(&policy, Endpoint::Mutate, &fixture(dry));
        assert_eq!(
            patch_of(&a.response),
            patch_of(&b.response),
            "{real:03} vs {dry:03}"
        );
    }
}

#[test]
fn deleting_a_priority_that_a_queue_names_is_refused_naming_the_queue() {
    let (answer, _) = round(&policy(), 37, 38);
    let status = &answer.response["status"];
    assert_eq!(answer.outcome, Outcome::Denied);
    assert_eq!(status["code"], 403);
    assert_eq!(status["reason"], "Forbidden");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("BatchQueue team-a/gpu"), "{message}");
    assert_eq!(status["details"]["causes"][0]["reason"], "InUse");
}

fn causes(answer: &Answer) -> Vec<(String, String)> {
    answer.response["status"]["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["reason"].as_str().unwrap().to_owned(),
                c["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn validating_without_the_mutating_round_is_refused_with_every_reason() {
    // 020 as recorded: no submitter annotation, no GPU default, no security defaults.
    let answer = call(&policy(), Endpoint::Validate, &fixture(20));
    assert_eq!(answer.response["status"]["code"], 422);
    let causes = causes(&answer);
    let container = "spec.taskGroups[0].template.spec.containers[0]";
    for expected in [
        (
            "ConstraintViolated",
            "spec.taskGroups[0].template.spec.containers[*].resources.limits[nvidia.com/gpu]"
                .to_owned(),
        ),
        (
            "Forbidden",
            "metadata.annotations[kbatch.k8s.io/submitted-by]".to_owned(),
        ),
        (
            "Forbidden",
            format!("{container}.securityContext.runAsUser"),
        ),
        (
            "Forbidden",
            format!("{container}.securityContext.allowPrivilegeEscalation"),
        ),
        (
            "Forbidden",
            format!("{container}.securityContext.capabilities.drop"),
        ),
        (
            "Forbidden",
            "spec.taskGroups[0].template.spec.securityContext.fsGroup".to_owned(),
        ),
    ] {
        assert!(
            causes.contains(&(expected.0.to_owned(), expected.1.clone())),
            "{expected:?} not in {causes:?}"
        );
    }
}

/// 031/032 with the stored object as our mutating webhook left it at creation.
fn terminate_request(user: &str, groups: &[&str]) -> Value {
    let mut review = fixture(32);
    for which in ["object", "oldObject"] {
        review["request"][which]["metadata"]["annotations"] =
            json!({"kbatch.k8s.io/submitted-by": "alice"});
    }
    review["request"]["userInfo"] = json!({"username": user, "groups": groups});
    review
}

#[test]
fn the_submitter_may_terminate_their_job() {
    let answer = call(
        &policy(),
        Endpoint::Validate,
        &terminate_request("alice", &["dev-team"]),
    );
    assert_eq!(answer.response["allowed"], true, "{}", answer.response);
}

#[test]
fn an_administrator_may_terminate_any_job() {
    let answer = call(
        &policy(),
        Endpoint::Validate,
        &terminate_request("root", &["system:masters"]),
    );
    assert_eq!(answer.response["allowed"], true, "{}", answer.response);
}

#[test]
fn another_user_may_not_terminate_the_job() {
    let answer = call(
        &policy(),
        Endpoint::Validate,
        &terminate_request("bob", &["dev-team"]),
    );
    assert_eq!(answer.response["status"]["code"], 403);
    assert_eq!(
        answer.response["status"]["details"]["causes"][0]["field"],
        "spec.userCommand"
    );
}

#[test]
fn the_submitter_cannot_be_forged_at_creation_or_changed_later() {
    let policy = policy();
    let mut forged = fixture(20);
    forged["request"]["object"]["metadata"]["annotations"] =
        json!({"kbatch.k8s.io/submitted-by": "bob"});
    forged["request"]["object"]["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0]["resources"]
        ["limits"]["nvidia.com/gpu"] = json!("0");
    let answer = call(&policy, Endpoint::Validate, &forged);
    assert_eq!(answer.response["allowed"], false);
    assert!(
        causes(&answer).contains(&(
            "Forbidden".to_owned(),
            "metadata.annotations[kbatch.k8s.io/submitted-by]".to_owned()
        )),
        "{}",
        answer.response
    );

    let mut changed = terminate_request("alice", &[]);
    changed["request"]["object"]["metadata"]["annotations"] =
        json!({"kbatch.k8s.io/submitted-by": "mallory"});
    let answer = call(&policy, Endpoint::Validate, &changed);
    assert_eq!(answer.response["allowed"], false);
    assert_eq!(
        answer.response["status"]["details"]["causes"][0]["field"],
        "metadata.annotations[kbatch.k8s.io/submitted-by]"
    );
}

#[test]
fn a_job_spec_cannot_change_after_submission() {
    let mut review = terminate_request("alice", &[]);
    review["request"]["object"]["spec"]["taskGroups"][0]["maxWallTime"] = json!("2h");
    let answer = call(&policy(), Endpoint::Validate, &review);
    assert_eq!(answer.response["status"]["code"], 422);
    let cause = &answer.response["status"]["details"]["causes"][0];
    assert_eq!(cause["reason"], "Immutable");
    assert_eq!(cause["field"], "spec.taskGroups[0]");
}

#[test]
fn a_change_anywhere_in_a_pod_template_is_refused_on_update() {
    // Creation reads only the template fields rules need; an update compares whole templates.
    let edits: [(&str, Value); 3] = [
        ("/containers/0/command/0", json!("sh")),
        ("/containers/0/env", json!([{"name": "A", "value": "b"}])),
        ("/nodeSelector", json!({"disk": "ssd"})),
    ];
    for (path, value) in edits {
        let mut review = terminate_request("alice", &[]);
        let pod = &mut review["request"]["object"]["spec"]["taskGroups"][0]["template"]["spec"];
        let edit = json_patch::Patch(vec![json_patch::PatchOperation::Add(
            json_patch::AddOperation {
                path: path.parse().unwrap(),
                value,
            },
        )]);
        json_patch::patch(pod, &edit).unwrap();
        let answer = call(&policy(), Endpoint::Validate, &review);
        assert_eq!(answer.response["allowed"], false, "{path}");
        let cause = &answer.response["status"]["details"]["causes"][0];
        assert_eq!(cause["reason"], "Immutable", "{path}");
        assert_eq!(cause["field"], "spec.taskGroups[0]", "{path}");
    }
}

#[test]
fn an_undecodable_review_is_a_400_with_the_reason() {
    for body in [
        &b"not json"[..],
        b"{}",
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
        b"",
    ] {
        let reply = review(
            &policy(),
            &AdmissionConfig::default(),
            Endpoint::Validate,
            body,
        );
        assert_eq!(reply.http_status, 400);
        assert_eq!(reply.outcome, Outcome::Invalid);
        let status: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(status["code"], 400);
        assert!(!status["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn an_undecodable_object_is_denied_naming_the_field() {
    let mut review = fixture(20);
    review["request"]["object"]["spec"]["taskGroups"][0]["retryLimit"] = json!("two");
    let answer = call(&policy(), Endpoint::Validate, &review);
    let cause = &answer.response["status"]["details"]["causes"][0];
    assert_eq!(cause["reason"], "Undecodable");
    assert_eq!(cause["field"], "spec.taskGroups[0].retryLimit");
}

#[test]
fn status_updates_are_the_controllers_and_not_checked_as_spec_edits() {
    let mut review = fixture(34);
    // Even a status write that carries an (impossible) spec change is the controller's.
    review["request"]["object"]["spec"]["batchQueueName"] = json!("elsewhere");
    review["request"]["userInfo"]["username"] = json!(kbatch_admission::CONTROLLER_USER);
    let answer = call(&policy(), Endpoint::Validate, &review);
    assert_eq!(answer.response["allowed"], true, "{}", answer.response);

    // Anyone else, a cluster administrator included, is refused, naming the status.
    review["request"]["userInfo"]["username"] = json!("admin");
    review["request"]["userInfo"]["groups"] = json!(["system:masters", "system:authenticated"]);
    let answer = call(&policy(), Endpoint::Validate, &review);
    assert_eq!(answer.response["allowed"], false);
    let cause = &answer.response["status"]["details"]["causes"][0];
    assert_eq!(cause["field"], "status");
    assert_eq!(cause["reason"], "Forbidden");
}

#[test]
fn a_budget_without_a_start_time_starts_at_its_creation() {
    let policy = policy();
    let mut review = fixture(7);
    review["request"]["object"]["metadata"]["creationTimestamp"] = json!("2026-11-22T08:52:32Z");
    let answer = call(&policy, Endpoint::Mutate, &review);
    let patch = patch_of(&answer.response).expect("a patch");
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        json!([{"op": "add", "path": "/spec/budgetStartTime", "value": "2026-11-22T08:52:32Z"}])
    );
    // A start already chosen, or no creation time to take it from: nothing to patch.
    review["request"]["object"]["spec"]["budgetStartTime"] = json!("2026-11-01T00:00:00Z");
    assert!(patch_of(&call(&policy, Endpoint::Mutate, &review).response).is_none());
    assert!(patch_of(&call(&policy, Endpoint::Mutate, &fixture(7)).response).is_none());
}

#[test]
fn an_array_where_an_object_belongs_is_refused_not_patched() {
    // Derived decoders read an array as a struct's fields in order; the API server calls the
    // mutating webhook before its schema check, and a patch for an object would not apply.
    for (n, at, field) in [
        (7, "/request/object/spec", "spec"),
        (19, "/request/object/metadata", "metadata"),
        (19, "/request/object/spec", "spec"),
        (
            19,
            "/request/object/spec/taskGroups/0",
            "spec.taskGroups[0]",
        ),
        (
            19,
            "/request/object/spec/taskGroups/0/indexSpec",
            "spec.taskGroups[0].indexSpec",
        ),
        (
            19,
            "/request/object/spec/taskGroups/0/template",
            "spec.taskGroups[0].template",
        ),
        (
            19,
            "/request/object/spec/taskGroups/0/template/spec/containers/0",
            "spec.taskGroups[0].template.spec.containers[0]",
        ),
    ] {
        let mut review = fixture(n);
        *review.pointer_mut(at).unwrap() = json!([]);
        let answer = call(&policy(), Endpoint::Mutate, &review);
        let status = &answer.response["status"];
        assert_eq!(
            answer.response["allowed"], false,
            "{at}: {}",
            answer.response
        );
        assert_eq!(status["code"], 422, "{at}");
        let cause = &status["details"]["causes"][0];
        assert_eq!(cause["field"], field, "{at}");
        let message = cause["message"].as_str().unwrap();
        assert!(message.contains("expected an object"), "{at}: {message}");
    }
}
