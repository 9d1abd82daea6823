//! What is left of a budget, and whether a reservation fits: the admission check.

use super::money::Money;
use super::windows::{BudgetPlan, Position, at, find_window, grid_start, position, window_spent};
use crate::api::BatchBudgetStatus;
use jiff::Timestamp;
use std::fmt;

/// The most reservations one budget holds charged at once. Its ledger keeps an entry for each
/// until its refund (the budget's own record of what it may give back, see
/// [`ledger`](super::ledger)), in the budget's status, which must stay well under etcd's
/// 1.5 MiB limit on an object: an entry takes about 250 bytes, 600 at most.
pub const MAX_OPEN_RESERVATIONS: usize = 2_000;

/// What is left in each window of a budget at one moment; reservations can be taken from it
/// one after the other (the scheduling pass does).
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetBook {
    /// The budget's name.
    pub name: String,
    /// Its windows, shortest first.
    pub windows: Vec<WindowBalance>,
    /// Reservations charged or being charged and not yet refunded: its ledger entries, plus
    /// those taken from this book.
    pub open_reservations: usize,
}

/// One window's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowBalance {
    /// The duration as the spec writes it.
    pub label: String,
    /// The window's amount.
    pub limit: Money,
    /// Spent (reserved, net of refunds) in the current window.
    pub spent: Money,
    /// When the current window started.
    pub start: Timestamp,
    /// When it ends and a fresh one begins.
    pub renews_at: Timestamp,
}

impl WindowBalance {
    /// `limit − spent` (negative when overdrawn).
    pub fn remaining(&self) -> Money {
        self.limit.saturating_sub(self.spent)
    }
}

impl BudgetBook {
    /// The balances at `now`, as [`roll_windows`](super::roll_windows) would leave them (without building the
    /// rolled status).
    pub fn open(plan: &BudgetPlan, status: &BatchBudgetStatus, now: Timestamp) -> BudgetBook {
        let origin = plan.origin.as_second();
        let now_s = now.as_second();
        let windows = plan
            .windows
            .iter()
            .map(|wp| {
                let current = grid_start(origin, wp.seconds, now_s);
                let (start, spent) = match find_window(status, wp.seconds) {
                    None => (current, Money::ZERO),
                    Some(w) => match position(w, origin, wp.seconds, now_s) {
                        Position::Current | Position::Moved => (current, window_spent(w)),
                        Position::Ahead => (w.start_time.0.as_second(), window_spent(w)),
                        Position::Ended | Position::EndedOffGrid => (current, Money::ZERO),
                    },
                };
                WindowBalance {
                    label: wp.label.clone(),
                    limit: wp.limit,
                    spent,
                    start: at(start),
                    renews_at: at(start.saturating_add(wp.seconds)),
                }
            })
            .collect();
        BudgetBook {
            name: plan.name.clone(),
            windows,
            open_reservations: status.ledger.len(),
        }
    }

    /// Whether the budget holds [`MAX_OPEN_RESERVATIONS`]: no reservation may be added until
    /// one is refunded.
    pub fn is_full(&self) -> bool {
        self.open_reservations >= MAX_OPEN_RESERVATIONS
    }

    /// `Ok` when every window has at least `amount` left.
    pub fn check(&self, amount: Money) -> Result<(), BudgetShortfall> {
        let short: Vec<WindowShortfall> = self
            .windows
            .iter()
            .filter(|w| w.remaining() < amount)
            .map(|w| WindowShortfall {
                window: w.label.clone(),
                limit: w.limit,
                remaining: w.remaining(),
                renews_at: w.renews_at,
            })
            .collect();
        if short.is_empty() {
            Ok(())
        } else {
            Err(BudgetShortfall {
                budget: self.name.clone(),
                needed: amount,
                windows: short,
            })
        }
    }

    /// Takes a reservation of `amount` from every window (whether or not it fits).
    pub fn take(&mut self, amount: Money) {
        for w in &mut self.windows {
            w.spent = w.spent.saturating_add(amount);
        }
        self.open_reservations = self.open_reservations.saturating_add(1);
    }

    /// [`check`](Self::check), then [`take`](Self::take) when it fits.
    pub fn reserve(&mut self, amount: Money) -> Result<(), BudgetShortfall> {
        self.check(amount)?;
        self.take(amount);
        Ok(())
    }
}

