//! The schema check agrees with a real API server: every object a Kubernetes 1.36 API server
//! sent to the recording webhook's `/validate` had passed its own schema check, so each must
//! pass ours too, as must the policy objects and jobs the recordings were made with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_manifests::{DocumentError, parse_documents, read_paths};
use serde_json::Value;
use std::path::PathBuf;

fn recordings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/admission")
}

/// The objects of every recorded `/validate` request (the API server checks its schema
/// before validating admission, after mutating admission), with where they came from.
fn validated_objects() -> Vec<(String, String)> {
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(recordings()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(number) = name.strip_suffix(".meta.json") else {
            continue;
        };
        let meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if !meta["path"].as_str().unwrap().starts_with("/validate") {
            continue;
        }
        let review: Value = serde_json::from_slice(
            &std::fs::read(recordings().join(format!("{number}.json"))).unwrap(),
        )
        .unwrap();
        for which in ["object", "oldObject"] {
            let object = &review["request"][which];
            if !object.is_null() {
                objects.push((format!("{number}.json {which}"), object.to_string()));
            }
        }
    }
    objects.sort();
    objects
}

#[test]
fn every_object_the_api_server_validated_passes_the_schema_check() {
    let objects = validated_objects();
    assert!(
        objects.len() >= 20,
        "only {} recorded objects",
        objects.len()
    );
    for (source, text) in objects {
        let docs = parse_documents(&source, &text).unwrap();
        assert_eq!(docs.len(), 1, "{source}");
        assert!(docs[0].object.is_ok(), "{source}: {:?}", docs[0].object);
    }
}

#[test]
fn the_recordings_policy_objects_and_jobs_pass_the_schema_check() {
    let docs = read_paths(&[recordings()]).unwrap();
    let kbatch: Vec<_> = docs
        .iter()
        .filter(|d| !matches!(d.object, Err(DocumentError::NotKbatch { .. })))
        .collect();
    assert!(kbatch.len() >= 10, "only {} objects", kbatch.len());
    for d in kbatch {
        assert!(d.object.is_ok(), "{}:{}: {:?}", d.source, d.index, d.object);
    }
}
