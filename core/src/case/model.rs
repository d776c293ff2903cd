//! The Pause case record, as typed Rust values.
//!
//! Words follow the practice: Signs of Safety (worries, what's working well,
//! what needs to happen, danger statements and safety goals, 0–10 scaling),
//! support plans by domain, supervisor sign-off. Free text is held as
//! immutable strings in the document (an amendment replaces the value), which
//! keeps a 200-visit case cheap to load. Every field a device from a later
//! version might omit is optional or defaulted, so older records still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Declares a closed vocabulary with its wire names, parsing with a clear error
/// that lists the accepted words.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $word)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            /// Parses the wire word; `field` names the input in the error.
            pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
                let t = s.trim().to_ascii_lowercase();
                match t.as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(ValidationError::new(field, format!(
                        "must be one of: {}", [$($word),+].join(", ")))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

vocabulary!(
    /// Where a woman is in the programme.
    Phase { Referred = "referred", Engagement = "engagement", Programme = "programme", NextSteps = "next-steps", Closed = "closed" }
);
vocabulary!(
    /// Support plan domains.
    Domain {
        Housing = "housing", MentalHealth = "mental-health", PhysicalHealth = "physical-health",
        Contraception = "contraception", SubstanceUse = "substance-use", DomesticAbuse = "domestic-abuse",
        Finance = "finance", EducationEmployment = "education-employment",
        RelationshipsChildren = "relationships-children", Legal = "legal", LossTrauma = "loss-trauma",
        Other = "other",
    }
);
vocabulary!(GoalStatus { NotStarted = "not-started", InProgress = "in-progress", Achieved = "achieved", OnHold = "on-hold", Stopped = "stopped" });
vocabulary!(ActionOwner { Woman = "woman", Practitioner = "practitioner", Agency = "agency" });
vocabulary!(
    /// How a contact happened.
    ContactKind {
        Home = "home", Community = "community", Office = "office", Accompanied = "accompanied",
        Phone = "phone", Video = "video", Text = "text", Attempted = "attempted",
    }
);
vocabulary!(Outcome { Completed = "completed", NoAnswer = "no-answer", Cancelled = "cancelled", Rescheduled = "rescheduled" });
vocabulary!(SignOffDecision { SignedOff = "signed-off", Returned = "returned" });
vocabulary!(
    /// Where a visit is in the supervision loop, as this device judges it
    /// (computed on read, never stored: see `practice::authority`).
    ReviewState {
        Awaiting = "awaiting-sign-off", SignedOff = "signed-off", Returned = "returned",
        Amended = "amended-awaiting-sign-off", NotValid = "sign-off-not-valid",
    }
);
vocabulary!(
    /// Why a woman left the programme.
    ExitReason {
        Completed = "completed", Disengaged = "disengaged", Withdrew = "withdrew",
        MovedAway = "moved-away", Pregnancy = "pregnancy", Custody = "custody",
        Transferred = "transferred", Other = "other",
    }
);
vocabulary!(
    /// Signs of Safety worries, as the framework separates them.
    WorryKind { Harm = "harm", Danger = "danger", Complicating = "complicating" }
);
vocabulary!(SosStatus { Open = "open", Resolved = "resolved" });
vocabulary!(Severity { Low = "low", Medium = "medium", High = "high" });
vocabulary!(ConcernStatus { Open = "open", Escalated = "escalated", Monitoring = "monitoring", Closed = "closed" });
vocabulary!(ScaleView { Woman = "woman", Practitioner = "practitioner", SocialWorker = "social-worker", Other = "other" });
vocabulary!(SosColumn { Worries = "worries", WorkingWell = "working-well", NeedsToHappen = "needs-to-happen" });
vocabulary!(MeetingKind { Fgc = "fgc", Network = "network", Professionals = "professionals", Review = "review" });
vocabulary!(
    /// Programme events. `record-exported` is written by the app itself
    /// when someone exports the record (the access log), never typed.
    EventKind {
        Pregnancy = "pregnancy", Birth = "birth", NewProceedings = "new-proceedings",
        ProceedingsConcluded = "proceedings-concluded", Exit = "exit", Other = "other",
        RecordExported = "record-exported",
    }
);
vocabulary!(ReferralStatus { Made = "made", Accepted = "accepted", Declined = "declined", Completed = "completed" });

/// Safe-contact rules: how (and whether) the practitioner may get in touch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SafeContact {
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    pub code_word: Option<String>,
    pub notes: Option<String>,
}

