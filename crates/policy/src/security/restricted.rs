//! What a BatchUserContext enforces beyond PodSecurityPolicy's fields:
//! - who the pods run as: service accounts (`allowedServiceAccounts`, default `default`) and
//!   their token (`automountServiceAccountToken`, off unless allowed);
//! - which claims they mount (`allowedPersistentVolumeClaims`) and which queues the user may
//!   use (`allowedQueues`);
//! - unless the context allows privileged pods, the Kubernetes *restricted* Pod Security
//!   Standard's rules for seccomp (RuntimeDefault or Localhost; the webhook writes
//!   RuntimeDefault where the pod sets none), AppArmor (no `Unconfined`), `procMount`
//!   (`Default` only), sysctls (the safe set) and SELinux (no user or role; a container type
//!   only).

use super::containers::ContainerView;
use crate::api::SecurityPolicySpec;
use k8s_openapi::api::core::v1::{
    AppArmorProfile, PodSecurityContext, PodSpec, SELinuxOptions, SeccompProfile,
};

/// The sysctls the restricted (and baseline) standard allows: namespaced, and safe to share a
/// node with others.
pub const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The SELinux types the restricted standard allows.
pub const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn listed(list: &[String], name: &str) -> bool {
    list.iter().any(|x| x == "*" || x == name)
}

/// Whether `policy` applies the restricted standard (it does unless it allows privileged pods).
pub fn restricted(policy: &SecurityPolicySpec) -> bool {
    policy.privileged != Some(true)
}

/// Whether `queue` is one the user may submit to.
pub fn queue_allowed(policy: &SecurityPolicySpec, queue: &str) -> bool {
    policy.allowed_queues.is_empty() || listed(&policy.allowed_queues, queue)
}

/// Problems of the pod as a whole, as `(path below the pod spec, message)`.
pub fn pod_problems(policy: &SecurityPolicySpec, pod: &PodSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    #[allow(deprecated)] // `serviceAccount` is deprecated, and still honoured when alone.
    let account = pod
        .service_account_name
        .as_deref()
        .or(pod.service_account.as_deref())
        .filter(|a| !a.is_empty())
        .unwrap_or("default");
    let accounts_allowed = if policy.allowed_service_accounts.is_empty() {
        account == "default"
    } else {
        listed(&policy.allowed_service_accounts, account)
    };
    if !accounts_allowed {
        let allowed = if policy.allowed_service_accounts.is_empty() {
            "default".to_owned()
        } else {
            policy.allowed_service_accounts.join(", ")
        };
        out.push((
            "serviceAccountName".to_owned(),
            format!("may not run as service account {account:?} (allowed: {allowed})"),
        ));
    }
    if pod.automount_service_account_token == Some(true)
        && policy.automount_service_account_token != Some(true)
    {
        out.push((
            "automountServiceAccountToken".to_owned(),
            "may not mount its service account's token".to_owned(),
        ));
    }
    if !policy.allowed_persistent_volume_claims.is_empty() {
        for (j, volume) in pod.volumes.iter().flatten().enumerate() {
            let Some(claim) = volume.persistent_volume_claim.as_ref() else {
                continue;
            };
            if !listed(&policy.allowed_persistent_volume_claims, &claim.claim_name) {
                out.push((
                    format!("volumes[{j}].persistentVolumeClaim.claimName"),
                    format!(
                        "may not mount claim {:?} (allowed: {})",
                        claim.claim_name,
                        policy.allowed_persistent_volume_claims.join(", ")
                    ),
                ));
            }
        }
    }
    if restricted(policy)
        && let Some(sc) = pod.security_context.as_ref()
    {
        pod_context_problems(sc, &mut out);
    }
    out
}

fn pod_context_problems(sc: &PodSecurityContext, out: &mut Vec<(String, String)>) {
    let at = |field: &str| format!("securityContext.{field}");
    if let Some(why) = seccomp_problem(sc.seccomp_profile.as_ref()) {
        out.push((at("seccompProfile.type"), why));
    }
    if let Some(why) = apparmor_problem(sc.app_armor_profile.as_ref()) {
        out.push((at("appArmorProfile.type"), why));
    }
    for (k, sysctl) in sc.sysctls.iter().flatten().enumerate() {
        if !SAFE_SYSCTLS.contains(&sysctl.name.as_str()) {
            out.push((
                at(&format!("sysctls[{k}]")),
                format!("sysctl {:?} is not among the safe ones the restricted Pod Security Standard allows", sysctl.name),
            ));
        }
    }
    for (field, why) in selinux_problems(sc.se_linux_options.as_ref()) {
        out.push((at(&format!("seLinuxOptions.{field}")), why));
    }
}

/// Problems of one container's security context, as `(path below the container, message)`.
pub fn container_problems(
    policy: &SecurityPolicySpec,
    c: &ContainerView<'_>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(sc) = c.security.filter(|_| restricted(policy)) else {
        return out;
    };
    if let Some(why) = seccomp_problem(sc.seccomp_profile.as_ref()) {
        out.push((".securityContext.seccompProfile.type".to_owned(), why));
    }
    if let Some(why) = apparmor_problem(sc.app_armor_profile.as_ref()) {
        out.push((".securityContext.appArmorProfile.type".to_owned(), why));
    }
    if let Some(mount) = sc.proc_mount.as_deref().filter(|m| *m != "Default") {
        out.push((
            ".securityContext.procMount".to_owned(),
            format!("procMount {mount:?} is not allowed: only Default"),
        ));
    }
    for (field, why) in selinux_problems(sc.se_linux_options.as_ref()) {
        out.push((format!(".securityContext.seLinuxOptions.{field}"), why));
    }
    out
}

fn seccomp_problem(profile: Option<&SeccompProfile>) -> Option<String> {
    let kind = profile?.type_.as_str();
    (!matches!(kind, "RuntimeDefault" | "Localhost")).then(|| {
        format!("seccomp profile {kind:?} is not allowed: use RuntimeDefault or Localhost")
    })
}

fn apparmor_problem(profile: Option<&AppArmorProfile>) -> Option<String> {
    let kind = profile?.type_.as_str();
    (kind == "Unconfined").then(|| "AppArmor profile Unconfined is not allowed".to_owned())
}

fn selinux_problems(options: Option<&SELinuxOptions>) -> Vec<(&'static str, String)> {
    let Some(o) = options else { return Vec::new() };
    let mut out = Vec::new();
    for (field, value) in [("user", &o.user), ("role", &o.role)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.push((field, format!("an SELinux {field} ({v:?}) may not be set")));
        }
    }
    if let Some(t) = o.type_.as_deref().filter(|t| !t.is_empty())
        && !SELINUX_TYPES.contains(&t)
    {
        out.push((
            "type",
            format!(
                "SELinux type {t:?} is not allowed (allowed: {})",
                SELINUX_TYPES.join(", ")
            ),
        ));
    }
    out
}

/// What the webhook writes where the template leaves it unset: no token unless allowed, and
/// the runtime's default seccomp profile under the restricted standard.
pub fn default_pod(policy: &SecurityPolicySpec, pod: &mut PodSpec) {
    if policy.automount_service_account_token != Some(true) {
        pod.automount_service_account_token.get_or_insert(false);
    }
    if restricted(policy) {
        let sc = pod.security_context.get_or_insert_with(Default::default);
        sc.seccomp_profile.get_or_insert_with(|| SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        });
    }
}
