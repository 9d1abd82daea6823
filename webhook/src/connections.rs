//! The open HTTPS connections: how many, which are idle, and which to close.
//!
//! Every connection holds one of `max_connections` slots from its `accept` to its close, and is
//! tracked by requests in flight. One with none is idle: it is closed once it has been idle for
//! the first-request timeout (it never sent a request: handshaking, or silent) or the idle
//! timeout (after its requests). When every slot is taken, a new connection makes room by
//! closing an idle one, silent ones first, the longest idle first, so that clients that connect
//! and send nothing cannot keep the API server out. Only when every connection has a request in
//! flight does a new one wait, and those requests end within the request timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The slots and the connections holding them.
#[derive(Debug)]
pub(crate) struct Connections {
    limit: usize,
    open: Mutex<Open>,
    /// A slot was released or a connection became idle (one waiter: the accept loop).
    room: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    by_id: HashMap<u64, Arc<Tracker>>,
}

/// Why a connection should close now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Idle past its deadline.
    Idle,
    /// Idle, and its slot is wanted by a new connection.
    Evicted,
}

impl Closing {
    /// The reason label of `kbatch_webhook_connections_closed_total`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Closing::Idle => "idle",
            Closing::Evicted => "evicted",
        }
    }
}

impl Connections {
    /// At most `limit` connections (at least 1).
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Connections {
            limit: limit.max(1),
            open: Mutex::new(Open::default()),
            room: Arc::new(Notify::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The map is consistent after every statement that changes it: a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of connections holding a slot.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// A slot for a connection just accepted: a free one, or one an idle connection gives up.
    /// Waits only while every connection has a request in flight.
    pub(crate) async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            let room = self.room.notified();
            {
                let mut open = self.lock();
                if open.by_id.len() < self.limit {
                    open.next_id += 1;
                    let tracker = Arc::new(Tracker::new(open.next_id, Arc::clone(&self.room)));
                    open.by_id.insert(tracker.id, Arc::clone(&tracker));
                    return Slot {
                        tracker,
                        connections: Arc::clone(self),
                    };
                }
                if !open.by_id.values().any(|t| t.is_evicted()) {
                    let victim = open
                        .by_id
                        .values()
                        .filter(|t| t.in_flight() == 0)
                        .min_by_key(|t| (t.has_served(), t.idle_since()));
                    if let Some(victim) = victim {
                        victim.evict();
                    }
                }
            }
            room.await;
        }
    }

    fn release(&self, id: u64) {
        self.lock().by_id.remove(&id);
        // `notify_one` keeps the wake-up for a waiter that has not started waiting yet.
        self.room.notify_one();
    }
}

/// A connection's hold on its slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    tracker: Arc<Tracker>,
    connections: Arc<Connections>,
}

impl Slot {
    pub(crate) fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.release(self.tracker.id);
    }
}

/// What one connection is doing.
#[derive(Debug)]
pub(crate) struct Tracker {
    id: u64,
    in_flight: AtomicUsize,
    served: AtomicBool,
    evicted: AtomicBool,
    idle_since: Mutex<Instant>,
    /// Became idle, or was evicted.
    changed: Notify,
    /// The accept loop's: told when this connection becomes idle, so it may make room.
    room: Arc<Notify>,
}

impl Tracker {
    fn new(id: u64, room: Arc<Notify>) -> Self {
        Tracker {
            id,
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
            room,
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// True once the connection has sent a request.
    pub(crate) fn has_served(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Marks a request in flight until the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            tracker: Arc::clone(self),
        }
    }

    /// Resolves when the connection should close: idle past `first_request` (never sent a
    /// request) or `idle` (after its requests), or idle and evicted.
    pub(crate) async fn closing(&self, first_request: Duration, idle: Duration) -> Closing {
        loop {
            let changed = self.changed.notified();
            if self.in_flight() > 0 {
                changed.await;
                continue;
            }
            if self.is_evicted() {
                return Closing::Evicted;
            }
            let limit = if self.has_served() {
                idle
            } else {
                first_request
            };
            let Some(deadline) = self.idle_since().checked_add(limit) else {
                // An idle limit past the end of time: only an eviction closes it.
                changed.await;
                continue;
            };
            if Instant::now() >= deadline {
                return Closing::Idle;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = changed => {}
            }
        }
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub(crate) struct InFlight {
    tracker: Arc<Tracker>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let tracker = &self.tracker;
        *tracker
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        if tracker.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracker.changed.notify_one();
            tracker.room.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_closes_at_the_first_request_deadline() {
        let connections = Connections::new(4);
        let slot = connections.admit().await;
        let started = Instant::now();
        let closing = slot
            .tracker()
            .closing(Duration::from_secs(10), Duration::from_secs(60))
            .await;
        assert_eq!(closing, Closing::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_deadline_counts_from_the_last_request() {
        let connections = Connections::new(4);
        let slot = connections.admit().await;
        let tracker = Arc::clone(slot.tracker());
        let request = tracker.begin();
        let watcher = tokio::spawn({
            let tracker = Arc::clone(&tracker);
            async move {
                tracker
                    .closing(Duration::from_secs(1), Duration::from_secs(5))
                    .await
            }
        });
        // A request in flight for longer than both deadlines keeps the connection open.
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!watcher.is_finished());
        let ended = Instant::now();
        drop(request);
        assert_eq!(watcher.await.unwrap(), Closing::Idle);
        assert_eq!(ended.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_house_evicts_silent_connections_first_then_the_longest_idle() {
        let connections = Connections::new(3);
        let served_early = connections.admit().await;
        drop(served_early.tracker().begin());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let silent = connections.admit().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = connections.admit().await;
        let _request = busy.tracker().begin();
        assert_eq!(connections.len(), 3);

        // The silent connection goes first, though the served one has been idle longer.
        let next = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        let closing = silent.tracker().closing(LONG, LONG).await;
        assert_eq!(closing, Closing::Evicted);
        drop(silent);
        let fourth = next.await.unwrap();
        assert_eq!(connections.len(), 3);

        // Then the served, idle one; the busy one never.
        let next = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        drop(fourth.tracker().begin());
        let closing = served_early.tracker().closing(LONG, LONG).await;
        assert_eq!(closing, Closing::Evicted);
        drop(served_early);
        let _fifth = next.await.unwrap();
        assert_eq!(connections.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_connection_busy_a_new_one_waits_for_a_request_to_end() {
        let connections = Connections::new(1);
        let busy = connections.admit().await;
        let request = busy.tracker().begin();
        let next = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!next.is_finished());
        drop(request);
        assert_eq!(busy.tracker().closing(LONG, LONG).await, Closing::Evicted);
        drop(busy);
        let _slot = next.await.unwrap();
    }
}
