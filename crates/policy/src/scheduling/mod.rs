//! One scheduling pass over the queued jobs: snapshot in, actions out.
//!
//! [`schedule`] looks at every queued job (phase Queued, or none yet), in order — queue priority (higher first),
//! then first come first served (`creationTimestamp`, then namespace and name so the order
//! is total) — and decides for each:
//!
//! - `userCommand: Terminate` → [`Action::Fail`] (`Terminated`);
//! - dependencies that can no longer be met → `Fail` (`DependencyFailed`), even in a paused
//!   queue (pausing holds jobs; it does not keep a job alive that can never run);
//! - a job that cannot be priced (no `maxWallTime`, malformed resources) → `Fail`;
//! - a paused queue (`QueuePaused`), pending dependencies (`DependencyPending`), a missing
//!   queue or budget, a reservation larger than what is left in any window of its budget
//!   (`BudgetExceeded`), or a budget holding as many open reservations as it can
//!   (`ReservationLimit`) → [`Action::Wait`], with a note that it waits for its turn in its
//!   queue. Every message is stable while the job waits for the same reason (no live
//!   amounts, counts or places), so that its status is written once, not at every pass;
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
mod hash;
mod snapshot;
mod unschedulable;

pub use dependencies::{DependencyType, evaluate_dependencies};
pub use explain::{Condition, QUEUE_ORDER, merge_conditions, waiting_message};
pub use snapshot::{BudgetInfo, JobInfo, JobRef, Pricing, QueueInfo, SchedulingSnapshot};
pub use unschedulable::unschedulable;

use crate::api::JobPhase;
use crate::budget::balance::MAX_OPEN_RESERVATIONS;
use crate::budget::{BudgetBook, Money};
use crate::phase::{DependencyState, is_queued, reason};
use hash::FastMap;
use jiff::Timestamp;
use std::cmp::Reverse;

/// What the controller should do with one queued job. Borrows from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<'a> {
    /// Reserve `reservation` of `budget` and move the job to Scheduled (its waiting
    /// conditions go: `merge_conditions(existing, &[], now)`).
    Start {
        /// The job.
        job: JobRef<'a>,
        /// The BatchBudget to charge.
        budget: &'a str,
        /// Its reservation.
        reservation: Money,
    },
    /// Leave it Queued, with these conditions (merge them into its status with
    /// [`merge_conditions`]).
    Wait {
        /// The job.
        job: JobRef<'a>,
        /// Why it waits, and its place in its queue.
        conditions: Vec<Condition>,
    },
    /// Move it to Failed.
    Fail {
        /// The job.
        job: JobRef<'a>,
        /// A [`reason`] constant.
        reason: &'static str,
        /// For people.
        message: String,
    },
}

impl<'a> Action<'a> {
    /// The job the action is about.
    pub fn job(&self) -> JobRef<'a> {
        match self {
            Action::Start { job, .. } | Action::Wait { job, .. } | Action::Fail { job, .. } => *job,
        }
    }
}

/// A queued job's place in the pass: `first` ascending is higher priority first, then first
/// come first served; ties are broken by namespace and name.
#[derive(Clone, Copy)]
struct OrderKey {
    first: (Reverse<i32>, Timestamp),
    /// Index in the snapshot's jobs.
    job: usize,
    /// Index of its queue, if it exists.
    queue: Option<usize>,
}

/// The budget side of the pass: one book per budget name.
enum Book<'a> {
    Open(BudgetBook),
    Unusable(&'a str),
}

/// A queue as the pass uses it.
struct Queue<'a> {
    info: &'a QueueInfo,
    /// `namespace/name`, formatted once.
    display: String,
}

