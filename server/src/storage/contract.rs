//! The storage contract: one suite of tests every backend runs, through the
//! [`Storage`] trait only (as matrix-rust-sdk's store integration tests
//! do). A backend's test module invokes [`storage_contract_tests!`] with an
//! expression that makes a fresh, empty storage (and whatever must live as
//! long as it, e.g. a temporary directory):
//!
//! ```ignore
//! crate::storage_contract_tests!({
//!     let dir = tempfile::tempdir().unwrap();
//!     (SqliteStorage::open(dir.path()).unwrap(), dir)
//! });
//! ```
//!
//! Each scenario is a plain function taking `&dyn Storage`, so a backend
//! may also call them directly (e.g. with a shared cluster).

use outreach_protocol::{
    self as proto, Change, CheckIn, Cursor, Envelope, ErrorCode, Id, Item, PullResponse,
    RECOVERY_RECIPIENT, Role, RotateRequest, SafetyAction, SafetyOutcome,
};

use super::erasure::EraseError;
use super::rules::CASE_REFUSED;
use super::safety::SafetyPolicy;
use super::{Device, NewDevice, Storage, StorageError};

/// Generates one `#[test]` per contract scenario, each with a fresh storage
/// made by `$make` (an expression giving `(storage, guard)`).
#[macro_export]
#[doc(hidden)]
macro_rules! storage_contract_tests {
    ($make:expr) => {
        $crate::storage_contract_tests!(@tests $make;
            enrolment, push_is_idempotent, pull_pages_follow_the_cursor,
            envelope_needs, assign_transfer_and_removal, rotation,
            revocation_makes_rotation_due, erasure, safety_timers,
            access_is_refused_alike, compaction,
            a_grant_comes_whole_in_small_pages, the_quota_refuses_a_push_whole);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let (storage, _guard) = $make;
                $crate::storage::contract::$name(&storage);
            }
        )*
    };
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

fn change(client: u8, case: Id, epoch: u32, author: &Device, len: usize) -> Change {
    Change {
        client_id: [client; 16],
        case_id: case,
        epoch,
        author: author.device_id,
        ciphertext: vec![client; len],
        signature: vec![0; 64],
    }
}

fn envelope(case: Id, epoch: u32, to: Id, by: &Device, starts: bool) -> Envelope {
    Envelope {
        case_id: case,
        epoch,
        recipient: to,
        sealed_by: by.device_id,
        enc: vec![1; 32],
        ciphertext: vec![2; 48],
        signature: vec![0; 64],
        starts_epoch: starts,
    }
}

fn pull(s: &dyn Storage, d: &Device, cursor: Cursor, max: u32) -> PullResponse {
    proto::decode(&s.pull(d, cursor, max).unwrap()).unwrap()
}

/// Everything after `cursor`, page by page: the entries, checking that the
/// cursor only moves forward and no sequence number comes twice.
fn pull_all(
    s: &dyn Storage,
    d: &Device,
    mut cursor: Cursor,
    max: u32,
) -> (Vec<proto::Entry>, Cursor) {
    let mut out: Vec<proto::Entry> = Vec::new();
    for _ in 0..10_000 {
        let page = pull(s, d, cursor, max);
        assert!(
            (page.next.seq, page.next.sub) >= (cursor.seq, cursor.sub),
            "the cursor went back"
        );
        out.extend(page.entries);
        cursor = page.next;
        if !page.more {
            return (out, cursor);
        }
    }
    panic!("a pull never finished");
}

