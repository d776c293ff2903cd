//! `/v1/erased` and `/v1/closure`: what devices tell the server about
//! erasure and retention (ids and dates, never content).

use axum::extract::{Request, State};
use axum::response::Response;
use outreach_protocol::{
    self as proto, ClosureReport, ClosureReportResponse, ErasedReport, ErasedReportResponse,
    ErrorCode,
};

use super::{AppState, Failure, MAX_SMALL_BODY, Reply, decode, signed};

/// A device confirms it deleted its copy of erased cases.
pub(super) async fn erased(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let req: ErasedReport = decode(body)?;
        if req.cases.len() > proto::MAX_ERASURE_ITEMS {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many cases in one erasure confirmation",
            ));
        }
        let stored = storage.report_erased(&known.device, &req.cases, crate::now())?;
        Ok(Reply::Now(proto::encode(&ErasedReportResponse { stored })))
    })
    .await
}

/// A device tells the server when cases were closed (or reopened).
pub(super) async fn closure(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, Failure> {
    signed(state, req, MAX_SMALL_BODY, |storage, known, body| {
        let req: ClosureReport = decode(body)?;
        if req.cases.len() > proto::MAX_ERASURE_ITEMS {
            return Err(Failure::new(
                ErrorCode::TooLarge,
                "too many cases in one closure report",
            ));
        }
        if req.cases.iter().any(|c| {
            c.closed_on
                .as_deref()
                .is_some_and(|d| !proto::is_iso_date(d))
        }) {
            return Err(Failure::new(
                ErrorCode::Malformed,
                "a closure date is not a date written YYYY-MM-DD",
            ));
        }
        let stored = storage.report_closures(&known.device, &req.cases, crate::now())?;
        Ok(Reply::Now(proto::encode(&ClosureReportResponse { stored })))
    })
    .await
}
