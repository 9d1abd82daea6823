//! Effective pod resources, computed the way Kubernetes does for scheduling.
//!
//! A container's request defaults to its limit. The pod needs the larger of what its
//! containers (plus sidecars) need together and what its heaviest init step needs; pod-level
//! `spec.resources` (Kubernetes 1.34+) overrides both when it sets the resource. Pod overhead
//! is left out: it is set by the RuntimeClass, not by the practitioner the rule is about.

use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use std::collections::BTreeMap;

/// The extended resource name of NVIDIA GPUs.
pub const GPU: &str = "nvidia.com/gpu";

/// A quantity in a pod spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuantity {
    /// Path below the pod spec, e.g. `containers[0].resources.requests.cpu`.
    pub path: String,
    /// Why it does not parse.
    pub message: String,
}

/// The effective request of `resource` for one pod, `None` when nothing in the pod sets it.
///
/// ```
/// use k8s_openapi::api::core::v1::PodSpec;
/// use kbatch_policy::resources::effective_request;
///
/// let spec: PodSpec = serde_json::from_value(serde_json::json!({
///     "initContainers": [{"name": "fetch", "resources": {"requests": {"cpu": "500m"}}}],
///     "containers": [
///         {"name": "a", "resources": {"limits": {"cpu": 1.5}}},
///         {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
///     ]
/// })).unwrap();
/// let cpu = effective_request(&spec, "cpu").unwrap().unwrap();
/// assert_eq!(cpu.to_string(), "1750m");
/// ```
pub fn effective_request(spec: &PodSpec, resource: &str) -> Result<Option<Quantity>, BadQuantity> {
    if let Some(pod_level) = request_of(spec.resources.as_ref(), resource, || "resources".into())? {
        return Ok(Some(pod_level));
    }
    let mut found = false;
    let mut add = |sum: Quantity, q: Option<Quantity>, path: &dyn Fn() -> String| match q {
        None => Ok(sum),
        Some(q) => {
            found = true;
            sum.checked_add(q).ok_or_else(|| too_large(path()))
        }
    };
    let mut containers = Quantity::ZERO;
    for (i, c) in spec.containers.iter().enumerate() {
        let path = || format!("containers[{i}]");
        containers = add(containers, container_request(c, resource, &path)?, &path)?;
    }
    let mut sidecars = Quantity::ZERO;
    let mut heaviest_init = Quantity::ZERO;
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let path = || format!("initContainers[{i}]");
        let own = container_request(c, resource, &path)?;
        let step = if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar keeps running next to everything started after it.
            containers = add(containers, own, &path)?;
            sidecars = add(sidecars, own, &path)?;
            sidecars
        } else {
            add(sidecars, own, &path)?
        };
        heaviest_init = heaviest_init.max(step);
    }
    Ok(found.then(|| containers.max(heaviest_init)))
}

/// Every quantity in the pod spec that does not parse or is negative, and every request above
/// its limit, as (path below the pod spec, message).
pub fn resource_problems(spec: &PodSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut check = |requirements: Option<&ResourceRequirements>, at: &dyn Fn() -> String| {
        let Some(r) = requirements else { return };
        let empty = BTreeMap::new();
        let requests = r.requests.as_ref().unwrap_or(&empty);
        let limits = r.limits.as_ref().unwrap_or(&empty);
        let mut report = |kind: &str, name: &str, why: String| {
            problems.push((format!("{}resources.{kind}[{name}]", at()), why));
        };
        for (name, q) in requests {
            match usable_quantity(&q.0) {
                Err(why) => report("requests", name, why),
                Ok(request) => {
                    if let Some(raw_limit) = limits.get(name)
                        && let Ok(limit) = usable_quantity(&raw_limit.0)
                        && request > limit
                    {
                        let why = format!("request {} is above the limit {}", q.0, raw_limit.0);
                        report("requests", name, why);
                    }
                }
            }
        }
        for (name, q) in limits {
            if let Err(why) = usable_quantity(&q.0) {
                report("limits", name, why);
            }
        }
    };
    // Paths are only written for problems: this runs on every admission.
    check(spec.resources.as_ref(), &String::new);
    for (i, c) in spec.containers.iter().enumerate() {
        check(c.resources.as_ref(), &|| format!("containers[{i}]."));
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        check(c.resources.as_ref(), &|| format!("initContainers[{i}]."));
    }
    problems
}

