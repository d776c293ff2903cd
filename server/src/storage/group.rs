//! Group commit. A push is queued by its request and committed by the
//! storage's one writer thread together with every push queued meanwhile:
//! one durable commit — and on PostgreSQL one turn of the organisation's log
//! lock — for many devices, each push in its own savepoint so that a refused
//! one rolls back alone. Without it every push pays a commit of its own
//! while holding the log lock, and under a herd the pushes queue on that
//! lock (PostgreSQL: 128 ms of lock wait per push, measured).

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
#[derive(Default)]
pub(super) struct PushQueue {
    state: Mutex<State>,
    queued: Condvar,
}

#[derive(Default)]
struct State {
    jobs: Vec<PushJob>,
    /// The storage was dropped: the writer finishes the queue and stops.
    closed: bool,
}

impl PushQueue {
    pub(super) fn enqueue(&self, job: PushJob) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jobs
            .push(job);
        self.queued.notify_one();
    }

    /// Waits for pushes; `None` once the queue is closed and empty.
    pub(super) fn next_group(&self) -> Option<Vec<PushJob>> {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q = self.queued.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let n = q.jobs.len().min(MAX_GROUP);
        Some(q.jobs.drain(..n).collect())
    }

    /// Everything queued, at once (when no writer thread runs).
    pub(super) fn take_all(&self) -> Vec<PushJob> {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).jobs)
    }

    /// No more pushes: the writer commits what is queued and stops.
    pub(super) fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.queued.notify_all();
    }
}
