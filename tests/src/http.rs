//! Raw HTTP to a server process, for the tests that play a client the core
//! would never be (an insider signing what it likes, an anonymous client,
//! a request replayed to another instance): what a reply holds is asserted
//! by the test, so nothing here turns a refusal into an error.

use std::time::Duration;

use outreach_protocol::{self as proto, ErrorCode};

/// Now, in seconds since the epoch, as a request's signature carries it.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HTTP reply: status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn error(&self) -> proto::ApiError {
        proto::decode(&self.body)
            .unwrap_or_else(|_| panic!("HTTP {} without an ApiError", self.status))
    }

    pub fn code(&self) -> ErrorCode {
        self.error().code
    }

    pub fn ok<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(
            self.status,
            200,
            "{:?}",
            proto::decode::<proto::ApiError>(&self.body)
        );
        proto::decode(&self.body).expect("a reply body")
    }
}

/// A client that hands every status back as a reply.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs raw bytes with the given content type and authorization.
pub fn post_raw(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    content_type: Option<&str>,
    auth: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut req = agent.post(format!("{url}{path}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(a) = auth {
        req = req.header(proto::AUTH_HEADER, a);
    }
    let mut r = req.send(body).expect("the server answers");
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    Reply { status, body }
}
