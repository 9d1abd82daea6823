//! Crash injection for the budget ledger.
//!
//! A simulated controller drives N jobs through reserve → run → finish → refund against an
//! in-memory "API server" holding the job statuses and the budget status, with
//! resourceVersion preconditions (409 on a stale version). Any write may fail before it is
//! persisted, or be persisted with its response lost (the controller's view is then stale),
//! or crash the controller (all in-memory state dropped; on restart it re-lists, possibly
//! from a stale cache). After every write the server's books must balance
//! (`ledger::audit`), and at the end every window must hold exactly the jobs' net charges.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use jiff::{SignedDuration, Timestamp};
use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus, BatchJobStatus, JobPhase};
use kbatch_policy::budget::ledger::{self, LedgerStep};
use kbatch_policy::budget::{
    BudgetPlan, Money, ReservationRecord, ReservationState, ReservedGroup, record_spent,
    window_spent,
};
use kbatch_policy::phase::check_transition;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The request fails and nothing is persisted.
    FailBefore,
    /// The write is persisted but the response is lost.
    FailAfter,
    /// The controller crashes before the request reaches the server.
    CrashBefore,
    /// The write is persisted, then the controller crashes.
    CrashAfter,
}

const FAULTS: [Fault; 4] = [
    Fault::FailBefore,
    Fault::FailAfter,
    Fault::CrashBefore,
    Fault::CrashAfter,
];

/// How a restarted controller's caches are filled.
#[derive(Debug, Clone, Copy)]
enum Relist {
    /// The current versions.
    Fresh,
    /// Any past version of each object (seeded).
    Random(u64),
}

#[derive(Debug, Clone)]
struct Versioned<T> {
    rv: u64,
    value: T,
}

#[derive(Debug, Clone, Copy)]
struct JobPlan {
    amount: Money,
    wall_seconds: u64,
    runtime: SignedDuration,
    submit_at: Timestamp,
}

struct World {
    plan: BudgetPlan,
    jobs: BTreeMap<String, JobPlan>,
    start: Timestamp,
    tick: SignedDuration,
}

enum Outcome {
    Ok(u64),
    Conflict,
    Failed,
    Crash,
}

struct Server {
    /// Every version of every job status, current last.
    jobs: BTreeMap<String, Vec<Versioned<BatchJobStatus>>>,
    /// Every version of the budget status, current last.
    budget: Vec<Versioned<BatchBudgetStatus>>,
    next_rv: u64,
    writes: usize,
    faults: BTreeMap<usize, Fault>,
}

impl Server {
    fn new(world: &World, faults: BTreeMap<usize, Fault>) -> Server {
        let status = BatchJobStatus {
            phase: Some(JobPhase::Queued),
            ..Default::default()
        };
        let jobs = world
            .jobs
            .keys()
            .enumerate()
            .map(|(i, uid)| {
                (
                    uid.clone(),
                    vec![Versioned {
                        rv: i as u64 + 1,
                        value: status.clone(),
                    }],
                )
            })
            .collect();
        Server {
            jobs,
            budget: vec![Versioned {
                rv: 0,
                value: BatchBudgetStatus::default(),
            }],
            next_rv: world.jobs.len() as u64 + 1,
            writes: 0,
            faults,
        }
    }

    fn job(&self, uid: &str) -> &Versioned<BatchJobStatus> {
        self.jobs[uid].last().unwrap()
    }

    fn current_budget(&self) -> &Versioned<BatchBudgetStatus> {
        self.budget.last().unwrap()
    }

    /// Applies the fault plan and the precondition; `persist` stores the value and returns
    /// its new resourceVersion.
    fn attempt(&mut self, current_rv: u64, expected_rv: u64, persist: impl FnOnce(u64)) -> Outcome {
        let fault = self.faults.get(&self.writes).copied();
        self.writes += 1;
        match fault {
            Some(Fault::FailBefore) => return Outcome::Failed,
            Some(Fault::CrashBefore) => return Outcome::Crash,
            _ => {}
        }
        if current_rv != expected_rv {
            return Outcome::Conflict;
        }
        let rv = self.next_rv;
        self.next_rv += 1;
        persist(rv);
        match fault {
            Some(Fault::FailAfter) => Outcome::Failed,
            Some(Fault::CrashAfter) => Outcome::Crash,
            _ => Outcome::Ok(rv),
        }
    }

