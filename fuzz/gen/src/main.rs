//! Writes the seed corpus: a handful of valid inputs per fuzz target, so the
//! fuzzer starts from real messages, sealed values and documents instead of
//! having to discover their formats. Sealing uses fresh nonces and device
//! keys are random, so the bytes differ from run to run; what each seed is
//! does not.

#[allow(dead_code)] // shared with the fuzz targets, which use all of it
#[path = "../../src/lib.rs"]
mod fixtures;

use std::fs;
use std::path::{Path, PathBuf};

use fixtures::*;
use outreach_core::case::doc::{CaseDoc, Patch};
use outreach_core::crypto::{self, DeviceKeys, SecretKey};
use outreach_protocol::{self as proto, *};
use serde_json::json;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus folder");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus"));
    wire_messages(&root.join("wire_messages"));
    sealed_value(&root.join("sealed_value"));
    automerge_from_peer(&root.join("automerge_from_peer"));
    check(&root);
    println!("corpus written to {}", root.display());
}

/// Every seed is what it claims to be: the messages decode, the sealed
/// values and the envelope open under the targets' fixed keys, and the
/// Automerge seeds load (or apply, with the one missing dependency).
fn check(root: &Path) {
    let read = |target: &str, name: &str| fs::read(root.join(target).join(name)).expect("seed");
    let wire = |name: &str| read("wire_messages", name);
    assert!(proto::decode::<PullResponse>(&wire("pull_response")).is_ok());
    assert!(proto::decode::<PushRequest>(&wire("push_request")).is_ok());
    assert!(proto::decode::<EnrollRequest>(&wire("enroll_request")).is_ok());
    assert!(proto::decode::<SafetyRequest>(&wire("safety_request")).is_ok());
    assert!(proto::decode::<SafetyResponse>(&wire("safety_response")).is_ok());
    let header = String::from_utf8(wire("auth_header")).expect("ascii");
    assert!(proto::parse_auth_header(&header).is_some());

    let sealed = |name: &str| read("sealed_value", name);
    let change = sealed("sealed_change");
    assert!(crypto::open(seal_key(), &seal_aad(), &change[1..]).is_ok());
    let identity = sealed("sealed_identity");
    assert!(DeviceKeys::open(&identity[1..], seal_key(), &identity_aad()).is_ok());
    let envelope = sealed("envelope");
    let enc_len = usize::from(envelope[1]);
    let (enc, ct) = envelope[2..].split_at(enc_len);
    let (sk, _) = recovery_keypair();
    assert!(
        crypto::open_envelope_with_recovery_key(
            sk,
            enc,
            ct,
            ENVELOPE_INFO,
            &fixtures::envelope_aad()
        )
        .is_ok()
    );

    let doc = |name: &str| read("automerge_from_peer", name);
    for name in [
        "peer_document",
        "merged_conflict_document",
        "new_case_document",
    ] {
        let d = CaseDoc::load(&ACTOR, Some(&doc(name)), std::iter::empty()).expect(name);
        d.read().expect(name);
    }
    let mut new = CaseDoc::load(&ACTOR, None, [doc("new_case_changes").as_slice()]).expect("new");
    assert!(new.missing_deps().is_empty());
    let mut ours =
        CaseDoc::load(&ACTOR, Some(small_case_bytes()), std::iter::empty()).expect("base");
    ours.apply_changes(&doc("changes_visit_and_edit"))
        .expect("changes apply");
    assert!(ours.missing_deps().is_empty());
    assert_eq!(ours.read().expect("read").visits.len(), 2);
    let mut ours =
        CaseDoc::load(&ACTOR, Some(small_case_bytes()), std::iter::empty()).expect("base");
    ours.apply_changes(&doc("change_missing_dep"))
        .expect("queued");
    assert!(!ours.missing_deps().is_empty());
}

