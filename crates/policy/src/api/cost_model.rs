//! `BatchCostModel`: hourly prices per resource.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prices that budgets charge jobs with.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchCostModel",
    derive = "PartialEq",
    derive = "Default",
    shortname = "bcm",
    category = "kbatch",
    doc = "Hourly prices per resource, used by BatchBudgets.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "Cpu", "type": "number", "jsonPath": ".spec.resources.cpu"}"#,
    printcolumn = r#"{"name": "Memory", "type": "number", "jsonPath": ".spec.resources.memory"}"#,
    printcolumn = r#"{"name": "Gpu", "type": "number", "jsonPath": ".spec.resources.nvidia\\.com/gpu"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchCostModelSpec {
    /// Price per hour: `cpu` per vCPU, `memory` per GiB, `nvidia.com/gpu` per GPU.
    #[serde(default)]
    pub resources: BTreeMap<String, f64>,
    /// Factor (0, 1] applied to the price of tasks on preemptible VMs.
    #[serde(
        rename = "preemptibleVMCostMultiplier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub preemptible_vm_cost_multiplier: Option<f64>,
}
