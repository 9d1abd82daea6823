#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::fixtures::{BatchJobExt, batch_job, failed, owned_job, pending, progress, record};
use k8s_openapi::api::batch::v1::JobStatus;
use kbatch_policy::phase::reason;

fn now() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn high() -> Option<PriorityRef> {
    Some(PriorityRef {
        name: "high".into(),
        value: 100,
    })
}

/// `seconds` before [`now`].
fn ago(seconds: i64) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    let at = now()
        .checked_sub(jiff::SignedDuration::from_secs(seconds))
        .unwrap();
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at)
}

/// `job` as created `seconds` before [`now`], not started yet by the Job controller.
fn created(mut job: Job, seconds: i64) -> Job {
    job.metadata.creation_timestamp = Some(ago(seconds));
    job
}

/// `job` as started by the Job controller (its pods created) `seconds` before [`now`].
fn started(job: Job, seconds: i64) -> Job {
    let mut job = created(job, seconds);
    job.status.get_or_insert_with(Default::default).start_time = Some(ago(seconds));
    job
}

/// The phase and the last condition's reason of the decided status, if any.
fn outcome(d: &Decision) -> Option<(Option<JobPhase>, Option<String>)> {
    d.status.as_ref().map(|s| {
        let reason = s.conditions.last().and_then(|c| c.reason.clone());
        (s.phase, reason)
    })
}

#[test]
fn table() {
    struct Case {
        name: &'static str,
        job: BatchJob,
        owned: Vec<Job>,
        phase: Option<JobPhase>,
        reason: Option<&'static str>,
        creates: usize,
        deletes: usize,
    }
    let running = || batch_job(2).in_phase(JobPhase::Running);
    let cases = [
        Case {
            name: "a new job is queued",
            job: batch_job(2),
            owned: vec![],
            phase: Some(JobPhase::Queued),
            reason: Some(reason::SUBMITTED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a charged Scheduled job gets its Jobs",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![],
            phase: None,
            reason: None,
            creates: 1,
            deletes: 0,
        },
        Case {
            name: "a Scheduled job whose tasks were just started stays Scheduled (no write)",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![started(owned_job(2, pending(2)), 9)],
            phase: None,
            reason: None,
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Scheduled job whose Jobs the Job controller has not started stays Scheduled",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![created(owned_job(2, JobStatus::default()), 60)],
            phase: None,
            reason: None,
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Scheduled job whose tasks have waited a while is Ready",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![started(owned_job(2, pending(2)), 10)],
            phase: Some(JobPhase::Ready),
            reason: Some(reason::RESERVED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Scheduled job whose task runs goes straight to Running",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![created(owned_job(2, progress(1, 0)), 1)],
            phase: Some(JobPhase::Running),
            reason: Some(reason::STARTED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Scheduled job whose tasks all finished succeeds",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![created(owned_job(2, progress(0, 2)), 1)],
            phase: Some(JobPhase::Succeeded),
            reason: Some(reason::COMPLETED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Ready job with a running task is Running",
            job: batch_job(2).in_phase(JobPhase::Ready),
            owned: vec![owned_job(2, progress(1, 0))],
            phase: Some(JobPhase::Running),
            reason: Some(reason::STARTED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Ready job whose pods are all Pending stays Ready",
            job: batch_job(2).in_phase(JobPhase::Ready),
            owned: vec![owned_job(2, pending(2))],
            // Only its groupStatus is written.
            phase: Some(JobPhase::Ready),
            reason: None,
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "every index succeeded",
            job: running(),
            owned: vec![owned_job(2, progress(0, 2))],
            phase: Some(JobPhase::Succeeded),
            reason: Some(reason::COMPLETED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "a Job past its deadline fails the job",
            job: running(),
            owned: vec![owned_job(2, failed("DeadlineExceeded"))],
            phase: Some(JobPhase::Failed),
            reason: Some(reason::DEADLINE_EXCEEDED),
            creates: 0,
            deletes: 0,
        },
        Case {
            name: "terminate deletes the Jobs and fails",
            job: running().terminated(),
            owned: vec![owned_job(2, progress(1, 1))],
            phase: Some(JobPhase::Failed),
            reason: Some(reason::TERMINATED),
            creates: 0,
            deletes: 1,
        },
        Case {
            name: "a finished job is left alone, even when asked to terminate",
            job: batch_job(2).in_phase(JobPhase::Succeeded).terminated(),
            owned: vec![],
            phase: None,
            reason: None,
            creates: 0,
            deletes: 0,
        },
    ];
    for c in cases {
        let d = decide(&c.job, &c.owned, &[], high(), now());
        let expected = c.phase.map(|p| (Some(p), c.reason.map(str::to_owned)));
        assert_eq!(outcome(&d), expected, "{}", c.name);
        assert_eq!(d.create_jobs.len(), c.creates, "{}", c.name);
        assert_eq!(d.delete_jobs.len(), c.deletes, "{}", c.name);
    }
}

#[test]
fn records_submitter_and_priority_while_queued() {
    let d = decide(&batch_job(1), &[], &[], high(), now());
    let s = d.status.unwrap();
    assert_eq!(s.submitted_by.as_deref(), Some("alice"));
    assert_eq!(s.batch_priority, high());
}

#[test]
fn keeps_the_priority_once_scheduled() {
    let mut job = batch_job(1).in_phase(JobPhase::Running);
    job.status.as_mut().unwrap().batch_priority = Some(PriorityRef {
        name: "low".into(),
        value: 1,
    });
    let d = decide(&job, &[owned_job(1, progress(1, 0))], &[], high(), now());
    let kept = d.status.unwrap().batch_priority.unwrap();
    assert_eq!((kept.name.as_str(), kept.value), ("low", 1));
}

#[test]
fn an_uncharged_scheduled_job_gets_no_jobs() {
    let mut job = batch_job(1).in_phase(JobPhase::Scheduled);
    job.status.as_mut().unwrap().reservation = Some(record(ReservationState::Charging));
    job.status.as_mut().unwrap().budget_consumed = Some(0.0);
    let d = decide(&job, &[], &[], None, now());
    assert_eq!(d, Decision::default());
}

#[test]
fn a_failed_group_stops_the_running_ones() {
    let mut job = batch_job(1).in_phase(JobPhase::Running);
    job.spec.task_groups.push(job.spec.task_groups[0].clone());
    job.spec.task_groups[1].name = "other".into();
    let mut other = owned_job(1, progress(1, 0));
    other.metadata.name = Some("pi-other".into());
    let d = decide(
        &job,
        &[owned_job(1, failed("FailedIndexes")), other],
        &[],
        None,
        now(),
    );
    assert_eq!(d.delete_jobs, vec!["pi-other".to_owned()]);
    assert_eq!(
        outcome(&d).unwrap().1.as_deref(),
        Some(reason::RETRIES_EXHAUSTED)
    );
}

fn unplaced_pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pi-main-0-x"},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector."}]}
    }))
    .unwrap()
}

