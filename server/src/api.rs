//! HTTP layer: parses bodies, checks device signatures and the clock, maps
//! storage outcomes to status codes. Handlers run the storage call on the
//! blocking pool. Logs carry method, path, status, sizes and a device id
//! prefix — never a body.

mod compact;
mod erasure;
mod safety;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::{Signature, VerifyingKey};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;
use outreach_protocol::{
    self as proto, ApiError, AssignRequest, EnrollRequest, EnrollResponse, ErrorCode, Id,
    PullRequest, PushRequest, RefetchRequest, RejectReport, RejectReportResponse, RotateRequest,
    TransferRequest,
};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

use crate::storage::{Device, NewDevice, QueuedPull, Storage, StorageError};

/// Limits of the connection loop and the request pipeline (`serve` options).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A connection must send a request's whole header within this time,
    /// the first request and every later one (hyper starts the clock as soon
    /// as a connection waits for a request, so it also closes idle
    /// keep-alive connections).
    pub header_timeout: Duration,
    /// A request body must have arrived whole within this time.
    pub body_timeout: Duration,
    /// A connection on which no byte moves either way for this long is
    /// closed (a stalled upload, or a client that does not read its reply).
    pub idle_timeout: Duration,
    /// Connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests handled at once; more wait (within the request timeout).
    pub max_requests: usize,
    /// Large pull pages held in memory at once, in KiB, all devices
    /// together; beyond it a large page is refused as busy.
    pub reply_buffer_kib: u32,
    /// Enrolment attempts per minute from one source address (the burst).
    pub enrol_per_address: u32,
    /// Enrolment attempts per minute from everywhere.
    pub enrol_global: u32,
    /// How often refused attempts are summed up in one log line.
    pub rate_log_every: Duration,
    /// Lone-working alerts: grace after a deadline, webhook.
    pub safety: crate::safety::SafetyOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1000,
            max_requests: 256,
            reply_buffer_kib: REPLY_BUFFER_KIB,
            enrol_per_address: 10,
            enrol_global: 120,
            rate_log_every: Duration::from_secs(60),
            safety: crate::safety::SafetyOptions::default(),
        }
    }
}

/// Requests one device may have in progress at once (an honest device
/// makes one at a time): one device cannot take every request slot.
const MAX_DEVICE_REQUESTS: usize = 4;
/// Request bodies held in memory at once, in KiB (beyond, requests wait).
const BODY_BUFFER_KIB: u32 = 64 * 1024;
/// Large pull pages held in memory at once, in KiB, whatever the number of
/// devices pulling (beyond, a large page is refused as busy): the default
/// of [`ServeOptions::reply_buffer_kib`]. Pages being built are bounded
/// apart from this by the storage's work slots.
pub const REPLY_BUFFER_KIB: u32 = 64 * 1024;
/// Replies smaller than this keep no part of [`REPLY_BUFFER_KIB`] once
/// built (at most one per connection: the connection limit bounds them).
const SMALL_REPLY_KIB: usize = 64;
/// Largest enrolment body (a code and two keys).
const MAX_ENROLL_BODY: usize = 4096;
/// Signed requests remembered for replay protection, in all and per device.
const REPLAY_CAPACITY: usize = 200_000;
const REPLAY_PER_DEVICE: u32 = 5_000;

#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    guards: Arc<Guards>,
    devices: Arc<KnownDevices>,
}

/// Enrolled devices the server has seen, kept in memory after the first
/// lookup: id, user, role, team and the signing key decoded once, ready to
/// verify. None of these change after enrolment. Whether a device has been
/// revoked is *not* trusted from here: the storage checks it in the
/// transaction of every request's work, so a `revoke-device` run by the
/// admin in another process holds from the next request on. (A device found
/// revoked stays revoked: revocation is never undone.) Unknown device ids
/// are not kept, so the map holds at most the enrolled devices.
#[derive(Default)]
struct KnownDevices {
    map: RwLock<HashMap<Id, Arc<KnownDevice>>>,
}

struct KnownDevice {
    device: Device,
    /// `None` if the stored key does not decode (no signature verifies).
    key: Option<VerifyingKey>,
    /// The device's last pull page was large: its next pull runs in the
    /// lane for large pages (see [`Guards::large_slots`]).
    pulls_large: AtomicBool,
}

impl KnownDevices {
    fn get(&self, id: &Id) -> Option<Arc<KnownDevice>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn insert(&self, device: Device) -> Arc<KnownDevice> {
        let known = Arc::new(KnownDevice {
            key: VerifyingKey::from_bytes(&device.sign_pk).ok(),
            device,
            pulls_large: AtomicBool::new(false),
        });
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(known.device.device_id, known.clone());
        known
    }
}

/// Ed25519 with a decoded key (strict: no malleable or small-order
/// signatures, as [`proto::verify`]).
fn verify_with(key: Option<&VerifyingKey>, message: &[u8], signature: &[u8]) -> bool {
    let Some(key) = key else { return false };
    Signature::from_slice(signature).is_ok_and(|sig| key.verify_strict(message, &sig).is_ok())
}

