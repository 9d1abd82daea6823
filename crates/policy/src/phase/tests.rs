//! Every transition of the phase machine, allowed and refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::api::JobPhase::{self, Failed, Queued, Ready, Running, Scheduled, Succeeded};
use crate::budget::ReservationState::{Charged, Charging, Refunded};

const ALL: [Option<JobPhase>; 7] = [
    None,
    Some(Queued),
    Some(Scheduled),
    Some(Ready),
    Some(Running),
    Some(Succeeded),
    Some(Failed),
];

#[test]
fn check_transition_table() {
    use PhaseError as E;
    // (from, to, expected) for every pair.
    let ok = Ok(());
    let table: Vec<(Option<JobPhase>, JobPhase, Result<(), PhaseError>)> = vec![
        (None, Queued, ok),
        (None, Scheduled, ok),
        (
            None,
            Ready,
            Err(E::Skips {
                from: None,
                to: Ready,
            }),
        ),
        (
            None,
            Running,
            Err(E::Skips {
                from: None,
                to: Running,
            }),
        ),
        (
            None,
            Succeeded,
            Err(E::Skips {
                from: None,
                to: Succeeded,
            }),
        ),
        (None, Failed, ok),
        (Some(Queued), Queued, ok),
        (Some(Queued), Scheduled, ok),
        (
            Some(Queued),
            Ready,
            Err(E::Skips {
                from: Some(Queued),
                to: Ready,
            }),
        ),
        (
            Some(Queued),
            Running,
            Err(E::Skips {
                from: Some(Queued),
                to: Running,
            }),
        ),
        (
            Some(Queued),
            Succeeded,
            Err(E::Skips {
                from: Some(Queued),
                to: Succeeded,
            }),
        ),
        (Some(Queued), Failed, ok),
        (
            Some(Scheduled),
            Queued,
            Err(E::Backward {
                from: Some(Scheduled),
                to: Queued,
            }),
        ),
        (Some(Scheduled), Scheduled, ok),
        (Some(Scheduled), Ready, ok),
        (Some(Scheduled), Running, ok),
        (Some(Scheduled), Succeeded, ok),
        (Some(Scheduled), Failed, ok),
        (
            Some(Ready),
            Queued,
            Err(E::Backward {
                from: Some(Ready),
                to: Queued,
            }),
        ),
        (
            Some(Ready),
            Scheduled,
            Err(E::Backward {
                from: Some(Ready),
                to: Scheduled,
            }),
        ),
        (Some(Ready), Ready, ok),
        (Some(Ready), Running, ok),
        (Some(Ready), Succeeded, ok),
        (Some(Ready), Failed, ok),
        (
            Some(Running),
            Queued,
            Err(E::Backward {
                from: Some(Running),
                to: Queued,
            }),
        ),
        (
            Some(Running),
            Scheduled,
            Err(E::Backward {
                from: Some(Running),
                to: Scheduled,
            }),
        ),
        (
            Some(Running),
            Ready,
            Err(E::Backward {
                from: Some(Running),
                to: Ready,
            }),
        ),
        (Some(Running), Running, ok),
        (Some(Running), Succeeded, ok),
        (Some(Running), Failed, ok),
        (
            Some(Succeeded),
            Queued,
            Err(E::Final {
                from: Succeeded,
                to: Queued,
            }),
        ),
        (
            Some(Succeeded),
            Running,
            Err(E::Final {
                from: Succeeded,
                to: Running,
            }),
        ),
        (Some(Succeeded), Succeeded, ok),
        (
            Some(Succeeded),
            Failed,
            Err(E::Final {
                from: Succeeded,
                to: Failed,
            }),
        ),
        (
            Some(Failed),
            Queued,
            Err(E::Final {
                from: Failed,
                to: Queued,
            }),
        ),
        (
            Some(Failed),
            Succeeded,
            Err(E::Final {
                from: Failed,
                to: Succeeded,
            }),
        ),
        (Some(Failed), Failed, ok),
    ];
    for (from, to, expected) in table {
        assert_eq!(check_transition(from, to), expected, "{from:?} → {to:?}");
    }
}

