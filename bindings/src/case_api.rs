//! The rest of the case API: plan, Signs of Safety, concerns, consent,
//! referrals, meetings, events, conflicts, history, timeline, export and
//! drafts — each a direct call into the core, owned values in and out.

use outreach_core::case::doc::HistoryEntry;
use outreach_core::case::model::{
    Case, ExitReason, GoalStatus, Phase, SignOffDecision, SosColumn, WorryKind,
};
use outreach_core::vault::{
    AccessEntry, ActionInput, ConcernUpdate, ConsentInput, DraftSummary, EventInput, ExportFormat,
    Exported, FormDraft, MeetingInput, PendingVisit, ReferralInput, SosUpdate, TimelineEntry,
    VisitDraft,
};

use crate::{OutreachError, OutreachVault};

/// One of the values a conflicting field holds.
#[derive(uniffi::Record)]
pub struct ConflictChoice {
    /// The value as JSON (a string, number, boolean or null).
    pub value_json: String,
    pub by: String,
    pub device: String,
    pub at: String,
}

/// A field edited differently on two devices; every value is kept until resolved.
#[derive(uniffi::Record)]
pub struct ConflictInfo {
    /// Path of the field, e.g. `profile/safe_contact/code_word`.
    pub field: String,
    pub values: Vec<ConflictChoice>,
}

/// A saved draft and the case it belongs to.
#[derive(uniffi::Record)]
pub struct RestoredDraft {
    pub case_id: String,
    pub draft: VisitDraft,
}

/// A saved draft of another form and the case it belongs to.
#[derive(uniffi::Record)]
pub struct RestoredFormDraft {
    pub case_id: String,
    pub draft: FormDraft,
}

fn internal(what: &str) -> OutreachError {
    OutreachError::Internal {
        detail: format!("{what} could not be serialised"),
    }
}

#[uniffi::export]
impl OutreachVault {
    /// Supervisor sign-off of a visit, or return for amendment with a comment.
    pub fn sign_off_visit(
        &self,
        case_id: String,
        visit_id: String,
        decision: SignOffDecision,
        comment: Option<String>,
    ) -> Result<(), OutreachError> {
        Ok(self
            .vault()
            .sign_off_visit(&case_id, &visit_id, decision, comment.as_deref())?)
    }

    pub fn set_goal_status(
        &self,
        case_id: String,
        goal_id: String,
        status: GoalStatus,
    ) -> Result<(), OutreachError> {
        Ok(self.vault().set_goal_status(&case_id, &goal_id, status)?)
    }

