//! The fields of a contact form, defined once. Recording a visit, a draft
//! in progress, an amendment after a return and the list of fields an
//! amendment may change all come from the one list in `contact_fields!`
//! below, so a new field is one change here (plus its flag in the shell and
//! the mobile API's mirror, which the compiler checks against this).
//!
//! The stored record (`model::Visit`) adds who recorded it, when, and the
//! supervision trail; its content fields have the same names.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::model::{ContactKind, Domain, Outcome};
use crate::error::ValidationError;

macro_rules! contact_fields {
    (
        required { $($r:ident: $rt:ty),* $(,)? }
        text { $($t:ident),* $(,)? }
        lists { $($l:ident: $lt:ty),* $(,)? }
        optional { $($o:ident: $ot:ty),* $(,)? }
    ) => {
        /// A contact to record: every field of the form.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct VisitInput {
            $(pub $r: $rt,)*
            $(pub $t: String,)*
            $(pub $l: Vec<$lt>,)*
            $(pub $o: Option<$ot>,)*
        }

        /// A contact form in progress (a draft), or the fields an amendment
        /// changes: every field may be missing.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct VisitDraft {
            $(pub $r: Option<$rt>,)*
            $(pub $t: Option<String>,)*
            $(pub $l: Vec<$lt>,)*
            $(pub $o: Option<$ot>,)*
        }

        /// The content fields of a visit, by their stored names.
        pub const VISIT_CONTENT_FIELDS: &[&str] = &[
            $(stringify!($r),)* $(stringify!($t),)* $(stringify!($l),)* $(stringify!($o),)*
        ];

        impl VisitInput {
            /// The required fields and the note; everything else empty.
            pub fn new($($r: impl Into<$rt>,)* $($t: impl Into<String>,)*) -> Self {
                VisitInput {
                    $($r: $r.into(),)*
                    $($t: $t.into(),)*
                    $($l: Vec::new(),)*
                    $($o: None,)*
                }
            }
        }

        impl VisitDraft {
            /// The complete form, or the first required field still missing.
            pub fn complete(self) -> Result<VisitInput, ValidationError> {
                Ok(VisitInput {
                    $($r: self.$r.ok_or_else(|| ValidationError::new(stringify!($r), "is required to submit"))?,)*
                    $($t: self.$t.unwrap_or_default(),)*
                    $($l: self.$l,)*
                    $($o: self.$o,)*
                })
            }

            /// `self`'s fields laid over `base`: what is given replaces, what
            /// is missing (or an empty list) keeps `base`'s value.
            pub fn over(&self, base: &VisitDraft) -> VisitDraft {
                VisitDraft {
                    $($r: self.$r.clone().or_else(|| base.$r.clone()),)*
                    $($t: self.$t.clone().or_else(|| base.$t.clone()),)*
                    $($l: if self.$l.is_empty() { base.$l.clone() } else { self.$l.clone() },)*
                    $($o: self.$o.clone().or_else(|| base.$o.clone()),)*
                }
            }
        }
    };
}

contact_fields! {
    required { at: String, kind: ContactKind, outcome: Outcome }
    text { note }
    lists { present: String, domains: Domain }
    optional {
        planned_at: String,
        ended_at: String,
        her_words: String,
        wellbeing: i64,
        actions_agreed: String,
        next_contact_due: String,
        checked_in_at: String,
        checked_out_at: String,
    }
}

impl VisitDraft {
    /// The content of a stored visit (or any record with the same field
    /// names) as a draft, e.g. to amend it.
    pub fn from_record<T: Serialize>(record: &T) -> VisitDraft {
        let mut json = serde_json::to_value(record).unwrap_or(Json::Null);
        if let Json::Object(m) = &mut json {
            m.retain(|k, _| VISIT_CONTENT_FIELDS.contains(&k.as_str()));
        }
        serde_json::from_value(json).unwrap_or_default()
    }
}
