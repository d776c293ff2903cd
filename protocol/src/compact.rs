//! Server-side compaction: a device that holds a case uploads the case's
//! whole document, sealed and signed like any change, to stand in for the
//! case's history up to a point. The server puts it in the place of the last
//! change it covers and drops the earlier ones, so that a device that joins
//! later downloads what the case is, not everything it has been.
//!
//! Why this keeps every device whole: a device whose cursor is at or past
//! that place already has every covered change; one before it meets the
//! snapshot there, before any change that was not covered. A snapshot is an
//! ordinary Automerge save: applying it to a document that already holds
//! its changes changes nothing.

use serde::{Deserialize, Serialize};

use crate::{Change, Id};

/// `POST /v1/compact` (see [`CompactRequest`]).
pub const PATH_COMPACT: &str = "/v1/compact";

/// The case's whole document as a change (`snapshot.ciphertext` is the
/// sealed Automerge save, signed by its author like any change) standing in
/// for the case's changes numbered up to `covers`: the uploader has
/// received everything of the case up to there (its cursor). Sealed under
/// the case's current epoch; idempotent by the snapshot's client id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompactRequest {
    pub snapshot: Change,
    pub covers: u64,
}

/// Where the snapshot now stands in the log and how many earlier changes it
/// replaced (0: there was nothing to replace — fewer than two changes — or
/// the request was a retry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactResponse {
    pub case_id: Id,
    pub seq: u64,
    pub dropped: u32,
}
