//! The second line of the deletion guards: policy objects carry [`IN_USE_FINALIZER`], which
//! the controller removes only once [`guard_delete`] finds no referrer.
//!
//! One reconcile per BatchPriority, BatchBudget, BatchJobConstraint, BatchCostModel and
//! BatchQueue. Both writes are JSON patches conditional on `resourceVersion` (a `test` op),
//! so a concurrent change of the finalizer list is never overwritten.

use crate::context::{Context, Error};
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJobConstraint, BatchPriority, BatchQueue, DEFAULT_NAMESPACE,
    IN_USE_FINALIZER, Kind,
};
use kbatch_policy::references::guard_delete;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// How soon a blocked deletion is looked at again (a referrer may go away without an
/// event on this object).
pub const BLOCKED_RETRY: Duration = Duration::from_secs(30);

/// A policy kind protected by the finalizer.
pub trait Guarded:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Its kind.
    const KIND: Kind;
    /// The API of the object (its namespace's, for a namespaced kind).
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Self>;
}

macro_rules! cluster_scoped {
    ($($ty:ty => $kind:expr),* $(,)?) => {$(
        impl Guarded for $ty {
            const KIND: Kind = $kind;
            fn api(client: kube::Client, _: Option<&str>) -> Api<Self> {
                Api::all(client)
            }
        }
    )*};
}

cluster_scoped!(
    BatchPriority => Kind::BatchPriority,
    BatchBudget => Kind::BatchBudget,
    BatchJobConstraint => Kind::BatchJobConstraint,
    BatchCostModel => Kind::BatchCostModel,
);

impl Guarded for BatchQueue {
    const KIND: Kind = Kind::BatchQueue;
    fn api(client: kube::Client, namespace: Option<&str>) -> Api<Self> {
        Api::namespaced(client, namespace.unwrap_or(DEFAULT_NAMESPACE))
    }
}

/// What to do with an object's finalizers.
#[derive(Debug, Clone, PartialEq)]
pub enum FinalizerPlan {
    /// Nothing.
    Keep,
    /// Send this JSON patch.
    Patch(Value),
    /// Deleting, but still referred to: wait (the message names the referrers).
    Blocked(String),
}

/// The plan for `object`, given what [`guard_delete`] says (`referrers` is its message,
/// empty when nothing refers to the object). Pure.
pub fn plan(meta: &kube::api::ObjectMeta, referrers: impl FnOnce() -> String) -> FinalizerPlan {
    match (
        meta.deletion_timestamp.is_some(),
        holds(meta, IN_USE_FINALIZER),
    ) {
        (false, false) => {
            add_patch(meta, IN_USE_FINALIZER).map_or(FinalizerPlan::Keep, FinalizerPlan::Patch)
        }
        (true, true) => {
            let why = referrers();
            if why.is_empty() {
                remove_patch(meta, IN_USE_FINALIZER)
                    .map_or(FinalizerPlan::Keep, FinalizerPlan::Patch)
            } else {
                FinalizerPlan::Blocked(why)
            }
        }
        _ => FinalizerPlan::Keep,
    }
}

/// Whether `meta` lists `finalizer`.
pub fn holds(meta: &kube::api::ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == finalizer))
}

/// The `test` op that makes a JSON patch conditional on the object being unchanged since
/// `meta` was read (the API server refuses the whole patch otherwise).
fn unchanged(meta: &kube::api::ObjectMeta) -> Value {
    json!({"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version})
}

/// The JSON patch adding `finalizer` to the object `meta` describes, conditional on its
/// `resourceVersion`; `None` when it is already there.
pub fn add_patch(meta: &kube::api::ObjectMeta, finalizer: &str) -> Option<Value> {
    if holds(meta, finalizer) {
        return None;
    }
    let add = if meta.finalizers.is_none() {
        json!({"op": "add", "path": "/metadata/finalizers", "value": [finalizer]})
    } else {
        json!({"op": "add", "path": "/metadata/finalizers/-", "value": finalizer})
    };
    Some(json!([unchanged(meta), add]))
}

/// The JSON patch removing `finalizer`, conditional on `resourceVersion`; `None` when it is
/// not there.
pub fn remove_patch(meta: &kube::api::ObjectMeta, finalizer: &str) -> Option<Value> {
    let i = meta
        .finalizers
        .as_ref()?
        .iter()
        .position(|f| f == finalizer)?;
    let remove = json!({"op": "remove", "path": format!("/metadata/finalizers/{i}")});
    Some(json!([unchanged(meta), remove]))
}

/// Reconciles the finalizer of one policy object.
pub async fn reconcile<K: Guarded>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    if matches!(K::KIND, Kind::BatchQueue | Kind::BatchBudget) {
        // A queue or budget change may let queued jobs run.
        ctx.wake.notify_one();
    }
    let name = object.name_any();
    let namespace = object.namespace();
    let meta = object.meta();
    if meta.deletion_timestamp.is_some() {
        // Never judge "no referrers" on a partial view.
        ctx.stores.ready().await?;
    }
    let decided = plan(meta, || {
        let set = ctx.stores.policy_set();
        let v = guard_delete(&set, K::KIND, namespace.as_deref(), &name);
        v.iter()
            .map(|v| v.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    });
    match decided {
        FinalizerPlan::Keep => Ok(Action::await_change()),
        FinalizerPlan::Blocked(why) => {
            tracing::info!(kind = %K::KIND, %name, %why, "deletion waits for referrers");
            Ok(Action::requeue(BLOCKED_RETRY))
        }
        FinalizerPlan::Patch(patch) => {
            let api = K::api(ctx.client.clone(), namespace.as_deref());
            let patch: json_patch::Patch = serde_json::from_value(patch)?;
            api.patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
                .map_err(|e| Error::of_conditional_patch(e, || format!("{} {name}", K::KIND)))?;
            Ok(Action::await_change())
        }
    }
}

/// The error policy of the finalizer controllers.
pub fn error_policy<K: Guarded>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{} {}", K::KIND, object.name_any());
    ctx.requeue_after(&key, error)
}

#[cfg(test)]
mod tests;