fn refused_with(r: Result<impl std::fmt::Debug, StorageError>, code: ErrorCode) {
    match r {
        Err(StorageError::Refused(c, _)) if c == code => {}
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn case_refused(r: Result<impl std::fmt::Debug, StorageError>) {
    match r {
        Err(StorageError::Refused(ErrorCode::Forbidden, m)) if m == CASE_REFUSED => {}
        other => panic!("expected the one case refusal, got {other:?}"),
    }
}

/// Amy (practitioner, north), Sue (supervisor, north), Kim (practitioner,
/// south), Pat (practitioner, north), Ada (admin).
struct Team {
    amy: Device,
    sue: Device,
    kim: Device,
    pat: Device,
    ada: Device,
}

fn team(s: &dyn Storage) -> Team {
    s.init_org("Org", [9; 32], NOW).unwrap();
    Team {
        amy: enrol(s, "Amy", Role::Practitioner, Some("north"), 1),
        sue: enrol(s, "Sue", Role::Supervisor, Some("north"), 2),
        kim: enrol(s, "Kim", Role::Practitioner, Some("south"), 3),
        pat: enrol(s, "Pat", Role::Practitioner, Some("north"), 4),
        ada: enrol(s, "Ada", Role::Admin, None, 5),
    }
}

const CASE: Id = [0xca; 16];

/// Amy registers [`CASE`] with one change and its recovery envelope, and
/// seals the key to Sue; returns the change's sequence number.
fn amy_opens_case(s: &dyn Storage, t: &Team) -> u64 {
    let r = s
        .push(
            &t.amy,
            vec![change(1, CASE, 0, &t.amy, 100)],
            vec![
                envelope(CASE, 0, RECOVERY_RECIPIENT, &t.amy, false),
                envelope(CASE, 0, t.sue.device_id, &t.amy, false),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(r.acks.len(), 1);
    assert_eq!(r.envelopes_stored, 2);
    r.acks[0].seq
}

pub fn enrolment(s: &dyn Storage) {
    assert!(s.org().unwrap().is_none());
    assert!(matches!(
        s.create_invite("Amy", Role::Practitioner, None, [1; 32], NOW + 60, NOW),
        Err(StorageError::NotInitialised)
    ));
    let org = s.init_org("Org", [9; 32], NOW).unwrap();
    assert!(matches!(
        s.init_org("Other", [8; 32], NOW),
        Err(StorageError::AlreadyInitialised)
    ));
    assert_eq!(s.org().unwrap().unwrap().org_id, org.org_id);

    let user = s
        .create_invite(
            "Amy",
            Role::Practitioner,
            Some("north"),
            [1; 32],
            NOW + 60,
            NOW,
        )
        .unwrap();
    // The same name again: only with the same role and team.
    refused_with(
        s.create_invite(
            "Amy",
            Role::Supervisor,
            Some("north"),
            [2; 32],
            NOW + 60,
            NOW,
        ),
        ErrorCode::Malformed,
    );
    let again = s
        .create_invite(
            "Amy",
            Role::Practitioner,
            Some("north"),
            [2; 32],
            NOW + 60,
            NOW,
        )
        .unwrap();
    assert_eq!(again.user_id, user.user_id);

    refused_with(
        s.enroll([7; 32], new_device(1), NOW),
        ErrorCode::UnknownCode,
    );
    refused_with(
        s.enroll([1; 32], new_device(1), NOW + 61),
        ErrorCode::ExpiredCode,
    );
    let enrolled = s.enroll([1; 32], new_device(1), NOW).unwrap();
    assert_eq!(enrolled.user_id, user.user_id);
    // The same device retrying (lost reply): the same answer, even later.
    let replay = s.enroll([1; 32], new_device(1), NOW + 120).unwrap();
    assert_eq!(replay.user_id, user.user_id);
    // Another device with a used code; the same device with other keys.
    refused_with(s.enroll([1; 32], new_device(2), NOW), ErrorCode::UsedCode);
    let mut other_keys = new_device(1);
    other_keys.sign_pk = [0x55; 32];
    refused_with(s.enroll([1; 32], other_keys, NOW), ErrorCode::UsedCode);
    // A second code for a device already enrolled.
    refused_with(
        s.enroll([2; 32], new_device(1), NOW),
        ErrorCode::DeviceExists,
    );

    let d = s.device(&[1; 16]).unwrap().unwrap();
    assert_eq!(d.user.name, "Amy");
    assert_eq!(d.user.role, Role::Practitioner);
    assert_eq!(d.user.team.as_deref(), Some("north"));
    assert!(!d.revoked);
    assert!(s.device(&[2; 16]).unwrap().is_none());
    let listed = s.devices().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].device_id.as_deref(),
        Some(hex::encode([1u8; 16]).as_str())
    );

    assert!(s.revoke_device(&[1; 16], NOW).unwrap());
    assert!(!s.revoke_device(&[3; 16], NOW).unwrap());
    assert!(s.device(&[1; 16]).unwrap().unwrap().revoked);
    // A revoked device acts no more, and its code does not replay.
    refused_with(s.push(&d, vec![], vec![], NOW), ErrorCode::DeviceRevoked);
    refused_with(s.enroll([1; 32], new_device(1), NOW), ErrorCode::UsedCode);
}

pub fn push_is_idempotent(s: &dyn Storage) {
    let t = team(s);
    // A new case needs its recovery envelope in the same push.
    refused_with(
        s.push(&t.amy, vec![change(1, CASE, 0, &t.amy, 10)], vec![], NOW),
        ErrorCode::Malformed,
    );
    // No case has the all-zero id (devices keep a case-less draft under it).
    refused_with(
        s.push(
            &t.amy,
            vec![change(1, [0; 16], 0, &t.amy, 10)],
            vec![envelope([0; 16], 0, RECOVERY_RECIPIENT, &t.amy, false)],
            NOW,
        ),
        ErrorCode::Malformed,
    );
    // Admins hold no records.
    refused_with(
        s.push(
            &t.ada,
            vec![change(1, CASE, 0, &t.ada, 10)],
            vec![envelope(CASE, 0, RECOVERY_RECIPIENT, &t.ada, false)],
            NOW,
        ),
        ErrorCode::Forbidden,
    );
    let seq = amy_opens_case(s, &t);
    // A retry: the same sequence number, nothing stored twice.
    let r = s
        .push(
            &t.amy,
            vec![change(1, CASE, 0, &t.amy, 100)],
            vec![
                envelope(CASE, 0, RECOVERY_RECIPIENT, &t.amy, false),
                envelope(CASE, 0, t.sue.device_id, &t.amy, false),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(r.acks[0].seq, seq);
    assert_eq!(r.envelopes_stored, 0);
    // Sequence numbers grow.
    let r = s
        .push(
            &t.amy,
            vec![
                change(2, CASE, 0, &t.amy, 10),
                change(3, CASE, 0, &t.amy, 10),
            ],
            vec![],
            NOW,
        )
        .unwrap();
    assert!(seq < r.acks[0].seq && r.acks[0].seq < r.acks[1].seq);
    // A change id reused for another case.
    let other: Id = [0xcb; 16];
    refused_with(
        s.push(
            &t.amy,
            vec![change(2, other, 0, &t.amy, 10)],
            vec![envelope(other, 0, RECOVERY_RECIPIENT, &t.amy, false)],
            NOW,
        ),
        ErrorCode::Malformed,
    );
    // … and for another case she has.
    let hers: Id = [0xcd; 16];
    s.push(
        &t.amy,
        vec![change(7, hers, 0, &t.amy, 10)],
        vec![envelope(hers, 0, RECOVERY_RECIPIENT, &t.amy, false)],
        NOW,
    )
    .unwrap();
    refused_with(
        s.push(&t.amy, vec![change(2, hers, 0, &t.amy, 10)], vec![], NOW),
        ErrorCode::Malformed,
    );
    // The same new id twice in one push: for one case, stored once and
    // acknowledged twice with one number; for two cases, refused whole.
    let r = s
        .push(
            &t.amy,
            vec![
                change(4, CASE, 0, &t.amy, 10),
                change(4, CASE, 0, &t.amy, 10),
            ],
            vec![],
            NOW,
        )
        .unwrap();
    assert_eq!(r.acks.len(), 2);
    assert_eq!(r.acks[0].seq, r.acks[1].seq);
    let stored = |s: &dyn Storage| {
        pull_all(s, &t.sue, Cursor::default(), 1 << 20)
            .0
            .iter()
            .filter(|e| matches!(e.item, Item::Change(_)))
            .count()
    };
    let before = stored(s);
    refused_with(
        s.push(
            &t.amy,
            vec![
                change(5, CASE, 0, &t.amy, 10),
                change(5, other, 0, &t.amy, 10),
            ],
            vec![envelope(other, 0, RECOVERY_RECIPIENT, &t.amy, false)],
            NOW,
        ),
        ErrorCode::Malformed,
    );
    assert_eq!(stored(s), before, "nothing of the refused push stored");
    // All or nothing: the refused push registered nothing, so Kim (south)
    // may register that id as her own case now.
    s.push(
        &t.kim,
        vec![change(9, other, 0, &t.kim, 10)],
        vec![envelope(other, 0, RECOVERY_RECIPIENT, &t.kim, false)],
        NOW,
    )
    .unwrap();
    case_refused(s.push(&t.amy, vec![change(8, other, 0, &t.amy, 10)], vec![], NOW));
    // A change for an epoch not started.
    refused_with(
        s.push(&t.amy, vec![change(4, CASE, 1, &t.amy, 10)], vec![], NOW),
        ErrorCode::StaleEpoch,
    );
    // An envelope that starts an epoch travels only in a rotation.
    refused_with(
        s.push(
            &t.amy,
            vec![],
            vec![envelope(CASE, 0, t.sue.device_id, &t.amy, true)],
            NOW,
        ),
        ErrorCode::Malformed,
    );
    // Only the epoch's starter seals its recovery envelope: another
    // device's is dropped once the starter's is stored (a device uploading
    // all it holds after a restore sends one), never stored beside it.
    recovery_envelope_dropped(s, &t.sue, 0);
}

/// A recovery envelope for [`CASE`] at `epoch` from `by`, who did not start
/// the epoch: accepted and dropped, not stored.
fn recovery_envelope_dropped(s: &dyn Storage, by: &Device, epoch: u32) {
    let r = s
        .push(
            by,
            vec![],
            vec![envelope(CASE, epoch, RECOVERY_RECIPIENT, by, false)],
            NOW,
        )
        .unwrap();
    assert_eq!(r.envelopes_stored, 0, "dropped, not stored");
}

pub fn pull_pages_follow_the_cursor(s: &dyn Storage) {
    let t = team(s);
    let mut seqs = vec![amy_opens_case(s, &t)];
    for i in 0..30u8 {
        let r = s
            .push(
                &t.amy,
                vec![change(10 + i, CASE, 0, &t.amy, 300)],
                vec![],
                NOW,
            )
            .unwrap();
        seqs.push(r.acks[0].seq);
    }
    // Sue reads her team's case in small pages: every change once, in order.
    let (entries, end) = pull_all(s, &t.sue, Cursor::default(), 1024);
    let changes: Vec<u64> = entries
        .iter()
        .filter(|e| matches!(e.item, Item::Change(_)))
        .map(|e| e.seq)
        .collect();
    assert_eq!(changes, seqs);
    let all: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "out of order: {all:?}");
    assert!(
        entries
            .iter()
            .any(|e| matches!(&e.item, Item::Envelope(env) if env.recipient == t.sue.device_id))
    );
    // Nothing more after the end, however often asked.
    let page = pull(s, &t.sue, end, 1024);
    assert!(page.entries.is_empty() && !page.more);
    assert_eq!((page.next.seq, page.next.sub), (end.seq, end.sub));
    // Resuming from any cursor gives exactly the rest.
    let mid = Cursor {
        seq: seqs[10],
        sub: 0,
    };
    let (rest, _) = pull_all(s, &t.sue, mid, 1 << 20);
    let rest: Vec<u64> = rest
        .iter()
        .filter(|e| matches!(e.item, Item::Change(_)))
        .map(|e| e.seq)
        .collect();
    assert_eq!(rest, seqs[11..]);
    // Amy is not sent her own changes; Kim (south) nothing of the case.
    let (own, _) = pull_all(s, &t.amy, Cursor::default(), 1 << 20);
    assert!(own.iter().all(|e| !matches!(e.item, Item::Change(_))));
    let (none, _) = pull_all(s, &t.kim, Cursor::default(), 1 << 20);
    assert!(none.is_empty());
    // The signers of a page come with it.
    let page = pull(s, &t.sue, Cursor::default(), 1 << 20);
    assert!(
        page.signers
            .iter()
            .any(|x| x.device_id == t.amy.device_id && x.user_name == "Amy")
    );
}

/// A newly assigned worker gets the case's history in pages too small for
/// it: every change once, in the order a single large page gives, each
/// page's signers with it (two authors), an item larger than the page alone
/// on its page, and the cursor resuming mid-grant.
pub fn a_grant_comes_whole_in_small_pages(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    // Amy writes, her supervisor writes to the case too, and one item is
    // larger than a whole small page.
    let writes = (40..52u8)
        .map(|c| (&t.amy, c, 300))
        .chain((70..73u8).map(|c| (&t.sue, c, 200)))
        .chain([(&t.amy, 60, 3000)]);
    for (by, client, len) in writes {
        s.push(by, vec![change(client, CASE, 0, by, len)], vec![], NOW)
            .unwrap();
    }
    s.assign(&t.sue, &CASE, "Pat", NOW).unwrap();
    let changes = |entries: &[proto::Entry]| -> Vec<Id> {
        entries
            .iter()
            .filter_map(|e| match &e.item {
                Item::Change(c) => Some(c.client_id),
                _ => None,
            })
            .collect()
    };
    // (From cursor 0 each change comes twice: read as hers, and in the
    // grant; devices apply changes idempotently.)
    let (whole, end) = pull_all(s, &t.pat, Cursor::default(), 1 << 20);
    let distinct: std::collections::BTreeSet<Id> = changes(&whole).into_iter().collect();
    assert_eq!(distinct.len(), 17);
    let mut cursor = Cursor::default();
    let mut paged = Vec::new();
    let mut pages = 0;
    let mut resumed_mid_grant = false;
    let mut big_alone = false;
    loop {
        let page = pull(s, &t.pat, cursor, 1024);
        pages += 1;
        resumed_mid_grant |= page.next.sub > 0;
        let mut bytes = 0;
        for e in &page.entries {
            if let Item::Change(c) = &e.item {
                bytes += c.ciphertext.len();
                big_alone |= c.ciphertext.len() == 3000 && page.entries.len() == 1;
                assert!(
                    page.signers.iter().any(|x| x.device_id == c.author),
                    "a page came without its signer"
                );
            }
        }
        assert!(
            page.entries.len() == 1 || bytes <= 1024,
            "a page of {} entries held {bytes} bytes of changes",
            page.entries.len()
        );
        assert!(
            page.signers
                .windows(2)
                .all(|w| w[0].device_id < w[1].device_id),
            "signers out of order or repeated"
        );
        paged.extend(page.entries);
        cursor = page.next;
        if !page.more {
            break;
        }
        assert!(pages < 100, "the small pages never ended");
    }
    assert!(
        pages >= 4 && resumed_mid_grant && big_alone,
        "{pages} pages"
    );
    assert_eq!(changes(&paged), changes(&whole));
    assert_eq!((cursor.seq, cursor.sub), (end.seq, end.sub));

    // A large page of many items, more than one read's worth of bodies.
    let many: Vec<Change> = (0..300u16)
        .map(|i| {
            let mut c = change(0, CASE, 0, &t.amy, 40);
            c.client_id = [0xc0; 16];
            c.client_id[..2].copy_from_slice(&i.to_be_bytes());
            c
        })
        .collect();
    for batch in many.chunks(100) {
        s.push(&t.amy, batch.to_vec(), vec![], NOW).unwrap();
    }
    let page = pull(s, &t.pat, end, 1 << 20);
    assert!(!page.more);
    let got = changes(&page.entries);
    let sent: Vec<Id> = many.iter().map(|c| c.client_id).collect();
    assert_eq!(got, sent, "a large page lost or reordered items");
}

pub fn envelope_needs(s: &dyn Storage) {
    let t = team(s);
    s.push(
        &t.amy,
        vec![change(1, CASE, 0, &t.amy, 10)],
        vec![envelope(CASE, 0, RECOVERY_RECIPIENT, &t.amy, false)],
        NOW,
    )
    .unwrap();
    // Sue (supervisor of north) needs the key; Amy, who holds it, is asked.
    let page = pull(s, &t.amy, Cursor::default(), 1 << 20);
    let need = page
        .needs
        .iter()
        .find(|n| n.recipient == t.sue.device_id)
        .expect("Sue needs the key");
    assert_eq!(
        (need.case_id, need.epoch, need.kex_pk),
        (CASE, 0, t.sue.kex_pk)
    );
    assert!(
        page.needs
            .iter()
            .all(|n| n.recipient != t.kim.device_id && n.recipient != t.pat.device_id)
    );
    // Not to someone who may not read the case.
    refused_with(
        s.push(
            &t.amy,
            vec![],
            vec![envelope(CASE, 0, t.kim.device_id, &t.amy, false)],
            NOW,
        ),
        ErrorCode::Forbidden,
    );
    // A junk envelope from a device without the key does not meet the need.
    let r = s
        .push(
            &t.sue,
            vec![],
            vec![envelope(CASE, 0, t.sue.device_id, &t.sue, false)],
            NOW,
        )
        .unwrap();
    assert_eq!(r.envelopes_stored, 1);
    assert!(
        pull(s, &t.amy, Cursor::default(), 1 << 20)
            .needs
            .iter()
            .any(|n| n.recipient == t.sue.device_id)
    );
    s.push(
        &t.amy,
        vec![],
        vec![envelope(CASE, 0, t.sue.device_id, &t.amy, false)],
        NOW,
    )
    .unwrap();
    assert!(
        pull(s, &t.amy, Cursor::default(), 1 << 20)
            .needs
            .iter()
            .all(|n| n.recipient != t.sue.device_id)
    );
    // A device enrolled later for a user who may read the case needs it too.
    let sue2 = {
        s.create_invite(
            "Sue",
            Role::Supervisor,
            Some("north"),
            [42; 32],
            NOW + 60,
            NOW,
        )
        .unwrap();
        s.enroll([42; 32], new_device(42), NOW).unwrap();
        s.device(&[42; 16]).unwrap().unwrap()
    };
    let asks_for = |d: &Device, recipient: &Id| {
        pull(s, d, Cursor::default(), 1 << 20)
            .needs
            .iter()
            .any(|n| n.case_id == CASE && n.recipient == *recipient)
    };
    assert!(asks_for(&t.amy, &sue2.device_id));
    // Sue holds the key by Amy's envelope: she is asked too. Pat, of the
    // same team, may not read the case; Kim is of another team.
    assert!(asks_for(&t.sue, &sue2.device_id));
    // Nobody is asked to seal the key back to Amy's device, which made it.
    assert!(!asks_for(&t.sue, &t.amy.device_id));
    assert!(!asks_for(&t.pat, &sue2.device_id));
    assert!(!asks_for(&t.kim, &sue2.device_id));
    // A revoked device is nobody's to seal for.
    s.revoke_device(&sue2.device_id, NOW).unwrap();
    assert!(!asks_for(&t.amy, &sue2.device_id));
    assert!(!asks_for(&t.sue, &sue2.device_id));
    // Sue's device received both envelopes addressed to it.
    let (entries, _) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
    let to_sue = entries
        .iter()
        .filter(|e| matches!(&e.item, Item::Envelope(env) if env.recipient == t.sue.device_id))
        .count();
    assert_eq!(to_sue, 1, "her own junk envelope is not sent back to her");
}

pub fn assign_transfer_and_removal(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    // Who may assign: a supervisor of the team or an admin.
    refused_with(s.assign(&t.amy, &CASE, "Pat", NOW), ErrorCode::Forbidden);
    case_refused(s.assign(&t.kim, &CASE, "Pat", NOW));
    case_refused(s.assign(&t.sue, &[0xee; 16], "Pat", NOW));
    refused_with(
        s.assign(&t.sue, &CASE, "Nobody", NOW),
        ErrorCode::UnknownUser,
    );
    refused_with(s.assign(&t.sue, &CASE, "Ada", NOW), ErrorCode::Forbidden);
    refused_with(s.transfer(&t.sue, &CASE, "Ada", NOW), ErrorCode::Malformed);

    let r = s.assign(&t.sue, &CASE, "Pat", NOW).unwrap();
    assert_eq!((r.user_id, r.devices), (t.pat.user.user_id, 1));
    // Pat gets the case's history whole, whatever her cursor.
    // (From cursor 0 she may get a change twice: read as hers, and in the
    // grant; devices apply changes idempotently.)
    let (entries, end) = pull_all(s, &t.pat, Cursor::default(), 1 << 20);
    let got: std::collections::BTreeSet<Id> = entries
        .iter()
        .filter_map(|e| match &e.item {
            Item::Change(c) => Some(c.client_id),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1);
    // A repeated assign adds nothing to the log.
    s.assign(&t.sue, &CASE, "Pat", NOW).unwrap();
    assert!(pull(s, &t.pat, end, 1 << 20).entries.is_empty());

    // Transfer to Kim's colleague Pat: Amy loses the case, Sue keeps it.
    let (_, amy_end) = pull_all(s, &t.amy, Cursor::default(), 1 << 20);
    let r = s.transfer(&t.ada, &CASE, "Pat", NOW).unwrap();
    assert_eq!(r.user_name, "Pat");
    // Until Amy has pulled past her removal, her offline work is accepted.
    s.push(&t.amy, vec![change(50, CASE, 0, &t.amy, 10)], vec![], NOW)
        .unwrap();
    let (entries, amy_after) = pull_all(s, &t.amy, amy_end, 1 << 20);
    let removals: Vec<_> = entries
        .iter()
        .filter(|e| matches!(e.item, Item::Removed { case_id } if case_id == CASE))
        .collect();
    assert_eq!(removals.len(), 1);
    // The server learns she applied it from the cursor of her next pull.
    s.push(&t.amy, vec![change(51, CASE, 0, &t.amy, 10)], vec![], NOW)
        .unwrap();
    assert!(pull(s, &t.amy, amy_after, 1 << 20).entries.is_empty());
    case_refused(s.push(&t.amy, vec![change(52, CASE, 0, &t.amy, 10)], vec![], NOW));
    // A replayed transfer finds no one left to remove.
    s.transfer(&t.ada, &CASE, "Pat", NOW).unwrap();
    assert!(pull(s, &t.amy, amy_after, 1 << 20).entries.is_empty());
    // Sue (supervisor) still reads it; a rotation is now due for it.
    let (sue_sees, _) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
    assert!(
        sue_sees
            .iter()
            .any(|e| matches!(&e.item, Item::Change(c) if c.client_id == [50; 16]))
    );
    let due = pull(s, &t.sue, Cursor::default(), 1 << 20).rotations;
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].case_id, due[0].epoch), (CASE, 1));
    assert!(
        due[0]
            .recipients
            .iter()
            .all(|r| r.device_id != t.amy.device_id)
    );
    // Refetch: the whole case again for a device that may read it.
    let (_, sue_end) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
    s.refetch(&t.sue, &[CASE], NOW).unwrap();
    s.refetch(&t.sue, &[CASE], NOW).unwrap();
    let (again, _) = pull_all(s, &t.sue, sue_end, 1 << 20);
    assert_eq!(
        again
            .iter()
            .filter(|e| matches!(e.item, Item::Change(_)))
            .count(),
        3
    );
    case_refused(s.refetch(&t.kim, &[CASE], NOW));
}

/// Amy's case transferred to Pat: a rotation is due; Sue (who holds the key)
/// rotates.
pub fn rotation(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    let rotate = |d: &Device, epoch: u32, to: &[Id]| RotateRequest {
        case_id: CASE,
        epoch,
        envelopes: to
            .iter()
            .map(|r| envelope(CASE, epoch, *r, d, true))
            .collect(),
    };
    // Nothing is due yet.
    refused_with(
        s.rotate(&t.sue, &rotate(&t.sue, 1, &[RECOVERY_RECIPIENT]), NOW),
        ErrorCode::Forbidden,
    );
    s.transfer(&t.sue, &CASE, "Pat", NOW).unwrap();
    // Pat does not hold the key yet.
    refused_with(
        s.rotate(&t.pat, &rotate(&t.pat, 1, &[RECOVERY_RECIPIENT]), NOW),
        ErrorCode::Forbidden,
    );
    // Amy lost the case.
    case_refused(s.rotate(&t.amy, &rotate(&t.amy, 1, &[RECOVERY_RECIPIENT]), NOW));
    // Without the recovery key; to someone who may not read; a wrong epoch.
    refused_with(
        s.rotate(&t.sue, &rotate(&t.sue, 1, &[t.pat.device_id]), NOW),
        ErrorCode::Malformed,
    );
    refused_with(
        s.rotate(
            &t.sue,
            &rotate(&t.sue, 1, &[RECOVERY_RECIPIENT, t.amy.device_id]),
            NOW,
        ),
        ErrorCode::Forbidden,
    );
    refused_with(
        s.rotate(&t.sue, &rotate(&t.sue, 2, &[RECOVERY_RECIPIENT]), NOW),
        ErrorCode::StaleEpoch,
    );
    let request = rotate(
        &t.sue,
        1,
        &[RECOVERY_RECIPIENT, t.sue.device_id, t.pat.device_id],
    );
    let r = s.rotate(&t.sue, &request, NOW).unwrap();
    assert_eq!((r.epoch, r.envelopes_stored), (1, 3));
    // The winner retrying: the same answer, nothing stored twice.
    let r = s.rotate(&t.sue, &request, NOW).unwrap();
    assert_eq!((r.epoch, r.envelopes_stored), (1, 0));
    // Anyone else asking for that epoch lost the race.
    let sue2 = {
        s.create_invite(
            "Sue",
            Role::Supervisor,
            Some("north"),
            [42; 32],
            NOW + 60,
            NOW,
        )
        .unwrap();
        s.enroll([42; 32], new_device(42), NOW).unwrap();
        s.device(&[42; 16]).unwrap().unwrap()
    };
    refused_with(
        s.rotate(&sue2, &rotate(&sue2, 1, &[RECOVERY_RECIPIENT]), NOW),
        ErrorCode::StaleEpoch,
    );
    // No longer due.
    assert!(
        pull(s, &t.sue, Cursor::default(), 1 << 20)
            .rotations
            .is_empty()
    );
    // Pat received the new key as it started.
    let (entries, _) = pull_all(s, &t.pat, Cursor::default(), 1 << 20);
    assert!(
        entries
            .iter()
            .any(|e| matches!(&e.item, Item::Envelope(env) if env.epoch == 1 && env.starts_epoch))
    );
    // A change under the old key is stale now; under the new one, stored.
    let r = s
        .push(&t.pat, vec![change(60, CASE, 0, &t.pat, 10)], vec![], NOW)
        .unwrap();
    assert_eq!((r.acks.len(), r.stale.len()), (0, 1));
    let r = s
        .push(&t.pat, vec![change(61, CASE, 1, &t.pat, 10)], vec![], NOW)
        .unwrap();
    assert_eq!(r.acks.len(), 1);
    refused_with(
        s.push(&t.pat, vec![change(62, CASE, 2, &t.pat, 10)], vec![], NOW),
        ErrorCode::StaleEpoch,
    );
    // One new id twice in one push, under the new key then the old: the
    // second is the first one again (stored once, one number), not stale.
    let r = s
        .push(
            &t.pat,
            vec![
                change(63, CASE, 1, &t.pat, 10),
                change(63, CASE, 0, &t.pat, 10),
            ],
            vec![],
            NOW,
        )
        .unwrap();
    assert_eq!((r.acks.len(), r.stale.len()), (2, 0));
    assert_eq!(r.acks[0].seq, r.acks[1].seq);
    // The recovery envelope of epoch 1 is the rotator's alone: another
    // device's is dropped, not stored beside it.
    recovery_envelope_dropped(s, &t.pat, 1);
}

pub fn revocation_makes_rotation_due(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    assert!(
        pull(s, &t.amy, Cursor::default(), 1 << 20)
            .rotations
            .is_empty()
    );
    // Sue's device held the key: revoking it makes a rotation due for Amy.
    s.revoke_device(&t.sue.device_id, NOW).unwrap();
    let due = pull(s, &t.amy, Cursor::default(), 1 << 20).rotations;
    assert_eq!(due.len(), 1);
    assert!(
        due[0]
            .recipients
            .iter()
            .any(|r| r.device_id == RECOVERY_RECIPIENT)
    );
    assert!(
        due[0]
            .recipients
            .iter()
            .all(|r| r.device_id != t.sue.device_id)
    );
    refused_with(
        s.pull(&t.sue, Cursor::default(), 1 << 20),
        ErrorCode::DeviceRevoked,
    );
}

pub fn erasure(s: &dyn Storage) {
    let t = team(s);
    let seq = amy_opens_case(s, &t);
    assert_eq!(
        s.report_erased(&t.amy, &[CASE], NOW).unwrap(),
        0,
        "not erased yet"
    );
    let (_, amy_end) = pull_all(s, &t.amy, Cursor::default(), 1 << 20);
    let erasure = s
        .erase_case(&CASE, "dpo", Some("contract"), NOW + 10)
        .unwrap();
    assert!(erasure.items_deleted.unwrap_or(0) >= 3);
    let told: Vec<&str> = erasure
        .devices
        .iter()
        .map(|d| d.device_id.as_str())
        .collect();
    assert!(told.contains(&hex::encode(t.amy.device_id).as_str()));
    assert!(told.contains(&hex::encode(t.sue.device_id).as_str()));
    assert!(!told.contains(&hex::encode(t.kim.device_id).as_str()));
    assert!(matches!(
        s.erase_case(&CASE, "dpo", None, NOW + 20),
        Err(EraseError::AlreadyErased { .. })
    ));
    assert!(matches!(
        s.erase_case(&[0xee; 16], "dpo", None, NOW),
        Err(EraseError::UnknownCase(_))
    ));
    // Amy is told; nothing of the case is served any more.
    let (entries, _) = pull_all(s, &t.amy, amy_end, 1 << 20);
    assert!(
        entries
            .iter()
            .any(|e| matches!(e.item, Item::Erased { case_id } if case_id == CASE))
    );
    let (sue_sees, _) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
    assert!(
        sue_sees
            .iter()
            .all(|e| e.seq != seq && !matches!(e.item, Item::Change(_)))
    );
    // Her last offline change of it: acknowledged and dropped.
    let r = s
        .push(
            &t.amy,
            vec![change(70, CASE, 0, &t.amy, 10)],
            vec![],
            NOW + 30,
        )
        .unwrap();
    assert_eq!(r.acks.len(), 1);
    // The id is never registered again, even with a recovery envelope.
    case_refused(s.push(
        &t.pat,
        vec![change(71, CASE, 0, &t.pat, 10)],
        vec![envelope(CASE, 0, RECOVERY_RECIPIENT, &t.pat, false)],
        NOW + 30,
    ));
    // Confirmations: once each, only from devices told.
    assert_eq!(s.report_erased(&t.amy, &[CASE], NOW + 40).unwrap(), 1);
    assert_eq!(s.report_erased(&t.amy, &[CASE], NOW + 41).unwrap(), 0);
    assert_eq!(s.report_erased(&t.kim, &[CASE], NOW + 41).unwrap(), 0);
}

pub fn safety_timers(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    let policy = SafetyPolicy::default();
    let check_in = SafetyAction::CheckIn(CheckIn {
        timer_id: [0x77; 16],
        case_id: CASE,
        started_at: NOW,
        until: NOW + 3600,
        note: None,
    });
    let r = s
        .safety(&t.amy, std::slice::from_ref(&check_in), policy, NOW)
        .unwrap();
    assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
    assert_eq!(r.state.timers.len(), 1);
    // A retry changes nothing; Kim may not check in on Amy's case.
    let r = s
        .safety(&t.amy, std::slice::from_ref(&check_in), policy, NOW)
        .unwrap();
    assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
    let r = s
        .safety(
            &t.kim,
            &[SafetyAction::CheckIn(CheckIn {
                timer_id: [0x78; 16],
                case_id: CASE,
                started_at: NOW,
                until: NOW + 60,
                note: None,
            })],
            policy,
            NOW,
        )
        .unwrap();
    assert!(matches!(
        r.outcomes[0],
        SafetyOutcome::Refused {
            code: ErrorCode::Forbidden,
            ..
        }
    ));
    // Sue (her supervisor) sees the timer; Kim does not.
    assert_eq!(
        s.safety(&t.sue, &[], policy, NOW)
            .unwrap()
            .state
            .timers
            .len(),
        1
    );
    assert!(
        s.safety(&t.kim, &[], policy, NOW)
            .unwrap()
            .state
            .timers
            .is_empty()
    );
    // No alert before the deadline and grace; one after, once.
    assert!(s.raise_due_alerts(NOW + 3600, policy).unwrap().is_empty());
    let raised = s
        .raise_due_alerts(NOW + 3600 + policy.grace_secs + 1, policy)
        .unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].team.as_deref(), Some("north"));
    assert!(
        s.raise_due_alerts(NOW + 3600 + policy.grace_secs + 2, policy)
            .unwrap()
            .is_empty()
    );
    let state = s.safety(&t.sue, &[], policy, NOW + 4600).unwrap().state;
    assert_eq!(state.alerts.len(), 1);
    // She checks out: the timer ends, the alert says so.
    let r = s
        .safety(
            &t.amy,
            &[SafetyAction::CheckOut {
                timer_id: [0x77; 16],
                at: NOW + 4700,
            }],
            policy,
            NOW + 4700,
        )
        .unwrap();
    assert_eq!(r.outcomes, vec![SafetyOutcome::Done]);
    let state = s.safety(&t.sue, &[], policy, NOW + 4800).unwrap().state;
    assert!(state.timers.is_empty());
    assert!(state.alerts.iter().all(|a| a.checked_out_at.is_some()));
    // Without a webhook nothing is queued for delivery.
    assert!(s.webhook_due(NOW + 10_000, 10).unwrap().is_empty());
    s.prune_safety(NOW + 400 * 86_400).unwrap();
}

