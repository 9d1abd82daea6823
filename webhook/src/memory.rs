//! The review memory budget: requests are admitted by the bytes they will cost, not by count.
//!
//! A review costs its body plus what decoding and deciding it allocate, at most
//! [`PEAK_BYTES_PER_BODY_BYTE`] times its body at its peak (`webhook/tests/review_memory.rs`
//! measures the worst shapes). Before a body is read, its request reserves that much of the
//! budget for its declared length (the whole body limit when none is declared) and keeps it
//! until the answer is written; a request that cannot reserve in time gets 503. Large bodies
//! may hold at most [`LARGE_SHARE_PERCENT`] of the budget, so that a stream of them cannot keep
//! out the API server's usual few-kilobyte reviews. A review that costs more than the budget
//! (or its share) waits for all of it rather than being refused for its size.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Peak bytes allocated while a review is read, decoded and decided, per byte of its body: a
/// 3 MiB review reserves this many times 3 MiB of the budget. Debug builds cost more: they
/// re-encode every mutated job as a JSON tree to check its patch (kbatch-admission).
pub const PEAK_BYTES_PER_BODY_BYTE: usize = if cfg!(debug_assertions) { 64 } else { 36 };
/// Bodies larger than this are "large": they draw on their share of the budget, and are
/// decided on the review threads instead of the async workers.
pub(crate) const LARGE_BODY_BYTES: usize = 64 * 1024;
/// The part of the budget large bodies may hold at once.
pub(crate) const LARGE_SHARE_PERCENT: usize = 75;

/// Permits are KiB: a 4 GiB review fits in the `u32` that `acquire_many` takes.
const UNIT: usize = 1024;

/// The budget, in KiB permits.
#[derive(Debug)]
pub(crate) struct ReviewMemory {
    all: Arc<Semaphore>,
    all_units: usize,
    large: Arc<Semaphore>,
    large_units: usize,
}

/// The budget a request holds until it is answered (owned: a review thread keeps it until its
/// decision is done, even if the client has gone).
#[derive(Debug)]
pub(crate) struct Reservation {
    _all: OwnedSemaphorePermit,
    _large: Option<OwnedSemaphorePermit>,
}

impl ReviewMemory {
    /// A budget of `bytes` (at least one unit).
    pub(crate) fn new(bytes: usize) -> Self {
        let all_units = (bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        let large_units = (all_units.saturating_mul(LARGE_SHARE_PERCENT) / 100).clamp(1, all_units);
        ReviewMemory {
            all: Arc::new(Semaphore::new(all_units)),
            all_units,
            large: Arc::new(Semaphore::new(large_units)),
            large_units,
        }
    }

    /// Units a body of `body_bytes` costs, capped at what `cap` units allow.
    fn units(body_bytes: usize, cap: usize) -> u32 {
        let bytes = body_bytes.saturating_mul(PEAK_BYTES_PER_BODY_BYTE);
        let units = bytes.div_ceil(UNIT).clamp(1, cap);
        u32::try_from(units).unwrap_or(u32::MAX)
    }

    /// Reserves the cost of a body of `body_bytes`; waits while the budget is spent (the caller
    /// bounds the wait).
    pub(crate) async fn reserve(&self, body_bytes: usize) -> Reservation {
        let large = if body_bytes > LARGE_BODY_BYTES {
            let units = Self::units(body_bytes, self.large_units);
            Some(acquire(&self.large, units).await)
        } else {
            None
        };
        let all = acquire(&self.all, Self::units(body_bytes, self.all_units)).await;
        Reservation {
            _all: all,
            _large: large,
        }
    }

    /// Bytes reserved now (for the metrics).
    pub(crate) fn reserved_bytes(&self) -> usize {
        (self.all_units - self.all.available_permits()) * UNIT
    }
}

async fn acquire(semaphore: &Arc<Semaphore>, units: u32) -> OwnedSemaphorePermit {
    match Arc::clone(semaphore).acquire_many_owned(units).await {
        Ok(permit) => permit,
        // The budget's semaphores are never closed.
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use tokio::time::timeout;

    const MIB: usize = 1024 * 1024;

    async fn reserves_now(memory: &ReviewMemory, bytes: usize) -> bool {
        let reserved = timeout(Duration::from_millis(10), memory.reserve(bytes)).await;
        reserved.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn reservations_count_bytes_and_free_on_drop() {
        let memory = ReviewMemory::new(64 * MIB);
        // Bodies whose cost is a quarter of the large share (48 MiB): four fit, not five.
        let body = 12 * MIB / PEAK_BYTES_PER_BODY_BYTE;
        let first = memory.reserve(body).await;
        assert_eq!(memory.reserved_bytes(), 12 * MIB);
        let second = memory.reserve(body).await;
        let others = (memory.reserve(body).await, memory.reserve(body).await);
        assert!(!reserves_now(&memory, body).await);
        // The small lane stays open.
        assert!(reserves_now(&memory, 4 * 1024).await);
        drop((first, second, others));
        assert_eq!(memory.reserved_bytes(), 0);
        assert!(reserves_now(&memory, body).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_costlier_than_the_budget_waits_for_all_of_it() {
        let memory = ReviewMemory::new(8 * MIB);
        let small = memory.reserve(1024).await;
        assert!(!reserves_now(&memory, 3 * MIB).await);
        drop(small);
        assert!(reserves_now(&memory, 3 * MIB).await);
    }

    #[test]
    fn units_are_rounded_up_and_never_zero() {
        assert_eq!(ReviewMemory::units(0, 100), 1);
        assert_eq!(ReviewMemory::units(1, 100), 1);
        assert_eq!(
            ReviewMemory::units(UNIT, 1000),
            PEAK_BYTES_PER_BODY_BYTE as u32
        );
        assert_eq!(ReviewMemory::units(usize::MAX, 100), 100);
    }
}