/// A request's own signature. Not strict verification (about 5 µs less a
/// request): strictness guards against signatures that one implementation
/// accepts and another refuses, which matters for what devices store and
/// check again — changes and envelopes, verified strictly — not for a
/// request, which only this server checks, once, and whose replay guard
/// keys on the signed nonce rather than on the signature's bytes.
fn verify_request(key: Option<&VerifyingKey>, message: &[u8], signature: &[u8]) -> bool {
    let Some(key) = key else { return false };
    Signature::from_slice(signature)
        .is_ok_and(|sig| ed25519_dalek::Verifier::verify(key, message, &sig).is_ok())
}

/// Several signatures by one key in one batch verification (on the project
/// VM, per signature: 40 µs one by one, 33 µs in a batch of two, 27 µs of
/// four, 22 µs of eight). Batch verification is not strict verification: a
/// signature its key's holder built with a small-order component might pass
/// here and not on a device — where it is refused and quarantined like any
/// other junk that holder could upload.
fn verify_all(key: Option<&VerifyingKey>, messages: &[Vec<u8>], signatures: &[&[u8]]) -> bool {
    let Some(key) = key else {
        return signatures.is_empty();
    };
    match signatures.len() {
        0 => true,
        1 => verify_with(Some(key), &messages[0], signatures[0]),
        n => {
            let Ok(sigs) = signatures
                .iter()
                .map(|s| Signature::from_slice(s))
                .collect::<Result<Vec<_>, _>>()
            else {
                return false;
            };
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&messages, &sigs, &vec![*key; n]).is_ok()
        }
    }
}

impl AppState {
    pub fn new(storage: Arc<dyn Storage>, options: ServeOptions) -> Self {
        let work_slots = storage.parallel_work().max(1);
        let reply_kib = options.reply_buffer_kib as usize;
        let per_minute =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            storage,
            guards: Arc::new(Guards {
                enrol_by_address: RateLimiter::keyed(per_minute(options.enrol_per_address)),
                enrol_global: RateLimiter::direct(per_minute(options.enrol_global)),
                options,
                replay: Mutex::new(ReplayCache::default()),
                busy: Mutex::new(HashMap::new()),
                body_buffer: Arc::new(Semaphore::new(BODY_BUFFER_KIB as usize)),
                storage_slots: Arc::new(Semaphore::new(work_slots)),
                large_slots: Arc::new(Semaphore::new(work_slots.div_ceil(2))),
                reply_buffer: Arc::new(Semaphore::new(reply_kib)),
                enrol_refused: AtomicU64::new(0),
                busy_refused: AtomicU64::new(0),
                pages_refused: AtomicU64::new(0),
            }),
            devices: Arc::new(KnownDevices::default()),
        }
    }
}

/// Per-process abuse guards shared by every connection.
struct Guards {
    options: ServeOptions,
    replay: Mutex<ReplayCache>,
    /// Requests in progress per device.
    busy: Mutex<HashMap<Id, usize>>,
    body_buffer: Arc<Semaphore>,
    /// Storage work running at once (see [`Storage::parallel_work`]).
    storage_slots: Arc<Semaphore>,
    /// Pulls of devices whose last page was large run in a lane of their
    /// own, so that devices fetching large items — a first sync, or an
    /// insider pulling 4 MiB items in a loop — cannot take every work slot
    /// from the small pulls of everyone else.
    large_slots: Arc<Semaphore>,
    /// Large pull pages held in memory at once, in KiB, until their
    /// connection has taken them.
    reply_buffer: Arc<Semaphore>,
    /// Large pages refused since the last summary line.
    pages_refused: AtomicU64,
    enrol_by_address: DefaultKeyedRateLimiter<IpAddr>,
    enrol_global: DefaultDirectRateLimiter,
    /// Refusals since the last summary line.
    enrol_refused: AtomicU64,
    busy_refused: AtomicU64,
}

/// Nonces of signed requests seen within the clock-skew window: a request
/// is accepted once. Entries are dropped when their request could no longer
/// pass the clock check; the cache is bounded in all and per device, and a
/// full cache refuses (`RateLimited`) rather than forget.
#[derive(Default)]
struct ReplayCache {
    seen: HashSet<(Id, [u8; proto::NONCE_LEN])>,
    /// In insertion order, which is expiry order (expiry = insertion + window).
    order: VecDeque<(i64, Id, [u8; proto::NONCE_LEN])>,
    per_device: HashMap<Id, u32>,
}

