//! The PostgreSQL backend's own tests: the storage contract, the cursor
//! invariant under interleaved commits, and the races SQLite's single
//! writer hides (enrolment with one code, invites, assignments), each run
//! on two connections at once.

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use outreach_protocol::{
    self as proto, Change, Cursor, Envelope, ErrorCode, Id, PullResponse, RECOVERY_RECIPIENT, Role,
};

use super::{PostgresStorage, push, redact_url, testdb};
use crate::storage::group::PushJob;
use crate::storage::{Device, NewDevice, Storage, StorageError};

/// A fresh storage in a schema of its own, or `None` (the test skips).
fn storage() -> Option<PostgresStorage> {
    let cluster = testdb::cluster()?;
    Some(PostgresStorage::open_with(&cluster.new_schema(), 4, true).expect("open"))
}

/// The storage contract, on a fresh schema of the test cluster.
mod contract {
    crate::storage_contract_tests!({
        let Some(s) = super::storage() else {
            return;
        };
        (s, ())
    });
}

const NOW: i64 = 1_800_000_000;

fn enrol(s: &dyn Storage, name: &str, role: Role, team: Option<&str>, n: u8) -> Device {
    let code = [n; 32];
    s.create_invite(name, role, team, code, NOW + 3600, NOW)
        .unwrap();
    s.enroll(code, new_device(n), NOW).unwrap();
    s.device(&[n; 16]).unwrap().unwrap()
}

fn new_device(n: u8) -> NewDevice {
    NewDevice {
        device_id: [n; 16],
        sign_pk: [n; 32],
        kex_pk: [n; 32],
    }
}

fn change(client: [u8; 16], case: Id, author: &Device) -> Change {
    Change {
        client_id: client,
        case_id: case,
        epoch: 0,
        author: author.device_id,
        ciphertext: vec![client[0]; 40],
        signature: vec![0; 64],
    }
}

fn recovery(case: Id, by: &Device) -> Envelope {
    Envelope {
        case_id: case,
        epoch: 0,
        recipient: RECOVERY_RECIPIENT,
        sealed_by: by.device_id,
        enc: vec![1; 32],
        ciphertext: vec![2; 48],
        signature: vec![0; 64],
        starts_epoch: false,
    }
}

/// `who` registers `case` with one change.
fn open_case(s: &dyn Storage, who: &Device, case: Id) {
    let mut client = [0u8; 16];
    client[..16].copy_from_slice(&case);
    client[15] ^= 0xff;
    s.push(
        who,
        vec![change(client, case, who)],
        vec![recovery(case, who)],
        NOW,
    )
    .unwrap();
}

/// Everything after `cursor`, page by page.
fn pull_all(s: &dyn Storage, d: &Device, mut cursor: Cursor) -> (Vec<u64>, Cursor) {
    let mut seqs = Vec::new();
    loop {
        let page: PullResponse = proto::decode(&s.pull(d, cursor, 1 << 20).unwrap()).unwrap();
        seqs.extend(page.entries.iter().map(|e| e.seq));
        cursor = page.next;
        if !page.more {
            return (seqs, cursor);
        }
    }
}

/// An envelope of the case's key (epoch 0) for `to`, sealed by `by`.
fn envelope_to(case: Id, to: Id, by: &Device) -> Envelope {
    Envelope {
        recipient: to,
        ciphertext: vec![to[0]; 48],
        ..recovery(case, by)
    }
}

/// Commits these pushes as one group of the writer thread's, in this
/// order; their results.
fn push_as_group(
    s: &PostgresStorage,
    pushes: Vec<(&Device, Vec<Change>, Vec<Envelope>)>,
) -> Vec<Result<proto::PushResponse, StorageError>> {
    push_as_group_within(s, pushes, u64::MAX)
}

/// [`push_as_group`] with a device quota.
fn push_as_group_within(
    s: &PostgresStorage,
    pushes: Vec<(&Device, Vec<Change>, Vec<Envelope>)>,
    quota: u64,
) -> Vec<Result<proto::PushResponse, StorageError>> {
    let mut replies = Vec::new();
    let jobs = pushes
        .into_iter()
        .map(|(device, changes, envelopes)| {
            let (reply, outcome) = tokio::sync::oneshot::channel();
            replies.push(outcome);
            PushJob {
                device: device.clone(),
                changes,
                envelopes,
                now: NOW,
                reply,
            }
        })
        .collect();
    super::commit_group(&s.pool, jobs, quota);
    replies
        .into_iter()
        .map(|r| r.blocking_recv().expect("every push is answered"))
        .collect()
}

/// The envelope needs `d`'s pull asks it to meet: (case, recipient).
fn needs_asked_of(s: &dyn Storage, d: &Device) -> Vec<(Id, Id)> {
    let page: PullResponse =
        proto::decode(&s.pull(d, Cursor::default(), 1 << 20).unwrap()).unwrap();
    page.needs
        .iter()
        .map(|n| (n.case_id, n.recipient))
        .collect()
}

/// Amy and Pat (practitioners) and Sue (their supervisor), all of north.
fn north(s: &dyn Storage) -> (Device, Device, Device) {
    s.init_org("Org", [9; 32], NOW).unwrap();
    (
        enrol(s, "Amy", Role::Practitioner, Some("north"), 1),
        enrol(s, "Pat", Role::Practitioner, Some("north"), 2),
        enrol(s, "Sue", Role::Supervisor, Some("north"), 3),
    )
}

/// Advisory locks some backend is waiting for.
fn waiting_for_log_lock(s: &PostgresStorage) -> i64 {
    s.read(|tx| {
        Ok(tx
            .one(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid::bigint = $1",
                &[&i64::from(super::LOG_LOCK_CLASS)],
            )?
            .try_get(0)?)
    })
    .unwrap()
}

