import Foundation
import OutreachFFI

/// The names of the forms' fields in their drafts (the same names as
/// Android's). A choice is kept as the core's word, a day as `YYYY-MM-DD`.
public enum DraftField {
    public static let agency = "agency", reason = "reason", date = "date", status = "status"
    public static let kind = "kind", attendees = "attendees", summary = "summary"
    public static let what = "what"
    public static let danger = "danger", safetyGoal = "safety_goal"
    public static let category = "category", severity = "severity", description = "description", escalatedTo = "escalated_to"
    public static let note = "note"
    /// A Signs of Safety entry's text (its revision).
    public static let text = "text"
    /// A revision: what it revises (`Revises`) and the id of that record.
    /// Kept with the draft to say which record it is for; not typed.
    public static let revises = "revises", record = "record"
    /// A concern's update: the id of the concern. Kept with the draft; not typed.
    public static let concern = "concern"
    /// The plan's forms: a goal's domain; an action's goal (its id); a
    /// scaling's score (0–10), whose view and the question asked; a new map
    /// entry's column (with `kind` and `text`).
    public static let domain = "domain", goal = "goal"
    public static let score = "score", view = "view", question = "question"
    public static let column = "column"
    /// Opening a case (no case yet: saved with an empty case id). Yes/no
    /// answers as `yes` / `no`, the referral day as `YYYY-MM-DD`.
    public static let preferredName = "preferred_name", phone = "phone", textOk = "text_ok", voicemailOk = "voicemail_ok"
    public static let codeWord = "code_word", safeContactNotes = "safe_contact_notes"
    public static let referralDate = "referral_date", referralSource = "referral_source"
    /// The sign-off screen: the visit a comment or amendment is on (kept with
    /// the draft; not typed), the supervisor's comment, the amended actions.
    public static let visit = "visit", comment = "comment", actionsAgreed = "actions_agreed"
}

/// What a revision revises (`DraftField.revises`; Android's `RevisionForm`).
public enum Revises {
    public static let dangerStatement = "danger_statement", sosEntry = "sos_entry"
}

/// One saved draft of a form: its id and its fields by name.
public struct SavedForm: Sendable {
    public let draftId: String
    public let fields: [String: String]
}

/// The draft calls every form shares, and the fields' helpers (no UI, no
/// Apple framework: this builds on Linux). `FormDraftKeeper` (OutreachKit)
/// holds one form's fields for its screen and calls these; every core call
/// here runs in `Core.run`, off the caller's actor.
public enum FormDrafts {
    /// The case id a draft with no case is saved under (opening a case): none.
    public static let noCase = ""

    /// A form's fields by name (the last value of a name repeated).
    public static func fields(of draft: FormDraft) -> [String: String] {
        Dictionary(draft.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// What is saved: the fields that are not empty, sorted by name.
    public static func draft(_ form: FormKind, _ fields: [String: String]) -> FormDraft {
        FormDraft(form: form, fields: fields.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }
                    .map { FormField(name: $0.key, value: $0.value) })
    }

    /// A field, nil when missing or blank.
    public static func value(_ fields: [String: String], _ name: String) -> String? {
        guard let v = fields[name], !v.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return v
    }

    /// Whether anything was typed or picked (the `pinned` fields, which say
    /// which record a form is for, do not count).
    public static func hasTyped(_ fields: [String: String], pinned: Set<String> = []) -> Bool {
        fields.contains { !pinned.contains($0.key) && !$0.value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    /// The newest saved draft of `form` on `caseId` (the core lists drafts
    /// newest first) whose fields include every one of `matching` (e.g. the
    /// revision of one entry: `[revises: …, record: id]`).
    public static func newest(_ vault: OutreachVault, caseId: String, form: FormKind,
                              matching: [String: String] = [:]) async throws -> SavedForm? {
        try await Core.run { () throws -> SavedForm? in
            for s in try vault.drafts() where s.caseId == caseId && s.form == form {
                let fields = FormDrafts.fields(of: try vault.restoreFormDraft(draftId: s.draftId).draft)
                if matching.allSatisfy({ fields[$0.key] == $0.value }) { return SavedForm(draftId: s.draftId, fields: fields) }
            }
            return nil
        }
    }

    /// Saves (creates, or overwrites `draftId`) the form's fields; the draft's id.
    public static func save(_ vault: OutreachVault, draftId: String?, caseId: String, form: FormKind,
                            fields: [String: String]) async throws -> String {
        let draft = FormDrafts.draft(form, fields)
        return try await Core.run { try vault.saveFormDraft(draftId: draftId, caseId: caseId, draft: draft) }
    }

    /// Deletes a draft; one already gone is not an error.
    public static func discard(_ vault: OutreachVault, draftId: String) async throws {
        do {
            try await Core.run { try vault.discardDraft(draftId: draftId) }
        } catch OutreachError.NotFound {
            return
        }
    }

    /// The key of a form's name in `Localizable.strings` (as Android's
    /// `draft_form_<form>`, and for a revision `draft_form_revision_<what it
    /// revises>`), for the "Not finished" list. No `default`: a new form
    /// does not compile until it has its words.
    public static func labelKey(_ form: FormKind?, revises: String? = nil) -> String {
        if form == .revision, let r = revises, [Revises.dangerStatement, Revises.sosEntry].contains(r) {
            return "draft_form_revision_" + r
        }
        return baseKey(form)
    }

    private static func baseKey(_ form: FormKind?) -> String {
        switch form {
        case nil: return "draft_form_contact"
        case .referral?: return "draft_form_referral"
        case .meeting?: return "draft_form_meeting"
        case .consent?: return "draft_form_consent"
        case .dangerStatement?: return "draft_form_danger_statement"
        case .concern?: return "draft_form_concern"
        case .checkIn?: return "draft_form_check_in"
        case .revision?: return "draft_form_revision"
        case .concernUpdate?: return "draft_form_concern_update"
        case .closure?: return "draft_form_closure"
        case .goal?: return "draft_form_goal"
        case .action?: return "draft_form_action"
        case .scaling?: return "draft_form_scaling"
        case .mapEntry?: return "draft_form_map_entry"
        case .openCase?: return "draft_form_open_case"
        case .returnComment?: return "draft_form_return_comment"
        case .amendment?: return "draft_form_amendment"
        }
    }
}
