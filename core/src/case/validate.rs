//! Input checks shared by the typed API. Every check runs before a document is
//! touched, so bad input leaves nothing written. Messages name the field and
//! the rule, never the value (which may be personal data).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::ValidationError;

/// Longest free-text note accepted (visit notes, her own words, concern
/// descriptions): 16 KiB of UTF-8, about six pages of typing.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
/// Longest short field (names, categories, phone numbers): 200 characters.
pub const MAX_SHORT_CHARS: usize = 200;

/// A required short field: trimmed, non-empty, not over [`MAX_SHORT_CHARS`].
pub fn required_short(field: &str, s: &str) -> Result<String, ValidationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ValidationError::new(
            field,
            "is required and cannot be empty",
        ));
    }
    short(field, t)
}

pub fn short(field: &str, s: &str) -> Result<String, ValidationError> {
    let t = s.trim();
    if t.chars().count() > MAX_SHORT_CHARS {
        return Err(ValidationError::new(
            field,
            format!("is longer than {MAX_SHORT_CHARS} characters"),
        ));
    }
    Ok(t.to_string())
}

pub fn opt_short(field: &str, s: Option<&str>) -> Result<Option<String>, ValidationError> {
    s.map(|s| short(field, s)).transpose()
}

/// A required note: non-empty, at most [`MAX_NOTE_BYTES`].
pub fn required_note(field: &str, s: &str) -> Result<String, ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::new(
            field,
            "is required and cannot be empty",
        ));
    }
    note(field, s)
}

pub fn note(field: &str, s: &str) -> Result<String, ValidationError> {
    if s.len() > MAX_NOTE_BYTES {
        return Err(ValidationError::new(
            field,
            format!(
                "is longer than the {} KiB limit for a note",
                MAX_NOTE_BYTES / 1024
            ),
        ));
    }
    Ok(s.trim_end().to_string())
}

pub fn opt_note(field: &str, s: Option<&str>) -> Result<Option<String>, ValidationError> {
    s.map(|s| note(field, s)).transpose()
}

/// A calendar date, `YYYY-MM-DD`, between 1900 and 2200.
pub fn date(field: &str, s: &str) -> Result<NaiveDate, ValidationError> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| ValidationError::new(field, "must be a date written YYYY-MM-DD"))?;
    let lo = NaiveDate::from_ymd_opt(1900, 1, 1);
    let hi = NaiveDate::from_ymd_opt(2200, 1, 1);
    if Some(d) < lo || Some(d) > hi {
        return Err(ValidationError::new(field, "is not a plausible date"));
    }
    Ok(d)
}

pub fn date_string(field: &str, s: &str) -> Result<String, ValidationError> {
    Ok(date(field, s)?.format("%Y-%m-%d").to_string())
}

pub fn opt_date(field: &str, s: Option<&str>) -> Result<Option<String>, ValidationError> {
    s.map(|s| date_string(field, s)).transpose()
}

/// A date of birth: a valid date, not in the future.
pub fn date_of_birth(field: &str, s: &str, today: NaiveDate) -> Result<String, ValidationError> {
    let d = date(field, s)?;
    if d > today {
        return Err(ValidationError::new(field, "cannot be in the future"));
    }
    Ok(d.format("%Y-%m-%d").to_string())
}

/// An instant, RFC 3339 (`2026-11-27T10:30:00Z` or with an offset).
pub fn instant(field: &str, s: &str) -> Result<DateTime<Utc>, ValidationError> {
    let t = DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| {
            ValidationError::new(field, "must be a date and time like 2026-11-27T10:30:00Z")
        })?
        .with_timezone(&Utc);
    let y = chrono::Datelike::year(&t);
    if !(1900..=2200).contains(&y) {
        return Err(ValidationError::new(field, "is not a plausible date"));
    }
    Ok(t)
}