/// The interleaving that breaks a naive `seq > cursor` pull: transaction A
/// draws a sequence number and stays open; B would draw a higher one and
/// commit first; a pull between the two commits would then move the cursor
/// past A's row for ever. With the log lock, B waits for A, and the pull
/// sees neither until A has committed — then both, in order.
#[test]
fn interleaved_commits_never_let_a_pull_skip_a_row() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, sue) = north(&*s);
    open_case(&*s, &amy, [0xa0; 16]);
    open_case(&*s, &pat, [0xb0; 16]);
    let (_, start) = pull_all(&*s, &sue, Cursor::default());

    // A: Amy's push, its transaction held open after its log insert.
    let (inserted_tx, inserted) = mpsc::channel();
    let (commit_tx, commit) = mpsc::channel::<()>();
    let a = {
        let (s, amy) = (s.clone(), amy.clone());
        std::thread::spawn(move || {
            s.write(|tx| {
                let r = push::push_in(
                    tx,
                    &amy,
                    &[change([0xa1; 16], [0xa0; 16], &amy)],
                    &[],
                    NOW,
                    u64::MAX,
                )?;
                inserted_tx.send(r.acks[0].seq).unwrap();
                commit.recv().unwrap();
                Ok(r.acks[0].seq)
            })
            .unwrap()
        })
    };
    let a_seq = inserted.recv().unwrap();
    // B: Pat's push on a second connection, started after A drew its number.
    let b = {
        let (s, pat) = (s.clone(), pat.clone());
        std::thread::spawn(move || {
            s.push(
                &pat,
                vec![change([0xb1; 16], [0xb0; 16], &pat)],
                vec![],
                NOW,
            )
            .unwrap()
            .acks[0]
                .seq
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiting_for_log_lock(&s) == 0 {
        assert!(Instant::now() < deadline, "B never waited for the log lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Between the two: nothing new is visible, the cursor stays.
    let (seen, cursor) = pull_all(&*s, &sue, start);
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(cursor, start);
    commit_tx.send(()).unwrap();
    assert_eq!(a.join().unwrap(), a_seq);
    let b_seq = b.join().unwrap();
    assert!(b_seq > a_seq, "B drew its number after A committed");
    let (seen, _) = pull_all(&*s, &sue, cursor);
    assert_eq!(seen, vec![a_seq, b_seq]);
}

/// Four devices push concurrently while a supervisor pulls in a loop: every
/// acknowledged change reaches her exactly once, none skipped.
#[test]
fn concurrent_pushes_and_pulls_skip_nothing() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, sue) = north(&*s);
    let bea = enrol(&*s, "Bea", Role::Practitioner, Some("north"), 4);
    let dan = enrol(&*s, "Dan", Role::Practitioner, Some("north"), 5);
    let writers = [amy, pat, bea, dan];
    for (i, w) in writers.iter().enumerate() {
        open_case(&*s, w, [0x10 + i as u8; 16]);
    }
    let (_, start) = pull_all(&*s, &sue, Cursor::default());
    let barrier = Arc::new(Barrier::new(writers.len()));
    let pushers: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (s, w, barrier) = (s.clone(), w.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..25u8)
                    .map(|n| {
                        let mut client = [0x80 + i as u8; 16];
                        client[0] = n;
                        s.push(
                            &w,
                            vec![change(client, [0x10 + i as u8; 16], &w)],
                            vec![],
                            NOW,
                        )
                        .unwrap()
                        .acks[0]
                            .seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut cursor = start;
    while !pushers.iter().all(|p| p.is_finished()) {
        let (more, next) = pull_all(&*s, &sue, cursor);
        seen.extend(more);
        cursor = next;
    }
    let mut acked: Vec<u64> = pushers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let (more, _) = pull_all(&*s, &sue, cursor);
    seen.extend(more);
    acked.sort_unstable();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, once each");
    assert_eq!(seen, acked);
}

/// Runs `f(0)` and `f(1)` on two threads released together.
fn race<T: Send + 'static>(f: impl Fn(usize) -> T + Send + Sync + 'static) -> [T; 2] {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    let mut out = threads.into_iter().map(|t| t.join().unwrap());
    [out.next().unwrap(), out.next().unwrap()]
}

/// A refusal's code, or `None` for success; a retryable conflict is
/// retried as a device would.
fn settle<T>(mut f: impl FnMut() -> Result<T, StorageError>) -> Option<ErrorCode> {
    for _ in 0..20 {
        match f() {
            Ok(_) => return None,
            Err(StorageError::Retryable) => continue,
            Err(StorageError::Refused(code, _)) => return Some(code),
            Err(e) => panic!("{e}"),
        }
    }
    panic!("still conflicting after 20 tries");
}

#[test]
fn one_code_enrols_one_device_when_two_race() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    s.init_org("Org", [9; 32], NOW).unwrap();
    for round in 0..10u8 {
        let code = [round; 32];
        s.create_invite(
            &format!("user{round}"),
            Role::Practitioner,
            Some("north"),
            code,
            NOW + 60,
            NOW,
        )
        .unwrap();
        let s2 = s.clone();
        let outcomes =
            race(move |i| settle(|| s2.enroll(code, new_device(round * 2 + i as u8 + 1), NOW)));
        let mut outcomes = outcomes.to_vec();
        outcomes.sort_by_key(|o| o.is_some());
        assert_eq!(
            outcomes,
            vec![None, Some(ErrorCode::UsedCode)],
            "round {round}"
        );
    }
    let enrolled = s
        .devices()
        .unwrap()
        .iter()
        .filter(|d| d.device_id.is_some())
        .count();
    assert_eq!(enrolled, 10);
}

#[test]
fn concurrent_invites_for_one_new_name_make_one_user() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    s.init_org("Org", [9; 32], NOW).unwrap();
    let s2 = s.clone();
    let users = race(move |i| {
        s2.create_invite(
            "Bea",
            Role::Practitioner,
            Some("north"),
            [10 + i as u8; 32],
            NOW + 60,
            NOW,
        )
        .unwrap()
        .user_id
    });
    assert_eq!(users[0], users[1]);
    // Different roles at once: one wins, the other is refused.
    let s3 = s.clone();
    let outcomes = race(move |i| {
        let role = if i == 0 {
            Role::Practitioner
        } else {
            Role::Supervisor
        };
        settle(|| {
            s3.create_invite(
                "Cal",
                role,
                Some("north"),
                [20 + i as u8; 32],
                NOW + 60,
                NOW,
            )
        })
    });
    let mut outcomes = outcomes.to_vec();
    outcomes.sort_by_key(|o| o.is_some());
    assert_eq!(outcomes, vec![None, Some(ErrorCode::Malformed)]);
    assert_eq!(s.devices().unwrap().len(), 2, "Bea and Cal, once each");
}

#[test]
fn concurrent_assigns_grant_once() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, sue) = north(&*s);
    let ada = enrol(&*s, "Ada", Role::Admin, None, 9);
    let case = [0xc0; 16];
    open_case(&*s, &amy, case);
    // A position past the case's history (Sue, its team's supervisor, has
    // read it): Pat gets it through the grant alone.
    let (_, start) = pull_all(&*s, &sue, Cursor::default());
    let (s2, sue2) = (s.clone(), sue.clone());
    let outcomes = race(move |i| {
        let by = if i == 0 { &sue2 } else { &ada };
        settle(|| s2.assign(by, &case, "Pat", NOW))
    });
    assert_eq!(outcomes, [None, None]);
    // One grant: Pat's device gets the case's history once.
    let (seen, _) = pull_all(&*s, &pat, start);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let assigns = s
        .admin_log()
        .unwrap()
        .iter()
        .filter(|e| e.action == "assign")
        .count();
    assert_eq!(assigns, 1);
}