#[test]
fn backward_and_final_errors_read_well() {
    assert_eq!(
        check_transition(Some(Running), Queued)
            .unwrap_err()
            .to_string(),
        "Running → Queued moves backwards"
    );
    assert_eq!(
        check_transition(None, Ready).unwrap_err().to_string(),
        "(no phase) → Ready skips a phase"
    );
    assert_eq!(
        check_transition(Some(Failed), Running)
            .unwrap_err()
            .to_string(),
        "the job is Failed, a final phase: it cannot become Running"
    );
}

/// A group whose `active` pods all run (are Ready).
fn group(task_count: i32, active: i32, succeeded: i32, failed: i32) -> GroupObservation {
    GroupObservation {
        name: "main".into(),
        task_count,
        active,
        running: active,
        succeeded,
        failed,
        failed_runs: failed,
        failed_indexes: String::new(),
        job_failed: None,
    }
}

/// A group whose `active` pods are created but Pending.
fn pending(task_count: i32, active: i32) -> GroupObservation {
    GroupObservation {
        running: 0,
        ..group(task_count, active, 0, 0)
    }
}

fn obs() -> Observation {
    Observation::default()
}

fn with_groups(
    reservation: Option<ReservationState>,
    groups: Vec<GroupObservation>,
) -> Observation {
    Observation {
        reservation,
        jobs_created: true,
        groups,
        ..obs()
    }
}

/// (name, current, observation, expected phase or None for Stay, expected reason)
type Case = (
    &'static str,
    Option<JobPhase>,
    Observation,
    Option<JobPhase>,
    &'static str,
);