#[test]
fn a_ready_job_says_why_its_pods_wait_and_stops_once_they_are_placed() {
    let job = batch_job(1).in_phase(JobPhase::Ready);
    let owned = [owned_job(1, pending(1))];
    assert!(needs_pods(&job, &owned));
    let d = decide(&job, &owned, &[unplaced_pod()], high(), now());
    let status = d.status.expect("the condition is written");
    assert_eq!(status.phase, Some(JobPhase::Ready));
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == reason::UNSCHEDULABLE)
        .expect("an Unschedulable condition");
    assert_eq!(
        c.message.as_deref(),
        Some(
            "1 of 1 waiting pods cannot be scheduled: 0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector."
        )
    );

    // Same view again: nothing to write.
    let mut waiting = job.clone();
    waiting.status = Some(status.clone());
    assert_eq!(
        decide(&waiting, &owned, &[unplaced_pod()], high(), now()).status,
        None
    );

    // Placed (or no longer read): the condition goes.
    let d = decide(&waiting, &owned, &[], high(), now());
    let cleared = d.status.expect("the condition is removed");
    assert!(
        cleared
            .conditions
            .iter()
            .all(|c| c.type_ != reason::UNSCHEDULABLE)
    );

    // Running: it goes with the waiting conditions.
    let d = decide(
        &waiting,
        &[owned_job(1, progress(1, 0))],
        &[],
        high(),
        now(),
    );
    let running = d.status.unwrap();
    assert_eq!(running.phase, Some(JobPhase::Running));
    assert!(
        running
            .conditions
            .iter()
            .all(|c| c.type_ != reason::UNSCHEDULABLE)
    );
}

#[test]
fn pods_are_read_only_for_a_ready_job_with_pods_not_running() {
    let ready = batch_job(1).in_phase(JobPhase::Ready);
    let running = batch_job(1).in_phase(JobPhase::Running);
    for (name, job, status, expected) in [
        ("ready, one pending", &ready, pending(1), true),
        ("ready, all running", &ready, progress(1, 0), false),
        ("ready, no pod yet", &ready, pending(0), false),
        ("running, one pending", &running, pending(1), false),
    ] {
        assert_eq!(needs_pods(job, &[owned_job(1, status)]), expected, "{name}");
    }
}

#[test]
fn group_counts_are_written_when_a_task_starts_or_ends_not_when_a_pod_stops() {
    let job = |active, succeeded| {
        let mut j = batch_job(2).in_phase(JobPhase::Running);
        let shown = group_status(&j, &[owned_job(2, progress(active, succeeded))]);
        j.status.as_mut().unwrap().group_status = shown;
        j
    };
    let status = |active, done| vec![owned_job(2, progress(active, done))];
    // (what, shown active/succeeded, observed active/succeeded, written)
    let table = [
        ("a second task starts", (1, 0), (2, 0), true),
        ("a task succeeds", (2, 0), (1, 1), true),
        (
            "a pod stopped, its outcome not counted yet",
            (2, 0),
            (1, 0),
            false,
        ),
        ("nothing changed", (1, 0), (1, 0), false),
    ];
    for (what, (a, s), (oa, os), written) in table {
        let d = decide(&job(a, s), &status(oa, os), &[], high(), now());
        assert_eq!(d.status.is_some(), written, "{what}");
    }
}