/// The admission check: `Ok` when every window of the budget has at least `reservation`
/// left at `now`.
///
/// ```
/// use jiff::Timestamp;
/// use kbatch_policy::api::{BatchBudgetSpec, BatchBudgetStatus};
/// use kbatch_policy::budget::{BudgetPlan, Money, can_reserve};
///
/// let spec: BatchBudgetSpec = serde_json::from_value(serde_json::json!({
///     "batchCostModelName": "gke", "budgetStartTime": "2026-11-22T00:00:00Z",
///     "budgetWindows": [{"duration": "24h", "amount": 100}]
/// })).unwrap();
/// let plan = BudgetPlan::from_spec("default", &spec, None).unwrap();
/// let status: BatchBudgetStatus = serde_json::from_value(serde_json::json!({
///     "windowStatusList": [{"duration": "24h", "startTime": "2026-11-22T00:00:00Z", "amount": 96.8}]
/// })).unwrap();
/// let now: Timestamp = "2026-11-22T15:00:00Z".parse().unwrap();
/// let short = can_reserve(&status, &plan, Money::parse("5.1").unwrap(), now).unwrap_err();
/// assert_eq!(
///     short.to_string(),
///     "budget default: window 24h has 3.20 of 100.00 left; this job reserves 5.10; \
///      the window renews at 2026-11-23T00:00:00Z"
/// );
/// assert!(can_reserve(&status, &plan, Money::parse("3.2").unwrap(), now).is_ok());
/// ```
pub fn can_reserve(
    status: &BatchBudgetStatus,
    plan: &BudgetPlan,
    reservation: Money,
    now: Timestamp,
) -> Result<(), BudgetShortfall> {
    BudgetBook::open(plan, status, now).check(reservation)
}

/// Why a reservation does not fit: every window that has less than it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetShortfall {
    /// The budget's name.
    pub budget: String,
    /// The reservation.
    pub needed: Money,
    /// The windows that are short, shortest first.
    pub windows: Vec<WindowShortfall>,
}

/// One window that is short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowShortfall {
    /// The duration as the spec writes it.
    pub window: String,
    /// The window's amount.
    pub limit: Money,
    /// What is left in it.
    pub remaining: Money,
    /// When a fresh window begins.
    pub renews_at: Timestamp,
}

impl BudgetShortfall {
    /// What a job that waits for the budget carries in its status: this message without what
    /// is left in the windows, which changes with every charge and refund of other jobs (a
    /// write of every waiting job's status each time).
    ///
    /// ```
    /// use kbatch_policy::budget::{BudgetShortfall, Money, WindowShortfall};
    /// let short = BudgetShortfall {
    ///     budget: "default".into(),
    ///     needed: Money::parse("5.1").unwrap(),
    ///     windows: vec![WindowShortfall {
    ///         window: "24h".into(),
    ///         limit: Money::parse("100").unwrap(),
    ///         remaining: Money::parse("3.2").unwrap(),
    ///         renews_at: "2026-11-23T00:00:00Z".parse().unwrap(),
    ///     }],
    /// };
    /// assert_eq!(
    ///     short.waiting_message(),
    ///     "budget default: this job reserves 5.10, more than window 24h (100.00) has left; \
    ///      the window renews at 2026-11-23T00:00:00Z"
    /// );
    /// ```
    pub fn waiting_message(&self) -> String {
        let windows: Vec<String> = self
            .windows
            .iter()
            .map(|w| format!("window {} ({})", w.window, w.limit))
            .collect();
        let mut text = format!(
            "budget {}: this job reserves {}, more than {} has left",
            self.budget,
            self.needed,
            windows.join(" and ")
        );
        text.push_str(&self.outlook());
        text
    }

    /// When the job can run: once the amount is raised, or when the windows renew.
    fn outlook(&self) -> String {
        if self.windows.iter().any(|w| self.needed > w.limit) {
            return ", more than a whole window: it can only run once the amount is raised"
                .to_owned();
        }
        match self.windows.as_slice() {
            [w] => format!("; the window renews at {}", w.renews_at),
            _ => {
                let at: Vec<String> = self
                    .windows
                    .iter()
                    .map(|w| format!("{} ({})", w.renews_at, w.window))
                    .collect();
                format!("; the windows renew at {}", at.join(" and "))
            }
        }
    }

    /// When the job can run at the earliest without raising an amount: when the last of the
    /// short windows renews.
    pub fn renews_at(&self) -> Option<Timestamp> {
        self.windows.iter().map(|w| w.renews_at).max()
    }
}

impl fmt::Display for BudgetShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "budget {}: ", self.budget)?;
        for (i, w) in self.windows.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{sep}window {} has {} of {} left",
                w.window,
                w.remaining.max(Money::ZERO),
                w.limit
            )?;
        }
        write!(f, "; this job reserves {}{}", self.needed, self.outlook())
    }
}
