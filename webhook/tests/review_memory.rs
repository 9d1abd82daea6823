//! What a review really allocates, against what the server reserves for it.
//!
//! The server admits requests by their cost in bytes: `REVIEW_PEAK_BYTES_PER_BODY_BYTE` times
//! the body. Here a counting allocator measures the peak bytes live while the real reviewer
//! decides the shapes that cost the most per byte of JSON (maps and lists of tiny entries, on
//! CREATE and on UPDATE, mutating and validating), and each must stay within that reservation.
//! One test in its own binary: the allocator counts everything the process does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use kbatch_admission::AdmissionConfig;
use kbatch_webhook::{Endpoint, PolicyReviewer, REVIEW_PEAK_BYTES_PER_BODY_BYTE, Reviewer};
use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use serde_json::{Value, json};
use std::alloc::System;
use std::path::PathBuf;

/// Counts the peak of bytes allocated since its last reset (a wrapper of the system allocator).
#[global_allocator]
static ALLOCATOR: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(n: u32) -> Value {
    let path = repo().join(format!("tests/fixtures/admission/{n:03}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The review as the API server writes it: the objects after the kind and operation.
fn api_server_order(review: &Value) -> String {
    let request = review["request"].as_object().unwrap();
    let late = ["object", "oldObject", "options"];
    let fields: Vec<String> = request
        .iter()
        .filter(|(key, _)| !late.contains(&key.as_str()))
        .chain(late.iter().filter_map(|key| request.get_key_value(*key)))
        .map(|(key, value)| format!("{}:{value}", json!(key)))
        .collect();
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{{}}}}}"#,
        fields.join(",")
    )
}

/// `review` with `fill` applied to each of `objects` until its text is about `size` bytes.
fn grown(mut review: Value, objects: &[&str], size: usize, fill: fn(&mut Value, usize)) -> String {
    let per_entry = {
        let before = api_server_order(&review).len();
        let mut probe = review.clone();
        for object in objects {
            fill(&mut probe["request"][*object], 100);
        }
        (api_server_order(&probe).len() - before).div_ceil(100)
    };
    let base = api_server_order(&review).len();
    let entries = size.saturating_sub(base) / per_entry;
    for object in objects {
        fill(&mut review["request"][*object], entries);
    }
    api_server_order(&review)
}

fn annotations(object: &mut Value, n: usize) {
    let map = object["metadata"]["annotations"].as_object_mut().unwrap();
    map.extend((0..n).map(|i| (format!("k{i:07}"), json!(""))));
}

fn env_vars(object: &mut Value, n: usize) {
    let container = &mut object["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0];
    container["env"] = Value::Array(
        (0..n)
            .map(|i| json!({"name": format!("E{i:07}")}))
            .collect(),
    );
}

fn args(object: &mut Value, n: usize) {
    let container = &mut object["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0];
    container["args"] = Value::Array((0..n).map(|_| json!("")).collect());
}

#[test]
fn no_review_allocates_more_than_the_server_reserves_for_it() {
    let docs = kbatch_manifests::read_paths(&[repo().join("manifests/examples")]).unwrap();
    let policy = kbatch_manifests::policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()));
    let reviewer = PolicyReviewer::new(policy, AdmissionConfig::default());
    let mut update = fixture(32);
    update["request"]["userInfo"] = json!({"username": "alice", "groups": []});
    for which in ["object", "oldObject"] {
        update["request"][which]["metadata"]["annotations"] =
            json!({"kbatch.k8s.io/submitted-by": "alice"});
    }
    let mut create = fixture(19);
    create["request"]["object"]["metadata"]["annotations"] = json!({});
    const SIZE: usize = 3 * 1024 * 1024 - 4096;
    let both = &["object", "oldObject"][..];
    let cases: Vec<(&str, Endpoint, String)> = vec![
        (
            "create, annotations",
            Endpoint::Mutate,
            grown(create.clone(), &["object"], SIZE, annotations),
        ),
        (
            "create, annotations",
            Endpoint::Validate,
            grown(create.clone(), &["object"], SIZE, annotations),
        ),
        (
            "create, env",
            Endpoint::Mutate,
            grown(create.clone(), &["object"], SIZE, env_vars),
        ),
        (
            "create, args",
            Endpoint::Mutate,
            grown(create.clone(), &["object"], SIZE, args),
        ),
        (
            "update, annotations",
            Endpoint::Validate,
            grown(update.clone(), both, SIZE, annotations),
        ),
        (
            "update, env",
            Endpoint::Mutate,
            grown(update.clone(), both, SIZE, env_vars),
        ),
        (
            "update, args",
            Endpoint::Validate,
            grown(update, both, SIZE, args),
        ),
    ];
    let mut over = Vec::new();
    for (name, endpoint, body) in cases {
        assert!(
            body.len() <= 3 * 1024 * 1024,
            "{name}: {} bytes",
            body.len()
        );
        let body = body.into_bytes();
        ALLOCATOR.reset_peak_memory();
        let reply = reviewer.review(endpoint, &body);
        // The body itself is held by the server for as long as the review runs.
        let peak = ALLOCATOR.get_peak_memory() + body.len();
        drop(reply);
        let ratio = peak as f64 / body.len() as f64;
        eprintln!(
            "{name} ({}): {} bytes, peak {peak} bytes, {ratio:.1}x",
            endpoint.as_str(),
            body.len()
        );
        if peak > body.len() * REVIEW_PEAK_BYTES_PER_BODY_BYTE {
            over.push(format!("{name} ({}): {ratio:.1}x", endpoint.as_str()));
        }
    }
    assert!(
        over.is_empty(),
        "peaks over the {REVIEW_PEAK_BYTES_PER_BODY_BYTE}x of the body the server reserves: {over:?}"
    );
}
