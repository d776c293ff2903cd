//! Request nonces recorded a batch at a time. Every signed request's nonce
//! goes to the database so that no instance accepts a request another has
//! seen; one statement (and one commit) each was a tenth of a herd's
//! statements. A thread takes every nonce queued meanwhile and records them
//! in one statement: under a herd, a few hundred requests share it; alone, a
//! request waits for nothing but its own round trip.

use std::collections::HashSet;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};

use outreach_protocol::{Id, NONCE_LEN};

use super::Pool;
use crate::storage::{Result, StorageError};

/// A batch takes at most this many nonces (the rest wait for the next).
const MAX_BATCH: usize = 1024;

const INSERT: &str = "INSERT INTO request_nonces (device_id, nonce, expires_at)
     SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[])
     ON CONFLICT DO NOTHING RETURNING device_id, nonce";

struct Job {
    device: Id,
    nonce: [u8; NONCE_LEN],
    expires_at: i64,
    reply: SyncSender<Result<bool>>,
}

/// Nonces waiting for the thread.
#[derive(Default)]
pub(super) struct NonceQueue {
    state: Mutex<State>,
    queued: Condvar,
}

#[derive(Default)]
struct State {
    jobs: Vec<Job>,
    closed: bool,
}

impl NonceQueue {
    /// Queues the nonce and waits for its batch: whether it was new.
    pub(super) fn admit(
        &self,
        device: &Id,
        nonce: &[u8; NONCE_LEN],
        expires_at: i64,
    ) -> Result<bool> {
        let (reply, answer) = sync_channel(1);
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jobs
            .push(Job {
                device: *device,
                nonce: *nonce,
                expires_at,
                reply,
            });
        self.queued.notify_one();
        // The thread answers every job it takes, or drops its sender if it
        // stops; either way this returns.
        answer.recv().map_err(|_| StorageError::CommitFailed)?
    }

    fn next_batch(&self) -> Option<Vec<Job>> {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q = self.queued.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let n = q.jobs.len().min(MAX_BATCH);
        Some(q.jobs.drain(..n).collect())
    }

    /// No more nonces: the thread answers what is queued and stops.
    pub(super) fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.queued.notify_all();
    }
}

/// The thread: records queued nonces a batch at a time.
pub(super) fn run(pool: Pool, queue: std::sync::Arc<NonceQueue>) {
    while let Some(jobs) = queue.next_batch() {
        let answers = record(&pool, &jobs);
        for (job, answer) in jobs.into_iter().zip(answers) {
            let _ = job.reply.send(answer);
        }
    }
}

/// Records a batch in one statement; one answer per job, in order. A nonce
/// twice in one batch (a replay racing the original) is new only the
/// first time.
fn record(pool: &Pool, jobs: &[Job]) -> Vec<Result<bool>> {
    let mut seen = HashSet::with_capacity(jobs.len());
    let first: Vec<bool> = jobs
        .iter()
        .map(|j| seen.insert((j.device, j.nonce)))
        .collect();
    let (mut devices, mut nonces, mut expiries) = (Vec::new(), Vec::new(), Vec::new());
    for (j, _) in jobs.iter().zip(&first).filter(|(_, f)| **f) {
        devices.push(&j.device[..]);
        nonces.push(&j.nonce[..]);
        expiries.push(j.expires_at);
    }
    let inserted = (|| -> Result<HashSet<(Vec<u8>, Vec<u8>)>> {
        let mut conn = pool.get()?;
        let rows = conn.query_alone(INSERT, &[&devices, &nonces, &expiries])?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    })();
    match inserted {
        Ok(new) => jobs
            .iter()
            .zip(first)
            .map(|(j, first)| Ok(first && new.contains(&(j.device.to_vec(), j.nonce.to_vec()))))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, nonces = jobs.len(), "could not record request nonces");
            let retryable = matches!(e, StorageError::Retryable);
            jobs.iter()
                .map(|_| {
                    Err(if retryable {
                        StorageError::Retryable
                    } else {
                        StorageError::CommitFailed
                    })
                })
                .collect()
        }
    }
}
