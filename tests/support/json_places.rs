//! Where a test can damage a JSON document. Shared by the test suites that put unlikely values
//! into recorded objects (`crates/admission/tests/hostile_input.rs`,
//! `crates/manifests/tests/damaged.rs`), which include it with `#[path]`.

use serde_json::Value;

/// JSON pointers to every value inside `value` but the root, each before what it holds.
pub fn places_of(value: &Value) -> Vec<String> {
    let mut all = Vec::new();
    places(value, "", &mut all);
    all
}

fn places(value: &Value, at: &str, out: &mut Vec<String>) {
    let mut visit = |child: &Value, token: &str| {
        let escaped = token.replace('~', "~0").replace('/', "~1");
        let path = format!("{at}/{escaped}");
        out.push(path.clone());
        places(child, &path, out);
    };
    match value {
        Value::Object(members) => members.iter().for_each(|(k, v)| visit(v, k)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| visit(v, &i.to_string())),
        _ => {}
    }
}
