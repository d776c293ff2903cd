//! Request nonces recorded a batch at a time. Every signed request's nonce
//! goes to the database so that no instance accepts a request another has
//! seen; one statement (and one commit) each was a tenth of a herd's
//! statements. A thread takes every nonce queued meanwhile and records them
//! in one statement: under a herd, a few hundred requests share it; alone, a
//! request waits for nothing but its own round trip.

use std::collections::HashSet;
use std::sync::mpsc::{SyncSender, sync_channel};

use outreach_protocol::{Id, NONCE_LEN};

use super::Pool;
use crate::storage::group::Queue;
use crate::storage::{NONCE_WAIT, NonceOutcome, Result, StorageError};

/// A batch takes at most this many nonces (the rest wait for the next).
const MAX_BATCH: usize = 1024;

/// Rows go in key order: two instances inserting the same keys (a device
/// replaying requests to both, in opposite orders) then wait for each
/// other in one direction only, never in a cycle.
const INSERT: &str = "INSERT INTO request_nonces (device_id, nonce, expires_at)
     SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[]) ORDER BY 1, 2
     ON CONFLICT DO NOTHING RETURNING device_id, nonce";

/// A batch refused as retryable (a conflict with another instance) is
/// tried again this many times before its requests are answered so.
const RETRIES: usize = 2;

pub(super) struct Job {
    device: Id,
    nonce: [u8; NONCE_LEN],
    expires_at: i64,
    reply: Reply,
}

/// Where a job's answer goes: a thread waiting for it, or a request's task.
enum Reply {
    Waiting(SyncSender<Result<bool>>),
    Queued(tokio::sync::oneshot::Sender<Result<bool>>),
}

impl Reply {
    fn send(self, answer: Result<bool>) {
        // A request that stopped waiting no longer needs its answer.
        let _ = match self {
            Reply::Waiting(reply) => reply.send(answer).map_err(drop),
            Reply::Queued(reply) => reply.send(answer).map_err(drop),
        };
    }
}

/// Nonces waiting for the thread.
pub(super) type NonceQueue = Queue<Job>;

/// Queues the nonce and waits for its batch: whether it was new.
pub(super) fn admit(
    queue: &NonceQueue,
    device: &Id,
    nonce: &[u8; NONCE_LEN],
    expires_at: i64,
) -> Result<bool> {
    let (reply, answer) = sync_channel(1);
    queue.enqueue(Job {
        device: *device,
        nonce: *nonce,
        expires_at,
        reply: Reply::Waiting(reply),
    });
    // The thread answers every job it takes, or drops its sender if it
    // stops; bounded all the same.
    answer
        .recv_timeout(NONCE_WAIT)
        .map_err(|_| StorageError::CommitFailed)?
}

/// Queues the nonce and returns at once: the answer arrives on the
/// outcome (awaited with [`NONCE_WAIT`] as its bound by the request).
pub(super) fn admit_queued(
    queue: &NonceQueue,
    device: &Id,
    nonce: &[u8; NONCE_LEN],
    expires_at: i64,
) -> NonceOutcome {
    let (reply, outcome) = tokio::sync::oneshot::channel();
    queue.enqueue(Job {
        device: *device,
        nonce: *nonce,
        expires_at,
        reply: Reply::Queued(reply),
    });
    outcome
}

/// [`admit`] without the thread (admin commands): a batch of one.
pub(super) fn admit_here(
    pool: &Pool,
    device: &Id,
    nonce: &[u8; NONCE_LEN],
    expires_at: i64,
) -> Result<bool> {
    Ok(!insert(pool, &[(device, nonce, expires_at)])?.is_empty())
}

/// The thread: records queued nonces a batch at a time.
pub(super) fn run(pool: Pool, queue: std::sync::Arc<NonceQueue>) {
    while let Some(jobs) = queue.next_group_of(MAX_BATCH) {
        let answers = record(&pool, &jobs);
        for (job, answer) in jobs.into_iter().zip(answers) {
            job.reply.send(answer);
        }
    }
}

