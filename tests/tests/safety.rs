//! Lone-working safety against a real `outreach-server` process: a worker
//! checks in before a visit; if she does not check out by the deadline (plus
//! `--safety-grace`, 0 s here) the server raises an alert, which her team's
//! supervisor sees on sync and the council's alerting system receives by
//! webhook (retried until it answers, delivered once, with no case data) —
//! also when the server was killed before the deadline and restarted after
//! it. Checking out or extending in time raises nothing; a practitioner of
//! another team never sees any of it; bad input is one clear line and
//! stores nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use outreach_core::Error;
use outreach_core::safety::{CheckInState, SafetyStatus};
use outreach_core::sync::{self, HttpTransport};
use outreach_tests::PASSPHRASE;
use outreach_tests::harness::{Device, Server, bin, new_case};

const NAME: &str = "Jasmine Example";
const NOTE: &str = "Flat 9 Rowan Court, back door; her partner may be home";

struct Team {
    tmp: tempfile::TempDir,
    server: Server,
    /// Practitioner, team north.
    amy: Device,
    /// Supervisor, team north.
    sue: Device,
    /// Practitioner, team south.
    kim: Device,
}

fn team(options: &[&str]) -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("server"), options);
    let amy_code = server.invite("Amy", "practitioner", Some("north"));
    let sue_code = server.invite("Sue", "supervisor", Some("north"));
    let kim_code = server.invite("Kim", "practitioner", Some("south"));
    let amy = Device::enrol(&tmp.path().join("amy"), "Amy", &server.url(), &amy_code);
    let sue = Device::enrol(&tmp.path().join("sue"), "Sue", &server.url(), &sue_code);
    let kim = Device::enrol(&tmp.path().join("kim"), "Kim", &server.url(), &kim_code);
    Team {
        tmp,
        server,
        amy,
        sue,
        kim,
    }
}

/// Amy's case, on the server, its key shared with Sue (her supervisor).
fn shared_case(t: &mut Team) -> String {
    let case = new_case(&mut t.amy.vault, NAME);
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    case
}

fn transport(server: &str) -> HttpTransport {
    HttpTransport::new(server, false).unwrap()
}

fn status_after_sync(d: &mut Device) -> SafetyStatus {
    d.sync().unwrap();
    d.vault.safety_status().unwrap()
}

/// Polls `f` every 200 ms until it holds or `secs` pass.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// Sleeps until `rfc3339` has passed by `extra`.
fn sleep_past(rfc3339: &str, extra: Duration) {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    let left = (at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64;
    thread::sleep(Duration::from_secs(left + 1) + extra);
}

/// A webhook receiver: answers 500 to the first `fail_first` requests and
/// 200 to the rest, keeping the bodies it accepted.
struct Receiver {
    url: String,
    attempts: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/lone-working/alerts",
            listener.local_addr().unwrap()
        );
        let attempts = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (attempts.clone(), accepted.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (a, b) = (a.clone(), b.clone());
                thread::spawn(move || serve_one(conn, fail_first, &a, &b));
            }
        });
        Receiver {
            url,
            attempts,
            accepted,
        }
    }

    fn accepted(&self) -> Vec<(String, String)> {
        self.accepted.lock().unwrap().clone()
    }
}

/// One request (headers, then a body of its content-length), one answer,
/// then the connection closes.
fn serve_one(
    conn: TcpStream,
    fail_first: usize,
    attempts: &AtomicUsize,
    accepted: &Mutex<Vec<(String, String)>>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let n = attempts.fetch_add(1, Ordering::SeqCst);
    let mut conn = conn;
    let status = if n < fail_first {
        "500 Internal Server Error"
    } else {
        accepted
            .lock()
            .unwrap()
            .push((head, String::from_utf8(body).unwrap()));
        "200 OK"
    };
    let _ = conn.write_all(
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
    );
}

