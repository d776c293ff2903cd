//! Requests that arrive together, answered together ("flat combining"). A
//! thread with a job queues it and, while fewer than `leaders` batches are
//! running, takes every job queued so far — its own and others' — and runs
//! them as one batch; otherwise it waits for a batch to answer it. A job on
//! its own (a quiet server) is run at once, alone, by its own thread; under
//! a herd, the jobs that queued while a batch ran are the next batch.
//!
//! Why: on PostgreSQL a pull is one statement, and most of that
//! statement's cost on a busy server was not its work but its overhead —
//! starting the executor on a plan of some sixty nodes, the round trip,
//! the portal, the implicit commit (a profile of the herd: executor start
//! alone was a quarter of the database's CPU). One statement for eight
//! pulls costs about what two cost alone (measured with `pgbench`, one
//! client: 325 µs a pull alone, 92 µs in eights). Unlike the push groups'
//! writer thread, no thread of its own: the waiting threads are the
//! requests' own (each still holds its work slot, so memory stays bounded
//! by the slots as before), and `leaders` batches run side by side so that
//! pulls still use every core.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Jobs of type `J` answered a batch at a time with results of type `R`.
pub(crate) struct Combiner<J, R> {
    state: Mutex<State<J, R>>,
    changed: Condvar,
    leaders: usize,
    max_batch: usize,
}

struct State<J, R> {
    queue: VecDeque<(u64, J)>,
    /// Answers not yet collected by their threads; `None`: the batch that
    /// had the job ended without answering it (it panicked).
    done: HashMap<u64, Option<R>>,
    leading: usize,
    next_ticket: u64,
}

impl<J, R> Combiner<J, R> {
    /// At most `leaders` batches at once, each of at most `max_batch` jobs.
    pub(crate) fn new(leaders: usize, max_batch: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                done: HashMap::new(),
                leading: 0,
                next_ticket: 0,
            }),
            changed: Condvar::new(),
            leaders: leaders.max(1),
            max_batch: max_batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J, R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `job`'s answer, from the batch that took it: `batch` gets the jobs
    /// in the order they queued and returns their answers in that order.
    /// `None` if that batch ended without answering it (a panic in
    /// `batch`, or fewer answers than jobs).
    pub(crate) fn run(&self, job: J, batch: impl Fn(Vec<J>) -> Vec<R>) -> Option<R> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((ticket, job));
        loop {
            if let Some(answer) = state.done.remove(&ticket) {
                return answer;
            }
            if state.leading < self.leaders && !state.queue.is_empty() {
                state.leading += 1;
                let n = state.queue.len().min(self.max_batch);
                let (tickets, jobs): (Vec<u64>, Vec<J>) = state.queue.drain(..n).unzip();
                drop(state);
                let mut lead = Lead {
                    combiner: self,
                    tickets,
                    answers: None,
                    own: ticket,
                };
                lead.answers = Some(batch(jobs));
                drop(lead);
                state = self.lock();
                continue;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A running batch: when it ends — answered, or unwinding from a panic —
/// its jobs' threads are given their answers (or `None`) and woken.
struct Lead<'a, J, R> {
    combiner: &'a Combiner<J, R>,
    tickets: Vec<u64>,
    answers: Option<Vec<R>>,
    /// The leading thread's own ticket: not left behind if it unwinds.
    own: u64,
}

impl<J, R> Drop for Lead<'_, J, R> {
    fn drop(&mut self) {
        let answered = self.answers.is_some();
        let mut answers = self.answers.take().unwrap_or_default().into_iter();
        let mut state = self.combiner.lock();
        state.leading -= 1;
        for &ticket in &self.tickets {
            let answer = answers.next();
            if answered || ticket != self.own {
                state.done.insert(ticket, answer);
            }
        }
        drop(state);
        self.combiner.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Every job gets its own answer, whichever thread ran its batch; jobs
    /// that queue while the batches run are combined (fewer batches than
    /// jobs); never more than `leaders` batches at once.
    #[test]
    fn each_job_gets_its_own_answer_and_waiting_jobs_are_combined() {
        let combiner = Arc::new(Combiner::<u32, u32>::new(2, 8));
        let (batches, running, most) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let threads: Vec<_> = (0..40u32)
            .map(|i| {
                let (combiner, batches, running, most) = (
                    combiner.clone(),
                    batches.clone(),
                    running.clone(),
                    most.clone(),
                );
                std::thread::spawn(move || {
                    let answer = combiner.run(i, |jobs| {
                        assert!(jobs.len() <= 8, "a batch past its limit");
                        batches.fetch_add(1, Ordering::SeqCst);
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        jobs.iter().map(|j| j * 10 + 1).collect()
                    });
                    assert_eq!(answer, Some(i * 10 + 1), "job {i} got another's answer");
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let batches = batches.load(Ordering::SeqCst);
        assert!(batches < 40, "no job was combined: {batches} batches");
        assert!(batches >= 5, "40 jobs in batches of at most 8: {batches}");
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "more than two batches at once"
        );
        assert!(combiner.lock().done.is_empty(), "an answer was left behind");
    }

    /// Jobs taken by a batch that panics get `None` instead of waiting for
    /// ever; the leader's own ticket is not left behind; later jobs run.
    #[test]
    fn jobs_in_a_batch_that_panics_get_none_and_later_jobs_still_run() {
        let combiner = Arc::new(Combiner::<u32, u32>::new(1, 8));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release_rx));
        // A first batch holds the only lead while two more jobs queue.
        let first = {
            let (combiner, release) = (combiner.clone(), release.clone());
            std::thread::spawn(move || {
                combiner.run(0, |jobs| {
                    let _ = release.lock().unwrap().recv();
                    jobs
                })
            })
        };
        while combiner.lock().leading == 0 {
            std::thread::yield_now();
        }
        let queued: Vec<_> = (1..=2u32)
            .map(|i| {
                let combiner = combiner.clone();
                std::thread::spawn(move || {
                    combiner.run(i, |jobs| {
                        if jobs.len() == 2 {
                            panic!("the batch of both fails");
                        }
                        jobs
                    })
                })
            })
            .collect();
        while combiner.lock().queue.len() < 2 {
            std::thread::yield_now();
        }
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap(), Some(0));
        // One of the two led the batch of both and unwound; the other got None.
        let outcomes: Vec<_> = queued.into_iter().map(|t| t.join()).collect();
        assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
        assert!(outcomes.iter().any(|o| matches!(o, Ok(None))));
        assert!(combiner.lock().done.is_empty(), "an answer was left behind");
        assert_eq!(combiner.lock().leading, 0);
        let later = combiner.run(3, |jobs| jobs.iter().map(|j| j + 1).collect());
        assert_eq!(later, Some(4));
    }
}
