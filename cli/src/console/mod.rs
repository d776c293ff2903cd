//! `outreach console`: a supervisor's screen at base, in her own browser,
//! served by the shell on her own machine — the vault never leaves it.
//!
//! Safety of the door: it listens on 127.0.0.1 only, answers only requests
//! addressed to that host and port (no DNS rebinding), and serves nothing
//! without a session. The session starts from a one-time token in the URL
//! it prints, exchanged for an HttpOnly, SameSite=Strict cookie; every
//! state-changing request is a POST carrying the session's CSRF token, and
//! one whose `Origin` or `Sec-Fetch-Site` says it came from another origin
//! is refused. Every response is `Cache-Control: no-store` under a strict
//! Content-Security-Policy (no script at all). After `--lock-after` seconds
//! without a request (default 300, as the apps) the vault locks — keys and
//! decrypted cases dropped — and the page asks for the passphrase.
//!
//! Every action is one core call (`sign_off_visit`, `update_concern`,
//! `resolve_conflict`, `report`, `sync`, `unlock`, `lock`); the pages only
//! show what the core returns (`pages.rs`).

pub mod http;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use clap::Args;
use outreach_core::case::model::{ConcernStatus, Severity, SignOffDecision};
use outreach_core::report::{Format, ReportQuery, render};
use outreach_core::sync::{HttpTransport, SyncObserver, SyncPhase, SyncReport};
use outreach_core::vault::{ConcernUpdate, Vault};
use outreach_core::{Error, ValidationError};

use http::{cookie, decode_form, esc, same};

const COOKIE: &str = "outreach_session";
const STYLE: &str = include_str!("assets/style.css");
/// The most a form may send.
const MAX_BODY: usize = 64 * 1024;

#[derive(Args)]
pub struct ConsoleArgs {
    /// Port on 127.0.0.1 (0: any free port; the URL printed says which)
    #[arg(long, default_value_t = 8790)]
    pub port: u16,
    /// Also open the console in this computer's default browser
    #[arg(long)]
    pub open: bool,
    /// Lock the vault after this many seconds without a request (as the apps: 300)
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(2..=86_400))]
    pub lock_after: u64,
}

/// Why the console could not run. Each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "--port {port}: cannot listen on 127.0.0.1:{port}: {problem}; choose another port (or --port 0 for any free one)"
    )]
    Bind { port: u16, problem: String },
    #[error("the console's web server stopped: {0}")]
    Server(String),
    #[error(transparent)]
    Core(#[from] Error),
}

impl ConsoleError {
    /// The stable code for scripts, and the flag at fault.
    pub fn report(&self) -> (&'static str, Option<&'static str>) {
        match self {
            ConsoleError::Bind { .. } => ("console_port", Some("--port")),
            ConsoleError::Server(_) => ("console", None),
            ConsoleError::Core(e) => (crate::errors::code(e), None),
        }
    }
}

struct Session {
    id: String,
    csrf: String,
}

#[derive(Default)]
enum SyncStatus {
    #[default]
    Idle,
    Running {
        phase: &'static str,
        done: u64,
        total: Option<u64>,
    },
    Done(Result<SyncReport, String>),
}

struct Door {
    /// The one-time sign-in token, until used.
    token: Option<String>,
    session: Option<Session>,
    last: Instant,
}

struct App {
    vault: Mutex<Vault>,
    door: Mutex<Door>,
    sync: Mutex<SyncStatus>,
    origin: String,
    hosts: [String; 2],
    lock_after: Duration,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every vault write is one transaction: a panic mid-call leaves nothing
    // half-written, so a poisoned lock is safe to go on with.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn run(vault: Vault, a: &ConsoleArgs, out: &crate::output::Out) -> Result<(), ConsoleError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ConsoleError::Server(e.kind().to_string()))?;
    runtime.block_on(serve(vault, a, out))
}

