//! Issue 10: no single device, request or connection can break sync for the
//! others. Each test plays an attacker against a real server process: an
//! enrolled insider device (keys from the core's own types, every request,
//! change and envelope signed as that device) or an anonymous client, and
//! checks that the server refuses or bounds it while honest devices (real
//! vaults) keep syncing. Every loop is bounded in count and time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use outreach_core::crypto::DeviceKeys;
use outreach_protocol::{self as proto, ErrorCode, Id, Item};
use outreach_tests::harness::{Device, Server, new_case, visit};
use outreach_tests::http::{Reply, agent, now, post_raw};

fn random_id() -> Id {
    uuid::Uuid::new_v4().into_bytes()
}

fn case_id(case: &str) -> Id {
    *uuid::Uuid::parse_str(case).unwrap().as_bytes()
}

/// `n` bytes that do not compress (xorshift), standing in for ciphertext.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A request signed by an honest device's vault.
fn vault_post(dev: &Device, path: &str, body: &[u8]) -> Reply {
    let auth = dev.vault.sign_request("POST", path, now(), body).unwrap();
    post_raw(
        &agent(),
        &dev.server,
        path,
        Some(proto::CONTENT_TYPE),
        Some(&auth),
        body,
    )
}

/// An enrolled insider that signs whatever it likes with its own device
/// keys (the core's `DeviceKeys`), as a modified app would.
struct Attacker {
    keys: DeviceKeys,
    id: Id,
    url: String,
    agent: ureq::Agent,
}

impl Attacker {
    fn enrol(server: &Server, code: &str) -> Attacker {
        let keys = DeviceKeys::generate().unwrap();
        let id = random_id();
        let req = proto::EnrollRequest {
            code: code.into(),
            device_id: id,
            sign_pk: keys.sign_pk(),
            kex_pk: keys.kex_pk(),
            signature: keys
                .sign(&proto::enroll_message(
                    code,
                    &id,
                    &keys.sign_pk(),
                    &keys.kex_pk(),
                ))
                .to_vec(),
        };
        let a = Attacker {
            keys,
            id,
            url: server.url(),
            agent: agent(),
        };
        let r = post_raw(
            &a.agent,
            &a.url,
            proto::PATH_ENROLL,
            Some(proto::CONTENT_TYPE),
            None,
            &proto::encode(&req),
        );
        let _: proto::EnrollResponse = r.ok();
        a
    }

    /// The authorization header for `uri` (path and query) and `body`.
    fn auth(&self, uri: &str, body: &[u8]) -> String {
        let mut auth = proto::RequestAuth {
            device: self.id,
            ts: now(),
            nonce: random_id(),
            body_hash: proto::body_hash(body),
            sig: Vec::new(),
        };
        auth.sig = self.keys.sign(&auth.message("POST", uri)).to_vec();
        auth.header()
    }

    fn post(&self, path: &str, body: &[u8]) -> Reply {
        let auth = self.auth(path, body);
        post_raw(
            &self.agent,
            &self.url,
            path,
            Some(proto::CONTENT_TYPE),
            Some(&auth),
            body,
        )
    }

    fn change(&self, case: Id, ciphertext: Vec<u8>) -> proto::Change {
        let client_id = random_id();
        let m = proto::change_message(&case, 0, &self.id, &client_id, &ciphertext);
        proto::Change {
            client_id,
            case_id: case,
            epoch: 0,
            author: self.id,
            signature: self.keys.sign(&m).to_vec(),
            ciphertext,
        }
    }

    /// A signed envelope of junk (the server cannot tell; receivers can).
    fn envelope(&self, case: Id, recipient: Id, size: usize) -> proto::Envelope {
        let enc = noise(32, 7);
        let ciphertext = noise(size, 11);
        let m = proto::envelope_message(&case, 0, &recipient, &self.id, false, &enc, &ciphertext);
        proto::Envelope {
            case_id: case,
            epoch: 0,
            recipient,
            sealed_by: self.id,
            starts_epoch: false,
            enc,
            ciphertext,
            signature: self.keys.sign(&m).to_vec(),
        }
    }

    fn push(&self, changes: Vec<proto::Change>, envelopes: Vec<proto::Envelope>) -> Reply {
        self.post(
            proto::PATH_PUSH,
            &proto::encode(&proto::PushRequest { changes, envelopes }),
        )
    }

    /// Registers a case of its own (first change + recovery envelope).
    fn new_case(&self, first: Vec<u8>) -> Id {
        let case = random_id();
        let r = self.push(
            vec![self.change(case, first)],
            vec![self.envelope(case, proto::RECOVERY_RECIPIENT, 48)],
        );
        let _: proto::PushResponse = r.ok();
        case
    }

    fn pull(&self, cursor: proto::Cursor, max_bytes: u32) -> Reply {
        self.post(
            proto::PATH_PULL,
            &proto::encode(&proto::PullRequest { cursor, max_bytes }),
        )
    }
}

fn db(server: &Server) -> rusqlite::Connection {
    rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap()
}