/// Canonical stored form of an instant: UTC, seconds, `Z` — sorts as text.
pub fn instant_string(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn opt_instant(field: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, ValidationError> {
    s.map(|s| instant(field, s)).transpose()
}

/// A 0–10 scale or wellbeing score.
pub fn score(field: &str, n: i64) -> Result<u8, ValidationError> {
    if (0..=10).contains(&n) {
        Ok(n as u8)
    } else {
        Err(ValidationError::new(
            field,
            "must be a whole number from 0 to 10",
        ))
    }
}

/// Fields holding a calendar date.
const DATE_FIELDS: &[&str] = &[
    "date_of_birth",
    "referral_date",
    "start_date",
    "planned_end_date",
    "closed_on",
    "target_date",
    "review_date",
    "due",
    "done",
    "given_on",
    "withdrawn_on",
    "date",
];
/// Fields holding an instant.
const INSTANT_FIELDS: &[&str] = &[
    "at",
    "planned_at",
    "ended_at",
    "next_contact_due",
    "checked_in_at",
    "checked_out_at",
    "recorded_at",
    "raised_at",
    "escalated_at",
    "added_at",
    "opened_at",
    "updated_at",
    "resolved_at",
    "created_at",
    "from",
    "to",
];
/// Text fields that may not be empty.
const REQUIRED_TEXT: &[&str] = &[
    "preferred_name",
    "text",
    "description",
    "category",
    "agency",
    "reason",
    "danger",
    "safety_goal",
    "what",
    "name",
    "role",
];
/// Short text fields (names, categories…); other text is a note.
const SHORT_TEXT: &[&str] = &[
    "preferred_name",
    "legal_name",
    "phone",
    "code_word",
    "age_bands",
    "legal_status",
    "referral_source",
    "team",
    "category",
    "escalated_to",
    "agency",
    "name",
    "role",
    "organisation",
    "present",
    "practitioners",
    "attendees",
];

/// Checks a value chosen to settle a conflict at `field` (a `/` path) as
/// the original write would: the field's own rule (score, date, instant,
/// vocabulary, required, length), then the whole record it belongs to must
/// read back as its type. Returns the value in its stored form. `root` is
/// the case as JSON; it is changed to the candidate.
pub fn resolution(
    root: &mut serde_json::Value,
    field: &str,
    value: serde_json::Value,
    today: NaiveDate,
) -> Result<serde_json::Value, crate::error::Error> {
    use crate::error::Error;
    use serde_json::Value as Json;
    let parts: Vec<&str> = field.split('/').collect();
    let leaf = *parts.last().unwrap_or(&"");
    let bad = || {
        Error::from(ValidationError::new(
            leaf,
            "is not a valid value for this field",
        ))
    };
    let value = match (&value, leaf) {
        (Json::Null, _) => value,
        (_, "score" | "wellbeing") => Json::from(score(leaf, value.as_i64().ok_or_else(bad)?)?),
        (Json::String(t), "date_of_birth") => Json::from(date_of_birth(leaf, t, today)?),
        (Json::String(t), l) if DATE_FIELDS.contains(&l) => Json::from(date_string(leaf, t)?),
        (Json::String(t), l) if INSTANT_FIELDS.contains(&l) => {
            Json::from(instant_string(instant(leaf, t)?))
        }
        (Json::String(t), "exit_reason") => {
            Json::from(super::model::ExitReason::parse(leaf, t)?.as_str())
        }
        (Json::String(t), l) if REQUIRED_TEXT.contains(&l) && SHORT_TEXT.contains(&l) => {
            Json::from(required_short(leaf, t)?)
        }
        (Json::String(t), l) if REQUIRED_TEXT.contains(&l) => Json::from(required_note(leaf, t)?),
        (Json::String(t), l) if SHORT_TEXT.contains(&l) => Json::from(short(leaf, t)?),
        (Json::String(t), _) => Json::from(note(leaf, t)?),
        (Json::Number(n), "count" | "contact_every_days") => {
            let ok = n.as_u64().is_some_and(|n| match leaf {
                "count" => n <= 30,
                _ => (1..=365).contains(&n),
            });
            if !ok {
                return Err(bad());
            }
            value
        }
        _ => value,
    };
    // Put the candidate in place; the path must exist in the case.
    let (last, parents) = parts.split_last().ok_or(Error::NoSuchConflict)?;
    let mut node = &mut *root;
    for p in parents {
        node = node.get_mut(*p).ok_or(Error::NoSuchConflict)?;
    }
    match node {
        Json::Object(m) => {
            m.insert((*last).to_string(), value.clone());
        }
        _ => return Err(Error::NoSuchConflict),
    }
    // The record it belongs to must still read as its type.
    use super::model as m;
    fn fits<T: serde::de::DeserializeOwned>(v: Option<&Json>) -> bool {
        v.is_some_and(|v| T::deserialize(v).is_ok())
    }
    let record = |n: usize| {
        let mut node = Some(&*root);
        for p in parts.iter().take(n) {
            node = node.and_then(|x| x.get(*p));
        }
        node
    };
    let ok = match parts.as_slice() {
        ["profile", ..] => fits::<m::Profile>(record(1)),
        ["programme", ..] => fits::<m::Programme>(record(1)),
        ["consents", _, ..] => fits::<m::Consent>(record(2)),
        ["goals", _, "actions", _, ..] => {
            fits::<m::Action>(record(4)) && fits::<m::Goal>(record(2))
        }
        ["goals", _, ..] => fits::<m::Goal>(record(2)),
        ["scales", _, ..] => fits::<m::ScaleReading>(record(2)),
        ["visits", _, ..] => fits::<m::Visit>(record(2)),
        ["concerns", _, ..] => fits::<m::Concern>(record(2)),
        ["referrals", _, ..] => fits::<m::Referral>(record(2)),
        ["meetings", _, ..] => fits::<m::Meeting>(record(2)),
        ["events", _, ..] => fits::<m::ProgrammeEvent>(record(2)),
        ["signs_of_safety", "danger_statements", _, ..] => fits::<m::DangerStatement>(record(3)),
        ["signs_of_safety", _, _, ..] => fits::<m::SosEntry>(record(3)),
        _ => false,
    };
    if !ok {
        return Err(bad());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(required_short("name", "  ").is_err());
        assert_eq!(required_short("name", " Jo ").unwrap(), "Jo");
        assert!(short("name", &"x".repeat(201)).is_err());
        assert!(note("note", &"x".repeat(MAX_NOTE_BYTES + 1)).is_err());
        assert!(note("note", &"x".repeat(MAX_NOTE_BYTES)).is_ok());
        assert!(date("dob", "1990-02-30").is_err());
        assert!(date("dob", "30/01/1990").is_err());
        assert!(date("dob", "1850-01-01").is_err());
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert!(date_of_birth("dob", "2027-01-01", today).is_err());
        assert_eq!(
            date_of_birth("dob", "1990-01-30", today).unwrap(),
            "1990-01-30"
        );
        assert!(instant("at", "2026-11-27 10:00").is_err());
        assert_eq!(
            instant_string(instant("at", "2026-11-27T10:00:00+01:00").unwrap()),
            "2026-11-27T09:00:00Z"
        );
        assert!(score("wellbeing", 11).is_err());
        assert!(score("wellbeing", -1).is_err());
        assert_eq!(score("wellbeing", 10).unwrap(), 10);
    }

    #[test]
    fn messages_do_not_echo_input() {
        let e = date("date_of_birth", "Jane Smith").unwrap_err();
        assert!(!e.to_string().contains("Jane"));
    }
}
