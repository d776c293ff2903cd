//! Lone-working escalation, run by the server itself: every second, check-ins
//! whose deadline and grace have passed without a check-out become alerts
//! (stored, so a server that was down when a deadline passed raises the
//! alert as soon as it is back), and alerts are POSTed as JSON to the
//! council's alerting system (`serve --alert-webhook URL`), retried with
//! backoff until it answers 2xx — across restarts, since every delivery is a
//! row in the database until then.
//!
//! A webhook body names the worker (staff name and team), the deadline, how
//! late she is and an alert id; never the woman, the case or the note (the
//! server cannot read the note, and holds no name of the woman).

use std::sync::Arc;
use std::time::Duration;

use outreach_protocol::Id;

use crate::storage::Storage;
use crate::storage::erasure::time_of;
use crate::storage::safety::{SafetyPolicy, WebhookDelivery, WebhookEvent};

/// Grace after a deadline unless told otherwise (`--safety-grace`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15 * 60);
/// Longest grace accepted.
const MAX_GRACE_SECS: i64 = 24 * 3600;
/// Longest wait between two attempts of one delivery.
const MAX_BACKOFF_SECS: i64 = 300;
/// A webhook that has not answered within this time has failed (this attempt).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the safety options were refused (`serve` starts nothing then).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SafetyConfigError {
    #[error(
        "--alert-webhook must be an http:// or https:// URL with a host (e.g. https://alerts.council.example/outreach): the server was not started"
    )]
    BadWebhook,
    #[error(
        "--safety-grace must be a duration such as 15m, 90s or 0s (at most 24h): the server was not started"
    )]
    BadGrace,
}

/// Where alerts are POSTed. Its `Debug` shows the host only: the URL's path
/// or query, and the token, may be secrets.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    host: String,
    token: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &self.host)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Webhook {
    /// An `http://` or `https://` URL with a host; `token` is sent as
    /// `Authorization: Bearer TOKEN`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, SafetyConfigError> {
        let url = url.trim();
        let uri: axum::http::Uri = url.parse().map_err(|_| SafetyConfigError::BadWebhook)?;
        let scheme_ok = uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
        let host = uri.host().unwrap_or_default().to_string();
        if !scheme_ok || host.is_empty() {
            return Err(SafetyConfigError::BadWebhook);
        }
        Ok(Self {
            url: url.to_string(),
            host,
            token: token.filter(|t| !t.trim().is_empty()),
        })
    }

    /// The host alerts are sent to (for the log).
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// The `serve` options of lone-working safety.
#[derive(Debug, Clone)]
pub struct SafetyOptions {
    /// After a deadline, how long before the alert (`--safety-grace`).
    pub grace: Duration,
    pub webhook: Option<Webhook>,
}

impl Default for SafetyOptions {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            webhook: None,
        }
    }
}

impl SafetyOptions {
    pub fn policy(&self) -> SafetyPolicy {
        SafetyPolicy {
            grace_secs: i64::try_from(self.grace.as_secs()).unwrap_or(MAX_GRACE_SECS),
            webhook: self.webhook.is_some(),
        }
    }
}

/// `--safety-grace`: `15m`, `90s`, `0s`… (at most 24 hours).
pub fn parse_grace(s: &str) -> Result<Duration, SafetyConfigError> {
    let d = outreach_protocol::parse_duration(s).ok_or(SafetyConfigError::BadGrace)?;
    let secs = d.num_seconds();
    if !(0..=MAX_GRACE_SECS).contains(&secs) {
        return Err(SafetyConfigError::BadGrace);
    }
    Ok(Duration::from_secs(secs.unsigned_abs()))
}

/// Seconds before the next attempt of a delivery that failed `attempts`
/// times: 1, 2, 4… up to five minutes.
pub fn backoff(attempts: u32) -> i64 {
    (1i64 << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF_SECS)
}

fn short(id: &Id) -> String {
    hex::encode(&id[..4])
}

/// RFC 3339 (UTC) of a unix time.
fn rfc3339(unix: i64) -> String {
    format!("{}Z", time_of(unix).replace(' ', "T"))
}

/// The JSON a webhook receives: staff and timing only.
pub fn webhook_body(d: &WebhookDelivery, now: i64) -> serde_json::Value {
    let team = d
        .team
        .as_deref()
        .map(|t| format!(" (team {t})"))
        .unwrap_or_default();
    let hhmm = |t: i64| time_of(t).get(11..16).unwrap_or_default().to_string();
    let overdue = (now - d.due).max(0) / 60;
    let text = match (d.event, d.checked_out_at) {
        (WebhookEvent::CheckedOut, Some(at)) => format!(
            "Lone-working alert {} resolved: {}{team} checked out at {} UTC.",
            short(&d.alert_id),
            d.worker,
            hhmm(at)
        ),
        (WebhookEvent::CheckedOut, None) => format!(
            "Lone-working alert {} resolved: {}{team} checked out.",
            short(&d.alert_id),
            d.worker
        ),
        (WebhookEvent::Alert, _) => format!(
            "Lone-working alert {}: {}{team} was due to check out of a visit at {} UTC on {} and has not ({overdue} minutes overdue). Follow the lone-working procedure.",
            short(&d.alert_id),
            d.worker,
            hhmm(d.due),
            time_of(d.due).get(..10).unwrap_or_default()
        ),
    };
    serde_json::json!({
        "event": d.event.as_str(),
        "alert_id": hex::encode(d.alert_id),
        "organisation": d.organisation,
        "worker": d.worker,
        "team": d.team,
        "due": rfc3339(d.due),
        "raised_at": rfc3339(d.raised_at),
        "minutes_overdue": overdue,
        "checked_out_at": d.checked_out_at.map(rfc3339),
        "text": text,
    })
}