fn count(server: &Server, sql: &str) -> i64 {
    db(server).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn log_rows(server: &Server) -> i64 {
    count(server, "SELECT COUNT(*) FROM log")
}

/// Peak resident memory of a process (kB), from `/proc/<pid>/status`.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// A server, one honest practitioner with a synced case, and the url.
fn honest_team(server: &Server, dir: &std::path::Path) -> (Device, String) {
    let code = server.invite("Amy", "practitioner", Some("north"));
    let mut amy = Device::enrol(&dir.join("amy"), "Amy", &server.url(), &code);
    let case = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &case, "first visit");
    amy.sync().unwrap();
    (amy, case)
}

#[test]
fn a_pull_holds_about_its_budget_in_memory_whatever_the_item_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (amy, _) = honest_team(&server, tmp.path());
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    // 30 changes of 3 MiB to a case of its own, two per request.
    const ITEM: usize = 3 << 20;
    let case = mal.new_case(noise(ITEM, 1));
    for i in 0..14u64 {
        let r = mal.push(
            vec![
                mal.change(case, noise(ITEM, 2 * i + 2)),
                mal.change(case, noise(ITEM, 2 * i + 3)),
            ],
            vec![],
        );
        let _: proto::PushResponse = r.ok();
    }
    mal.post(
        proto::PATH_REFETCH,
        &proto::encode(&proto::RefetchRequest { cases: vec![case] }),
    )
    .ok::<()>();
    let before = peak_rss_kb(server.pid());

    // The attack: pulls with a 1 KiB budget, 8 at a time, walking through
    // the 90 MiB grant. Meanwhile an honest device keeps syncing.
    let stop = Arc::new(AtomicBool::new(false));
    let (pulled, limited) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mal = Arc::new(mal);
    let attackers: Vec<_> = (0..8)
        .map(|_| {
            let (mal, stop) = (mal.clone(), stop.clone());
            let (pulled, limited) = (pulled.clone(), limited.clone());
            thread::spawn(move || {
                let mut cursor = proto::Cursor::default();
                for _ in 0..8 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = mal.pull(cursor, 1024);
                    if r.status == 429 {
                        limited.fetch_add(1, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    let page: proto::PullResponse = r.ok();
                    assert_eq!(page.entries.len(), 1, "one oversized item, alone");
                    pulled.fetch_add(1, Ordering::Relaxed);
                    cursor = if page.more {
                        page.next
                    } else {
                        proto::Cursor::default()
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut amy = amy;
    let mut honest = Vec::new();
    while started.elapsed() < Duration::from_secs(20) && attackers.iter().any(|a| !a.is_finished())
    {
        let case = new_case(&mut amy.vault, "During the attack");
        visit(&mut amy.vault, &case, "visit during the attack");
        let t = Instant::now();
        let r = amy.sync().expect("honest sync completes during the attack");
        assert_eq!(r.pushed, 1);
        honest.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    let peak = peak_rss_kb(server.pid());
    let slowest = honest.iter().max().copied().unwrap_or_default();
    println!(
        "pull attack: {} pulls of one 3 MiB item with a 1 KiB budget ({} refused: device busy); \
         server peak RSS {} MB after setup, {} MB after the attack; {} honest syncs, slowest {:?}",
        pulled.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        before / 1024,
        peak / 1024,
        honest.len(),
        slowest
    );
    assert!(pulled.load(Ordering::Relaxed) >= 8, "the attack ran");
    assert!(!honest.is_empty(), "the honest device synced");
    assert!(
        slowest < Duration::from_secs(10),
        "honest sync took {slowest:?}"
    );
    assert!(peak < 150 * 1024, "server peak RSS {} MB", peak / 1024);
}

/// Sends a signed pull on a new connection whose receive buffer is tiny and
/// never reads the reply: the server cannot hand a large page to the kernel
/// and holds it, as it would for a device that stops reading.
fn stalled_pull(server: &Server, dev: &Attacker) -> socket2::Socket {
    let body = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: 1024,
    });
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: {}\r\n{}: {}\r\ncontent-length: {}\r\n\r\n",
        proto::PATH_PULL,
        server.addr,
        proto::CONTENT_TYPE,
        proto::AUTH_HEADER,
        dev.auth(proto::PATH_PULL, &body),
        body.len()
    );
    let mut stream: TcpStream = socket.try_clone().unwrap().into();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    socket
}

/// The status of a reply on a stalled connection (its first line).
fn status_of(socket: &socket2::Socket) -> u16 {
    let mut stream: TcpStream = socket.try_clone().unwrap().into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[test]
fn large_pages_of_many_devices_are_bounded_in_all() {
    // Every device keeps its own requests bounded; this is the sum: eight
    // insider devices, four stalled pulls each of a 3 MiB item, against a
    // reply buffer of 8 MiB. Two pages are held; the rest are refused as
    // busy (nothing is built up in memory), and an honest device's small
    // sync goes on meanwhile.
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("server"),
        &["--reply-buffer", "8MiB", "--enrol-per-address", "100"],
    );
    let (amy, _) = honest_team(&server, tmp.path());
    const ITEM: usize = 3 << 20;
    let insiders: Vec<Attacker> = (0..8)
        .map(|i| {
            let mal = Attacker::enrol(
                &server,
                &server.invite(&format!("Mal {i}"), "practitioner", Some("south")),
            );
            let case = mal.new_case(noise(ITEM, 100 + i));
            mal.post(
                proto::PATH_REFETCH,
                &proto::encode(&proto::RefetchRequest { cases: vec![case] }),
            )
            .ok::<()>();
            mal
        })
        .collect();
    let before = peak_rss_kb(server.pid());
    let stalled: Vec<socket2::Socket> = insiders
        .iter()
        .flat_map(|mal| {
            (0..4)
                .map(|_| stalled_pull(&server, mal))
                .collect::<Vec<_>>()
        })
        .collect();
    // Honest work while the pages are held.
    let mut amy = amy;
    let case = new_case(&mut amy.vault, "During the stall");
    visit(&mut amy.vault, &case, "visit during the stall");
    let r = amy
        .sync()
        .expect("honest sync completes while large pages are held");
    assert_eq!(r.pushed, 1);
    let statuses: Vec<u16> = stalled.iter().map(status_of).collect();
    let held = statuses.iter().filter(|&&s| s == 200).count();
    let busy = statuses.iter().filter(|&&s| s == 429).count();
    let peak = peak_rss_kb(server.pid());
    println!(
        "32 stalled pulls of a 3 MiB page, reply buffer 8 MiB: {held} held, {busy} refused as busy; \
         server peak RSS {} MB before, {} MB after",
        before / 1024,
        peak / 1024
    );
    assert_eq!(
        held + busy,
        statuses.len(),
        "every pull answered: {statuses:?}"
    );
    assert!(
        (1..=2).contains(&held),
        "{held} pages held against an 8 MiB buffer"
    );
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "server memory grew by {} MB",
        peak.saturating_sub(before) / 1024
    );
}

#[test]
fn quota_and_size_limits_refuse_and_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("server"), &["--device-quota", "2MiB"]);
    let (_amy, _) = honest_team(&server, tmp.path());
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    let case = mal.new_case(noise(1 << 20, 1));
    let rows = log_rows(&server);

    // Over the quota: refused as a whole, nothing stored.
    let r = mal.push(
        vec![
            mal.change(case, noise(600 << 10, 2)),
            mal.change(case, noise(600 << 10, 3)),
        ],
        vec![],
    );
    assert_eq!((r.status, r.code()), (413, ErrorCode::QuotaExceeded));
    assert!(r.error().message.contains("quota"), "{}", r.error().message);
    assert_eq!(log_rows(&server), rows, "nothing stored over the quota");
    // Under it, still fine.
    mal.push(vec![mal.change(case, noise(100 << 10, 4))], vec![])
        .ok::<proto::PushResponse>();
    let rows = log_rows(&server);

    // A change over the blob limit, an envelope over the envelope limit.
    let r = mal.push(
        vec![mal.change(case, noise(proto::MAX_BLOB_BYTES + 1, 5))],
        vec![],
    );
    assert_eq!((r.status, r.code()), (413, ErrorCode::TooLarge));
    let code = server.invite("Sam", "supervisor", Some("north"));
    let sam = Attacker::enrol(&server, &code);
    let r = mal.push(vec![], vec![mal.envelope(case, sam.id, 2000)]);
    assert_eq!((r.status, r.code()), (413, ErrorCode::TooLarge));
    assert_eq!(log_rows(&server), rows, "nothing stored over a size limit");
    // A real-sized one is accepted.
    assert_eq!(
        mal.push(vec![], vec![mal.envelope(case, sam.id, 48)])
            .ok::<proto::PushResponse>()
            .envelopes_stored,
        1
    );
    let rows = log_rows(&server);
    let cases = count(&server, "SELECT COUNT(*) FROM cases");

    // A new case without its recovery envelope is not registered.
    let new = random_id();
    let r = mal.push(vec![mal.change(new, noise(100, 6))], vec![]);
    assert_eq!((r.status, r.code()), (400, ErrorCode::Malformed));
    assert!(
        r.error().message.contains("recovery"),
        "{}",
        r.error().message
    );
    // Nor with one sealed by another device.
    let r = mal.push(
        vec![mal.change(new, noise(100, 6))],
        vec![sam.envelope(new, proto::RECOVERY_RECIPIENT, 48)],
    );
    assert_eq!(r.status / 100, 4, "another device's recovery envelope");
    // A recovery envelope from a device that did not create the case (a
    // supervisor of the team, who may read it) is not stored: the
    // creator's is there, so it is dropped (a device re-uploading all it
    // holds after a restore sends one for every case).
    let r = sam.push(
        vec![],
        vec![sam.envelope(case, proto::RECOVERY_RECIPIENT, 48)],
    );
    assert_eq!(r.ok::<proto::PushResponse>().envelopes_stored, 0);
    assert_eq!(log_rows(&server), rows, "nothing stored");
    assert_eq!(count(&server, "SELECT COUNT(*) FROM cases"), cases);
}

#[test]
fn a_junk_envelope_does_not_pre_empt_the_real_one() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (mut amy, case) = honest_team(&server, tmp.path());
    // An insider who may read the team's cases but never got the key.
    let mal = Attacker::enrol(&server, &server.invite("Mal", "supervisor", Some("north")));
    // A new supervisor's phone, not synced yet.
    let code = server.invite("Sue", "supervisor", Some("north"));
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &code);
    let sue_id = sue.vault.device_id_bytes().unwrap();

    // The junk envelope gets there first…
    let r = mal.push(vec![], vec![mal.envelope(case_id(&case), sue_id, 48)]);
    assert_eq!(r.ok::<proto::PushResponse>().envelopes_stored, 1);
    // …and still Amy is asked for the real one, and seals it (and one for
    // Mal, who may read the case).
    assert_eq!(
        amy.sync().unwrap().keys_shared,
        2,
        "Sue's need was not met by junk"
    );

    // Both reach Sue.
    let page: proto::PullResponse = vault_post(
        &sue,
        proto::PATH_PULL,
        &proto::encode(&proto::PullRequest {
            cursor: proto::Cursor::default(),
            max_bytes: proto::MAX_PULL_BYTES,
        }),
    )
    .ok();
    let mut sealers: Vec<Id> = page
        .entries
        .iter()
        .filter_map(|e| match &e.item {
            Item::Envelope(env) if env.case_id == case_id(&case) && env.recipient == sue_id => {
                Some(env.sealed_by)
            }
            _ => None,
        })
        .collect();
    sealers.sort();
    let mut expected = vec![mal.id, amy.vault.device_id_bytes().unwrap()];
    expected.sort();
    assert_eq!(sealers, expected, "every envelope for her is delivered");
    // Her device tries each: the real one opens the case.
    sue.sync().unwrap();
    let read = sue.vault.read_case(&case).unwrap();
    assert_eq!(read.visits.values().next().unwrap().note, "first visit");
}

