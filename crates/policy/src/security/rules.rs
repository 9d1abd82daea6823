//! Checking every pod template of a job against the user's security policy.

use super::containers::{ContainerView, containers};
use super::volumes::volume_types;
use crate::api::{BatchJob, IdRange, IdRule, SecurityPolicySpec};
use crate::violation::{Reason, Violations, pod_spec_path};
use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec};

/// Every way the job's pod templates break `policy` (the spec of user context `context`),
/// naming the task group, the container and the field.
pub fn validate_pod_security(
    context: &str,
    policy: &SecurityPolicySpec,
    job: &BatchJob,
) -> Violations {
    let mut v = Violations::new();
    if !super::restricted::queue_allowed(policy, &job.spec.batch_queue_name) {
        v.push(
            "spec.batchQueueName",
            Reason::Forbidden,
            format!(
                "queue {:?} is not one this user may use (allowed: {}) (BatchUserContext {context:?})",
                job.spec.batch_queue_name,
                policy.allowed_queues.join(", ")
            ),
        );
    }
    for (i, group) in job.spec.task_groups.iter().enumerate() {
        let Some(pod) = group.template.spec.as_ref() else {
            continue;
        };
        let mut check = Check {
            context,
            group: &group.name,
            group_index: i,
            v: &mut v,
        };
        check.pod(policy, pod);
        for c in containers(pod) {
            check.container(policy, pod.security_context.as_ref(), &c);
        }
    }
    v
}

/// The checks of one task group's pod. Paths and messages are written only for violations:
/// this runs on every admission.
struct Check<'a> {
    context: &'a str,
    group: &'a str,
    group_index: usize,
    v: &'a mut Violations,
}

fn in_ranges(id: i64, ranges: &[IdRange]) -> bool {
    ranges.iter().any(|r| (r.min..=r.max).contains(&id))
}

