//! Several `outreach-server` instances on one PostgreSQL database (issue 12,
//! "Several instances"): devices sync alternately through either instance,
//! one instance is SIGKILLed while a device pushes a large upload through it
//! and is started again; every acknowledged change is in the database
//! exactly once and every device ends with identical content. Skipped (with
//! a message) without PostgreSQL's binaries unless `OUTREACH_REQUIRE_POSTGRES`
//! is set.

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use outreach_core::vault::Vault;
use outreach_protocol::{self as proto, Item};
use outreach_server::storage::postgres::testdb;
use outreach_tests::harness::{Device, Server, new_case, visit};
use outreach_tests::http::{agent, now, post_raw};

/// Export without the exporter and time, for comparing replicas.
fn export(v: &mut Vault, case: &str) -> serde_json::Value {
    let mut e = serde_json::to_value(v.export_json(case).unwrap()).unwrap();
    e.as_object_mut().unwrap().remove("exported_at");
    e.as_object_mut().unwrap().remove("exported_by");
    e
}

/// Client ids of the changes queued in the device's outbox, by outbox row.
fn queued_changes(v: &mut Vault) -> BTreeMap<i64, Vec<u8>> {
    v.prepare_uploads().unwrap();
    v.outbox_batch(usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|(id, item)| match item {
            Item::Change(c) => Some((id, c.client_id.to_vec())),
            _ => None,
        })
        .collect()
}

/// How many times each client id is stored as a change in the log.
fn stored(db: &mut postgres::Client, ids: &[Vec<u8>]) -> BTreeMap<Vec<u8>, i64> {
    db.query(
        "SELECT client_id, COUNT(*) FROM log WHERE kind = 0 AND client_id = ANY($1) GROUP BY client_id",
        &[&ids],
    )
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A note of `len` characters that compresses poorly (xorshift over base64).
fn noise(seed: &mut u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ALPHABET[(*seed & 63) as usize] as char
        })
        .collect()
}