/// A quantity a resource may have, or why not.
fn usable_quantity(raw: &str) -> Result<Quantity, String> {
    match Quantity::parse(raw) {
        Ok(v) if v.is_negative() => Err(format!(
            "{raw:?} is negative: resource quantities must be ≥ 0"
        )),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

fn container_request(
    c: &Container,
    resource: &str,
    path: &dyn Fn() -> String,
) -> Result<Option<Quantity>, BadQuantity> {
    request_of(c.resources.as_ref(), resource, || {
        format!("{}.resources", path())
    })
}

/// The request of `resource`, defaulting to its limit.
fn request_of(
    requirements: Option<&ResourceRequirements>,
    resource: &str,
    path: impl Fn() -> String,
) -> Result<Option<Quantity>, BadQuantity> {
    let Some(r) = requirements else {
        return Ok(None);
    };
    for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        if let Some(q) = map.as_ref().and_then(|m| m.get(resource)) {
            return Quantity::parse(&q.0).map(Some).map_err(|e| BadQuantity {
                path: format!("{}.{kind}[{resource}]", path()),
                message: e.to_string(),
            });
        }
    }
    Ok(None)
}

fn too_large(path: String) -> BadQuantity {
    BadQuantity {
        path,
        message: "the sum of the pod's containers is too large".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> PodSpec {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn resource_problems_name_the_quantity_and_say_what_is_wrong() {
        let quantities = |resources: serde_json::Value| {
            pod(json!({
                "containers": [{"name": "ok", "resources": {"requests": {"cpu": "1"}}},
                               {"name": "c", "resources": resources}],
            }))
        };
        for (resources, expected) in [
            (
                json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}}),
                vec![],
            ),
            // A request equal to its limit is fine; a request without a limit is unbounded.
            (
                json!({"requests": {"cpu": "1", "memory": "8Gi"}, "limits": {"cpu": "1000m"}}),
                vec![],
            ),
            (
                json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}),
                vec![(
                    "containers[1].resources.requests[cpu]",
                    "request 2 is above the limit 1500m",
                )],
            ),
            (
                json!({"requests": {"memory": "-1Gi"}}),
                vec![(
                    "containers[1].resources.requests[memory]",
                    "\"-1Gi\" is negative: resource quantities must be ≥ 0",
                )],
            ),
            // A bad limit is reported once and compared with nothing.
            (
                json!({"requests": {"cpu": "2"}, "limits": {"cpu": "two"}}),
                vec![("containers[1].resources.limits[cpu]", "")],
            ),
            (
                json!({"requests": {"cpu": "lots"}, "limits": {"cpu": "1", "memory": "-5"}}),
                vec![
                    ("containers[1].resources.requests[cpu]", ""),
                    (
                        "containers[1].resources.limits[memory]",
                        "\"-5\" is negative: resource quantities must be ≥ 0",
                    ),
                ],
            ),
        ] {
            let problems = resource_problems(&quantities(resources.clone()));
            let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
            let wanted: Vec<&str> = expected.iter().map(|(p, _)| *p).collect();
            assert_eq!(paths, wanted, "{resources}");
            for ((_, message), (_, want)) in problems.iter().zip(&expected) {
                // "" stands for the quantity parser's own message, tested with the parser.
                if want.is_empty() {
                    assert!(!message.is_empty());
                } else {
                    assert_eq!(message, want, "{resources}");
                }
            }
        }
    }

    #[test]
    fn resource_problems_cover_init_containers_and_the_pod() {
        let spec = pod(json!({
            "resources": {"requests": {"cpu": "-1"}},
            "containers": [{"name": "c"}],
            "initContainers": [{"name": "i", "resources": {"limits": {"memory": "x"}}}],
        }));
        let paths: Vec<String> = resource_problems(&spec)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths,
            [
                "resources.requests[cpu]",
                "initContainers[0].resources.limits[memory]"
            ]
        );
    }
}
