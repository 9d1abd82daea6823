//! AdmissionReview bodies for load and attack tests: the recorded fixtures, written in the
//! API server's field order, and grown to a chosen size.

use serde_json::{Value, json};
use std::path::PathBuf;

/// Recorded review `n` of `tests/fixtures/admission`.
pub fn fixture(n: u32) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/admission/{n:03}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `review` written the way the API server writes it: `request`'s `object`, `oldObject` and
/// `options` last, after the `kind` and `operation` that say how to read them (a `Value` would
/// sort them first).
pub fn api_server_order(review: &Value) -> String {
    let late = ["object", "oldObject", "options"];
    let request = review["request"].as_object().expect("a request");
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

/// Adds short annotations to each of `objects` until `review` is about `size` bytes: the
/// shape that costs the most memory to decode per byte (a map entry per 16 bytes of text).
pub fn pad_annotations(review: &mut Value, objects: &[&str], size: usize) {
    let base = api_server_order(review).len();
    let entries = size.saturating_sub(base) / 16 / objects.len();
    for object in objects {
        let annotations = review["request"][*object]["metadata"]["annotations"]
            .as_object_mut()
            .expect("annotations");
        annotations.extend((0..entries).map(|i| (format!("k{i:08}"), json!("v"))));
    }
}

/// A BatchJob CREATE review of about `size` bytes (fixture 20, alice's job, as /validate gets
/// it), its annotations grown to fill it.
pub fn large_create(size: usize) -> String {
    let mut review = fixture(20);
    review["request"]["object"]["metadata"]["annotations"] = json!({});
    pad_annotations(&mut review, &["object"], size);
    api_server_order(&review)
}
