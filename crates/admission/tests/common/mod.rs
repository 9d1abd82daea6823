//! The recorded API-server requests (tests/fixtures/admission) and the policy objects they
//! were made against, shared by this crate's integration tests.

use kbatch_policy::snapshot::PolicySet;
use serde_json::Value;
use std::path::PathBuf;

/// The directory of the recordings.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/admission")
}

/// The recorded review `NNN.json`.
pub fn fixture(n: u32) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{n:03}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The policy objects of `objects-policy.yaml`.
pub fn policy() -> PolicySet {
    let text = std::fs::read_to_string(fixtures().join("objects-policy.yaml")).unwrap();
    let docs = kbatch_manifests::parse_documents("objects-policy.yaml", &text).unwrap();
    kbatch_manifests::policy_set(docs.iter().map(|d| d.object.as_ref().unwrap()))
}
