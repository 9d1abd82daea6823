//! One scheduling pass over the queued jobs: snapshot in, actions out.
//!
//! [`schedule`] looks at every job in phase Queued, in order — queue priority (higher first),
//! then first come first served (`creationTimestamp`, then namespace and name so the order
//! is total) — and decides for each:
//!
//! - `userCommand: Terminate` → [`Action::Fail`] (`Terminated`);
//! - dependencies that can no longer be met → `Fail` (`DependencyFailed`), even in a paused
//!   queue (pausing holds jobs; it does not keep a job alive that can never run);
//! - a job that cannot be priced (no `maxWallTime`, malformed resources) → `Fail`;
//! - a paused queue (`QueuePaused`), pending dependencies (`DependencyPending`), a missing
//!   queue or budget, or a reservation larger than what is left in any window of its budget
//!   (`BudgetExceeded`) → [`Action::Wait`], with a note of how many jobs wait ahead of it in
//!   its queue;
//! - otherwise → [`Action::Start`]: the I/O layer writes the reservation intent
//!   ([`ledger::plan_charge`](crate::budget::ledger::plan_charge)) and phase Scheduled.
//!
//! Budgets are consumed as the pass goes: a job started earlier in the pass reduces what
//! later jobs see, across every queue that names the budget. So do reservations whose intent
//! is written but not yet charged (`JobInfo::charging`). A job whose reservation does not
//! fit does **not** block later, smaller jobs of the same budget (money is not capacity that
//! accumulates for the big job: when the window renews, the pass order gives the waiting job
//! the first claim on the fresh window).
//!
//! Cost: O(n log n) for n jobs — one sort, one hash index of job phases by (namespace,
//! name), one book per budget; reservations are priced when the snapshot is built.
//!
//! ```
//! use kbatch_policy::budget::{BudgetPlan, Money};
//! use kbatch_policy::scheduling::{Action, BudgetInfo, JobInfo, Pricing, QueueInfo, SchedulingSnapshot, schedule};
//!
//! let now = "2026-11-22T10:00:00Z".parse().unwrap();
//! let plan = BudgetPlan::from_spec("team", &serde_json::from_value(serde_json::json!({
//!     "batchCostModelName": "gke", "budgetStartTime": "2026-11-01T00:00:00Z",
//!     "budgetWindows": [{"duration": "24h", "amount": 10}]
//! })).unwrap(), None).unwrap();
//! let job = |name: &str, cost: &str, minute: i64| JobInfo::queued(
//!     "ns", name, "batch", jiff::Timestamp::from_second(1_700_000_000 + minute * 60).unwrap(),
//!     Pricing::Priced(Money::parse(cost).unwrap()),
//! );
//! let snapshot = SchedulingSnapshot {
//!     queues: vec![QueueInfo::new("ns", "batch", 100, "team")],
//!     budgets: vec![BudgetInfo::new(Ok(plan), Default::default())],
//!     jobs: vec![job("first", "6", 0), job("second", "6", 1), job("third", "4", 2)],
//! };
//! let actions = schedule(&snapshot, now);
//! assert!(matches!(&actions[0], Action::Start { job, .. } if job.name == "first"));
//! assert!(matches!(&actions[1], Action::Wait { job, .. } if job.name == "second")); // 4 left
//! assert!(matches!(&actions[2], Action::Start { job, .. } if job.name == "third"));
//! ```

mod dependencies;
mod explain;
mod snapshot;

pub use dependencies::{DependencyType, evaluate_dependencies};
pub use explain::{QUEUE_POSITION, condition, merge_conditions, position_message};
pub use snapshot::{BudgetInfo, JobInfo, JobRef, Pricing, QueueInfo, SchedulingSnapshot};

use crate::api::{BatchJobCondition, JobPhase};
use crate::budget::{BudgetBook, Money};
use crate::phase::{DependencyState, reason};
use jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

/// What the controller should do with one queued job.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Reserve `reservation` of `budget` and move the job to Scheduled.
    Start {
        /// The job.
        job: JobRef,
        /// The BatchBudget to charge.
        budget: String,
        /// Its reservation.
        reservation: Money,
    },
    /// Leave it Queued, with these conditions (merge them with
    /// [`merge_conditions`]).
    Wait {
        /// The job.
        job: JobRef,
        /// Why it waits, and its place in its queue.
        conditions: Vec<BatchJobCondition>,
    },
    /// Move it to Failed.
    Fail {
        /// The job.
        job: JobRef,
        /// A [`reason`] constant.
        reason: &'static str,
        /// For people.
        message: String,
    },
}

impl Action {
    /// The job the action is about.
    pub fn job(&self) -> &JobRef {
        match self {
            Action::Start { job, .. } | Action::Wait { job, .. } | Action::Fail { job, .. } => job,
        }
    }
}

/// The budget side of the pass: one book per budget name.
enum Book<'a> {
    Open(BudgetBook),
    Unusable(&'a str),
}

