//! # kbatch-admission
//!
//! Pure admission decisions: an `AdmissionReview` body in, an `AdmissionReview` reply out.
//! No I/O: the HTTPS server calls [`review`] with the request body and a snapshot of the
//! policy objects, and sends back what it returns. Every rule lives in `kbatch-policy`; this
//! crate only maps requests onto those rules and their answers onto Kubernetes responses.
//!
//! ```
//! use kbatch_admission::{AdmissionConfig, Endpoint, review};
//! use kbatch_policy::snapshot::PolicySet;
//!
//! let reply = review(&PolicySet::new(), &AdmissionConfig::default(), Endpoint::Validate, b"{");
//! assert_eq!(reply.http_status, 400);
//! ```

mod admitted_job;
mod decide;
mod envelope;
mod map_only;
mod objects;
mod patch;
mod patch_text;
mod reply;

pub use decide::review;
pub use reply::{Outcome, Reply};

/// Which webhook endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /mutate`: defaulting, as a JSON Patch.
    Mutate,
    /// `POST /validate`: every check, allowed or denied.
    Validate,
}

impl Endpoint {
    /// `"mutate"` or `"validate"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

/// Settings of the decisions that are the cluster operator's to choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Groups whose members may terminate anyone's job.
    pub admin_groups: Vec<String>,
    /// Whether users without a matching BatchUserContext run unrestricted (default: refused).
    pub allow_users_without_context: bool,
    /// The kbatch controller's user names: the only writers of status, owner references and
    /// the reservation finalizer.
    pub controller_users: Vec<String>,
    /// The garbage collector's user names (it may drop a BatchJob's dangling owners).
    pub garbage_collector_users: Vec<String>,
}

/// The controller's user name with the shipped manifests (its service account).
pub const CONTROLLER_USER: &str = "system:serviceaccount:kbatch-system:kbatch-controller";
/// The garbage collector's user names: its service account when the controller manager runs
/// with `--use-service-account-credentials` (the default of kubeadm and most distributions),
/// else the controller manager's own.
pub const GARBAGE_COLLECTOR_USERS: [&str; 2] = [
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:kube-controller-manager",
];

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            admin_groups: vec!["system:masters".to_owned(), "kbatch:admins".to_owned()],
            allow_users_without_context: false,
            controller_users: vec![CONTROLLER_USER.to_owned()],
            garbage_collector_users: GARBAGE_COLLECTOR_USERS.map(str::to_owned).to_vec(),
        }
    }
}
