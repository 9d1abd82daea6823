//! `BatchUserContext`: what one user's jobs may do, PodSecurityPolicy-style.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Binds a Kubernetes user (or `*`, everyone) in a namespace to a pod security policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kbatch.k8s.io",
    version = "v1beta1",
    kind = "BatchUserContext",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    shortname = "buc",
    category = "kbatch",
    doc = "The pod security policy that a user's BatchJobs must follow in this namespace.",
    annotation(
        "api-approved.kubernetes.io",
        "unapproved, kbatch is not a Kubernetes SIG project"
    ),
    printcolumn = r#"{"name": "User", "type": "string", "jsonPath": ".spec.userName"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BatchUserContextSpec {
    /// Kubernetes user name, or `*` for every user without a context of their own.
    #[serde(default)]
    pub user_name: String,
    /// Rules for the user's pod templates; unset means unrestricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_policy_spec: Option<SecurityPolicySpec>,
}

/// The PodSecurityPolicy fields kbatch enforces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicySpec {
    /// Allow privileged containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Allow `allowPrivilegeEscalation: true`; `false` also defaults it to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// Capabilities every container must drop (added by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_drop_capabilities: Vec<String>,
    /// Capabilities containers may add (`*` for any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_capabilities: Vec<String>,
    /// Capabilities added to containers that add none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_add_capabilities: Vec<String>,
    /// Allowed volume types (`configMap`, `persistentVolumeClaim`, …, `*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Allow `hostNetwork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// Allow `hostIPC`.
    #[serde(rename = "hostIPC", default, skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    /// Allow `hostPID`.
    #[serde(rename = "hostPID", default, skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    /// Host port ranges containers may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ports: Vec<HostPortRange>,
    /// Rule for `runAsUser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<IdRule>,
    /// Rule for `runAsGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<IdRule>,
    /// Rule for `fsGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<IdRule>,
    /// Rule for `supplementalGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplemental_groups: Option<IdRule>,
    /// Require `readOnlyRootFilesystem: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// Rule for SELinux options.
    #[serde(rename = "seLinux", default, skip_serializing_if = "Option::is_none")]
    pub se_linux: Option<SeLinuxRule>,
    /// Service accounts the pods may run as (`*` for any); empty: only `default`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_service_accounts: Vec<String>,
    /// Whether pods may mount their service account's token; unset or false: the webhook
    /// writes `automountServiceAccountToken: false` where a template leaves it unset, and
    /// refuses `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// PersistentVolumeClaims the pods may mount, by name (`*` for any); empty: any claim
    /// (whether claims are allowed at all is `volumes`' to say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_persistent_volume_claims: Vec<String>,
    /// Queues the user may submit to (`*` for any); empty: any queue of the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_queues: Vec<String>,
}

/// `MustRunAs` (with ranges), `MayRunAs`, `MustRunAsNonRoot` or `RunAsAny`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdRule {
    /// The rule's name.
    pub rule: String,
    /// Inclusive id ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<IdRange>,
}

/// An inclusive range of user or group ids.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdRange {
    /// Lowest id.
    pub min: i64,
    /// Highest id.
    pub max: i64,
}

/// An inclusive range of host ports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostPortRange {
    /// Lowest port.
    pub min: i32,
    /// Highest port.
    pub max: i32,
}

/// `MustRunAs` (with options) or `RunAsAny`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeLinuxRule {
    /// The rule's name.
    pub rule: String,
    /// Options required by `MustRunAs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "se_linux_options")]
    pub se_linux_options: Option<k8s_openapi::api::core::v1::SELinuxOptions>,
}

fn se_linux_options(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "properties": {
            "level": {"type": "string"},
            "role": {"type": "string"},
            "type": {"type": "string"},
            "user": {"type": "string"}
        }
    })
}
