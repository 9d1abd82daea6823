//! Kubernetes Events on BatchJobs: one for every phase change and every new condition (a
//! refusal to start: over budget, a dependency pending, no node fits), so that
//! `kubectl describe batchjob` tells the job's story.
//!
//! Written in the background from a bounded queue, a few at a time: an Event that cannot be
//! written is logged, never a reason to fail or slow a reconcile, and when the API server
//! falls behind the Events beyond [`QUEUE`] are dropped (and counted) rather than held.
//! kube-runtime's `Recorder` is not used: it keeps every Event of the last six minutes to
//! merge repeats into a series, and a job's Events never repeat, so at 10,000 jobs that
//! cache was memory spent for nothing, and each publish was a task of its own, unbounded.

use crate::metrics::Observed;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kbatch_policy::api::{BatchJob, BatchJobStatus, JobPhase};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Client, Resource, ResourceExt};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events waiting to be written, at most; the queue holds a burst of phase changes.
pub const QUEUE: usize = 1024;
/// Events written at once.
const AT_ONCE: usize = 4;
/// The API server refuses an Event whose note is longer.
const MAX_NOTE_BYTES: usize = 1024;
/// The controller's name on its Events (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "kbatch-controller";

/// Queues the controller's Events and writes them in the background.
#[derive(Clone, Debug)]
pub struct Publisher {
    queue: mpsc::Sender<K8sEvent>,
    instance: Arc<str>,
    observed: Arc<Observed>,
}

impl Publisher {
    /// Starts the writer (on the current Tokio runtime) for Events that name `instance` (this
    /// replica) as their reporting instance; drops are counted in `observed`.
    pub fn start(client: Client, instance: &str, observed: Arc<Observed>) -> Publisher {
        Publisher::with_queue(client, instance, observed, QUEUE)
    }

    fn with_queue(
        client: Client,
        instance: &str,
        observed: Arc<Observed>,
        capacity: usize,
    ) -> Publisher {
        let (queue, queued) = mpsc::channel(capacity.max(1));
        tokio::spawn(write_all(client, queued));
        Publisher {
            queue,
            instance: instance.into(),
            observed,
        }
    }

    fn send(&self, event: &Event, job: &BatchJob, now: jiff::Timestamp) {
        let event = self.k8s_event(event, job.object_ref(&()), now);
        if self.queue.try_send(event).is_err() {
            self.observed.event_dropped();
            tracing::debug!(
                batchjob = %format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any()),
                "the Event queue is full: an Event is dropped"
            );
        }
    }

    fn k8s_event(
        &self,
        event: &Event,
        regarding: ObjectReference,
        now: jiff::Timestamp,
    ) -> K8sEvent {
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(REPORTING_CONTROLLER),
            now.as_nanosecond()
        );
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.as_deref().map(bounded_note),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.to_string()),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..K8sEvent::default()
        }
    }
}

/// `note` cut to what the API server accepts, at a character boundary.
fn bounded_note(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_owned();
    }
    let mut end = MAX_NOTE_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

/// Writes the queued Events, [`AT_ONCE`] at a time, until every [`Publisher`] is dropped.
async fn write_all(client: Client, queued: mpsc::Receiver<K8sEvent>) {
    let events = futures::stream::unfold(queued, |mut queued| async move {
        queued.recv().await.map(|event| (event, queued))
    });
    events
        .for_each_concurrent(AT_ONCE, |event| {
            let client = client.clone();
            async move {
                let namespace = event.metadata.namespace.clone().unwrap_or_default();
                let api: Api<K8sEvent> = Api::namespaced(client, &namespace);
                if let Err(error) = api.create(&PostParams::default(), &event).await {
                    tracing::warn!(%error, reason = ?event.reason, "writing an Event failed");
                }
            }
        })
        .await;
}

/// The Event due for a status change from `old` to `new`, if any.
pub fn event_for(old: Option<&BatchJobStatus>, new: &BatchJobStatus) -> Option<Event> {
    let old_phase = old.and_then(|s| s.phase);
    let known = |type_: &str| {
        old.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == type_ && c.status == "True")
        })
    };
    let changed = new
        .conditions
        .iter()
        .filter(|c| c.status == "True" && !known(&c.type_))
        .max_by_key(|c| c.time.as_ref().map(|t| t.0));
    if new.phase == old_phase && changed.is_none() {
        return None;
    }
    let phase = new.phase.unwrap_or(JobPhase::Queued);
    let reason = changed
        .and_then(|c| c.reason.clone())
        .unwrap_or_else(|| phase.as_str().to_owned());
    let note = changed.and_then(|c| c.message.clone());
    let type_ = if phase == JobPhase::Failed {
        EventType::Warning
    } else {
        EventType::Normal
    };
    Some(Event {
        type_,
        reason,
        note,
        action: phase.as_str().to_owned(),
        secondary: None,
    })
}

/// Queues the Event for `old → job`'s status, if one is due.
pub fn publish(events: Option<&Publisher>, old: Option<&BatchJobStatus>, job: &BatchJob) {
    let (Some(events), Some(new)) = (events, job.status.as_ref()) else {
        return;
    };
    if let Some(event) = event_for(old, new) {
        events.send(&event, job, jiff::Timestamp::now());
    }
}