/// Whether any file of the server's data directory holds `needle`.
fn server_files_contain(server: &Server, needle: &[u8]) -> bool {
    std::fs::read_dir(&server.data).unwrap().any(|f| {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn no_check_out_alerts_the_supervisor_and_the_webhook_once_with_no_case_data() {
    let hook = Receiver::start(1);
    let mut t = team(&["--safety-grace", "0s", "--alert-webhook", &hook.url]);
    let case = shared_case(&mut t);
    let receipt = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+5s",
        Some(NOTE),
    )
    .unwrap();
    assert!(receipt.sent, "{receipt:?}");
    assert_eq!(receipt.alert_at.as_deref(), Some(receipt.until.as_str()));

    // Before the deadline: Sue sees the check-in, its note opened with the
    // case key; Kim (another team) sees nothing.
    let sue = status_after_sync(&mut t.sue);
    assert!(sue.alerts.is_empty());
    assert_eq!(sue.check_ins.len(), 1);
    let c = &sue.check_ins[0];
    assert_eq!(
        (c.worker.as_str(), c.case_id.as_str()),
        ("Amy", case.as_str())
    );
    assert_eq!(c.note.as_deref(), Some(NOTE));
    assert!(!c.mine);
    let kim = status_after_sync(&mut t.kim);
    assert!(kim.alerts.is_empty() && kim.check_ins.is_empty());

    // No check-out: the alert is at the top of Sue's next pulls.
    let mut alerts = Vec::new();
    wait_for(20, "the alert on the supervisor's device", || {
        alerts = status_after_sync(&mut t.sue).alerts;
        !alerts.is_empty()
    });
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.worker, "Amy");
    assert_eq!(alert.team.as_deref(), Some("north"));
    assert_eq!(alert.case_id, case);
    assert!(alert.acknowledged_at.is_none() && alert.checked_out_at.is_none());
    // Amy's own device shows it too; Kim's never.
    assert_eq!(status_after_sync(&mut t.amy).alerts.len(), 1);
    let kim = status_after_sync(&mut t.kim);
    assert!(kim.alerts.is_empty() && kim.check_ins.is_empty());

    // The webhook: refused once, then accepted — exactly one accepted POST.
    wait_for(20, "the webhook delivery", || !hook.accepted().is_empty());
    thread::sleep(Duration::from_secs(3));
    let accepted = hook.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert!(hook.attempts.load(Ordering::SeqCst) >= 2);
    let (head, body) = &accepted[0];
    assert!(head.contains("application/json"), "{head}");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["event"], "alert");
    assert_eq!(json["worker"], "Amy");
    assert_eq!(json["team"], "north");
    assert_eq!(json["alert_id"], alert.alert_id.as_str());
    assert!(json["minutes_overdue"].as_i64().is_some());
    for secret in [
        NAME,
        "Jasmine",
        NOTE,
        "Rowan",
        case.as_str(),
        &case.replace('-', ""),
    ] {
        assert!(
            !body.contains(secret),
            "the webhook body holds {secret:?}: {body}"
        );
    }
    // The server never held the note or the name in readable form.
    assert!(!server_files_contain(&t.server, NOTE.as_bytes()));
    assert!(!server_files_contain(&t.server, b"Rowan"));

    // Sue acknowledges it: recorded, and shown to the team as in hand.
    let prefix = &alert.alert_id[..6];
    let kim_ack = sync::acknowledge_alert(&mut t.kim.vault, &transport(&t.kim.server), prefix);
    assert!(matches!(kim_ack, Err(Error::NotAllowedToAcknowledge)));
    let ack = sync::acknowledge_alert(&mut t.sue.vault, &transport(&t.sue.server), prefix).unwrap();
    assert!(ack.sent);
    let sue = t.sue.vault.safety_status().unwrap();
    assert_eq!(sue.alerts[0].acknowledged_by.as_deref(), Some("Sue"));
    let audit = t.server.admin(&["audit"]).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"safety-alert") && actions.contains(&"safety-ack"));

    // Amy checks out late: the alerting system hears she is out.
    let out = sync::check_out(&mut t.amy.vault, &transport(&t.amy.server), None).unwrap();
    assert!(out.sent);
    wait_for(20, "the checked-out delivery", || {
        hook.accepted().len() == 2
    });
    let (_, body) = &hook.accepted()[1];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["event"], "checked-out");
    assert!(status_after_sync(&mut t.amy).check_ins.is_empty());
}