async fn serve(
    vault: Vault,
    a: &ConsoleArgs,
    out: &crate::output::Out,
) -> Result<(), ConsoleError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.port))
        .await
        .map_err(|e| ConsoleError::Bind {
            port: a.port,
            problem: crate::errors::file_problem(e.kind(), false)
                .replace("the file does not exist", "not available"),
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| ConsoleError::Server(e.kind().to_string()))?
        .port();
    let token = http::token().map_err(Error::from)?;
    let url = format!("http://127.0.0.1:{port}/login?token={token}");
    let app = Arc::new(App {
        vault: Mutex::new(vault),
        door: Mutex::new(Door {
            token: Some(token),
            session: None,
            last: Instant::now(),
        }),
        sync: Mutex::new(SyncStatus::Idle),
        origin: format!("http://127.0.0.1:{port}"),
        hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        lock_after: Duration::from_secs(a.lock_after),
    });
    // Written directly, errors ignored: the console goes on serving if
    // whatever read its output (a script, a pipe) has gone away.
    let text = if out.json {
        serde_json::json!({"url": url, "port": port, "lock_after": a.lock_after}).to_string()
    } else {
        format!(
            "Outreach console: open {url}\n(the link works once; the vault locks after {} s without use; Ctrl+C to stop)",
            a.lock_after
        )
    };
    {
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{text}");
        let _ = so.flush();
    }
    if a.open {
        open_browser(&url);
    }

    // The idle lock.
    let idle = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let quiet = guard(&idle.door).last.elapsed() >= idle.lock_after;
            let syncing = matches!(*guard(&idle.sync), SyncStatus::Running { .. });
            if quiet && !syncing {
                let app = idle.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Ok(mut v) = app.vault.try_lock()
                        && v.is_unlocked()
                    {
                        v.lock();
                    }
                })
                .await;
            }
        }
    });

    let router = axum::Router::new().fallback(handle).with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| ConsoleError::Server(e.kind().to_string()))
}

fn open_browser(url: &str) {
    let cmd = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if std::process::Command::new(cmd)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_err()
    {
        eprintln!("could not open a browser ({cmd}): open the link above yourself");
    }
}

/// Every response: never cached, no script, no framing by others.
fn secure(mut r: Response, frame_self: bool) -> Response {
    let h = r.headers_mut();
    let csp = if frame_self {
        // The report card document, shown in the console's own frame.
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    } else {
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    };
    for (k, v) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // `no-referrer` would make browsers send `Origin: null` on our own
        // forms; `same-origin` keeps URLs from leaving and the origin checkable.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (
            header::X_FRAME_OPTIONS,
            if frame_self { "SAMEORIGIN" } else { "DENY" },
        ),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn html(status: StatusCode, page: String) -> Response {
    respond(status, "text/html; charset=utf-8", page)
}

fn see_other(to: &str) -> Response {
    let mut r = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn refused(status: StatusCode, title: &str, why: &str) -> Response {
    html(
        status,
        pages::layout(title, "", None, None, None, &format!("<p>{}</p>", esc(why))),
    )
}

/// A local path to go back to (never another site).
fn local_path(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/caseload".into()
    }
}

/// Fixed messages shown after an action (`?done=…`): never text from the URL.
fn flash(key: Option<&String>) -> Option<&'static str> {
    Some(match key?.as_str() {
        "signed-off" => "Visit signed off.",
        "returned" => "Visit returned for amendment, with your comment.",
        "concern" => "Concern updated.",
        "resolved" => "Conflict settled.",
        "unlocked" => "Vault unlocked.",
        "sync" => "Sync started.",
        _ => return None,
    })
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let frame = req.uri().path() == "/report.html";
    let r = route(app, req).await;
    secure(r, frame)
}