#[test]
fn two_instances_on_one_database_survive_a_sigkill_mid_push() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let started = Instant::now();
    let url = cluster.new_database();
    let tmp = tempfile::tempdir().unwrap();
    // A first (it creates the organisation), then B on the same database.
    let a = Server::start_on(&tmp.path().join("a"), Some(&url), &[]);
    let mut b = Server::start_on(&tmp.path().join("b"), Some(&url), &[]);
    let (url_a, url_b) = (a.url(), b.url());
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();

    // Amy with two devices (a phone through A, a tablet through B) and her
    // supervisor Sue (through B): all three may read all of Amy's cases.
    let phone = a.invite("Amy", "practitioner", Some("north"));
    let tablet = b.invite("Amy", "practitioner", Some("north"));
    let sue = a.invite("Sue", "supervisor", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &url_a, &phone);
    let mut tab = Device::enrol(&tmp.path().join("tab"), "Amy", &url_b, &tablet);
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &url_b, &sue);
    let urls = [url_a.as_str(), url_b.as_str()];

    // Rounds in which every device writes and syncs, alternating instances.
    let case = new_case(&mut amy.vault, "Jess");
    amy.sync_via(&url_b).unwrap();
    let mut written = Vec::new();
    for round in 0..4 {
        for (i, d) in [&mut amy, &mut tab, &mut sue].into_iter().enumerate() {
            if d.vault.case_ids().unwrap().contains(&case) {
                written.push(visit(&mut d.vault, &case, &format!("{round}/{i}")));
            }
            d.sync_via(urls[(round + i) % 2]).unwrap();
        }
    }

    // A large upload from Amy's phone: several push requests (~1 MiB each).
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut big = Vec::new();
    for i in 0..48 {
        let c = new_case(&mut amy.vault, &format!("Case {i}"));
        for _ in 0..4 {
            visit(&mut amy.vault, &c, &noise(&mut seed, 16000));
        }
        big.push(c);
    }
    let queued = queued_changes(&mut amy.vault);
    assert_eq!(queued.len(), 48, "one change per new case");
    let ids: Vec<Vec<u8>> = queued.values().cloned().collect();

    // B is killed as soon as the first of those changes has been committed
    // through it, while Amy's push is still under way; Sue keeps writing and
    // syncing through A meanwhile.
    let (pushed, sue_rounds, committed_at_kill) = thread::scope(|s| {
        let killer = s.spawn(|| {
            let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let n: i64 = stored(&mut db, &ids).values().sum();
                if n > 0 {
                    b.kill();
                    return n;
                }
                assert!(Instant::now() < deadline, "the push never reached B");
                thread::sleep(Duration::from_millis(1));
            }
        });
        let sue_writes = s.spawn(|| {
            let mut mine = Vec::new();
            for round in 0..3 {
                mine.push(visit(&mut sue.vault, &case, &format!("sue during {round}")));
                sue.sync_via(&url_a).unwrap();
            }
            mine
        });
        let pushed = amy.sync_via(&url_b);
        let n = killer.join().unwrap();
        (pushed, sue_writes.join().unwrap(), n)
    });
    written.extend(sue_rounds);
    assert!(
        pushed.is_err(),
        "the push through B was cut short by the kill: {pushed:?}"
    );
    let left = queued_changes(&mut amy.vault);
    assert!(
        !left.is_empty() && (committed_at_kill as usize) < queued.len(),
        "B was killed mid-push ({committed_at_kill} of {} stored, {} unacknowledged)",
        queued.len(),
        left.len()
    );
    // Every change Amy's phone saw acknowledged is stored exactly once.
    let acknowledged: Vec<Vec<u8>> = queued
        .iter()
        .filter(|(row, _)| !left.contains_key(row))
        .map(|(_, id)| id.clone())
        .collect();
    let counts = stored(&mut db, &acknowledged);
    for id in &acknowledged {
        assert_eq!(counts.get(id), Some(&1), "acknowledged change stored once");
    }

    // B again, on the same port; the devices carry on through both.
    b.restart();
    for round in 0..3 {
        for (i, d) in [&mut amy, &mut tab, &mut sue].into_iter().enumerate() {
            written.push(visit(&mut d.vault, &case, &format!("after {round}/{i}")));
            d.sync_via(urls[(round + i) % 2]).unwrap();
        }
    }
    for round in 0..2 {
        for (i, d) in [&mut amy, &mut tab, &mut sue].into_iter().enumerate() {
            d.sync_via(urls[(round + i) % 2]).unwrap();
        }
    }

    // The database: every change of the large upload once, no change twice.
    let counts = stored(&mut db, &ids);
    assert_eq!(counts.len(), ids.len(), "every queued change stored");
    assert!(counts.values().all(|&n| n == 1), "none stored twice");
    let dupes: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM log WHERE kind = 0 GROUP BY device_id, client_id HAVING COUNT(*) > 1) d",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dupes, 0);

    // The devices: nothing left to send, the same cases, identical content.
    let mut all: BTreeSet<String> = big.iter().cloned().collect();
    all.insert(case.clone());
    for d in [&mut amy, &mut tab, &mut sue] {
        assert_eq!(
            d.vault.outbox_len().unwrap(),
            0,
            "every upload acknowledged"
        );
        let held: BTreeSet<String> = d.vault.case_ids().unwrap().into_iter().collect();
        assert_eq!(held, all);
        let c = d.vault.read_case(&case).unwrap();
        assert_eq!(c.visits.len(), written.len(), "every visit, once");
        for v in &written {
            assert!(c.visits.contains_key(v), "visit {v} present");
        }
    }
    for c in &all {
        let e = export(&mut amy.vault, c);
        assert_eq!(
            e,
            export(&mut tab.vault, c),
            "phone and tablet agree on {c}"
        );
        assert_eq!(e, export(&mut sue.vault, c), "phone and Sue agree on {c}");
    }
    // A graceful stop on PostgreSQL exits cleanly (it used to abort while
    // the runtime dropped the connection pool).
    let mut a = a;
    let status = a.terminate();
    assert!(status.success(), "serve exited with {status}");
    eprintln!("several instances: {:?}", started.elapsed());
}

/// A captured signed request replayed to the other instance is refused
/// there: the nonce is recorded in the shared database, not only in the
/// memory of the instance that saw it first. The same 48 signed requests
/// sent to both instances at once, in opposite orders, are each answered
/// by exactly one of them and refused as replayed by the other.
#[test]
fn a_request_replayed_to_the_other_instance_is_refused() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_database();
    let tmp = tempfile::tempdir().unwrap();
    let a = Server::start_on(&tmp.path().join("a"), Some(&url), &[]);
    let b = Server::start_on(&tmp.path().join("b"), Some(&url), &[]);
    let code = a.invite("Amy", "practitioner", Some("north"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &a.url(), &code);
    let body = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: 4096,
    });
    let agent = agent();
    let send = |server: &str, auth: &str| -> Result<(), proto::ErrorCode> {
        let reply = post_raw(
            &agent,
            server,
            proto::PATH_PULL,
            Some(proto::CONTENT_TYPE),
            Some(auth),
            &body,
        );
        match reply.status {
            200 => Ok(()),
            _ => Err(reply.code()),
        }
    };
    let sign = || {
        amy.vault
            .sign_request("POST", proto::PATH_PULL, now(), &body)
            .unwrap()
    };
    let (url_a, url_b) = (a.url(), b.url());

    // One request, to A and then to B; another, to B and then to A.
    let auth = sign();
    assert_eq!(send(&url_a, &auth), Ok(()));
    assert_eq!(send(&url_b, &auth), Err(proto::ErrorCode::Replayed));
    let auth = sign();
    assert_eq!(send(&url_b, &auth), Ok(()));
    assert_eq!(send(&url_a, &auth), Err(proto::ErrorCode::Replayed));

    // Racing: each instance gets every request, in opposite orders.
    let signed: Vec<String> = (0..48).map(|_| sign()).collect();
    let (from_a, from_b) = thread::scope(|s| {
        let to_a = s.spawn(|| signed.iter().map(|x| send(&url_a, x)).collect::<Vec<_>>());
        let to_b = s.spawn(|| {
            let mut r: Vec<_> = signed.iter().rev().map(|x| send(&url_b, x)).collect();
            r.reverse();
            r
        });
        (to_a.join().unwrap(), to_b.join().unwrap())
    });
    for (i, answers) in from_a.iter().zip(&from_b).enumerate() {
        let replayed = Err(proto::ErrorCode::Replayed);
        assert!(
            matches!(answers, (Ok(()), r) | (r, Ok(())) if *r == replayed),
            "request {i}: {answers:?}"
        );
    }
}