#[test]
fn refetch_is_deduplicated_capped_and_replays_add_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (_amy, _) = honest_team(&server, tmp.path());
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    let case = mal.new_case(noise(100, 1));
    let rows = log_rows(&server);
    let body = proto::encode(&proto::RefetchRequest {
        cases: vec![case; 20],
    });
    let auth = mal.auth(proto::PATH_REFETCH, &body);
    let send = |auth: &str| {
        post_raw(
            &mal.agent,
            &mal.url,
            proto::PATH_REFETCH,
            Some(proto::CONTENT_TYPE),
            Some(auth),
            &body,
        )
    };
    assert_eq!(send(&auth).status, 200);
    assert_eq!(
        log_rows(&server),
        rows + 1,
        "one grant for 20 copies of a case"
    );
    // The same signed request again: refused.
    let r = send(&auth);
    assert_eq!((r.status, r.code()), (401, ErrorCode::Replayed));
    // Signed again: the grant is still pending, nothing added.
    assert_eq!(send(&mal.auth(proto::PATH_REFETCH, &body)).status, 200);
    assert_eq!(
        log_rows(&server),
        rows + 1,
        "a pending grant is not repeated"
    );
    // A new change of the case: a new refetch adds one grant again.
    mal.push(vec![mal.change(case, noise(100, 2))], vec![])
        .ok::<proto::PushResponse>();
    assert_eq!(send(&mal.auth(proto::PATH_REFETCH, &body)).status, 200);
    assert_eq!(log_rows(&server), rows + 3);
    // Too many cases in one request.
    for n in [proto::MAX_REFETCH_CASES + 1, 1000] {
        let cases = (0..n).map(|_| case).collect();
        let r = mal.post(
            proto::PATH_REFETCH,
            &proto::encode(&proto::RefetchRequest { cases }),
        );
        assert_eq!(
            (r.status, r.code()),
            (413, ErrorCode::TooLarge),
            "{n} cases"
        );
    }
    assert_eq!(log_rows(&server), rows + 3);
}

