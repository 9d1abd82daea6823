//! Effective pod resources, computed the way Kubernetes does for scheduling.
//!
//! A container's request defaults to its limit. The pod needs the larger of what its
//! containers (plus sidecars) need together and what its heaviest init step needs; pod-level
//! `spec.resources` (Kubernetes 1.34+) overrides both when it sets the resource. Pod overhead
//! is left out: it is set by the RuntimeClass, not by the practitioner the rule is about.

use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};

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
        let mut parsed = |map: Option<&std::collections::BTreeMap<String, _>>, kind: &str| {
            let mut out = Vec::new();
            for (name, q) in map.into_iter().flatten() {
                let q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity = q;
                match Quantity::parse(&q.0) {
                    Ok(v) if v.is_negative() => problems.push((
                        format!("{}resources.{kind}[{name}]", at()),
                        format!("{:?} is negative: resource quantities must be ≥ 0", q.0),
                    )),
                    Ok(v) => out.push((name.clone(), v, q.0.clone())),
                    Err(e) => {
                        problems.push((format!("{}resources.{kind}[{name}]", at()), e.to_string()))
                    }
                }
            }
            out
        };
        let requests = parsed(r.requests.as_ref(), "requests");
        let limits = parsed(r.limits.as_ref(), "limits");
        for (name, request, raw_request) in &requests {
            if let Some((_, limit, raw_limit)) = limits.iter().find(|(n, _, _)| n == name)
                && request > limit
            {
                problems.push((
                    format!("{}resources.requests[{name}]", at()),
                    format!("request {raw_request} is above the limit {raw_limit}"),
                ));
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
