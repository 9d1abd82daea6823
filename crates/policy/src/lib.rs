//! # kbatch-policy
//!
//! The pure core of kbatch, the batch-queueing admission layer for Kubernetes: the
//! `kbatch.k8s.io/v1beta1` API types and every rule about them, with no I/O and no async.
//! The admission webhook, the controller and the `kbatch` CLI all call these same functions,
//! so they cannot disagree.
//!
//! - [`api`]: the seven kinds, with the original API's field names.
//! - [`quantity`], [`duration`]: exact Kubernetes quantities and wall-time durations.
//! - [`constraint`]: queue constraints (six fields × six operators).
//! - [`submission`]: defaulting then validating a BatchJob against its queue.
//! - [`validation`]: the shape of every kind, and what may change on update.
//! - [`references`]: deletion guards and references to objects being deleted.
//! - [`security`]: BatchUserContext pod security rules, defaulted and enforced.
//! - [`snapshot`]: the in-memory view of the policy objects the decisions read.
//!
//! Rules about a pod template read few of its fields, and the kbatch webhook decodes only
//! those on CREATE and DELETE (`crates/admission/src/admitted_job.rs`). A rule that reads
//! another template field must be added there as well; that module's tests compare the
//! answers of both readings.
//!
//! ```
//! use kbatch_policy::api::{BatchJob, BatchQueue};
//! use kbatch_policy::snapshot::PolicySet;
//! use kbatch_policy::submission::submit_job;
//!
//! let policy = PolicySet::new(); // no queues: every job is refused, with the reason
//! let job: BatchJob = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
//!     "metadata": {"name": "pi", "namespace": "team-a"},
//!     "spec": {"batchQueueName": "default", "taskGroups": [{
//!         "name": "main", "maxWallTime": "5m",
//!         "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}
//!     }]}
//! })).unwrap();
//! let refused = submit_job(&policy, &job).unwrap_err();
//! assert_eq!(refused.as_slice()[0].field, "spec.batchQueueName");
//! ```

pub mod access;
pub mod api;
pub mod budget;
pub mod constraint;
pub mod dependency;
pub mod duration;
mod job_values;
pub mod names;
mod namespaced;
pub mod phase;
pub mod placement;
pub mod quantity;
pub mod queue_status;
pub mod references;
pub mod resources;
pub mod scheduling;
pub mod security;
pub mod snapshot;
pub mod submission;
pub mod validation;
pub mod violation;

pub use violation::{Reason, Violation, Violations};
