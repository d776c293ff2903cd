//! `/v1/compact`: a device uploads a case's whole document to stand in for
//! its history (see `outreach_protocol::compact`). Checked here like a
//! pushed change — the device's own, signed (strictly), within the size of
//! one change — and by the storage for the device's right to the case.

use axum::extract::{Request, State};
use axum::response::Response;
use outreach_protocol::{self as proto, CompactRequest, ErrorCode};

use super::{AppState, Failure, Reply, check_seq, decode, signed, verify_with};

pub(super) async fn compact(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, Failure> {
    signed(state, req, proto::MAX_BODY_BYTES, |storage, known, body| {
        let req: CompactRequest = decode(body)?;
        check_seq(req.covers)?;
        let s = &req.snapshot;
        if s.author != known.device.device_id {
            return Err(Failure::new(
                ErrorCode::Forbidden,
                "a snapshot names another device as its author",
            ));
        }
        if s.ciphertext.len() > proto::MAX_BLOB_BYTES {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "the snapshot is larger than the server accepts for one change",
            ));
        }
        let message =
            proto::change_message(&s.case_id, s.epoch, &s.author, &s.client_id, &s.ciphertext);
        if !verify_with(known.key.as_ref(), &message, &s.signature) {
            return Err(Failure::new(
                ErrorCode::BadSignature,
                "the snapshot's signature does not verify",
            ));
        }
        let response = storage.compact(&known.device, s, req.covers, crate::now())?;
        Ok(Reply::Now(proto::encode(&response)))
    })
    .await
}