impl ReplayCache {
    fn expire(&mut self, now: i64) {
        while let Some(&(expires, device, nonce)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&(device, nonce));
            if let Some(n) = self.per_device.get_mut(&device) {
                *n -= 1;
                if *n == 0 {
                    self.per_device.remove(&device);
                }
            }
        }
    }

    fn admit(
        &mut self,
        device: Id,
        nonce: [u8; proto::NONCE_LEN],
        now: i64,
    ) -> Result<(), Failure> {
        self.expire(now);
        if self.seen.contains(&(device, nonce)) {
            return Err(Failure::new(
                ErrorCode::Replayed,
                "this signed request was already used",
            ));
        }
        let mine = self.per_device.get(&device).copied().unwrap_or(0);
        if mine >= REPLAY_PER_DEVICE || self.seen.len() >= REPLAY_CAPACITY {
            return Err(Failure::new(
                ErrorCode::RateLimited,
                "too many requests: try again in a few minutes",
            ));
        }
        // A request passes the clock check while |now - ts| <= skew, ts at
        // most `skew` ahead of the time it was first seen.
        let expires = now + 2 * proto::MAX_CLOCK_SKEW_SECS + 1;
        let expires = self.order.back().map_or(expires, |b| b.0.max(expires));
        self.seen.insert((device, nonce));
        self.order.push_back((expires, device, nonce));
        *self.per_device.entry(device).or_default() += 1;
        Ok(())
    }
}

/// One of a device's request slots, given back when the response has been
/// handed to the connection (it travels with the response body).
struct DeviceSlot {
    guards: Arc<Guards>,
    device: Id,
}

impl DeviceSlot {
    fn take(guards: &Arc<Guards>, device: Id) -> Result<DeviceSlot, Failure> {
        let mut busy = guards.busy.lock().unwrap_or_else(|p| p.into_inner());
        let n = busy.entry(device).or_default();
        if *n >= MAX_DEVICE_REQUESTS {
            guards.busy_refused.fetch_add(1, Ordering::Relaxed);
            return Err(Failure::new(
                ErrorCode::RateLimited,
                "too many requests at once from this device",
            ));
        }
        *n += 1;
        Ok(DeviceSlot {
            guards: guards.clone(),
            device,
        })
    }
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        let mut busy = self.guards.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&self.device) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.device);
            }
        }
    }
}

/// A response body that holds its device's request slot until the
/// connection has taken the last of it (a device that does not read its
/// replies cannot pile them up in memory; see [`HeldPage`] for many
/// devices together).
struct HeldBody {
    body: Body,
    _slot: DeviceSlot,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

pub fn router(state: AppState) -> Router {
    let options = &state.guards.options;
    Router::new()
        .route(proto::PATH_HEALTH, get(health))
        .route(proto::PATH_ENROLL, post(enroll))
        .route(proto::PATH_PUSH, post(push))
        .route(proto::PATH_PULL, post(pull))
        .route(proto::PATH_ASSIGN, post(assign))
        .route(proto::PATH_REFETCH, post(refetch))
        .route(proto::PATH_TRANSFER, post(transfer))
        .route(proto::PATH_REPORT, post(report))
        .route(proto::PATH_ERASED, post(erasure::erased))
        .route(proto::PATH_CLOSURE, post(erasure::closure))
        .route(proto::PATH_ROTATE, post(rotate))
        .route(proto::PATH_COMPACT, post(compact::compact))
        .route(proto::PATH_SAFETY, post(safety::safety))
        .layer(DefaultBodyLimit::max(proto::MAX_BODY_BYTES))
        // The whole body within the body timeout, however it trickles in.
        .layer(RequestBodyDeadlineLayer::new(options.body_timeout))
        .layer(GlobalConcurrencyLimitLayer::new(options.max_requests))
        // Waiting for a slot, reading the body and the work, together.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            options.body_timeout + Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
///
/// Each connection: at most `max_connections` at once (the rest wait in the
/// accept queue), hyper's header-read timeout, an idle timeout on the socket
/// (no byte either way), and the client's address for the enrolment limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let options = state.guards.options.clone();
    tokio::spawn(summarise_refusals(state.guards.clone()));
    tokio::spawn(housekeeping(state.storage.clone()));
    tokio::spawn(crate::safety::watch(
        state.storage.clone(),
        options.safety.clone(),
    ));
    let storage = state.storage.clone();
    let app = router(state);
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or similar: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_read_timeout(Some(options.idle_timeout));
        io.set_write_timeout(Some(options.idle_timeout));
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(Body::new))
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(Box::pin(io)), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    // In-flight requests finish; idle connections close at once.
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    let _ = tokio::task::spawn_blocking(move || storage.flush_pending()).await;
    Ok(())
}

/// How often what the storage keeps in memory (devices' last contact) is
/// written when no push has written it already.
const LAST_SEEN_FLUSH_SECS: u64 = 30;

/// Every hour, changes superseded by compaction longer than their window
/// are purged.
const PURGE_SUPERSEDED_SECS: u64 = 3600;