    fn write_job(&mut self, uid: &str, expected_rv: u64, value: BatchJobStatus) -> Outcome {
        let current = self.job(uid).clone();
        // The phase machine is enforced by the "server" too: it must never move backwards.
        if current.rv == expected_rv {
            let (from, to) = (current.value.phase, value.phase.unwrap());
            assert!(
                check_transition(from, to).is_ok(),
                "{uid}: {from:?} → {to:?}"
            );
        }
        let mut stored = None;
        let outcome = self.attempt(current.rv, expected_rv, |rv| {
            stored = Some(Versioned { rv, value })
        });
        if let Some(v) = stored {
            self.jobs.get_mut(uid).unwrap().push(v);
        }
        outcome
    }

    fn write_budget(&mut self, expected_rv: u64, value: BatchBudgetStatus) -> Outcome {
        let current = self.current_budget().rv;
        let mut stored = None;
        let outcome = self.attempt(current, expected_rv, |rv| {
            stored = Some(Versioned { rv, value })
        });
        if let Some(v) = stored {
            self.budget.push(v);
        }
        outcome
    }

    fn records(&self) -> Vec<ReservationRecord> {
        self.jobs
            .keys()
            .filter_map(|uid| self.job(uid).value.reservation.clone())
            .collect()
    }

    fn settled(&self) -> bool {
        self.current_budget().value.ledger.is_empty()
            && self.jobs.keys().all(|uid| {
                self.job(uid)
                    .value
                    .reservation
                    .as_ref()
                    .is_some_and(|r| r.state == ReservationState::Refunded)
            })
    }
}

/// A tiny deterministic generator for stale re-lists.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

struct Controller {
    jobs: BTreeMap<String, Versioned<BatchJobStatus>>,
    budget: Versioned<BatchBudgetStatus>,
    /// resourceVersion of the last successful conditional write of each job in this
    /// incarnation, with no failure since: the fresh proof.
    proven: BTreeMap<String, u64>,
}

enum Step {
    Idle,
    Wrote,
    Crashed,
}

impl Controller {
    fn list(server: &Server, relist: &mut Relist) -> Controller {
        let mut pick = |len: usize| match relist {
            Relist::Fresh => len - 1,
            Relist::Random(seed) => (next(seed) % len as u64) as usize,
        };
        let jobs = server
            .jobs
            .iter()
            .map(|(uid, versions)| (uid.clone(), versions[pick(versions.len())].clone()))
            .collect();
        let budget = server.budget[pick(server.budget.len())].clone();
        Controller {
            jobs,
            budget,
            proven: BTreeMap::new(),
        }
    }

    /// Watch events: the caches reach the server's current versions.
    fn catch_up(&mut self, server: &Server) {
        for uid in server.jobs.keys() {
            self.refresh_job(server, uid);
        }
        self.refresh_budget(server);
    }

    fn refresh_job(&mut self, server: &Server, uid: &str) {
        self.jobs.insert(uid.to_owned(), server.job(uid).clone());
    }

    fn refresh_budget(&mut self, server: &Server) {
        self.budget = server.current_budget().clone();
    }