/// A push that waits for a case's row (an assignment holding it) decides
/// on the assignment once committed: Pat, assigned while her push waited,
/// is not refused. Read on the locking statement's own snapshot, the
/// facts would predate the assignment.
#[test]
fn a_push_waiting_for_an_assignment_decides_on_it() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, _) = north(&*s);
    let case = [0xc1; 16];
    open_case(&*s, &amy, case);
    let mut assign = s.pool.get().unwrap();
    assign.client.batch_execute("BEGIN").unwrap();
    assign
        .client
        .execute(
            "SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE",
            &[&&case[..]],
        )
        .unwrap();
    assign
        .client
        .execute(
            "INSERT INTO assignments (case_id, user_id) VALUES ($1, $2)",
            &[&&case[..], &&pat.user.user_id[..]],
        )
        .unwrap();
    let (s2, pat2) = (s.clone(), pat.clone());
    let push = std::thread::spawn(move || {
        s2.push(&pat2, vec![change([0x51; 16], case, &pat2)], vec![], NOW)
    });
    let xid = testdb::open_xid(&mut assign.client);
    testdb::wait_until_someone_waits_for(&mut s.pool.get().unwrap().client, xid);
    assign.client.batch_execute("COMMIT").unwrap();
    let r = push
        .join()
        .unwrap()
        .expect("Pat was assigned before her push read the case");
    assert_eq!(r.acks.len(), 1);
}

/// A push refused after it took the log lock (over its quota, say) gives
/// the lock back with its savepoint; the next push of the group must take
/// it again, or it would append without it and break the cursor invariant.
#[test]
fn a_refused_push_gives_back_the_log_lock_and_the_next_takes_it_again() {
    let Some(s) = storage() else { return };
    // The log lock held by this transaction's own backend (other tests'
    // schemas have log locks of their own on the same cluster).
    let holds_log_lock = |tx: &super::Tx| -> bool {
        tx.one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND pid = pg_backend_pid() AND classid::bigint = $1",
            &[&i64::from(super::LOG_LOCK_CLASS)],
        )
        .unwrap()
        .get::<_, i64>(0)
            == 1
    };
    s.write(|tx| {
        let refused = tx.savepoint(|| {
            tx.lock_log()?;
            assert!(holds_log_lock(tx));
            Err::<(), _>(crate::storage::refused(
                ErrorCode::QuotaExceeded,
                "over the quota",
            ))
        });
        assert!(refused.is_err());
        assert!(!holds_log_lock(tx), "given back with the savepoint");
        tx.lock_log()?;
        assert!(holds_log_lock(tx), "held again for the next append");
        Ok(())
    })
    .unwrap();
}

#[test]
fn newer_schema_is_refused_and_admin_commands_never_create_one() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_schema();
    assert!(matches!(
        PostgresStorage::open_existing(&url),
        Err(super::OpenError::NoSchema(_))
    ));
    let s = PostgresStorage::open_with(&url, 2, true).unwrap();
    s.write(|tx| tx.batch("UPDATE outreach_schema SET version = 99"))
        .unwrap();
    drop(s);
    assert!(matches!(
        PostgresStorage::open(&url),
        Err(super::OpenError::Storage(StorageError::SchemaTooNew(99)))
    ));
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact_url("postgres://outreach:s3cret@db.example:5432/outreach"),
        "postgres://outreach:***@db.example:5432/outreach"
    );
    assert_eq!(
        redact_url("postgresql://u@h/db?sslmode=disable&password=hunter2&x=1"),
        "postgresql://u@h/db?sslmode=disable&password=***&x=1"
    );
    assert_eq!(
        redact_url("host=h user=u password=pw dbname=d"),
        "host=h user=u password=*** dbname=d"
    );
    assert_eq!(
        redact_url("postgres://u:p@ss@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
}

#[test]
fn a_wrong_url_is_one_line_without_the_password() {
    let e = PostgresStorage::open("postgres://outreach:topsecret@127.0.0.1:1/outreach")
        .err()
        .expect("nothing listens on port 1");
    let shown = e.to_string();
    assert!(!shown.contains("topsecret"), "{shown}");
    assert!(shown.contains("--database"), "{shown}");
    assert!(!shown.contains('\n'), "{shown}");
}

/// A request's nonce recorded by one instance is refused by another on the
/// same database (two storages = two instances' pools), until it expires.
#[test]
fn a_nonce_is_admitted_once_across_instances() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_schema();
    let a = PostgresStorage::open_with(&url, 2, true).expect("open a");
    let b = PostgresStorage::open_with(&url, 2, true).expect("open b");
    let device = [1u8; 16];
    let nonce = [7u8; proto::NONCE_LEN];
    let now = crate::now();
    assert!(a.shares_nonces());
    assert!(a.admit_nonce(&device, &nonce, now + 600).unwrap());
    assert!(
        !b.admit_nonce(&device, &nonce, now + 600).unwrap(),
        "replayed to the other instance"
    );
    assert!(!a.admit_nonce(&device, &nonce, now + 600).unwrap());
    // Another nonce, or the same nonce of another device: new.
    assert!(
        b.admit_nonce(&device, &[8u8; proto::NONCE_LEN], now + 600)
            .unwrap()
    );
    assert!(b.admit_nonce(&[2u8; 16], &nonce, now + 600).unwrap());
    // Expired entries go with the housekeeping.
    assert!(
        a.admit_nonce(&device, &[9u8; proto::NONCE_LEN], now - 1)
            .unwrap()
    );
    b.checkpoint().unwrap();
    assert!(
        a.admit_nonce(&device, &[9u8; proto::NONCE_LEN], now + 600)
            .unwrap()
    );
}

/// Nonces are recorded a batch at a time: a replay racing its original
/// (in the same batch, or another instance's) is still admitted once, and
/// the other requests of the batch are unaffected.
#[test]
fn a_nonce_racing_its_replays_is_admitted_once() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_schema();
    let a = PostgresStorage::open_with(&url, 4, true).expect("open a");
    let b = PostgresStorage::open_with(&url, 4, true).expect("open b");
    let now = crate::now();
    for round in 0..5u8 {
        let replayed = [round; proto::NONCE_LEN];
        let admitted: Vec<(bool, bool)> = std::thread::scope(|scope| {
            let tasks: Vec<_> = (0..16u8)
                .map(|i| {
                    let s = if i % 2 == 0 { &a } else { &b };
                    scope.spawn(move || {
                        // Every other request replays one nonce; the rest
                        // carry nonces of their own.
                        let own = [100 + round * 16 + i; proto::NONCE_LEN];
                        let nonce = if i % 4 < 2 { replayed } else { own };
                        (
                            i % 4 < 2,
                            s.admit_nonce(&[1u8; 16], &nonce, now + 600).unwrap(),
                        )
                    })
                })
                .collect();
            tasks.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let replays = admitted.iter().filter(|(r, _)| *r);
        assert_eq!(replays.filter(|(_, ok)| *ok).count(), 1, "round {round}");
        assert!(admitted.iter().filter(|(r, _)| !*r).all(|(_, ok)| *ok));
    }
}

/// `sslmode=require`: the connection is encrypted and the database's
/// certificate checked — against `sslrootcert` (here the cluster's own);
/// without it (public roots only) the connection is refused with a reason,
/// and the password never shows.
#[test]
fn tls_when_asked_with_the_certificate_checked() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let Some(ca) = cluster.ca_file() else {
        // No openssl on this machine: the cluster runs without TLS.
        assert!(
            std::env::var_os("OUTREACH_REQUIRE_POSTGRES").is_none(),
            "openssl is needed for the TLS test"
        );
        return;
    };
    let base = cluster.new_database();
    let join = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{join}sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let s = PostgresStorage::open_with(&url, 2, true).expect("TLS with the CA");
    s.init_org("Org", [9; 32], NOW).unwrap();
    // The session really is encrypted.
    let ssl: bool = s
        .read(|tx| {
            Ok(tx
                .one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )?
                .try_get(0)?)
        })
        .unwrap();
    assert!(ssl, "the connection is not encrypted");
    // Not trusted: refused, saying why, without the password.
    let untrusted =
        format!("{base}{join}sslmode=require").replacen("postgres@", "postgres:pw-not-shown@", 1);
    let e = PostgresStorage::open_with(&untrusted, 2, true)
        .err()
        .expect("refused");
    let line = e.to_string();
    assert!(
        line.contains("certificate") || line.contains("Certificate"),
        "{line}"
    );
    assert!(!line.contains("pw-not-shown"), "{line}");
}