fn cases() -> Vec<Case> {
    let failed_job = |reason: &str| GroupObservation {
        job_failed: Some(reason.into()),
        ..group(4, 0, 2, 2)
    };
    vec![
        (
            "a new job is queued",
            None,
            obs(),
            Some(Queued),
            reason::SUBMITTED,
        ),
        (
            "a new job with Terminate fails at once",
            None,
            Observation {
                terminate_requested: true,
                ..obs()
            },
            Some(Failed),
            reason::TERMINATED,
        ),
        (
            "a queued job without reservation stays",
            Some(Queued),
            obs(),
            None,
            "",
        ),
        (
            "a queued job with pending dependencies stays",
            Some(Queued),
            Observation {
                dependencies: DependencyState::Pending("waiting for a (Running)".into()),
                ..obs()
            },
            None,
            "",
        ),
        (
            "a queued job whose dependencies failed fails",
            Some(Queued),
            Observation {
                dependencies: DependencyState::Failed("a Failed".into()),
                ..obs()
            },
            Some(Failed),
            reason::DEPENDENCY_FAILED,
        ),
        (
            "a queued job with a reservation intent is scheduled",
            Some(Queued),
            Observation {
                reservation: Some(Charging),
                ..obs()
            },
            Some(Scheduled),
            reason::SCHEDULED,
        ),
        (
            "terminate wins over scheduling",
            Some(Queued),
            Observation {
                reservation: Some(Charging),
                terminate_requested: true,
                ..obs()
            },
            Some(Failed),
            reason::TERMINATED,
        ),
        (
            "scheduled waits for the charge",
            Some(Scheduled),
            Observation {
                reservation: Some(Charging),
                jobs_created: true,
                ..obs()
            },
            None,
            "",
        ),
        (
            "scheduled waits for the Jobs",
            Some(Scheduled),
            Observation {
                reservation: Some(Charged),
                jobs_created: false,
                ..obs()
            },
            None,
            "",
        ),
        (
            "scheduled stays while its new Jobs' pods start",
            Some(Scheduled),
            Observation {
                reservation: Some(Charged),
                jobs_created: true,
                ..obs()
            },
            None,
            "",
        ),
        (
            "scheduled becomes ready once its tasks have waited a while",
            Some(Scheduled),
            Observation {
                reservation: Some(Charged),
                jobs_created: true,
                tasks_waiting: true,
                ..obs()
            },
            Some(Ready),
            reason::RESERVED,
        ),
        (
            "scheduled becomes running when a task runs before ready was due",
            Some(Scheduled),
            with_groups(Some(Charged), vec![group(1, 1, 0, 0)]),
            Some(Running),
            reason::STARTED,
        ),
        (
            "scheduled running tasks win over waiting",
            Some(Scheduled),
            Observation {
                tasks_waiting: true,
                ..with_groups(Some(Charged), vec![group(2, 1, 0, 0)])
            },
            Some(Running),
            reason::STARTED,
        ),
        (
            "scheduled succeeds when its tasks finished between two looks",
            Some(Scheduled),
            with_groups(Some(Charged), vec![group(1, 0, 1, 0)]),
            Some(Succeeded),
            reason::COMPLETED,
        ),
        (
            "scheduled fails when its tasks failed between two looks",
            Some(Scheduled),
            with_groups(Some(Charged), vec![group(1, 0, 0, 1)]),
            Some(Failed),
            reason::RETRIES_EXHAUSTED,
        ),
        (
            "scheduled with running tasks waits for the charge",
            Some(Scheduled),
            with_groups(Some(Charging), vec![group(1, 1, 0, 0)]),
            None,
            "",
        ),
        (
            "scheduled can be terminated",
            Some(Scheduled),
            Observation {
                terminate_requested: true,
                ..obs()
            },
            Some(Failed),
            reason::TERMINATED,
        ),
        (
            "dependencies no longer matter once scheduled",
            Some(Scheduled),
            Observation {
                dependencies: DependencyState::Failed("x".into()),
                ..obs()
            },
            None,
            "",
        ),
        (
            "ready without pods stays",
            Some(Ready),
            with_groups(Some(Charged), vec![group(4, 0, 0, 0)]),
            None,
            "",
        ),
        (
            "ready with pods that are all Pending stays (they wait for a node)",
            Some(Ready),
            with_groups(Some(Charged), vec![pending(4, 4)]),
            None,
            "",
        ),
        (
            "ready whose only sign of life is a failed run that will be retried runs",
            Some(Ready),
            with_groups(
                Some(Charged),
                vec![GroupObservation {
                    failed_runs: 1,
                    ..pending(4, 4)
                }],
            ),
            Some(Running),
            reason::STARTED,
        ),
        (
            "ready with an active pod runs",
            Some(Ready),
            with_groups(Some(Charged), vec![group(4, 1, 0, 0)]),
            Some(Running),
            reason::STARTED,
        ),
        (
            "ready that finished between two looks succeeds",
            Some(Ready),
            with_groups(Some(Charged), vec![group(4, 0, 4, 0)]),
            Some(Succeeded),
            reason::COMPLETED,
        ),
        (
            "running with work left stays",
            Some(Running),
            with_groups(Some(Charged), vec![group(4, 2, 2, 0)]),
            None,
            "",
        ),
        (
            "running with a failed index but others active stays",
            Some(Running),
            with_groups(Some(Charged), vec![group(4, 2, 1, 1)]),
            None,
            "",
        ),
        (
            "running with every index done and one failed fails",
            Some(Running),
            with_groups(Some(Charged), vec![group(4, 0, 3, 1)]),
            Some(Failed),
            reason::RETRIES_EXHAUSTED,
        ),
        (
            "running whose Job reports FailedIndexes fails",
            Some(Running),
            with_groups(Some(Charged), vec![failed_job("FailedIndexes")]),
            Some(Failed),
            reason::RETRIES_EXHAUSTED,
        ),
        (
            "running whose Job hit its deadline fails",
            Some(Running),
            with_groups(Some(Charged), vec![failed_job("DeadlineExceeded")]),
            Some(Failed),
            reason::DEADLINE_EXCEEDED,
        ),
        (
            "running whose Job failed otherwise fails",
            Some(Running),
            with_groups(Some(Charged), vec![failed_job("PodFailurePolicy")]),
            Some(Failed),
            reason::JOB_FAILED,
        ),
        (
            "one failed group fails the job while another still runs",
            Some(Running),
            with_groups(
                Some(Charged),
                vec![group(2, 1, 1, 0), failed_job("FailedIndexes")],
            ),
            Some(Failed),
            reason::RETRIES_EXHAUSTED,
        ),
        (
            "running succeeds only when every group succeeded",
            Some(Running),
            with_groups(Some(Charged), vec![group(2, 0, 2, 0), group(3, 1, 2, 0)]),
            None,
            "",
        ),
        (
            "running with all groups done succeeds",
            Some(Running),
            with_groups(Some(Charged), vec![group(2, 0, 2, 0), group(3, 0, 3, 0)]),
            Some(Succeeded),
            reason::COMPLETED,
        ),
        (
            "running can be terminated",
            Some(Running),
            Observation {
                terminate_requested: true,
                ..with_groups(Some(Charged), vec![group(4, 4, 0, 0)])
            },
            Some(Failed),
            reason::TERMINATED,
        ),
        (
            "running without observations stays",
            Some(Running),
            obs(),
            None,
            "",
        ),
        (
            "succeeded is final, even with terminate",
            Some(Succeeded),
            Observation {
                terminate_requested: true,
                ..obs()
            },
            None,
            "",
        ),
        (
            "failed is final",
            Some(Failed),
            with_groups(Some(Refunded), vec![group(1, 0, 1, 0)]),
            None,
            "",
        ),
    ]
}

