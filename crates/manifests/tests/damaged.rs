//! Damaged objects: the recordings' policy objects and jobs with one value replaced by an
//! unlikely one. Reading them must never panic, and whatever the schema check and the typed
//! decoders let through must be read as written: the object written back out holds the
//! replaced value where it was put (a list is not read as a struct, nor a struct as nothing),
//! passes the schema check again and reads back as the same object.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_manifests::{Object, parse_documents};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::LazyLock;

#[path = "../../../tests/support/json_places.rs"]
mod json_places;
use json_places::places_of;

/// Every kbatch object of the recordings (`objects-*.yaml`), as JSON values.
static OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/admission");
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("objects-") && name.ends_with(".yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let values: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            objects.extend(values.into_iter().filter(|v| v.get("kind").is_some()));
        }
    }
    assert!(objects.len() >= 10, "only {} objects", objects.len());
    objects
});

fn unlikely_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(4_294_967_296_u64),
        json!(""),
        json!("x"),
        json!("500m"),
        json!(true),
        json!([]),
        json!(["x"]),
        json!({}),
        json!({"a": 1}),
    ]
}

fn as_value(object: &Object) -> Value {
    match object {
        Object::BatchJob(o) => serde_json::to_value(o),
        Object::BatchQueue(o) => serde_json::to_value(o),
        Object::BatchPriority(o) => serde_json::to_value(o),
        Object::BatchJobConstraint(o) => serde_json::to_value(o),
        Object::BatchBudget(o) => serde_json::to_value(o),
        Object::BatchCostModel(o) => serde_json::to_value(o),
        Object::BatchUserContext(o) => serde_json::to_value(o),
    }
    .unwrap()
}

/// Whether `read` (written back from the typed object) says what `wrote` said. A quantity
/// written as a number reads back as its text; `null` and empty values may read back absent
/// (pruned, or left out when written); numbers compare by value.
fn same(wrote: Option<&Value>, read: Option<&Value>) -> bool {
    match (wrote, read) {
        (Some(Value::Null) | None, _) => true,
        (Some(w), None) => is_empty(w),
        (Some(Value::Number(w)), Some(Value::String(r))) => w.to_string() == *r,
        (Some(Value::Number(w)), Some(Value::Number(r))) => w.as_f64() == r.as_f64(),
        (Some(Value::Object(w)), Some(Value::Object(r))) => {
            w.iter().all(|(k, v)| same(Some(v), r.get(k)))
        }
        (Some(Value::Array(w)), Some(Value::Array(r))) => {
            w.len() == r.len() && w.iter().zip(r).all(|(w, r)| same(Some(w), Some(r)))
        }
        (Some(w), Some(r)) => w == r,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_empty),
        Value::Object(members) => members.values().all(is_empty),
    }
}

/// Reads `damaged` (changed at `at`); if it is taken, the change must be read as written and
/// the object must survive a round through a cluster.
fn read_soundly(damaged: &Value, at: &str) -> Result<(), TestCaseError> {
    let docs = parse_documents("damaged", &damaged.to_string()).unwrap();
    prop_assert_eq!(docs.len(), 1);
    let Ok(object) = &docs[0].object else {
        return Ok(());
    };
    let written = as_value(object);
    prop_assert!(
        same(damaged.pointer(at), written.pointer(at)),
        "{} at {} is read as {}",
        damaged.pointer(at).unwrap_or(&Value::Null),
        at,
        written.pointer(at).unwrap_or(&Value::Null)
    );
    let again = parse_documents("written", &written.to_string()).unwrap();
    prop_assert_eq!(
        again[0].object.as_ref().ok(),
        Some(object),
        "written back as {}",
        written
    );
    Ok(())
}

#[test]
fn every_unlikely_value_anywhere_is_read_soundly() {
    let values = unlikely_values();
    for object in OBJECTS.iter() {
        let all = places_of(object);
        for at in &all {
            for value in &values {
                let mut damaged = object.clone();
                *damaged.pointer_mut(at).unwrap() = value.clone();
                if let Err(e) = read_soundly(&damaged, at) {
                    panic!("{} with {value} at {at}: {e}", object["kind"]);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_random_value_anywhere_is_read_soundly(
        which in any::<prop::sample::Index>(),
        place in any::<prop::sample::Index>(),
        text in any::<String>(),
        number in any::<i64>(),
        pick in 0..3_usize,
    ) {
        let object = which.get(&OBJECTS);
        let all = places_of(object);
        let at = place.get::<String>(&all);
        let mut damaged = object.clone();
        *damaged.pointer_mut(at).unwrap() = match pick {
            0 => Value::String(text),
            1 => json!(number),
            _ => json!({ text: number }),
        };
        read_soundly(&damaged, at)?;
    }
}