/// Every second, the WAL is checkpointed; every 30 s, devices' last contact
/// is written; every hour, old superseded changes are purged (on the
/// blocking pool, off the path of requests).
async fn housekeeping(storage: Arc<dyn Storage>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    for n in 1u64.. {
        tick.tick().await;
        let storage = storage.clone();
        let flush = n % LAST_SEEN_FLUSH_SECS == 0;
        let purge = n % PURGE_SUPERSEDED_SECS == 0;
        // Each step on its own: one that fails (and is retried at its next
        // turn) never skips another — above all the hourly purge, whose
        // turn would otherwise not come again for an hour.
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = storage.checkpoint() {
                tracing::warn!(error = %e, "housekeeping: checkpoint failed; will retry");
            }
            crate::memory::release_free();
            if purge && let Err(e) = storage.purge_superseded(crate::now()) {
                tracing::warn!(error = %e, "housekeeping: purge of superseded changes failed; will retry in an hour");
            }
            if flush && let Err(e) = storage.flush_pending() {
                tracing::warn!(error = %e, "housekeeping: writing devices' last contact failed; will retry");
            }
        })
        .await;
    }
}

/// One log line per interval for refused attempts, never one per attempt;
/// also forgets rate-limit state of addresses that went quiet.
async fn summarise_refusals(guards: Arc<Guards>) {
    let mut every = tokio::time::interval(guards.options.rate_log_every);
    every.tick().await;
    loop {
        every.tick().await;
        let enrol = guards.enrol_refused.swap(0, Ordering::Relaxed);
        let busy = guards.busy_refused.swap(0, Ordering::Relaxed);
        let pages = guards.pages_refused.swap(0, Ordering::Relaxed);
        if enrol > 0 || busy > 0 || pages > 0 {
            tracing::warn!(
                enrolment = enrol,
                device_concurrency = busy,
                reply_buffer_full = pages,
                seconds = guards.options.rate_log_every.as_secs(),
                "requests refused by rate limits"
            );
        }
        guards.enrol_by_address.retain_recent();
        guards.enrol_by_address.shrink_to_fit();
    }
}

async fn log_request(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The first 8 hex digits of the claimed device id, as sent (the
    // signature is checked later, once).
    let device = req
        .headers()
        .get(proto::AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once("device=").map(|(_, rest)| rest))
        .and_then(|id| id.get(..8))
        .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let started = Instant::now();
    let response = next.run(req).await;
    // Refusals by a rate limit are summed up per interval instead.
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        tracing::info!(
            %method,
            %path,
            status = response.status().as_u16(),
            device = %device,
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    }
    response
}

/// A refused or failed request: status plus a postcard [`ApiError`].
pub struct Failure(StatusCode, ErrorCode, String);

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::Malformed => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unauthenticated | ErrorCode::BadSignature | ErrorCode::ClockSkew => {
                StatusCode::UNAUTHORIZED
            }
            ErrorCode::DeviceRevoked | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::UnknownCode | ErrorCode::ExpiredCode | ErrorCode::UsedCode => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::UnknownUser | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::DeviceExists | ErrorCode::StaleEpoch => StatusCode::CONFLICT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Replayed => StatusCode::UNAUTHORIZED,
        };
        Failure(status, code, message.into())
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Refused(code, message) => Failure::new(code, message),
            other => {
                tracing::error!(error = %other, "storage failure");
                Failure::new(
                    ErrorCode::Internal,
                    "the server could not complete the request",
                )
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = proto::encode(&ApiError {
            code: self.1,
            message: self.2,
        });
        (self.0, [(header::CONTENT_TYPE, proto::CONTENT_TYPE)], body).into_response()
    }
}

fn ok(body: impl Into<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(proto::CONTENT_TYPE),
        )],
        body.into(),
    )
        .into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(Failure::new(
            ErrorCode::Internal,
            "the server could not complete the request",
        ))
    })
}

async fn health(State(state): State<AppState>) -> Response {
    let storage = state.storage.clone();
    match blocking(move || Ok(storage.org()?.is_some())).await {
        Ok(true) => (StatusCode::OK, "ok\n").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "not initialised\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response(),
    }
}

fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Failure> {
    proto::decode(body)
        .map_err(|_| Failure::new(ErrorCode::Malformed, "the request body is malformed"))
}

/// Refuses a body that is not ours (`415`), before anything else is read.
fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let ours = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(proto::CONTENT_TYPE));
    if ours {
        Ok(())
    } else {
        Err(Failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Malformed,
            format!("the request body must be {}", proto::CONTENT_TYPE),
        ))
    }
}