/// A professional involved with the woman (social worker, GP, midwife…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Professional {
    pub role: String,
    pub name: String,
    pub organisation: Option<String>,
    pub phone: Option<String>,
}

/// Minimal facts about her children: third-party data, kept to the least.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Children {
    pub count: Option<u32>,
    pub age_bands: Option<String>,
    pub legal_status: Option<String>,
    pub contact_arrangements: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub preferred_name: String,
    pub legal_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub care_leaver: Option<bool>,
    pub safe_contact: SafeContact,
    pub professionals: BTreeMap<String, Professional>,
    pub children: Children,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Programme {
    pub referral_date: Option<String>,
    pub referral_source: Option<String>,
    pub phase: Option<Phase>,
    pub start_date: Option<String>,
    pub planned_end_date: Option<String>,
    /// Assigned practitioner(s), by name.
    pub practitioners: Vec<String>,
    pub team: Option<String>,
    /// A word from [`ExitReason`] (older records may hold free text).
    pub exit_reason: Option<String>,
    pub exit_note: Option<String>,
    /// When the case was closed (`YYYY-MM-DD`); cleared on reopening.
    pub closed_on: Option<String>,
    /// Days between contacts when a contact sets no next date (default 14).
    pub contact_every_days: Option<u32>,
    /// When the case was opened on its first device (RFC 3339).
    pub opened_at: Option<String>,
    /// Who held the case when: one entry per holding, keyed by id.
    pub holders: BTreeMap<String, Holding>,
}

/// One period a practitioner held the case (set by transfer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Holding {
    pub name: String,
    pub user_id: Option<String>,
    pub from: String,
    pub to: Option<String>,
    /// Who made the transfer.
    pub by: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Consent {
    pub what: String,
    pub given_on: Option<String>,
    pub recorded_by: Option<String>,
    pub withdrawn_on: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    pub text: String,
    pub owner: Option<ActionOwner>,
    pub due: Option<String>,
    pub done: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub domain: Domain,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub status: Option<GoalStatus>,
    #[serde(default)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub review_date: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
}

/// One entry in a Signs of Safety column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SosEntry {
    pub text: String,
    pub added_at: Option<String>,
    /// For worries: past harm, future danger, or complicating factor.
    pub kind: Option<WorryKind>,
    /// `None` reads as open.
    pub status: Option<SosStatus>,
    pub updated_at: Option<String>,
    pub resolved_at: Option<String>,
}

/// A danger statement paired with its safety goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DangerStatement {
    pub danger: String,
    pub safety_goal: String,
    pub added_at: Option<String>,
    pub status: Option<SosStatus>,
    pub updated_at: Option<String>,
    pub resolved_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignsOfSafety {
    pub worries: BTreeMap<String, SosEntry>,
    pub working_well: BTreeMap<String, SosEntry>,
    pub needs_to_happen: BTreeMap<String, SosEntry>,
    pub danger_statements: BTreeMap<String, DangerStatement>,
}

/// A 0–10 scaling reading: "where are things now?", and whose view it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleReading {
    pub date: String,
    pub score: u8,
    #[serde(default)]
    pub view: Option<ScaleView>,
    #[serde(default)]
    pub note: Option<String>,
    /// The scaling question asked ("…where 10 means… and 0 means…").
    #[serde(default)]
    pub question: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOff {
    pub decision: SignOffDecision,
    /// The supervisor's name, from the organisation's directory.
    pub by: String,
    pub at: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Enrolled user and device (hex ids) that made the decision.
    #[serde(default)]
    pub by_user: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    /// Ed25519 by `device` over `outreach_protocol::sign_off_message`.
    #[serde(default)]
    pub signature: Option<String>,
}