    pub fn add_action(
        &self,
        case_id: String,
        goal_id: String,
        action: ActionInput,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_action(&case_id, &goal_id, &action)?)
    }

    /// Marks an action done (today if no date).
    pub fn complete_action(
        &self,
        case_id: String,
        goal_id: String,
        action_id: String,
        date: Option<String>,
    ) -> Result<(), OutreachError> {
        Ok(self
            .vault()
            .complete_action(&case_id, &goal_id, &action_id, date.as_deref())?)
    }

    /// Signs of Safety map: worries (with `kind`: harm, danger or
    /// complicating factor), what's working well, what needs to happen.
    pub fn add_sos_entry(
        &self,
        case_id: String,
        column: SosColumn,
        text: String,
        kind: Option<WorryKind>,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_sos_entry(&case_id, column, &text, kind)?)
    }

    /// Revises a Signs of Safety entry or danger statement, or marks it
    /// resolved / open; returns the entry's full id.
    pub fn update_sos(
        &self,
        case_id: String,
        entry_id: String,
        update: SosUpdate,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().update_sos(&case_id, &entry_id, &update)?)
    }

    /// Visits in the sign-off loop, oldest first (supervisor: her team's
    /// awaiting a decision; practitioner: her own, returned ones first).
    pub fn pending_visits(&self) -> Result<Vec<PendingVisit>, OutreachError> {
        Ok(self.vault().pending_visits()?)
    }

    /// The visit's author amends a returned visit: the fields set in
    /// `changes` replace their values; returns the visit's full id.
    pub fn amend_visit(
        &self,
        case_id: String,
        visit_id: String,
        changes: VisitDraft,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().amend_visit(&case_id, &visit_id, &changes)?)
    }

    /// Closes a case (she has left the programme for `reason`).
    pub fn close_case(
        &self,
        case_id: String,
        reason: ExitReason,
        note: Option<String>,
        on: Option<String>,
    ) -> Result<(), OutreachError> {
        Ok(self
            .vault()
            .close_case(&case_id, reason, note.as_deref(), on.as_deref())?)
    }

    /// Reopens a closed case in `phase` (default: programme).
    pub fn reopen_case(&self, case_id: String, phase: Option<Phase>) -> Result<(), OutreachError> {
        Ok(self.vault().reopen_case(&case_id, phase)?)
    }

    /// Removes a closed case, or one transferred away, from this device
    /// only, with its keys and drafts; returns its id. Refused (`InvalidInput`)
    /// while the case is open and held here, or while anything written here
    /// is not on the server. What still arrives for it is dropped.
    pub fn forget_case(&self, case_id: String) -> Result<String, OutreachError> {
        Ok(self.vault().forget_case(&case_id)?)
    }

    pub fn add_danger_statement(
        &self,
        case_id: String,
        danger: String,
        safety_goal: String,
    ) -> Result<String, OutreachError> {
        Ok(self
            .vault()
            .add_danger_statement(&case_id, &danger, &safety_goal)?)
    }

    pub fn update_concern(
        &self,
        case_id: String,
        concern_id: String,
        update: ConcernUpdate,
    ) -> Result<(), OutreachError> {
        Ok(self
            .vault()
            .update_concern(&case_id, &concern_id, &update)?)
    }

    pub fn add_consent(
        &self,
        case_id: String,
        consent: ConsentInput,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_consent(&case_id, &consent)?)
    }

    pub fn withdraw_consent(
        &self,
        case_id: String,
        consent_id: String,
        date: Option<String>,
    ) -> Result<(), OutreachError> {
        Ok(self
            .vault()
            .withdraw_consent(&case_id, &consent_id, date.as_deref())?)
    }

    pub fn add_referral(
        &self,
        case_id: String,
        referral: ReferralInput,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_referral(&case_id, &referral)?)
    }

    /// Family Group Conference, network or professionals meeting.
    pub fn add_meeting(
        &self,
        case_id: String,
        meeting: MeetingInput,
    ) -> Result<String, OutreachError> {
        Ok(self.vault().add_meeting(&case_id, &meeting)?)
    }

    /// Programme events: pregnancy, birth, proceedings, exit.
    pub fn add_event(&self, case_id: String, event: EventInput) -> Result<String, OutreachError> {
        Ok(self.vault().add_event(&case_id, &event)?)
    }

    /// The whole case as records: profile, programme, consents, goals with
    /// their actions, the Signs of Safety map, scale readings, visits,
    /// concerns, referrals, meetings, events — each keyed by record id.
    pub fn case_record(&self, case_id: String) -> Result<Case, OutreachError> {
        Ok(self.vault().read_case(&case_id)?)
    }

    /// Fields set differently on two devices, with every value.
    pub fn conflicts(&self, case_id: String) -> Result<Vec<ConflictInfo>, OutreachError> {
        let conflicts = self.vault().conflicts(&case_id)?;
        conflicts
            .into_iter()
            .map(|c| {
                let values = c
                    .values
                    .into_iter()
                    .map(|v| {
                        Ok(ConflictChoice {
                            value_json: serde_json::to_string(&v.value)
                                .map_err(|_| internal("a value"))?,
                            by: v.by,
                            device: v.device,
                            at: v.at,
                        })
                    })
                    .collect::<Result<_, OutreachError>>()?;
                Ok(ConflictInfo {
                    field: c.field,
                    values,
                })
            })
            .collect()
    }

    /// Settles a conflict with the chosen (or a new) value, given as JSON.
    pub fn resolve_conflict(
        &self,
        case_id: String,
        field: String,
        value_json: String,
    ) -> Result<(), OutreachError> {
        let value = serde_json::from_str(&value_json).map_err(|_| OutreachError::InvalidInput {
            detail: "value: is not valid JSON".into(),
        })?;
        Ok(self.vault().resolve_conflict(&case_id, &field, value)?)
    }

    /// Who changed the case, what and when, oldest first.
    pub fn history(&self, case_id: String) -> Result<Vec<HistoryEntry>, OutreachError> {
        Ok(self.vault().history(&case_id)?)
    }

    /// Everything dated in the case, newest first.
    pub fn timeline(&self, case_id: String) -> Result<Vec<TimelineEntry>, OutreachError> {
        Ok(self.vault().timeline(&case_id)?)
    }

    /// Subject access export: the whole case, its history and open conflicts
    /// as JSON (`docs/EXPORT.md`, format `outreach.case-export.v1`).
    /// Recorded first in this device's access log and in the case (synced
    /// like any change), as every export is.
    pub fn export_case_json(&self, case_id: String) -> Result<String, OutreachError> {
        match self.vault().export(&case_id, ExportFormat::Json)? {
            Exported::Json(export) => {
                serde_json::to_string_pretty(&export).map_err(|_| internal("the export"))
            }
            Exported::Automerge(_) => Err(internal("the export")),
        }
    }

    /// Adds or merges a case document from another device (an Automerge
    /// export); returns the case id.
    pub fn import_case(&self, automerge: Vec<u8>) -> Result<String, OutreachError> {
        Ok(self.vault().import_case(&automerge)?)
    }

    /// The case's raw Automerge document (recorded as an export).
    pub fn export_case_automerge(&self, case_id: String) -> Result<Vec<u8>, OutreachError> {
        match self.vault().export(&case_id, ExportFormat::Automerge)? {
            Exported::Automerge(bytes) => Ok(bytes),
            Exported::Json(_) => Err(internal("the export")),
        }
    }

    /// This device's access log, oldest first: every export made here
    /// (when, which case, which format, by whom) — no content.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>, OutreachError> {
        Ok(self.vault().access_log()?)
    }

    /// Saves the contact form in progress (call on every edit). Pass the id
    /// returned by the first save to overwrite.
    pub fn save_draft(
        &self,
        draft_id: Option<String>,
        case_id: String,
        draft: VisitDraft,
    ) -> Result<String, OutreachError> {
        Ok(self
            .vault()
            .save_draft(draft_id.as_deref(), &case_id, &draft)?)
    }

    /// Saves another form in progress (referral, meeting, consent, danger
    /// statement, concern, check-in note, a revision of a danger statement
    /// or map entry, a concern's update, closing the case, the plan's goal,
    /// action or scaling, a new Signs of Safety map entry, opening a case,
    /// a supervisor's return comment, a returned visit's amendment) — call
    /// on every edit; pass the id returned by the first save to overwrite.
    /// Submit the form with its own call, then `discard_draft`. Opening a
    /// case (`FormKind::OpenCase`) has no case yet: pass `case_id` empty
    /// (its draft lists and restores with an empty `case_id`); an empty
    /// `case_id` with any other form, or a case id with this one, is
    /// `InvalidInput` naming `case_id`.
    pub fn save_form_draft(
        &self,
        draft_id: Option<String>,
        case_id: String,
        draft: FormDraft,
    ) -> Result<String, OutreachError> {
        Ok(self
            .vault()
            .save_form_draft(draft_id.as_deref(), &case_id, &draft)?)
    }

    pub fn restore_form_draft(&self, draft_id: String) -> Result<RestoredFormDraft, OutreachError> {
        let (case_id, draft) = self.vault().form_draft(&draft_id)?;
        Ok(RestoredFormDraft { case_id, draft })
    }

    /// Saved drafts, newest first (offer to restore them on start).
    pub fn drafts(&self) -> Result<Vec<DraftSummary>, OutreachError> {
        Ok(self.vault().drafts()?)
    }

    pub fn restore_draft(&self, draft_id: String) -> Result<RestoredDraft, OutreachError> {
        let (case_id, draft) = self.vault().draft(&draft_id)?;
        Ok(RestoredDraft { case_id, draft })
    }

    pub fn discard_draft(&self, draft_id: String) -> Result<(), OutreachError> {
        Ok(self.vault().discard_draft(&draft_id)?)
    }

    /// Records the draft as a visit (validated like `add_visit`) and deletes
    /// it; returns the visit id.
    pub fn submit_draft(&self, draft_id: String) -> Result<String, OutreachError> {
        Ok(self.vault().submit_draft(&draft_id)?)
    }
}
