//! Core value types exported as uniffi remote types: the definitions below
//! mirror the core's (the compiler checks they match) so records cross the
//! boundary with no hand-written conversions.

use outreach_core::case::doc::HistoryEntry;
use outreach_core::case::model::{
    ActionOwner, CaseEdit, ConcernStatus, ContactKind, Domain, EventKind, ExitReason, GoalStatus,
    MeetingKind, Outcome, Phase, ReferralStatus, ReviewState, ScaleView, Severity, SignOff,
    SignOffDecision, SosColumn, SosStatus, Visit, WorryKind,
};
use outreach_core::practice::ContactDue;
use outreach_core::sync::{Assignment, RejectedItem, SyncPhase, SyncReport, Transfer};
use outreach_core::vault::{
    AccessEntry, ActionInput, CaseSummary, CaseSyncState, ConcernInput, ConcernUpdate,
    ConsentInput, DraftSummary, EventInput, FormDraft, FormField, FormKind, GoalInput,
    MeetingInput, OpenConcern, PendingVisit, ReferralInput, ScaleInput, SosUpdate, TimelineEntry,
    VisitDraft, VisitInput,
};

#[uniffi::remote(Enum)]
pub enum Phase {
    Referred,
    Engagement,
    Programme,
    NextSteps,
    Closed,
}

#[uniffi::remote(Enum)]
pub enum Domain {
    Housing,
    MentalHealth,
    PhysicalHealth,
    Contraception,
    SubstanceUse,
    DomesticAbuse,
    Finance,
    EducationEmployment,
    RelationshipsChildren,
    Legal,
    LossTrauma,
    Other,
}

#[uniffi::remote(Enum)]
pub enum GoalStatus {
    NotStarted,
    InProgress,
    Achieved,
    OnHold,
    Stopped,
}

#[uniffi::remote(Enum)]
pub enum ActionOwner {
    Woman,
    Practitioner,
    Agency,
}

#[uniffi::remote(Enum)]
pub enum ContactKind {
    Home,
    Community,
    Office,
    Accompanied,
    Phone,
    Video,
    Text,
    Attempted,
}

#[uniffi::remote(Enum)]
pub enum Outcome {
    Completed,
    NoAnswer,
    Cancelled,
    Rescheduled,
}

#[uniffi::remote(Enum)]
pub enum SignOffDecision {
    SignedOff,
    Returned,
}

#[uniffi::remote(Enum)]
pub enum ReviewState {
    Awaiting,
    SignedOff,
    Returned,
    Amended,
    NotValid,
}

#[uniffi::remote(Enum)]
pub enum ExitReason {
    Completed,
    Disengaged,
    Withdrew,
    MovedAway,
    Pregnancy,
    Custody,
    Transferred,
    Other,
}

#[uniffi::remote(Enum)]
pub enum WorryKind {
    Harm,
    Danger,
    Complicating,
}

#[uniffi::remote(Enum)]
pub enum SosStatus {
    Open,
    Resolved,
}

#[uniffi::remote(Enum)]
pub enum Severity {
    Low,
    Medium,
    High,
}

#[uniffi::remote(Enum)]
pub enum ConcernStatus {
    Open,
    Escalated,
    Monitoring,
    Closed,
}

#[uniffi::remote(Enum)]
pub enum ScaleView {
    Woman,
    Practitioner,
    SocialWorker,
    Other,
}

#[uniffi::remote(Record)]
pub struct CaseEdit {
    #[uniffi(default)]
    pub preferred_name: Option<String>,
    #[uniffi(default)]
    pub legal_name: Option<String>,
    #[uniffi(default)]
    pub date_of_birth: Option<String>,
    #[uniffi(default)]
    pub phone: Option<String>,
    #[uniffi(default)]
    pub address: Option<String>,
    #[uniffi(default)]
    pub care_leaver: Option<bool>,
    #[uniffi(default)]
    pub text_ok: Option<bool>,
    #[uniffi(default)]
    pub voicemail_ok: Option<bool>,
    #[uniffi(default)]
    pub code_word: Option<String>,
    #[uniffi(default)]
    pub safe_contact_notes: Option<String>,
    #[uniffi(default)]
    pub children_count: Option<u32>,
    #[uniffi(default)]
    pub children_age_bands: Option<String>,
    #[uniffi(default)]
    pub children_legal_status: Option<String>,
    #[uniffi(default)]
    pub children_contact: Option<String>,
    #[uniffi(default)]
    pub referral_date: Option<String>,
    #[uniffi(default)]
    pub referral_source: Option<String>,
    #[uniffi(default)]
    pub phase: Option<Phase>,
    #[uniffi(default)]
    pub start_date: Option<String>,
    #[uniffi(default)]
    pub planned_end_date: Option<String>,
    #[uniffi(default)]
    pub practitioners: Option<Vec<String>>,
    #[uniffi(default)]
    pub team: Option<String>,
    #[uniffi(default)]
    pub exit_reason: Option<String>,
    #[uniffi(default)]
    pub contact_every_days: Option<u32>,
}

