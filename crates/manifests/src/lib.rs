//! # kbatch-manifests
//!
//! Reads kbatch objects from manifest files: YAML or JSON, one or many documents per file,
//! directories walked recursively in a stable order. Each document decodes on its own, so one
//! bad document is reported with its path and index without hiding the others.

mod documents;
mod files;

pub use documents::{Document, DocumentError, Object, parse_documents};
pub use files::{LoadError, read_paths};

use kbatch_policy::snapshot::PolicySet;

/// Builds the policy snapshot from decoded objects (BatchJobs are indexed too: they matter
/// for dependency cycles and for deleting queues).
pub fn policy_set<'a>(objects: impl IntoIterator<Item = &'a Object>) -> PolicySet {
    let mut policy = PolicySet::new();
    for object in objects {
        match object {
            Object::BatchJob(j) => policy.upsert_job(j),
            Object::BatchQueue(q) => policy.upsert_queue(q.clone()),
            Object::BatchPriority(p) => policy.upsert_priority(p.clone()),
            Object::BatchJobConstraint(c) => policy.upsert_constraint(c),
            Object::BatchBudget(b) => policy.upsert_budget(b.clone()),
            Object::BatchCostModel(m) => policy.upsert_cost_model(m.clone()),
            Object::BatchUserContext(c) => policy.upsert_user_context(c.clone()),
        }
    }
    policy
}
