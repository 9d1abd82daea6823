//! The cluster tests: kbatch installed on a real Kubernetes control plane (see
//! `kbatch_e2e::cluster`), each scenario asserting what a user would see with kubectl.
//!
//! They need `KUBEBUILDER_ASSETS` (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler); without it every scenario is reported ignored, after one line saying why.
//! One control plane is started for the whole run, at the first scenario, and stopped at the
//! end, pass or fail; each scenario works in its own namespaces and policy objects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod budgets;
mod common;
mod crash;
mod deletion_guards;
mod dependencies;
mod examples;
mod failover;
mod forged_records;
mod isolation;
mod names;
mod observability;
mod placement;
mod preemption;
mod retries;
mod rights;
mod terminate;
mod unschedulable;
mod webhook_down;

use kbatch_e2e::cluster::{self, Cluster};
use libtest_mimic::{Arguments, Failed, Trial};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

/// A scenario: runs against the shared cluster.
type Scenario = fn(&Cluster) -> anyhow::Result<()>;

/// Whether a scenario may share the installation with others, or changes it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sharing {
    Shared,
    Exclusive,
}

/// `[Shared|Exclusive] module::function, ...` → the scenario table, named as libtest would.
macro_rules! scenarios {
    ($($sharing:ident $module:ident::$name:ident),* $(,)?) => {
        &[$((
            concat!(stringify!($module), "::", stringify!($name)),
            Sharing::$sharing,
            $module::$name as Scenario,
        )),*]
    };
}

const SCENARIOS: &[(&str, Sharing, Scenario)] = scenarios![
    Shared examples::the_examples_apply_and_an_array_job_runs_to_success,
    Shared unschedulable::a_job_no_node_can_hold_waits_ready_unbilled_and_unkilled,
    Shared retries::an_index_that_fails_twice_succeeds_on_its_third_attempt,
    Shared retries::without_retries_the_job_fails_naming_the_index,
    Shared retries::a_retried_job_is_billed_for_each_run,
    Shared preemption::a_preempted_task_does_not_consume_retries_with_restart_never,
    Shared preemption::a_preempted_task_does_not_consume_retries_with_restart_on_failure,
    Shared placement::gpu_and_preemptible_selectors_put_pods_on_the_right_nodes,
    Shared dependencies::a_dependent_job_waits_then_starts_or_fails_by_type,
    Shared budgets::windows_hold_the_reservation_then_exactly_the_actual_cost,
    Shared budgets::a_job_over_budget_waits_until_the_window_is_raised,
    Shared budgets::a_window_rolls_over_on_time_without_any_job,
    Shared terminate::the_submitter_terminates_and_is_refunded_another_user_is_refused,
    Shared deletion_guards::objects_in_use_cannot_be_deleted_and_finalizers_go_once_unused,
    Shared isolation::nobody_but_the_controller_writes_a_job_status,
    Shared isolation::nobody_but_the_submitter_touches_a_job_and_kbatch_metadata_is_the_controllers,
    Shared isolation::the_template_cannot_place_pods_on_gpu_or_preemptible_nodes_itself,
    Shared isolation::no_batchjob_can_be_made_where_the_webhook_does_not_look,
    Shared isolation::pods_run_only_as_the_user_context_allows,
    Shared isolation::a_namespace_holds_no_more_jobs_than_its_quota,
    Shared forged_records::a_forged_or_replayed_record_refunds_no_more_than_was_charged,
    Shared rights::each_identity_has_the_rights_the_readme_states,
    Shared names::jobs_whose_names_join_alike_both_run,
    Shared observability::the_controller_reports_events_metrics_and_readiness,
    Exclusive crash::the_books_balance_after_the_controller_is_killed_five_times,
    Exclusive failover::a_frozen_leader_is_replaced_and_nothing_is_done_twice,
    Exclusive webhook_down::with_the_webhook_down_batchjobs_fail_closed_and_nothing_else_does,
];

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // Scenarios mostly wait for controllers: run several at once unless told otherwise.
    args.test_threads.get_or_insert(6);
    let assets = cluster::assets();
    if let Err(reason) = &assets {
        println!("cluster tests skipped: {reason}");
    }
    // Started by the first scenario that runs (none when the filter selects none), dropped
    // (every process stopped) once all have run.
    let shared: Arc<OnceLock<Result<Cluster, String>>> = Arc::new(OnceLock::new());
    let trials = SCENARIOS
        .iter()
        .map(|&(name, sharing, scenario)| {
            let shared = Arc::clone(&shared);
            let skipped = assets.is_err();
            let assets = assets.clone();
            Trial::test(name, move || {
                let assets = assets.map_err(Failed::from)?;
                let cluster = shared
                    .get_or_init(|| Cluster::start(&assets).map_err(|e| format!("{e:#}")))
                    .as_ref()
                    .map_err(|e| Failed::from(format!("the test cluster did not start: {e}")))?;
                let result = match sharing {
                    Sharing::Shared => {
                        let _shared = cluster.shared();
                        scenario(cluster)
                    }
                    Sharing::Exclusive => {
                        let _exclusive = cluster.exclusive();
                        scenario(cluster)
                    }
                };
                result.map_err(|e| {
                    Failed::from(format!(
                        "{e:#}\n--- controller log (last lines) ---\n{}\n--- work dir: {} ---",
                        cluster.controller_log(25),
                        cluster.work_dir().display()
                    ))
                })
            })
            .with_ignored_flag(skipped)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(shared);
    conclusion.exit_code()
}
