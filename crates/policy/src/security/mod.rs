//! BatchUserContext: the pod security rules of the user who submits a job.
//!
//! The requesting user's context in the job's namespace is resolved (an exact `userName` wins
//! over `*`), unset fields of every pod template are defaulted from it, and every container
//! (init and ephemeral ones too) is checked against it. Only the admission request's user
//! counts: nothing written in the object can name another user.

mod containers;
mod defaults;
mod restricted;
mod rules;
mod volumes;

pub use defaults::default_pod_security;
pub use restricted::{SAFE_SYSCTLS, SELINUX_TYPES};
pub use rules::validate_pod_security;
pub use volumes::is_volume_type;

use crate::api::{BatchJob, BatchUserContext};
use crate::snapshot::PolicySet;
use crate::submission::job_namespace;
use crate::violation::{Reason, Violations};
use kube::ResourceExt;

/// The user context that applies to `user` in `namespace`: the one naming the user exactly,
/// else the one for `*`; among several, the first by object name.
pub fn resolve_context<'p>(
    policy: &'p PolicySet,
    namespace: &str,
    user: &str,
) -> Option<&'p BatchUserContext> {
    // One pass, no Vec: this runs for every BatchJob admitted.
    let mut wildcard = None;
    for context in policy.user_contexts_in(namespace) {
        if context.spec.user_name == user {
            return Some(context);
        }
        if wildcard.is_none() && context.spec.user_name == "*" {
            wildcard = Some(context);
        }
    }
    wildcard
}

/// Whether the user may submit at all: refused without a context unless the cluster allows
/// users without one.
pub fn require_context<'p>(
    policy: &'p PolicySet,
    job: &BatchJob,
    user: &str,
    allow_without_context: bool,
) -> Result<Option<&'p BatchUserContext>, Violations> {
    let namespace = job_namespace(job);
    match resolve_context(policy, namespace, user) {
        Some(context) => Ok(Some(context)),
        None if allow_without_context => Ok(None),
        None => {
            let mut v = Violations::new();
            v.push(
                "metadata.namespace",
                Reason::Forbidden,
                format!(
                    "user {user:?} has no BatchUserContext in namespace {namespace:?} (none names the user and there is no \"*\" context); ask an administrator to create one"
                ),
            );
            Err(v)
        }
    }
}

/// Defaults the job's pod templates from the user's context, if the user has one.
pub fn default_job_security(policy: &PolicySet, job: &mut BatchJob, user: &str) {
    let namespace = job_namespace(job);
    if let Some(spec) =
        resolve_context(policy, namespace, user).and_then(|c| c.spec.security_policy_spec.as_ref())
    {
        default_pod_security(spec, job);
    }
}

/// Every way the job breaks its submitter's context (or the lack of one).
pub fn validate_job_security(
    policy: &PolicySet,
    job: &BatchJob,
    user: &str,
    allow_without_context: bool,
) -> Violations {
    match require_context(policy, job, user, allow_without_context) {
        Err(v) => v,
        Ok(None) => Violations::new(),
        Ok(Some(context)) => match &context.spec.security_policy_spec {
            None => Violations::new(),
            Some(spec) => validate_pod_security(&context.name_any(), spec, job),
        },
    }
}

#[cfg(test)]
mod tests;
