//! Group commit. A push is queued by its request and committed by the
//! storage's one writer thread together with every push queued meanwhile:
//! one durable commit — and on PostgreSQL one turn of the organisation's log
//! lock — for many devices, each push in its own savepoint so that a refused
//! one rolls back alone. Without it every push pays a commit of its own
//! while holding the log lock, and under a herd the pushes queue on that
//! lock (PostgreSQL: 128 ms of lock wait per push, measured). The queue is
//! generic: PostgreSQL's request nonces are recorded a batch at a time the
//! same way (`postgres/nonces.rs`), and its pulls answered a batch at a
//! time by its pull threads (`run_puller` in `postgres.rs`).

use std::sync::{Condvar, Mutex};

use outreach_protocol::{Change, Envelope, PushResponse};

use super::{Device, Result};

/// A commit takes at most this many pushes (the rest wait for the next).
pub(super) const MAX_GROUP: usize = 128;

/// One push waiting for its commit.
pub(super) struct PushJob {
    pub device: Device,
    pub changes: Vec<Change>,
    pub envelopes: Vec<Envelope>,
    pub now: i64,
    pub reply: tokio::sync::oneshot::Sender<Result<PushResponse>>,
}

/// Pushes waiting for the writer.
pub(super) type PushQueue = Queue<PushJob>;

/// Jobs waiting for the thread that does them a group at a time (pushes
/// here; request nonces and pulls on PostgreSQL): it waits for the first, then takes
/// every job queued meanwhile.
pub(super) struct Queue<T> {
    state: Mutex<State<T>>,
    queued: Condvar,
}

struct State<T> {
    jobs: Vec<T>,
    /// The storage was dropped: the thread finishes the queue and stops.
    closed: bool,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                jobs: Vec::new(),
                closed: false,
            }),
            queued: Condvar::new(),
        }
    }
}

impl<T> Queue<T> {
    pub(super) fn enqueue(&self, job: T) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jobs
            .push(job);
        self.queued.notify_one();
    }

    /// Waits for jobs; `None` once the queue is closed and empty. At most
    /// `max` at a time (the rest wait for the next group).
    pub(super) fn next_group_of(&self, max: usize) -> Option<Vec<T>> {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q = self.queued.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let n = q.jobs.len().min(max.max(1));
        Some(q.jobs.drain(..n).collect())
    }

    /// Everything queued, at once (when no thread runs).
    pub(super) fn take_all(&self) -> Vec<T> {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).jobs)
    }

    /// No more jobs: the thread does what is queued and stops.
    pub(super) fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.queued.notify_all();
    }
}

impl PushQueue {
    /// The next group of pushes for one commit.
    pub(super) fn next_group(&self) -> Option<Vec<PushJob>> {
        self.next_group_of(MAX_GROUP)
    }
}
