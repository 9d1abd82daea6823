#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::fixtures::{BatchJobExt, batch_job, failed, owned_job, progress, record};
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
            name: "a Scheduled job whose Jobs exist is Ready",
            job: batch_job(2).in_phase(JobPhase::Scheduled),
            owned: vec![owned_job(2, progress(0, 0))],
            phase: Some(JobPhase::Ready),
            reason: Some(reason::RESERVED),
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
        let d = decide(&c.job, &c.owned, high(), now());
        let expected = c.phase.map(|p| (Some(p), c.reason.map(str::to_owned)));
        assert_eq!(outcome(&d), expected, "{}", c.name);
        assert_eq!(d.create_jobs.len(), c.creates, "{}", c.name);
        assert_eq!(d.delete_jobs.len(), c.deletes, "{}", c.name);
    }
}

#[test]
fn records_submitter_and_priority_while_queued() {
    let d = decide(&batch_job(1), &[], high(), now());
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
    let d = decide(&job, &[owned_job(1, progress(1, 0))], high(), now());
    let kept = d.status.unwrap().batch_priority.unwrap();
    assert_eq!((kept.name.as_str(), kept.value), ("low", 1));
}

#[test]
fn an_uncharged_scheduled_job_gets_no_jobs() {
    let mut job = batch_job(1).in_phase(JobPhase::Scheduled);
    job.status.as_mut().unwrap().reservation = Some(record(ReservationState::Charging));
    job.status.as_mut().unwrap().budget_consumed = Some(0.0);
    let d = decide(&job, &[], None, now());
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
        None,
        now(),
    );
    assert_eq!(d.delete_jobs, vec!["pi-other".to_owned()]);
    assert_eq!(
        outcome(&d).unwrap().1.as_deref(),
        Some(reason::RETRIES_EXHAUSTED)
    );
}

#[test]
fn run_time_goes_from_the_charge_to_the_final_condition() {
    let job = batch_job(1).in_phase(JobPhase::Running);
    let mut status = job.status.unwrap();
    status.reservation.as_mut().unwrap().charged_at =
        Some(Time("2026-11-22T09:10:00Z".parse().unwrap()));
    status = with_phase(
        &status,
        JobPhase::Succeeded,
        reason::COMPLETED,
        "done".into(),
        "2026-11-22T09:40:00Z".parse().unwrap(),
    );
    assert_eq!(run_time(&status, now()), SignedDuration::from_mins(30));
}

#[test]
fn a_job_stopped_before_it_finished_ran_until_now() {
    // Deleted while Running: its last condition (Running, 09:20) is not when it stopped.
    let job = batch_job(1).in_phase(JobPhase::Running);
    let mut status = job.status.unwrap();
    status.reservation.as_mut().unwrap().charged_at =
        Some(Time("2026-11-22T09:10:00Z".parse().unwrap()));
    status = with_phase(
        &status,
        JobPhase::Running,
        reason::STARTED,
        "running".into(),
        "2026-11-22T09:20:00Z".parse().unwrap(),
    );
    assert_eq!(now(), "2026-11-22T10:00:00Z".parse().unwrap());
    assert_eq!(run_time(&status, now()), SignedDuration::from_mins(50));
}