/// A case the device may not use and one that does not exist get the same
/// answer, on every path.
pub fn access_is_refused_alike(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    let unknown: Id = [0xee; 16];
    for case in [CASE, unknown] {
        case_refused(s.push(
            &t.kim,
            vec![],
            vec![envelope(case, 0, t.kim.device_id, &t.kim, false)],
            NOW,
        ));
        case_refused(s.refetch(&t.kim, &[case], NOW));
        case_refused(s.transfer(&t.kim, &case, "Kim", NOW));
    }
    // Kim's push of a change to Amy's case.
    case_refused(s.push(&t.kim, vec![change(80, CASE, 0, &t.kim, 10)], vec![], NOW));
    // Reports name only items in the log, for the case they name.
    let n = s
        .report_rejected(
            &t.sue,
            &[proto::Rejected {
                case_id: CASE,
                seq: 1_000_000,
                signer: t.amy.device_id,
                reason: proto::RejectReason::BadSignature,
            }],
            NOW,
        )
        .unwrap();
    assert_eq!(n, 0);
}

/// A snapshot stands in for the history it covers: in the place of the last
/// covered change, so a device already past it gets nothing again and a
/// device starting afresh gets the snapshot then what came after, once.
pub fn compaction(s: &dyn Storage) {
    let t = team(s);
    let mut seqs = vec![amy_opens_case(s, &t)];
    for i in 0..10u8 {
        let r = s
            .push(
                &t.amy,
                vec![change(10 + i, CASE, 0, &t.amy, 200)],
                vec![],
                NOW,
            )
            .unwrap();
        seqs.push(r.acks[0].seq);
    }
    let last = *seqs.last().unwrap();
    let (_, sue_end) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
    let snapshot = change(99, CASE, 0, &t.amy, 500);
    let r = s.compact(&t.amy, &snapshot, last, NOW).unwrap();
    assert_eq!((r.case_id, r.seq, r.dropped), (CASE, last, 10));
    // Sue was past it: nothing again.
    let (again, _) = pull_all(s, &t.sue, sue_end, 1 << 20);
    assert!(again.is_empty(), "{again:?}");
    // From the start: the snapshot alone, where the last change was.
    let changes = |from: Cursor| -> Vec<(u64, Id)> {
        pull_all(s, &t.sue, from, 1 << 20)
            .0
            .into_iter()
            .filter_map(|e| match e.item {
                Item::Change(c) => Some((e.seq, c.client_id)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(changes(Cursor::default()), vec![(last, [99; 16])]);
    // From the middle of what was replaced: the snapshot too.
    let mid = Cursor {
        seq: seqs[4],
        sub: 0,
    };
    assert_eq!(changes(mid), vec![(last, [99; 16])]);
    // Later changes follow it, once.
    let later = s
        .push(&t.amy, vec![change(50, CASE, 0, &t.amy, 200)], vec![], NOW)
        .unwrap()
        .acks[0]
        .seq;
    assert_eq!(
        changes(Cursor::default()),
        vec![(last, [99; 16]), (later, [50; 16])]
    );
    // A retry is answered the same and changes nothing.
    let retry = s.compact(&t.amy, &snapshot, last, NOW).unwrap();
    assert_eq!((retry.seq, retry.dropped), (last, 0));
    // Nothing left to replace: nothing done.
    let lone = s
        .compact(&t.amy, &change(98, CASE, 0, &t.amy, 500), last, NOW)
        .unwrap();
    assert_eq!((lone.seq, lone.dropped), (0, 0));
    // Who may not: another team, a colleague not on the case, an admin;
    // and a snapshot not under the current key.
    for who in [&t.kim, &t.pat, &t.ada] {
        refused_with(
            s.compact(who, &change(97, CASE, 0, who, 10), later, NOW),
            ErrorCode::Forbidden,
        );
    }
    refused_with(
        s.compact(&t.amy, &change(96, CASE, 1, &t.amy, 10), later, NOW),
        ErrorCode::StaleEpoch,
    );
    assert_eq!(
        changes(Cursor::default()),
        vec![(last, [99; 16]), (later, [50; 16])],
        "refusals changed nothing"
    );
    // The replaced changes are kept aside for their window, then purged.
    let day = 86_400;
    assert_eq!(s.purge_superseded(NOW + 29 * day).unwrap(), 0);
    assert_eq!(s.purge_superseded(NOW + 31 * day).unwrap(), 11);
}

/// A device's storage quota: the push that would pass it is refused whole
/// (its change and its envelope), nothing of it is stored, a retry of an
/// upload already stored still goes through (it adds nothing), and other
/// devices are not held to it.
pub fn the_quota_refuses_a_push_whole(s: &dyn Storage) {
    let t = team(s);
    amy_opens_case(s, &t);
    s.set_device_quota(20_000);
    // Each push registers a case of its own: a change and a new recovery
    // envelope, both counted.
    let push = |n: u8| {
        let case: Id = [n; 16];
        s.push(
            &t.amy,
            vec![change(n, case, 0, &t.amy, 1_000)],
            vec![envelope(case, 0, RECOVERY_RECIPIENT, &t.amy, false)],
            NOW,
        )
    };
    let stored = |s: &dyn Storage| {
        let (entries, _) = pull_all(s, &t.sue, Cursor::default(), 1 << 20);
        let count = |f: fn(&Item) -> bool| entries.iter().filter(|e| f(&e.item)).count();
        (
            count(|i| matches!(i, Item::Change(_))),
            count(|i| matches!(i, Item::Envelope(_))),
        )
    };
    let mut refused_at = None;
    for n in 10..40u8 {
        match push(n) {
            Ok(_) => {}
            Err(StorageError::Refused(ErrorCode::QuotaExceeded, _)) => {
                refused_at = Some(n);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Where it falls: the bodies of every item stored, counted exactly.
    let bytes = |n: u8, case: Id, len: usize, to: Vec<Id>| {
        let c = change(n, case, 0, &t.amy, len);
        proto::encode(&proto::ItemOf::Change(&c)).len()
            + to.iter()
                .map(|r| {
                    proto::encode(&proto::ItemOf::Envelope(&envelope(
                        case, 0, *r, &t.amy, false,
                    )))
                    .len()
                })
                .sum::<usize>()
    };
    let mut used = bytes(1, CASE, 100, vec![RECOVERY_RECIPIENT, t.sue.device_id]);
    let mut expected = 10u8;
    loop {
        used += bytes(expected, [expected; 16], 1_000, vec![RECOVERY_RECIPIENT]);
        if used > 20_000 {
            break;
        }
        expected += 1;
    }
    let n = refused_at.expect("refused once past 20,000 bytes");
    assert_eq!(n, expected, "changes and envelopes both counted, once");
    let before = stored(s);
    refused_with(push(n), ErrorCode::QuotaExceeded);
    refused_with(push(n + 1), ErrorCode::QuotaExceeded);
    // A visit to a case she has, too (PostgreSQL decides such a push
    // without its own lookups: the quota must hold there as well).
    refused_with(
        s.push(
            &t.amy,
            vec![change(98, CASE, 0, &t.amy, 5_000)],
            vec![],
            NOW,
        ),
        ErrorCode::QuotaExceeded,
    );
    assert_eq!(stored(s), before, "the refused pushes stored nothing");
    // Her device's first push again (a retry): already stored, so it adds
    // nothing and is answered as before — even with the quota lowered
    // below what she has stored.
    s.set_device_quota(10_000);
    push(10).unwrap();
    assert_eq!(stored(s), before);
    // Sue's device has used nothing.
    s.push(
        &t.sue,
        vec![change(99, CASE, 0, &t.sue, 1_000)],
        vec![],
        NOW,
    )
    .unwrap();
}
