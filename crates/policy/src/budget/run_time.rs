//! How long a job ran, for the refund of its reservation: billed from the moment its tasks
//! started (a pod ran), not from the charge: the wait for a node or an image is not the
//! practitioner's to pay.

use crate::api::BatchJobStatus;
use crate::phase::{is_terminal, reason};
use jiff::{SignedDuration, Timestamp};

fn condition_time(status: &BatchJobStatus, type_: &str) -> Option<Timestamp> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .and_then(|c| c.time.as_ref().map(|t| t.0))
}

/// The run time of the job whose status is `status`, at `now`:
/// - from its `TasksStarted` condition (the controller saw a pod run);
/// - a job that ended without that condition: nothing if none of its tasks ended either (it
///   never ran: terminated or deleted while it waited), else from the charge (it ran and
///   finished between two looks of the controller; the charge is the earliest it could run);
/// - to the latest condition of its final phase, or to `now` while it has not finished (a job
///   deleted while it runs: its pods ran until now).
///
/// Never negative; zero without a reservation.
///
/// ```
/// use kbatch_policy::api::{BatchJobCondition, BatchJobStatus, JobPhase};
/// use kbatch_policy::budget::run_time;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
///
/// let at = |t: &str| Some(Time(t.parse().unwrap()));
/// let condition = |type_: &str, time: &str| BatchJobCondition {
///     type_: type_.into(), status: "True".into(), time: at(time), ..Default::default()
/// };
/// let mut status: BatchJobStatus = serde_json::from_value(serde_json::json!({
///     "reservation": {"id": "u1", "budget": "b", "amount": "1", "state": "Charged",
///         "requestedAt": "2026-11-22T09:00:00Z", "chargedAt": "2026-11-22T09:00:00Z"}
/// })).unwrap();
/// status.phase = Some(JobPhase::Succeeded);
/// status.conditions = vec![
///     condition("TasksStarted", "2026-11-22T09:20:00Z"),  // 20 minutes waiting for a node
///     condition("Completed", "2026-11-22T09:50:00Z"),
/// ];
/// assert_eq!(run_time(&status, jiff::Timestamp::now()), jiff::SignedDuration::from_mins(30));
/// ```
pub fn run_time(status: &BatchJobStatus, now: Timestamp) -> SignedDuration {
    let Some(record) = &status.reservation else {
        return SignedDuration::ZERO;
    };
    let finished = status.phase.is_some_and(is_terminal);
    let start = match condition_time(status, reason::STARTED) {
        Some(started) => started,
        None => {
            let ran = status
                .group_status
                .iter()
                .any(|g| g.succeeded > 0 || g.failed > 0);
            if !ran {
                return SignedDuration::ZERO;
            }
            record.charged_at.as_ref().unwrap_or(&record.requested_at).0
        }
    };
    let end = if finished {
        status
            .conditions
            .iter()
            .filter_map(|c| c.time.as_ref().map(|t| t.0))
            .max()
            .unwrap_or(now)
    } else {
        now
    };
    end.duration_since(start).max(SignedDuration::ZERO)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::api::{BatchJobCondition, GroupStatus, JobPhase};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn at(minute: u32) -> Timestamp {
        format!("2026-11-22T09:{minute:02}:00Z").parse().unwrap()
    }

    fn condition(type_: &str, minute: u32) -> BatchJobCondition {
        BatchJobCondition {
            type_: type_.into(),
            status: "True".into(),
            time: Some(Time(at(minute))),
            ..BatchJobCondition::default()
        }
    }

    /// Charged at 09:05.
    fn status(phase: JobPhase, conditions: &[(&str, u32)], tasks_ended: bool) -> BatchJobStatus {
        let mut s: BatchJobStatus = serde_json::from_value(json!({
            "reservation": {"id": "u1", "budget": "b", "amount": "1", "state": "Charged",
                "requestedAt": "2026-11-22T09:04:00Z", "chargedAt": "2026-11-22T09:05:00Z"}
        }))
        .unwrap();
        s.phase = Some(phase);
        s.conditions = conditions.iter().map(|(t, m)| condition(t, *m)).collect();
        if tasks_ended {
            s.group_status = vec![GroupStatus {
                succeeded: 1,
                ..GroupStatus::default()
            }];
        }
        s
    }

    #[test]
    fn bills_from_the_first_run_to_the_end() {
        use JobPhase::*;
        let now = at(59);
        let cases: [(&str, BatchJobStatus, i64); 7] = [
            (
                "waited 15 min for a node, ran 10",
                status(
                    Succeeded,
                    &[
                        ("BudgetReserved", 5),
                        ("TasksStarted", 20),
                        ("Completed", 30),
                    ],
                    true,
                ),
                10,
            ),
            (
                "still running: until now",
                status(Running, &[("TasksStarted", 20)], false),
                39,
            ),
            (
                "never ran, terminated while waiting",
                status(Failed, &[("BudgetReserved", 5), ("Terminated", 40)], false),
                0,
            ),
            (
                "deleted while waiting for a node",
                status(Ready, &[("BudgetReserved", 5)], false),
                0,
            ),
            (
                "finished between two looks: from the charge",
                status(Succeeded, &[("BudgetReserved", 5), ("Completed", 7)], true),
                2,
            ),
            (
                "terminated while running",
                status(Failed, &[("TasksStarted", 20), ("Terminated", 25)], true),
                5,
            ),
            (
                "clock skew never makes it negative",
                status(Succeeded, &[("TasksStarted", 30), ("Completed", 30)], true),
                0,
            ),
        ];
        for (name, s, minutes) in cases {
            assert_eq!(
                run_time(&s, now),
                SignedDuration::from_mins(minutes),
                "{name}"
            );
        }
        let mut none = status(Succeeded, &[("TasksStarted", 20)], true);
        none.reservation = None;
        assert_eq!(run_time(&none, now), SignedDuration::ZERO, "no reservation");
    }
}
