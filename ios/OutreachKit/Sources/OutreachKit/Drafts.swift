import Foundation
import OutreachCore
import OutreachFFI

/// The draft of one form with free text (a referral, a meeting, consent, a
/// danger statement, a concern, a check-in note, a revision, a concern's
/// update, a case's closure, the plan's goal, action and scaling, a new Signs
/// of Safety map entry, a supervisor's comment on a visit, a returned visit's
/// amendment) on one case — or on none: opening a case (`.openCase`,
/// `caseId` empty, `FormDrafts.noCase`). As Android's `FormDraftKeeper`:
/// every edit is saved through the core at once (in order, off the main
/// actor; sealed, durable, never synced), so a killed app loses at most the
/// keystroke being typed. `open()` restores the newest saved draft of this
/// form for this case (for a form that changes a saved record, for that
/// record: `pinned`); the store calls `done()` after the form is submitted,
/// and `discard()` throws it away. The core checks only sizes (at most 32
/// fields, each value at most a note's size): a refusal is set on `error`
/// (and passed to the store's) in plain words and nothing is saved — the
/// text stays on screen to be shortened.
///
/// Fields are kept as typed, by name (`DraftField`, the same names as on
/// Android); a choice is kept as the core's word and a day as `YYYY-MM-DD`.
/// The calls and field helpers are OutreachCore's `FormDrafts` (one
/// definition for every form); this class only holds them for a screen.
@MainActor
public final class FormDraftKeeper: ObservableObject {
    @Published public private(set) var fields: [String: String]
    @Published public var error: String? { didSet { onError?(error) } }
    /// The saved draft's id (nil: nothing saved yet).
    public private(set) var draftId: String?
    /// Set by the store that owns the form: its `error` shows this one's refusals.
    var onError: ((String?) -> Void)?
    private var saving: Task<Void, Never>?
    private let vault: OutreachVault
    public let caseId: String
    public let form: FormKind
    /// For a form that changes a saved record, the fields that say which
    /// (a revision: `DraftField.revises` and `.record`; a concern's update:
    /// `.concern`): held from the start, saved with the draft, never typed;
    /// empty for a form that adds a record.
    public let pinned: [String: String]

    public init(vault: OutreachVault, caseId: String, form: FormKind, pinned: [String: String] = [:]) {
        self.vault = vault
        self.caseId = caseId
        self.form = form
        self.pinned = pinned
        fields = pinned
    }

    /// One field as typed ("" when empty).
    public subscript(name: String) -> String { fields[name] ?? "" }

    /// A field as typed, nil when empty or blank.
    public func value(_ name: String) -> String? { FormDrafts.value(fields, name) }

    /// Whether anything was typed or picked (shows "Clear this form").
    public var hasTyped: Bool { FormDrafts.hasTyped(fields, pinned: Set(pinned.keys)) }

    /// A binding-friendly edit: shown at once, saved at once (saves run one
    /// after another; each saves the newest fields).
    public func set(_ name: String, _ value: String) {
        fields[name] = value
        save()
    }

    /// Opens the form: the newest saved draft of this form for this case (and
    /// record), a killed app's, otherwise an empty form. True when a draft was restored.
    @discardableResult
    public func open() async -> Bool {
        await saving?.value
        do {
            let saved = try await FormDrafts.newest(vault, caseId: caseId, form: form, matching: pinned)
            // Typing that began before the saved draft was read wins (it is the newer text).
            guard let saved, draftId == nil, !hasTyped else { return false }
            draftId = saved.draftId
            fields = saved.fields.merging(pinned) { _, kept in kept }
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    /// For a form that changes a saved record: its current values, shown
    /// when no draft was restored and nothing is typed yet. Not saved until the first edit.
    public func prefill(_ values: [String: String]) {
        guard draftId == nil, !hasTyped else { return }
        fields = values.merging(pinned) { _, kept in kept }
    }

    private func save() {
        let previous = saving, vault = self.vault, id = caseId, form = self.form
        saving = Task {
            await previous?.value
            let typed = fields
            let current = draftId
            if current == nil && !hasTyped { return }
            do {
                draftId = try await FormDrafts.save(vault, draftId: current, caseId: id, form: form, fields: typed)
                error = nil
            } catch { self.error = Messages.of(error) }
        }
    }

    /// Waits for the saves in flight (before submitting).
    public func flush() async { await saving?.value }

    /// After a successful submit: the draft is deleted and the form emptied.
    public func done() async { await discard() }

    /// Throws the draft away (the app asks first) and empties the form.
    public func discard() async {
        await saving?.value
        guard let id = draftId else { fields = pinned; return }
        do {
            try await FormDrafts.discard(vault, draftId: id)
            draftId = nil
            fields = pinned
        } catch { self.error = Messages.of(error) }
    }
}

/// The drafts this phone holds (contact records and the other forms),
/// newest first, for the list offered on start ("Referral for Leah, saved
/// …"). Opening one opens its case's form, which restores it. As Android's
/// `DraftsModel`.
@MainActor
public final class DraftsStore: ObservableObject {
    public struct Item: Identifiable, Sendable {
        public let draftId: String
        public let caseId: String
        /// Her preferred name (nil: the case is not on this phone's caseload;
        /// a new case: the name typed in its draft, nil if none yet).
        public let name: String?
        /// The form (nil: a contact record).
        public let form: FormKind?
        public let updatedAt: String
        /// What a revision revises (`Revises`), read from the draft; nil for other forms.
        public var revises: String? = nil
        public var id: String { draftId }
        /// The key of the form's name in `Localizable.strings` (`draft_form_referral`, `draft_form_revision_sos_entry`…).
        public var labelKey: String { FormDrafts.labelKey(form, revises: revises) }
    }

    @Published public private(set) var items: [Item] = []
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func load() async {
        let vault = self.vault
        do {
            let (drafts, names, revises, typedNames) = try await Core.run {
                () throws -> ([DraftSummary], [String: String], [String: String], [String: String]) in
                let names = Dictionary(try vault.caseload(includeClosed: true).map { ($0.id, $0.preferredName) },
                                       uniquingKeysWith: { first, _ in first })
                let drafts = try vault.drafts()
                // A revision says what it revises (its words differ), and a new case has no case to
                // take her name from: both read from the draft itself.
                var revises: [String: String] = [:]
                var typedNames: [String: String] = [:]
                for d in drafts where d.form == .revision || d.form == .openCase {
                    let fields = FormDrafts.fields(of: try vault.restoreFormDraft(draftId: d.draftId).draft)
                    if d.form == .revision { revises[d.draftId] = fields[DraftField.revises] }
                    if d.form == .openCase { typedNames[d.draftId] = FormDrafts.value(fields, DraftField.preferredName) }
                }
                return (drafts, names, revises, typedNames)
            }
            items = drafts.map {
                Item(draftId: $0.draftId, caseId: $0.caseId, name: $0.form == .openCase ? typedNames[$0.draftId] : names[$0.caseId],
                     form: $0.form, updatedAt: $0.updatedAt, revises: revises[$0.draftId])
            }
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    /// Throws a draft away (the app asks first).
    public func discard(_ draftId: String) async {
        let vault = self.vault
        do {
            try await Core.run { try vault.discardDraft(draftId: draftId) }
            await load()
        } catch { self.error = Messages.of(error) }
    }

    /// The key of a form's name in `Localizable.strings` (`FormDrafts.labelKey`).
    public nonisolated static func labelKey(_ form: FormKind?) -> String { FormDrafts.labelKey(form) }
}