/// A stored item damaged into something that no longer decodes (a failing
/// disk, a tampering operator) is left out of the page that reads its body
/// in a batch with others: every other item arrives, in order, the cursor
/// moves past it, and the next pull is quiet.
#[test]
fn a_damaged_body_is_left_out_and_the_rest_of_its_batch_arrives() {
    let Some(s) = storage() else {
        return;
    };
    let (amy, _pat, sue) = north(&s);
    open_case(&s, &amy, [0x21; 16]);
    open_case(&s, &amy, [0x22; 16]);
    for i in 0..4u8 {
        for case in [[0x21; 16], [0x22; 16]] {
            let mut client = case;
            client[0] = 0x30 + i;
            s.push(&amy, vec![change(client, case, &amy)], vec![], NOW)
                .unwrap();
        }
    }
    let (before, _) = pull_all(&s, &sue, Cursor::default());
    let damaged = before[before.len() / 2];
    s.write(|tx| {
        tx.exec(
            "UPDATE log SET body = $1 WHERE seq = $2",
            &[&vec![0xffu8; 3], &(damaged as i64)],
        )
    })
    .unwrap();
    let (after, end) = pull_all(&s, &sue, Cursor::default());
    let expected: Vec<u64> = before.iter().copied().filter(|&q| q != damaged).collect();
    assert_eq!(after, expected);
    assert!(end.seq >= *before.last().unwrap());
    let (again, _) = pull_all(&s, &sue, end);
    assert!(again.is_empty(), "{again:?}");
}

/// In a group, the pushes PostgreSQL decides together see a key sealed to a
/// device earlier in the same group: Sue, given the key by Amy's push, meets
/// Pat's need in her own push right after. In the other order Sue's push
/// comes first and holds nothing yet, so Pat's need stays (and Amy, who
/// holds the key, is asked) — as if the two had been pushed one by one.
#[test]
fn a_key_sealed_earlier_in_a_group_makes_its_recipient_a_holder() {
    let Some(s) = storage() else { return };
    let (amy, pat, sue) = north(&s);
    let (x, y) = ([0xa1; 16], [0xa2; 16]);
    for case in [x, y] {
        open_case(&s, &amy, case);
        s.assign(&sue, &case, "Pat", NOW).unwrap();
    }
    let mut asked = needs_asked_of(&s, &amy);
    asked.sort();
    assert_eq!(
        asked,
        vec![
            (x, pat.device_id),
            (x, sue.device_id),
            (y, pat.device_id),
            (y, sue.device_id)
        ]
    );
    let groups = [
        vec![
            (&amy, vec![], vec![envelope_to(x, sue.device_id, &amy)]),
            (&sue, vec![], vec![envelope_to(x, pat.device_id, &sue)]),
        ],
        // Sue's key of y arrives after her push for it.
        vec![
            (&sue, vec![], vec![envelope_to(y, pat.device_id, &sue)]),
            (&amy, vec![], vec![envelope_to(y, sue.device_id, &amy)]),
        ],
    ];
    for group in groups {
        for r in push_as_group(&s, group) {
            assert_eq!(r.expect("stored").envelopes_stored, 1);
        }
    }
    assert_eq!(needs_asked_of(&s, &amy), vec![(y, pat.device_id)]);
    // Sue holds both keys now and is asked for Pat's of y too.
    let asked = needs_asked_of(&s, &sue);
    assert!(asked.contains(&(y, pat.device_id)) && !asked.contains(&(x, pat.device_id)));
}

/// A group with pushes of every kind: the ones PostgreSQL decides together
/// and the rest, each pushed on its own after them, are answered as they
/// would be alone — a registration, a device's retry of a push in the same
/// group (the same number, nothing twice), refusals that store nothing.
#[test]
fn a_group_answers_each_push_as_if_alone() {
    let Some(s) = storage() else { return };
    let (amy, pat, sue) = north(&s);
    let kim = enrol(&s, "Kim", Role::Practitioner, Some("south"), 4);
    let kim2 = enrol(&s, "Ken", Role::Practitioner, Some("south"), 5);
    let (x, y) = ([0xb1; 16], [0xb2; 16]);
    open_case(&s, &amy, x);
    let visit = change([0x61; 16], x, &amy);
    let to_sue = envelope_to(x, sue.device_id, &amy);
    let r = push_as_group(
        &s,
        vec![
            (&amy, vec![visit.clone()], vec![to_sue.clone()]),
            (
                &pat,
                vec![change([0x62; 16], y, &pat)],
                vec![recovery(y, &pat)],
            ),
            (&amy, vec![visit.clone()], vec![to_sue]),
            (&kim, vec![change([0x63; 16], x, &kim)], vec![]),
            (
                &sue,
                vec![change([0x64; 16], x, &sue)],
                vec![envelope_to(x, kim.device_id, &sue)],
            ),
            // Pat's new case, registered by her push above.
            (
                &kim2,
                vec![change([0x65; 16], y, &kim2)],
                vec![recovery(y, &kim2)],
            ),
        ],
    );
    let ok = |i: usize| r[i].as_ref().expect("stored");
    assert_eq!((ok(0).acks.len(), ok(0).envelopes_stored), (1, 1));
    assert_eq!(ok(1).acks.len(), 1, "Pat registered her case");
    assert_eq!(
        (ok(2).acks[0].seq, ok(2).envelopes_stored),
        (ok(0).acks[0].seq, 0),
        "the retry: the same number, nothing stored again"
    );
    for refused in [&r[3], &r[4], &r[5]] {
        assert!(
            matches!(refused, Err(StorageError::Refused(ErrorCode::Forbidden, _))),
            "{refused:?}"
        );
    }
    // Sue reads both cases: each change once, the refused ones not at all.
    let page: PullResponse =
        proto::decode(&s.pull(&sue, Cursor::default(), 1 << 20).unwrap()).unwrap();
    let mut ids: Vec<Id> = page
        .entries
        .iter()
        .filter_map(|e| match &e.item {
            proto::Item::Change(c) => Some(c.client_id),
            _ => None,
        })
        .collect();
    ids.sort();
    // `open_case`'s change id: the case's, its last byte flipped.
    let mut opened_x = x;
    opened_x[15] ^= 0xff;
    let mut expected = vec![opened_x, [0x62; 16], [0x61; 16]];
    expected.sort();
    assert_eq!(ids, expected);
}

