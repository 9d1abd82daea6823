//! Structural validation of every kind, and the rules for updates.
//!
//! Each function collects every violation it finds; none stops at the first.

mod job;
mod policy_objects;
mod update;

pub use job::validate_job_structure;
pub use policy_objects::{
    validate_budget, validate_constraint_object, validate_cost_model, validate_priority,
    validate_queue, validate_user_context,
};
pub use update::validate_job_update;
