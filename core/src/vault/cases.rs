//! The typed write API over case documents. Each method validates all of its
//! input first (nothing is written on any error), then applies one commit to
//! the case's document and makes it durable through `Vault::write_case`.

use serde_json::{Value as Json, json};

use super::Vault;
use crate::case::contact::{VISIT_CONTENT_FIELDS, VisitDraft, VisitInput};
use crate::case::doc::{Conflict, HistoryEntry, Patch};
use crate::case::model::*;
use crate::case::validate as v;
use crate::error::{Error, Result, ValidationError};

#[derive(Debug, Clone)]
pub struct GoalInput {
    pub domain: Domain,
    pub text: String,
    pub status: Option<GoalStatus>,
    pub target_date: Option<String>,
    pub review_date: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ActionInput {
    pub text: String,
    pub owner: Option<ActionOwner>,
    pub due: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScaleInput {
    pub score: i64,
    pub date: Option<String>,
    pub view: Option<ScaleView>,
    pub note: Option<String>,
    /// The scaling question asked.
    pub question: Option<String>,
}

/// A revision of a Signs of Safety entry or danger statement; `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SosUpdate {
    pub text: Option<String>,
    pub kind: Option<WorryKind>,
    pub status: Option<SosStatus>,
    /// Danger statements only.
    pub danger: Option<String>,
    pub safety_goal: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConcernInput {
    pub category: String,
    pub severity: Severity,
    pub description: String,
    pub escalated_to: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConcernUpdate {
    pub status: Option<ConcernStatus>,
    pub severity: Option<Severity>,
    pub escalated_to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConsentInput {
    pub what: String,
    pub given_on: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReferralInput {
    pub agency: String,
    pub reason: String,
    pub date: Option<String>,
    pub status: Option<ReferralStatus>,
}

#[derive(Debug, Clone)]
pub struct MeetingInput {
    pub kind: MeetingKind,
    pub date: String,
    pub attendees: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct EventInput {
    pub kind: EventKind,
    pub date: String,
    pub note: Option<String>,
}

/// A draft given the id of a visit already recorded: a draft never writes
/// over a visit (amending is `amend_visit`, with its rules).
pub(super) fn already_recorded() -> Error {
    ValidationError::new(
        "draft_id",
        "is a visit already recorded: amend that visit instead",
    )
    .into()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn to_json<T: serde::Serialize>(t: &T) -> Json {
    serde_json::to_value(t).unwrap_or(Json::Null)
}

fn sos_key(column: SosColumn) -> &'static str {
    match column {
        SosColumn::Worries => "worries",
        SosColumn::WorkingWell => "working_well",
        SosColumn::NeedsToHappen => "needs_to_happen",
    }
}

/// Finds a visit by its full id or a unique prefix of at least 4 characters.
pub fn resolve_visit(case: &Case, id: &str) -> Result<String> {
    let id = id.trim().to_ascii_lowercase();
    if case.visits.contains_key(&id) {
        return Ok(id);
    }
    if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::UnknownRecord("visit"));
    }
    let mut found = case.visits.keys().filter(|k| k.starts_with(&id));
    match (found.next(), found.next()) {
        (Some(k), None) => Ok(k.clone()),
        (Some(_), Some(_)) => Err(Error::AmbiguousRecord("visit")),
        (None, _) => Err(Error::UnknownRecord("visit")),
    }
}

/// A visit as stored: its review state is judged on every read, never kept.
fn visit_json(visit: &Visit) -> Json {
    let mut j = to_json(visit);
    if let Json::Object(m) = &mut j {
        m.remove("review");
    }
    j
}

/// The profile/programme patch for an edit, validated.
fn edit_patch(edit: &CaseEdit, today: chrono::NaiveDate) -> Result<Json> {
    let preferred_name = match &edit.preferred_name {
        Some(n) => Some(v::required_short("preferred_name", n)?),
        None => None,
    };
    let practitioners = match &edit.practitioners {
        Some(list) => Some(
            list.iter()
                .map(|p| v::required_short("practitioners", p))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    if let Some(n) = edit.children_count
        && n > 30
    {
        return Err(ValidationError::new("children_count", "is not plausible").into());
    }
    if let Some(n) = edit.contact_every_days
        && !(1..=365).contains(&n)
    {
        return Err(ValidationError::new(
            "contact_every_days",
            "must be a whole number of days from 1 to 365",
        )
        .into());
    }
    let exit_reason = edit
        .exit_reason
        .as_deref()
        .map(|r| ExitReason::parse("exit_reason", r))
        .transpose()?;
    let start = v::opt_date("start_date", edit.start_date.as_deref())?;
    let end = v::opt_date("planned_end_date", edit.planned_end_date.as_deref())?;
    if let (Some(s), Some(e)) = (&start, &end)
        && e < s
    {
        return Err(ValidationError::new("planned_end_date", "is before the start date").into());
    }
    Ok(json!({
        "profile": {
            "preferred_name": preferred_name,
            "legal_name": v::opt_short("legal_name", edit.legal_name.as_deref())?,
            "date_of_birth": edit.date_of_birth.as_deref().map(|d| v::date_of_birth("date_of_birth", d, today)).transpose()?,
            "phone": v::opt_short("phone", edit.phone.as_deref())?,
            "address": v::opt_note("address", edit.address.as_deref())?,
            "care_leaver": edit.care_leaver,
            "safe_contact": {
                "text_ok": edit.text_ok,
                "voicemail_ok": edit.voicemail_ok,
                "code_word": v::opt_short("code_word", edit.code_word.as_deref())?,
                "notes": v::opt_note("safe_contact_notes", edit.safe_contact_notes.as_deref())?,
            },
            "children": {
                "count": edit.children_count,
                "age_bands": v::opt_short("children_age_bands", edit.children_age_bands.as_deref())?,
                "legal_status": v::opt_short("children_legal_status", edit.children_legal_status.as_deref())?,
                "contact_arrangements": v::opt_note("children_contact", edit.children_contact.as_deref())?,
            },
        },
        "programme": {
            "referral_date": v::opt_date("referral_date", edit.referral_date.as_deref())?,
            "referral_source": v::opt_short("referral_source", edit.referral_source.as_deref())?,
            "phase": edit.phase,
            "start_date": start,
            "planned_end_date": end,
            "practitioners": practitioners,
            "team": v::opt_short("team", edit.team.as_deref())?,
            "exit_reason": exit_reason,
            "contact_every_days": edit.contact_every_days,
        }
    }))
}

impl Vault {
    /// A validated date, or today's when none is given.
    fn date_or_today(&self, field: &str, date: Option<&str>) -> Result<String> {
        match date {
            Some(d) => Ok(v::date_string(field, d)?),
            None => Ok(self.now().date_naive().format("%Y-%m-%d").to_string()),
        }
    }

    /// Finds a case by its full id or a unique prefix of at least 4 characters.
    pub fn resolve_case(&self, id: &str) -> Result<[u8; 16]> {
        let id = id.trim().to_ascii_lowercase();
        if let Ok(u) = uuid::Uuid::parse_str(&id) {
            let bytes = *u.as_bytes();
            return if self.store()?.case_exists(&bytes)? {
                Ok(bytes)
            } else {
                Err(Error::UnknownCase)
            };
        }
        if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(Error::UnknownCase);
        }
        let mut found = None;
        for c in self.store()?.case_ids()? {
            if uuid::Uuid::from_bytes(c).to_string().starts_with(&id) {
                if found.is_some() {
                    return Err(Error::AmbiguousCase);
                }
                found = Some(c);
            }
        }
        found.ok_or(Error::UnknownCase)
    }

    /// Ids of every case in the vault, oldest first.
    pub fn case_ids(&self) -> Result<Vec<String>> {
        self.unlocked()?;
        Ok(self
            .store()?
            .case_ids()?
            .into_iter()
            .map(|c| uuid::Uuid::from_bytes(c).to_string())
            .collect())
    }

    /// Opens a new case. `edit.preferred_name` is required; the case is
    /// assigned to this device's practitioner and team unless the edit says
    /// otherwise. Returns the case id.
    pub fn create_case(&mut self, edit: &CaseEdit) -> Result<String> {
        let today = self.now().date_naive();
        if edit
            .preferred_name
            .as_deref()
            .map(str::trim)
            .unwrap_or("")
            .is_empty()
        {
            return Err(
                ValidationError::new("preferred_name", "is required and cannot be empty").into(),
            );
        }
        let mut patch = edit_patch(edit, today)?;
        let me = self.identity()?;
        if edit.practitioners.is_none() {
            patch["programme"]["practitioners"] = json!([me.name]);
            let holding = Holding {
                name: me.name.clone(),
                user_id: me.user_id.clone(),
                from: v::instant_string(self.now()),
                to: None,
                by: None,
            };
            patch["programme"]["holders"] = json!({ new_id(): to_json(&holding) });
        }
        if edit.team.is_none()
            && let Some(team) = &me.team
        {
            patch["programme"]["team"] = json!(team);
        }
        if edit.phase.is_none() {
            patch["programme"]["phase"] = json!(Phase::Referred);
        }
        patch["programme"]["opened_at"] = json!(v::instant_string(self.now()));
        let author = self.author()?;
        let now = self.now();
        let uuid = uuid::Uuid::new_v4();
        let id = uuid.to_string();
        let doc = crate::case::doc::CaseDoc::create(
            &self.unlocked()?.actor,
            &id,
            &author,
            now,
            &[Patch::new(Vec::<String>::new(), patch)],
        )?;
        self.store_new_case(*uuid.as_bytes(), doc)?;
        Ok(id)
    }

    /// Edits profile and programme fields; fields left `None` are unchanged.
    /// The team is set when the case is opened (it decides whose supervisor
    /// signs off); it moves only with a transfer by the organisation.
    pub fn edit_case(&mut self, case: &str, edit: &CaseEdit) -> Result<()> {
        if edit.team.is_some() {
            return Err(ValidationError::new(
                "team",
                "is set when the case is opened; a supervisor moves a case with `case transfer`",
            )
            .into());
        }
        let case = self.resolve_case(case)?;
        let patch = edit_patch(edit, self.now().date_naive())?;
        self.write_case(case, |doc, author, now| {
            doc.apply(
                author,
                "profile edited",
                now,
                &[Patch::new(Vec::<String>::new(), patch)],
            )
        })
    }

    /// Closes a case: the woman has left the programme for `reason` (a word
    /// from [`ExitReason`]). It leaves the caseload (still listed with
    /// `--all`), is never overdue, and can be reopened.
    pub fn close_case(
        &mut self,
        case: &str,
        reason: ExitReason,
        note: Option<&str>,
        on: Option<&str>,
    ) -> Result<()> {
        let case_id = self.resolve_case(case)?;
        let record = self.read_case(case)?;
        if record.programme.phase == Some(Phase::Closed) {
            return Err(Error::CaseClosed);
        }
        let closed_on = self.date_or_today("on", on)?;
        let patch = json!({
            "phase": Phase::Closed,
            "exit_reason": reason,
            "exit_note": v::opt_note("note", note)?,
            "closed_on": closed_on,
        });
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                "case closed",
                now,
                &[Patch::new(["programme"], patch)],
            )
        })
    }

    /// Reopens a closed case in `phase` (default: programme); the closure
    /// stays in the history.
    pub fn reopen_case(&mut self, case: &str, phase: Option<Phase>) -> Result<()> {
        let case_id = self.resolve_case(case)?;
        let record = self.read_case(case)?;
        if record.programme.phase != Some(Phase::Closed) {
            return Err(Error::CaseNotClosed);
        }
        let phase = phase.unwrap_or(Phase::Programme);
        if phase == Phase::Closed {
            return Err(ValidationError::new("phase", "cannot reopen a case as closed").into());
        }
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                "case reopened",
                now,
                &[
                    Patch::new(["programme", "phase"], json!(phase)),
                    Patch::delete(["programme", "closed_on"]),
                    Patch::delete(["programme", "exit_reason"]),
                    Patch::delete(["programme", "exit_note"]),
                ],
            )
        })
    }

    /// Records in the case that it was transferred to `to` (display name and
    /// enrolled user id): the new worker becomes its practitioner and the
    /// holding history shows who held it when. The server side of a
    /// transfer (who may read it) is `sync::transfer_case`.
    pub(crate) fn record_transfer(
        &mut self,
        case: &str,
        to_name: &str,
        to_user: Option<String>,
    ) -> Result<()> {
        let case_id = self.resolve_case(case)?;
        let record = self.read_case(case)?;
        let me = self.identity()?;
        let now_s = v::instant_string(self.now());
        let mut holders = serde_json::Map::new();
        for (id, h) in &record.programme.holders {
            if h.to.is_none() {
                holders.insert(id.clone(), json!({ "to": now_s }));
            }
        }
        let holding = Holding {
            name: to_name.to_string(),
            user_id: to_user,
            from: now_s.clone(),
            to: None,
            by: Some(me.name),
        };
        holders.insert(new_id(), to_json(&holding));
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                "case transferred",
                now,
                &[
                    Patch::replace(["programme", "practitioners"], json!([to_name])),
                    Patch::new(["programme", "holders"], Json::Object(holders)),
                ],
            )
        })
    }

    /// Records a contact. Returns the visit id.
    pub fn add_visit(&mut self, case: &str, input: &VisitInput) -> Result<String> {
        self.record_visit(case, input, new_id(), None)
    }

    /// Records a visit under a given id (a submitted draft keeps its id, so
    /// submitting it twice after a crash writes the same record, not two).
    /// Writes a new visit under `id`; with `from_draft`, the draft of that
    /// id is deleted in the same transaction. A visit already recorded
    /// under the id is never written over (a draft is not an amendment:
    /// that is `amend_visit`, with its rules).
    pub(crate) fn record_visit(
        &mut self,
        case: &str,
        input: &VisitInput,
        id: String,
        from_draft: Option<[u8; 16]>,
    ) -> Result<String> {
        let case = self.resolve_case(case)?;
        let mut visit = self.checked_visit(input)?;
        let me = self.identity()?;
        visit.recorded_by = Some(me.name);
        visit.recorded_by_user = me.user_id;
        visit.recorded_at = Some(v::instant_string(self.now()));
        let patch = Patch::new(["visits", id.as_str()], visit_json(&visit));
        self.write_case_finishing(case, from_draft, |doc, author, now| {
            if doc.exists(&["visits", id.as_str()]) {
                return Err(already_recorded());
            }
            doc.apply(author, "visit recorded", now, &[patch])
        })?;
        Ok(id)
    }

    /// Whether the case holds a visit of this id (a draft may not be
    /// created under it: see `save_draft`).
    pub(crate) fn visit_exists(&mut self, case: [u8; 16], id: &str) -> Result<bool> {
        Ok(self.loaded(case)?.doc.exists(&["visits", id]))
    }

    /// Validates a contact form into a visit record (not yet attributed).
    fn checked_visit(&self, input: &VisitInput) -> Result<Visit> {
        let at = v::instant("at", &input.at)?;
        let ended = v::opt_instant("ended_at", input.ended_at.as_deref())?;
        if let Some(e) = ended
            && e < at
        {
            return Err(ValidationError::new("ended_at", "is before the visit started").into());
        }
        let check_in = v::opt_instant("checked_in_at", input.checked_in_at.as_deref())?;
        let check_out = v::opt_instant("checked_out_at", input.checked_out_at.as_deref())?;
        if let (Some(i), Some(o)) = (check_in, check_out)
            && o < i
        {
            return Err(ValidationError::new("checked_out_at", "is before the check-in").into());
        }
        let next = v::opt_instant("next_contact_due", input.next_contact_due.as_deref())?;
        if let Some(n) = next
            && n < at
        {
            return Err(ValidationError::new("next_contact_due", "is before this contact").into());
        }
        let note = if input.outcome == Outcome::Completed {
            v::required_note("note", &input.note)?
        } else {
            v::note("note", &input.note)?
        };
        let present = input
            .present
            .iter()
            .map(|p| v::required_short("present", p))
            .collect::<Result<Vec<_>, _>>()?;
        if present.len() > 50 {
            return Err(ValidationError::new("present", "lists more than 50 people").into());
        }
        Ok(Visit {
            kind: input.kind,
            outcome: input.outcome,
            at: v::instant_string(at),
            planned_at: v::opt_instant("planned_at", input.planned_at.as_deref())?
                .map(v::instant_string),
            ended_at: ended.map(v::instant_string),
            present,
            domains: input.domains.clone(),
            note,
            her_words: v::opt_note("her_words", input.her_words.as_deref())?,
            wellbeing: input
                .wellbeing
                .map(|w| v::score("wellbeing", w))
                .transpose()?,
            actions_agreed: v::opt_note("actions_agreed", input.actions_agreed.as_deref())?,
            next_contact_due: next.map(v::instant_string),
            checked_in_at: check_in.map(v::instant_string),
            checked_out_at: check_out.map(v::instant_string),
            recorded_by: None,
            recorded_by_user: None,
            recorded_at: None,
            sign_off: None,
            amendments: Default::default(),
            review: ReviewState::Awaiting,
        })
    }

    /// A supervisor signs a visit off, or returns it for amendment with a
    /// comment. Only a supervisor of the case's team (per the directory this
    /// device enrolled into) may, and never on a visit she recorded herself;
    /// the decision is signed by this device so every receiver can check it.
    pub fn sign_off_visit(
        &mut self,
        case: &str,
        visit: &str,
        decision: SignOffDecision,
        comment: Option<&str>,
    ) -> Result<()> {
        let case_id = self.resolve_case(case)?;
        let comment = v::opt_note("comment", comment)?;
        if decision == SignOffDecision::Returned
            && comment.as_deref().unwrap_or("").trim().is_empty()
        {
            return Err(ValidationError::new(
                "comment",
                "is required when returning a visit for amendment",
            )
            .into());
        }
        let record = self.read_case(case)?;
        let visit = resolve_visit(&record, visit)?;
        let me = self.identity()?;
        let dir = self.directory()?;
        let allowed = dir
            .devices
            .get(&me.device)
            .is_some_and(|e| crate::practice::may_sign_off(e, &record, &record.visits[&visit]));
        let label = self.settings()?.practitioner.clone();
        let own = crate::practice::recorded_by(
            &record.visits[&visit],
            me.user_id.as_deref(),
            &[me.name.as_str(), label.as_str()],
        );
        if !allowed || own {
            return Err(Error::NotSupervisor);
        }
        let at = v::instant_string(self.now());
        let digest = crate::practice::authority::visit_digest(&record.visits[&visit]);
        let Some((by_user, device, signature)) = self.sign_decision(
            case_id,
            &visit,
            decision.as_str(),
            &at,
            comment.as_deref(),
            &digest,
        )?
        else {
            return Err(Error::NotSupervisor);
        };
        let sign_off = SignOff {
            decision,
            by: me.name,
            at,
            comment,
            by_user: Some(by_user),
            device: Some(device),
            signature: Some(signature),
        };
        let what = match decision {
            SignOffDecision::SignedOff => "visit signed off",
            SignOffDecision::Returned => "visit returned for amendment",
        };
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                what,
                now,
                &[Patch::replace(
                    ["visits", visit.as_str(), "sign_off"],
                    to_json(&sign_off),
                )],
            )
        })
    }

    /// The visit's author amends a visit that was returned to her: the
    /// fields given replace their values, the earlier values and the return
    /// are kept in the visit's `amendments`, and the visit awaits sign-off
    /// again. Returns the visit's full id.
    pub fn amend_visit(&mut self, case: &str, visit: &str, changes: &VisitDraft) -> Result<String> {
        let case_id = self.resolve_case(case)?;
        let record = self.read_case(case)?;
        let visit_id = resolve_visit(&record, visit)?;
        let current = &record.visits[&visit_id];
        let me = self.identity()?;
        let label = self.settings()?.practitioner.clone();
        let mine = crate::practice::recorded_by(
            current,
            me.user_id.as_deref(),
            &[me.name.as_str(), label.as_str()],
        );
        if !mine {
            return Err(Error::NotVisitAuthor);
        }
        if current.review != ReviewState::Returned {
            return Err(Error::NotReturned);
        }
        // Validate the amended visit exactly as a new one would be.
        let amended = changes.over(&VisitDraft::from_record(current));
        let input = amended.complete()?;
        let checked = self.checked_visit(&input)?;
        let mut previous = std::collections::BTreeMap::new();
        let (old, new) = (
            visit_json(current),
            visit_json(&Visit {
                recorded_by: current.recorded_by.clone(),
                recorded_by_user: current.recorded_by_user.clone(),
                recorded_at: current.recorded_at.clone(),
                ..checked
            }),
        );
        let mut patch = serde_json::Map::new();
        if let (Json::Object(old), Json::Object(new)) = (&old, &new) {
            for field in VISIT_CONTENT_FIELDS {
                let (o, n) = (old.get(*field), new.get(*field));
                if o != n {
                    previous.insert(field.to_string(), o.cloned().unwrap_or(Json::Null));
                    patch.insert(field.to_string(), n.cloned().unwrap_or(Json::Null));
                }
            }
        }
        if patch.is_empty() {
            return Err(ValidationError::new(
                "amendment",
                "changes nothing: give at least one field",
            )
            .into());
        }
        let amendment = Amendment {
            at: v::instant_string(self.now()),
            by: me.name,
            returned: current.sign_off.clone(),
            previous,
        };
        let aid = new_id();
        let vid = visit_id.clone();
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                "visit amended",
                now,
                &[
                    Patch::new(["visits", vid.as_str()], Json::Object(patch)),
                    Patch::new(
                        ["visits", vid.as_str(), "amendments", aid.as_str()],
                        to_json(&amendment),
                    ),
                    Patch::delete(["visits", vid.as_str(), "sign_off"]),
                ],
            )
        })?;
        Ok(visit_id)
    }

    /// Adds a support-plan goal. Contraception goals record only that a pause
    /// is agreed and when to review it — no details.
    pub fn add_goal(&mut self, case: &str, input: &GoalInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let text = if input.domain == Domain::Contraception {
            let t = input.text.trim().to_ascii_lowercase();
            if !(t.is_empty() || t == "pause agreed") {
                return Err(ValidationError::new(
                    "text",
                    "contraception goals record only \"pause agreed\" and a review date, no details",
                )
                .into());
            }
            if input.review_date.is_none() {
                return Err(ValidationError::new(
                    "review_date",
                    "is required for a contraception goal",
                )
                .into());
            }
            "pause agreed".to_string()
        } else {
            v::required_note("text", &input.text)?
        };
        let goal = Goal {
            domain: input.domain,
            text,
            status: Some(input.status.unwrap_or(GoalStatus::NotStarted)),
            target_date: v::opt_date("target_date", input.target_date.as_deref())?,
            review_date: v::opt_date("review_date", input.review_date.as_deref())?,
            created_at: Some(v::instant_string(self.now())),
            actions: Default::default(),
        };
        let id = new_id();
        let patch = Patch::new(["goals", id.as_str()], to_json(&goal));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "goal added", now, &[patch])
        })?;
        Ok(id)
    }

    /// Changes a goal's status.
    pub fn set_goal_status(&mut self, case: &str, goal: &str, status: GoalStatus) -> Result<()> {
        let case = self.resolve_case(case)?;
        let goal = goal.to_string();
        self.write_case(case, |doc, author, now| {
            if !doc.exists(&["goals", &goal]) {
                return Err(Error::UnknownRecord("goal"));
            }
            doc.apply(
                author,
                "goal status changed",
                now,
                &[Patch::new(
                    ["goals", goal.as_str(), "status"],
                    json!(status),
                )],
            )
        })
    }

    /// Adds an action to a goal. Returns the action id.
    pub fn add_action(&mut self, case: &str, goal: &str, input: &ActionInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let action = Action {
            text: v::required_note("text", &input.text)?,
            owner: input.owner,
            due: v::opt_date("due", input.due.as_deref())?,
            done: None,
        };
        let id = new_id();
        let goal = goal.to_string();
        let action_id = id.clone();
        self.write_case(case, |doc, author, now| {
            if !doc.exists(&["goals", &goal]) {
                return Err(Error::UnknownRecord("goal"));
            }
            doc.apply(
                author,
                "action added",
                now,
                &[Patch::new(
                    ["goals", goal.as_str(), "actions", action_id.as_str()],
                    to_json(&action),
                )],
            )
        })?;
        Ok(id)
    }

    /// Marks a goal's action done on `date` (today if `None`).
    pub fn complete_action(
        &mut self,
        case: &str,
        goal: &str,
        action: &str,
        date: Option<&str>,
    ) -> Result<()> {
        let case = self.resolve_case(case)?;
        let done = self.date_or_today("done", date)?;
        let (goal, action) = (goal.to_string(), action.to_string());
        self.write_case(case, |doc, author, now| {
            if !doc.exists(&["goals", &goal, "actions", &action]) {
                return Err(Error::UnknownRecord("action"));
            }
            doc.apply(
                author,
                "action done",
                now,
                &[Patch::new(
                    ["goals", goal.as_str(), "actions", action.as_str(), "done"],
                    json!(done),
                )],
            )
        })
    }

    /// Adds a 0–10 scaling reading. Returns its id.
    pub fn add_scale(&mut self, case: &str, input: &ScaleInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let reading = ScaleReading {
            score: v::score("score", input.score)?,
            date: self.date_or_today("date", input.date.as_deref())?,
            view: Some(input.view.unwrap_or(ScaleView::Practitioner)),
            note: v::opt_note("note", input.note.as_deref())?,
            question: v::opt_note("question", input.question.as_deref())?,
        };
        let id = new_id();
        let patch = Patch::new(["scales", id.as_str()], to_json(&reading));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "scale reading added", now, &[patch])
        })?;
        Ok(id)
    }

    /// Adds an entry to a Signs of Safety column; a worry may say whether
    /// it is past harm, future danger or a complicating factor. Returns its id.
    pub fn add_sos_entry(
        &mut self,
        case: &str,
        column: SosColumn,
        text: &str,
        kind: Option<WorryKind>,
    ) -> Result<String> {
        let case = self.resolve_case(case)?;
        if kind.is_some() && column != SosColumn::Worries {
            return Err(ValidationError::new("kind", "applies only to worries").into());
        }
        let entry = SosEntry {
            text: v::required_note("text", text)?,
            added_at: Some(v::instant_string(self.now())),
            kind,
            status: Some(SosStatus::Open),
            updated_at: None,
            resolved_at: None,
        };
        let id = new_id();
        let patch = Patch::new(
            ["signs_of_safety", sos_key(column), id.as_str()],
            to_json(&entry),
        );
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "signs of safety entry added", now, &[patch])
        })?;
        Ok(id)
    }

    /// Revises a Signs of Safety entry or danger statement (by id or a
    /// unique prefix): its text, its kind of worry, or open/resolved — so
    /// the map shows progress, not only growth. Returns the entry's full id.
    pub fn update_sos(&mut self, case: &str, entry: &str, update: &SosUpdate) -> Result<String> {
        let case_id = self.resolve_case(case)?;
        let record = self.read_case(case)?;
        let sos = &record.signs_of_safety;
        let entry_l = entry.trim().to_ascii_lowercase();
        let mut found: Vec<(&str, &String)> = Vec::new();
        for (column, ids) in [
            ("worries", sos.worries.keys().collect::<Vec<_>>()),
            ("working_well", sos.working_well.keys().collect()),
            ("needs_to_happen", sos.needs_to_happen.keys().collect()),
            ("danger_statements", sos.danger_statements.keys().collect()),
        ] {
            for id in ids {
                if *id == entry_l || (entry_l.len() >= 4 && id.starts_with(&entry_l)) {
                    found.push((column, id));
                }
            }
        }
        let (column, id) = match found.as_slice() {
            [one] => (one.0, one.1.clone()),
            [] => return Err(Error::UnknownRecord("Signs of Safety entry")),
            _ => return Err(Error::AmbiguousRecord("Signs of Safety entry")),
        };
        let danger_statement = column == "danger_statements";
        if danger_statement && (update.text.is_some() || update.kind.is_some()) {
            return Err(ValidationError::new(
                "text",
                "a danger statement is revised with its danger and safety goal",
            )
            .into());
        }
        if !danger_statement && (update.danger.is_some() || update.safety_goal.is_some()) {
            return Err(ValidationError::new("danger", "applies only to danger statements").into());
        }
        if update.kind.is_some() && column != "worries" {
            return Err(ValidationError::new("kind", "applies only to worries").into());
        }
        let now_s = v::instant_string(self.now());
        let patch = json!({
            "text": update.text.as_deref().map(|t| v::required_note("text", t)).transpose()?,
            "danger": update.danger.as_deref().map(|t| v::required_note("danger", t)).transpose()?,
            "safety_goal": update.safety_goal.as_deref().map(|t| v::required_note("safety_goal", t)).transpose()?,
            "kind": update.kind,
            "status": update.status,
            "resolved_at": (update.status == Some(SosStatus::Resolved)).then(|| now_s.clone()),
            "updated_at": now_s,
        });
        if update.text.is_none()
            && update.danger.is_none()
            && update.safety_goal.is_none()
            && update.kind.is_none()
            && update.status.is_none()
        {
            return Err(
                ValidationError::new("update", "changes nothing: give at least one field").into(),
            );
        }
        let what = match update.status {
            Some(SosStatus::Resolved) => "signs of safety entry resolved",
            Some(SosStatus::Open) => "signs of safety entry reopened",
            None => "signs of safety entry revised",
        };
        let key = id.clone();
        self.write_case(case_id, |doc, author, now| {
            doc.apply(
                author,
                what,
                now,
                &[Patch::new(["signs_of_safety", column, key.as_str()], patch)],
            )
        })?;
        Ok(id)
    }

    /// Adds a danger statement with its paired safety goal. Returns its id.
    pub fn add_danger_statement(
        &mut self,
        case: &str,
        danger: &str,
        safety_goal: &str,
    ) -> Result<String> {
        let case = self.resolve_case(case)?;
        let entry = DangerStatement {
            danger: v::required_note("danger", danger)?,
            safety_goal: v::required_note("safety_goal", safety_goal)?,
            added_at: Some(v::instant_string(self.now())),
            status: Some(SosStatus::Open),
            updated_at: None,
            resolved_at: None,
        };
        let id = new_id();
        let patch = Patch::new(
            ["signs_of_safety", "danger_statements", id.as_str()],
            to_json(&entry),
        );
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "danger statement added", now, &[patch])
        })?;
        Ok(id)
    }

    /// Raises a concern. Returns its id.
    pub fn add_concern(&mut self, case: &str, input: &ConcernInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let now_s = v::instant_string(self.now());
        let escalated_to = v::opt_short("escalated_to", input.escalated_to.as_deref())?;
        let concern = Concern {
            category: v::required_short("category", &input.category)?,
            severity: input.severity,
            description: v::required_note("text", &input.description)?,
            raised_at: now_s.clone(),
            raised_by: Some(self.identity()?.name),
            status: Some(if escalated_to.is_some() {
                ConcernStatus::Escalated
            } else {
                ConcernStatus::Open
            }),
            escalated_at: escalated_to.as_ref().map(|_| now_s),
            escalated_to,
        };
        let id = new_id();
        let patch = Patch::new(["concerns", id.as_str()], to_json(&concern));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "concern raised", now, &[patch])
        })?;
        Ok(id)
    }

    /// Updates a concern's status, severity or escalation.
    pub fn update_concern(
        &mut self,
        case: &str,
        concern: &str,
        update: &ConcernUpdate,
    ) -> Result<()> {
        let case = self.resolve_case(case)?;
        let escalated_to = v::opt_short("escalated_to", update.escalated_to.as_deref())?;
        let now_s = v::instant_string(self.now());
        let status = match (&escalated_to, update.status) {
            (Some(_), None) => Some(ConcernStatus::Escalated),
            (_, s) => s,
        };
        let patch = json!({
            "status": status,
            "severity": update.severity,
            "escalated_at": escalated_to.as_ref().map(|_| now_s),
            "escalated_to": escalated_to,
        });
        let concern = concern.to_string();
        self.write_case(case, |doc, author, now| {
            if !doc.exists(&["concerns", &concern]) {
                return Err(Error::UnknownRecord("concern"));
            }
            doc.apply(
                author,
                "concern updated",
                now,
                &[Patch::new(["concerns", concern.as_str()], patch)],
            )
        })
    }

    /// Records a consent. Returns its id.
    pub fn add_consent(&mut self, case: &str, input: &ConsentInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let consent = Consent {
            what: v::required_note("what", &input.what)?,
            given_on: Some(self.date_or_today("given_on", input.given_on.as_deref())?),
            recorded_by: Some(self.identity()?.name),
            withdrawn_on: None,
        };
        let id = new_id();
        let patch = Patch::new(["consents", id.as_str()], to_json(&consent));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "consent recorded", now, &[patch])
        })?;
        Ok(id)
    }

    /// Records that a consent was withdrawn on `date` (today if `None`).
    pub fn withdraw_consent(
        &mut self,
        case: &str,
        consent: &str,
        date: Option<&str>,
    ) -> Result<()> {
        let case = self.resolve_case(case)?;
        let date = self.date_or_today("withdrawn_on", date)?;
        let consent = consent.to_string();
        self.write_case(case, |doc, author, now| {
            if !doc.exists(&["consents", &consent]) {
                return Err(Error::UnknownRecord("consent"));
            }
            doc.apply(
                author,
                "consent withdrawn",
                now,
                &[Patch::new(
                    ["consents", consent.as_str(), "withdrawn_on"],
                    json!(date),
                )],
            )
        })
    }

    /// Records a referral to another agency. Returns its id.
    pub fn add_referral(&mut self, case: &str, input: &ReferralInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let referral = Referral {
            agency: v::required_short("agency", &input.agency)?,
            reason: v::required_note("reason", &input.reason)?,
            date: self.date_or_today("date", input.date.as_deref())?,
            status: Some(input.status.unwrap_or(ReferralStatus::Made)),
            outcome: None,
        };
        let id = new_id();
        let patch = Patch::new(["referrals", id.as_str()], to_json(&referral));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "referral recorded", now, &[patch])
        })?;
        Ok(id)
    }

    /// Records an FGC, network or professionals meeting. Returns its id.
    pub fn add_meeting(&mut self, case: &str, input: &MeetingInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        let meeting = Meeting {
            kind: input.kind,
            date: v::date_string("date", &input.date)?,
            attendees: input
                .attendees
                .iter()
                .map(|a| v::required_short("attendees", a))
                .collect::<Result<Vec<_>, _>>()?,
            summary: v::note("summary", &input.summary)?,
        };
        let id = new_id();
        let patch = Patch::new(["meetings", id.as_str()], to_json(&meeting));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "meeting recorded", now, &[patch])
        })?;
        Ok(id)
    }

    /// Records a programme event (pregnancy, new proceedings, exit…). Returns its id.
    pub fn add_event(&mut self, case: &str, input: &EventInput) -> Result<String> {
        let case = self.resolve_case(case)?;
        if input.kind == EventKind::RecordExported {
            // The access log is written by the export itself, so that an
            // entry of that kind always names the device that exported.
            return Err(ValidationError::new(
                "kind",
                "record-exported is recorded by the app when a record is exported",
            )
            .into());
        }
        let event = ProgrammeEvent {
            kind: input.kind,
            date: v::date_string("date", &input.date)?,
            note: v::opt_note("note", input.note.as_deref())?,
            at: None,
            by: None,
            by_user: None,
            device: None,
            format: None,
        };
        let id = new_id();
        let patch = Patch::new(["events", id.as_str()], to_json(&event));
        self.write_case(case, |doc, author, now| {
            doc.apply(author, "programme event recorded", now, &[patch])
        })?;
        Ok(id)
    }

    /// The whole case as typed records, each visit's review state judged
    /// against the directory.
    pub fn read_case(&mut self, case: &str) -> Result<Case> {
        let case = self.resolve_case(case)?;
        let dir = self.directory()?;
        let mut c = match self.cached_read(case)? {
            Some(c) => c,
            None => self.loaded(case)?.doc.read()?,
        };
        let verified = &mut self.unlocked_mut()?.verified;
        crate::practice::judge_case(&dir, &mut c, verified);
        Ok(c)
    }

    /// Fields set differently by concurrent changes, with every value kept.
    pub fn conflicts(&mut self, case: &str) -> Result<Vec<Conflict>> {
        let case = self.resolve_case(case)?;
        Ok(self.loaded(case)?.doc.conflicts())
    }

    /// Settles the conflict at `field` with `value` (one of the conflicting
    /// values, or a new one). The value is checked exactly as the original
    /// write would check it — its type, vocabulary, range and length, and
    /// the whole record it belongs to read back as its type — so a
    /// resolution can never leave a case that fails to read.
    pub fn resolve_conflict(&mut self, case: &str, field: &str, value: Json) -> Result<()> {
        let case = self.resolve_case(case)?;
        let mut root = self.loaded(case)?.doc.to_json();
        let value = v::resolution(&mut root, field, value, self.now().date_naive())?;
        let field = field.to_string();
        self.write_case(case, |doc, author, now| {
            doc.resolve(author, now, &field, value)?;
            Ok(true)
        })
    }

    /// Who changed the case, what and when, oldest first.
    pub fn history(&mut self, case: &str) -> Result<Vec<HistoryEntry>> {
        let case = self.resolve_case(case)?;
        Ok(self.loaded(case)?.doc.history())
    }

    /// The raw Automerge document of a case (subject access export).
    pub fn export_automerge(&mut self, case: &str) -> Result<Vec<u8>> {
        let case = self.resolve_case(case)?;
        Ok(self.loaded(case)?.doc.save())
    }

    /// Adds a case received from another device (a whole Automerge document)
    /// to this vault, or merges it if the case is already here. Returns its id.
    pub fn import_case(&mut self, bytes: &[u8]) -> Result<String> {
        let actor = self.unlocked()?.actor.clone();
        // A file from elsewhere: a decoder panic is a bad file, not a crash.
        let loaded = std::panic::catch_unwind(|| {
            let doc =
                crate::case::doc::CaseDoc::load(&actor, Some(bytes), std::iter::empty()).ok()?;
            let id = doc.read().ok()?.id;
            Some((doc, id))
        });
        let Ok(Some((doc, id))) = loaded else {
            return Err(Error::Document(
                "the received case could not be read".into(),
            ));
        };
        let uuid = uuid::Uuid::parse_str(&id)
            .ok()
            // The all-zero id is no case's (drafts of a case being opened
            // are kept under it).
            .filter(|u| !u.is_nil())
            .ok_or_else(|| Error::Document("the received case has no valid id".into()))?;
        if self.store()?.case_exists(uuid.as_bytes())? {
            self.merge_case_bytes(&id, bytes)?;
        } else {
            self.admit_import(uuid.as_bytes())?;
            self.store_new_case(*uuid.as_bytes(), doc)?;
        }
        Ok(uuid.to_string())
    }

    /// Merges another replica's document bytes into a case (a save or
    /// changes), durably. Used when receiving changes and by tests.
    pub fn merge_case_bytes(&mut self, case: &str, bytes: &[u8]) -> Result<()> {
        let case = self.resolve_case(case)?;
        let actor = self.unlocked()?.actor.clone();
        let loaded = std::panic::catch_unwind(|| {
            crate::case::doc::CaseDoc::load(&actor, Some(bytes), std::iter::empty()).ok()
        });
        let Ok(Some(mut other)) = loaded else {
            return Err(Error::Document(
                "the received changes could not be read".into(),
            ));
        };
        self.write_case(case, |doc, _, _| {
            let before = doc.heads();
            doc.merge(&mut other)?;
            Ok(doc.heads() != before)
        })
    }
}