#[test]
fn checking_out_in_time_raises_nothing() {
    let hook = Receiver::start(0);
    let mut t = team(&["--safety-grace", "0s", "--alert-webhook", &hook.url]);
    let case = shared_case(&mut t);
    let r = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+4s",
        None,
    )
    .unwrap();
    assert!(r.sent);
    let out = sync::check_out(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        Some(&case[..6]),
    )
    .unwrap();
    assert!(out.sent);
    sleep_past(&r.until, Duration::from_secs(2));
    let sue = status_after_sync(&mut t.sue);
    assert!(sue.alerts.is_empty() && sue.check_ins.is_empty(), "{sue:?}");
    assert_eq!(hook.attempts.load(Ordering::SeqCst), 0);
    // Nothing left to check out.
    let again = sync::check_out(&mut t.amy.vault, &transport(&t.amy.server), None);
    assert!(matches!(again, Err(Error::NotCheckedIn)));
}

#[test]
fn extending_moves_the_alert_to_the_new_deadline() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    let first = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+4s",
        None,
    )
    .unwrap();
    let extended =
        sync::extend_check_in(&mut t.amy.vault, &transport(&t.amy.server), None, "6s").unwrap();
    assert!(extended.sent);
    assert!(extended.until > first.until);
    // Past the first deadline: no alert, the check-in shows the new one.
    sleep_past(&first.until, Duration::from_millis(500));
    let sue = status_after_sync(&mut t.sue);
    assert!(sue.alerts.is_empty(), "{sue:?}");
    assert_eq!(sue.check_ins[0].until, extended.until);
    // Past the new one: the alert, for the new deadline.
    let mut alerts = Vec::new();
    wait_for(20, "the alert after the new deadline", || {
        alerts = status_after_sync(&mut t.sue).alerts;
        !alerts.is_empty()
    });
    assert_eq!(alerts[0].due, extended.until);
}

#[test]
fn a_server_killed_before_the_deadline_raises_the_alert_when_it_is_back() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    let r = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+4s",
        None,
    )
    .unwrap();
    assert!(r.sent);
    t.server.kill();
    sleep_past(&r.until, Duration::from_secs(1));
    t.server.restart();
    let mut alerts = Vec::new();
    wait_for(20, "the alert after the restart", || {
        alerts = status_after_sync(&mut t.sue).alerts;
        !alerts.is_empty()
    });
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].due, r.until);
}

#[test]
fn an_offline_check_in_alerts_no_one_until_it_is_sent() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    t.server.kill();
    let r = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+1h",
        Some(NOTE),
    )
    .unwrap();
    assert!(!r.sent);
    assert!(r.alert_at.is_none());
    assert!(r.not_sent_because.is_some());
    let amy = t.amy.vault.safety_status().unwrap();
    assert_eq!(amy.unsent, 1);
    assert_eq!(amy.check_ins[0].state, CheckInState::NotSent);
    // Kept across a restart of the app.
    let mut reopened = outreach_core::vault::Vault::open(&t.amy.dir).unwrap();
    reopened.unlock(PASSPHRASE, None).unwrap();
    t.amy.vault = reopened;
    assert_eq!(t.amy.vault.safety_unsent().unwrap(), 1);
    t.server.restart();
    // The next sync sends it: the supervisor sees it, note included.
    let amy = status_after_sync(&mut t.amy);
    assert_eq!(amy.unsent, 0);
    assert_eq!(amy.check_ins[0].state, CheckInState::Active);
    let sue = status_after_sync(&mut t.sue);
    assert_eq!(sue.check_ins.len(), 1);
    assert_eq!(sue.check_ins[0].note.as_deref(), Some(NOTE));
    // A check-out made offline is shown as not sent: the alert still comes.
    t.server.kill();
    let out = sync::check_out(&mut t.amy.vault, &transport(&t.amy.server), None).unwrap();
    assert!(!out.sent);
    assert!(out.alert_at.is_some());
    assert_eq!(
        t.amy.vault.safety_status().unwrap().check_ins[0].state,
        CheckInState::CheckOutNotSent
    );
    t.server.restart();
    assert!(status_after_sync(&mut t.amy).check_ins.is_empty());
    assert!(status_after_sync(&mut t.sue).check_ins.is_empty());
}