async fn route(app: Arc<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !app.hosts.iter().any(|h| h == host) {
        return refused(
            StatusCode::MISDIRECTED_REQUEST,
            "Wrong address",
            "This console answers only at the address it printed.",
        );
    }
    let path = parts.uri.path().to_string();
    let query = decode_form(parts.uri.query().unwrap_or(""));
    let method = parts.method.clone();

    if path == "/style.css" && method == Method::GET {
        return respond(StatusCode::OK, "text/css; charset=utf-8", STYLE);
    }
    if path == "/login" && method == Method::GET {
        return login(&app, query.get("token").map(String::as_str).unwrap_or(""));
    }

    // Everything else needs the session.
    let sid = parts
        .headers
        .get(header::COOKIE)
        .and_then(|h| h.to_str().ok())
        .and_then(|c| cookie(c, COOKIE))
        .unwrap_or("")
        .to_string();
    let csrf = {
        let mut door = guard(&app.door);
        match &door.session {
            Some(s) if same(&s.id, &sid) => {
                let csrf = s.csrf.clone();
                door.last = Instant::now();
                csrf
            }
            _ => {
                return refused(
                    StatusCode::UNAUTHORIZED,
                    "Not signed in",
                    "Open the link that `outreach console` printed on the computer it runs on. Each link works once.",
                );
            }
        }
    };

    let form = if method == Method::POST {
        if !same_origin(&app, &parts.headers) {
            return refused(
                StatusCode::FORBIDDEN,
                "Refused",
                "This request came from another site or page and was refused.",
            );
        }
        let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Refused",
                "The form sent too much.",
            );
        };
        let form = decode_form(&String::from_utf8_lossy(&bytes));
        if !form.get("csrf").is_some_and(|t| same(t, &csrf)) {
            return refused(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form is out of date or did not come from the console: reload the page and try again.",
            );
        }
        Some(form)
    } else if method == Method::GET {
        None
    } else {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "Refused",
            "Not a request the console answers.",
        );
    };

    let unlocked = {
        let app = app.clone();
        blocking(move || guard(&app.vault).is_unlocked()).await
    };
    match (form, path.as_str()) {
        (Some(f), "/unlock") => unlock(app, f, csrf).await,
        (Some(_), "/lock") => {
            let a = app.clone();
            blocking(move || guard(&a.vault).lock()).await;
            see_other("/unlock")
        }
        (None, "/unlock") => {
            let next = local_path(query.get("next").map(String::as_str).unwrap_or("/caseload"));
            if unlocked {
                return see_other(&next);
            }
            html(
                StatusCode::OK,
                pages::layout(
                    "Vault locked",
                    "",
                    None,
                    None,
                    None,
                    &pages::unlock(&next, &csrf, None),
                ),
            )
        }
        (_, _) if !unlocked => {
            let next = match parts.uri.path_and_query() {
                Some(pq) if method == Method::GET => pq.as_str().to_string(),
                _ => "/caseload".into(),
            };
            see_other(&format!("/unlock?next={}", http::percent_encode(&next)))
        }
        (Some(f), p) => action(app, p, f).await,
        (None, p) => page(app, p, query, csrf).await,
    }
}

/// A POST's origin, where the browser says it: this console only.
fn same_origin(app: &App, h: &HeaderMap) -> bool {
    let site = h.get("sec-fetch-site").and_then(|o| o.to_str().ok());
    let origin = h.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let site_ok = site.is_none_or(|s| s == "same-origin");
    let origin_ok = match origin {
        None => true,
        Some(o) if o == app.origin || o == format!("http://{}", app.hosts[1]) => true,
        // An opaque origin passes only where the browser vouches for it.
        Some("null") => site == Some("same-origin"),
        Some(_) => false,
    };
    site_ok && origin_ok
}

