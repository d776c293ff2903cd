//! How requests reach the server. The engine talks to a [`Transport`];
//! [`HttpTransport`] is the real one (ureq, rustls for https). Tests and
//! benchmarks can count or break requests by wrapping it.

use std::time::Duration;

use outreach_protocol::{self as proto, ApiError, ErrorCode};

use crate::error::{Error, Result};

pub trait Transport {
    /// POSTs `body` to `path` with the given `authorization` header (none
    /// for enrolment) and returns the response body of a 200.
    fn post(&self, path: &str, body: &[u8], authorization: Option<&str>) -> Result<Vec<u8>>;

    /// Like [`Transport::post`], but a refusal the server explained comes
    /// back as its [`ApiError`] (`Ok(Err(..))`) for the caller to interpret
    /// (a revoked device is still `Err(Error::DeviceRevoked)`). A transport
    /// that does not see error codes reports refusals as `post` does.
    fn post_or_refusal(
        &self,
        path: &str,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<std::result::Result<Vec<u8>, ApiError>> {
        self.post(path, body, authorization).map(Ok)
    }
}

/// The core error for a refusal the server explained.
pub fn refusal_error(err: ApiError) -> Error {
    match err.code {
        ErrorCode::DeviceRevoked => Error::DeviceRevoked,
        ErrorCode::UnknownCode | ErrorCode::ExpiredCode | ErrorCode::UsedCode => {
            Error::EnrolmentRefused(err.message)
        }
        _ => Error::ServerRefused(err.message),
    }
}

/// Checks a server address: https anywhere; plain http only to this
/// machine, unless `allow_insecure_http` (test servers on a private network).
pub fn check_server_url(url: &str, allow_insecure_http: bool) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or(Error::BadServerUrl)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(Error::BadServerUrl);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_string()),
        "http" => {
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => authority
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(authority),
            };
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false);
            if loopback || allow_insecure_http {
                Ok(url.to_string())
            } else {
                Err(Error::InsecureServer)
            }
        }
        _ => Err(Error::BadServerUrl),
    }
}

pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

/// Largest response body accepted (a pull page is at most 4 MiB of items).
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

impl HttpTransport {
    pub fn new(server: &str, allow_insecure_http: bool) -> Result<Self> {
        let base = check_server_url(server, allow_insecure_http)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .user_agent(concat!("outreach/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { base, agent })
    }
}

fn unreachable(e: &ureq::Error) -> Error {
    // The kind of failure only: ureq messages can include the URL.
    let what = match e {
        ureq::Error::Timeout(_) => "timed out",
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused",
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                "connection dropped"
            }
            std::io::ErrorKind::UnexpectedEof => "connection dropped mid-reply",
            _ => "network error",
        },
        ureq::Error::HostNotFound => "server name not found",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "secure connection failed",
        _ => "connection failed",
    };
    Error::ServerUnreachable(what.into())
}

impl Transport for HttpTransport {
    fn post(&self, path: &str, body: &[u8], authorization: Option<&str>) -> Result<Vec<u8>> {
        self.post_or_refusal(path, body, authorization)?
            .map_err(refusal_error)
    }

    fn post_or_refusal(
        &self,
        path: &str,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<std::result::Result<Vec<u8>, ApiError>> {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .agent
            .post(&url)
            .header("content-type", proto::CONTENT_TYPE);
        if let Some(auth) = authorization {
            req = req.header(proto::AUTH_HEADER, auth);
        }
        let mut response = req.send(body).map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(&e))?;
        if status == 200 {
            return Ok(Ok(bytes));
        }
        Err(match proto::decode::<ApiError>(&bytes) {
            Ok(err) if err.code == ErrorCode::DeviceRevoked => Error::DeviceRevoked,
            Ok(err) => return Ok(Err(err)),
            Err(_) if status == 413 => {
                Error::ServerRefused("the upload is larger than the server accepts".into())
            }
            Err(_) if status >= 500 => Error::ServerUnreachable(format!("server error {status}")),
            Err(_) => Error::ServerRefused(format!("unexpected reply (HTTP {status})")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://sync.council.example",
            "https://sync.council.example:8443/",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            assert!(check_server_url(ok, false).is_ok(), "{ok}");
        }
        for insecure in ["http://10.0.0.5:8787", "http://sync.council.example"] {
            assert!(matches!(
                check_server_url(insecure, false),
                Err(Error::InsecureServer)
            ));
            assert!(check_server_url(insecure, true).is_ok());
        }
        for bad in [
            "",
            "sync.council.example",
            "ftp://x",
            "https://",
            "http://x/?a=b",
        ] {
            assert!(
                matches!(check_server_url(bad, true), Err(Error::BadServerUrl)),
                "{bad}"
            );
        }
    }
}
