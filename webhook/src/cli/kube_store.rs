//! `kbatch serve --kube`: the policy snapshot kept current by watching the cluster.

use crate::{Endpoint, Reply, Reviewer};
use futures::StreamExt;
use kbatch_admission::AdmissionConfig;
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
    BatchUserContext, Kind, namespace_or_default,
};
use kbatch_policy::snapshot::PolicySet;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The snapshot the watchers write and the reviewer reads.
#[derive(Debug, Default)]
pub struct LivePolicy {
    policy: RwLock<PolicySet>,
    synced: Mutex<HashSet<Kind>>,
    config: AdmissionConfig,
}

impl LivePolicy {
    /// An empty, not yet synced snapshot.
    pub fn new(config: AdmissionConfig) -> Self {
        LivePolicy {
            config,
            ..LivePolicy::default()
        }
    }

    fn write(&self, change: impl FnOnce(&mut PolicySet)) {
        // A panic while holding the lock cannot leave a PolicySet half-updated in a way
        // that matters more than refusing all admissions would: keep serving.
        change(&mut self.policy.write().unwrap_or_else(PoisonError::into_inner));
    }

    fn mark_synced(&self, kind: Kind) {
        self.synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind);
    }
}

impl Reviewer for LivePolicy {
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply {
        let policy = self.policy.read().unwrap_or_else(PoisonError::into_inner);
        kbatch_admission::review(&policy, &self.config, endpoint, body)
    }

    fn is_ready(&self) -> bool {
        self.synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            == Kind::ALL.len()
    }
}

/// How one kind enters and leaves the snapshot.
trait Indexed:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    const KIND: Kind;
    fn upsert(policy: &mut PolicySet, object: &Self);
    fn remove(policy: &mut PolicySet, object: &Self);
}

fn ns(o: &impl ResourceExt) -> String {
    namespace_or_default(o.meta()).to_owned()
}

impl Indexed for BatchJob {
    const KIND: Kind = Kind::BatchJob;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_job(o);
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_job(&ns(o), &o.name_any());
    }
}

impl Indexed for BatchQueue {
    const KIND: Kind = Kind::BatchQueue;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_queue(o.clone());
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_queue(&ns(o), &o.name_any());
    }
}

impl Indexed for BatchUserContext {
    const KIND: Kind = Kind::BatchUserContext;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_user_context(o.clone());
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_user_context(&ns(o), &o.name_any());
    }
}

impl Indexed for BatchPriority {
    const KIND: Kind = Kind::BatchPriority;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_priority(o.clone());
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_priority(&o.name_any());
    }
}

impl Indexed for BatchJobConstraint {
    const KIND: Kind = Kind::BatchJobConstraint;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_constraint(o);
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_constraint(&o.name_any());
    }
}

impl Indexed for BatchBudget {
    const KIND: Kind = Kind::BatchBudget;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_budget(o.clone());
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_budget(&o.name_any());
    }
}

impl Indexed for BatchCostModel {
    const KIND: Kind = Kind::BatchCostModel;
    fn upsert(p: &mut PolicySet, o: &Self) {
        p.upsert_cost_model(o.clone());
    }
    fn remove(p: &mut PolicySet, o: &Self) {
        p.remove_cost_model(&o.name_any());
    }
}

/// Applies one watch event to the snapshot; a re-list replaces the kind wholesale.
fn apply_event<K: Indexed>(live: &LivePolicy, relist: &mut Vec<K>, event: Event<K>) {
    match event {
        Event::Init => relist.clear(),
        Event::InitApply(o) => relist.push(o),
        Event::InitDone => {
            live.write(|p| {
                p.clear(K::KIND);
                for o in relist.drain(..) {
                    K::upsert(p, &o);
                }
            });
            live.mark_synced(K::KIND);
        }
        Event::Apply(o) => live.write(|p| K::upsert(p, &o)),
        Event::Delete(o) => live.write(|p| K::remove(p, &o)),
    }
}

async fn watch<K: Indexed>(client: Client, live: Arc<LivePolicy>) {
    let api: Api<K> = Api::all(client);
    let mut relist = Vec::new();
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => apply_event(&live, &mut relist, event),
            // The backoff retries; say so, never drop errors silently.
            Err(e) => tracing::warn!(kind = %K::KIND, "watch failed, retrying: {e}"),
        }
    }
}

/// Starts one watch per kind on the current runtime.
pub async fn start(config: AdmissionConfig) -> anyhow::Result<Arc<LivePolicy>> {
    let client = Client::try_default().await?;
    let live = Arc::new(LivePolicy::new(config));
    tokio::spawn(watch::<BatchJob>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchQueue>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchUserContext>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchPriority>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchJobConstraint>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchBudget>(client.clone(), live.clone()));
    tokio::spawn(watch::<BatchCostModel>(client, live.clone()));
    Ok(live)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kbatch_policy::api::BatchPrioritySpec;

    fn priority(name: &str) -> BatchPriority {
        BatchPriority::new(
            name,
            BatchPrioritySpec {
                value: 1,
                description: "d".into(),
            },
        )
    }

    #[test]
    fn a_relist_replaces_the_kind_and_marks_it_synced() {
        let live = LivePolicy::new(AdmissionConfig::default());
        let mut relist = Vec::new();
        apply_event(&live, &mut relist, Event::Apply(priority("stale")));
        apply_event(&live, &mut relist, Event::Init);
        apply_event(&live, &mut relist, Event::InitApply(priority("high")));
        assert!(!live.is_ready());
        apply_event(&live, &mut relist, Event::InitDone);
        let p = live.policy.read().unwrap();
        assert!(p.priority("high").is_some());
        assert!(p.priority("stale").is_none());
        drop(p);
        apply_event(&live, &mut relist, Event::Delete(priority("high")));
        assert!(live.policy.read().unwrap().priority("high").is_none());
    }

    #[test]
    fn ready_only_once_every_kind_has_synced() {
        let live = LivePolicy::new(AdmissionConfig::default());
        for kind in Kind::ALL {
            assert!(!live.is_ready());
            live.mark_synced(kind);
        }
        assert!(live.is_ready());
    }
}