/// Queues a Warning Event `reason` with `note` on `job`.
pub fn warn(events: Option<&Publisher>, job: &BatchJob, reason: &str, note: String) {
    let Some(events) = events else {
        return;
    };
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Settle".to_owned(),
        secondary: None,
    };
    events.send(&event, job, jiff::Timestamp::now());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fixtures::{BatchJobExt, batch_job};
    use http::{Request, Response};
    use kbatch_policy::api::BatchJobCondition;
    use kube::client::Body;
    use serde_json::Value;

    fn status(phase: JobPhase, conditions: &[(&str, &str)]) -> BatchJobStatus {
        BatchJobStatus {
            phase: Some(phase),
            conditions: conditions
                .iter()
                .map(|(type_, message)| BatchJobCondition {
                    type_: (*type_).to_owned(),
                    status: "True".to_owned(),
                    reason: Some((*type_).to_owned()),
                    message: Some((*message).to_owned()),
                    time: None,
                })
                .collect(),
            ..BatchJobStatus::default()
        }
    }

    #[test]
    fn phase_changes_and_new_conditions_make_events_repeats_do_not() {
        let queued = status(JobPhase::Queued, &[("Queued", "waiting")]);
        let first = event_for(None, &queued).unwrap();
        assert_eq!(
            (first.reason.as_str(), first.action.as_str()),
            ("Queued", "Queued")
        );
        assert_eq!(first.type_, EventType::Normal);

        let over = status(
            JobPhase::Queued,
            &[("Queued", "waiting"), ("BudgetExceeded", "gpu: 24h window")],
        );
        let refused = event_for(Some(&queued), &over).unwrap();
        assert_eq!(refused.reason, "BudgetExceeded");
        assert_eq!(refused.note.as_deref(), Some("gpu: 24h window"));
        // The same condition again, even with a new message: no new Event.
        let again = status(
            JobPhase::Queued,
            &[
                ("Queued", "waiting"),
                ("BudgetExceeded", "gpu: 24h window, 3rd"),
            ],
        );
        assert!(event_for(Some(&over), &again).is_none());

        let failed = status(JobPhase::Failed, &[("Failed", "index 2 failed")]);
        let event = event_for(Some(&over), &failed).unwrap();
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(
            (event.reason.as_str(), event.action.as_str()),
            ("Failed", "Failed")
        );
    }

    fn mocked() -> (
        Client,
        tower_test::mock::Handle<Request<Body>, Response<Body>>,
    ) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (Client::new(service, "default"), handle)
    }

    #[tokio::test]
    async fn an_event_is_written_naming_the_job_the_controller_and_the_replica() {
        let (client, mut handle) = mocked();
        let events = Publisher::start(client, "replica-1", Arc::default());
        let job = batch_job(1).in_phase(JobPhase::Running);
        publish(Some(&events), None, &job);

        let (request, reply) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            request.uri().path(),
            "/apis/events.k8s.io/v1/namespaces/ns/events"
        );
        let body: Value =
            serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
        let fields = [
            ("/reason", "Running"),
            ("/action", "Running"),
            ("/type", "Normal"),
            ("/reportingController", "kbatch-controller"),
            ("/reportingInstance", "replica-1"),
            ("/regarding/kind", "BatchJob"),
            ("/regarding/name", "pi"),
            ("/regarding/uid", "u1"),
            ("/metadata/namespace", "ns"),
        ];
        for (pointer, expected) in fields {
            assert_eq!(
                body.pointer(pointer),
                Some(&Value::from(expected)),
                "{pointer}"
            );
        }
        let name = body.pointer("/metadata/name").and_then(Value::as_str);
        assert!(name.is_some_and(|n| n.starts_with("pi.")), "{body}");
        assert!(body.pointer("/eventTime").is_some(), "{body}");
        reply.send_response(Response::new(Body::from(body.to_string().into_bytes())));
    }

    #[tokio::test]
    async fn events_beyond_the_queue_are_dropped_and_counted_never_held() {
        let (client, _handle) = mocked();
        let observed = Arc::new(Observed::new());
        let events = Publisher::with_queue(client, "replica-1", Arc::clone(&observed), 2);
        let job = batch_job(1).in_phase(JobPhase::Running);
        // Sent without yielding: the writer has not taken any yet, and the API server never
        // answers.
        for _ in 0..5 {
            warn(
                Some(&events),
                &job,
                "RefundDropped",
                "budget gone".to_owned(),
            );
        }
        let text = observed.encode().unwrap();
        assert!(
            text.contains("kbatch_controller_events_dropped_total 3"),
            "{text}"
        );
    }

    #[test]
    fn a_note_is_cut_to_what_the_api_server_takes_at_a_character_boundary() {
        assert_eq!(bounded_note("short"), "short");
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(bounded_note(&exact), exact);
        for long in ["b".repeat(3000), "é".repeat(900), "€".repeat(700)] {
            let cut = bounded_note(&long);
            assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
            assert!(cut.ends_with('…'));
            assert!(long.starts_with(cut.trim_end_matches('…')));
            assert!(
                cut.len() > MAX_NOTE_BYTES - 8,
                "cut too short: {}",
                cut.len()
            );
        }
    }
}
