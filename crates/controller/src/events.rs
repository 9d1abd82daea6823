//! Kubernetes Events on BatchJobs: one for every phase change and every new condition (a
//! refusal to start: over budget, a dependency pending, no node fits), so that
//! `kubectl describe batchjob` tells the job's story. Published in the background: an Event
//! that cannot be written is logged, never a reason to fail a reconcile.

use kbatch_policy::api::{BatchJob, BatchJobStatus, JobPhase};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

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

/// Publishes the Event for `old → job`'s status, if one is due, without waiting for it.
pub fn publish(recorder: Option<&Recorder>, old: Option<&BatchJobStatus>, job: &BatchJob) {
    let (Some(recorder), Some(new)) = (recorder, job.status.as_ref()) else {
        return;
    };
    let Some(event) = event_for(old, new) else {
        return;
    };
    send(recorder.clone(), event, job);
}

/// Publishes a Warning Event `reason` with `note` on `job`, without waiting for it.
pub fn warn(recorder: Option<&Recorder>, job: &BatchJob, reason: &str, note: String) {
    let Some(recorder) = recorder else {
        return;
    };
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Settle".to_owned(),
        secondary: None,
    };
    send(recorder.clone(), event, job);
}

fn send(recorder: Recorder, event: Event, job: &BatchJob) {
    let reference = job.object_ref(&());
    tokio::spawn(async move {
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason = %event.reason, "publishing an Event failed");
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kbatch_policy::api::BatchJobCondition;

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
}
