//! Where tasks run is kbatch's to decide: GPU models and preemptible VMs are chosen by
//! `spec.batchNodeSelector`, which the queue's constraints check, and the controller turns into
//! node selectors, affinity and tolerations. A pod template that set them itself would walk
//! around those constraints, so it may not name these labels, tolerate their taints, or name
//! a node.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

/// Node label naming the GPU model (GKE's convention, as in the original API).
pub const GPU_MODEL_LABEL: &str = "cloud.google.com/gke-accelerator";
/// Node label (and taint key) of preemptible VMs.
pub const PREEMPTIBLE_LABEL: &str = "cloud.google.com/gke-preemptible";

const PLACED_BY_KBATCH: [&str; 2] = [GPU_MODEL_LABEL, PREEMPTIBLE_LABEL];

const WHY: &str = "GPU models and preemptible VMs are chosen with spec.batchNodeSelector (gpuType, usePreemptibleVM), which the queue's constraints check";

fn keys<'a>(terms: impl Iterator<Item = &'a NodeSelectorTerm>) -> Vec<(usize, usize, &'a str)> {
    terms
        .enumerate()
        .flat_map(|(t, term)| {
            let expressions = term.match_expressions.iter().flatten();
            expressions
                .enumerate()
                .map(move |(e, r): (usize, &NodeSelectorRequirement)| (t, e, r.key.as_str()))
        })
        .collect()
}

/// What in `pod` places it itself, as `(path below the pod spec, message)`.
///
/// ```
/// use kbatch_policy::placement::template_placement_problems;
/// use k8s_openapi::api::core::v1::PodSpec;
///
/// let pod: PodSpec = serde_json::from_value(serde_json::json!({"containers": [],
///     "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}})).unwrap();
/// let problems = template_placement_problems(&pod);
/// assert_eq!(problems[0].0, "nodeSelector[cloud.google.com/gke-accelerator]");
/// ```
pub fn template_placement_problems(pod: &PodSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(node) = pod.node_name.as_deref().filter(|n| !n.is_empty()) {
        out.push((
            "nodeName".to_owned(),
            format!("a task may not name its node ({node:?}): the scheduler places pods"),
        ));
    }
    for key in pod.node_selector.iter().flatten().map(|(k, _)| k) {
        if PLACED_BY_KBATCH.contains(&key.as_str()) {
            out.push((
                format!("nodeSelector[{key}]"),
                format!("{key} is kbatch's: {WHY}"),
            ));
        }
    }
    let node_affinity = pod.affinity.as_ref().and_then(|a| a.node_affinity.as_ref());
    if let Some(affinity) = node_affinity {
        let required = affinity
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flat_map(|s| s.node_selector_terms.iter());
        for (t, e, key) in keys(required) {
            if PLACED_BY_KBATCH.contains(&key) {
                out.push((
                    format!("affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{t}].matchExpressions[{e}].key"),
                    format!("{key} is kbatch's: {WHY}"),
                ));
            }
        }
        let required_fields = affinity
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flat_map(|s| s.node_selector_terms.iter())
            .enumerate()
            .filter(|(_, term)| term.match_fields.as_ref().is_some_and(|f| !f.is_empty()));
        for (t, _) in required_fields {
            out.push((
                format!("affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{t}].matchFields"),
                "a task may not pick nodes by name: the scheduler places pods".to_owned(),
            ));
        }
        let preferred = affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| &p.preference);
        for (t, e, key) in keys(preferred) {
            if PLACED_BY_KBATCH.contains(&key) {
                out.push((
                    format!("affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{t}].preference.matchExpressions[{e}].key"),
                    format!("{key} is kbatch's: {WHY}"),
                ));
            }
        }
    }
    for (i, toleration) in pod.tolerations.iter().flatten().enumerate() {
        let key = toleration.key.as_deref().unwrap_or("");
        if PLACED_BY_KBATCH.contains(&key) {
            out.push((
                format!("tolerations[{i}]"),
                format!("tolerating {key} is kbatch's: {WHY}"),
            ));
        } else if key.is_empty() && toleration.operator.as_deref() == Some("Exists") {
            out.push((
                format!("tolerations[{i}]"),
                format!("a toleration without a key tolerates every taint, {PREEMPTIBLE_LABEL}'s too: {WHY}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let cases = [
            ("nothing set", json!({}), vec![]),
            (
                "other labels are the user's",
                json!({"nodeSelector": {"disktype": "ssd"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "batch"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}),
                vec![],
            ),
            (
                "a node by name",
                json!({"nodeName": "gpu-7"}),
                vec!["nodeName"],
            ),
            (
                "the GPU label selected",
                json!({"nodeSelector": {GPU_MODEL_LABEL: "nvidia-tesla-t4"}}),
                vec!["nodeSelector[cloud.google.com/gke-accelerator]"],
            ),
            (
                "the preemptible label selected",
                json!({"nodeSelector": {PREEMPTIBLE_LABEL: "true"}}),
                vec!["nodeSelector[cloud.google.com/gke-preemptible]"],
            ),
            (
                "required affinity on the GPU label",
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Exists"}, {"key": GPU_MODEL_LABEL, "operator": "Exists"}]}]}}}}),
                vec![
                    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].key",
                ],
            ),
            (
                "nodes picked by name through matchFields",
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-7"]}]}]}}}}),
                vec![
                    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields",
                ],
            ),
            (
                "preferred affinity on the preemptible label",
                json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": PREEMPTIBLE_LABEL, "operator": "In", "values": ["true"]}]}}]}}}),
                vec![
                    "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key",
                ],
            ),
            (
                "the preemptible taint tolerated",
                json!({"tolerations": [{"key": "x", "operator": "Exists"}, {"key": PREEMPTIBLE_LABEL, "operator": "Exists"}]}),
                vec!["tolerations[1]"],
            ),
            (
                "every taint tolerated",
                json!({"tolerations": [{"operator": "Exists"}]}),
                vec!["tolerations[0]"],
            ),
        ];
        for (name, mut pod, expected) in cases {
            pod["containers"] = json!([]);
            let pod: PodSpec = serde_json::from_value(pod).unwrap();
            let problems = template_placement_problems(&pod);
            let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(paths, expected, "{name}");
            for (_, message) in &problems {
                assert!(!message.is_empty(), "{name}");
            }
        }
    }
}
