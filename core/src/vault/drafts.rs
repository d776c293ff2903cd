//! Drafts: a contact record — or any other form with free text (a referral,
//! a meeting, consent, a danger statement, a concern, a check-in note, a
//! revision of a record already saved, a concern's update, a case's
//! closure, a plan's goal, action or scaling, a Signs of Safety map entry,
//! a supervisor's comment on a visit, a returned visit's amendment, and the
//! form that opens a case, which has no case yet) — being written, saved
//! (sealed, durable) on every edit so that a killed app or a flat battery
//! loses nothing. A draft is local to the device — never synced. A contact
//! draft becomes a visit only when submitted; it keeps its id as the
//! visit's id, and the visit is written and the draft deleted in one
//! transaction, so a contact is never recorded twice; a visit already
//! recorded under an id is never written over by a draft. Another form's draft holds its fields
//! as typed; the app submits the form through its own call and then
//! discards the draft.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Vault;
use crate::case::contact::{VisitDraft, VisitInput};
use crate::case::model::ContactKind;
use crate::case::validate as v;
use crate::crypto::{self, Aad, RecordKind};
use crate::error::{Error, Result, ValidationError};

/// A saved draft, for the list the app shows on start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftSummary {
    pub draft_id: String,
    /// The case's id; empty for a draft with no case (opening a case).
    pub case_id: String,
    /// When it was last saved (RFC 3339).
    pub updated_at: String,
    /// A contact record's kind and time, when the draft is one.
    pub kind: Option<ContactKind>,
    pub at: Option<String>,
    /// The form, when the draft is not a contact record.
    pub form: Option<FormKind>,
}

/// The forms other than a contact record that keep drafts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormKind {
    Referral,
    Meeting,
    Consent,
    DangerStatement,
    Concern,
    CheckIn,
    // Added later: new kinds go at the end, so drafts already stored read
    // as before (the stored word is the snake_case name).
    /// Revising a record already saved: a danger statement, a safety goal
    /// or a Signs of Safety entry.
    Revision,
    /// Updating or escalating a concern already raised.
    ConcernUpdate,
    /// Closing a case: the reason and the closure note.
    Closure,
    /// A new support-plan goal (its domain and what she wants).
    Goal,
    /// A new action under a goal.
    Action,
    /// A scaling: its question, the score and what was said.
    Scaling,
    /// A new Signs of Safety map entry.
    MapEntry,
    /// Opening a case: there is no case yet, so its draft is saved with an
    /// empty case id (kept under the all-zero id, which no case has).
    OpenCase,
    /// A supervisor's comment on a visit in the sign-off queue (to return
    /// it, or with a sign-off): the visit's id and the comment.
    ReturnComment,
    /// A returned visit amended by its author: the visit's id and the
    /// fields amended.
    Amendment,
}

impl FormKind {
    /// Whether a draft of this form belongs to no case (it opens one).
    pub fn needs_no_case(self) -> bool {
        self == FormKind::OpenCase
    }
}

/// The case id a draft with no case (opening a case) is kept under: no
/// case has it (case ids are random), so erasing or forgetting a case
/// never reaches it.
const NO_CASE: [u8; 16] = [0; 16];

/// A draft's case id as the app sees it: empty for a draft with no case.
fn case_word(case: [u8; 16]) -> String {
    if case == NO_CASE {
        String::new()
    } else {
        uuid::Uuid::from_bytes(case).to_string()
    }
}

/// One field of a form in progress, by the name the app gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// A form other than a contact record, in progress: its fields as typed
/// (any may be missing or incomplete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormDraft {
    pub form: FormKind,
    pub fields: Vec<FormField>,
}

/// Fields one form draft may hold, and the longest field name.
const MAX_FORM_FIELDS: usize = 32;
const MAX_FIELD_NAME_CHARS: usize = 64;

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The case's id; empty for a draft with no case (opening a case).
    case_id: String,
    /// A contact record's fields (empty for another form).
    #[serde(default)]
    draft: VisitDraft,
    /// Another form's fields (absent in drafts saved before there were any).
    #[serde(default)]
    form: Option<FormDraft>,
}

fn draft_aad(vault: [u8; 16], case: [u8; 16], draft: &[u8; 16]) -> Aad<'_> {
    Aad::new(vault, case, RecordKind::Draft, draft, 0)
}

/// A draft's id as the visit submitted from it is keyed.
fn canonical(id: [u8; 16]) -> String {
    uuid::Uuid::from_bytes(id).to_string()
}

