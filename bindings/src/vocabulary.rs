//! The vocabularies the apps offer — contact kinds, outcomes, plan domains,
//! concern severities and statuses, exit reasons, Signs of Safety columns… —
//! straight from the core's closed lists (`core/src/case/model.rs`), in the
//! core's order, so a new word reaches both apps at once and neither app
//! keeps a copy. Each term is the typed value with the core's word for it
//! (`home`, `no-answer`, `mental-health`): the apps key their translated
//! labels on the word (`strings.xml`, `Localizable.strings`). One call, no
//! vault needed (it works on the unlock screen too).

use outreach_core::case::model::{
    ActionOwner, ConcernStatus, ContactKind, Domain, EventKind, ExitReason, GoalStatus,
    MeetingKind, Outcome, Phase, ReferralStatus, ReviewState, ScaleView, Severity, SignOffDecision,
    SosColumn, SosStatus, WorryKind,
};
use outreach_core::case::validate::{MAX_NOTE_BYTES, MAX_SHORT_CHARS};
use outreach_core::practice::DEFAULT_CONTACT_EVERY_DAYS;

/// One record type per vocabulary (uniffi has no generics): the value and
/// its word, for every word of the core's list.
macro_rules! terms {
    ($($term:ident: $ty:ident),+ $(,)?) => {$(
        #[derive(uniffi::Record)]
        pub struct $term {
            pub value: $ty,
            /// The core's word (`home`, `no-answer`…): the key of its label.
            pub word: String,
        }

        impl $term {
            fn all() -> Vec<Self> {
                $ty::ALL
                    .iter()
                    .map(|v| Self { value: *v, word: v.as_str().to_string() })
                    .collect()
            }
        }
    )+};
}

terms!(
    PhaseTerm: Phase,
    DomainTerm: Domain,
    GoalStatusTerm: GoalStatus,
    ActionOwnerTerm: ActionOwner,
    ContactKindTerm: ContactKind,
    OutcomeTerm: Outcome,
    SignOffDecisionTerm: SignOffDecision,
    ReviewStateTerm: ReviewState,
    ExitReasonTerm: ExitReason,
    WorryKindTerm: WorryKind,
    SosStatusTerm: SosStatus,
    SeverityTerm: Severity,
    ConcernStatusTerm: ConcernStatus,
    ScaleViewTerm: ScaleView,
    SosColumnTerm: SosColumn,
    MeetingKindTerm: MeetingKind,
    EventKindTerm: EventKind,
    ReferralStatusTerm: ReferralStatus,
);

/// Every list a form offers, and the limits a form shows.
#[derive(uniffi::Record)]
pub struct Vocabulary {
    pub phases: Vec<PhaseTerm>,
    /// The twelve support-plan domains.
    pub domains: Vec<DomainTerm>,
    pub goal_statuses: Vec<GoalStatusTerm>,
    pub action_owners: Vec<ActionOwnerTerm>,
    /// Every way a contact happens, attempts included.
    pub contact_kinds: Vec<ContactKindTerm>,
    pub outcomes: Vec<OutcomeTerm>,
    pub sign_off_decisions: Vec<SignOffDecisionTerm>,
    pub review_states: Vec<ReviewStateTerm>,
    pub exit_reasons: Vec<ExitReasonTerm>,
    pub worry_kinds: Vec<WorryKindTerm>,
    pub sos_statuses: Vec<SosStatusTerm>,
    /// Least to most severe.
    pub severities: Vec<SeverityTerm>,
    pub concern_statuses: Vec<ConcernStatusTerm>,
    pub scale_views: Vec<ScaleViewTerm>,
    /// Worries, what's working well, what needs to happen.
    pub sos_columns: Vec<SosColumnTerm>,
    pub meeting_kinds: Vec<MeetingKindTerm>,
    /// The kinds `addEvent` accepts (`record-exported` is written by an
    /// export itself, never offered).
    pub event_kinds: Vec<EventKindTerm>,
    pub referral_statuses: Vec<ReferralStatusTerm>,
    /// Days to the next contact when a contact sets none (the form's default).
    pub default_contact_every_days: u32,
    /// Longest note (UTF-8 bytes) and longest short field (characters).
    pub max_note_bytes: u32,
    pub max_short_chars: u32,
}

/// The core's vocabularies, for every list an app offers.
#[uniffi::export]
pub fn vocabulary() -> Vocabulary {
    let mut event_kinds = EventKindTerm::all();
    event_kinds.retain(|t| t.value != EventKind::RecordExported);
    Vocabulary {
        phases: PhaseTerm::all(),
        domains: DomainTerm::all(),
        goal_statuses: GoalStatusTerm::all(),
        action_owners: ActionOwnerTerm::all(),
        contact_kinds: ContactKindTerm::all(),
        outcomes: OutcomeTerm::all(),
        sign_off_decisions: SignOffDecisionTerm::all(),
        review_states: ReviewStateTerm::all(),
        exit_reasons: ExitReasonTerm::all(),
        worry_kinds: WorryKindTerm::all(),
        sos_statuses: SosStatusTerm::all(),
        severities: SeverityTerm::all(),
        concern_statuses: ConcernStatusTerm::all(),
        scale_views: ScaleViewTerm::all(),
        sos_columns: SosColumnTerm::all(),
        meeting_kinds: MeetingKindTerm::all(),
        event_kinds,
        referral_statuses: ReferralStatusTerm::all(),
        default_contact_every_days: DEFAULT_CONTACT_EVERY_DAYS,
        max_note_bytes: MAX_NOTE_BYTES as u32,
        max_short_chars: MAX_SHORT_CHARS as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_is_the_cores() {
        let v = vocabulary();
        assert_eq!(v.contact_kinds.len(), ContactKind::ALL.len());
        assert_eq!(v.domains.len(), 12);
        assert_eq!(v.outcomes[1].word, "no-answer");
        assert_eq!(v.event_kinds.len(), EventKind::ALL.len() - 1);
        assert!(
            v.severities
                .iter()
                .map(|t| t.value)
                .eq(Severity::ALL.iter().copied())
        );
    }
}
