//! No request body breaks a decision. The recorded API-server requests, damaged at random
//! (a value replaced by one of another type, an extreme number, a huge or invalid string, deep
//! nesting; a member removed; the text truncated or a byte changed), must each get either an
//! HTTP 400 naming the reason or a well-formed AdmissionReview answer: the uid echoed, a
//! denial with its code and message, or a patch that applies to the object it was made for.
//! A panic fails the test (the server would answer 500, and the API server refuse the write).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use kbatch_admission::{AdmissionConfig, Endpoint, review};
use kbatch_policy::snapshot::PolicySet;
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::LazyLock;

mod common;
#[path = "../../../tests/support/json_places.rs"]
mod json_places;

use common::{fixture, fixtures, policy};
use json_places::places_of;

/// Every recorded review (`NNN.json`), as text.
static REVIEWS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.len() == "000.json".len() && name.ends_with(".json")
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
});

/// The policy objects the recorded requests were made against: deciding reaches the rules.
static POLICY: LazyLock<PolicySet> = LazyLock::new(policy);

/// Decides `body` at both endpoints and checks the shape of each answer.
fn decides_soundly(body: &[u8]) -> Result<(), TestCaseError> {
    let sent: Option<Value> = serde_json::from_slice(body).ok();
    for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
        let reply = review(&POLICY, &AdmissionConfig::default(), endpoint, body);
        let answer: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            TestCaseError::fail(format!("{endpoint:?}: the answer is not JSON: {e}"))
        })?;
        match reply.http_status {
            400 => {
                prop_assert_eq!(&answer["code"], 400);
                prop_assert!(
                    answer["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "a 400 names its reason: {}",
                    answer
                );
            }
            200 => answered(endpoint, &answer, sent.as_ref())?,
            other => prop_assert!(false, "{:?}: HTTP {}", endpoint, other),
        }
    }
    Ok(())
}

/// `answer` is an AdmissionReview response to `sent`.
fn answered(endpoint: Endpoint, answer: &Value, sent: Option<&Value>) -> Result<(), TestCaseError> {
    prop_assert_eq!(&answer["apiVersion"], "admission.k8s.io/v1");
    prop_assert_eq!(&answer["kind"], "AdmissionReview");
    let response = &answer["response"];
    prop_assert!(response["uid"].is_string(), "{}", response);
    // `sent` is `None` when a damage the decision skips over (invalid UTF-8 in a string no
    // rule reads) makes the body unreadable as a whole: then only the answer's shape is known.
    let request = sent.map(|review| &review["request"]);
    if let Some(request) = request {
        prop_assert_eq!(&response["uid"], &request["uid"]);
    }
    match response["allowed"].as_bool() {
        Some(true) => {}
        Some(false) => {
            let status = &response["status"];
            let code = status["code"].as_i64().unwrap_or_default();
            prop_assert!([403, 422].contains(&code), "{:?}: {}", endpoint, status);
            prop_assert!(status["message"].as_str().is_some_and(|m| !m.is_empty()));
            return Ok(());
        }
        None => prop_assert!(false, "{:?}: allowed is not a bool: {}", endpoint, response),
    }
    if let Some(patch) = response.get("patch") {
        prop_assert_eq!(endpoint, Endpoint::Mutate);
        prop_assert_eq!(&response["patchType"], "JSONPatch");
        let text = base64::engine::general_purpose::STANDARD
            .decode(patch.as_str().expect("a base64 string"))
            .map_err(|e| TestCaseError::fail(format!("the patch is not base64: {e}")))?;
        let patch: json_patch::Patch = serde_json::from_slice(&text)
            .map_err(|e| TestCaseError::fail(format!("not a JSON Patch: {e}")))?;
        if let Some(request) = request {
            let mut object = request["object"].clone();
            if let Err(e) = json_patch::patch(&mut object, &patch) {
                prop_assert!(false, "the patch does not apply to the object: {}", e);
            }
        }
    }
    Ok(())
}

