//! `/v1/safety`: check in before a visit, extend, check out, acknowledge an
//! alert, and read the safety state (who, which case id, until when — the
//! note only sealed under the case key).

use axum::extract::{Request, State};
use axum::response::Response;
use outreach_protocol::{self as proto, ErrorCode, SafetyAction, SafetyRequest};

use super::{AppState, Failure, MAX_SMALL_BODY, Reply, decode, signed};

pub(super) async fn safety(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, Failure> {
    let policy = state.guards.options.safety.policy();
    signed(state, req, MAX_SMALL_BODY, move |storage, known, body| {
        let req: SafetyRequest = decode(body)?;
        if req.actions.len() > proto::MAX_SAFETY_ACTIONS {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many safety actions in one request",
            ));
        }
        let oversized = req.actions.iter().any(|a| match a {
            SafetyAction::CheckIn(c) => c
                .note
                .as_ref()
                .is_some_and(|n| n.ciphertext.len() > proto::MAX_SAFETY_NOTE_BYTES),
            _ => false,
        });
        if oversized {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "a check-in note is larger than the server accepts",
            ));
        }
        let response = storage.safety(&known.device, &req.actions, policy, crate::now())?;
        Ok(Reply::Now(proto::encode(&response)))
    })
    .await
}
