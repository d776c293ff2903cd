//! HTTP layer: parses bodies, checks device signatures and the clock, maps
//! storage outcomes to status codes. Handlers run the storage call on the
//! blocking pool. Logs carry method, path, status, sizes and a device id
//! prefix — never a body.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outreach_protocol::{
    self as proto, ApiError, AssignRequest, EnrollRequest, EnrollResponse, ErrorCode, PullRequest,
    PushRequest, RefetchRequest, TransferRequest,
};

use crate::storage::{Device, NewDevice, Storage, StorageError};

#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(proto::PATH_HEALTH, get(health))
        .route(proto::PATH_ENROLL, post(enroll))
        .route(proto::PATH_PUSH, post(push))
        .route(proto::PATH_PULL, post(pull))
        .route(proto::PATH_ASSIGN, post(assign))
        .route(proto::PATH_REFETCH, post(refetch))
        .route(proto::PATH_TRANSFER, post(transfer))
        .layer(DefaultBodyLimit::max(proto::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let device = req
        .headers()
        .get(proto::AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(proto::parse_auth_header)
        .map(|(d, _, _)| hex::encode(&d[..4]))
        .unwrap_or_default();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        device = %device,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
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
            ErrorCode::DeviceExists => StatusCode::CONFLICT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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

fn ok(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(proto::CONTENT_TYPE),
        )],
        body,
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

/// Checks the request signature and the device's standing. Runs on the
/// blocking pool together with the operation, one hand-off per request.
fn authenticate(
    storage: &dyn Storage,
    auth: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Device, Failure> {
    let value = auth.ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "the request is not signed by a device",
        )
    })?;
    let (device_id, ts, sig) = proto::parse_auth_header(value).ok_or_else(|| {
        Failure::new(
            ErrorCode::Unauthenticated,
            "the request's signature header is malformed",
        )
    })?;
    let now = crate::now();
    if (now - ts).abs() > proto::MAX_CLOCK_SKEW_SECS {
        return Err(Failure::new(
            ErrorCode::ClockSkew,
            "the device clock is more than five minutes out: correct it and retry",
        ));
    }
    let device = storage
        .device(&device_id)?
        .ok_or_else(|| Failure::new(ErrorCode::Unauthenticated, "this device is not enrolled"))?;
    let message = proto::request_message(method, path, ts, body);
    proto::verify(&device.sign_pk, &message, &sig).map_err(|_| {
        Failure::new(
            ErrorCode::BadSignature,
            "the request signature does not verify",
        )
    })?;
    if device.revoked {
        return Err(Failure::new(
            ErrorCode::DeviceRevoked,
            "this device has been revoked by the organisation",
        ));
    }
    storage.touch_device(&device_id, now)?;
    Ok(device)
}

/// A request signed by a device: authenticate, then run `op` — both on the
/// blocking pool — and return its body.
async fn signed(
    state: AppState,
    headers: HeaderMap,
    method: Method,
    uri: Uri,
    body: Bytes,
    op: impl FnOnce(&dyn Storage, Device, &[u8]) -> Result<Vec<u8>, Failure> + Send + 'static,
) -> Result<Response, Failure> {
    let auth = headers
        .get(proto::AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = uri.path().to_string();
    let storage = state.storage.clone();
    let out = blocking(move || {
        let device = authenticate(&*storage, auth.as_deref(), method.as_str(), &path, &body)?;
        op(&*storage, device, &body)
    })
    .await?;
    Ok(ok(out))
}

async fn enroll(State(state): State<AppState>, body: Bytes) -> Result<Response, Failure> {
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

async fn push(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    signed(
        state,
        headers,
        method,
        uri,
        body,
        |storage, device, body| {
            let req: PushRequest = decode(body)?;
            check_push(&device, &req)?;
            let response = storage.push(&device, &req.changes, &req.envelopes, crate::now())?;
            Ok(proto::encode(&response))
        },
    )
    .await
}

/// Every change and envelope must be the device's own and carry a valid
/// signature; the storage checks the device's right to the case.
fn check_push(device: &Device, req: &PushRequest) -> Result<(), Failure> {
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
        let m = proto::change_message(
            &change.case_id,
            change.epoch,
            &change.author,
            &change.client_id,
            &change.ciphertext,
        );
        proto::verify(&device.sign_pk, &m, &change.signature).map_err(|_| {
            Failure::new(
                ErrorCode::BadSignature,
                "a change's signature does not verify",
            )
        })?;
    }
    for env in &req.envelopes {
        if env.sealed_by != device.device_id {
            return Err(Failure::new(
                ErrorCode::Forbidden,
                "an envelope names another device as its sealer",
            ));
        }
        let m = proto::envelope_message(
            &env.case_id,
            env.epoch,
            &env.recipient,
            &env.sealed_by,
            &env.enc,
            &env.ciphertext,
        );
        proto::verify(&device.sign_pk, &m, &env.signature).map_err(|_| {
            Failure::new(
                ErrorCode::BadSignature,
                "an envelope's signature does not verify",
            )
        })?;
    }
    Ok(())
}

async fn pull(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    signed(
        state,
        headers,
        method,
        uri,
        body,
        |storage, device, body| {
            let req: PullRequest = decode(body)?;
            let response = storage.pull(&device, req.cursor, req.max_bytes)?;
            Ok(proto::encode(&response))
        },
    )
    .await
}

async fn assign(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    signed(
        state,
        headers,
        method,
        uri,
        body,
        |storage, device, body| {
            let req: AssignRequest = decode(body)?;
            let response = storage.assign(&device, &req.case_id, &req.user, crate::now())?;
            Ok(proto::encode(&response))
        },
    )
    .await
}

async fn transfer(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    signed(
        state,
        headers,
        method,
        uri,
        body,
        |storage, device, body| {
            let req: TransferRequest = decode(body)?;
            let response = storage.transfer(&device, &req.case_id, &req.user, crate::now())?;
            Ok(proto::encode(&response))
        },
    )
    .await
}

async fn refetch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    signed(
        state,
        headers,
        method,
        uri,
        body,
        |storage, device, body| {
            let req: RefetchRequest = decode(body)?;
            if req.cases.len() > 1000 {
                return Err(Failure::new(
                    ErrorCode::TooLarge,
                    "too many cases in one refetch",
                ));
            }
            storage.refetch(&device, &req.cases, crate::now())?;
            Ok(Vec::new())
        },
    )
    .await
}