/// Values unlike any a review holds, as JSON text: each is put at every place of some
/// reviews, and sampled with random ones for the rest.
fn fixed_strange_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "null",
        "true",
        "0",
        "-1",
        "2147483648",
        "-9223372036854775809",
        "18446744073709551616",
        "1e400",
        "-0.0",
        "\"\"",
        r#""\u0000\ud83d\ude00""#,
        r#""\ud800""#,
        "[]",
        "{}",
        r#"{"":null,"a":[{}]}"#,
    ]
    .map(str::to_owned)
    .to_vec();
    values.push(format!("\"{}\"", "x".repeat(20_000)));
    for depth in [129, 10_000] {
        values.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
        values.push(format!(
            "{}1{}",
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        ));
    }
    values
}

/// Values unlike any a review holds, as JSON text.
fn strange_json() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(fixed_strange_values()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ]
}

/// Where the replacement goes in the text: a string no review contains.
const MARK: &str = "\"__kbatch_hostile_input__\"";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_review_with_one_value_replaced_is_decided_soundly(
        which in any::<prop::sample::Index>(),
        place in any::<prop::sample::Index>(),
        replacement in strange_json(),
    ) {
        let review: Value = serde_json::from_str(which.get::<String>(&REVIEWS)).unwrap();
        let all = places_of(&review);
        decides_soundly(replaced(&review, place.get::<String>(&all), &replacement).as_bytes())?;
    }

    #[test]
    fn a_review_with_one_member_removed_is_decided_soundly(
        which in any::<prop::sample::Index>(),
        place in any::<prop::sample::Index>(),
    ) {
        let mut review: Value = serde_json::from_str(which.get::<String>(&REVIEWS)).unwrap();
        let all = places_of(&review);
        let at = place.get(&all);
        let (parent, last) = at.rsplit_once('/').unwrap();
        match review.pointer_mut(parent).unwrap() {
            Value::Object(members) => {
                members.remove(&last.replace("~1", "/").replace("~0", "~"));
            }
            Value::Array(items) => {
                items.remove(last.parse::<usize>().unwrap());
            }
            _ => unreachable!("a place's parent holds it"),
        }
        decides_soundly(&serde_json::to_vec(&review).unwrap())?;
    }

    #[test]
    fn a_truncated_or_corrupted_review_is_decided_soundly(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut body = which.get::<String>(&REVIEWS).as_bytes().to_vec();
        let i = at.index(body.len());
        if truncate {
            body.truncate(i);
        } else {
            body[i] = byte;
        }
        decides_soundly(&body)?;
    }
}

/// `review` with `replacement` (JSON text) at `at`.
fn replaced(review: &Value, at: &str, replacement: &str) -> String {
    let mut review = review.clone();
    *review.pointer_mut(at).unwrap() = Value::String(MARK.trim_matches('"').to_owned());
    serde_json::to_string(&review)
        .unwrap()
        .replacen(MARK, replacement, 1)
}

/// Puts each strange value at every place of the reviews `numbered` (`NNN.json`).
fn damage_everywhere(numbered: &[u32]) {
    let values = fixed_strange_values();
    for n in numbered {
        let review = fixture(*n);
        let all = places_of(&review);
        // Inside managedFields every place is skipped alike; the member itself is kept.
        for at in all.iter().filter(|at| !at.contains("/managedFields/")) {
            for value in &values {
                let text = replaced(&review, at, value);
                if let Err(e) = decides_soundly(text.as_bytes()) {
                    let shown: String = value.chars().take(40).collect();
                    panic!("{n:03}.json with {shown} at {at}: {e}");
                }
            }
        }
    }
}

#[test]
fn each_strange_value_at_every_place_of_a_policy_object_review_is_decided_soundly() {
    // Creations of a priority, a budget, a queue and a user context; a priority's deletion.
    damage_everywhere(&[2, 8, 14, 18, 38]);
}

#[test]
fn each_strange_value_at_every_place_of_a_job_review_is_decided_soundly() {
    // A job's creation (without and with dependencies, whose items defaulting patches),
    // update, status update and deletion.
    damage_everywhere(&[19, 21, 32, 34, 40]);
}

#[test]
fn every_recorded_review_is_a_place_for_damage() {
    // The properties above sample these; an empty list would make them vacuous.
    assert!(REVIEWS.len() >= 40, "{} reviews", REVIEWS.len());
    for text in REVIEWS.iter() {
        let review: Value = serde_json::from_str(text).unwrap();
        let all = places_of(&review);
        assert!(all.len() > 10);
        assert!(!text.contains(MARK));
    }
}