#[test]
fn a_visit_records_the_check_out_in_one_step() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    let r = sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+1h",
        None,
    )
    .unwrap();
    let visit = outreach_core::vault::VisitInput::new(
        "2026-11-20T10:00:00Z",
        outreach_core::case::model::ContactKind::Home,
        outreach_core::case::model::Outcome::Completed,
        "Talked about the tenancy",
    );
    let (visit_id, out) =
        sync::add_visit_checking_out(&mut t.amy.vault, &transport(&t.amy.server), &case, &visit)
            .unwrap();
    assert!(out.sent);
    let record = t.amy.vault.read_case(&case).unwrap();
    let v = &record.visits[&visit_id];
    let (Some(checked_in), Some(checked_out)) = (&v.checked_in_at, &v.checked_out_at) else {
        panic!("the visit records its check-in and check-out: {v:?}");
    };
    assert!(checked_in <= checked_out && checked_out < &r.until);
    assert!(status_after_sync(&mut t.sue).check_ins.is_empty());
    // Not checked in: refused before the visit is written.
    let before = t.amy.vault.read_case(&case).unwrap().visits.len();
    let again =
        sync::add_visit_checking_out(&mut t.amy.vault, &transport(&t.amy.server), &case, &visit);
    assert!(matches!(again, Err(Error::NotCheckedIn)));
    assert_eq!(t.amy.vault.read_case(&case).unwrap().visits.len(), before);
}

#[test]
fn a_saved_draft_records_and_checks_out_once_and_never_over_a_recorded_visit() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    let draft = outreach_core::case::contact::VisitDraft {
        at: Some("2026-11-20T10:00:00Z".into()),
        kind: Some(outreach_core::case::model::ContactKind::Home),
        outcome: Some(outreach_core::case::model::Outcome::Completed),
        note: Some("Talked about the tenancy".into()),
        ..Default::default()
    };
    let draft_id = t.amy.vault.save_draft(None, &case, &draft).unwrap();
    // Not a draft id, or another form's draft: refused, nothing recorded.
    let form = t
        .amy
        .vault
        .save_form_draft(
            None,
            &case,
            &outreach_core::vault::FormDraft {
                form: outreach_core::vault::FormKind::Referral,
                fields: vec![],
            },
        )
        .unwrap();
    for (bad, field) in [("not-a-draft", Some("draft_id")), (form.as_str(), None)] {
        let refused =
            sync::submit_draft_checking_out(&mut t.amy.vault, &transport(&t.amy.server), bad);
        match (&refused, field) {
            (Err(Error::Invalid(v)), Some(f)) => assert_eq!(v.field, f),
            (Err(Error::UnknownRecord(_)), None) => {}
            _ => panic!("{bad}: {refused:?}"),
        }
    }
    assert!(t.amy.vault.read_case(&case).unwrap().visits.is_empty());
    // Not checked in: refused, nothing recorded, the draft kept.
    let none =
        sync::submit_draft_checking_out(&mut t.amy.vault, &transport(&t.amy.server), &draft_id);
    assert!(matches!(none, Err(Error::NotCheckedIn)), "{none:?}");
    assert!(t.amy.vault.read_case(&case).unwrap().visits.is_empty());
    assert!(t.amy.vault.draft(&draft_id).is_ok());

    sync::check_in(
        &mut t.amy.vault,
        &transport(&t.amy.server),
        &case,
        "+1h",
        None,
    )
    .unwrap();
    let (visit_id, out) =
        sync::submit_draft_checking_out(&mut t.amy.vault, &transport(&t.amy.server), &draft_id)
            .unwrap();
    assert!(out.sent);
    assert_eq!(visit_id, draft_id, "the visit keeps the draft's id");
    assert!(t.amy.vault.draft(&draft_id).is_err(), "the draft is gone");
    let visits = t.amy.vault.read_case(&case).unwrap().visits;
    assert_eq!(visits.len(), 1);
    let recorded = visits[&visit_id].clone();
    assert!(recorded.checked_out_at.is_some());
    assert!(status_after_sync(&mut t.sue).check_ins.is_empty());

    // Sent again: the draft is gone, nothing is written.
    let again =
        sync::submit_draft_checking_out(&mut t.amy.vault, &transport(&t.amy.server), &draft_id);
    assert!(matches!(again, Err(Error::UnknownRecord(_))), "{again:?}");
    // A draft may not be made again under a recorded visit's id — by her
    // app, or by a supervisor's device under a practitioner's visit.
    let mut other = draft.clone();
    other.note = Some("Written over the recorded visit".into());
    // Sue's device, before it has the visit, keeps a draft under its id
    // (a modified app): once the visit arrives, submitting it is refused.
    t.sue
        .vault
        .save_draft(Some(&visit_id), &case, &other)
        .unwrap();
    t.amy.sync().unwrap();
    t.sue.sync().unwrap();
    let over = t.sue.vault.submit_draft(&visit_id);
    assert!(
        matches!(&over, Err(Error::Invalid(v)) if v.field == "draft_id"),
        "{over:?}"
    );
    t.sue.vault.discard_draft(&visit_id).unwrap();
    for vault in [&mut t.amy.vault, &mut t.sue.vault] {
        let refused = vault.save_draft(Some(&visit_id), &case, &other);
        assert!(
            matches!(&refused, Err(Error::Invalid(v)) if v.field == "draft_id"),
            "{refused:?}"
        );
        assert!(vault.draft(&visit_id).is_err(), "nothing saved");
    }
    t.sue.sync().unwrap();
    t.amy.sync().unwrap();
    assert_eq!(
        t.amy.vault.read_case(&case).unwrap().visits[&visit_id],
        recorded,
        "the recorded visit is untouched"
    );
}