/// One pass over the snapshot's Queued jobs at `now`; one action per Queued job, in the
/// order they were considered. Jobs in other phases only matter as dependencies and
/// in-flight reservations.
pub fn schedule(snapshot: &SchedulingSnapshot, now: Timestamp) -> Vec<Action<'_>> {
    let mut queues: Vec<Queue<'_>> = snapshot
        .queues
        .iter()
        .map(|info| Queue {
            info,
            display: format!("{}/{}", info.namespace, info.name),
        })
        .collect();
    let queue_index: FastMap<(&str, &str), usize> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| ((q.info.namespace.as_str(), q.info.name.as_str()), i))
        .collect();
    let mut books: FastMap<&str, Book<'_>> = snapshot
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
    // Phases of the jobs that queued jobs depend on, by (namespace, name).
    let mut phases: FastMap<(&str, &str), Option<Option<JobPhase>>> = FastMap::default();
    for job in snapshot.jobs.iter().filter(|j| is_queued(j.phase)) {
        for name in job
            .dependencies
            .iter()
            .flat_map(|d| &d.dependency_items)
            .flat_map(|i| &i.names)
        {
            phases.insert((job.namespace.as_str(), name.as_str()), None);
        }
    }
    if !phases.is_empty() {
        for job in &snapshot.jobs {
            if let Some(slot) = phases.get_mut(&(job.namespace.as_str(), job.name.as_str())) {
                *slot = Some(job.phase);
            }
        }
    }

    take_in_flight(snapshot, &queues, &queue_index, &mut books);

    let mut order: Vec<OrderKey> = snapshot
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| is_queued(j.phase))
        .map(|(i, j)| {
            let queue = queue_index
                .get(&(j.namespace.as_str(), j.queue.as_str()))
                .copied();
            let priority = queue.map_or(i32::MIN, |q| queues[q].info.priority);
            OrderKey {
                first: (Reverse(priority), j.created),
                job: i,
                queue,
            }
        })
        .collect();
    // Names break ties only, so most comparisons stay on integers.
    order.sort_unstable_by(|a, b| {
        a.first.cmp(&b.first).then_with(|| {
            let (x, y) = (&snapshot.jobs[a.job], &snapshot.jobs[b.job]);
            (x.namespace.as_str(), x.name.as_str()).cmp(&(y.namespace.as_str(), y.name.as_str()))
        })
    });

    let mut actions = Vec::with_capacity(order.len());
    for &OrderKey {
        job: index, queue, ..
    } in &order
    {
        // `index` and `queue` come from enumerating these very vectors.
        let job = &snapshot.jobs[index];
        let job_ref = JobRef::of(job);
        if job.terminate {
            actions.push(Action::Fail {
                job: job_ref,
                reason: reason::TERMINATED,
                message: "terminated by userCommand: Terminate before it started".into(),
            });
            continue;
        }
        let ns = job.namespace.as_str();
        let dependencies = evaluate_dependencies(&job.dependencies, |name| {
            phases.get(&(ns, name)).copied().flatten()
        });
        if let DependencyState::Failed(message) = dependencies {
            actions.push(Action::Fail {
                job: job_ref,
                reason: reason::DEPENDENCY_FAILED,
                message,
            });
            continue;
        }
        if let Pricing::Invalid(message) = &job.pricing {
            actions.push(Action::Fail {
                job: job_ref,
                reason: reason::UNPRICEABLE,
                message: message.clone(),
            });
            continue;
        }
        let mut conditions = Vec::with_capacity(3);
        let Some(q) = queue else {
            let name = format!("{ns}/{}", job.queue);
            conditions.push(Condition::new(
                reason::QUEUE_MISSING,
                reason::QUEUE_MISSING,
                format!("queue {name} does not exist"),
            ));
            conditions.push(explain::turn(&name));
            actions.push(Action::Wait {
                job: job_ref,
                conditions,
            });
            continue;
        };
        let queue = &mut queues[q];
        if queue.info.paused {
            conditions.push(explain::paused(&queue.display));
        }
        if let DependencyState::Pending(message) = dependencies {
            conditions.push(explain::dependency_pending(message));
        }
        if conditions.is_empty() {
            match try_reserve(queue, &job.pricing, &mut books) {
                Ok(reservation) => {
                    actions.push(Action::Start {
                        job: job_ref,
                        budget: queue.info.budget.as_str(),
                        reservation,
                    });
                    continue;
                }
                Err(c) => conditions.push(c),
            }
        }
        conditions.push(explain::turn(&queue.display));
        actions.push(Action::Wait {
            job: job_ref,
            conditions,
        });
    }
    actions
}

/// Takes the reservations written but not yet charged from their budgets' books.
fn take_in_flight<'a>(
    snapshot: &'a SchedulingSnapshot,
    queues: &[Queue<'a>],
    queue_index: &FastMap<(&str, &str), usize>,
    books: &mut FastMap<&'a str, Book<'a>>,
) {
    for job in &snapshot.jobs {
        let Some(amount) = job.charging else { continue };
        let Some(&q) = queue_index.get(&(job.namespace.as_str(), job.queue.as_str())) else {
            continue;
        };
        let budget = queues[q].info.budget.as_str();
        let charged = snapshot
            .budgets
            .iter()
            .find(|b| b.name() == budget)
            .is_some_and(|b| b.status.ledger.iter().any(|e| e.id == job.uid));
        if charged {
            continue; // already in the window amounts
        }
        if let Some(Book::Open(book)) = books.get_mut(budget) {
            book.take(amount);
        }
    }
}

/// Checks the job's reservation against its budget's book and takes it when it fits.
fn try_reserve(
    queue: &Queue<'_>,
    pricing: &Pricing,
    books: &mut FastMap<&str, Book<'_>>,
) -> Result<Money, Condition> {
    let unavailable = |message: String| {
        Condition::new(
            reason::BUDGET_UNAVAILABLE,
            reason::BUDGET_UNAVAILABLE,
            message,
        )
    };
    let amount = match pricing {
        Pricing::Priced(amount) => *amount,
        Pricing::Unavailable(why) | Pricing::Invalid(why) => return Err(unavailable(why.clone())),
    };
    let budget = queue.info.budget.as_str();
    match books.get_mut(budget) {
        None => Err(unavailable(format!(
            "queue {} names budget {budget}, which does not exist",
            queue.display
        ))),
        Some(Book::Unusable(why)) => Err(unavailable((*why).to_owned())),
        Some(Book::Open(book)) if book.is_full() => Err(Condition::new(
            reason::RESERVATION_LIMIT,
            reason::RESERVATION_LIMIT,
            format!(
                "budget {budget} holds the reservations of {MAX_OPEN_RESERVATIONS} running jobs, \
                 the most one budget holds at once; this job starts when one of them is refunded"
            ),
        )),
        Some(Book::Open(book)) => book.reserve(amount).map(|()| amount).map_err(|short| {
            Condition::new(
                reason::BUDGET_EXCEEDED,
                reason::BUDGET_EXCEEDED,
                short.waiting_message(),
            )
        }),
    }
}

#[cfg(test)]
mod tests;
