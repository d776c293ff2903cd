//! `outreach console` in a real browser: headless Chromium driven through
//! chromedriver's W3C WebDriver HTTP API (no client crate: plain requests).
//! A supervisor's vault holds two cases of her team, one overdue; the test
//! signs in with the printed one-time link, checks the caseload's overdue
//! flags, returns a visit with a comment and sees it leave the queue,
//! opens the report card and finds its charts, and waits out the idle lock
//! until the page asks for the passphrase. Around the browser, plain
//! requests check the door: no session, a wrong cookie, a used link, a
//! cross-origin POST and a missing CSRF token are all refused. Screenshots
//! of every page go to `target/tmp/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh
//! installs them). Without them the test says so and passes, unless
//! OUTREACH_REQUIRE_BROWSER=1 (set by scripts/test.sh), when it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use outreach_core::case::model::*;
use outreach_core::case::validate::instant_string;
use outreach_core::crypto::KdfParams;
use outreach_core::vault::{ConcernInput, ScaleInput, Vault, VaultOptions, VisitInput};
use outreach_protocol::{EnrollResponse, PullResponse, Role, Signer};
use serde_json::{Value, json};

const PASS: &str = "correct horse battery";
const LOCK_AFTER: u64 = 6;
/// The whole test, browser start included, stays under this.
const BUDGET: Duration = Duration::from_secs(60);

fn enrolled(dir: &Path, name: &str, role: Role, user: u8) -> (Vault, Signer) {
    let opts = VaultOptions {
        kdf: KdfParams::FLOOR,
        wipe_after: 10,
        practitioner: name.into(),
        team: None,
    };
    let mut v = Vault::create(dir, PASS, opts, None).unwrap();
    let req = v.enrolment_request("code").unwrap();
    let resp = EnrollResponse {
        org_id: [7; 16],
        org_name: "Council".into(),
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some("North".into()),
        recovery_pk: [9; 32],
    };
    v.finish_enrolment("http://127.0.0.1:1", true, &resp)
        .unwrap();
    let me = Signer {
        device_id: req.device_id,
        sign_pk: req.sign_pk,
        user_id: [user; 16],
        user_name: name.into(),
        role,
        team: Some("North".into()),
        revoked_at: None,
    };
    (v, me)
}

struct Fixture {
    overdue: String,
    on_time: String,
    visit: String,
}

/// Ali Khan, supervisor of North, holds two of Sam's cases: Nadia, last
/// seen 30 days ago (overdue), and Olive, seen 2 days ago and due in 5,
/// whose visit awaits sign-off.
fn fixture(dir: &Path) -> Fixture {
    let (mut sam, sam_e) = enrolled(&dir.join("sam"), "Sam Jones", Role::Practitioner, 1);
    let (mut ali, ali_e) = enrolled(&dir.join("ali"), "Ali Khan", Role::Supervisor, 2);
    for v in [&mut sam, &mut ali] {
        v.apply_page(&PullResponse {
            signers: vec![sam_e.clone(), ali_e.clone()],
            ..Default::default()
        })
        .unwrap();
    }
    let days = |d: i64| instant_string(Utc::now() + chrono::Duration::days(d));
    let case = |v: &mut Vault, name: &str| {
        v.create_case(&CaseEdit {
            preferred_name: Some(name.into()),
            ..Default::default()
        })
        .unwrap()
    };
    let overdue = case(&mut sam, "Nadia");
    let mut vi = VisitInput::new(
        days(-30),
        ContactKind::Home,
        Outcome::Completed,
        "Talked about the tenancy",
    );
    vi.her_words = Some("I want to sort it myself".into());
    sam.add_visit(&overdue, &vi).unwrap();
    for (score, d) in [(3, -40), (5, -20), (6, -1)] {
        sam.add_scale(
            &overdue,
            &ScaleInput {
                score,
                date: Some(days(d)[..10].to_string()),
                view: Some(ScaleView::Woman),
                note: None,
                question: Some("10 = the tenancy is safe".into()),
            },
        )
        .unwrap();
    }
    sam.add_concern(
        &overdue,
        &ConcernInput {
            category: "domestic abuse".into(),
            severity: Severity::High,
            description: "Ex-partner seen near the flat".into(),
            escalated_to: None,
        },
    )
    .unwrap();
    let on_time = case(&mut sam, "Olive");
    let mut vi = VisitInput::new(
        days(-2),
        ContactKind::Office,
        Outcome::Completed,
        "Went through the benefits letter",
    );
    vi.next_contact_due = Some(days(5));
    let visit = sam.add_visit(&on_time, &vi).unwrap();
    for c in [&overdue, &on_time] {
        let bytes = sam.export_automerge(c).unwrap();
        ali.import_case(&bytes).unwrap();
    }
    Fixture {
        overdue,
        on_time,
        visit,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// (status, body) of a plain request to the console.
fn raw(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    let a = agent();
    let mut resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call().unwrap()
        }
        (_, b) => {
            let mut r = a
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded");
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(b.unwrap_or("")).unwrap()
        }
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

struct WebDriver {
    base: String,
    session: String,
    shots: PathBuf,
}

impl WebDriver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        wd(method, &url, body)
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
    }

    fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    /// Waits (bounded) until the page's source contains `text`.
    fn wait_for(&self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.source();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "page {} never showed {text:?}:\n{s}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = decode_base64(png.as_str().unwrap_or_default());
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }
}