/// A request body naming a case.
type BodyFor<'a> = Box<dyn Fn(Id) -> Vec<u8> + 'a>;

#[test]
fn out_of_range_numbers_wrong_content_and_unknown_cases_get_one_clear_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (amy, case) = honest_team(&server, tmp.path());
    // Another team's practitioner and supervisor: Amy's case is not theirs.
    let eve = Attacker::enrol(
        &server,
        &server.invite("Eve", "practitioner", Some("south")),
    );
    let sid = Attacker::enrol(&server, &server.invite("Sid", "supervisor", Some("south")));

    for cursor in [
        proto::Cursor {
            seq: 1 << 63,
            sub: 0,
        },
        proto::Cursor {
            seq: 1,
            sub: u64::MAX,
        },
    ] {
        let r = eve.pull(cursor, 1024);
        assert_eq!(
            (r.status, r.code()),
            (400, ErrorCode::Malformed),
            "{cursor:?}"
        );
    }

    // One answer for a case that does not exist and one that is not theirs.
    let forbidden = case_id(&case);
    let unknown = random_id();
    let answer = |who: &Attacker, path: &str, body: Vec<u8>| {
        let r = who.post(path, &body);
        (r.status, r.code(), r.error().message)
    };
    for who in [&eve, &sid] {
        let requests: Vec<(&str, BodyFor)> = vec![
            (
                proto::PATH_ASSIGN,
                Box::new(|c| {
                    proto::encode(&proto::AssignRequest {
                        case_id: c,
                        user: "Eve".into(),
                    })
                }),
            ),
            (
                proto::PATH_TRANSFER,
                Box::new(|c| {
                    proto::encode(&proto::TransferRequest {
                        case_id: c,
                        user: "Eve".into(),
                    })
                }),
            ),
            (
                proto::PATH_REFETCH,
                Box::new(|c| proto::encode(&proto::RefetchRequest { cases: vec![c] })),
            ),
            (
                proto::PATH_PUSH,
                Box::new(|c| {
                    proto::encode(&proto::PushRequest {
                        changes: vec![],
                        envelopes: vec![who.envelope(c, who.id, 48)],
                    })
                }),
            ),
        ];
        for (path, body) in &requests {
            let a = answer(who, path, body(forbidden));
            let b = answer(who, path, body(unknown));
            assert_eq!(a, b, "{path}: existence must not show");
            assert_eq!(a.0, 403, "{path}: {a:?}");
        }
    }

    // The body must be ours: 415 otherwise, before anything is read.
    let body = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: 1024,
    });
    for ct in [Some("text/plain"), Some("application/json"), None] {
        let auth = amy
            .vault
            .sign_request("POST", proto::PATH_PULL, now(), &body)
            .unwrap();
        let r = post_raw(
            &agent(),
            &server.url(),
            proto::PATH_PULL,
            ct,
            Some(&auth),
            &body,
        );
        assert_eq!(r.status, 415, "{ct:?}");
        let r = post_raw(&agent(), &server.url(), proto::PATH_ENROLL, ct, None, &body);
        assert_eq!(r.status, 415, "enrol {ct:?}");
    }
}