/// Reads a body of at most `limit` bytes. A declared length over the limit
/// is refused before a byte is read; the body deadline (a layer) bounds the
/// time. Waits for room in the global body buffer first.
async fn read_body(
    guards: &Guards,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Bytes, tokio::sync::OwnedSemaphorePermit), Failure> {
    let too_large = || {
        Failure::new(
            ErrorCode::TooLarge,
            "the request is larger than the server accepts",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        // Read (and drop) a body up to twice the limit so that the client,
        // still sending, sees the answer rather than a reset connection;
        // nothing of it is kept. Anything larger is cut off.
        if n <= 2 * limit as u64 {
            let mut body = body;
            while let Some(Ok(_)) = body.frame().await {}
        }
        return Err(too_large());
    }
    let kib = (declared.unwrap_or(limit as u64).div_ceil(1024) as u32).max(1);
    let permit = guards
        .body_buffer
        .clone()
        .acquire_many_owned(kib)
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "the server is shutting down"))?;
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok((bytes, permit)),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return Err(too_large());
                }
                source = err.source();
            }
            Err(Failure(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::Malformed,
                "the request body did not arrive in time".into(),
            ))
        }
    }
}

/// Checks the request signature (from the headers alone: method, full URI,
/// time, nonce, body hash) with the device's key kept in memory; a device
/// not seen before is looked up on the blocking pool first. Whether it has
/// been revoked since is checked by the storage with the request's work.
async fn authenticate(
    state: &AppState,
    auth: Option<&proto::RequestAuth>,
    method: &str,
    uri: &str,
) -> Result<Arc<KnownDevice>, Failure> {
    let auth = auth.ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "the request is not signed by a device",
        )
    })?;
    let now = crate::now();
    if (now - auth.ts).abs() > proto::MAX_CLOCK_SKEW_SECS {
        return Err(Failure::new(
            ErrorCode::ClockSkew,
            "the device clock is more than five minutes out: correct it and retry",
        ));
    }
    let known = match state.devices.get(&auth.device) {
        Some(known) => known,
        None => {
            let storage = state.storage.clone();
            let id = auth.device;
            let device = blocking(move || Ok(storage.device(&id)?))
                .await?
                .ok_or_else(|| {
                    Failure::new(ErrorCode::Unauthenticated, "this device is not enrolled")
                })?;
            state.devices.insert(device)
        }
    };
    if !verify_request(known.key.as_ref(), &auth.message(method, uri), &auth.sig) {
        return Err(Failure::new(
            ErrorCode::BadSignature,
            "the request signature does not verify",
        ));
    }
    if known.device.revoked {
        return Err(Failure::new(
            ErrorCode::DeviceRevoked,
            "this device has been revoked by the organisation",
        ));
    }
    state.storage.touch_device(&auth.device, now)?;
    Ok(known)
}

/// A request signed by a device. In order, before anything large is held:
/// content type; signature over the headers (Ed25519, key kept in memory);
/// replay check; the device's request slot. Then the body is read under the
/// limit and checked against its signed hash, and `op` runs on the blocking
/// pool.
async fn signed(
    state: AppState,
    req: Request,
    limit: usize,
    op: impl FnOnce(&dyn Storage, &KnownDevice, &[u8]) -> Result<Reply, Failure> + Send + 'static,
) -> Result<Response, Failure> {
    signed_on(state, req, limit, Run::Blocking, op).await
}

/// Where a signed request's work runs.
#[derive(Clone, Copy)]
enum Run {
    /// On the blocking pool, in one of the storage's work slots: the work
    /// may wait on the database.
    Blocking,
    /// A pull: its work (decode, queue) on the async worker, then its page
    /// from the storage's pull threads, or the blocking pool (see
    /// [`page`]), in a work slot held until the page is in hand; a large
    /// page then keeps its size of the reply buffer until its connection
    /// has taken it: pages in memory are bounded in all, not only per
    /// request.
    Page,
    /// On the async worker: CPU only, no waiting (a few tens of µs).
    Inline,
}