/// A safety state with one alert and one check-in (a sealed note).
fn safety_state(device_id: Id) -> SafetyState {
    SafetyState {
        alerts: vec![SafetyAlert {
            alert_id: [0x32; 16],
            timer_id: [0x33; 16],
            case_id: CASE,
            user_id: [0x66; 16],
            user_name: "Sam".into(),
            team: Some("north".into()),
            due: 1_790_000_000,
            raised_at: 1_790_000_900,
            checked_out_at: None,
            acked_at: Some(1_790_001_000),
            acked_by: Some("Ali".into()),
        }],
        timers: vec![SafetyTimer {
            timer_id: [0x31; 16],
            case_id: CASE,
            user_id: [0x66; 16],
            user_name: "Sam".into(),
            team: Some("north".into()),
            device_id,
            started_at: 1_790_000_000,
            until: 1_790_005_400,
            alert_at: 1_790_006_300,
            note: Some(SealedNote {
                epoch: EPOCH,
                ciphertext: vec![0xcd; 97],
            }),
        }],
    }
}

fn wire_messages(dir: &Path) {
    let device = DeviceKeys::generate().expect("device keys");
    let device_id: Id = [0x55; 16];
    let code = "ABCD-EFGH-JKLM".to_string();
    let enroll = EnrollRequest {
        signature: device
            .sign(&proto::enroll_message(
                &code,
                &device_id,
                &device.sign_pk(),
                &device.kex_pk(),
            ))
            .to_vec(),
        code,
        device_id,
        sign_pk: device.sign_pk(),
        kex_pk: device.kex_pk(),
    };
    write(dir, "enroll_request", &proto::encode(&enroll));
    write(
        dir,
        "enroll_response",
        &proto::encode(&EnrollResponse {
            org_id: ORG,
            org_name: "Pause North".into(),
            user_id: [0x66; 16],
            user_name: "Sam".into(),
            role: Role::Supervisor,
            team: Some("north".into()),
            recovery_pk: recovery_keypair().1,
        }),
    );

    let ciphertext = vec![0xab; 120];
    let client_id: Id = [0x77; 16];
    let change = Change {
        client_id,
        case_id: CASE,
        epoch: EPOCH,
        author: device_id,
        signature: device
            .sign(&proto::change_message(
                &CASE,
                EPOCH,
                &device_id,
                &client_id,
                &ciphertext,
            ))
            .to_vec(),
        ciphertext,
    };
    let (enc, ct) = (vec![0x01; 32], vec![0x02; 48]);
    let envelope = Envelope {
        case_id: CASE,
        epoch: EPOCH,
        recipient: RECIPIENT,
        sealed_by: device_id,
        starts_epoch: false,
        signature: device
            .sign(&proto::envelope_message(
                &CASE, EPOCH, &RECIPIENT, &device_id, false, &enc, &ct,
            ))
            .to_vec(),
        enc,
        ciphertext: ct,
    };
    write(dir, "change", &proto::encode(&change));
    write(dir, "envelope", &proto::encode(&envelope));
    write(
        dir,
        "push_request",
        &proto::encode(&PushRequest {
            changes: vec![change.clone()],
            envelopes: vec![envelope.clone()],
        }),
    );
    write(
        dir,
        "push_response",
        &proto::encode(&PushResponse {
            acks: vec![Ack {
                client_id,
                seq: 4242,
            }],
            envelopes_stored: 1,
            stale: vec![[0x55; 16]],
        }),
    );
    write(
        dir,
        "pull_request",
        &proto::encode(&PullRequest {
            cursor: Cursor { seq: 300, sub: 2 },
            max_bytes: DEFAULT_PULL_BYTES,
        }),
    );
    write(
        dir,
        "pull_response",
        &proto::encode(&PullResponse {
            entries: vec![
                Entry {
                    seq: 1,
                    item: Item::Envelope(envelope.clone()),
                },
                Entry {
                    seq: 2,
                    item: Item::Change(change),
                },
                Entry {
                    seq: 3,
                    item: Item::Removed {
                        case_id: [0x88; 16],
                    },
                },
            ],
            signers: vec![Signer {
                device_id,
                sign_pk: device.sign_pk(),
                user_id: [0x66; 16],
                user_name: "Sam".into(),
                role: Role::Practitioner,
                team: Some("north".into()),
                revoked_at: Some(1_790_000_000),
            }],
            needs: vec![EnvelopeNeed {
                case_id: CASE,
                epoch: EPOCH,
                recipient: RECIPIENT,
                kex_pk: device.kex_pk(),
            }],
            next: Cursor { seq: 3, sub: 0 },
            more: true,
            rotations: vec![RotationDue {
                case_id: CASE,
                epoch: EPOCH + 1,
                recipients: vec![Recipient {
                    device_id: RECIPIENT,
                    kex_pk: device.kex_pk(),
                }],
            }],
            safety: safety_state(device_id),
            log_id: [0x77; 16],
        }),
    );
    let check_in = CheckIn {
        timer_id: [0x31; 16],
        case_id: CASE,
        started_at: 1_790_000_000,
        until: 1_790_005_400,
        note: Some(SealedNote {
            epoch: EPOCH,
            ciphertext: vec![0xcd; 97],
        }),
    };
    write(
        dir,
        "safety_request",
        &proto::encode(&SafetyRequest {
            actions: vec![
                SafetyAction::CheckIn(check_in),
                SafetyAction::Extend {
                    timer_id: [0x31; 16],
                    until: 1_790_007_200,
                    at: 1_790_005_000,
                },
                SafetyAction::CheckOut {
                    timer_id: [0x31; 16],
                    at: 1_790_006_000,
                },
                SafetyAction::Acknowledge {
                    alert_id: [0x32; 16],
                },
            ],
        }),
    );
    write(
        dir,
        "safety_response",
        &proto::encode(&SafetyResponse {
            outcomes: vec![
                SafetyOutcome::Done,
                SafetyOutcome::Refused {
                    code: ErrorCode::Forbidden,
                    message: "this device may not write or read that case".into(),
                },
            ],
            state: safety_state(device_id),
        }),
    );
    let assign = AssignRequest {
        case_id: CASE,
        user: "kim".into(),
    };
    write(dir, "assign_request", &proto::encode(&assign));
    write(
        dir,
        "rotate_request",
        &proto::encode(&RotateRequest {
            case_id: CASE,
            epoch: EPOCH + 1,
            envelopes: vec![Envelope {
                starts_epoch: true,
                epoch: EPOCH + 1,
                ..envelope.clone()
            }],
        }),
    );
    write(
        dir,
        "transfer_request",
        &proto::encode(&TransferRequest {
            case_id: CASE,
            user: "kim".into(),
        }),
    );
    write(
        dir,
        "transfer_response",
        &proto::encode(&TransferResponse {
            user_id: [0x99; 16],
            user_name: "Kim".into(),
            devices: 2,
        }),
    );
    write(
        dir,
        "refetch_request",
        &proto::encode(&RefetchRequest {
            cases: vec![CASE, [0x88; 16]],
        }),
    );
    write(
        dir,
        "reject_report",
        &proto::encode(&RejectReport {
            items: vec![Rejected {
                case_id: CASE,
                seq: 7,
                signer: device_id,
                reason: RejectReason::DoesNotApply,
            }],
        }),
    );
    write(
        dir,
        "api_error",
        &proto::encode(&ApiError {
            code: ErrorCode::ClockSkew,
            message: "the request's clock is 301 s off".into(),
        }),
    );
    let body = proto::encode(&assign);
    let (ts, nonce, body_hash) = (1_790_000_000, [0x5c; NONCE_LEN], proto::body_hash(&body));
    let auth = RequestAuth {
        device: device_id,
        ts,
        nonce,
        body_hash,
        sig: device
            .sign(&proto::request_message(
                "POST",
                PATH_ASSIGN,
                ts,
                &nonce,
                &body_hash,
            ))
            .to_vec(),
    };
    write(dir, "auth_header", auth.header().as_bytes());
}