#[test]
fn replayed_or_altered_signed_requests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (amy, _) = honest_team(&server, tmp.path());
    let url = server.url();
    let http = agent();
    let body = proto::encode(&proto::PullRequest {
        cursor: proto::Cursor::default(),
        max_bytes: 4096,
    });
    let send = |path: &str, auth: &str, body: &[u8]| {
        post_raw(
            &http,
            &url,
            path,
            Some(proto::CONTENT_TYPE),
            Some(auth),
            body,
        )
    };

    // The same bytes twice: the second is refused.
    let auth = amy
        .vault
        .sign_request("POST", proto::PATH_PULL, now(), &body)
        .unwrap();
    assert_eq!(send(proto::PATH_PULL, &auth, &body).status, 200);
    let r = send(proto::PATH_PULL, &auth, &body);
    assert_eq!((r.status, r.code()), (401, ErrorCode::Replayed));

    // The query string is signed: adding or changing it breaks the signature.
    let auth = amy
        .vault
        .sign_request("POST", proto::PATH_PULL, now(), &body)
        .unwrap();
    let r = send("/v1/pull?page=2", &auth, &body);
    assert_eq!((r.status, r.code()), (401, ErrorCode::BadSignature));
    let auth = amy
        .vault
        .sign_request("POST", "/v1/pull?a=1", now(), &body)
        .unwrap();
    let r = send("/v1/pull?a=2", &auth, &body);
    assert_eq!((r.status, r.code()), (401, ErrorCode::BadSignature));
    let auth = amy
        .vault
        .sign_request("POST", "/v1/pull?a=1", now(), &body)
        .unwrap();
    assert_eq!(send("/v1/pull?a=1", &auth, &body).status, 200);

    // The body is bound by its hash in the signed header.
    let auth = amy
        .vault
        .sign_request("POST", proto::PATH_PULL, now(), &body)
        .unwrap();
    let mut altered = body.clone();
    *altered.last_mut().unwrap() ^= 1;
    let r = send(proto::PATH_PULL, &auth, &altered);
    assert_eq!((r.status, r.code()), (401, ErrorCode::BadSignature));
    // A signature from another time is still refused as before.
    let old = amy
        .vault
        .sign_request("POST", proto::PATH_PULL, now() - 3600, &body)
        .unwrap();
    let r = send(proto::PATH_PULL, &old, &body);
    assert_eq!((r.status, r.code()), (401, ErrorCode::ClockSkew));
}

/// Whether the server has closed this connection (EOF or reset), waiting
/// at most `wait`.
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error reply, then the close
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