/// `outreach ARGS` with a vault: (exit code, stdout, stderr).
fn shell(vault: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin("outreach"))
        .args(args)
        .env("OUTREACH_VAULT", vault)
        .env("OUTREACH_PASSPHRASE", PASSPHRASE)
        .env_remove("OUTREACH_SERVER_DATA")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bad_input_is_one_clear_line_and_stores_nothing() {
    let mut t = team(&["--safety-grace", "0s"]);
    let case = shared_case(&mut t);
    let dir = t.amy.dir.clone();
    // The shell opens the same vault: let go of it here.
    drop(std::mem::replace(
        &mut t.amy.vault,
        outreach_core::vault::Vault::open(&dir).unwrap(),
    ));
    let one_line = |args: &[&str], says: &str| {
        let (code, stdout, stderr) = shell(&dir, args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{stderr}"
        );
        assert!(
            !stderr.contains(NAME) && !stderr.contains("Rowan"),
            "{stderr}"
        );
    };
    one_line(&["checkin", &case, "--until", "00:00"], "--until");
    one_line(
        &["checkin", &case, "--until", "2020-01-01T10:00:00Z"],
        "not in the future",
    );
    one_line(&["checkin", &case, "--until", "soon"], "--until");
    one_line(&["checkin", &case, "--until", "+25h"], "24 hours");
    one_line(
        &["checkin", "ffff0000", "--until", "+1h"],
        "no case matches",
    );
    one_line(&["checkin", &case], "--until");
    one_line(&["checkout"], "not checked in");
    one_line(&["checkout", &case], "not checked in");
    one_line(&["checkin", "--extend", "30m"], "not checked in");
    one_line(&["safety", "ack", "abcd"], "acknowledge");
    // Nothing was queued, nothing reached the server.
    let (code, stdout, _) = shell(&dir, &["--json", "safety"]);
    assert_eq!(code, Some(0));
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["unsent"], 0);
    assert!(status["check_ins"].as_array().unwrap().is_empty());
    let db = rusqlite::Connection::open(outreach_server::database_path(&t.server.data)).unwrap();
    let timers: i64 = db
        .query_row("SELECT COUNT(*) FROM safety_timers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(timers, 0);

    // The shell's check-in and check-out, sent.
    let (code, stdout, stderr) = shell(
        &dir,
        &["checkin", &case[..8], "--until", "+1h", "--note", NOTE],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Checked in to case") && stderr.is_empty(),
        "{stdout}{stderr}"
    );
    let (code, stdout, _) = shell(&dir, &["checkout"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Checked out"), "{stdout}");

    // Offline: stored, and the command says no one will be alerted.
    t.server.kill();
    let (code, stdout, stderr) = shell(&dir, &["checkin", &case, "--until", "+1h"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("this device only"), "{stdout}");
    assert!(stderr.contains("NO ONE WILL BE ALERTED"), "{stderr}");
    let (_, stdout, _) = shell(&dir, &["--json", "safety"]);
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["unsent"], 1);
    assert_eq!(status["check_ins"][0]["state"], "not-sent");

    // A webhook that is not http(s): the server does not start, one line,
    // nothing created.
    let data = t.tmp.path().join("never-created");
    for (flag, value) in [
        ("--alert-webhook", "ftp://alerts.council.example/hook"),
        ("--alert-webhook", "alerts.council.example"),
        ("--safety-grace", "soon"),
    ] {
        let out = Command::new(bin("outreach-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args([flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(
            !data.exists(),
            "{flag} {value}: the data folder was created"
        );
    }
}
