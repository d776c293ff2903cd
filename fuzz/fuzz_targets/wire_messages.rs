//! Every postcard body a server or a device decodes from the network, and
//! the `authorization` header the server parses: any bytes must give a value
//! or an error, never a panic, and a decoded value must survive a round trip
//! (what a device re-encodes, e.g. a change parked in its inbox, decodes to
//! the same bytes again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_protocol::{self as proto, *};
use serde::{Serialize, de::DeserializeOwned};

fn decode_as<T: Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(value) = proto::decode::<T>(data) {
        let once = proto::encode(&value);
        let again: T = proto::decode(&once).expect("a re-encoded message decodes");
        assert_eq!(proto::encode(&again), once, "re-encoding is stable");
    }
}

fuzz_target!(|data: &[u8]| {
    // Requests the server decodes.
    decode_as::<EnrollRequest>(data);
    decode_as::<PushRequest>(data);
    decode_as::<PullRequest>(data);
    decode_as::<AssignRequest>(data);
    decode_as::<TransferRequest>(data);
    decode_as::<RefetchRequest>(data);
    decode_as::<RejectReport>(data);
    decode_as::<RotateRequest>(data);
    decode_as::<SafetyRequest>(data);
    // Responses a device decodes.
    decode_as::<EnrollResponse>(data);
    decode_as::<PushResponse>(data);
    decode_as::<PullResponse>(data);
    decode_as::<AssignResponse>(data);
    decode_as::<TransferResponse>(data);
    decode_as::<RejectReportResponse>(data);
    decode_as::<RotateResponse>(data);
    decode_as::<SafetyResponse>(data);
    decode_as::<ApiError>(data);
    // Items a device keeps encoded (its inbox) and decodes again.
    decode_as::<Change>(data);
    decode_as::<Envelope>(data);

    // The authorization header, as the server reads it (a header value is
    // visible ASCII, but nothing stops a client sending other bytes).
    let header = String::from_utf8_lossy(data);
    if let Some(auth) = proto::parse_auth_header(&header) {
        let again = proto::parse_auth_header(&auth.header());
        assert_eq!(again.as_ref(), Some(&auth), "a parsed header round-trips");
        let _ = auth.message("POST", PATH_PUSH);
    }

    // Signature checks on peer-supplied keys and signatures (enrolment
    // carries a key the server has never seen).
    if data.len() >= 32 {
        let (pk, rest) = data.split_at(32);
        let pk: [u8; 32] = pk.try_into().unwrap_or_default();
        let (sig, msg) = rest.split_at(rest.len().min(64));
        let _ = proto::verify(&pk, msg, sig);
    }
});