fn wd(method: &str, url: &str, body: Option<Value>) -> Value {
    let a = agent();
    let mut resp = match method {
        "GET" => a.get(url).call().unwrap(),
        "DELETE" => a.delete(url).call().unwrap(),
        _ => a
            .post(url)
            .header("content-type", "application/json")
            .send(body.unwrap_or(json!({})).to_string())
            .unwrap(),
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status < 300, "WebDriver {method} {url}: {status} {text}");
    v["value"].clone()
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The CSRF token of the page's first form.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + 64].to_string()
}

#[test]
fn the_console_in_a_real_browser() {
    let started = Instant::now();
    if !(have("chromedriver") && have("chromium")) {
        assert_ne!(
            std::env::var("OUTREACH_REQUIRE_BROWSER").as_deref(),
            Ok("1"),
            "chromium and chromium-driver are needed (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium / chromedriver not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture(tmp.path());
    let vault = tmp.path().join("ali");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The browser first (its start is the slow part), then the console.
    let wd_port = free_port();
    let _driver = Proc(
        Command::new("chromedriver")
            .arg(format!("--port={wd_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{wd_port}");
    let until = Instant::now() + Duration::from_secs(15);
    while !agent()
        .get(format!("{base}/status"))
        .call()
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < until, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let session = wd(
        "POST",
        &format!("{base}/session"),
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", tmp.path().join("profile").display())]
            }
        }}})),
    );
    let b = WebDriver {
        base: base.clone(),
        session: session["sessionId"].as_str().unwrap().to_string(),
        shots: shots.clone(),
    };

    let mut console = Command::new(env!("CARGO_BIN_EXE_outreach"))
        .args([
            "console",
            "--port",
            "0",
            "--lock-after",
            &LOCK_AFTER.to_string(),
        ])
        .env("OUTREACH_VAULT", &vault)
        .env("OUTREACH_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(tmp.path().join("console.err")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(console.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _console = Proc(console);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let origin = url.split("/login").next().unwrap().to_string();

    // No session, a wrong token: refused, nothing shown.
    let (status, body) = raw("GET", &format!("{origin}/caseload"), &[], None);
    assert_eq!(status, 401);
    assert!(!body.contains("Nadia"));
    let (status, _) = raw("GET", &format!("{origin}/login?token=00"), &[], None);
    assert_eq!(status, 403);

    // Sign in with the printed link: the caseload, with its overdue flags.
    b.go(&url);
    let page = b.wait_for("<tr data-case=");
    assert!(b.url().ends_with("/caseload"), "{}", b.url());
    assert!(page.contains(&format!(
        "<tr data-case=\"{}\" data-overdue=\"true\"",
        fx.overdue
    )));
    assert!(page.contains(&format!(
        "<tr data-case=\"{}\" data-overdue=\"false\"",
        fx.on_time
    )));
    assert!(page.contains("Nadia") && page.contains("Olive"));
    assert!(page.contains("1 overdue a contact"));
    b.screenshot("1-caseload");

    // The session cookie: HttpOnly, SameSite=Strict; the link is spent.
    let cookies = b.call("GET", "/cookie", None);
    let cookie = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "outreach_session")
        .expect("session cookie")
        .clone();
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    let good = format!("outreach_session={}", cookie["value"].as_str().unwrap());
    let (status, _) = raw("GET", &url, &[], None);
    assert_eq!(status, 403, "the one-time link works once");
    let (status, body) = raw(
        "GET",
        &format!("{origin}/caseload"),
        &[("cookie", "outreach_session=forged")],
        None,
    );
    assert_eq!(status, 401);
    assert!(!body.contains("Nadia"));
    let (status, page) = raw(
        "GET",
        &format!("{origin}/queue"),
        &[("cookie", &good)],
        None,
    );
    assert_eq!(status, 200);
    let token = csrf(&page);
    let form = format!(
        "csrf={token}&case={}&visit={}&comment=x",
        fx.on_time, fx.visit
    );
    // A cross-origin POST, even with the cookie and token: refused.
    let (status, _) = raw(
        "POST",
        &format!("{origin}/queue/return"),
        &[("cookie", &good), ("origin", "http://evil.example")],
        Some(&form),
    );
    assert_eq!(status, 403);
    let (status, _) = raw(
        "POST",
        &format!("{origin}/queue/return"),
        &[("cookie", &good), ("sec-fetch-site", "cross-site")],
        Some(&form),
    );
    assert_eq!(status, 403);
    // Without the CSRF token: refused.
    let (status, _) = raw(
        "POST",
        &format!("{origin}/queue/return"),
        &[("cookie", &good)],
        Some(&format!("case={}&visit={}&comment=x", fx.on_time, fx.visit)),
    );
    assert_eq!(status, 403);
    // Another Host (DNS rebinding): refused.
    let (status, _) = raw(
        "GET",
        &format!("{origin}/caseload"),
        &[("cookie", &good), ("host", "evil.example")],
        None,
    );
    assert_eq!(status, 421);
    // Never cached.
    let resp = agent()
        .get(format!("{origin}/caseload"))
        .header("cookie", &good)
        .call()
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");

    // The queue: return the visit with a comment; it leaves the queue.
    b.go(&format!("{origin}/queue"));
    b.wait_for(&format!("data-visit=\"{}\"", fx.visit));
    b.screenshot("2-queue");
    let item = format!("li[data-visit=\"{}\"]", fx.visit);
    b.type_into(
        &format!("{item} input[name=\"comment\"]"),
        "Please add the actions agreed",
    );
    b.click(&format!("{item} form[action=\"/queue/return\"] button"));
    let page = b.wait_for("Visit returned for amendment");
    assert!(!page.contains(&format!("data-visit=\"{}\"", fx.visit)));
    b.screenshot("3-queue-after-return");

    // A case: every record, the Signs of Safety map, the scaling chart.
    b.go(&format!("{origin}/case/{}", fx.overdue));
    let page = b.wait_for("Signs of Safety map");
    assert!(page.contains("id=\"scaling-chart\""));
    assert!(page.contains("Talked about the tenancy"));
    assert!(page.contains("Timeline"));
    b.screenshot("4-case");

    b.go(&format!("{origin}/concerns"));
    b.wait_for("1 open concern(s)");
    b.screenshot("5-concerns");
    b.go(&format!("{origin}/conflicts"));
    b.wait_for("No conflicts");
    b.screenshot("6-conflicts");
    b.go(&format!("{origin}/sync"));
    b.wait_for("Sync now");
    b.screenshot("7-sync");

    // The report card: its frame, and in it the three charts.
    b.go(&format!("{origin}/report"));
    b.wait_for("id=\"report-frame\"");
    assert_eq!(b.count("iframe#report-frame"), 1);
    b.screenshot("8-report-page");
    // What the frame shows: the HTML report, with its three charts.
    let frame = b.find("iframe#report-frame");
    let src = b.call("GET", &format!("/element/{frame}/attribute/src"), None);
    let src = src.as_str().unwrap().to_string();
    assert!(src.starts_with("/report.html?"), "{src}");
    b.go(&format!("{origin}{src}"));
    b.wait_for("chart-scaling");
    for chart in ["chart-contacts", "chart-sign-off", "chart-scaling"] {
        assert_eq!(b.count(&format!("figure#{chart} svg")), 1, "{chart}");
    }
    let report = b.source();
    assert!(report.contains("How much did we do?") && report.contains("Is anyone better off?"));
    assert!(!report.contains("Nadia") && !report.contains("Olive"));
    b.screenshot("9-report-card");

    // Idle: the vault locks itself and the page asks for the passphrase.
    std::thread::sleep(Duration::from_secs(LOCK_AFTER) + Duration::from_millis(1500));
    b.go(&format!("{origin}/caseload"));
    let page = b.wait_for("id=\"unlock\"");
    assert!(!page.contains("Nadia"));
    b.screenshot("10-locked");
    b.type_into("#passphrase", PASS);
    b.click("#unlock button");
    let page = b.wait_for("Vault unlocked.");
    assert!(page.contains("Nadia"));

    // At 200 % zoom (the same page in half the width): nothing is cut off —
    // the page itself never scrolls sideways (a wide table scrolls in its
    // own box), and every page still shows its heading.
    b.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 640, "height": 900})),
    );
    for (path, heading, shot) in [
        ("/caseload", "Caseload", "11-caseload-200pct"),
        (
            &*format!("/case/{}", fx.overdue),
            "Signs of Safety map",
            "12-case-200pct",
        ),
        ("/queue", "Sign-off queue", "13-queue-200pct"),
    ] {
        b.go(&format!("{origin}{path}"));
        b.wait_for(heading);
        let overflow = b.call(
            "POST",
            "/execute/sync",
            Some(json!({
                "script": "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                "args": []
            })),
        );
        assert!(
            overflow.as_i64().unwrap_or(i64::MAX) <= 1,
            "{path} at 200 %: the page scrolls sideways by {overflow}"
        );
        b.screenshot(shot);
    }

    b.call("DELETE", "", None);
    assert!(started.elapsed() < BUDGET, "took {:?}", started.elapsed());
    drop(_console);

    // The return is in the vault, with its comment.
    let mut v = Vault::open(&vault).unwrap();
    v.unlock(PASS, None).unwrap();
    let c = v.read_case(&fx.on_time).unwrap();
    let visit = &c.visits[&fx.visit];
    assert_eq!(visit.review, ReviewState::Returned);
    assert_eq!(
        visit.sign_off.as_ref().and_then(|s| s.comment.as_deref()),
        Some("Please add the actions agreed")
    );
}