fn login(app: &App, token: &str) -> Response {
    let mut door = guard(&app.door);
    let valid = door.token.as_deref().is_some_and(|t| same(t, token));
    if !valid {
        return refused(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This sign-in link is not valid or was already used. Start `outreach console` again for a new one.",
        );
    }
    let (Ok(id), Ok(csrf)) = (http::token(), http::token()) else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not signed in",
            "No random numbers were available; try again.",
        );
    };
    door.token = None;
    door.last = Instant::now();
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    door.session = Some(Session { id, csrf });
    // A page rather than a redirect: the cookie then travels with a
    // same-site navigation, whatever opened the link.
    let mut r = html(
        StatusCode::OK,
        pages::layout(
            "Signed in",
            "",
            None,
            None,
            None,
            "<p><a href=\"/caseload\" id=\"go\">Go to the caseload</a>.</p>",
        )
        .replace(
            "</title>",
            "</title>\n<meta http-equiv=\"refresh\" content=\"0; url=/caseload\">",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// One line for the page: the core's message (no record content), with
/// the form's field names.
fn problem(e: &Error) -> String {
    e.to_string()
}

async fn unlock(app: Arc<App>, f: HashMap<String, String>, csrf: String) -> Response {
    let next = local_path(f.get("next").map(String::as_str).unwrap_or("/caseload"));
    let pass = zeroize::Zeroizing::new(f.get("passphrase").cloned().unwrap_or_default());
    let a = app.clone();
    let result = blocking(move || {
        let mut v = guard(&a.vault);
        if v.is_unlocked() {
            return Ok(());
        }
        v.unlock(&pass, None)
    })
    .await;
    match result {
        Ok(()) => {
            let sep = if next.contains('?') { '&' } else { '?' };
            see_other(&format!("{next}{sep}done=unlocked"))
        }
        Err(e) => html(
            if matches!(e, Error::Wiped) {
                StatusCode::GONE
            } else {
                StatusCode::UNAUTHORIZED
            },
            pages::layout(
                "Vault locked",
                "",
                None,
                None,
                None,
                &pages::unlock(&next, &csrf, Some(&problem(&e))),
            ),
        ),
    }
}

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

async fn action(app: Arc<App>, path: &str, f: HashMap<String, String>) -> Response {
    if path == "/sync" {
        return start_sync(app);
    }
    let path = path.to_string();
    let a = app.clone();
    let result = blocking(move || -> Result<&'static str, Error> {
        let mut v = guard(&a.vault);
        match path.as_str() {
            "/queue/sign-off" => {
                v.sign_off_visit(
                    field(&f, "case"),
                    field(&f, "visit"),
                    SignOffDecision::SignedOff,
                    None,
                )?;
                Ok("/queue?done=signed-off")
            }
            "/queue/return" => {
                let comment = field(&f, "comment").trim();
                v.sign_off_visit(
                    field(&f, "case"),
                    field(&f, "visit"),
                    SignOffDecision::Returned,
                    Some(comment),
                )?;
                Ok("/queue?done=returned")
            }
            "/concerns/update" => {
                let escalated = field(&f, "escalated_to").trim();
                v.update_concern(
                    field(&f, "case"),
                    field(&f, "concern"),
                    &ConcernUpdate {
                        status: Some(ConcernStatus::parse("status", field(&f, "status"))?),
                        severity: Some(Severity::parse("severity", field(&f, "severity"))?),
                        escalated_to: (!escalated.is_empty()).then(|| escalated.to_string()),
                    },
                )?;
                Ok("/concerns?done=concern")
            }
            "/conflicts/resolve" => {
                let case = field(&f, "case");
                let name = field(&f, "field");
                let pick: usize = field(&f, "pick").parse().unwrap_or(0);
                let value = v
                    .conflicts(case)?
                    .into_iter()
                    .find(|c| c.field == name)
                    .ok_or(Error::NoSuchConflict)?
                    .values
                    .into_iter()
                    .nth(pick.wrapping_sub(1))
                    .ok_or_else(|| ValidationError::new("pick", "choose one of the values"))?
                    .value;
                v.resolve_conflict(case, name, value)?;
                Ok("/conflicts?done=resolved")
            }
            _ => Err(Error::UnknownRecord("page")),
        }
    })
    .await;
    match result {
        Ok(to) => see_other(to),
        Err(Error::UnknownRecord("page")) => {
            refused(StatusCode::NOT_FOUND, "Not found", "No such page.")
        }
        Err(e) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::layout(
                "Not done",
                "",
                None,
                None,
                None,
                &format!(
                    "<p class=\"error\" role=\"alert\">{}</p><p>Nothing was changed. <a href=\"/queue\">Sign-off queue</a> · <a href=\"/caseload\">Caseload</a></p>",
                    esc(&problem(&e))
                ),
            ),
        ),
    }
}

async fn page(app: Arc<App>, path: &str, q: HashMap<String, String>, csrf: String) -> Response {
    let done = flash(q.get("done"));
    let refresh = Some(app.lock_after.as_secs() + 1);
    match path {
        "/report" => return report_page(app, q, csrf, refresh).await,
        "/report.html" | "/report.csv" => return report_file(app, path, q).await,
        "/sync" => return sync_page(app, csrf).await,
        _ => {}
    }
    let path = path.to_string();
    let a = app.clone();
    let c = csrf.clone();
    type Page = Result<(String, &'static str, String), Error>;
    let render_page = move || -> Option<Page> {
        let mut v = guard(&a.vault);
        let v = &mut *v;
        Some(match path.as_str() {
            "/" | "/caseload" => pages::caseload(v).map(|b| ("Caseload".into(), "/caseload", b)),
            "/queue" => pages::queue(v, &c).map(|b| ("Sign-off queue".into(), "/queue", b)),
            "/concerns" => pages::concerns(v, &c).map(|b| ("Open concerns".into(), "/concerns", b)),
            "/conflicts" => pages::conflicts(v, &c).map(|b| ("Conflicts".into(), "/conflicts", b)),
            p if p.starts_with("/case/") => {
                let id = p.trim_start_matches("/case/").to_string();
                pages::case_page(v, &id).map(|(name, b)| (name, "/caseload", b))
            }
            _ => return None,
        })
    };
    match blocking(render_page).await {
        None => refused(StatusCode::NOT_FOUND, "Not found", "No such page."),
        Some(Ok((title, nav, body))) => html(
            StatusCode::OK,
            pages::layout(&title, nav, Some(&csrf), refresh, done, &body),
        ),
        Some(Err(e @ (Error::UnknownCase | Error::AmbiguousCase))) => {
            refused(StatusCode::NOT_FOUND, "Not found", &problem(&e))
        }
        Some(Err(e)) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::layout(
                "Not shown",
                "",
                Some(&csrf),
                None,
                None,
                &format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    esc(&problem(&e))
                ),
            ),
        ),
    }
}