/// [`signed`], with the work run where `run` says.
async fn signed_on(
    state: AppState,
    req: Request,
    limit: usize,
    run: Run,
    op: impl FnOnce(&dyn Storage, &KnownDevice, &[u8]) -> Result<Reply, Failure> + Send + 'static,
) -> Result<Response, Failure> {
    let (parts, body) = req.into_parts();
    let (device, auth, slot) = match check_signed_headers(&state, &parts).await {
        Ok(checked) => checked,
        Err(refusal) => {
            // A small body is read and dropped so that the refusal leaves
            // the connection reusable; a large one is not read at all.
            let small = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n <= MAX_SMALL_BODY);
            if small {
                let mut body = body;
                while let Some(Ok(_)) = body.frame().await {}
            }
            return Err(refusal);
        }
    };
    let (body, permit) = read_body(&state.guards, &parts.headers, body, limit).await?;
    if proto::body_hash(&body) != auth.body_hash {
        return Err(Failure::new(
            ErrorCode::BadSignature,
            "the request body does not match its signature",
        ));
    }
    let storage = state.storage.clone();
    let shutting_down = || Failure::new(ErrorCode::Internal, "the server is shutting down");
    let out = match run {
        Run::Blocking => {
            let _work = state
                .guards
                .storage_slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| shutting_down())?;
            let device = device.clone();
            blocking(move || {
                let out = op(&*storage, &device, &body);
                drop(permit);
                out
            })
            .await?
        }
        Run::Page => {
            let lane = if device.pulls_large.load(Ordering::Relaxed) {
                &state.guards.large_slots
            } else {
                &state.guards.storage_slots
            };
            // The slot is held until the page is in hand, wherever it is
            // written: pages in memory stay bounded by the slots.
            let _work = lane
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| shutting_down())?;
            // Decoding and queueing the pull are CPU only.
            let out = op(&*storage, &device, &body)?;
            drop(permit);
            let Reply::Pull(ask) = out else {
                return Err(Failure::new(
                    ErrorCode::Internal,
                    "the server could not complete the request",
                ));
            };
            Reply::Now(page(storage, device.clone(), ask).await?)
        }
        Run::Inline => {
            let out = op(&*storage, &device, &body)?;
            drop(permit);
            out
        }
    };
    let out = match out {
        Reply::Now(bytes) => bytes,
        // Waits for the group commit without holding a thread.
        Reply::Queued(outcome) => {
            let response = outcome.await.unwrap_or(Err(StorageError::CommitFailed))?;
            proto::encode(&response)
        }
        // Only a pull's work gives a pull, and it runs as `Run::Page`.
        Reply::Pull(_) => {
            return Err(Failure::new(
                ErrorCode::Internal,
                "the server could not complete the request",
            ));
        }
    };
    // A large page keeps its size of the reply buffer until sent. When the
    // buffer is full (many large pages not yet taken by their connections)
    // the page is dropped and the device asked to try again: no pull waits
    // holding a page, so memory stays bounded and small pages — an honest
    // device's usual sync — are never held up by large ones.
    let large = out.len().div_ceil(1024) >= SMALL_REPLY_KIB;
    if matches!(run, Run::Page) {
        device.pulls_large.store(large, Ordering::Relaxed);
    }
    let out = match run {
        Run::Page if large => {
            let kib = u32::try_from(out.len().div_ceil(1024)).unwrap_or(u32::MAX);
            match state
                .guards
                .reply_buffer
                .clone()
                .try_acquire_many_owned(kib)
            {
                // The bytes own their share: it is given back when the
                // connection has written the last of them, not when it has
                // merely taken them from the body into its write queue.
                Ok(permit) => Bytes::from_owner(HeldPage {
                    bytes: out,
                    _buffer: permit,
                }),
                Err(tokio::sync::TryAcquireError::Closed) => return Err(shutting_down()),
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    state.guards.pages_refused.fetch_add(1, Ordering::Relaxed);
                    return Err(Failure::new(
                        ErrorCode::RateLimited,
                        "the server is busy sending other large replies; sync again in a moment",
                    ));
                }
            }
        }
        _ => Bytes::from(out),
    };
    let (parts, body) = ok(out).into_parts();
    Ok(Response::from_parts(
        parts,
        Body::new(HeldBody { body, _slot: slot }),
    ))
}

/// A large reply's bytes with their share of the reply buffer.
struct HeldPage {
    bytes: Vec<u8>,
    _buffer: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for HeldPage {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// What a signed request's work gives: the reply body, or a push waiting for
/// its group commit.
enum Reply {
    Now(Vec<u8>),
    Queued(crate::storage::PushOutcome),
    /// A pull, queued for the storage's pull threads if it has them.
    Pull(PullAsk),
}

/// A pull a request asked for: where it is queued, if it is.
struct PullAsk {
    cursor: proto::Cursor,
    max_bytes: u32,
    queued: Option<crate::storage::PullOutcome>,
}

/// A pull's page: from the storage's pull threads without holding a thread
/// meanwhile; on the blocking pool when the storage has none, or when the
/// page needs more than their statement reads.
async fn page(
    storage: Arc<dyn Storage>,
    known: Arc<KnownDevice>,
    ask: PullAsk,
) -> Result<Vec<u8>, Failure> {
    let PullAsk {
        cursor,
        max_bytes,
        queued,
    } = ask;
    let full = match queued {
        None => false,
        Some(outcome) => match outcome.await {
            Ok(Ok(QueuedPull::Page(page))) => return Ok(page),
            Ok(Ok(QueuedPull::Full)) => true,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(Failure::new(
                    ErrorCode::Internal,
                    "the server could not complete the request",
                ));
            }
        },
    };
    blocking(move || {
        let device = &known.device;
        Ok(if full {
            storage.pull_full(device, cursor, max_bytes)?
        } else {
            storage.pull(device, cursor, max_bytes)?
        })
    })
    .await
}

/// Everything about a signed request that its headers decide: content
/// type, signature (Ed25519 with the device's key kept in memory), replay,
/// and a request slot of the device.
async fn check_signed_headers(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<(Arc<KnownDevice>, proto::RequestAuth, DeviceSlot), Failure> {
    check_content_type(&parts.headers)?;
    let auth = parts
        .headers
        .get(proto::AUTH_HEADER)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(proto::parse_auth_header)
                .ok_or_else(|| {
                    Failure::new(
                        ErrorCode::Unauthenticated,
                        "the request's signature header is malformed",
                    )
                })
        })
        .transpose()?;
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let method = parts.method.as_str().to_string();
    let known = authenticate(state, auth.as_ref(), &method, &uri).await?;
    let auth = auth.ok_or(Failure::new(ErrorCode::Internal, "unreachable"))?;
    let id = known.device.device_id;
    let now = crate::now();
    state
        .guards
        .replay
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(id, auth.nonce, now)?;
    if state.storage.shares_nonces() {
        // Other instances share the database: the nonce is recorded there
        // too, so a captured request cannot be replayed to one of them.
        let storage = state.storage.clone();
        let nonce = auth.nonce;
        let expires = now + 2 * proto::MAX_CLOCK_SKEW_SECS + 1;
        let fresh = match storage.admit_nonce_queued(&id, &nonce, expires) {
            // Awaited without holding a thread (see `admit_nonce_queued`).
            Some(outcome) => {
                match tokio::time::timeout(crate::storage::NONCE_WAIT, outcome).await {
                    Ok(Ok(fresh)) => fresh?,
                    // The nonce thread stopped (shutting down) or is stuck.
                    Ok(Err(_)) | Err(_) => return Err(StorageError::CommitFailed.into()),
                }
            }
            None => blocking(move || Ok(storage.admit_nonce(&id, &nonce, expires)?)).await?,
        };
        if !fresh {
            return Err(Failure::new(
                ErrorCode::Replayed,
                "this signed request was already used",
            ));
        }
    }
    let slot = DeviceSlot::take(&state.guards, id)?;
    Ok((known, auth, slot))
}