    /// One reconcile of job `uid`: at most one write.
    fn step(
        &mut self,
        server: &mut Server,
        world: &World,
        uid: &str,
        now: Timestamp,
        use_proof: bool,
    ) -> Step {
        let plan = world.jobs[uid];
        let view = self.jobs[uid].clone();
        let Some(record) = view.value.reservation.clone() else {
            if now < plan.submit_at {
                return Step::Idle;
            }
            // J1: the scheduler chose it; write the intent.
            let record = ReservationRecord {
                id: uid.to_owned(),
                budget: world.plan.name.clone(),
                amount: plan.amount,
                groups: vec![ReservedGroup {
                    name: "main".into(),
                    amount: plan.amount,
                    max_wall_time_seconds: plan.wall_seconds,
                    task_count: 0,
                    runs_per_task: 1,
                }],
                state: ReservationState::Charging,
                attempt: 0,
                requested_at: now.into(),
                charged_at: None,
                windows: vec![],
                actual_cost: None,
                refund: None,
                refunded_at: None,
                refund_windows: vec![],
            };
            let status = BatchJobStatus {
                phase: Some(JobPhase::Scheduled),
                reservation: Some(record),
                ..view.value
            };
            return self.write_job(server, uid, view.rv, status);
        };
        let finished = record
            .charged_at
            .as_ref()
            .is_some_and(|t| t.0.checked_add(plan.runtime).unwrap() <= now);
        let job_key = format!("ns/{uid}");
        match ledger::next_step(Some(&record), finished, &self.budget.value, &job_key) {
            LedgerStep::Idle | LedgerStep::Done => Step::Idle,
            LedgerStep::ApplyCharge(_) | LedgerStep::ApplyRefund(_)
                if use_proof && self.proven.get(uid) != Some(&view.rv) =>
            {
                // Prove the view of the job is current before touching the budget.
                let status = BatchJobStatus {
                    reservation: Some(ledger::retry(&record)),
                    ..view.value
                };
                self.write_job(server, uid, view.rv, status)
            }
            LedgerStep::ApplyCharge(charge) => {
                let applied = ledger::apply_charge(&self.budget.value, &world.plan, &charge, now);
                let status = self.pruned(applied.status);
                self.write_budget(server, uid, status)
            }
            LedgerStep::ApplyRefund(refund) => {
                let applied = ledger::apply_refund(&self.budget.value, &world.plan, &refund, now);
                let status = self.pruned(applied.status);
                self.write_budget(server, uid, status)
            }
            LedgerStep::AckCharge(entry) => {
                let record = ledger::ack_charge(&record, &entry).unwrap();
                let status = BatchJobStatus {
                    phase: Some(JobPhase::Ready),
                    budget_consumed: Some(ledger::consumed(&record).to_f64()),
                    reservation: Some(record),
                    ..view.value
                };
                self.write_job(server, uid, view.rv, status)
            }
            LedgerStep::PlanRefund => {
                let record = ledger::plan_refund(&record, plan.runtime).unwrap();
                let status = BatchJobStatus {
                    phase: Some(JobPhase::Succeeded),
                    reservation: Some(record),
                    ..view.value
                };
                self.write_job(server, uid, view.rv, status)
            }
            LedgerStep::AckRefund(entry) => {
                let record = ledger::ack_refund(&record, &entry).unwrap();
                let status = BatchJobStatus {
                    budget_consumed: Some(ledger::consumed(&record).to_f64()),
                    reservation: Some(record),
                    ..view.value
                };
                self.write_job(server, uid, view.rv, status)
            }
            LedgerStep::Prune => {
                let status = self.pruned(self.budget.value.clone());
                self.write_budget(server, uid, status)
            }
        }
    }

    /// `status` without the entries this controller's (possibly stale) job views show as
    /// acknowledged.
    fn pruned(&self, status: BatchBudgetStatus) -> BatchBudgetStatus {
        let (status, _) = ledger::prune(&status, |e| {
            ledger::acknowledged(
                e,
                self.jobs
                    .get(&e.id)
                    .and_then(|j| j.value.reservation.as_ref()),
            )
        });
        status
    }

    fn write_job(
        &mut self,
        server: &mut Server,
        uid: &str,
        rv: u64,
        status: BatchJobStatus,
    ) -> Step {
        match server.write_job(uid, rv, status.clone()) {
            Outcome::Ok(new_rv) => {
                self.jobs.insert(
                    uid.to_owned(),
                    Versioned {
                        rv: new_rv,
                        value: status,
                    },
                );
                self.proven.insert(uid.to_owned(), new_rv);
                Step::Wrote
            }
            Outcome::Conflict => {
                self.proven.remove(uid);
                self.refresh_job(server, uid);
                Step::Wrote
            }
            Outcome::Failed => {
                self.proven.remove(uid);
                Step::Wrote
            }
            Outcome::Crash => Step::Crashed,
        }
    }