#[test]
fn next_phase_table() {
    for (name, current, observation, expected, expected_reason) in cases() {
        let got = next_phase(current, &observation);
        match (expected, &got) {
            (None, Transition::Stay) => {}
            (
                Some(phase),
                Transition::To {
                    phase: p,
                    reason: r,
                    ..
                },
            ) => {
                assert_eq!((*p, *r), (phase, expected_reason), "{name}");
            }
            _ => panic!("{name}: expected {expected:?}, got {got}"),
        }
    }
}

#[test]
fn next_phase_never_proposes_a_refused_transition() {
    for current in ALL {
        for (_, _, observation, _, _) in cases() {
            if let Transition::To { phase, .. } = next_phase(current, &observation) {
                assert_eq!(
                    check_transition(current, phase),
                    Ok(()),
                    "{current:?} → {phase:?}"
                );
            }
        }
    }
}

#[test]
fn failure_messages_name_the_group() {
    let t = next_phase(
        Some(Running),
        &with_groups(Some(Charged), vec![group(8, 0, 6, 2)]),
    );
    assert_eq!(
        t.to_string(),
        "Failed (RetriesExhausted): task group main: 2 of 8 tasks failed after exhausting their retries"
    );
    let t = next_phase(
        Some(Running),
        &with_groups(Some(Charged), vec![group(1, 0, 1, 0)]),
    );
    assert_eq!(t.to_string(), "Succeeded (Completed): 1 task succeeded");
}

#[test]
fn failure_messages_name_the_failed_indexes() {
    for (indexes, suffix) in [
        ("3", " (index 3)"),
        ("0,5", " (indexes 0,5)"),
        ("1-2", " (indexes 1-2)"),
    ] {
        let failed = GroupObservation {
            failed_indexes: indexes.into(),
            ..group(8, 0, 6, 2)
        };
        let t = next_phase(Some(Running), &with_groups(Some(Charged), vec![failed]));
        assert_eq!(
            t.to_string(),
            format!(
                "Failed (RetriesExhausted): task group main: 2 of 8 tasks failed after \
                 exhausting their retries{suffix}"
            )
        );
    }
}

#[test]
fn rank_orders_phases() {
    let ranks: Vec<u8> = ALL.iter().map(|p| rank(*p)).collect();
    assert_eq!(ranks, [0, 1, 2, 3, 4, 5, 5]);
    assert!(is_terminal(Succeeded) && is_terminal(Failed) && !is_terminal(Running));
}