/// Runs until the server stops: raises due alerts every second (and prunes
/// old safety rows once an hour); delivers webhooks if one is configured.
pub(crate) async fn watch(storage: Arc<dyn Storage>, options: SafetyOptions) {
    let policy = options.policy();
    if let Some(webhook) = options.webhook.clone() {
        tokio::spawn(deliver(storage.clone(), webhook));
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        let storage = storage.clone();
        let prune = n % 3600 == 0;
        let done = tokio::task::spawn_blocking(move || {
            let now = crate::now();
            if prune {
                storage.prune_safety(now)?;
            }
            storage.raise_due_alerts(now, policy)
        })
        .await;
        match done {
            Ok(Ok(raised)) => {
                for a in raised {
                    tracing::warn!(
                        alert = %short(&a.alert_id),
                        team = a.team.as_deref().unwrap_or("-"),
                        due = %rfc3339(a.due),
                        "lone-working alert raised: a worker has not checked out"
                    );
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "raising lone-working alerts failed; will retry")
            }
            Err(_) => {}
        }
    }
}

/// Delivers due webhooks, one at a time, every second.
async fn deliver(storage: Arc<dyn Storage>, webhook: Webhook) {
    tracing::info!(
        host = webhook.host(),
        "lone-working alerts are POSTed to the webhook"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(WEBHOOK_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("outreach-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = storage.clone();
        let due = match tokio::task::spawn_blocking(move || s.webhook_due(crate::now(), 16)).await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading webhook deliveries failed; will retry");
                continue;
            }
            Err(_) => continue,
        };
        for d in due {
            let body = webhook_body(&d, crate::now()).to_string();
            let key = format!("{}:{}", hex::encode(d.alert_id), d.event.as_str());
            let (agent, hook) = (agent.clone(), webhook.clone());
            let sent = tokio::task::spawn_blocking(move || post(&agent, &hook, &key, &body))
                .await
                .unwrap_or_else(|_| Err("the delivery task failed".into()));
            let now = crate::now();
            let attempt = d.attempts + 1;
            let retry_in = backoff(attempt);
            match &sent {
                Ok(()) => tracing::info!(
                    alert = %short(&d.alert_id),
                    event = d.event.as_str(),
                    attempt,
                    "lone-working alert delivered to the webhook"
                ),
                Err(e) => tracing::warn!(
                    alert = %short(&d.alert_id),
                    event = d.event.as_str(),
                    attempt,
                    error = %e,
                    retry_in_secs = retry_in,
                    "lone-working alert webhook failed; will retry"
                ),
            }
            let error = sent.err();
            let s = storage.clone();
            let recorded = tokio::task::spawn_blocking(move || {
                s.webhook_attempted(d.id, error.as_deref(), now, now + retry_in)
            })
            .await;
            if let Ok(Err(e)) = recorded {
                tracing::warn!(error = %e, "recording a webhook attempt failed");
            }
        }
    }
}

/// One POST; `Err` says what failed, never the URL (it may hold a secret).
fn post(agent: &ureq::Agent, hook: &Webhook, key: &str, body: &str) -> Result<(), String> {
    let mut req = agent
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("idempotency-key", key);
    if let Some(token) = &hook.token {
        req = req.header("authorization", &format!("Bearer {token}"));
    }
    match req.send(body.as_bytes()) {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
        Err(e) => Err(match e {
            ureq::Error::Timeout(_) => "timed out",
            ureq::Error::HostNotFound => "host not found",
            ureq::Error::Io(_) => "connection failed",
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "secure connection failed",
            _ => "request failed",
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "https://alerts.council.example/outreach?key=x",
            "HTTPS://alerts.council.example",
        ] {
            assert!(Webhook::new(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alerts.council.example",
            "ftp://alerts.council.example",
            "mailto:duty@council.example",
            "http://",
            "https:///path",
            "http://exa mple.org",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                Webhook::new(bad, None).err(),
                Some(SafetyConfigError::BadWebhook),
                "{bad}"
            );
        }
        let w = Webhook::new("https://h.example/secret-path", Some("s3cr3t".into())).unwrap();
        let shown = format!("{w:?}");
        assert!(
            !shown.contains("secret-path") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn graces() {
        assert_eq!(parse_grace("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_grace("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_grace("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "15", "-1m", "25h", "soon"] {
            assert_eq!(parse_grace(bad), Err(SafetyConfigError::BadGrace), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_to_five_minutes() {
        let waits: Vec<i64> = (1..=12).map(backoff).collect();
        assert_eq!(&waits[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(waits[11], 300);
    }

    #[test]
    fn a_webhook_body_names_staff_and_times_only() {
        let d = WebhookDelivery {
            id: 1,
            event: WebhookEvent::Alert,
            alert_id: [0xab; 16],
            organisation: "North Council".into(),
            worker: "Amy Jones".into(),
            team: Some("north".into()),
            due: 1_800_000_000,
            raised_at: 1_800_000_900,
            checked_out_at: None,
            attempts: 0,
        };
        let body = webhook_body(&d, 1_800_001_200);
        assert_eq!(body["minutes_overdue"], 20);
        assert_eq!(body["due"], "2027-01-15T08:00:00Z");
        assert_eq!(body["worker"], "Amy Jones");
        assert_eq!(body["event"], "alert");
        assert!(body["text"].as_str().unwrap().contains("abababab"));
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert!(
            !keys
                .iter()
                .any(|k| k.contains("case") || k.contains("note"))
        );
    }
}