    fn write_budget(&mut self, server: &mut Server, uid: &str, status: BatchBudgetStatus) -> Step {
        let rv = self.budget.rv;
        match server.write_budget(rv, status.clone()) {
            Outcome::Ok(new_rv) => {
                self.budget = Versioned {
                    rv: new_rv,
                    value: status,
                };
                Step::Wrote
            }
            Outcome::Conflict => {
                self.proven.remove(uid);
                self.refresh_budget(server);
                Step::Wrote
            }
            Outcome::Failed => {
                self.proven.remove(uid);
                Step::Wrote
            }
            Outcome::Crash => Step::Crashed,
        }
    }
}

/// Runs the world to completion; returns the server, or the first audit failure.
fn simulate(
    world: &World,
    faults: BTreeMap<usize, Fault>,
    mut relist: Relist,
    use_proof: bool,
) -> Result<Server, String> {
    let mut server = Server::new(world, faults);
    let mut controller = Controller::list(&server, &mut relist);
    let mut now = world.start;
    for round in 0..2_000 {
        if server.settled() {
            return Ok(server);
        }
        let uids: Vec<String> = world.jobs.keys().cloned().collect();
        for uid in &uids {
            for _ in 0..16 {
                let writes = server.writes;
                match controller.step(&mut server, world, uid, now, use_proof) {
                    Step::Idle => break,
                    Step::Wrote => {}
                    Step::Crashed => controller = Controller::list(&server, &mut relist),
                }
                if server.writes != writes {
                    let problems = ledger::audit(&server.current_budget().value, &server.records());
                    if !problems.is_empty() {
                        return Err(format!("after write {writes}: {problems:?}"));
                    }
                }
            }
        }
        now = now.checked_add(world.tick).unwrap();
        if round % 3 == 2 {
            // Watches deliver the latest versions eventually: the caches catch up.
            controller.catch_up(&server);
        }
    }
    Err("no progress after 2000 rounds".into())
}

/// The final books: every window holds exactly the jobs' net charges.
fn check_final(world: &World, server: &Server) -> Result<(), String> {
    let records = server.records();
    let net = records.iter().fold(Money::ZERO, |acc, r| {
        acc.checked_add(ledger::consumed(r)).unwrap()
    });
    let expected = world.jobs.values().fold(Money::ZERO, |acc, j| {
        let record = ReservationRecord {
            id: String::new(),
            budget: String::new(),
            amount: j.amount,
            groups: vec![ReservedGroup {
                name: "main".into(),
                amount: j.amount,
                max_wall_time_seconds: j.wall_seconds,
                task_count: 0,
                runs_per_task: 1,
            }],
            state: ReservationState::Charged,
            attempt: 0,
            requested_at: Timestamp::UNIX_EPOCH.into(),
            charged_at: None,
            windows: vec![],
            actual_cost: None,
            refund: None,
            refunded_at: None,
            refund_windows: vec![],
        };
        acc.checked_add(ledger::actual_cost(&record, j.runtime).unwrap())
            .unwrap()
    });
    if net != expected {
        return Err(format!("jobs consumed {net}, expected {expected}"));
    }
    for w in &server.current_budget().value.window_status_list {
        let total = w
            .window_history
            .iter()
            .map(record_spent)
            .fold(window_spent(w), |acc, m| acc.checked_add(m).unwrap());
        if total != net {
            return Err(format!(
                "window {} holds {total} in all, the jobs' net charges are {net}",
                w.duration
            ));
        }
    }
    Ok(())
}

fn world(jobs: &[(u64, u64, i64, i64)]) -> World {
    let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
        "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
        "budgetWindows": [{"duration": "24h", "amount": 1000000}, {"duration": "720h", "amount": 1000000}]
    }))
    .unwrap();
    let start: Timestamp = "2026-11-01T20:00:00Z".parse().unwrap();
    World {
        plan: BudgetPlan::from_spec("team-a", &spec, None).unwrap(),
        jobs: jobs
            .iter()
            .enumerate()
            .map(|(i, &(cents, wall_hours, runtime_minutes, submit_hours))| {
                (
                    format!("job-{i}"),
                    JobPlan {
                        amount: Money::from_nanos(i128::from(cents) * 10_000_000 + 7),
                        wall_seconds: wall_hours * 3600,
                        runtime: SignedDuration::from_mins(runtime_minutes),
                        submit_at: start
                            .checked_add(SignedDuration::from_hours(submit_hours))
                            .unwrap(),
                    },
                )
            })
            .collect(),
        start,
        tick: SignedDuration::from_mins(50),
    }
}

