//! Installing YAML manifests as `kubectl apply --server-side` does: each document is
//! resolved to its API resource by discovery and applied with a forced server-side apply.

use anyhow::Context;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Api, Client};
use serde_json::Value;
use std::path::Path;

/// The field manager of everything the harness applies.
pub const MANAGER: &str = "kbatch-e2e";

/// The non-empty documents of a multi-document YAML text.
pub fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text).context("parsing YAML")?;
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

/// The documents of the YAML file at `path`.
pub fn file(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    documents(&text).with_context(|| format!("in {}", path.display()))
}

fn gvk(object: &Value) -> anyhow::Result<GroupVersionKind> {
    let api_version = object["apiVersion"]
        .as_str()
        .context("a document without apiVersion")?;
    let kind = object["kind"].as_str().context("a document without kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

/// The API of `object`'s kind, namespaced to its namespace (or `default_namespace`) when the
/// kind is namespaced.
pub async fn api_for(
    client: &Client,
    object: &Value,
    default_namespace: Option<&str>,
) -> anyhow::Result<Api<DynamicObject>> {
    let gvk = gvk(object)?;
    let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {gvk:?}"))?;
    Ok(match capabilities.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .or(default_namespace)
                .unwrap_or("default");
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
    })
}

/// Applies `object` as `client` (server-side apply, forced), in its namespace or
/// `default_namespace`.
pub async fn apply(
    client: &Client,
    object: &Value,
    default_namespace: Option<&str>,
) -> anyhow::Result<DynamicObject> {
    let api = api_for(client, object, default_namespace).await?;
    let name = object["metadata"]["name"]
        .as_str()
        .context("applying a document without metadata.name")?;
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| {
        format!(
            "applying {} {name}",
            object["kind"].as_str().unwrap_or("object")
        )
    })
}

/// Applies every document of `objects`, in order.
pub async fn apply_all(
    client: &Client,
    objects: &[Value],
    default_namespace: Option<&str>,
) -> anyhow::Result<()> {
    for object in objects {
        apply(client, object, default_namespace).await?;
    }
    Ok(())
}

/// A BatchUserContext `everyone` in `namespace` that lets every user run unprivileged pods.
pub fn everyone_runs_unprivileged_pods(namespace: &str) -> Value {
    serde_json::json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchUserContext",
        "metadata": {"name": "everyone", "namespace": namespace},
        "spec": {"userName": "*", "securityPolicySpec": {
            "privileged": false, "allowPrivilegeEscalation": false, "volumes": ["*"],
            "runAsUser": {"rule": "RunAsAny"}, "runAsGroup": {"rule": "RunAsAny"},
            "fsGroup": {"rule": "RunAsAny"}, "supplementalGroups": {"rule": "RunAsAny"},
            "seLinux": {"rule": "RunAsAny"}}}})
}