fn parse_id(field: &str, id: &str) -> Result<[u8; 16]> {
    uuid::Uuid::parse_str(id)
        .map(|u| *u.as_bytes())
        .map_err(|_| ValidationError::new(field, "is not a draft id").into())
}

impl Vault {
    /// Saves (creates or overwrites) a draft for a case; returns its id.
    /// Only sizes are checked here — a draft may be incomplete.
    pub fn save_draft(
        &mut self,
        draft_id: Option<&str>,
        case: &str,
        draft: &VisitDraft,
    ) -> Result<String> {
        let case = self.resolve_case(case)?;
        for (field, value) in [
            ("note", &draft.note),
            ("her_words", &draft.her_words),
            ("actions_agreed", &draft.actions_agreed),
        ] {
            v::opt_note(field, value.as_deref())?;
        }
        if draft.present.len() > 50
            || draft
                .present
                .iter()
                .any(|p| p.chars().count() > v::MAX_SHORT_CHARS)
        {
            return Err(ValidationError::new("present", "too many or too long names").into());
        }
        // Another form's draft is not overwritten by a contact record.
        match self.stored_is_form(draft_id)? {
            Some(true) => return Err(Error::UnknownRecord("draft")),
            Some(false) => {}
            // A new draft under a given id: never the id of a visit already
            // recorded (submitting it would not write over that visit, but
            // its words would then be stranded in the draft).
            None => {
                if let Some(d) = draft_id {
                    let id = canonical(parse_id("draft_id", d)?);
                    if self.visit_exists(case, &id)? {
                        return Err(super::cases::already_recorded());
                    }
                }
            }
        }
        self.put_draft(draft_id, case, draft.clone(), None)
    }

    /// Whether the draft saved under `draft_id` (if any) is another form's.
    fn stored_is_form(&self, draft_id: Option<&str>) -> Result<Option<bool>> {
        let Some(d) = draft_id else { return Ok(None) };
        let id = parse_id("draft_id", d)?;
        match self.store()?.draft(&id)? {
            Some((case, body)) => Ok(Some(
                self.open_draft(self.vault_id()?, case, &id, &body)?
                    .form
                    .is_some(),
            )),
            None => Ok(None),
        }
    }

    /// Saves (creates or overwrites) a draft of another form for a case;
    /// returns its id. Sizes only are checked: at most 32 fields, names of
    /// at most 64 characters, each value at most a note's size. The form
    /// that opens a case ([`FormKind::OpenCase`]) has no case: `case` is
    /// empty for it, and only for it (an empty `case` for any other form
    /// is refused naming `case_id`; a case id given with it, too).
    pub fn save_form_draft(
        &mut self,
        draft_id: Option<&str>,
        case: &str,
        form: &FormDraft,
    ) -> Result<String> {
        let no_case = case.trim().is_empty();
        let case = match (form.form.needs_no_case(), no_case) {
            (true, true) => {
                self.unlocked()?;
                NO_CASE
            }
            (false, false) => self.resolve_case(case)?,
            (true, false) => {
                return Err(ValidationError::new(
                    "case_id",
                    "must be empty for the form that opens a case (there is no case yet)",
                )
                .into());
            }
            (false, true) => {
                return Err(ValidationError::new(
                    "case_id",
                    "is needed: only the form that opens a case has none",
                )
                .into());
            }
        };
        if form.fields.len() > MAX_FORM_FIELDS {
            return Err(ValidationError::new("fields", "are too many (at most 32)").into());
        }
        for f in &form.fields {
            let n = f.name.chars().count();
            if n == 0 || n > MAX_FIELD_NAME_CHARS {
                return Err(ValidationError::new(
                    "fields",
                    "need a name of 1 to 64 characters each",
                )
                .into());
            }
            v::opt_note(&f.name, Some(&f.value))?;
        }
        // A contact draft is not overwritten by another form's.
        if self.stored_is_form(draft_id)? == Some(false) {
            return Err(Error::UnknownRecord("form draft"));
        }
        self.put_draft(draft_id, case, VisitDraft::default(), Some(form.clone()))
    }

    /// One saved draft of another form, to restore it: (case id, form).
    pub fn form_draft(&self, draft_id: &str) -> Result<(String, FormDraft)> {
        let id = parse_id("draft_id", draft_id)?;
        let (case, body) = self
            .store()?
            .draft(&id)?
            .ok_or(Error::UnknownRecord("form draft"))?;
        let sealed = self.open_draft(self.vault_id()?, case, &id, &body)?;
        match sealed.form {
            Some(form) => Ok((sealed.case_id, form)),
            None => Err(Error::UnknownRecord("form draft")),
        }
    }

