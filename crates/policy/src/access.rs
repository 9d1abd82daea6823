//! Who may write what, beyond the spec rules:
//! - a kbatch object's `status` is written only by the kbatch controller (a BatchJob's
//!   reservation record is what its refund is computed from);
//! - a BatchJob is its submitter's: only they, an administrator or the controller may change
//!   it (`userCommand: Terminate`, labels, annotations, finalizers);
//! - its owner references and kbatch's reservation finalizer are the controller's alone: an
//!   owner would let the garbage collector delete the job, and a finalizer removed too early
//!   would lose its refund. The garbage collector may only drop owner references.
//!
//! ```
//! use kbatch_policy::access::{Requester, Role, check_status_write};
//!
//! let nadia = Requester { name: "nadia", role: Role::User };
//! let refused = check_status_write("BatchJob", &nadia);
//! assert_eq!(refused.iter().next().unwrap().field, "status");
//! let controller = Requester { name: "system:serviceaccount:kbatch-system:kbatch-controller", role: Role::Controller };
//! assert!(check_status_write("BatchJob", &controller).is_empty());
//! ```

use crate::api::{BatchJob, RESERVATION_FINALIZER, SUBMITTED_BY_ANNOTATION};
use crate::{Reason, Violations};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// What the requester is to kbatch (the operator's configuration says who is which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The kbatch controller's identity.
    Controller,
    /// Kubernetes' garbage collector.
    GarbageCollector,
    /// A member of an administrators' group.
    Administrator,
    /// Anyone else: practitioners, namespace administrators.
    User,
}

/// Who writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester<'a> {
    /// The user name of the request.
    pub name: &'a str,
    /// Their role.
    pub role: Role,
}

/// A write to the `status` subresource of a `kind` object: the controller's alone.
pub fn check_status_write(kind: &str, requester: &Requester<'_>) -> Violations {
    let mut v = Violations::new();
    if requester.role != Role::Controller {
        v.push(
            "status",
            Reason::Forbidden,
            format!(
                "the status of a {kind} is written only by the kbatch controller; {:?} may not change it",
                requester.name
            ),
        );
    }
    v
}

fn submitter(job: &BatchJob) -> Option<&str> {
    job.metadata
        .annotations
        .as_ref()?
        .get(SUBMITTED_BY_ANNOTATION)
        .map(String::as_str)
}

fn holds_reservation_finalizer(job: &BatchJob) -> bool {
    job.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == RESERVATION_FINALIZER)
}

fn owners(job: &BatchJob) -> &[OwnerReference] {
    job.metadata.owner_references.as_deref().unwrap_or_default()
}

/// Whether anything a user can write differs: the spec, labels, annotations, finalizers or
/// owner references (the API server ignores status on this path and manages the rest).
fn changed(old: &BatchJob, new: &BatchJob) -> bool {
    let (o, n) = (&old.metadata, &new.metadata);
    old.spec != new.spec
        || o.labels != n.labels
        || o.annotations != n.annotations
        || o.finalizers != n.finalizers
        || o.owner_references != n.owner_references
}

