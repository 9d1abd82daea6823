//! # kbatch-controller
//!
//! Runs admitted BatchJobs on Kubernetes: each task group becomes one Indexed `batch/v1` Job
//! owned by the BatchJob. This crate starts with the translation itself ([`job`]), a pure
//! function of the BatchJob, so that what the controller creates is specified by tests.

pub mod job;
pub mod placement;