/// A returned visit amended by its author: what was returned and what the
/// fields held before (the earlier text stays in the record and the export).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Amendment {
    pub at: String,
    pub by: String,
    /// The return this amendment answers.
    pub returned: Option<SignOff>,
    /// Previous values of the fields changed, by field name.
    pub previous: BTreeMap<String, serde_json::Value>,
}

/// A contact with the woman (or an attempt at one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub kind: ContactKind,
    pub outcome: Outcome,
    /// When it happened (or was attempted).
    pub at: String,
    #[serde(default)]
    pub planned_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub present: Vec<String>,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub note: String,
    /// The woman's own words, as she said them.
    #[serde(default)]
    pub her_words: Option<String>,
    #[serde(default)]
    pub wellbeing: Option<u8>,
    #[serde(default)]
    pub actions_agreed: Option<String>,
    #[serde(default)]
    pub next_contact_due: Option<String>,
    /// Lone-working check-in / check-out.
    #[serde(default)]
    pub checked_in_at: Option<String>,
    #[serde(default)]
    pub checked_out_at: Option<String>,
    #[serde(default)]
    pub recorded_by: Option<String>,
    /// The enrolled user who recorded it (hex id); absent on local vaults.
    #[serde(default)]
    pub recorded_by_user: Option<String>,
    #[serde(default)]
    pub recorded_at: Option<String>,
    #[serde(default)]
    pub sign_off: Option<SignOff>,
    #[serde(default)]
    pub amendments: BTreeMap<String, Amendment>,
    /// Computed by this device on every read from the sign-off, its
    /// signature and the directory; any stored value is ignored.
    #[serde(default = "awaiting")]
    pub review: ReviewState,
}

fn awaiting() -> ReviewState {
    ReviewState::Awaiting
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concern {
    pub category: String,
    pub severity: Severity,
    pub description: String,
    pub raised_at: String,
    #[serde(default)]
    pub raised_by: Option<String>,
    #[serde(default)]
    pub status: Option<ConcernStatus>,
    #[serde(default)]
    pub escalated_to: Option<String>,
    #[serde(default)]
    pub escalated_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Referral {
    pub agency: String,
    pub reason: String,
    pub date: String,
    pub status: Option<ReferralStatus>,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub kind: MeetingKind,
    pub date: String,
    #[serde(default)]
    pub attendees: Vec<String>,
    #[serde(default)]
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgrammeEvent {
    pub kind: EventKind,
    pub date: String,
    #[serde(default)]
    pub note: Option<String>,
    /// The fields below are set on `record-exported` events only: the
    /// access log in the record itself (who exported it, when, in which
    /// format — never what), so it reaches supervisors and the recovery key
    /// like any change. Absent from other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The enrolled user's id (hex), when the device is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_user: Option<String>,
    /// The exporting device's id (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `json` or `automerge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// A whole case as read from its document (the latest, deterministic value of
/// every field; conflicting values are listed separately by `conflicts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Case {
    pub id: String,
    pub profile: Profile,
    pub programme: Programme,
    pub consents: BTreeMap<String, Consent>,
    pub goals: BTreeMap<String, Goal>,
    pub signs_of_safety: SignsOfSafety,
    pub scales: BTreeMap<String, ScaleReading>,
    pub visits: BTreeMap<String, Visit>,
    pub concerns: BTreeMap<String, Concern>,
    pub referrals: BTreeMap<String, Referral>,
    pub meetings: BTreeMap<String, Meeting>,
    pub events: BTreeMap<String, ProgrammeEvent>,
    /// Paths of records this version could not read (left out above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// Edits to profile and programme fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseEdit {
    pub preferred_name: Option<String>,
    pub legal_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub care_leaver: Option<bool>,
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    pub code_word: Option<String>,
    pub safe_contact_notes: Option<String>,
    pub children_count: Option<u32>,
    pub children_age_bands: Option<String>,
    pub children_legal_status: Option<String>,
    pub children_contact: Option<String>,
    pub referral_date: Option<String>,
    pub referral_source: Option<String>,
    pub phase: Option<Phase>,
    pub start_date: Option<String>,
    pub planned_end_date: Option<String>,
    pub practitioners: Option<Vec<String>>,
    pub team: Option<String>,
    pub exit_reason: Option<String>,
    pub contact_every_days: Option<u32>,
}