#[test]
fn slow_loris_connections_are_closed_and_honest_sync_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("server"),
        &[
            "--header-timeout",
            "2",
            "--body-timeout",
            "3",
            "--idle-timeout",
            "4",
        ],
    );
    let (mut amy, case) = honest_team(&server, tmp.path());
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    let addr = server.addr;
    let started = Instant::now();

    // 200 connections that send half a header and stall.
    let mut half: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /v1/pull HTTP/1.1\r\nHost: x\r\nContent-Ty")
                .unwrap();
            s
        })
        .collect();
    // 20 with a whole header and a body that trickles: anonymous ones are
    // refused without the body being read, signed ones hit the body deadline.
    let body = vec![0u8; 100_000];
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            let auth = if i % 2 == 0 {
                mal.auth(proto::PATH_PUSH, &body)
            } else {
                "Outreach-Ed25519 device=00,ts=0,sig=00".to_string()
            };
            write!(
                s,
                "POST /v1/push HTTP/1.1\r\nHost: x\r\ncontent-type: {}\r\nauthorization: {auth}\r\ncontent-length: {}\r\n\r\n",
                proto::CONTENT_TYPE,
                body.len()
            )
            .unwrap();
            s.write_all(&body[..10]).unwrap();
            s
        })
        .collect();
    // Keep trickling a byte every 500 ms while an honest device syncs.
    let trickle = thread::spawn(move || {
        for _ in 0..12 {
            thread::sleep(Duration::from_millis(500));
            for s in &mut slow {
                let _ = s.write_all(&[0]);
            }
        }
        slow
    });
    visit(&mut amy.vault, &case, "while the slow clients hang on");
    let t = Instant::now();
    let r = amy.sync().expect("honest sync completes");
    assert_eq!(r.pushed, 1);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "honest sync took {:?}",
        t.elapsed()
    );

    // Header timeout (2 s): every half-header connection is closed.
    let deadline = started + Duration::from_secs(2 + 3);
    for s in &mut half {
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(100);
        assert!(
            closed_by_server(s, wait),
            "a stalled header was not cut off"
        );
    }
    // Body deadline (3 s) or refused at once: every slow body is closed too.
    let mut slow = trickle.join().unwrap();
    let deadline = started + Duration::from_secs(3 + 4);
    for s in &mut slow {
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(100);
        assert!(closed_by_server(s, wait), "a slow body was not cut off");
    }
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(&mut idle, Duration::from_secs(6)));
    // And the server still serves.
    amy.sync().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// POSTs an enrolment from a chosen loopback source address (per-address
/// limits), over a raw socket: (status, body).
fn enrol_from(source: &str, server: SocketAddr, body: &[u8]) -> (u16, Vec<u8>) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {} HTTP/1.1\r\nHost: x\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        proto::PATH_ENROLL,
        proto::CONTENT_TYPE,
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply);
    let status = text[9..12].parse().unwrap();
    let at = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (status, reply[at..].to_vec())
}

#[test]
fn an_enrolment_flood_is_rate_limited_and_logged_once_per_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("server"),
        &[
            "--enrol-per-address",
            "5",
            "--enrol-global",
            "30",
            "--rate-log-secs",
            "2",
        ],
    );
    let url = server.url();
    let http = agent();
    let keys = DeviceKeys::generate().unwrap();
    let request = |code: &str| {
        let id = random_id();
        proto::encode(&proto::EnrollRequest {
            code: code.into(),
            device_id: id,
            sign_pk: keys.sign_pk(),
            kex_pk: keys.kex_pk(),
            signature: keys
                .sign(&proto::enroll_message(
                    code,
                    &id,
                    &keys.sign_pk(),
                    &keys.kex_pk(),
                ))
                .to_vec(),
        })
    };
    let bad = request("AAAA-BBBB-CCCC-DDDD");
    let started = Instant::now();
    let mut limited = 0;
    for _ in 0..300 {
        let r = post_raw(
            &http,
            &url,
            proto::PATH_ENROLL,
            Some(proto::CONTENT_TYPE),
            None,
            &bad,
        );
        match r.status {
            429 => {
                assert_eq!(r.code(), ErrorCode::RateLimited);
                limited += 1;
            }
            403 => assert_eq!(r.code(), ErrorCode::UnknownCode),
            other => panic!("HTTP {other}"),
        }
    }
    assert!(limited >= 290, "only {limited} of 300 were limited");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A real code from another address, once the global bucket has a token
    // again (30 a minute: one every 2 s).
    let code = server.invite("Amy", "practitioner", Some("north"));
    thread::sleep(Duration::from_millis(2500));
    let (status, body) = enrol_from("127.0.0.2", server.addr, &request(&code));
    assert_eq!(status, 200, "{:?}", proto::decode::<proto::ApiError>(&body));
    // The flooding address is still refused.
    let r = post_raw(
        &http,
        &url,
        proto::PATH_ENROLL,
        Some(proto::CONTENT_TYPE),
        None,
        &bad,
    );
    assert_eq!(r.status, 429);

    // One summary line per interval, not a line per attempt.
    thread::sleep(Duration::from_millis(2500));
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    let about_enrolment = log.lines().filter(|l| l.contains("/v1/enroll")).count();
    let summaries = log
        .lines()
        .filter(|l| l.contains("refused by rate limits"))
        .count();
    assert!(summaries >= 1, "no summary line:\n{log}");
    assert!(
        about_enrolment + summaries < 40,
        "{about_enrolment} request lines and {summaries} summaries for 300 attempts"
    );
}