#[uniffi::remote(Record)]
pub struct VisitInput {
    pub at: String,
    pub kind: ContactKind,
    pub outcome: Outcome,
    pub note: String,
    #[uniffi(default)]
    pub planned_at: Option<String>,
    #[uniffi(default)]
    pub ended_at: Option<String>,
    #[uniffi(default)]
    pub present: Vec<String>,
    #[uniffi(default)]
    pub domains: Vec<Domain>,
    #[uniffi(default)]
    pub her_words: Option<String>,
    #[uniffi(default)]
    pub wellbeing: Option<i64>,
    #[uniffi(default)]
    pub actions_agreed: Option<String>,
    #[uniffi(default)]
    pub next_contact_due: Option<String>,
    #[uniffi(default)]
    pub checked_in_at: Option<String>,
    #[uniffi(default)]
    pub checked_out_at: Option<String>,
}

#[uniffi::remote(Record)]
pub struct SignOff {
    pub decision: SignOffDecision,
    pub by: String,
    pub at: String,
    pub comment: Option<String>,
    pub by_user: Option<String>,
    pub device: Option<String>,
    pub signature: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Amendment {
    pub at: String,
    pub by: String,
    pub returned: Option<SignOff>,
    pub previous: JsonMap,
}

#[uniffi::remote(Record)]
pub struct Visit {
    pub kind: ContactKind,
    pub outcome: Outcome,
    pub at: String,
    pub planned_at: Option<String>,
    pub ended_at: Option<String>,
    pub present: Vec<String>,
    pub domains: Vec<Domain>,
    pub note: String,
    pub her_words: Option<String>,
    pub wellbeing: Option<u8>,
    pub actions_agreed: Option<String>,
    pub next_contact_due: Option<String>,
    pub checked_in_at: Option<String>,
    pub checked_out_at: Option<String>,
    pub recorded_by: Option<String>,
    pub recorded_by_user: Option<String>,
    pub recorded_at: Option<String>,
    pub sign_off: Option<SignOff>,
    pub amendments: AmendmentMap,
    pub review: ReviewState,
}

#[uniffi::remote(Record)]
pub struct GoalInput {
    pub domain: Domain,
    pub text: String,
    #[uniffi(default)]
    pub status: Option<GoalStatus>,
    #[uniffi(default)]
    pub target_date: Option<String>,
    #[uniffi(default)]
    pub review_date: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ScaleInput {
    pub score: i64,
    #[uniffi(default)]
    pub date: Option<String>,
    #[uniffi(default)]
    pub view: Option<ScaleView>,
    #[uniffi(default)]
    pub note: Option<String>,
    #[uniffi(default)]
    pub question: Option<String>,
}

#[uniffi::remote(Record)]
pub struct SosUpdate {
    #[uniffi(default)]
    pub text: Option<String>,
    #[uniffi(default)]
    pub kind: Option<WorryKind>,
    #[uniffi(default)]
    pub status: Option<SosStatus>,
    #[uniffi(default)]
    pub danger: Option<String>,
    #[uniffi(default)]
    pub safety_goal: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ConcernInput {
    pub category: String,
    pub severity: Severity,
    pub description: String,
    #[uniffi(default)]
    pub escalated_to: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ContactDue {
    pub next_contact_due: Option<String>,
    pub overdue: bool,
    pub last_contact: Option<String>,
    pub last_contact_attempt: bool,
    pub last_seen: Option<String>,
    pub not_seen_days: Option<i64>,
}

#[uniffi::remote(Record)]
pub struct CaseSummary {
    pub id: String,
    pub preferred_name: String,
    pub phase: Option<Phase>,
    pub practitioners: Vec<String>,
    pub team: Option<String>,
    pub contact: ContactDue,
    pub planned_end: Option<String>,
    pub ending_soon: bool,
    pub open_concerns: u32,
    pub highest_open_severity: Option<Severity>,
    pub visits: u32,
    pub awaiting_sign_off: u32,
    pub returned: u32,
    pub unreadable: bool,
}

#[uniffi::remote(Record)]
pub struct PendingVisit {
    pub case_id: String,
    pub preferred_name: String,
    pub visit_id: String,
    pub at: String,
    pub kind: ContactKind,
    pub outcome: Outcome,
    pub recorded_by: Option<String>,
    pub review: ReviewState,
    pub comment: Option<String>,
}

#[uniffi::remote(Record)]
pub struct OpenConcern {
    pub case_id: String,
    pub preferred_name: String,
    pub concern_id: String,
    pub category: String,
    pub severity: Severity,
    pub status: ConcernStatus,
    pub raised_at: String,
    pub escalated_to: Option<String>,
}

#[uniffi::remote(Enum)]
pub enum SosColumn {
    Worries,
    WorkingWell,
    NeedsToHappen,
}

#[uniffi::remote(Enum)]
pub enum ReferralStatus {
    Made,
    Accepted,
    Declined,
    Completed,
}

#[uniffi::remote(Enum)]
pub enum MeetingKind {
    Fgc,
    Network,
    Professionals,
    Review,
}

#[uniffi::remote(Enum)]
pub enum EventKind {
    Pregnancy,
    Birth,
    NewProceedings,
    ProceedingsConcluded,
    Exit,
    Other,
    /// Written by the core when the record is exported (the access log in
    /// the case); `addEvent` refuses it.
    RecordExported,
}

#[uniffi::remote(Record)]
pub struct ActionInput {
    pub text: String,
    #[uniffi(default)]
    pub owner: Option<ActionOwner>,
    #[uniffi(default)]
    pub due: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ConcernUpdate {
    #[uniffi(default)]
    pub status: Option<ConcernStatus>,
    #[uniffi(default)]
    pub severity: Option<Severity>,
    #[uniffi(default)]
    pub escalated_to: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ConsentInput {
    pub what: String,
    #[uniffi(default)]
    pub given_on: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ReferralInput {
    pub agency: String,
    pub reason: String,
    #[uniffi(default)]
    pub date: Option<String>,
    #[uniffi(default)]
    pub status: Option<ReferralStatus>,
}

#[uniffi::remote(Record)]
pub struct MeetingInput {
    pub kind: MeetingKind,
    pub date: String,
    pub attendees: Vec<String>,
    pub summary: String,
}

#[uniffi::remote(Record)]
pub struct EventInput {
    pub kind: EventKind,
    pub date: String,
    #[uniffi(default)]
    pub note: Option<String>,
}

/// One export this device made (its access log; no content).
#[uniffi::remote(Record)]
pub struct AccessEntry {
    pub id: i64,
    pub at: String,
    pub action: String,
    pub case_id: String,
    pub format: Option<String>,
    pub by: String,
    pub by_user: Option<String>,
    pub device: String,
}

#[uniffi::remote(Record)]
pub struct HistoryEntry {
    pub at: String,
    pub by: String,
    pub role: Option<String>,
    pub device: String,
    pub what: String,
    pub change: String,
}

#[uniffi::remote(Record)]
pub struct TimelineEntry {
    pub at: String,
    pub kind: String,
    pub id: String,
    pub summary: String,
}

#[uniffi::remote(Record)]
pub struct VisitDraft {
    #[uniffi(default)]
    pub at: Option<String>,
    #[uniffi(default)]
    pub kind: Option<ContactKind>,
    #[uniffi(default)]
    pub outcome: Option<Outcome>,
    #[uniffi(default)]
    pub note: Option<String>,
    #[uniffi(default)]
    pub planned_at: Option<String>,
    #[uniffi(default)]
    pub ended_at: Option<String>,
    #[uniffi(default)]
    pub present: Vec<String>,
    #[uniffi(default)]
    pub domains: Vec<Domain>,
    #[uniffi(default)]
    pub her_words: Option<String>,
    #[uniffi(default)]
    pub wellbeing: Option<i64>,
    #[uniffi(default)]
    pub actions_agreed: Option<String>,
    #[uniffi(default)]
    pub next_contact_due: Option<String>,
    #[uniffi(default)]
    pub checked_in_at: Option<String>,
    #[uniffi(default)]
    pub checked_out_at: Option<String>,
}

#[uniffi::remote(Record)]
pub struct DraftSummary {
    pub draft_id: String,
    pub case_id: String,
    pub updated_at: String,
    pub kind: Option<ContactKind>,
    pub at: Option<String>,
    pub form: Option<FormKind>,
}

#[uniffi::remote(Enum)]
pub enum FormKind {
    Referral,
    Meeting,
    Consent,
    DangerStatement,
    Concern,
    CheckIn,
    Revision,
    ConcernUpdate,
    Closure,
    Goal,
    Action,
    Scaling,
    MapEntry,
    OpenCase,
    ReturnComment,
    Amendment,
}

#[uniffi::remote(Record)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

#[uniffi::remote(Record)]
pub struct FormDraft {
    pub form: FormKind,
    pub fields: Vec<FormField>,
}

#[uniffi::remote(Enum)]
pub enum CaseSyncState {
    NeverSynced,
    PendingUpload,
    Synced,
    Conflict,
    NeedsAttention,
}

#[uniffi::remote(Record)]
pub struct RejectedItem {
    pub case: String,
    pub reason: String,
}

#[uniffi::remote(Enum)]
pub enum SyncPhase {
    Uploading,
    Downloading,
    SharingKeys,
}

#[uniffi::remote(Record)]
pub struct SyncReport {
    pub pushed: u64,
    pub pulled: u64,
    pub cases_changed: Vec<String>,
    pub conflicts: u64,
    pub keys_shared: u64,
    pub keys_received: u64,
    pub cases_waiting_for_key: u64,
    pub rejected: Vec<RejectedItem>,
    pub round_trips: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Cases transferred to another practitioner and deleted from this device.
    pub removed: Vec<String>,
    pub removal_waiting: Vec<String>,
    /// Cases the organisation erased: deleted from this device and confirmed.
    pub erased: Vec<String>,
    /// Cases whose key this device changed because a device lost access.
    pub keys_rotated: u64,
    /// Uploads waiting for a case's new key (sealed again, then sent).
    pub uploads_waiting_for_key: u64,
}

// ---- the whole case as records -------------------------------------------
//
// The core keeps records in `BTreeMap`s (stable order); uniffi knows
// `HashMap`s. Each map type is exported as a custom type over a map, so the
// case crosses as records with no conversion code beyond this.

use std::collections::{BTreeMap, HashMap};

use outreach_core::case::model::{
    Action, Amendment, Case, Children, Concern, Consent, DangerStatement, Goal, Holding, Meeting,
    Professional, Profile, Programme, ProgrammeEvent, Referral, SafeContact, ScaleReading,
    SignsOfSafety, SosEntry,
};

/// A JSON value (an amendment's earlier field values) crosses as its text.
pub type JsonValue = serde_json::Value;
uniffi::custom_type!(JsonValue, String, {
    remote,
    lower: |v| v.to_string(),
    try_lift: |s| Ok(serde_json::from_str(&s)?),
});

macro_rules! record_map {
    ($($alias:ident => $record:ty),* $(,)?) => {$(
        pub type $alias = BTreeMap<String, $record>;
        uniffi::custom_type!($alias, HashMap<String, $record>, {
            remote,
            lower: |map| map.into_iter().collect(),
            try_lift: |map| Ok(map.into_iter().collect()),
        });
    )*};
}

record_map! {
    ProfessionalMap => Professional,
    ActionMap => Action,
    SosEntryMap => SosEntry,
    DangerStatementMap => DangerStatement,
    ConsentMap => Consent,
    GoalMap => Goal,
    ScaleReadingMap => ScaleReading,
    VisitMap => Visit,
    ConcernMap => Concern,
    ReferralMap => Referral,
    MeetingMap => Meeting,
    ProgrammeEventMap => ProgrammeEvent,
    HoldingMap => Holding,
    AmendmentMap => Amendment,
    JsonMap => JsonValue,
}

#[uniffi::remote(Record)]
pub struct SafeContact {
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    pub code_word: Option<String>,
    pub notes: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Professional {
    pub role: String,
    pub name: String,
    pub organisation: Option<String>,
    pub phone: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Children {
    pub count: Option<u32>,
    pub age_bands: Option<String>,
    pub legal_status: Option<String>,
    pub contact_arrangements: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Profile {
    pub preferred_name: String,
    pub legal_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub care_leaver: Option<bool>,
    pub safe_contact: SafeContact,
    pub professionals: ProfessionalMap,
    pub children: Children,
}

#[uniffi::remote(Record)]
pub struct Programme {
    pub referral_date: Option<String>,
    pub referral_source: Option<String>,
    pub phase: Option<Phase>,
    pub start_date: Option<String>,
    pub planned_end_date: Option<String>,
    pub practitioners: Vec<String>,
    pub team: Option<String>,
    pub exit_reason: Option<String>,
    pub exit_note: Option<String>,
    pub closed_on: Option<String>,
    pub contact_every_days: Option<u32>,
    pub opened_at: Option<String>,
    pub holders: HoldingMap,
}

#[uniffi::remote(Record)]
pub struct Holding {
    pub name: String,
    pub user_id: Option<String>,
    pub from: String,
    pub to: Option<String>,
    pub by: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Consent {
    pub what: String,
    pub given_on: Option<String>,
    pub recorded_by: Option<String>,
    pub withdrawn_on: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Action {
    pub text: String,
    pub owner: Option<ActionOwner>,
    pub due: Option<String>,
    pub done: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Goal {
    pub domain: Domain,
    pub text: String,
    pub status: Option<GoalStatus>,
    pub target_date: Option<String>,
    pub review_date: Option<String>,
    pub created_at: Option<String>,
    pub actions: ActionMap,
}

#[uniffi::remote(Record)]
pub struct SosEntry {
    pub text: String,
    pub added_at: Option<String>,
    pub kind: Option<WorryKind>,
    pub status: Option<SosStatus>,
    pub updated_at: Option<String>,
    pub resolved_at: Option<String>,
}

#[uniffi::remote(Record)]
pub struct DangerStatement {
    pub danger: String,
    pub safety_goal: String,
    pub added_at: Option<String>,
    pub status: Option<SosStatus>,
    pub updated_at: Option<String>,
    pub resolved_at: Option<String>,
}

#[uniffi::remote(Record)]
pub struct SignsOfSafety {
    pub worries: SosEntryMap,
    pub working_well: SosEntryMap,
    pub needs_to_happen: SosEntryMap,
    pub danger_statements: DangerStatementMap,
}

#[uniffi::remote(Record)]
pub struct ScaleReading {
    pub date: String,
    pub score: u8,
    pub view: Option<ScaleView>,
    pub note: Option<String>,
    pub question: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Concern {
    pub category: String,
    pub severity: Severity,
    pub description: String,
    pub raised_at: String,
    pub raised_by: Option<String>,
    pub status: Option<ConcernStatus>,
    pub escalated_to: Option<String>,
    pub escalated_at: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Referral {
    pub agency: String,
    pub reason: String,
    pub date: String,
    pub status: Option<ReferralStatus>,
    pub outcome: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Meeting {
    pub kind: MeetingKind,
    pub date: String,
    pub attendees: Vec<String>,
    pub summary: String,
}

#[uniffi::remote(Record)]
pub struct ProgrammeEvent {
    pub kind: EventKind,
    pub date: String,
    pub note: Option<String>,
    /// Set on `RECORD_EXPORTED` events only: when, by whom (name, user
    /// id), from which device, in which format.
    pub at: Option<String>,
    pub by: Option<String>,
    pub by_user: Option<String>,
    pub device: Option<String>,
    pub format: Option<String>,
}

/// One woman's whole record: every collection keyed by record id.
#[uniffi::remote(Record)]
pub struct Case {
    pub id: String,
    pub profile: Profile,
    pub programme: Programme,
    pub consents: ConsentMap,
    pub goals: GoalMap,
    pub signs_of_safety: SignsOfSafety,
    pub scales: ScaleReadingMap,
    pub visits: VisitMap,
    pub concerns: ConcernMap,
    pub referrals: ReferralMap,
    pub meetings: MeetingMap,
    pub events: ProgrammeEventMap,
    pub unreadable: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct Assignment {
    pub case_id: String,
    pub devices: u32,
    pub keys_shared: u64,
}

#[uniffi::remote(Record)]
pub struct Transfer {
    pub case_id: String,
    pub to: String,
    pub devices: u32,
    pub keys_shared: u64,
}