/// The pull at `cursor` answered in one statement against the full
/// path's, at the same state: the same bytes and the same removal flag
/// when it answers, the same error when the full path refuses. Returns
/// whether it answered, and the full path's page.
fn compare_at(
    s: &PostgresStorage,
    d: &Device,
    cursor: Cursor,
    budget: u32,
) -> (bool, Option<Vec<u8>>) {
    let full = s.read(|tx| {
        let head = super::pull::head(tx, d, cursor, NOW)?;
        Ok((
            super::pull::pull_page(tx, d, cursor, budget, &head)?,
            head.passes_removal,
        ))
    });
    let at_once = at_once(s, &[ask(d, cursor, budget)]).remove(0);
    ASKED.with(|asked| {
        asked
            .borrow_mut()
            .push((d.clone(), cursor, budget, pull_outcome(&at_once)))
    });
    let at = format!("{} at {cursor:?}, budget {budget}", d.user.name);
    match (full, at_once) {
        (Ok(full), Ok(Some(at_once))) => {
            assert!(
                at_once.0 == full.0,
                "{at}: {} bytes against {}",
                at_once.0.len(),
                full.0.len()
            );
            assert_eq!(at_once.1, full.1, "{at}: passes a removal");
            (true, Some(full.0))
        }
        (Ok(full), Ok(None)) => (false, Some(full.0)),
        (Err(full), Err(at_once)) => {
            assert_eq!(at_once.to_string(), full.to_string(), "{at}");
            (false, None)
        }
        (full, at_once) => panic!(
            "{at}: {:?} against {:?}",
            at_once.map(|_| ()),
            full.map(|_| ())
        ),
    }
}

fn ask(d: &Device, cursor: Cursor, max_bytes: u32) -> super::pull::Ask {
    super::pull::Ask {
        device: d.clone(),
        cursor,
        max_bytes,
        now: NOW,
    }
}

fn at_once(s: &PostgresStorage, asks: &[super::pull::Ask]) -> Vec<super::pull::Answer> {
    super::pull::pull_at_once(&mut s.conn().unwrap(), asks)
}

/// An answer in a form that compares: the page and flag, or the error's text.
type PullOutcome = std::result::Result<Option<(Vec<u8>, bool)>, String>;

fn pull_outcome(a: &super::pull::Answer) -> PullOutcome {
    a.clone().map_err(|e| e.to_string())
}

