//! # kbatch-manifests
//!
//! Reads kbatch objects from manifest files: YAML or JSON, one or many documents per file,
//! directories walked recursively in a stable order. Each document decodes on its own, so one
//! bad document is reported with its path and index without hiding the others. A kbatch object
//! is first checked against its CRD's schema, as the API server checks it, so that what this
//! reads is what a cluster would accept.

mod documents;
mod files;
mod schema;

pub use documents::{Document, DocumentError, Object, parse_documents};
pub use files::{LoadError, read_paths};

use kbatch_policy::snapshot::PolicySet;
use std::path::Path;

/// The policy snapshot read from a file or directory, with the documents it came from.
#[derive(Debug)]
pub struct LoadedPolicy {
    /// Every decodable kbatch object, indexed.
    pub policy: PolicySet,
    /// Every document read, in order (callers report the undecodable ones).
    pub documents: Vec<Document>,
}

impl LoadedPolicy {
    /// The kbatch documents that broke their schema or did not decode, left out of the
    /// snapshot (documents of other kinds are not listed).
    pub fn unusable(&self) -> impl Iterator<Item = (&Document, &DocumentError)> {
        self.documents.iter().filter_map(|d| match &d.object {
            Err(e @ (DocumentError::Invalid { .. } | DocumentError::Undecodable { .. })) => {
                Some((d, e))
            }
            _ => None,
        })
    }
}

/// Reads the policy objects under `path` (a file or a directory, recursed) into a snapshot.
pub fn load_policy(path: &Path) -> Result<LoadedPolicy, LoadError> {
    let documents = read_paths(&[path.to_path_buf()])?;
    let policy = policy_set(documents.iter().filter_map(|d| d.object.as_ref().ok()));
    Ok(LoadedPolicy { policy, documents })
}

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