fn sealed_value(dir: &Path) {
    let sealed = |aad: &crypto::Aad<'_>, plain: &[u8]| {
        let mut out = vec![0u8];
        out.extend(crypto::seal(seal_key(), aad, plain).expect("seal"));
        out
    };
    let mut visit = SEAL_MARKER.to_vec();
    visit.extend_from_slice(b"{\"note\":\"visit\"}");
    write(dir, "sealed_change", &sealed(&seal_aad(), &visit));
    write(dir, "sealed_empty", &sealed(&seal_aad(), SEAL_MARKER));
    // A sealed device identity: 64 bytes of seeds.
    let mut seeds = SEAL_MARKER.to_vec();
    seeds.resize(64, 0x5a);
    write(dir, "sealed_identity", &sealed(&identity_aad(), &seeds));

    // Case-key envelopes to the fixed recovery key: mode byte, enc length,
    // enc, ciphertext.
    let case_key = SecretKey::generate().expect("case key");
    let (_, pk) = recovery_keypair();
    let (enc, ct) = crypto::seal_envelope(&case_key, pk, ENVELOPE_INFO, &fixtures::envelope_aad())
        .expect("envelope");
    let mut envelope = vec![1u8, u8::try_from(enc.len()).unwrap_or(u8::MAX)];
    envelope.extend(&enc);
    envelope.extend(&ct);
    write(dir, "envelope", &envelope);
    let mut short_enc = vec![1u8, 31];
    short_enc.extend(&enc[..31]);
    short_enc.extend(&ct);
    write(dir, "envelope_short_enc", &short_enc);
}