/// Inserts the rows in one statement (one attempt): the keys that were new.
fn insert(
    pool: &Pool,
    rows: &[(&Id, &[u8; NONCE_LEN], i64)],
) -> Result<HashSet<(Vec<u8>, Vec<u8>)>> {
    let devices: Vec<&[u8]> = rows.iter().map(|r| &r.0[..]).collect();
    let nonces: Vec<&[u8]> = rows.iter().map(|r| &r.1[..]).collect();
    let expiries: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let mut conn = pool.get()?;
    conn.query_alone(INSERT, &[&devices, &nonces, &expiries])?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
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
    let rows: Vec<(&Id, &[u8; NONCE_LEN], i64)> = jobs
        .iter()
        .zip(&first)
        .filter(|(_, f)| **f)
        .map(|(j, _)| (&j.device, &j.nonce, j.expires_at))
        .collect();
    let attempt = || insert(pool, &rows);
    let mut inserted = attempt();
    for _ in 0..RETRIES {
        if !matches!(inserted, Err(StorageError::Retryable)) {
            break;
        }
        inserted = attempt();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::postgres::{PostgresStorage, testdb};

    /// Queued nonces (as the requests queue them, awaited without a
    /// thread each): 300 queued at once, every one of 100 nonces three
    /// times over, on two instances: each nonce is admitted exactly once.
    #[test]
    fn queued_nonces_are_admitted_once_each() {
        let Some(cluster) = testdb::cluster() else {
            return;
        };
        let url = cluster.new_schema();
        let a = PostgresStorage::open_with(&url, 4, true).expect("open a");
        let b = PostgresStorage::open_with(&url, 4, true).expect("open b");
        let exp = crate::now() + 600;
        let device: Id = [5; 16];
        let outcomes: Vec<_> = (0..300u32)
            .map(|i| {
                let s = if i % 2 == 0 { &a } else { &b };
                let mut nonce = [0u8; NONCE_LEN];
                nonce[..4].copy_from_slice(&(i % 100).to_le_bytes());
                use crate::storage::Storage;
                let outcome = s
                    .admit_nonce_queued(&device, &nonce, exp)
                    .expect("the nonce thread runs");
                (i % 100, outcome)
            })
            .collect();
        let mut admitted = [0usize; 100];
        for (n, outcome) in outcomes {
            if outcome
                .blocking_recv()
                .expect("answered")
                .expect("recorded")
            {
                admitted[n as usize] += 1;
            }
        }
        assert!(admitted.iter().all(|&n| n == 1), "{admitted:?}");
    }

    /// Another instance's batch holds one of this batch's keys, and goes on
    /// to insert a second one: since both insert in key order, this batch
    /// waits for the other and then finds both taken, where inserting in
    /// arrival order would have taken the second key first and deadlocked
    /// (a device replaying two requests to two instances in opposite
    /// orders).
    #[test]
    fn batches_insert_in_key_order_and_never_deadlock() {
        let Some(cluster) = testdb::cluster() else {
            return;
        };
        let url = cluster.new_schema();
        let s = PostgresStorage::open_with(&url, 4, true).expect("open");
        let device: Id = [3; 16];
        let (n1, n2) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let exp = crate::now() + 600;
        let mut other = s.pool.get().unwrap();
        let insert_one = |c: &mut crate::storage::postgres::PgConn, n: &[u8; NONCE_LEN]| {
            c.client.execute(
                "INSERT INTO request_nonces (device_id, nonce, expires_at) VALUES ($1, $2, $3)",
                &[&&device[..], &&n[..], &exp],
            )
        };
        other.client.batch_execute("BEGIN").unwrap();
        insert_one(&mut other, &n1).unwrap();
        let xid = testdb::open_xid(&mut other.client);
        std::thread::scope(|scope| {
            // Arrival order: the second key first.
            let batch =
                scope.spawn(|| insert(&s.pool, &[(&device, &n2, exp), (&device, &n1, exp)]));
            // Until the batch waits for the other's first key.
            testdb::wait_until_someone_waits_for(&mut s.pool.get().unwrap().client, xid);
            insert_one(&mut other, &n2).expect("the other instance is not made to wait");
            other.client.batch_execute("COMMIT").unwrap();
            let new = batch.join().unwrap().expect("no deadlock");
            assert!(new.is_empty(), "both keys were the other instance's");
        });
    }
}