/// Refuses an enrolment attempt over the per-address or global rate
/// (counted for the summary line, not logged one by one).
fn enrol_rate(guards: &Guards, peer: Option<SocketAddr>) -> Result<(), Failure> {
    let refused = || {
        guards.enrol_refused.fetch_add(1, Ordering::Relaxed);
        Failure::new(
            ErrorCode::RateLimited,
            "too many enrolment attempts: wait a minute and try again",
        )
    };
    if let Some(peer) = peer {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        guards
            .enrol_by_address
            .check_key(&ip)
            .map_err(|_| refused())?;
    }
    guards.enrol_global.check().map_err(|_| refused())
}

async fn enroll(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    check_content_type(req.headers())?;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    // The body (at most 4 KiB) is read even when the attempt is refused, so
    // the refusal leaves the connection reusable.
    let (parts, body) = req.into_parts();
    let (body, _permit) = read_body(&state.guards, &parts.headers, body, MAX_ENROLL_BODY).await?;
    enrol_rate(&state.guards, peer)?;
    let req: EnrollRequest = decode(&body)?;
    let message = proto::enroll_message(&req.code, &req.device_id, &req.sign_pk, &req.kex_pk);
    proto::verify(&req.sign_pk, &message, &req.signature).map_err(|_| {
        Failure::new(
            ErrorCode::BadSignature,
            "the enrolment proof does not verify",
        )
    })?;
    if !crate::keys::valid_kex_pk(&req.kex_pk) {
        return Err(Failure::new(
            ErrorCode::Malformed,
            "the device key is malformed",
        ));
    }
    let storage = state.storage.clone();
    let response = blocking(move || {
        let org = storage.org()?.ok_or(StorageError::NotInitialised)?;
        let user = storage.enroll(
            crate::keys::code_hash(&req.code),
            NewDevice {
                device_id: req.device_id,
                sign_pk: req.sign_pk,
                kex_pk: req.kex_pk,
            },
            crate::now(),
        )?;
        tracing::info!(device = %hex::encode(&req.device_id[..4]), role = %user.role, "device enrolled");
        Ok(EnrollResponse {
            org_id: org.org_id,
            org_name: org.name,
            user_id: user.user_id,
            user_name: user.name,
            role: user.role,
            team: user.team,
            recovery_pk: org.recovery_pk,
        })
    })
    .await?;
    Ok(ok(proto::encode(&response)))
}

async fn push(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    // A storage that queues pushes for its own writer returns at once: the
    // push's checks (signatures, CPU only) then run on the async worker
    // instead of waking a blocking thread for them.
    let run = if state.storage.queues_pushes() {
        Run::Inline
    } else {
        Run::Blocking
    };
    signed_on(
        state,
        req,
        proto::MAX_BODY_BYTES,
        run,
        |storage, known, body| {
            let req: PushRequest = decode(body)?;
            check_push(known, &req)?;
            Ok(Reply::Queued(storage.push_queued(
                &known.device,
                req.changes,
                req.envelopes,
                crate::now(),
            )))
        },
    )
    .await
}

