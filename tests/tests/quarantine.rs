//! An enrolled insider's device sends garbage; a stored item is damaged on
//! the server. The honest devices' syncs still complete with every honest
//! change, each bad item is quarantined on the device that received it, and
//! the organisation's admin can list what was reported — never content.

use ed25519_dalek::{Signer as _, SigningKey};
use outreach_core::crypto::{self, SecretKey};
use outreach_core::sync::{HttpTransport, Transport};
use outreach_core::vault::CaseSyncState;
use outreach_protocol::{self as proto, Change, EnrollRequest, EnrollResponse, Envelope, Id};
use outreach_tests::harness::{Device, Server, new_case, visit};
use outreach_tests::http::now;

/// A device enrolled with keys the test holds, so it can sign anything an
/// enrolled device could: the attacker, built from the protocol's own types.
struct Insider {
    key: SigningKey,
    device: Id,
    http: HttpTransport,
    enrolled: EnrollResponse,
}

impl Insider {
    fn enrol(server: &Server, code: &str, seed: u8) -> Insider {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let device = [seed; 16];
        let sign_pk = key.verifying_key().to_bytes();
        let kex_pk = [seed.wrapping_add(1); 32];
        let m = proto::enroll_message(code, &device, &sign_pk, &kex_pk);
        let request = EnrollRequest {
            code: code.into(),
            device_id: device,
            sign_pk,
            kex_pk,
            signature: key.sign(&m).to_bytes().to_vec(),
        };
        let http = HttpTransport::new(&server.url(), true).unwrap();
        let reply = http
            .post(proto::PATH_ENROLL, &proto::encode(&request), None)
            .unwrap();
        Insider {
            key,
            device,
            http,
            enrolled: proto::decode(&reply).unwrap(),
        }
    }

    fn post(&self, path: &str, body: &[u8]) -> outreach_core::Result<Vec<u8>> {
        let mut auth = proto::RequestAuth {
            device: self.device,
            ts: now(),
            nonce: crypto::random_id().unwrap(),
            body_hash: proto::body_hash(body),
            sig: Vec::new(),
        };
        auth.sig = self
            .key
            .sign(&auth.message("POST", path))
            .to_bytes()
            .to_vec();
        self.http.post(path, body, Some(&auth.header()))
    }

    fn change(&self, case: Id, ciphertext: Vec<u8>) -> Change {
        let client_id = crypto::random_id().unwrap();
        let m = proto::change_message(&case, 0, &self.device, &client_id, &ciphertext);
        Change {
            client_id,
            case_id: case,
            epoch: 0,
            author: self.device,
            ciphertext,
            signature: self.key.sign(&m).to_bytes().to_vec(),
        }
    }

    /// An envelope for `to` that opens with no one's key.
    fn junk_envelope(&self, case: Id, to: Id) -> Envelope {
        let aad = proto::envelope_aad(&self.enrolled.org_id, &case, 0, &to);
        let (enc, ciphertext) = crypto::seal_envelope(
            &SecretKey::generate().unwrap(),
            &[0x42; 32],
            proto::ENVELOPE_INFO,
            &aad,
        )
        .unwrap();
        let m = proto::envelope_message(&case, 0, &to, &self.device, false, &enc, &ciphertext);
        Envelope {
            case_id: case,
            epoch: 0,
            recipient: to,
            sealed_by: self.device,
            starts_epoch: false,
            enc,
            ciphertext,
            signature: self.key.sign(&m).to_bytes().to_vec(),
        }
    }

    fn push(&self, changes: Vec<Change>, envelopes: Vec<Envelope>) {
        let body = proto::encode(&proto::PushRequest { changes, envelopes });
        self.post(proto::PATH_PUSH, &body)
            .expect("the server stores it");
    }
}

fn case_id(case: &str) -> Id {
    *uuid::Uuid::parse_str(case).unwrap().as_bytes()
}

fn device_id(d: &Device) -> Id {
    d.vault.device_id_bytes().unwrap()
}

