//! # kbatch-policy
//!
//! The pure core of kbatch, the batch-queueing admission layer for Kubernetes: the
//! `kbatch.k8s.io/v1beta1` API types and every rule about them, with no I/O and no async.
//! The admission webhook, the controller and the `kbatch` CLI all call these same functions,
//! so they cannot disagree.

pub mod api;
pub mod duration;
pub mod quantity;