/// One pass over the snapshot's Queued jobs at `now`; one action per Queued job, in the
/// order they were considered. Jobs in other phases only matter as dependencies and
/// in-flight reservations.
pub fn schedule(snapshot: &SchedulingSnapshot, now: Timestamp) -> Vec<Action> {
    let queues: HashMap<(&str, &str), &QueueInfo> = snapshot
        .queues
        .iter()
        .map(|q| ((q.namespace.as_str(), q.name.as_str()), q))
        .collect();
    let mut books: HashMap<&str, Book<'_>> = snapshot
        .budgets
        .iter()
        .map(|b| {
            let book = match &b.plan {
                Ok(plan) => Book::Open(BudgetBook::open(plan, &b.status, now)),
                Err(why) => Book::Unusable(why.as_str()),
            };
            (b.name(), book)
        })
        .collect();
    let phases: HashMap<(&str, &str), Option<JobPhase>> = snapshot
        .jobs
        .iter()
        .map(|j| ((j.namespace.as_str(), j.name.as_str()), j.phase))
        .collect();

    take_in_flight(snapshot, &queues, &mut books);

    let mut order: Vec<(Reverse<i32>, Timestamp, &str, &str, usize)> = snapshot
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.phase == Some(JobPhase::Queued))
        .map(|(i, j)| {
            let priority = queues
                .get(&(j.namespace.as_str(), j.queue.as_str()))
                .map_or(i32::MIN, |q| q.priority);
            (
                Reverse(priority),
                j.created,
                j.namespace.as_str(),
                j.name.as_str(),
                i,
            )
        })
        .collect();
    order.sort_unstable();

    let mut waiting_ahead: HashMap<(&str, &str), usize> = HashMap::new();
    let mut actions = Vec::with_capacity(order.len());
    for &(.., index) in &order {
        let job = &snapshot.jobs[index];
        let job_ref = || JobRef::of(job);
        if job.terminate {
            actions.push(Action::Fail {
                job: job_ref(),
                reason: reason::TERMINATED,
                message: "terminated by userCommand: Terminate before it started".into(),
            });
            continue;
        }
        let ns = job.namespace.as_str();
        let dependencies =
            evaluate_dependencies(&job.dependencies, |name| phases.get(&(ns, name)).copied());
        if let DependencyState::Failed(message) = dependencies {
            actions.push(Action::Fail {
                job: job_ref(),
                reason: reason::DEPENDENCY_FAILED,
                message,
            });
            continue;
        }
        if let Pricing::Invalid(message) = &job.pricing {
            actions.push(Action::Fail {
                job: job_ref(),
                reason: reason::UNPRICEABLE,
                message: message.clone(),
            });
            continue;
        }
        let queue_name = format!("{ns}/{}", job.queue);
        let mut conditions = Vec::with_capacity(3);
        match queues.get(&(ns, job.queue.as_str())) {
            None => conditions.push(condition(
                reason::QUEUE_MISSING,
                reason::QUEUE_MISSING,
                format!("queue {queue_name} does not exist"),
            )),
            Some(queue) => {
                if queue.paused {
                    conditions.push(explain::paused(&queue_name));
                }
                if let DependencyState::Pending(message) = dependencies {
                    conditions.push(explain::dependency_pending(message));
                }
                if conditions.is_empty() {
                    match try_reserve(queue, &job.pricing, &queue_name, &mut books) {
                        Ok(reservation) => {
                            actions.push(Action::Start {
                                job: job_ref(),
                                budget: queue.budget.clone(),
                                reservation,
                            });
                            continue;
                        }
                        Err(c) => conditions.push(c),
                    }
                }
            }
        }
        let ahead = waiting_ahead.entry((ns, job.queue.as_str())).or_insert(0);
        conditions.push(explain::position(*ahead, &queue_name));
        *ahead += 1;
        actions.push(Action::Wait {
            job: job_ref(),
            conditions,
        });
    }
    actions
}

/// Takes the reservations written but not yet charged from their budgets' books.
fn take_in_flight<'a>(
    snapshot: &'a SchedulingSnapshot,
    queues: &HashMap<(&str, &str), &'a QueueInfo>,
    books: &mut HashMap<&'a str, Book<'a>>,
) {
    let charged: HashMap<&str, HashSet<&str>> = snapshot
        .budgets
        .iter()
        .map(|b| {
            (
                b.name(),
                b.status.ledger.iter().map(|e| e.id.as_str()).collect(),
            )
        })
        .collect();
    for job in &snapshot.jobs {
        let Some(amount) = job.charging else { continue };
        let Some(queue) = queues.get(&(job.namespace.as_str(), job.queue.as_str())) else {
            continue;
        };
        let budget = queue.budget.as_str();
        if charged
            .get(budget)
            .is_some_and(|ids| ids.contains(job.uid.as_str()))
        {
            continue; // already in the window amounts
        }
        if let Some(Book::Open(book)) = books.get_mut(budget) {
            book.take(amount);
        }
    }
}

/// Checks the job's reservation against its budget's book and takes it when it fits.
fn try_reserve(
    queue: &QueueInfo,
    pricing: &Pricing,
    queue_name: &str,
    books: &mut HashMap<&str, Book<'_>>,
) -> Result<Money, BatchJobCondition> {
    let unavailable = |message: String| {
        condition(
            reason::BUDGET_UNAVAILABLE,
            reason::BUDGET_UNAVAILABLE,
            message,
        )
    };
    let amount = match pricing {
        Pricing::Priced(amount) => *amount,
        Pricing::Unavailable(why) => return Err(unavailable(why.clone())),
        Pricing::Invalid(why) => return Err(unavailable(why.clone())),
    };
    match books.get_mut(queue.budget.as_str()) {
        None => Err(unavailable(format!(
            "queue {queue_name} names budget {}, which does not exist",
            queue.budget
        ))),
        Some(Book::Unusable(why)) => Err(unavailable((*why).to_owned())),
        Some(Book::Open(book)) => book.reserve(amount).map(|()| amount).map_err(|short| {
            condition(
                reason::BUDGET_EXCEEDED,
                reason::BUDGET_EXCEEDED,
                short.to_string(),
            )
        }),
    }
}

#[cfg(test)]
mod tests;
