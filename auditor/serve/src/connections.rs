//! The HTTP server's connection table: at most `cap` connections open, and
//! which one to close when another arrives at the cap.
//!
//! A plain semaphore around the accept loop is not enough for a probe port.
//! Whether newcomers wait in the kernel backlog or are closed at once, a few
//! hundred connections that never send a byte (a port scan, a stuck client,
//! an attacker in the cluster network) keep every slot until the header-read
//! timeout, wave after wave, and the kubelet's `/healthz` probe waits or is
//! refused: a liveness failure restarts a healthy pod. So at the cap the
//! newcomer takes the slot of the connection that has been idle longest (no
//! request in progress: silent, half a request line, or keep-alive between
//! requests), which is the connection a timeout would close next anyway.
//! Connections serving a request are never evicted; when every slot serves
//! one, the newcomer is closed at once.
//!
//! No maintained crate does this: tower's `ConcurrencyLimit` counts requests,
//! not connections, and `axum::serve` has neither a limit nor a timer (axum
//! discussion #2561 points to writing the accept loop, as
//! `examples/serve-with-hyper` in tokio-rs/axum does). The timers themselves
//! are hyper's (see [`super::http`]); this table only counts and chooses.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The open connections.
#[derive(Debug)]
pub(crate) struct Connections {
    cap: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

/// One connection's activity, shared by its task and its service.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Requests in progress.
    busy: AtomicUsize,
    /// When it was accepted, or last began or finished a request.
    last_active: Mutex<Instant>,
    /// Fired when the table closes it.
    evicted: Notify,
}

impl Connections {
    /// A table for at most `cap` connections (at least one).
    pub(crate) fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            cap: cap.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// A slot for a newly accepted connection; at the cap the idlest
    /// connection is evicted first. `None` when every slot is serving a
    /// request: close the newcomer.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.lock();
        if open.conns.len() >= self.cap && !open.evict_idlest() {
            return None;
        }
        let id = open.next_id;
        open.next_id += 1;
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            last_active: Mutex::new(Instant::now()),
            evicted: Notify::new(),
        });
        open.conns.insert(id, Arc::clone(&conn));
        Some(Slot {
            table: Arc::clone(self),
            id,
            conn,
        })
    }

    /// Close the connection idle longest; false when none is idle.
    pub(crate) fn evict_idlest(&self) -> bool {
        self.lock().evict_idlest()
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Open {
    fn evict_idlest(&mut self) -> bool {
        let idlest = self
            .conns
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, c)| c.last_active())
            .map(|(id, _)| *id);
        let Some(conn) = idlest.and_then(|id| self.conns.remove(&id)) else {
            return false;
        };
        // `notify_one` keeps the wake-up if the task is not waiting yet.
        conn.evicted.notify_one();
        true
    }
}

impl Conn {
    fn last_active(&self) -> Instant {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// A request began; it is in progress until the guard drops. A request
    /// that arrives in the instant its connection is evicted is lost, like
    /// one that arrives just after a timeout: the client sees a reset.
    pub(crate) fn begin_request(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(Arc::clone(self))
    }
}

/// A connection's place in the table; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    table: Arc<Connections>,
    id: u64,
    conn: Arc<Conn>,
}

impl Slot {
    /// The activity record the connection's service updates.
    pub(crate) fn conn(&self) -> Arc<Conn> {
        Arc::clone(&self.conn)
    }

    /// Resolves when the table evicts this connection.
    pub(crate) async fn evicted(&self) {
        self.conn.evicted.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().conns.remove(&self.id);
    }
}

/// A request in progress (see [`Conn::begin_request`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let table = Connections::new(2);
        let first = table.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = table.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The first is older but serving a request: the second goes.
        let busy = first.conn().begin_request();
        let third = table.admit().unwrap();
        assert_eq!(table.len(), 2);
        tokio::time::timeout(Duration::from_millis(1), second.evicted())
            .await
            .expect("the idle connection was told to close");
        // Both left are busy or fresh; with both busy, a newcomer is refused.
        let busy3 = third.conn().begin_request();
        assert!(table.admit().is_none());
        drop(busy3);
        drop(busy);
        drop(second);
        assert_eq!(table.len(), 2, "an evicted slot was already freed");
        drop(first);
        drop(third);
        assert_eq!(table.len(), 0);
    }

    #[tokio::test]
    async fn a_finished_request_counts_as_activity() {
        let table = Connections::new(2);
        let old = table.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let young = table.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(old.conn().begin_request());
        assert!(table.evict_idlest());
        tokio::time::timeout(Duration::from_millis(1), young.evicted())
            .await
            .expect("the connection idle longest goes first");
    }
}
