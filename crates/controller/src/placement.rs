//! Where tasks may run: GPU model and preemptible VMs, from `spec.batchNodeSelector`.

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
    PreferredSchedulingTerm, Toleration,
};
use kbatch_policy::api::BatchNodeSelector;

pub use kbatch_policy::placement::{GPU_MODEL_LABEL, PREEMPTIBLE_LABEL};

/// Adds the node selectors, affinity and tolerations that `selector` asks for to `pod`.
///
/// `gpuType` pins the GPU model; `usePreemptibleVM`: `Require` selects preemptible nodes and
/// tolerates their taint, `Prefer` prefers them (and tolerates), `Forbid` keeps off them.
pub fn apply(selector: Option<&BatchNodeSelector>, pod: &mut PodSpec) {
    let Some(selector) = selector else { return };
    let single = |r: &Option<kbatch_policy::api::BatchNodeSelectorRequirement>| {
        r.as_ref()
            .filter(|r| r.operator == "Equals")
            .and_then(|r| r.values.first().cloned())
    };
    if let Some(model) = single(&selector.gpu_type) {
        pod.node_selector
            .get_or_insert_with(Default::default)
            .insert(GPU_MODEL_LABEL.to_owned(), model);
    }
    match single(&selector.use_preemptible_vm).as_deref() {
        Some("Require") => {
            pod.node_selector
                .get_or_insert_with(Default::default)
                .insert(PREEMPTIBLE_LABEL.to_owned(), "true".to_owned());
            tolerate_preemptible(pod);
        }
        Some("Prefer") => {
            node_affinity(pod)
                .preferred_during_scheduling_ignored_during_execution
                .get_or_insert_with(Vec::new)
                .push(PreferredSchedulingTerm {
                    weight: 100,
                    preference: NodeSelectorTerm {
                        match_expressions: Some(vec![requirement(
                            "In",
                            Some(vec!["true".to_owned()]),
                        )]),
                        ..Default::default()
                    },
                });
            tolerate_preemptible(pod);
        }
        Some("Forbid") => {
            let required = node_affinity(pod)
                .required_during_scheduling_ignored_during_execution
                .get_or_insert_with(|| NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm::default()],
                });
            // Terms are OR-ed: the rule must hold in every one of them.
            for term in &mut required.node_selector_terms {
                term.match_expressions
                    .get_or_insert_with(Vec::new)
                    .push(requirement("DoesNotExist", None));
            }
        }
        _ => {}
    }
}

fn requirement(operator: &str, values: Option<Vec<String>>) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: PREEMPTIBLE_LABEL.to_owned(),
        operator: operator.to_owned(),
        values,
    }
}

fn node_affinity(pod: &mut PodSpec) -> &mut NodeAffinity {
    pod.affinity
        .get_or_insert_with(Affinity::default)
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
}

fn tolerate_preemptible(pod: &mut PodSpec) {
    let tolerations = pod.tolerations.get_or_insert_with(Vec::new);
    if !tolerations
        .iter()
        .any(|t| t.key.as_deref() == Some(PREEMPTIBLE_LABEL))
    {
        tolerations.push(Toleration {
            key: Some(PREEMPTIBLE_LABEL.to_owned()),
            operator: Some("Equal".to_owned()),
            value: Some("true".to_owned()),
            effect: Some("NoSchedule".to_owned()),
            ..Default::default()
        });
    }
}
