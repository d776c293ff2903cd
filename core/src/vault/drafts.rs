//! Drafts: a contact record being written, saved (sealed, durable) on every
//! edit so that a killed app or a flat battery loses nothing. A draft is
//! local to the device — never synced — and becomes a visit only when
//! submitted; it keeps its id as the visit's id, so submitting twice (say
//! after a crash between the two steps) records one visit, not two.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Vault;
use crate::case::contact::VisitDraft;
use crate::case::model::ContactKind;
use crate::case::validate as v;
use crate::crypto::{self, Aad, RecordKind};
use crate::error::{Error, Result, ValidationError};

/// A saved draft, for the list the app shows on start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftSummary {
    pub draft_id: String,
    pub case_id: String,
    /// When it was last saved (RFC 3339).
    pub updated_at: String,
    pub kind: Option<ContactKind>,
    pub at: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    case_id: String,
    draft: VisitDraft,
}

fn draft_aad(vault: [u8; 16], case: [u8; 16], draft: &[u8; 16]) -> Aad<'_> {
    Aad::new(vault, case, RecordKind::Draft, draft, 0)
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
        let id = match draft_id {
            Some(d) => parse_id("draft_id", d)?,
            None => crypto::random_id()?,
        };
        let case_id = uuid::Uuid::from_bytes(case).to_string();
        let body = Zeroizing::new(
            serde_json::to_vec(&Sealed {
                case_id,
                draft: draft.clone(),
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
        let (case, d) = self.draft(draft_id)?;
        let input = d.complete()?;
        let id = self.record_visit(&case, &input, draft_id.to_string())?;
        self.store_mut()?
            .delete_draft(&parse_id("draft_id", draft_id)?)?;
        Ok(id)
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