#[test]
fn an_insiders_garbage_is_quarantined_and_honest_sync_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let eve_code = server.invite("Eve", "practitioner", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    let eve = Insider::enrol(&server, &eve_code, 0xe5);

    let jess = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &jess, "first visit");
    amy.sync().unwrap();
    sue.sync().unwrap();
    amy.sync().unwrap(); // seals Jess's key for Sue
    sue.sync().unwrap();
    assert_eq!(sue.vault.read_case(&jess).unwrap().visits.len(), 1);

    // Sue shares Jess with Eve (a colleague covering a visit).
    let http = HttpTransport::new(&server.url(), true).unwrap();
    outreach_core::sync::assign(&mut sue.vault, &http, &jess, "Eve").unwrap();

    // Eve's device sends random bytes into Jess's case and a junk key
    // envelope to Sue (finding 2 of issue 10).
    eve.push(vec![eve.change(case_id(&jess), vec![0xab; 500])], vec![]);
    eve.push(
        vec![],
        vec![eve.junk_envelope(case_id(&jess), device_id(&sue))],
    );

    // Amy goes on working; her new visit and a new case must get through.
    let second = visit(&mut amy.vault, &jess, "second visit");
    let jane = new_case(&mut amy.vault, "Jane");
    let first = amy.sync().unwrap();
    // Amy's device quarantines the garbage too, and her sync completed.
    assert!(
        first
            .rejected
            .iter()
            .any(|r| r.case == jess && r.reason == "does-not-decrypt"),
        "{first:?}"
    );
    assert_eq!(first.pushed, 2);
    amy.sync().unwrap(); // key for Jane sealed to Sue

    let report = sue.sync().unwrap();
    let rejected: Vec<(String, String)> = report
        .rejected
        .iter()
        .map(|r| (r.case.clone(), r.reason.clone()))
        .collect();
    assert!(
        rejected.contains(&(jess.clone(), "does-not-decrypt".into())),
        "{rejected:?}"
    );
    assert!(
        rejected.contains(&(jess.clone(), "envelope-does-not-open".into())),
        "{rejected:?}"
    );
    let seen = sue.vault.read_case(&jess).unwrap();
    assert!(
        seen.visits.contains_key(&second),
        "the honest change applied"
    );
    assert_eq!(
        sue.vault.read_case(&jane).unwrap().profile.preferred_name,
        "Jane"
    );
    let states = sue.vault.case_sync_states().unwrap();
    assert!(states.contains(&(jess.clone(), CaseSyncState::NeedsAttention)));
    assert!(states.contains(&(jane.clone(), CaseSyncState::Synced)));

    // Nothing is reported twice; the next syncs are clean.
    assert!(sue.sync().unwrap().rejected.is_empty());
    assert!(amy.sync().unwrap().rejected.is_empty());

    // The admin sees who sent what was refused: case, reason — no content.
    let listed = server.admin(&["rejected"]).expect("rejected listing");
    let text = listed.to_string();
    assert!(text.contains("does-not-decrypt"), "{text}");
    assert!(!text.contains("visit"), "no content: {text}");
}

#[test]
fn a_damaged_item_on_the_server_is_quarantined_and_every_other_case_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("server"));
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let mut amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let mut sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    let jess = new_case(&mut amy.vault, "Jess");
    visit(&mut amy.vault, &jess, "first visit");
    let jane = new_case(&mut amy.vault, "Jane");
    amy.sync().unwrap();
    sue.sync().unwrap();
    amy.sync().unwrap();
    sue.sync().unwrap();
    visit(&mut amy.vault, &jess, "second visit");
    visit(&mut amy.vault, &jane, "Jane's second visit");
    amy.sync().unwrap();

    // Flip one byte inside the newest change of Jess's case, as a failing
    // disk or a tampering operator would.
    let db = rusqlite::Connection::open(outreach_server::database_path(&server.data)).unwrap();
    let (seq, mut body): (i64, Vec<u8>) = db
        .query_row(
            "SELECT seq, body FROM log WHERE kind = 0 AND case_id = ?1 ORDER BY seq DESC LIMIT 1",
            [&case_id(&jess)[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let n = body.len();
    body[n - 70] ^= 0x01;
    db.execute(
        "UPDATE log SET body = ?1 WHERE seq = ?2",
        rusqlite::params![body, seq],
    )
    .unwrap();
    drop(db);

    let report = sue.sync().unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].case, jess);
    let jane_now = sue.vault.read_case(&jane).unwrap();
    assert!(
        jane_now
            .visits
            .values()
            .any(|v| v.note == "Jane's second visit"),
        "every other case arrives"
    );
    // The cursor moved on: the next sync is quiet.
    let again = sue.sync().unwrap();
    assert!(again.rejected.is_empty() && again.pulled == 0, "{again:?}");
}