thread_local! {
    /// The pulls [`compare_at`] asked one at a time, with their answers.
    static ASKED: std::cell::RefCell<Vec<(Device, Cursor, u32, PullOutcome)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The pulls asked one at a time since the last call, asked again in
/// batches — of 13 (devices, cursors and budgets mixed), and of 64 — and
/// each answered as it was alone. Returns how many were compared.
fn compare_batches(s: &PostgresStorage) -> usize {
    let asked = ASKED.with(|asked| std::mem::take(&mut *asked.borrow_mut()));
    for size in [13, 64] {
        for chunk in asked.chunks(size) {
            let asks: Vec<_> = chunk.iter().map(|(d, c, b, _)| ask(d, *c, *b)).collect();
            let answers = at_once(s, &asks);
            assert_eq!(answers.len(), chunk.len());
            for ((d, cursor, budget, alone), answer) in chunk.iter().zip(&answers) {
                assert!(
                    pull_outcome(answer) == *alone,
                    "{} at {cursor:?}, budget {budget}: answered otherwise in a batch of {}",
                    d.user.name,
                    chunk.len()
                );
            }
        }
    }
    asked.len()
}

/// Pages `d` through the log with `budget`, comparing at every cursor the
/// pull answered in one statement with the full path's page; then at every
/// sequence number as a cursor (a device may send any).
fn compare_pulls(s: &PostgresStorage, d: &Device, budget: u32, answered: &mut u32, full: &mut u32) {
    let mut count = |answers: bool| {
        if answers { *answered += 1 } else { *full += 1 }
    };
    let mut cursor = Cursor::default();
    for _ in 0..100 {
        let (answers, page) = compare_at(s, d, cursor, budget);
        count(answers);
        let Some(page) = page else { break };
        let page: PullResponse = proto::decode(&page).unwrap();
        if !page.more {
            break;
        }
        cursor = page.next;
    }
    // Any cursor, with the smallest and a large budget.
    if budget != 1024 && budget != 1 << 20 {
        return;
    }
    let last = s
        .read(|tx| {
            Ok(tx
                .one("SELECT COALESCE(MAX(seq), 0) FROM log", &[])?
                .get::<_, i64>(0))
        })
        .unwrap() as u64;
    for seq in (0..=last + 1).step_by(11) {
        count(compare_at(s, d, Cursor { seq, sub: 0 }, budget).0);
    }
}

/// The bytes of `d`'s first page's items, summed item by item.
fn page_ends(s: &PostgresStorage, d: &Device) -> Vec<u32> {
    let Ok(page) = s.pull(d, Cursor::default(), 1 << 20) else {
        return Vec::new();
    };
    let page: PullResponse = proto::decode(&page).unwrap();
    let seqs: Vec<i64> = page.entries.iter().map(|e| e.seq as i64).collect();
    let lens = s
        .read(|tx| {
            tx.rows(
                "SELECT octet_length(body)::bigint FROM log WHERE seq = ANY($1) ORDER BY seq",
                &[&seqs],
            )
        })
        .unwrap();
    lens.iter()
        .scan(0u32, |sum, r| {
            *sum += r.get::<_, i64>(0) as u32;
            Some(*sum)
        })
        .collect()
}

/// A pull answered in one statement is the page the full path writes, byte
/// for byte, in every state a herd goes through and more — a new case and
/// its envelope needs, pages cut by the budget (exactly on an item, and a
/// byte short), a page past one batch, a grant, a safety timer, a transfer
/// (removal notices), damaged and empty bodies, a revoked device — at the
/// cursors a device pages through and at any other; and it leaves to the
/// full path what it does not answer (a grant to expand, a batch, a
/// safety list, a rotation due).
#[test]
fn a_pull_at_once_is_the_full_pull_byte_for_byte() {
    let Some(s) = storage() else { return };
    let (amy, pat, sue) = north(&s);
    let amy2 = enrol(&s, "Amy", Role::Practitioner, Some("north"), 5);
    let x = [0xd1; 16];
    let (mut answered, mut full, mut batched) = (0, 0, 0);
    let mut compare_all = |s: &PostgresStorage| {
        for d in [&amy, &pat, &sue, &amy2] {
            let mut budgets = vec![1024, 2500, 1 << 20];
            for end in page_ends(s, d).into_iter().take(4) {
                budgets.extend([end, end - 1].into_iter().filter(|b| *b >= 1024));
            }
            budgets.sort_unstable();
            budgets.dedup();
            for budget in budgets {
                compare_pulls(s, d, budget, &mut answered, &mut full);
            }
        }
        batched += compare_batches(s);
    };
    open_case(&s, &amy, x);
    compare_all(&s);
    for n in 0..6u8 {
        let mut visit = change([0x70 + n; 16], x, &amy);
        visit.ciphertext = vec![n; 1500];
        s.push(
            &amy,
            vec![visit],
            vec![envelope_to(x, sue.device_id, &amy)],
            NOW,
        )
        .unwrap();
    }
    compare_all(&s);
    // Damaged items: one unreadable, one empty (a visit of 1,500 bytes
    // after it: only the first item of a page may pass the budget).
    let damaged = s
        .write(|tx| {
            let mut damaged = Vec::new();
            for (client, body) in [(0x71u8, &b"\x00\xff"[..]), (0x73, &b""[..])] {
                let r = tx.one(
                    "UPDATE log SET body = $2 WHERE kind = 0 AND client_id = $1 RETURNING seq",
                    &[&&[client; 16][..], &body],
                )?;
                damaged.push(r.try_get::<_, i64>(0)? as u64);
            }
            Ok(damaged)
        })
        .unwrap();
    for d in [&amy, &pat, &sue, &amy2] {
        for seq in &damaged {
            for budget in [1024, 1 << 20] {
                compare_at(
                    &s,
                    d,
                    Cursor {
                        seq: seq - 1,
                        sub: 0,
                    },
                    budget,
                );
            }
        }
    }
    compare_all(&s);
    // More than a batch of small items.
    for n in 0..3u8 {
        let visits = (0..100u8)
            .map(|k| change([n, k, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], x, &amy))
            .collect();
        s.push(&amy, visits, vec![], NOW).unwrap();
    }
    compare_all(&s);
    s.assign(&sue, &x, "Pat", NOW).unwrap();
    compare_all(&s);
    // A safety timer: Pat and Sue see it.
    let check_in = proto::SafetyAction::CheckIn(proto::CheckIn {
        timer_id: [0x77; 16],
        case_id: x,
        started_at: NOW,
        until: NOW + 3600,
        note: None,
    });
    let r = s
        .safety(&pat, &[check_in], Default::default(), NOW)
        .unwrap();
    assert_eq!(r.state.timers.len(), 1, "{:?}", r.outcomes);
    compare_all(&s);
    // Pat takes the case over: Amy's devices get removal notices.
    s.transfer(&sue, &x, "Pat", NOW).unwrap();
    compare_all(&s);
    // A revoked device is refused alike (and the case's key is due).
    s.revoke_device(&amy2.device_id, NOW).unwrap();
    compare_all(&s);
    compare_batches(&s);
    let (answered, full, batched) = (answered, full, batched);
    assert!(
        answered > 300 && full > 300,
        "{answered} answered at once, {full} not"
    );
    assert!(batched > 600, "{batched} asked again in batches");
}

/// Pulls that arrive together — sixteen threads at once, several devices,
/// cursors and budgets, an unknown and a revoked device among them — are
/// each answered exactly as the same pull alone: batched pulls never mix
/// up their pages, their errors or their removal flags.
#[test]
fn pulls_that_arrive_together_are_each_answered_as_alone() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, sue) = north(&*s);
    let (x, y) = ([0xa1; 16], [0xa2; 16]);
    open_case(&*s, &amy, x);
    open_case(&*s, &pat, y);
    for n in 0..20u8 {
        let mut visit = change([0x40, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], x, &amy);
        visit.ciphertext = vec![n; 700 + 50 * n as usize];
        s.push(
            &amy,
            vec![visit],
            vec![envelope_to(x, sue.device_id, &amy)],
            NOW,
        )
        .unwrap();
        let visit = change([0x41, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], y, &pat);
        s.push(&pat, vec![visit], vec![], NOW).unwrap();
    }
    let gone = enrol(&*s, "Amy", Role::Practitioner, Some("north"), 9);
    s.revoke_device(&gone.device_id, NOW).unwrap();
    let mut stranger = amy.clone();
    stranger.device_id = [0xee; 16];
    let devices = [amy, pat, sue, gone, stranger];
    let last = s
        .read(|tx| Ok(tx.one("SELECT MAX(seq) FROM log", &[])?.get::<_, i64>(0)))
        .unwrap() as u64;
    let asks: Vec<(usize, Cursor, u32)> = (0..devices.len())
        .flat_map(|d| {
            (0..=last + 1).step_by(3).flat_map(move |seq| {
                [
                    (d, Cursor { seq, sub: 0 }, 1024),
                    (d, Cursor { seq, sub: 0 }, 4000),
                ]
            })
        })
        .collect();
    let alone: Vec<std::result::Result<Vec<u8>, String>> = asks
        .iter()
        .map(|(d, c, b)| s.pull(&devices[*d], *c, *b).map_err(|e| e.to_string()))
        .collect();
    assert!(alone.iter().any(|a| a.is_err()) && alone.iter().filter(|a| a.is_ok()).count() > 50);
    let (asks, alone, devices) = (Arc::new(asks), Arc::new(alone), Arc::new(devices));
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (s, asks, alone, devices, start) = (
                s.clone(),
                asks.clone(),
                alone.clone(),
                devices.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                // Each thread its own order through every pull.
                for i in (0..asks.len()).map(|i| (i * 7 + t * 31) % asks.len()) {
                    let (d, c, b) = asks[i];
                    let together = s.pull(&devices[d], c, b).map_err(|e| e.to_string());
                    assert!(
                        together == alone[i],
                        "pull {i} answered otherwise among others"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The connections of the pull thread and the pool are cut from outside (a
/// restarted database, a proxy that dropped them): pulls in flight get an
/// error at once or their page — none waits for ever — and the pulls after
/// are answered on new connections.
#[test]
fn pulls_after_their_connections_were_cut_fail_fast_then_go_on() {
    let Some(s) = storage() else { return };
    let (amy, _, _) = north(&s);
    open_case(&s, &amy, [0xb1; 16]);
    let before = s.pull(&amy, Cursor::default(), 1 << 20).unwrap();
    // Every connection of this storage's pool (and only this storage's:
    // other tests share the cluster), then cut from one of them.
    let mut held: Vec<_> = (0..s.pool.state().connections.max(2))
        .map(|_| s.pool.get().unwrap())
        .collect();
    let pids: Vec<i32> = held
        .iter_mut()
        .map(|c| {
            c.client
                .query_one("SELECT pg_backend_pid()", &[])
                .unwrap()
                .get(0)
        })
        .collect();
    let cutter = held.pop().unwrap();
    drop(held);
    let mut cutter = cutter;
    cutter
        .client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS t(pid)
             WHERE pid <> pg_backend_pid()",
            &[&pids],
        )
        .unwrap();
    drop(cutter);
    let s = Arc::new(s);
    let (tx, rx) = mpsc::channel();
    for _ in 0..4 {
        let (s, amy, tx) = (s.clone(), amy.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(
                s.pull(&amy, Cursor::default(), 1 << 20)
                    .map_err(|e| e.to_string()),
            );
        });
    }
    for _ in 0..4 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Err(_) => panic!("a pull waited for ever after its connection was cut"),
            Ok(Ok(page)) => assert!(page == before, "another page after the cut"),
            Ok(Err(e)) => assert!(e.starts_with("server database error"), "{e}"),
        }
    }
    // Dead connections still pooled fail one batch each, then new ones serve.
    let answered = (0..=pids.len()).any(|_| match s.pull(&amy, Cursor::default(), 1 << 20) {
        Ok(page) => {
            assert!(page == before);
            true
        }
        Err(e) => {
            assert!(e.to_string().starts_with("server database error"), "{e}");
            false
        }
    });
    assert!(answered, "no pull was answered after the cut");
}