fn report_query(q: &HashMap<String, String>) -> ReportQuery {
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    ReportQuery {
        from: get("from"),
        to: get("to"),
        team: get("team"),
        practitioner: get("practitioner"),
    }
}

/// The core's field name as the page's filter label.
fn report_problem(e: &Error) -> String {
    match e {
        Error::Invalid(ValidationError { field, problem }) => {
            let label = match field.as_str() {
                "from" => "From",
                "to" => "To",
                "team" => "Team",
                "practitioner" => "Practitioner",
                other => other,
            };
            format!("{label}: {problem}")
        }
        e => problem(e),
    }
}

async fn report_page(
    app: Arc<App>,
    q: HashMap<String, String>,
    csrf: String,
    refresh: Option<u64>,
) -> Response {
    let query = report_query(&q);
    let a = app.clone();
    let result = blocking(move || {
        let mut v = guard(&a.vault);
        let names: std::collections::BTreeSet<String> = v
            .caseload(true)?
            .into_iter()
            .flat_map(|s| s.practitioners)
            .collect();
        let r = v.report(&query);
        Ok::<_, Error>((names.into_iter().collect::<Vec<_>>(), r))
    })
    .await;
    let (names, r) = match result {
        Ok(x) => x,
        Err(e) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::layout(
                    "Report card",
                    "/report",
                    Some(&csrf),
                    None,
                    None,
                    &format!("<p class=\"error\">{}</p>", esc(&problem(&e))),
                ),
            );
        }
    };
    let team = q.get("team").cloned().unwrap_or_default();
    let practitioner = q.get("practitioner").cloned().unwrap_or_default();
    let body = match &r {
        Ok(r) => {
            let qs = pages::report_query(
                &r.period.from,
                &r.period.to,
                r.team.as_deref().unwrap_or(""),
                r.practitioner.as_deref().unwrap_or(""),
            );
            pages::report(
                &qs,
                &r.period.from,
                &r.period.to,
                &team,
                &practitioner,
                &names,
                None,
            )
        }
        Err(e) => pages::report(
            "",
            q.get("from").map(String::as_str).unwrap_or(""),
            q.get("to").map(String::as_str).unwrap_or(""),
            &team,
            &practitioner,
            &names,
            Some(&report_problem(e)),
        ),
    };
    html(
        if r.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        pages::layout("Report card", "/report", Some(&csrf), refresh, None, &body),
    )
}

async fn report_file(app: Arc<App>, path: &str, q: HashMap<String, String>) -> Response {
    let query = report_query(&q);
    let csv = path.ends_with(".csv");
    let download = csv || q.contains_key("download");
    let a = app.clone();
    let result = blocking(move || guard(&a.vault).report(&query)).await;
    match result {
        Ok(r) => {
            let (format, ct, ext) = if csv {
                (Format::Csv, "text/csv; charset=utf-8", "csv")
            } else {
                (Format::Html, "text/html; charset=utf-8", "html")
            };
            let mut resp = respond(StatusCode::OK, ct, render(&r, format, false));
            if download {
                let name = format!(
                    "attachment; filename=\"report-card-{}-to-{}.{ext}\"",
                    r.period.from, r.period.to
                );
                if let Ok(v) = HeaderValue::from_str(&name) {
                    resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
            }
            resp
        }
        Err(e) => respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            report_problem(&e),
        ),
    }
}

