//! The shape of queues, priorities, constraint objects, budgets, cost models and user contexts.

use crate::api::{
    BatchBudgetSpec, BatchCostModelSpec, BatchJobConstraintSpec, BatchPrioritySpec, BatchQueueSpec,
    BatchUserContextSpec, IdRule, SecurityPolicySpec,
};
use crate::constraint::ConstraintSet;
use crate::duration::WallTime;
use crate::names::dns1123_subdomain_problem;
use crate::security::is_volume_type;
use crate::violation::{Reason, Violations};
use std::collections::HashSet;

/// The resources a cost model may price.
pub const PRICED_RESOURCES: [&str; 3] = ["cpu", "memory", "nvidia.com/gpu"];

/// The budget window lengths kbatch keeps: a day and thirty days.
pub const WINDOW_DAY: WallTime = WallTime::from_secs(24 * 3600);
/// Thirty days.
pub const WINDOW_MONTH: WallTime = WallTime::from_secs(30 * 24 * 3600);

fn required_name(at: &str, name: &str, what: &str, v: &mut Violations) {
    if name.is_empty() {
        v.push(at, Reason::Required, format!("name the {what}"));
    } else if let Some(why) = dns1123_subdomain_problem(name) {
        v.push(at, Reason::InvalidName, why);
    }
}

/// Checks a BatchQueue: its priority and budget are named, constraint names are valid and unique.
pub fn validate_queue(spec: &BatchQueueSpec) -> Violations {
    let mut v = Violations::new();
    required_name(
        "spec.batchPriorityName",
        &spec.batch_priority_name,
        "BatchPriority of the queue",
        &mut v,
    );
    required_name(
        "spec.batchBudgetName",
        &spec.batch_budget_name,
        "BatchBudget of the queue",
        &mut v,
    );
    let mut seen = HashSet::new();
    for (i, name) in spec.constraint_names.iter().enumerate() {
        let at = format!("spec.constraintNames[{i}]");
        if let Some(why) = dns1123_subdomain_problem(name) {
            v.push(at, Reason::InvalidName, why);
        } else if !seen.insert(name) {
            v.push(
                at,
                Reason::Duplicate,
                format!("constraint {name:?} is named twice"),
            );
        }
    }
    v
}

/// Checks a BatchPriority: a description is required, as in the original API.
pub fn validate_priority(spec: &BatchPrioritySpec) -> Violations {
    let mut v = Violations::new();
    if spec.description.trim().is_empty() {
        v.push(
            "spec.description",
            Reason::Required,
            "describe what the priority level is for",
        );
    }
    v
}

/// Checks a BatchJobConstraint: every rule parses for its field and operator.
pub fn validate_constraint_object(spec: &BatchJobConstraintSpec) -> Violations {
    match ConstraintSet::parse("", spec) {
        Ok(_) => Violations::new(),
        Err(v) => v,
    }
}

/// Checks a BatchBudget: windows of 24h/1d or 720h/30d, each at most once, amounts ≥ 0.
pub fn validate_budget(spec: &BatchBudgetSpec) -> Violations {
    let mut v = Violations::new();
    required_name(
        "spec.batchCostModelName",
        &spec.batch_cost_model_name,
        "BatchCostModel that prices the jobs",
        &mut v,
    );
    let mut seen: Vec<(WallTime, usize)> = Vec::new();
    for (i, w) in spec.budget_windows.iter().enumerate() {
        let at = format!("spec.budgetWindows[{i}]");
        match WallTime::parse(&w.duration) {
            Err(e) => v.push(format!("{at}.duration"), Reason::Invalid, e.to_string()),
            Ok(d) if d != WINDOW_DAY && d != WINDOW_MONTH => v.push(
                format!("{at}.duration"),
                Reason::Invalid,
                format!(
                    "window {:?} is not supported: use 24h (1d) or 720h (30d)",
                    w.duration
                ),
            ),
            Ok(d) => {
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == d) {
                    v.push(
                        format!("{at}.duration"),
                        Reason::Duplicate,
                        format!(
                            "window {} is already defined by spec.budgetWindows[{first}]",
                            w.duration
                        ),
                    );
                } else {
                    seen.push((d, i));
                }
            }
        }
        if !w.amount.is_finite() || w.amount < 0.0 {
            v.push(
                format!("{at}.amount"),
                Reason::OutOfRange,
                format!("amount is {}; it must be 0 or more", w.amount),
            );
        }
    }
    v
}

/// Checks a BatchCostModel: known resources, prices ≥ 0, a multiplier in (0, 1].
pub fn validate_cost_model(spec: &BatchCostModelSpec) -> Violations {
    let mut v = Violations::new();
    for (name, price) in &spec.resources {
        let at = format!("spec.resources[{name}]");
        if !PRICED_RESOURCES.contains(&name.as_str()) {
            v.push(
                &at,
                Reason::Invalid,
                format!("kbatch cannot price {name:?}: expected cpu, memory or nvidia.com/gpu"),
            );
        }
        if !price.is_finite() || *price < 0.0 {
            v.push(
                at,
                Reason::OutOfRange,
                format!("price is {price}; it must be 0 or more"),
            );
        }
    }
    if let Some(m) = spec.preemptible_vm_cost_multiplier
        && !(m > 0.0 && m <= 1.0)
    {
        v.push(
            "spec.preemptibleVMCostMultiplier",
            Reason::OutOfRange,
            format!("multiplier is {m}; it must be above 0 and at most 1"),
        );
    }
    v
}