fn ranges_text(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{}-{}", r.min, r.max))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Check<'_> {
    /// The pod spec's path, e.g. `spec.taskGroups[0].template.spec`.
    fn at(&self) -> String {
        pod_spec_path(self.group_index)
    }

    /// A field of the pod's security context.
    fn pod_field(&self, field: &str) -> String {
        format!("{}.securityContext.{field}", self.at())
    }

    /// Refuses a field of container `c` (`field` starts with `.`); `message` follows the
    /// container's name.
    fn refuse_container(&mut self, c: &ContainerView<'_>, field: &str, message: &str) {
        let path = format!("{}.{}{field}", self.at(), c.path());
        self.refuse(path, format!("container {:?} {message}", c.name));
    }

    fn refuse(&mut self, field: String, message: String) {
        let message = format!(
            "task group {:?}: {message} (BatchUserContext {:?})",
            self.group, self.context
        );
        self.v.push(field, Reason::Forbidden, message);
    }

    fn pod(&mut self, policy: &SecurityPolicySpec, pod: &PodSpec) {
        for (path, why) in super::restricted::pod_problems(policy, pod) {
            self.refuse(format!("{}.{path}", self.at()), why);
        }
        for (field, set, allowed) in [
            ("hostNetwork", pod.host_network, policy.host_network),
            ("hostIPC", pod.host_ipc, policy.host_ipc),
            ("hostPID", pod.host_pid, policy.host_pid),
        ] {
            if set == Some(true) && allowed != Some(true) {
                self.refuse(
                    format!("{}.{field}", self.at()),
                    format!("{field} is not allowed"),
                );
            }
        }
        if !policy.volumes.iter().any(|v| v == "*") {
            for (j, volume) in pod.volumes.iter().flatten().enumerate() {
                let refused = volume_types(volume)
                    .find(|kind| !policy.volumes.iter().any(|allowed| allowed == kind));
                if let Some(kind) = refused {
                    self.refuse(
                        format!("{}.volumes[{j}]", self.at()),
                        format!(
                            "volume {:?} is of type {kind}, which is not allowed (allowed: {})",
                            volume.name,
                            if policy.volumes.is_empty() {
                                "none".to_owned()
                            } else {
                                policy.volumes.join(", ")
                            }
                        ),
                    );
                }
            }
        }
        let sc = pod.security_context.as_ref();
        let fs_group = sc.and_then(|s| s.fs_group);
        self.pod_group(
            "fsGroup",
            policy.fs_group.as_ref(),
            fs_group.as_slice(),
            fs_group.is_none(),
        );
        let supplemental = sc
            .and_then(|s| s.supplemental_groups.as_deref())
            .unwrap_or_default();
        self.pod_group(
            "supplementalGroups",
            policy.supplemental_groups.as_ref(),
            supplemental,
            supplemental.is_empty(),
        );
    }

    fn pod_group(&mut self, field: &str, rule: Option<&IdRule>, ids: &[i64], unset: bool) {
        let Some(rule) = rule else { return };
        match rule.rule.as_str() {
            "MustRunAs" if unset => self.refuse(
                self.pod_field(field),
                format!("{field} must be set within {}", ranges_text(&rule.ranges)),
            ),
            "MustRunAs" | "MayRunAs" => {
                for &id in ids.iter().filter(|id| !in_ranges(**id, &rule.ranges)) {
                    self.refuse(
                        self.pod_field(field),
                        format!(
                            "{field} {id} is outside the allowed ranges {}",
                            ranges_text(&rule.ranges)
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn container(
        &mut self,
        policy: &SecurityPolicySpec,
        pod_sc: Option<&PodSecurityContext>,
        c: &ContainerView<'_>,
    ) {
        for (field, why) in super::restricted::container_problems(policy, c) {
            let path = format!("{}.{}{field}", self.at(), c.path());
            self.refuse(path, format!("container {:?}: {why}", c.name));
        }
        let sc = c.security;
        if sc.and_then(|s| s.privileged) == Some(true) && policy.privileged != Some(true) {
            self.refuse_container(c, ".securityContext.privileged", "may not run privileged");
        }
        if policy.allow_privilege_escalation == Some(false)
            && sc.and_then(|s| s.allow_privilege_escalation) != Some(false)
        {
            self.refuse_container(
                c,
                ".securityContext.allowPrivilegeEscalation",
                "must set allowPrivilegeEscalation: false",
            );
        }
        if policy.read_only_root_filesystem == Some(true)
            && sc.and_then(|s| s.read_only_root_filesystem) != Some(true)
        {
            self.refuse_container(
                c,
                ".securityContext.readOnlyRootFilesystem",
                "must set readOnlyRootFilesystem: true",
            );
        }
        self.capabilities(policy, c);
        for (k, port) in c.ports.iter().enumerate() {
            let Some(host_port) = port.host_port.filter(|p| *p != 0) else {
                continue;
            };
            if !policy
                .host_ports
                .iter()
                .any(|r| (r.min..=r.max).contains(&host_port))
            {
                self.refuse_container(
                    c,
                    &format!(".ports[{k}].hostPort"),
                    &format!("may not use host port {host_port}"),
                );
            }
        }
        // Container settings override the pod's.
        let run_as_user = sc
            .and_then(|s| s.run_as_user)
            .or(pod_sc.and_then(|s| s.run_as_user));
        let run_as_group = sc
            .and_then(|s| s.run_as_group)
            .or(pod_sc.and_then(|s| s.run_as_group));
        let non_root = sc
            .and_then(|s| s.run_as_non_root)
            .or(pod_sc.and_then(|s| s.run_as_non_root));
        if let Some(rule) = &policy.run_as_user {
            let field = ".securityContext.runAsUser";
            match (rule.rule.as_str(), run_as_user) {
                ("MustRunAs", None) => self.refuse_container(
                    c,
                    field,
                    &format!("must run as a user within {}", ranges_text(&rule.ranges)),
                ),
                ("MustRunAs", Some(uid)) if !in_ranges(uid, &rule.ranges) => self.refuse_container(
                    c,
                    field,
                    &format!(
                        "runs as user {uid}, outside the allowed ranges {}",
                        ranges_text(&rule.ranges)
                    ),
                ),
                ("MustRunAsNonRoot", Some(0)) => {
                    self.refuse_container(c, field, "may not run as root (user 0)")
                }
                ("MustRunAsNonRoot", None) if non_root != Some(true) => self.refuse_container(
                    c,
                    ".securityContext.runAsNonRoot",
                    "must set runAsNonRoot: true or a non-zero runAsUser",
                ),
                _ => {}
            }
        }
        if let Some(rule) = &policy.run_as_group {
            let field = ".securityContext.runAsGroup";
            match (rule.rule.as_str(), run_as_group) {
                ("MustRunAs", None) => self.refuse_container(
                    c,
                    field,
                    &format!("must run as a group within {}", ranges_text(&rule.ranges)),
                ),
                ("MustRunAs" | "MayRunAs", Some(gid)) if !in_ranges(gid, &rule.ranges) => self
                    .refuse_container(
                        c,
                        field,
                        &format!(
                            "runs as group {gid}, outside the allowed ranges {}",
                            ranges_text(&rule.ranges)
                        ),
                    ),
                _ => {}
            }
        }
        if let Some(required) = policy
            .se_linux
            .as_ref()
            .filter(|s| s.rule == "MustRunAs")
            .and_then(|s| s.se_linux_options.as_ref())
        {
            let actual = sc
                .and_then(|s| s.se_linux_options.as_ref())
                .or(pod_sc.and_then(|s| s.se_linux_options.as_ref()));
            let matches = |want: &Option<String>, got: Option<&Option<String>>| {
                want.is_none() || got.is_some_and(|g| g == want)
            };
            let ok = actual.is_some_and(|a| {
                matches(&required.level, Some(&a.level))
                    && matches(&required.role, Some(&a.role))
                    && matches(&required.type_, Some(&a.type_))
                    && matches(&required.user, Some(&a.user))
            });
            if !ok {
                self.refuse_container(
                    c,
                    ".securityContext.seLinuxOptions",
                    "must use the SELinux options the policy requires",
                );
            }
        }
    }

    fn capabilities(&mut self, policy: &SecurityPolicySpec, c: &ContainerView<'_>) {
        let caps = c.security.and_then(|s| s.capabilities.as_ref());
        let dropped = caps.and_then(|caps| caps.drop.as_deref()).unwrap_or(&[]);
        let drops_all = dropped.iter().any(|d| d == "ALL");
        for cap in &policy.required_drop_capabilities {
            if !drops_all && !dropped.contains(cap) {
                self.refuse_container(
                    c,
                    ".securityContext.capabilities.drop",
                    &format!("must drop capability {cap}"),
                );
            }
        }
        let may_add = |cap: &String| {
            policy
                .allowed_capabilities
                .iter()
                .any(|a| a == "*" || a == cap)
                || policy.default_add_capabilities.contains(cap)
        };
        for (k, cap) in caps
            .and_then(|caps| caps.add.as_deref())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if !may_add(cap) {
                self.refuse_container(
                    c,
                    &format!(".securityContext.capabilities.add[{k}]"),
                    &format!("may not add capability {cap}"),
                );
            }
        }
    }
}
