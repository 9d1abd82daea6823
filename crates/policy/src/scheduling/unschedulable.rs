//! Why a Ready job's pods wait: the scheduler's own words, from their `PodScheduled`
//! condition.

use super::Condition;
use crate::phase::reason;
use k8s_openapi::api::core::v1::Pod;

fn waiting(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && matches!(phase, None | Some("Pending"))
}

/// The scheduler's message of a pod it could not place (`PodScheduled=False`, reason
/// `Unschedulable`).
fn unplaced(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.as_deref().unwrap_or("no reason given"))
}

/// The `Unschedulable` condition of a job whose `pods` (of every task group) include some
/// that the scheduler could not place, quoting it; `None` when every waiting pod is placed.
///
/// ```
/// use kbatch_policy::scheduling::unschedulable;
/// use k8s_openapi::api::core::v1::Pod;
///
/// let pod: Pod = serde_json::from_value(serde_json::json!({"status": {"phase": "Pending",
///     "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
///         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}})).unwrap();
/// let c = unschedulable(&[pod]).unwrap();
/// assert_eq!(c.message, "1 of 1 waiting pods cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
/// ```
pub fn unschedulable(pods: &[Pod]) -> Option<Condition> {
    let waiting: Vec<&Pod> = pods.iter().filter(|p| waiting(p)).collect();
    let unplaced: Vec<&str> = waiting.iter().filter_map(|p| unplaced(p)).collect();
    let first = unplaced.first()?;
    Some(Condition::new(
        reason::UNSCHEDULABLE,
        reason::UNSCHEDULABLE,
        format!(
            "{} of {} waiting pods cannot be scheduled: {first}",
            unplaced.len(),
            waiting.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn pod(phase: &str, scheduled: Option<(&str, &str)>, deleting: bool) -> Pod {
        let conditions: Vec<_> = scheduled
            .map(|(status, reason)| {
                json!({"type": "PodScheduled", "status": status, "reason": reason,
                    "message": format!("{reason} says the scheduler")})
            })
            .into_iter()
            .collect();
        let mut metadata = json!({"name": "p"});
        if deleting {
            metadata["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": metadata,
            "status": {"phase": phase, "conditions": conditions}}))
        .unwrap()
    }

    #[test]
    fn quotes_the_scheduler_only_for_waiting_pods_it_could_not_place() {
        let unplaced = || pod("Pending", Some(("False", "Unschedulable")), false);
        let cases: Vec<(&str, Vec<Pod>, Option<&str>)> = vec![
            ("no pods", vec![], None),
            (
                "placed, not started",
                vec![pod("Pending", Some(("True", "")), false)],
                None,
            ),
            ("not looked at yet", vec![pod("Pending", None, false)], None),
            (
                "one of two waiting pods unplaced",
                vec![unplaced(), pod("Pending", None, false)],
                Some("1 of 2 waiting pods cannot be scheduled: Unschedulable says the scheduler"),
            ),
            (
                "running pods do not count",
                vec![unplaced(), pod("Running", Some(("True", "")), false)],
                Some("1 of 1 waiting pods cannot be scheduled: Unschedulable says the scheduler"),
            ),
            (
                "a pod being deleted is not waiting",
                vec![pod("Pending", Some(("False", "Unschedulable")), true)],
                None,
            ),
            (
                "scheduling gates are not the scheduler's refusal",
                vec![pod("Pending", Some(("False", "SchedulingGated")), false)],
                None,
            ),
        ];
        for (name, pods, expected) in cases {
            let got = unschedulable(&pods);
            assert_eq!(got.as_ref().map(|c| c.message.as_str()), expected, "{name}");
            if let Some(c) = got {
                assert_eq!(
                    (c.type_, c.reason),
                    (reason::UNSCHEDULABLE, reason::UNSCHEDULABLE)
                );
            }
        }
    }
}
