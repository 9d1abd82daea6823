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
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A watch failing for this long makes the webhook unready: its kind's objects may be stale.
const STALE_AFTER: Duration = Duration::from_secs(30);
/// A failing watch that has reported no error for this long has recovered (the watcher's
/// backoff retries at least every 30 s; a resumed watch reports nothing until a change).
const RECOVERED_AFTER: Duration = Duration::from_secs(45);

/// The snapshot the watchers write and the reviewer reads.
#[derive(Debug, Default)]
pub struct LivePolicy {
    policy: RwLock<PolicySet>,
    synced: Mutex<HashSet<Kind>>,
    failing: Mutex<HashMap<Kind, Failing>>,
    config: AdmissionConfig,
}

/// A watch that has failed since `since` with no event in between.
#[derive(Debug, Clone)]
struct Failing {
    since: Instant,
    last: Instant,
    error: String,
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

    fn failing(&self) -> std::sync::MutexGuard<'_, HashMap<Kind, Failing>> {
        self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The watch of `kind` delivered an event: it works.
    fn watch_ok(&self, kind: Kind) {
        self.failing().remove(&kind);
    }

    /// The watch of `kind` failed at `now`.
    fn watch_failed(&self, kind: Kind, now: Instant, error: String) {
        let mut failing = self.failing();
        let entry = failing.entry(kind).or_insert_with(|| Failing {
            since: now,
            last: now,
            error: String::new(),
        });
        entry.last = now;
        entry.error = error;
    }

    /// Why the snapshot cannot be trusted at `now`: kinds not listed yet, or watches failing
    /// for longer than [`STALE_AFTER`].
    fn unready_at(&self, now: Instant) -> Option<String> {
        let synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        let mut waiting: Vec<&str> = Kind::ALL
            .iter()
            .filter(|kind| !synced.contains(kind))
            .map(|kind| kind.as_str())
            .collect();
        drop(synced);
        let mut reasons = Vec::new();
        if !waiting.is_empty() {
            waiting.sort_unstable();
            reasons.push(format!(
                "policy store not synced: waiting for {}",
                waiting.join(", ")
            ));
        }
        let mut stale: Vec<(Kind, Failing)> = self
            .failing()
            .iter()
            .filter(|(_, f)| {
                now.saturating_duration_since(f.since) >= STALE_AFTER
                    && now.saturating_duration_since(f.last) < RECOVERED_AFTER
            })
            .map(|(kind, f)| (*kind, f.clone()))
            .collect();
        stale.sort_by_key(|(kind, _)| kind.as_str());
        for (kind, f) in stale {
            let seconds = now.saturating_duration_since(f.since).as_secs();
            reasons.push(format!(
                "watch of {kind} failing for {seconds}s: {}",
                f.error
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("\n"))
    }
}

impl Reviewer for LivePolicy {
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply {
        let policy = self.policy.read().unwrap_or_else(PoisonError::into_inner);
        kbatch_admission::review(&policy, &self.config, endpoint, body)
    }

    fn is_ready(&self) -> bool {
        self.unready_reason().is_none()
    }

    fn unready_reason(&self) -> Option<String> {
        self.unready_at(Instant::now())
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
            Ok(event) => {
                live.watch_ok(K::KIND);
                apply_event(&live, &mut relist, event);
            }
            // The backoff retries; say so, never drop errors silently.
            Err(e) => {
                tracing::warn!(kind = %K::KIND, "watch failed, retrying: {e}");
                live.watch_failed(K::KIND, Instant::now(), e.to_string());
            }
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
    fn a_watch_failing_for_30s_makes_it_unready_until_it_recovers() {
        let live = LivePolicy::new(AdmissionConfig::default());
        for kind in Kind::ALL {
            live.mark_synced(kind);
        }
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(live.unready_at(t0), None);
        live.watch_failed(Kind::BatchQueue, t0, "connection refused".into());
        live.watch_failed(Kind::BatchQueue, at(20), "connection refused".into());
        assert_eq!(live.unready_at(at(29)), None, "a short outage is tolerated");
        assert_eq!(
            live.unready_at(at(31)).as_deref(),
            Some("watch of BatchQueue failing for 31s: connection refused")
        );
        // No error for 45 s: the watcher's retries have stopped failing.
        assert_eq!(live.unready_at(at(66)), None);
        // An event proves it at once.
        live.watch_failed(Kind::BatchQueue, at(70), "timeout".into());
        live.watch_failed(Kind::BatchQueue, at(105), "timeout".into());
        assert!(live.unready_at(at(106)).is_some());
        live.watch_ok(Kind::BatchQueue);
        assert_eq!(live.unready_at(at(106)), None);
    }

    #[test]
    fn ready_only_once_every_kind_has_synced() {
        let live = LivePolicy::new(AdmissionConfig::default());
        assert_eq!(
            live.unready_reason().as_deref(),
            Some(
                "policy store not synced: waiting for BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue, BatchUserContext"
            )
        );
        for kind in Kind::ALL {
            assert!(!live.is_ready());
            live.mark_synced(kind);
        }
        assert!(live.is_ready());
    }
}
