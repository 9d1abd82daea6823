//! One writer per budget, and one write for every step waiting for it (a group commit).
//!
//! Every charge and refund is a change of the budget's status, conditional on its
//! resourceVersion. Reconciles refunding against one budget at once would collide on it,
//! each collision costing a failed write and a retry. Instead each caller queues its step
//! ([`Step`]) and takes the budget's writer lock in turn; the holder applies every step queued
//! so far, in order, to the newest version it knows, writes once, and leaves each queued
//! caller its outcome. Under load, jobs that finish together share one budget write.
//!
//! The same write prunes the ledger entries whose jobs acknowledged their refund.

use crate::context::{Context, Error};
use crate::writes::write_budget_status;
use kbatch_policy::api::{BatchBudget, BatchBudgetStatus};
use kbatch_policy::budget::ledger::prune;
use kbatch_policy::budget::{BudgetPlan, LedgerEntry, window_spent};
use kube::ResourceExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A change of one budget's status: `None` when it has nothing to change. Applied again to
/// a newer status after a conflict, so it must be idempotent (every ledger step is).
pub type Step = Box<dyn Fn(&BatchBudgetStatus) -> Option<BatchBudgetStatus> + Send + Sync>;

/// How recent a budget's last write must be for the budget to count as busy.
const BUSY: Duration = Duration::from_secs(1);
/// How long a writer of a busy budget waits for other steps before it writes.
const LINGER: Duration = Duration::from_millis(200);

/// How many times a write is tried again after a conflict with a writer outside this
/// controller (an administrator changing the spec).
const CONFLICTS: usize = 3;

/// One budget's writer: the steps waiting, the lock, and the version last written.
#[derive(Default)]
pub struct BudgetSlot {
    queue: Mutex<Queue>,
    /// Held by the caller writing.
    writer: tokio::sync::Mutex<()>,
    /// The version last written (`None` after a failed write), readable without waiting for
    /// a write.
    latest: Mutex<Option<Arc<BatchBudget>>>,
    /// When it was last written.
    written_at: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    waiting: Vec<(u64, String, Step)>,
    /// Outcomes of steps another caller wrote: the budget as stored, or why not.
    done: HashMap<u64, Result<Arc<BatchBudget>, String>>,
}

impl std::fmt::Debug for BudgetSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetSlot").finish_non_exhaustive()
    }
}

impl BudgetSlot {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The version this controller last wrote, if any.
    pub fn latest(&self) -> Option<Arc<BatchBudget>> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the writer lock, as a writer busy with a write would (tests).
    #[cfg(test)]
    pub(crate) async fn hold_writer(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// How many steps wait for the writer (tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.queue().waiting.len()
    }

    fn remember(&self, written: Option<&Arc<BatchBudget>>) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = written.cloned();
        *self
            .written_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn busy(&self) -> bool {
        let at = *self
            .written_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        at.is_some_and(|at| at.elapsed() < BUSY)
    }
}