/// Bytes another instance counted against a device's quota after a group
/// read its facts, before the group's writes: the group planned her push
/// within the quota as it stood, and must still refuse it — and only it.
#[test]
fn a_quota_filled_meanwhile_by_another_instance_refuses_only_that_push() {
    let Some(s) = storage() else { return };
    let s = Arc::new(s);
    let (amy, pat, _) = north(&*s);
    let (x, y) = ([0xe1; 16], [0xe2; 16]);
    open_case(&*s, &amy, x);
    open_case(&*s, &pat, y);
    // Another instance's transaction: it holds the log lock and has filled
    // Amy's quota, not committed yet.
    let mut other = s.pool.get().unwrap();
    other
        .client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}, hashtext(current_schema()))",
            super::LOG_LOCK_CLASS
        ))
        .unwrap();
    other
        .client
        .execute(
            "UPDATE devices SET stored_bytes = 1000000 WHERE device_id = $1",
            &[&&amy.device_id[..]],
        )
        .unwrap();
    let (s2, amy2, pat2) = (s.clone(), amy.clone(), pat.clone());
    let group = std::thread::spawn(move || {
        push_as_group_within(
            &s2,
            vec![
                (&amy2, vec![change([0xe3; 16], x, &amy2)], vec![]),
                (&pat2, vec![change([0xe4; 16], y, &pat2)], vec![]),
            ],
            1_000_000,
        )
    });
    // The group waits for the log lock (its facts are read by then).
    while s
        .read(|tx| {
            Ok(tx
                .one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                       AND classid::bigint = $1
                       AND objid::text::bigint = hashtext(current_schema())::bigint & 4294967295",
                    &[&i64::from(super::LOG_LOCK_CLASS)],
                )?
                .try_get::<_, i64>(0)?)
        })
        .unwrap()
        == 0
    {
        std::thread::yield_now();
    }
    other.client.batch_execute("COMMIT").unwrap();
    let r = group.join().unwrap();
    assert!(
        matches!(
            r[0],
            Err(StorageError::Refused(ErrorCode::QuotaExceeded, _))
        ),
        "{:?}",
        r[0]
    );
    assert_eq!(r[1].as_ref().expect("Pat's push").acks.len(), 1);
    let stored = |client: [u8; 16]| -> Vec<u64> {
        s.read(|tx| {
            tx.rows(
                "SELECT seq FROM log WHERE kind = 0 AND client_id = $1",
                &[&&client[..]],
            )?
            .iter()
            .map(|r| Ok(r.try_get::<_, i64>(0)? as u64))
            .collect()
        })
        .unwrap()
    };
    assert!(stored([0xe3; 16]).is_empty(), "Amy's visit was not stored");
    assert_eq!(stored([0xe4; 16]), vec![r[1].as_ref().unwrap().acks[0].seq]);
}

/// Everything a push can change, in an order that does not depend on
/// sequence numbers.
fn push_state(s: &PostgresStorage) -> Vec<String> {
    let queries = [
        "SELECT ROW(kind, case_id, epoch, device_id, target, client_id, body)::text FROM log
         ORDER BY kind, case_id, epoch, device_id, target, client_id, body",
        "SELECT ROW(case_id, epoch, recipient)::text FROM envelope_needs ORDER BY 1",
        // Users by name: their ids are random.
        "SELECT ROW(c.case_id, c.team, c.epoch, u.name, c.created_device, c.rotate_due)::text
         FROM cases c JOIN users u ON u.user_id = c.created_by ORDER BY 1",
        "SELECT ROW(a.case_id, u.name)::text FROM assignments a JOIN users u USING (user_id)
         ORDER BY 1",
        "SELECT ROW(case_id, epoch, device_id)::text FROM case_epochs ORDER BY 1",
        "SELECT ROW(device_id, stored_bytes)::text FROM devices ORDER BY 1",
    ];
    s.read(|tx| {
        let mut out = Vec::new();
        for q in queries {
            for r in tx.rows(q, &[])? {
                out.push(r.try_get::<_, String>(0)?);
            }
        }
        Ok(out)
    })
    .unwrap()
}

/// A push's outcome without its sequence numbers (they differ between two
/// databases that wrote the same items in another order).
fn outcome(r: &Result<proto::PushResponse, StorageError>) -> String {
    match r {
        Ok(p) => format!(
            "acked {:?}, stale {:?}, {} envelopes",
            p.acks.iter().map(|a| a.client_id[0]).collect::<Vec<_>>(),
            p.stale.iter().map(|c| c[0]).collect::<Vec<_>>(),
            p.envelopes_stored
        ),
        Err(StorageError::Refused(code, _)) => format!("refused {code:?}"),
        Err(e) => format!("failed {e}"),
    }
}