/// An UPDATE of a BatchJob from `old` to `new` by `requester`: see the module docs. The spec
/// rules (only `userCommand` may change) are [`validate_job_update`]'s.
///
/// [`validate_job_update`]: crate::validation::validate_job_update
pub fn check_job_update_access(
    old: &BatchJob,
    new: &BatchJob,
    requester: &Requester<'_>,
) -> Violations {
    let mut v = Violations::new();
    if requester.role == Role::Controller {
        return v;
    }
    let dropped_only = owners(new).iter().all(|o| owners(old).contains(o));
    let collecting = requester.role == Role::GarbageCollector && dropped_only;
    if owners(old) != owners(new) && !collecting {
        v.push(
            "metadata.ownerReferences",
            Reason::Forbidden,
            "the owner references of a BatchJob are set only by the kbatch controller: another owner would let the garbage collector delete the job",
        );
    }
    if holds_reservation_finalizer(old) != holds_reservation_finalizer(new) {
        v.push(
            "metadata.finalizers",
            Reason::Forbidden,
            format!(
                "the finalizer {RESERVATION_FINALIZER} is the kbatch controller's: it holds the job until the unused part of its budget is refunded"
            ),
        );
    }
    let owner = submitter(old);
    let may_change = matches!(requester.role, Role::Administrator | Role::GarbageCollector)
        || owner == Some(requester.name);
    if !may_change && changed(old, new) {
        let path = if old.spec.user_command != new.spec.user_command {
            "spec.userCommand"
        } else {
            "metadata"
        };
        v.push(
            path,
            Reason::Forbidden,
            format!(
                "only the job's submitter ({}) or an administrator may change it; {:?} is neither",
                owner.map_or_else(|| "unrecorded".to_owned(), |o| format!("{o:?}")),
                requester.name
            ),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::{Value, json};

    fn job(metadata: Value, user_command: Option<&str>) -> BatchJob {
        let mut meta = json!({"name": "victim", "namespace": "ns",
            "annotations": {SUBMITTED_BY_ANNOTATION: "alice"},
            "finalizers": [RESERVATION_FINALIZER]});
        for (k, val) in metadata.as_object().unwrap() {
            meta[k] = val.clone();
        }
        let mut spec =
            json!({"batchQueueName": "q", "taskGroups": [{"name": "main", "template": {}}]});
        if let Some(c) = user_command {
            spec["userCommand"] = json!(c);
        }
        serde_json::from_value(
            json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
            "metadata": meta, "spec": spec}),
        )
        .unwrap()
    }

    fn owner(uid: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": uid})
    }

    #[test]
    fn only_the_controller_writes_status() {
        for (role, refused) in [
            (Role::Controller, false),
            (Role::Administrator, true),
            (Role::GarbageCollector, true),
            (Role::User, true),
        ] {
            let v = check_status_write("BatchBudget", &Requester { name: "x", role });
            assert_eq!(!v.is_empty(), refused, "{role:?}");
            if refused {
                let first = v.iter().next().unwrap();
                assert_eq!(
                    (first.field.as_str(), first.reason),
                    ("status", Reason::Forbidden)
                );
                assert!(first.message.contains("BatchBudget"), "{}", first.message);
            }
        }
    }

    #[test]
    fn table() {
        let base = job(json!({}), None);
        let owned = job(json!({"ownerReferences": [owner("a"), owner("b")]}), None);
        let cases: Vec<(&str, &BatchJob, BatchJob, Requester<'_>, &[&str])> = vec![
            (
                "the submitter labels her job",
                &base,
                job(json!({"labels": {"x": "1"}}), None),
                Requester {
                    name: "alice",
                    role: Role::User,
                },
                &[],
            ),
            (
                "the submitter terminates her job",
                &base,
                job(json!({}), Some("Terminate")),
                Requester {
                    name: "alice",
                    role: Role::User,
                },
                &[],
            ),
            (
                "another user labels it",
                &base,
                job(json!({"labels": {"x": "1"}}), None),
                Requester {
                    name: "bob",
                    role: Role::User,
                },
                &["metadata"],
            ),
            (
                "another user terminates it",
                &base,
                job(json!({}), Some("Terminate")),
                Requester {
                    name: "bob",
                    role: Role::User,
                },
                &["spec.userCommand"],
            ),
            (
                "another user adds a finalizer",
                &base,
                job(
                    json!({"finalizers": [RESERVATION_FINALIZER, "example.com/never"]}),
                    None,
                ),
                Requester {
                    name: "bob",
                    role: Role::User,
                },
                &["metadata"],
            ),
            (
                "an administrator terminates it",
                &base,
                job(json!({}), Some("Terminate")),
                Requester {
                    name: "root",
                    role: Role::Administrator,
                },
                &[],
            ),
            (
                "nobody but the controller adds an owner",
                &base,
                job(json!({"ownerReferences": [owner("a")]}), None),
                Requester {
                    name: "root",
                    role: Role::Administrator,
                },
                &["metadata.ownerReferences"],
            ),
            (
                "the submitter adds an owner",
                &base,
                job(json!({"ownerReferences": [owner("a")]}), None),
                Requester {
                    name: "alice",
                    role: Role::User,
                },
                &["metadata.ownerReferences"],
            ),
            (
                "the submitter removes kbatch's finalizer",
                &base,
                job(json!({"finalizers": []}), None),
                Requester {
                    name: "alice",
                    role: Role::User,
                },
                &["metadata.finalizers"],
            ),
            (
                "another user removes it",
                &base,
                job(json!({"finalizers": []}), None),
                Requester {
                    name: "bob",
                    role: Role::User,
                },
                &["metadata.finalizers", "metadata"],
            ),
            (
                "the controller removes it",
                &base,
                job(json!({"finalizers": []}), None),
                Requester {
                    name: "c",
                    role: Role::Controller,
                },
                &[],
            ),
            (
                "the controller sets an owner",
                &base,
                job(json!({"ownerReferences": [owner("a")]}), None),
                Requester {
                    name: "c",
                    role: Role::Controller,
                },
                &[],
            ),
            (
                "the garbage collector drops a dangling owner",
                &owned,
                job(json!({"ownerReferences": [owner("b")]}), None),
                Requester {
                    name: "gc",
                    role: Role::GarbageCollector,
                },
                &[],
            ),
            (
                "the garbage collector never adds one",
                &owned,
                job(json!({"ownerReferences": [owner("b"), owner("c")]}), None),
                Requester {
                    name: "gc",
                    role: Role::GarbageCollector,
                },
                &["metadata.ownerReferences"],
            ),
            (
                "an unchanged update by anyone",
                &base,
                base.clone(),
                Requester {
                    name: "bob",
                    role: Role::User,
                },
                &[],
            ),
        ];
        for (name, old, new, requester, paths) in cases {
            let v = check_job_update_access(old, &new, &requester);
            let got: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
            assert_eq!(got, paths, "{name}");
            for violation in v.iter() {
                assert_eq!(violation.reason, Reason::Forbidden, "{name}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_submitter_and_the_requester() {
        let v = check_job_update_access(
            &job(json!({}), None),
            &job(json!({}), Some("Terminate")),
            &Requester {
                name: "bob",
                role: Role::User,
            },
        );
        assert_eq!(
            v.iter().next().unwrap().message,
            "only the job's submitter (\"alice\") or an administrator may change it; \"bob\" is neither"
        );
    }
}