/// The newer of two versions of a budget (resourceVersions are etcd revisions; an unreadable
/// one loses).
pub fn newer<'a>(a: &'a Arc<BatchBudget>, b: Option<&'a Arc<BatchBudget>>) -> &'a Arc<BatchBudget> {
    let version = |x: &BatchBudget| {
        x.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    match b {
        Some(b) if version(b) > version(a) => b,
        _ => a,
    }
}

/// Applies `step` (for reservation `id`) to the newest version of `seen` this controller
/// knows, together with every step queued for the same budget meanwhile, and returns the
/// budget as stored (as known, when no step changed anything).
pub async fn update_budget(
    ctx: &Context,
    seen: &Arc<BatchBudget>,
    id: &str,
    step: Step,
) -> Result<Arc<BatchBudget>, Error> {
    let name = seen.name_any();
    let slot = ctx.budget_slot(&name);
    let ticket = {
        let mut queue = slot.queue();
        let ticket = queue.next_ticket;
        queue.next_ticket = ticket.wrapping_add(1);
        queue.waiting.push((ticket, id.to_owned(), step));
        ticket
    };
    let _writing = slot.writer.lock().await;
    if slot.busy() {
        tokio::time::sleep(LINGER).await;
    }
    let batch = {
        let mut queue = slot.queue();
        if let Some(outcome) = queue.done.remove(&ticket) {
            return outcome.map_err(|message| Error::BudgetWrite { name, message });
        }
        if !queue.waiting.iter().any(|(t, _, _)| *t == ticket) {
            // Taken by a writer that stopped before it wrote (its task was dropped).
            return Err(Error::BudgetWrite {
                name,
                message: "the write carrying this step was abandoned".to_owned(),
            });
        }
        std::mem::take(&mut queue.waiting)
    };
    let last = slot.latest();
    let result = write_batch(ctx, Arc::clone(newer(seen, last.as_ref())), &batch).await;
    slot.remember(result.as_ref().ok());
    {
        let mut queue = slot.queue();
        for (other, _, _) in batch.iter().filter(|(t, _, _)| *t != ticket) {
            let outcome = result.as_ref().map(Arc::clone).map_err(ToString::to_string);
            queue.done.insert(*other, outcome);
        }
    }
    result
}

/// Applies `batch` to `current` and writes it once (again after a conflict, from a fresh read).
async fn write_batch(
    ctx: &Context,
    mut current: Arc<BatchBudget>,
    batch: &[(u64, String, Step)],
) -> Result<Arc<BatchBudget>, Error> {
    let ids: HashSet<&str> = batch.iter().map(|(_, id, _)| id.as_str()).collect();
    let now = (ctx.now)();
    let empty = BatchBudgetStatus::default();
    let mut conflicts = 0;
    loop {
        let base = current.status.as_ref().unwrap_or(&empty);
        let mut changed = None;
        for (_, _, step) in batch {
            if let Some(next) = step(changed.as_ref().unwrap_or(base)) {
                changed = Some(next);
            }
        }
        let Some(status) = changed else {
            return Ok(current);
        };
        // Entries of the jobs in this batch are theirs to acknowledge first.
        let (status, _) = prune(&status, |e| {
            !ids.contains(e.id.as_str()) && crate::ledger_io::entry_acknowledged(ctx, e, now)
        });
        match write_budget_status(&ctx.client, &current, &status).await {
            Ok(written) => {
                ctx.observed.budget_written(batch.len());
                warn_overdrawn(&current, &written);
                return Ok(Arc::new(written));
            }
            Err(e) if e.is_conflict() && conflicts < CONFLICTS => {
                conflicts += 1;
                let api: kube::Api<BatchBudget> = kube::Api::all(ctx.client.clone());
                current = Arc::new(api.get(&current.name_any()).await?);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Windows spent beyond their amount happen only when a pass admitted on a stale view (a
/// charge never refuses: its job is already Scheduled): worth a warning when a write makes
/// them so, not an error.
fn warn_overdrawn(before: &BatchBudget, after: &BatchBudget) {
    let Ok(plan) = BudgetPlan::from_budget(after) else {
        return;
    };
    let overdrawn = |b: &BatchBudget| -> Vec<String> {
        let windows = b.status.iter().flat_map(|s| &s.window_status_list);
        windows
            .filter(|w| {
                let limit = plan.windows.iter().find(|p| p.label == w.duration);
                limit.is_some_and(|p| window_spent(w) > p.limit)
            })
            .map(|w| w.duration.clone())
            .collect()
    };
    let was = overdrawn(before);
    for window in overdrawn(after).into_iter().filter(|w| !was.contains(w)) {
        tracing::warn!(budget = %after.name_any(), %window,
            "charges took the window beyond its amount (admitted on a stale view)");
    }
}

/// The entry of kind `kind` for reservation `id` in `budget`'s ledger.
pub fn entry<'a>(
    budget: &'a BatchBudget,
    id: &str,
    kind: kbatch_policy::budget::LedgerEntryKind,
) -> Option<&'a LedgerEntry> {
    budget
        .status
        .as_ref()?
        .ledger
        .iter()
        .find(|e| e.id == id && e.kind == kind)
}

/// The slots of every budget, made on first use.
#[derive(Debug, Default)]
pub struct BudgetSlots(Mutex<HashMap<String, Arc<BudgetSlot>>>);

impl BudgetSlots {
    /// The slot of budget `name`.
    pub fn get(&self, name: &str) -> Arc<BudgetSlot> {
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(name.to_owned()).or_default())
    }
}