/// Three jobs: one crossing a day boundary before its refund, one overrunning its wall time,
/// one finishing at once.
fn three_jobs() -> World {
    world(&[(2_400, 24, 300, 0), (1_000, 2, 600, 1), (333, 1, 0, 2)])
}

fn run_and_check(
    world: &World,
    faults: BTreeMap<usize, Fault>,
    relist: Relist,
) -> Result<usize, String> {
    let server = simulate(world, faults, relist, true)?;
    check_final(world, &server)?;
    Ok(server.writes)
}

#[test]
fn without_faults_the_books_balance() {
    let w = three_jobs();
    let writes = run_and_check(&w, BTreeMap::new(), Relist::Fresh).unwrap();
    assert!(writes >= 3 * 6, "{writes} writes");
}

#[test]
fn every_single_fault_at_every_write() {
    let w = three_jobs();
    let baseline = run_and_check(&w, BTreeMap::new(), Relist::Fresh).unwrap();
    let mut runs = 0;
    // Faults shift later writes, so go a little beyond the fault-free count.
    for index in 0..baseline + 8 {
        for fault in FAULTS {
            for relist in [Relist::Fresh, Relist::Random(index as u64 * 31 + 7)] {
                let faults = BTreeMap::from([(index, fault)]);
                if let Err(e) = run_and_check(&w, faults, relist) {
                    panic!("{fault:?} at write {index} ({relist:?}): {e}");
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 100);
}

#[test]
fn every_pair_of_faults_at_nearby_writes() {
    let w = world(&[(2_400, 24, 300, 0), (500, 1, 90, 0)]);
    let baseline = run_and_check(&w, BTreeMap::new(), Relist::Fresh).unwrap();
    for first in 0..baseline {
        for second in first + 1..(first + 4).min(baseline + 4) {
            for a in FAULTS {
                for b in FAULTS {
                    let faults = BTreeMap::from([(first, a), (second, b)]);
                    let relist = Relist::Random((first * 97 + second) as u64 + 1);
                    if let Err(e) = run_and_check(&w, faults, relist) {
                        panic!("{a:?} at {first}, {b:?} at {second}: {e}");
                    }
                }
            }
        }
    }
}

/// The fresh-proof rule is what makes stale re-lists safe: without it, a controller that
/// restarts with an old view of a settled job charges it again, and the audit sees it.
#[test]
fn without_the_fresh_proof_a_stale_relist_double_charges() {
    let w = world(&[(2_400, 24, 60, 0)]);
    let mut caught = 0;
    for seed in 1..200_u64 {
        // Crash once the job is settled, at various points; re-list from random old versions.
        for index in 6..12 {
            let faults = BTreeMap::from([(index, Fault::CrashAfter)]);
            let unsafe_run = simulate(&w, faults.clone(), Relist::Random(seed), false)
                .and_then(|s| check_final(&w, &s));
            if unsafe_run.is_err() {
                caught += 1;
                // The same scenario with the proof balances.
                run_and_check(&w, faults, Relist::Random(seed)).unwrap();
            }
        }
    }
    assert!(caught > 0, "the stale-view hazard was never exercised");
}

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::FailBefore),
        Just(Fault::FailAfter),
        Just(Fault::CrashBefore),
        Just(Fault::CrashAfter)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_jobs_random_faults_random_stale_relists(
        jobs in prop::collection::vec((1_u64..100_000, 1_u64..48, 0_i64..4_000, 0_i64..72), 1..6),
        faults in prop::collection::btree_map(0_usize..120, fault_strategy(), 0..25),
        seed in 1_u64..u64::MAX,
    ) {
        let w = world(&jobs);
        let result = run_and_check(&w, faults, Relist::Random(seed));
        prop_assert!(result.is_ok(), "{:?}", result);
    }
}
