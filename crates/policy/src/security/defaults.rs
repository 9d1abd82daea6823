//! Filling what a pod template leaves unset from the user's security policy.

use super::containers::for_each_security_mut;
use crate::api::{BatchJob, IdRule, SecurityPolicySpec};

fn must_run_as_min(rule: Option<&IdRule>) -> Option<i64> {
    rule.filter(|r| r.rule == "MustRunAs")
        .and_then(|r| r.ranges.first())
        .map(|r| r.min)
}

/// Sets unset fields of every pod template of the job as the policy requires: ids from the
/// first `MustRunAs` range, `runAsNonRoot` for `MustRunAsNonRoot`, required capability drops,
/// default capability adds, `allowPrivilegeEscalation: false` and `readOnlyRootFilesystem: true`
/// where the policy demands them, the required SELinux options, no service-account token
/// unless allowed, and the runtime's default seccomp profile unless the policy allows
/// privileged pods. Values the job sets are
/// never changed: validation judges them.
pub fn default_pod_security(policy: &SecurityPolicySpec, job: &mut BatchJob) {
    for group in &mut job.spec.task_groups {
        let Some(pod) = group.template.spec.as_mut() else {
            continue;
        };
        let pod_sc = pod.security_context.get_or_insert_with(Default::default);
        if let Some(uid) = must_run_as_min(policy.run_as_user.as_ref()) {
            pod_sc.run_as_user.get_or_insert(uid);
        }
        if policy
            .run_as_user
            .as_ref()
            .is_some_and(|r| r.rule == "MustRunAsNonRoot")
        {
            pod_sc.run_as_non_root.get_or_insert(true);
        }
        if let Some(gid) = must_run_as_min(policy.run_as_group.as_ref()) {
            pod_sc.run_as_group.get_or_insert(gid);
        }
        if let Some(gid) = must_run_as_min(policy.fs_group.as_ref()) {
            pod_sc.fs_group.get_or_insert(gid);
        }
        if let Some(gid) = must_run_as_min(policy.supplemental_groups.as_ref()) {
            let groups = pod_sc.supplemental_groups.get_or_insert_with(Vec::new);
            if groups.is_empty() {
                groups.push(gid);
            }
        }
        if let Some(options) = policy
            .se_linux
            .as_ref()
            .filter(|s| s.rule == "MustRunAs")
            .and_then(|s| s.se_linux_options.clone())
        {
            pod_sc.se_linux_options.get_or_insert(options);
        }
        super::restricted::default_pod(policy, pod);
        if pod
            .security_context
            .as_ref()
            .is_some_and(|sc| *sc == Default::default())
        {
            pod.security_context = None;
        }
        for_each_security_mut(pod, |slot| {
            let sc = slot.get_or_insert_with(Default::default);
            if policy.allow_privilege_escalation == Some(false) {
                sc.allow_privilege_escalation.get_or_insert(false);
            }
            if policy.read_only_root_filesystem == Some(true) {
                sc.read_only_root_filesystem.get_or_insert(true);
            }
            if !policy.required_drop_capabilities.is_empty()
                || !policy.default_add_capabilities.is_empty()
            {
                let caps = sc.capabilities.get_or_insert_with(Default::default);
                let drop = caps.drop.get_or_insert_with(Vec::new);
                for cap in &policy.required_drop_capabilities {
                    if !drop.contains(cap) {
                        drop.push(cap.clone());
                    }
                }
                if drop.is_empty() {
                    caps.drop = None;
                }
                if !policy.default_add_capabilities.is_empty()
                    && caps.add.as_ref().is_none_or(Vec::is_empty)
                {
                    caps.add = Some(policy.default_add_capabilities.clone());
                }
            }
            if *sc == Default::default() {
                *slot = None;
            }
        });
    }
}
