//! Lone-working safety on the device, against a scripted server: actions are
//! queued durably before anything is sent, sent in order with the note
//! sealed under the case key (never in clear), a refusal is one error and
//! keeps nothing, a network failure keeps everything (and says no one will
//! be alerted), and the state the server sends is what the views show.

use std::cell::RefCell;
use std::path::Path;

use outreach_core::Error;
use outreach_core::case::model::CaseEdit;
use outreach_core::crypto::{self, KdfParams};
use outreach_core::safety::CheckInState;
use outreach_core::sync::{self, Transport};
use outreach_core::vault::{Vault, VaultOptions};
use outreach_protocol::{
    self as proto, ApiError, EnrollResponse, ErrorCode, Role, SafetyAction, SafetyOutcome,
    SafetyRequest, SafetyResponse, SafetyState, SafetyTimer,
};

const PASS: &str = "correct horse battery";
const ORG: [u8; 16] = [7; 16];
const ME: [u8; 16] = [1; 16];
const NOTE: &str = "Flat 9 Rowan Court; her partner may be home";

fn enrolled(dir: &Path) -> Vault {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Sam".into(),
        team: None,
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    v.enrolment_request("code").unwrap();
    let recovery_pk = crypto::recovery_public_key(&[5; 32]).unwrap();
    let resp = EnrollResponse {
        org_id: ORG,
        org_name: "Council".into(),
        user_id: ME,
        user_name: "Sam".into(),
        role: Role::Practitioner,
        team: Some("North".into()),
        recovery_pk,
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    v
}

/// What the scripted server does with `/v1/safety`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Refuse,
    Offline,
}

/// A scripted server: acknowledges every push, answers pulls with nothing,
/// and keeps the safety timers it accepted (or refuses, or is offline).
struct Scripted {
    mode: RefCell<Mode>,
    seen: RefCell<Vec<SafetyAction>>,
    timers: RefCell<Vec<SafetyTimer>>,
}

impl Scripted {
    fn new(mode: Mode) -> Self {
        Self {
            mode: RefCell::new(mode),
            seen: RefCell::default(),
            timers: RefCell::default(),
        }
    }
}

impl Transport for Scripted {
    fn post(&self, path: &str, body: &[u8], auth: Option<&str>) -> outreach_core::Result<Vec<u8>> {
        match self.post_or_refusal(path, body, auth)? {
            Ok(b) => Ok(b),
            Err(e) => Err(Error::ServerRefused(e.message)),
        }
    }

    fn post_or_refusal(
        &self,
        path: &str,
        body: &[u8],
        _: Option<&str>,
    ) -> outreach_core::Result<Result<Vec<u8>, ApiError>> {
        match path {
            proto::PATH_PUSH => {
                let req: proto::PushRequest = proto::decode(body).unwrap();
                let acks = req
                    .changes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| proto::Ack {
                        client_id: c.client_id,
                        seq: i as u64 + 1,
                    })
                    .collect();
                Ok(Ok(proto::encode(&proto::PushResponse {
                    acks,
                    ..Default::default()
                })))
            }
            proto::PATH_PULL => Ok(Ok(proto::encode(&proto::PullResponse {
                safety: SafetyState {
                    alerts: vec![],
                    timers: self.timers.borrow().clone(),
                },
                ..Default::default()
            }))),
            proto::PATH_SAFETY => {
                let mode = *self.mode.borrow();
                if mode == Mode::Offline {
                    return Err(Error::ServerUnreachable("connection refused".into()));
                }
                let req: SafetyRequest = proto::decode(body).unwrap();
                let mut outcomes = Vec::new();
                for a in req.actions {
                    self.seen.borrow_mut().push(a.clone());
                    if mode == Mode::Refuse {
                        outcomes.push(SafetyOutcome::Refused {
                            code: ErrorCode::Forbidden,
                            message: "this device may not write or read that case".into(),
                        });
                        continue;
                    }
                    let mut timers = self.timers.borrow_mut();
                    match a {
                        SafetyAction::CheckIn(c) => timers.push(SafetyTimer {
                            timer_id: c.timer_id,
                            case_id: c.case_id,
                            user_id: ME,
                            user_name: "Sam".into(),
                            team: Some("North".into()),
                            device_id: [0; 16],
                            started_at: c.started_at,
                            until: c.until,
                            alert_at: c.until + 900,
                            note: c.note,
                        }),
                        SafetyAction::Extend {
                            timer_id, until, ..
                        } => {
                            for t in timers.iter_mut().filter(|t| t.timer_id == timer_id) {
                                t.until = until;
                                t.alert_at = until + 900;
                            }
                        }
                        SafetyAction::CheckOut { timer_id, .. } => {
                            timers.retain(|t| t.timer_id != timer_id)
                        }
                        SafetyAction::Acknowledge { .. } => {}
                    }
                    outcomes.push(SafetyOutcome::Done);
                }
                Ok(Ok(proto::encode(&SafetyResponse {
                    outcomes,
                    state: SafetyState {
                        alerts: vec![],
                        timers: self.timers.borrow().clone(),
                    },
                })))
            }
            _ => Err(Error::ServerUnreachable(path.into())),
        }
    }
}

