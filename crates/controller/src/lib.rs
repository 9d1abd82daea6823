//! # kbatch-controller
//!
//! Runs admitted BatchJobs on Kubernetes: each task group becomes one Indexed `batch/v1` Job
//! owned by the BatchJob ([`job`]), and keeps the budgets.
//!
//! The modules follow observe → decide → apply:
//! - pure: [`job`] (the Jobs of a BatchJob), [`observe`] (owned Jobs → the policy crate's
//!   observation and `status.groupStatus`), [`decide`] (one reconcile's API calls),
//!   [`finalizers::plan`], [`reservation::plan`] (the BatchJob reservation finalizer),
//!   [`leader::claim`], and the write bodies in [`writes`];
//! - I/O: [`reconcile`] (one BatchJob), [`ledger_io`] (the budget ledger's writes, in the
//!   order `kbatch_policy::budget::ledger` documents), [`schedule_pass`] (the periodic
//!   scheduling pass), [`finalizers`] (in-use protection of policy objects), [`leader`]
//!   (Lease-based leader election) and [`run`](run()) (wiring).

pub mod budget_writer;
pub mod context;
pub mod decide;
mod events;
pub mod finalizers;
pub mod job;
pub mod leader;
pub mod ledger_io;
pub mod metrics;
pub mod observe;
pub mod owned_job;
pub mod placement;
pub mod queue_status;
pub mod reconcile;
pub mod reservation;
mod run;
pub mod schedule_pass;
pub mod writes;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod fixtures;

pub use context::{Context, Error, Stores};
pub use metrics::{ApiCounting, Observed};
pub use run::{JOB_RECONCILES, RunError, run};
#[cfg(test)]
mod mock;