struct Progress(Arc<App>);

impl SyncObserver for Progress {
    fn progress(&mut self, phase: SyncPhase, done: u64, total: Option<u64>) {
        let phase = match phase {
            SyncPhase::Uploading => "uploading",
            SyncPhase::Downloading => "receiving",
            SyncPhase::SharingKeys => "sharing keys",
        };
        *guard(&self.0.sync) = SyncStatus::Running { phase, done, total };
    }
}

fn start_sync(app: Arc<App>) -> Response {
    {
        let mut s = guard(&app.sync);
        if matches!(*s, SyncStatus::Running { .. }) {
            return see_other("/sync");
        }
        *s = SyncStatus::Running {
            phase: "starting",
            done: 0,
            total: None,
        };
    }
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            let mut v = guard(&a.vault);
            let config = v.sync_config()?.ok_or(Error::NotEnrolled)?;
            let transport = HttpTransport::new(&config.server, config.allow_insecure_http)?;
            outreach_core::sync::sync(&mut v, &transport, &mut Progress(a.clone()))
        })();
        *guard(&a.sync) = SyncStatus::Done(result.map_err(|e| problem(&e)));
        guard(&a.door).last = Instant::now();
    });
    see_other("/sync")
}

async fn sync_page(app: Arc<App>, csrf: String) -> Response {
    let mut body = String::new();
    let mut refresh = Some(app.lock_after.as_secs() + 1);
    let status = match &*guard(&app.sync) {
        SyncStatus::Idle => None,
        SyncStatus::Running { phase, done, total } => Some(Err((*phase, *done, *total))),
        SyncStatus::Done(r) => Some(Ok(r.clone())),
    };
    match status {
        Some(Err((phase, done, total))) => {
            refresh = Some(1);
            body.push_str(&format!(
                "<p role=\"status\" id=\"sync-progress\">Sync running: {phase}, {done}{} … (this page follows it)</p>",
                total.map(|t| format!(" of {t}")).unwrap_or_default()
            ));
            if let Some(t) = total.filter(|t| *t > 0) {
                body.push_str(&format!(
                    "<progress max=\"{t}\" value=\"{done}\">{done} of {t}</progress>"
                ));
            }
        }
        Some(Ok(Ok(r))) => {
            body.push_str(&format!(
                "<p role=\"status\" id=\"sync-result\">Last sync: {} uploaded, {} received in {} case(s), {} conflict(s) to resolve, {} round trip(s).</p>",
                r.pushed,
                r.pulled,
                r.cases_changed.len(),
                r.conflicts,
                r.round_trips
            ));
            if r.cases_waiting_for_key > 0 {
                body.push_str(&format!(
                    "<p>{} case(s) wait for a colleague's device to share the key.</p>",
                    r.cases_waiting_for_key
                ));
            }
            body.push_str("<h2>Rejected items</h2>");
            if r.rejected.is_empty() {
                body.push_str("<p>None: everything received verified and applied.</p>");
            } else {
                body.push_str("<table id=\"rejected\"><thead><tr><th scope=\"col\">Case</th><th scope=\"col\">Reason</th></tr></thead><tbody>");
                for x in &r.rejected {
                    body.push_str(&format!(
                        "<tr><td><a href=\"/case/{}\">{}</a></td><td>{}</td></tr>",
                        esc(&x.case),
                        esc(x.case.get(..8).unwrap_or(&x.case)),
                        esc(&x.reason.to_string())
                    ));
                }
                body.push_str("</tbody></table><p>Each was kept aside and reported to your organisation; everything else synced.</p>");
            }
            for x in &r.erased {
                body.push_str(&format!(
                    "<p>Case {} was erased by your organisation and deleted from this device.</p>",
                    esc(x.get(..8).unwrap_or(x))
                ));
            }
        }
        Some(Ok(Err(e))) => {
            body.push_str(&format!(
                "<p class=\"error\" role=\"alert\">The last sync did not finish: {}</p>",
                esc(&e)
            ));
        }
        None => body.push_str("<p>No sync run from this console yet.</p>"),
    }
    if refresh != Some(1) {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/sync\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sync now</button></form>",
            esc(&csrf)
        ));
    }
    html(
        StatusCode::OK,
        pages::layout("Sync", "/sync", Some(&csrf), refresh, None, &body),
    )
}