/// Every change and envelope must be the device's own and carry a valid
/// signature (all of a push's signatures checked in one batch); the storage
/// checks the device's right to the case.
fn check_push(known: &KnownDevice, req: &PushRequest) -> Result<(), Failure> {
    let device = &known.device;
    let mut messages = Vec::with_capacity(req.changes.len() + req.envelopes.len());
    let mut signatures: Vec<&[u8]> = Vec::with_capacity(messages.capacity());
    for change in &req.changes {
        if change.author != device.device_id {
            return Err(Failure::new(
                ErrorCode::Forbidden,
                "a change names another device as its author",
            ));
        }
        if change.ciphertext.len() > proto::MAX_BLOB_BYTES {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "a change is larger than the server accepts",
            ));
        }
        messages.push(proto::change_message(
            &change.case_id,
            change.epoch,
            &change.author,
            &change.client_id,
            &change.ciphertext,
        ));
        signatures.push(&change.signature);
    }
    for env in &req.envelopes {
        if env.sealed_by != device.device_id {
            return Err(Failure::new(
                ErrorCode::Forbidden,
                "an envelope names another device as its sealer",
            ));
        }
        if env.enc.len() + env.ciphertext.len() > proto::MAX_ENVELOPE_BYTES {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "an envelope is larger than the server accepts (1 KiB)",
            ));
        }
        messages.push(proto::envelope_message(
            &env.case_id,
            env.epoch,
            &env.recipient,
            &env.sealed_by,
            env.starts_epoch,
            &env.enc,
            &env.ciphertext,
        ));
        signatures.push(&env.signature);
    }
    let key = known.key.as_ref();
    if verify_all(key, &messages, &signatures) {
        return Ok(());
    }
    // Refused: say which kind of item failed.
    let bad_change = (0..req.changes.len()).any(|i| !verify_with(key, &messages[i], signatures[i]));
    Err(Failure::new(
        ErrorCode::BadSignature,
        if bad_change {
            "a change's signature does not verify"
        } else {
            "an envelope's signature does not verify"
        },
    ))
}

/// Small requests (pull, assign, transfer, refetch, report) are read under
/// this limit.
const MAX_SMALL_BODY: usize = 64 * 1024;

/// A sequence number SQLite can hold (its integers are signed 64-bit).
fn check_seq(seq: u64) -> Result<(), Failure> {
    if seq > i64::MAX as u64 {
        return Err(Failure::new(
            ErrorCode::Malformed,
            "a sequence number is out of range",
        ));
    }
    Ok(())
}

async fn pull(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed_on(
        state,
        req,
        MAX_SMALL_BODY,
        Run::Page,
        |storage, known, body| {
            let req: PullRequest = decode(body)?;
            check_seq(req.cursor.seq)?;
            check_seq(req.cursor.sub)?;
            Ok(Reply::Pull(PullAsk {
                cursor: req.cursor,
                max_bytes: req.max_bytes,
                queued: storage.pull_queued(&known.device, req.cursor, req.max_bytes),
            }))
        },
    )
    .await
}

async fn assign(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let req: AssignRequest = decode(body)?;
        let response = storage.assign(&known.device, &req.case_id, &req.user, crate::now())?;
        Ok(Reply::Now(proto::encode(&response)))
    })
    .await
}

async fn transfer(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let req: TransferRequest = decode(body)?;
        let response = storage.transfer(&known.device, &req.case_id, &req.user, crate::now())?;
        Ok(Reply::Now(proto::encode(&response)))
    })
    .await
}

async fn refetch(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let device = &known.device;
        let req: RefetchRequest = decode(body)?;
        if req.cases.len() > proto::MAX_REFETCH_CASES {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many cases in one refetch",
            ));
        }
        storage.refetch(device, &req.cases, crate::now())?;
        Ok(Reply::Now(Vec::new()))
    })
    .await
}

async fn rotate(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let req: RotateRequest = decode(body)?;
        if req.envelopes.len() > proto::MAX_ROTATE_ENVELOPES {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many envelopes in one rotation",
            ));
        }
        // The same checks as a push's envelopes (sealer, size, signature).
        check_push(
            known,
            &PushRequest {
                changes: Vec::new(),
                envelopes: req.envelopes.clone(),
            },
        )?;
        let response = storage.rotate(&known.device, &req, crate::now())?;
        Ok(Reply::Now(proto::encode(&response)))
    })
    .await
}

async fn report(State(state): State<AppState>, req: Request) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let device = &known.device;
        let req: RejectReport = decode(body)?;
        if req.items.len() > proto::MAX_REPORT_ITEMS {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many items in one report",
            ));
        }
        for item in &req.items {
            check_seq(item.seq)?;
        }
        let stored = storage.report_rejected(device, &req.items, crate::now())?;
        if stored > 0 {
            tracing::warn!(
                device = %hex::encode(&device.device_id[..4]),
                items = stored,
                "a device reported items it could not use (outreach-server rejected)"
            );
        }
        Ok(Reply::Now(proto::encode(&RejectReportResponse { stored })))
    })
    .await
}
