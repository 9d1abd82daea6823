//! Writes each BatchQueue's `status.jobs.phaseCounts` from the job store, every
//! [`PERIOD`], only for queues whose counts changed: at most one write per queue per period,
//! however many jobs change phase in it.

use crate::context::{Context, Error};
use kbatch_policy::api::{BatchQueue, BatchQueueStatus};
use kbatch_policy::queue_status::{PhaseCounts, counts_by_queue, status_due};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use std::time::Duration;

/// How often the counts are brought up to date.
pub const PERIOD: Duration = Duration::from_secs(10);

/// One round: returns how many writes failed (each is retried next round).
pub async fn update(ctx: &Context) -> usize {
    let jobs = ctx.stores.jobs.state();
    let counts = counts_by_queue(jobs.iter().map(AsRef::as_ref));
    let none = PhaseCounts::new();
    let now = (ctx.now)();
    let mut failures = 0;
    for queue in ctx.stores.queues.state() {
        let namespace = queue.namespace().unwrap_or_default();
        let key = (namespace.clone(), queue.name_any());
        let counts = counts.get(&key).unwrap_or(&none);
        let Some(status) = status_due(queue.status.as_ref(), counts, now) else {
            continue;
        };
        let api: Api<BatchQueue> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = status_patch(queue.status.as_ref(), &status);
        let written = api
            .patch_status(&key.1, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        if let Err(error) = written {
            failures += 1;
            tracing::debug!(queue = %format!("{}/{}", key.0, key.1), %error,
                "writing the queue's counts failed; next round retries");
        }
    }
    failures
}

/// The merge patch from `stored` to `next`: a merge patch merges maps, so a phase whose count
/// went away is written `null` to remove it.
pub fn status_patch(stored: Option<&BatchQueueStatus>, next: &BatchQueueStatus) -> Value {
    let mut counts = serde_json::Map::new();
    let old = stored
        .and_then(|s| s.jobs.as_ref())
        .map(|j| &j.phase_counts);
    for phase in old.into_iter().flat_map(|c| c.keys()) {
        counts.insert(phase.clone(), Value::Null);
    }
    let jobs = next.jobs.clone().unwrap_or_default();
    for (phase, count) in &jobs.phase_counts {
        counts.insert(phase.clone(), json!(count));
    }
    json!({"status": {"jobs": {"lastUpdated": jobs.last_updated, "phaseCounts": counts}}})
}

/// Keeps the queues' counts current until the process stops.
pub async fn run(ctx: &Context) -> Result<std::convert::Infallible, Error> {
    ctx.stores.ready().await?;
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        update(ctx).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kbatch_policy::api::QueueJobsStatus;

    fn status(counts: &[(&str, i32)]) -> BatchQueueStatus {
        BatchQueueStatus {
            jobs: Some(QueueJobsStatus {
                last_updated: None,
                phase_counts: counts.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect(),
            }),
        }
    }

    #[test]
    fn a_phase_that_emptied_is_removed_by_the_patch() {
        let stored = status(&[("Ready", 1), ("Queued", 2)]);
        let next = status(&[("Succeeded", 1), ("Queued", 1)]);
        let patch = status_patch(Some(&stored), &next);
        assert_eq!(
            patch["status"]["jobs"]["phaseCounts"],
            json!({"Ready": null, "Queued": 1, "Succeeded": 1})
        );
        let mut object = json!({"status": {"jobs": {"phaseCounts": {"Ready": 1, "Queued": 2}}}});
        json_patch::merge(&mut object, &patch);
        assert_eq!(
            object["status"]["jobs"]["phaseCounts"],
            json!({"Queued": 1, "Succeeded": 1})
        );
        let first = status_patch(None, &next);
        assert_eq!(
            first["status"]["jobs"]["phaseCounts"],
            json!({"Queued": 1, "Succeeded": 1})
        );
    }
}