    fn put_draft(
        &mut self,
        draft_id: Option<&str>,
        case: [u8; 16],
        draft: VisitDraft,
        form: Option<FormDraft>,
    ) -> Result<String> {
        let id = match draft_id {
            Some(d) => parse_id("draft_id", d)?,
            None => crypto::random_id()?,
        };
        let case_id = case_word(case);
        let body = Zeroizing::new(
            serde_json::to_vec(&Sealed {
                case_id,
                draft,
                form,
            })
            .unwrap_or_default(),
        );
        let sealed = crypto::seal(
            &self.unlocked()?.drk,
            &draft_aad(self.vault_id()?, case, &id),
            &body,
        )?;
        let now = self.now().timestamp();
        self.store_mut()?.put_draft(&id, &case, now, &sealed)?;
        Ok(uuid::Uuid::from_bytes(id).to_string())
    }

    /// Every saved draft, newest first.
    pub fn drafts(&self) -> Result<Vec<DraftSummary>> {
        self.unlocked()?;
        let vault = self.vault_id()?;
        let mut out = Vec::new();
        for (id, case, at, body) in self.store()?.drafts()? {
            let sealed = self.open_draft(vault, case, &id, &body)?;
            out.push(DraftSummary {
                draft_id: uuid::Uuid::from_bytes(id).to_string(),
                case_id: sealed.case_id,
                updated_at: chrono::DateTime::from_timestamp(at, 0)
                    .map(v::instant_string)
                    .unwrap_or_default(),
                kind: sealed.draft.kind,
                at: sealed.draft.at,
                form: sealed.form.map(|f| f.form),
            });
        }
        Ok(out)
    }

    /// One draft, to restore the form: (case id, draft).
    pub fn draft(&self, draft_id: &str) -> Result<(String, VisitDraft)> {
        let id = parse_id("draft_id", draft_id)?;
        let (case, body) = self
            .store()?
            .draft(&id)?
            .ok_or(Error::UnknownRecord("draft"))?;
        let sealed = self.open_draft(self.vault_id()?, case, &id, &body)?;
        if sealed.form.is_some() {
            // Another form's draft: restored with `form_draft`, never
            // submitted as a visit.
            return Err(Error::UnknownRecord("draft"));
        }
        Ok((sealed.case_id, sealed.draft))
    }

    /// Deletes a draft (the practitioner discarded it).
    pub fn discard_draft(&mut self, draft_id: &str) -> Result<()> {
        let id = parse_id("draft_id", draft_id)?;
        self.unlocked()?;
        if !self.store_mut()?.delete_draft(&id)? {
            return Err(Error::UnknownRecord("draft"));
        }
        Ok(())
    }

    /// Turns a draft into a visit (full validation, as `add_visit`), then
    /// deletes the draft. Returns the visit id (the draft's id).
    pub fn submit_draft(&mut self, draft_id: &str) -> Result<String> {
        self.submit_draft_with(draft_id, |_, _, input| Ok(input))
            .map(|(_, visit)| visit)
    }

    /// Submits a contact draft, `prepare` completing the visit first (it
    /// may refuse: nothing is written then). The visit is written under the
    /// draft's id and the draft deleted in one transaction. Returns (case
    /// id, visit id).
    pub(super) fn submit_draft_with(
        &mut self,
        draft_id: &str,
        prepare: impl FnOnce(&Self, &str, VisitInput) -> Result<VisitInput>,
    ) -> Result<(String, String)> {
        let (case, d) = self.draft(draft_id)?;
        let input = prepare(self, &case, d.complete()?)?;
        let id = parse_id("draft_id", draft_id)?;
        let visit = self.record_visit(&case, &input, canonical(id), Some(id))?;
        Ok((case, visit))
    }

    fn open_draft(
        &self,
        vault: [u8; 16],
        case: [u8; 16],
        id: &[u8; 16],
        body: &[u8],
    ) -> Result<Sealed> {
        let corrupt = || Error::CorruptRecord {
            what: "draft",
            case: uuid::Uuid::from_bytes(case).to_string(),
        };
        let plain = Zeroizing::new(
            crypto::open(&self.unlocked()?.drk, &draft_aad(vault, case, id), body)
                .map_err(|_| corrupt())?,
        );
        serde_json::from_slice(&plain).map_err(|_| corrupt())
    }
}