#[test]
fn reported_rejections_are_stored_and_listed_without_content() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (amy, case) = honest_team(&server, tmp.path());
    let seq: u64 = count(&server, "SELECT MIN(seq) FROM log WHERE kind = 0") as u64;
    let signer = amy.vault.device_id_bytes().unwrap();
    let item = proto::Rejected {
        case_id: case_id(&case),
        seq,
        signer,
        reason: proto::RejectReason::DoesNotDecrypt,
    };
    let report = |items: Vec<proto::Rejected>| {
        vault_post(
            &amy,
            proto::PATH_REPORT,
            &proto::encode(&proto::RejectReport { items }),
        )
    };
    let bogus = proto::Rejected {
        seq: seq + 10_000,
        ..item
    };
    assert_eq!(
        report(vec![item, item, bogus])
            .ok::<proto::RejectReportResponse>()
            .stored,
        1,
        "stored once; an item not in the log is not"
    );
    assert_eq!(
        report(vec![item])
            .ok::<proto::RejectReportResponse>()
            .stored,
        0
    );
    let r = report(vec![proto::Rejected {
        seq: 1 << 63,
        ..item
    }]);
    assert_eq!((r.status, r.code()), (400, ErrorCode::Malformed));
    let r = report(vec![item; proto::MAX_REPORT_ITEMS + 1]);
    assert_eq!((r.status, r.code()), (413, ErrorCode::TooLarge));

    let listed = server.admin(&["rejected"]).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    let row = rows[0].as_object().unwrap();
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "case_id",
            "device",
            "reason",
            "reported_at",
            "seq",
            "signer",
            "user"
        ]
    );
    assert_eq!(row["case_id"], case.as_str());
    assert_eq!(row["user"], "Amy");
    assert_eq!(row["reason"], "does-not-decrypt");
    assert_eq!(row["seq"], seq);
    assert_eq!(row["device"], hex::encode(&signer[..4]));
    assert!(!listed.to_string().contains("first visit"));
}

/// The issue's own figure, for `docs/PERFORMANCE.md` (slow; run by hand:
/// `cargo test -p outreach-tests --test hardening -- --ignored --nocapture`):
/// 100 changes of 4 MiB (four insiders, 25 each, each refetching its case),
/// 16 pulls at once with a 1 KiB budget. Before issue 10 the server grew by
/// 450 MB per pull (6.2 GB for 16).
#[test]
#[ignore]
fn measure_the_issue_pull_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let (mut amy, _) = honest_team(&server, tmp.path());
    const ITEM: usize = proto::MAX_BLOB_BYTES - 1024;
    let attackers: Vec<Arc<Attacker>> = (0..4)
        .map(|i| {
            let name = format!("Mal{i}");
            let mal = Attacker::enrol(
                &server,
                &server.invite(&name, "practitioner", Some("north")),
            );
            let case = mal.new_case(noise(ITEM, 100 * i));
            for j in 0..24 {
                mal.push(vec![mal.change(case, noise(ITEM, 100 * i + j + 1))], vec![])
                    .ok::<proto::PushResponse>();
            }
            mal.post(
                proto::PATH_REFETCH,
                &proto::encode(&proto::RefetchRequest { cases: vec![case] }),
            )
            .ok::<()>();
            Arc::new(mal)
        })
        .collect();
    let setup = peak_rss_kb(server.pid());
    let pulled = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (mal, pulled) = (attackers[t % 4].clone(), pulled.clone());
            thread::spawn(move || {
                let mut cursor = proto::Cursor::default();
                for _ in 0..10 {
                    let r = mal.pull(cursor, 1024);
                    if r.status == 429 {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    let page: proto::PullResponse = r.ok();
                    pulled.fetch_add(1, Ordering::Relaxed);
                    cursor = if page.more {
                        page.next
                    } else {
                        proto::Cursor::default()
                    };
                }
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    while threads.iter().any(|t| !t.is_finished()) {
        let t = Instant::now();
        amy.sync().unwrap();
        slowest = slowest.max(t.elapsed());
    }
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "issue's pull attack: 100 × 4 MiB stored, {} pulls (16 threads, 4 devices); server peak RSS {} MB after setup, {} MB after the attack; honest sync slowest {:?}",
        pulled.load(Ordering::Relaxed),
        setup / 1024,
        peak_rss_kb(server.pid()) / 1024,
        slowest
    );
}

/// The server keeps devices' keys in memory after their first request;
/// a revocation by the admin command (another process, writing the
/// database) must still hold from the very next request, whatever it is.
#[test]
fn a_revocation_holds_from_the_next_request_though_keys_are_kept_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    let sue = Attacker::enrol(&server, &server.invite("Sue", "supervisor", Some("north")));
    // Warm: every kind of request, answered.
    let case = mal.new_case(noise(64, 1));
    let _: proto::PullResponse = mal.pull(proto::Cursor::default(), 4096).ok();
    let _: proto::PushResponse = mal.push(vec![mal.change(case, noise(64, 2))], vec![]).ok();
    let _: proto::PullResponse = sue.pull(proto::Cursor::default(), 4096).ok();
    let refetch = proto::encode(&proto::RefetchRequest { cases: vec![case] });
    assert_eq!(sue.post(proto::PATH_REFETCH, &refetch).status, 200);

    server
        .admin(&["revoke-device", &hex::encode(mal.id)])
        .unwrap();
    server
        .admin(&["revoke-device", &hex::encode(sue.id)])
        .unwrap();
    let revoked = |r: Reply, what: &str| {
        assert_eq!(r.status, 403, "{what} after revocation");
        assert_eq!(r.code(), ErrorCode::DeviceRevoked, "{what}");
    };
    revoked(mal.pull(proto::Cursor::default(), 4096), "pull");
    revoked(
        mal.push(vec![mal.change(case, noise(64, 3))], vec![]),
        "push",
    );
    revoked(mal.post(proto::PATH_REFETCH, &refetch), "refetch");
    let report = proto::encode(&proto::RejectReport { items: vec![] });
    revoked(mal.post(proto::PATH_REPORT, &report), "report");
    let assign = proto::encode(&proto::AssignRequest {
        case_id: case,
        user: "Mal".into(),
    });
    revoked(sue.post(proto::PATH_ASSIGN, &assign), "assign");
    let transfer = proto::encode(&proto::TransferRequest {
        case_id: case,
        user: "Sue".into(),
    });
    revoked(sue.post(proto::PATH_TRANSFER, &transfer), "transfer");
    revoked(sue.pull(proto::Cursor::default(), 4096), "supervisor pull");
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM log WHERE kind = 0 AND created_at > 0"
        ),
        2,
        "nothing stored after the revocation"
    );
}