/// An enrolled insider floods both instances with signed requests — 16
/// connections at once, each request sent to A and then replayed to B —
/// while an honest device records and syncs through B. Every flood request
/// is answered (served, refused as replayed, or refused as too many in
/// progress: never a server error), none is served twice, and the honest
/// device's syncs all complete with her visits stored.
#[test]
fn a_device_flooding_both_instances_does_not_hold_up_another() {
    let Some(cluster) = testdb::cluster() else {
        return;
    };
    let url = cluster.new_database();
    let tmp = tempfile::tempdir().unwrap();
    let a = Server::start_on(&tmp.path().join("a"), Some(&url), &[]);
    let b = Server::start_on(&tmp.path().join("b"), Some(&url), &[]);
    let (url_a, url_b) = (a.url(), b.url());
    let code = a.invite("Mal", "practitioner", Some("north"));
    let mal = Device::enrol(&tmp.path().join("mal"), "Mal", &url_a, &code);
    let code = b.invite("Bo", "practitioner", Some("north"));
    let mut bo = Device::enrol(&tmp.path().join("bo"), "Bo", &url_b, &code);
    let body = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: 4096,
    });
    // Signed up front: the vault is one device, the connections are many.
    let signed: Vec<Vec<String>> = (0..16)
        .map(|_| {
            (0..25)
                .map(|_| {
                    mal.vault
                        .sign_request("POST", proto::PATH_PULL, now(), &body)
                        .unwrap()
                })
                .collect()
        })
        .collect();
    let code = |server: &str, agent: &ureq::Agent, auth: &str| {
        let reply = post_raw(
            agent,
            server,
            proto::PATH_PULL,
            Some(proto::CONTENT_TYPE),
            Some(auth),
            &body,
        );
        (reply.status == 200)
            .then_some(())
            .ok_or_else(|| reply.code())
    };

    let case = new_case(&mut bo.vault, "Jess");
    let answers: Vec<_> = thread::scope(|s| {
        let flood: Vec<_> = signed
            .iter()
            .map(|requests| {
                let (url_a, url_b, code) = (&url_a, &url_b, &code);
                s.spawn(move || {
                    let agent = agent();
                    requests
                        .iter()
                        .map(|auth| (code(url_a, &agent, auth), code(url_b, &agent, auth)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for n in 0..5 {
            visit(&mut bo.vault, &case, &format!("visit {n} during the flood"));
            bo.sync().expect("the honest device syncs during the flood");
        }
        flood.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });

    use proto::ErrorCode::{RateLimited, Replayed};
    let mut served = 0;
    for (i, (to_a, to_b)) in answers.iter().enumerate() {
        assert!(
            matches!(to_a, Ok(()) | Err(RateLimited)),
            "request {i} to A: {to_a:?}"
        );
        // Its nonce is in the database whatever A answered.
        assert_eq!(to_b, &Err(Replayed), "request {i} replayed to B");
        served += usize::from(to_a.is_ok());
    }
    assert!(served > 0, "the flood reached the storage");
    // Bo's visits reached the server: a second device of hers receives them.
    let code = a.invite("Bo", "practitioner", Some("north"));
    let mut tablet = Device::enrol(&tmp.path().join("tablet"), "Bo", &url_a, &code);
    assert_eq!(
        bo.vault.outbox_len().unwrap(),
        0,
        "every upload acknowledged"
    );
    tablet.sync().unwrap();
    bo.sync().unwrap(); // shares the case's key with her tablet
    tablet.sync().unwrap();
    let c = tablet.vault.read_case(&case).unwrap();
    assert_eq!(c.visits.len(), 5, "every visit of Bo's arrived");
}
