//! The real decision layer over a fixed snapshot of policy objects (`kbatch serve --policy`).

use crate::review::{Endpoint, Reply, Reviewer};
use kbatch_admission::AdmissionConfig;
use kbatch_policy::snapshot::PolicySet;

/// Decides every request with `kbatch-admission` against one policy snapshot.
#[derive(Debug)]
pub struct PolicyReviewer {
    policy: PolicySet,
    config: AdmissionConfig,
}

impl PolicyReviewer {
    /// A reviewer over `policy` with the operator's `config`.
    pub fn new(policy: PolicySet, config: AdmissionConfig) -> Self {
        PolicyReviewer { policy, config }
    }
}

impl Reviewer for PolicyReviewer {
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply {
        kbatch_admission::review(&self.policy, &self.config, endpoint, body)
    }

    /// A snapshot read from files is complete from the start.
    fn is_ready(&self) -> bool {
        true
    }
}