fn automerge_from_peer(dir: &Path) {
    // A peer's replica of the case held here, with changes since.
    let mut base = small_case(&ACTOR);
    let base_heads = base.heads();
    let mut peer = base.fork(&PEER_ACTOR);
    peer.apply(
        &author("Kim", "e0e0"),
        "visit recorded",
        at(),
        &[Patch::new(
            ["visits", "v2"],
            json!({"kind": "phone", "outcome": "no-answer", "at": "2026-09-23T09:00:00Z",
                   "note": "no answer", "present": ["Jo"]}),
        )],
    )
    .expect("peer visit");
    let after_visit = peer.heads();
    peer.apply(
        &author("Kim", "e0e0"),
        "profile edited",
        at(),
        &[Patch::new(
            ["profile"],
            json!({"phone": "0222", "address": "1 High St"}),
        )],
    )
    .expect("peer edit");
    // As uploaded by sync: the changes since what both had.
    write(dir, "changes_visit_and_edit", &peer.save_after(&base_heads));
    // Only the second change: its dependency is missing.
    write(dir, "change_missing_dep", &peer.save_after(&after_visit));
    // A whole document from a peer (import / merge).
    write(dir, "peer_document", &peer.save());

    // Concurrent edit here of the same field: a conflict after merging.
    base.apply(
        &author("Sam", "d0d0"),
        "profile edited",
        at(),
        &[Patch::new(["profile"], json!({"phone": "0333"}))],
    )
    .expect("local edit");
    base.merge(&mut peer).expect("merge");
    write(dir, "merged_conflict_document", &base.save());

    // A case this device does not hold: its whole history as changes (the
    // first upload of a new case), and as a document.
    let mut other = CaseDoc::create(
        &PEER_ACTOR,
        "88888888-8888-4888-8888-888888888888",
        &author("Kim", "e0e0"),
        at(),
        &[Patch::new(
            Vec::<String>::new(),
            json!({"profile": {"preferred_name": "Alex"}, "programme": {"phase": "engagement"}}),
        )],
    )
    .expect("other case");
    write(dir, "new_case_changes", &other.save_after(&[]));
    write(dir, "new_case_document", &other.save());
}