/// `/v1/compact` from an insider: every malformed or forged snapshot gets
/// one clear refusal and the case's history on the server is unchanged —
/// and a refused snapshot stops nobody else's sync.
#[test]
fn bad_snapshots_are_refused_and_the_history_is_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let mal = Attacker::enrol(
        &server,
        &server.invite("Mal", "practitioner", Some("north")),
    );
    let other = Attacker::enrol(
        &server,
        &server.invite("Ola", "practitioner", Some("south")),
    );
    let case = mal.new_case(noise(100, 1));
    for i in 0..3 {
        let _: proto::PushResponse = mal
            .push(vec![mal.change(case, noise(100, 10 + i))], vec![])
            .ok();
    }
    let rows = log_rows(&server);
    let compact = |who: &Attacker, snapshot: proto::Change, covers: u64| {
        who.post(
            proto::PATH_COMPACT,
            &proto::encode(&proto::CompactRequest { snapshot, covers }),
        )
    };
    // A forged signature.
    let mut forged = mal.change(case, noise(200, 2));
    forged.signature[0] ^= 1;
    let r = compact(&mal, forged, 1_000);
    assert_eq!((r.status, r.code()), (401, ErrorCode::BadSignature));
    // Another device named as the author.
    let mut posing = mal.change(case, noise(200, 3));
    posing.author = other.id;
    let r = compact(&mal, posing, 1_000);
    assert_eq!((r.status, r.code()), (403, ErrorCode::Forbidden));
    // A sequence number out of range.
    let r = compact(&mal, mal.change(case, noise(200, 4)), 1 << 63);
    assert_eq!((r.status, r.code()), (400, ErrorCode::Malformed));
    // Larger than one change may be.
    let r = compact(
        &mal,
        mal.change(case, noise(proto::MAX_BLOB_BYTES + 1, 5)),
        1_000,
    );
    assert_eq!(r.status, 413);
    // Not a request at all.
    let r = mal.post(proto::PATH_COMPACT, b"\xff\xff\xff garbage");
    assert_eq!((r.status, r.code()), (400, ErrorCode::Malformed));
    // A device of another team: the one answer for cases it may not use.
    let r = compact(&other, other.change(case, noise(200, 6)), 1_000);
    assert_eq!((r.status, r.code()), (403, ErrorCode::Forbidden));
    assert_eq!(log_rows(&server), rows, "nothing changed in the log");
    assert_eq!(count(&server, "SELECT COUNT(*) FROM superseded"), 0);
    // And the case's own device still syncs and compacts as it should.
    let r: proto::CompactResponse = compact(&mal, mal.change(case, noise(200, 7)), 1_000).ok();
    assert_eq!(r.dropped, 3);
}