/// Checks a BatchUserContext: a user is named and every rule of its policy is well formed.
pub fn validate_user_context(spec: &BatchUserContextSpec) -> Violations {
    let mut v = Violations::new();
    if spec.user_name.is_empty() {
        v.push(
            "spec.userName",
            Reason::Required,
            "name the Kubernetes user, or \"*\" for everyone",
        );
    }
    if let Some(p) = &spec.security_policy_spec {
        validate_security_policy(p, &mut v);
    }
    v
}

fn validate_security_policy(p: &SecurityPolicySpec, v: &mut Violations) {
    let at = "spec.securityPolicySpec";
    let id_rules: [(&str, &Option<IdRule>, &[&str]); 4] = [
        (
            "runAsUser",
            &p.run_as_user,
            &["MustRunAs", "MustRunAsNonRoot", "RunAsAny"],
        ),
        (
            "runAsGroup",
            &p.run_as_group,
            &["MustRunAs", "MayRunAs", "RunAsAny"],
        ),
        (
            "fsGroup",
            &p.fs_group,
            &["MustRunAs", "MayRunAs", "RunAsAny"],
        ),
        (
            "supplementalGroups",
            &p.supplemental_groups,
            &["MustRunAs", "MayRunAs", "RunAsAny"],
        ),
    ];
    for (field, rule, allowed) in id_rules {
        let Some(rule) = rule else { continue };
        let at = format!("{at}.{field}");
        if !allowed.contains(&rule.rule.as_str()) {
            v.push(
                format!("{at}.rule"),
                Reason::Invalid,
                format!(
                    "unknown {field} rule {:?}: expected one of {}",
                    rule.rule,
                    allowed.join(", ")
                ),
            );
            continue;
        }
        let needs_ranges = matches!(rule.rule.as_str(), "MustRunAs" | "MayRunAs");
        if needs_ranges && rule.ranges.is_empty() {
            v.push(
                format!("{at}.ranges"),
                Reason::Required,
                format!("{} needs at least one id range", rule.rule),
            );
        }
        for (i, r) in rule.ranges.iter().enumerate() {
            if r.min < 0 || r.max < 0 {
                v.push(
                    format!("{at}.ranges[{i}]"),
                    Reason::OutOfRange,
                    "ids must be 0 or more",
                );
            } else if r.min > r.max {
                v.push(
                    format!("{at}.ranges[{i}]"),
                    Reason::OutOfRange,
                    format!("range is inverted: min {} is above max {}", r.min, r.max),
                );
            }
        }
    }
    if let Some(se) = &p.se_linux
        && !matches!(se.rule.as_str(), "MustRunAs" | "RunAsAny")
    {
        v.push(
            format!("{at}.seLinux.rule"),
            Reason::Invalid,
            format!(
                "unknown seLinux rule {:?}: expected MustRunAs or RunAsAny",
                se.rule
            ),
        );
    }
    for (i, volume) in p.volumes.iter().enumerate() {
        if !is_volume_type(volume) {
            v.push(
                format!("{at}.volumes[{i}]"),
                Reason::Invalid,
                format!("unknown volume type {volume:?}"),
            );
        }
    }
    for (i, r) in p.host_ports.iter().enumerate() {
        if !(0..=65535).contains(&r.min) || !(0..=65535).contains(&r.max) || r.min > r.max {
            v.push(
                format!("{at}.hostPorts[{i}]"),
                Reason::OutOfRange,
                format!(
                    "host port range {}-{} must lie within 0-65535 with min ≤ max",
                    r.min, r.max
                ),
            );
        }
    }
    for (i, cap) in p.allowed_capabilities.iter().enumerate() {
        if p.required_drop_capabilities.iter().any(|d| d == cap) {
            v.push(
                format!("{at}.allowedCapabilities[{i}]"),
                Reason::Invalid,
                format!("capability {cap} is both allowed and required to be dropped"),
            );
        }
    }
    for (i, cap) in p.default_add_capabilities.iter().enumerate() {
        if p.required_drop_capabilities
            .iter()
            .any(|d| d == cap || d == "ALL")
        {
            v.push(
                format!("{at}.defaultAddCapabilities[{i}]"),
                Reason::Invalid,
                format!("capability {cap} is both added by default and required to be dropped"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_user_context_lists_volume_types_by_their_policy_names() {
        for (volumes, refused) in [
            (vec!["*"], vec![]),
            (
                vec!["awsElasticBlockStore", "cephFS", "vsphereVolume"],
                vec![],
            ),
            (vec!["configMap", "cephfs", "HostPath"], vec![1, 2]),
        ] {
            let spec: BatchUserContextSpec = serde_json::from_value(serde_json::json!({
                "userName": "alice",
                "securityPolicySpec": {"volumes": volumes},
            }))
            .unwrap();
            let fields: Vec<String> = validate_user_context(&spec)
                .iter()
                .map(|v| v.field.clone())
                .collect();
            let expected: Vec<String> = refused
                .iter()
                .map(|i| format!("spec.securityPolicySpec.volumes[{i}]"))
                .collect();
            assert_eq!(fields, expected, "{volumes:?}");
        }
    }
}
