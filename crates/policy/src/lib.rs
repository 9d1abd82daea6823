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
//! - [`snapshot`]: the in-memory view of the policy objects the decisions read.
//!
//!

pub mod api;
// WIP pub mod constraint;
// WIP pub mod dependency;
pub mod duration;
// WIP mod job_values;
// WIP pub mod names;
pub mod quantity;
// WIP pub mod references;
// WIP pub mod resources;
// WIP pub mod security;
// WIP pub mod snapshot;
// WIP pub mod submission;
// WIP pub mod validation;
// WIP pub mod violation;

// WIP pub use violation::{Reason, Violation, Violations};