fn new_case(v: &mut Vault) -> String {
    v.create_case(&CaseEdit {
        preferred_name: Some("Jasmine".into()),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_check_in_is_queued_then_sent_with_its_note_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = enrolled(&tmp.path().join("v"));
    let case = new_case(&mut v);
    let server = Scripted::new(Mode::Offline);

    // Offline: kept, and said to be not sent.
    let r = sync::check_in(&mut v, &server, &case, "+90m", Some(NOTE)).unwrap();
    assert!(!r.sent);
    assert!(r.alert_at.is_none());
    assert!(
        r.not_sent_because
            .as_deref()
            .unwrap()
            .contains("no connection")
    );
    let status = v.safety_status().unwrap();
    assert_eq!(status.unsent, 1);
    assert_eq!(status.check_ins[0].state, CheckInState::NotSent);
    assert_eq!(status.check_ins[0].note.as_deref(), Some(NOTE));
    // The note is not in the vault file in clear.
    let db = std::fs::read(tmp.path().join("v").join("outreach.db")).unwrap();
    let wal = std::fs::read(tmp.path().join("v").join("outreach.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(5).any(|w| w == b"Rowan"));
    }

    // Back online: a sync sends it (the case is uploaded first).
    *server.mode.borrow_mut() = Mode::Accept;
    sync::sync(&mut v, &server, &mut ()).unwrap();
    let status = v.safety_status().unwrap();
    assert_eq!(status.unsent, 0);
    assert_eq!(status.check_ins[0].state, CheckInState::Active);
    assert!(status.check_ins[0].alert_at.is_some());
    let seen = server.seen.borrow().clone();
    let [SafetyAction::CheckIn(c)] = seen.as_slice() else {
        panic!("one check-in sent: {seen:?}");
    };
    // Sealed under the case key: opens with it, and nothing in clear.
    let sealed = c.note.clone().unwrap();
    assert!(!sealed.ciphertext.windows(5).any(|w| w == b"Rowan"));
    assert_eq!(c.case_id, *uuid::Uuid::parse_str(&case).unwrap().as_bytes());
    assert!(c.until > c.started_at);

    // Extend and check out, both sent at once.
    let e = sync::extend_check_in(&mut v, &server, None, "30m").unwrap();
    assert!(e.sent && e.until > r.until);
    assert!(matches!(
        sync::check_in(&mut v, &server, &case, "+1h", None),
        Err(Error::AlreadyCheckedIn)
    ));
    let out = sync::check_out(&mut v, &server, Some(&case)).unwrap();
    assert!(out.sent);
    assert!(v.safety_status().unwrap().check_ins.is_empty());
    assert!(matches!(
        sync::check_out(&mut v, &server, None),
        Err(Error::NotCheckedIn)
    ));
}

#[test]
fn a_check_in_the_server_refuses_is_an_error_and_kept_nowhere() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = enrolled(&tmp.path().join("v"));
    let case = new_case(&mut v);
    let server = Scripted::new(Mode::Refuse);
    let err = sync::check_in(&mut v, &server, &case, "+1h", None).unwrap_err();
    assert!(
        matches!(&err, Error::SafetyRefused { what: "check-in", reason } if reason.contains("may not")),
        "{err}"
    );
    assert_eq!(err.to_string().lines().count(), 1);
    let status = v.safety_status().unwrap();
    assert_eq!(status.unsent, 0);
    assert!(status.check_ins.is_empty());
    assert_eq!(status.refused.len(), 1);
    // Nothing to check out: it never existed.
    assert!(matches!(v.check_out(None, None), Err(Error::NotCheckedIn)));
}

#[test]
fn bad_input_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = enrolled(&tmp.path().join("v"));
    let case = new_case(&mut v);
    for (until, field) in [("00:00", "until"), ("+25h", "until"), ("noon", "until")] {
        match v.check_in(&case, until, None) {
            Err(Error::Invalid(e)) => assert_eq!(e.field, field),
            other => panic!("{until}: {other:?}"),
        }
    }
    let long = "x".repeat(1001);
    assert!(matches!(
        v.check_in(&case, "+1h", Some(&long)),
        Err(Error::Invalid(e)) if e.field == "note"
    ));
    assert!(matches!(
        v.check_in("ffff", "+1h", None),
        Err(Error::UnknownCase)
    ));
    assert!(matches!(
        v.extend_check_in(None, "30m"),
        Err(Error::NotCheckedIn)
    ));
    assert!(matches!(
        v.acknowledge_alert("abcd"),
        Err(Error::NotAllowedToAcknowledge)
    ));
    assert_eq!(v.safety_unsent().unwrap(), 0);
    assert!(v.safety_status().unwrap().check_ins.is_empty());

    // A vault never enrolled cannot check in: no one could be alerted.
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: "Jo".into(),
        team: None,
    };
    let mut lone = Vault::create(&tmp.path().join("lone"), PASS, opts, None).unwrap();
    let c = new_case(&mut lone);
    assert!(matches!(
        lone.check_in(&c, "+1h", None),
        Err(Error::NotEnrolled)
    ));
}