/// The group path against the pushes one by one: random groups (visits,
/// retries, ids reused, old and future epochs, registrations of new and
/// existing cases, cases of another team, envelopes to readers and
/// strangers, recovery envelopes from starters and others, a quota that
/// fills), each committed as a group on one database and push by push —
/// in the order the group decided them — on another. Every outcome and
/// every row must be the same; every acknowledged number must be the
/// change's.
#[test]
fn a_group_decides_each_push_as_pushing_them_one_by_one_would() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let (x, y, z) = ([0xf1; 16], [0xf2; 16], [0xf3; 16]);
    let setup = || {
        let s = PostgresStorage::open_with(&cluster.new_schema(), 4, true).expect("open");
        let (amy, pat, sue) = north(&s);
        let kim = enrol(&s, "Kim", Role::Practitioner, Some("south"), 4);
        let amy2 = enrol(&s, "Amy", Role::Practitioner, Some("north"), 5);
        open_case(&s, &amy, x);
        open_case(&s, &pat, y);
        open_case(&s, &kim, z);
        (s, vec![amy, pat, sue, kim, amy2])
    };
    // The same devices in both, but not the same users: a user's id is
    // drawn at random when she is invited.
    let (grouped, devices) = setup();
    let (alone, devices_alone) = setup();
    let cases = [x, y, z, [0xf4; 16], [0xf5; 16], [0xf6; 16]];
    let mut recipients: Vec<Id> = devices.iter().map(|d| d.device_id).collect();
    recipients.push(RECOVERY_RECIPIENT);
    // Each device's own case (Amy, Pat, Sue, Kim, Amy's second device), and
    // each case's readers.
    let home = [x, y, x, z, x];
    let readers_of = |case: &Id| -> Vec<Id> {
        let devices: &[u8] = match case[0] {
            0xf1 => &[1, 3, 5],
            0xf2 => &[2, 3],
            0xf3 => &[4],
            _ => &[3],
        };
        devices.iter().map(|n| [*n; 16]).collect()
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    const QUOTA: u64 = 40_000;
    let (mut planned_pushes, mut refused) = (0, 0);
    for _ in 0..60 {
        let mut who = Vec::new();
        let pushes: Vec<PushJob> = (0..1 + next(8))
            .map(|_| {
                let d = next(devices.len());
                who.push(d);
                let device = devices[d].clone();
                // Mostly her own case and her team's devices; sometimes
                // anything; sometimes a new case, registered properly.
                let mut changes = Vec::new();
                let mut envelopes = Vec::new();
                // Two in five pushes are messy (any case, any recipient,
                // future epochs); the others write to her own case or
                // register a new one properly.
                let messy = next(5) < 2;
                let case_for = |next: &mut dyn FnMut(usize) -> usize| match next(8) {
                    0 => (cases[3 + next(3)], true),
                    1 if messy => (cases[next(cases.len())], false),
                    _ => (home[d], false),
                };
                let epoch =
                    |next: &mut dyn FnMut(usize) -> usize| u32::from(messy && next(10) == 0);
                for _ in 0..next(3) {
                    let (case, register) = case_for(&mut next);
                    if register {
                        envelopes.push(envelope_to(case, RECOVERY_RECIPIENT, &device));
                    }
                    let mut c = change([1 + next(12) as u8; 16], case, &device);
                    c.epoch = epoch(&mut next);
                    c.ciphertext = vec![7; 10 + next(400)];
                    changes.push(c);
                }
                for _ in 0..next(4) {
                    let (case, _) = case_for(&mut next);
                    let readers = readers_of(&case);
                    let to = if messy {
                        recipients[next(recipients.len())]
                    } else {
                        readers[next(readers.len())]
                    };
                    envelopes.push(Envelope {
                        epoch: epoch(&mut next),
                        ..envelope_to(case, to, &device)
                    });
                }
                let (reply, _) = tokio::sync::oneshot::channel();
                PushJob {
                    device,
                    changes,
                    envelopes,
                    now: NOW,
                    reply,
                }
            })
            .collect();
        let mut conn = grouped.conn().unwrap();
        let tx = super::Tx::begin(&mut conn, false).unwrap();
        let super::group_push::Decided {
            results,
            order,
            planned,
        } = super::group_push::push_group(&tx, &pushes, QUOTA).unwrap();
        planned_pushes += planned;
        tx.commit().unwrap();
        let mut conn = alone.conn().unwrap();
        let tx = super::Tx::begin(&mut conn, false).unwrap();
        let mut one_by_one: Vec<Option<String>> = vec![None; pushes.len()];
        for &i in &order {
            let job = &pushes[i];
            let device = &devices_alone[who[i]];
            let r = tx
                .savepoint(|| push::push_in(&tx, device, &job.changes, &job.envelopes, NOW, QUOTA));
            one_by_one[i] = Some(outcome(&r));
        }
        tx.commit().unwrap();
        for (i, r) in results.iter().enumerate() {
            let shape: Vec<_> = pushes
                .iter()
                .map(|j| (&j.device.user.name, &j.changes, &j.envelopes))
                .collect();
            assert_eq!(Some(outcome(r)), one_by_one[i], "push {i} of {shape:?}");
            refused += usize::from(r.is_err());
            if let Ok(p) = r {
                for ack in &p.acks {
                    let device = &pushes[i].device.device_id;
                    let theirs = grouped
                        .read(|tx| {
                            tx.exists(
                                "SELECT 1 FROM log WHERE seq = $1 AND kind = 0
                                   AND device_id = $2 AND client_id = $3",
                                &[&(ack.seq as i64), &&device[..], &&ack.client_id[..]],
                            )
                        })
                        .unwrap();
                    assert!(theirs, "ack {} is the change's own number", ack.seq);
                }
            }
        }
        let (g, a) = (push_state(&grouped), push_state(&alone));
        let only_grouped: Vec<_> = g.iter().filter(|r| !a.contains(r)).collect();
        let only_alone: Vec<_> = a.iter().filter(|r| !g.contains(r)).collect();
        assert!(
            g == a,
            "grouped only: {only_grouped:?}\none by one only: {only_alone:?}"
        );
    }
    // Both paths taken, often (measured: 93 pushes planned, 107 refused,
    // of 270).
    assert!(
        planned_pushes > 60 && refused > 60,
        "{planned_pushes} planned, {refused} refused"
    );
}

/// The writes that delete the envelope needs they meet look each need up by
/// its key even when the queue was analyzed empty, as it mostly is: with a
/// plain `DELETE … USING unnest(…)` the generic plan made on those
/// statistics read the whole queue for every push group.
#[test]
fn met_needs_are_deleted_by_key_whatever_the_statistics() {
    let Some(s) = storage() else { return };
    let plan = s
        .write(|tx| {
            // A queue that was used and is empty now.
            tx.batch(&format!(
                "INSERT INTO envelope_needs
                     SELECT decode(md5(i::text), 'hex'), 0, decode(md5((-i)::text), 'hex')
                     FROM generate_series(1, 3000) i;
                 DELETE FROM envelope_needs;
                 ANALYZE envelope_needs;
                 SET LOCAL plan_cache_mode = force_generic_plan;
                 PREPARE met(bytea[], bigint[], bytea[]) AS {}",
                push::delete_met_needs(1, 2, 3)
            ))?;
            let plan = tx.rows("EXPLAIN EXECUTE met('{}', '{}', '{}')", &[])?;
            tx.batch("DEALLOCATE met")?;
            plan.iter()
                .map(|r| Ok(r.try_get::<_, String>(0)?))
                .collect::<Result<Vec<_>, StorageError>>()
        })
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("Index Cond: ((case_id = m.case_id) AND (epoch = m.epoch) AND (recipient = m.recipient))"),
        "{plan}"
    );
}
