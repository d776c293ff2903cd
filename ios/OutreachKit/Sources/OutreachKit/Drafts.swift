import Foundation
import OutreachFFI

/// The draft of one form with free text (a referral, a meeting, consent, a
/// danger statement, a concern, a check-in note) on one case. As Android's
/// `FormDraftKeeper`: every edit is saved through the core at once (in
/// order, off the main actor; sealed, durable, never synced), so a killed
/// app loses at most the keystroke being typed. `open()` restores the newest
/// saved draft of this form for this case; the store calls `done()` after
/// the form is submitted, and `discard()` throws it away. The core checks
/// only sizes (at most 32 fields, each value at most a note's size): a
/// refusal is set on `error` (and passed to the store's) in plain words and
/// nothing is saved — the text stays on screen to be shortened.
///
/// Fields are kept as typed, by name (the same names as on Android); a
/// choice is kept as the core's word and a day as `YYYY-MM-DD`.
@MainActor
public final class FormDraftKeeper: ObservableObject {
    @Published public private(set) var fields: [String: String] = [:]
    @Published public var error: String? { didSet { onError?(error) } }
    /// The saved draft's id (nil: nothing saved yet).
    public private(set) var draftId: String?
    /// Set by the store that owns the form: its `error` shows this one's refusals.
    var onError: ((String?) -> Void)?
    private var saving: Task<Void, Never>?
    private let vault: OutreachVault
    public let caseId: String
    public let form: FormKind

    public init(vault: OutreachVault, caseId: String, form: FormKind) {
        self.vault = vault
        self.caseId = caseId
        self.form = form
    }

    /// One field as typed ("" when empty).
    public subscript(name: String) -> String { fields[name] ?? "" }

    /// A field as typed, nil when empty or blank.
    public func value(_ name: String) -> String? {
        guard let v = fields[name], !v.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return v
    }

    /// A binding-friendly edit: shown at once, saved at once (saves run one
    /// after another; each saves the newest fields).
    public func set(_ name: String, _ value: String) {
        fields[name] = value
        save()
    }

    /// Opens the form: the newest saved draft of this form for this case (a
    /// killed app's), otherwise an empty form. True when a draft was restored.
    @discardableResult
    public func open() async -> Bool {
        await saving?.value
        let vault = self.vault, id = caseId, form = self.form
        do {
            let saved = try await Core.run { () -> (String, FormDraft)? in
                guard let s = try vault.drafts().first(where: { $0.caseId == id && $0.form == form }) else { return nil }
                return (s.draftId, try vault.restoreFormDraft(draftId: s.draftId).draft)
            }
            // Typing that began before the saved draft was read wins (it is the newer text).
            guard let saved, draftId == nil, fields.isEmpty else { return false }
            draftId = saved.0
            fields = Dictionary(saved.1.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    private func save() {
        let previous = saving, vault = self.vault, id = caseId, form = self.form
        saving = Task {
            await previous?.value
            let typed = fields.filter { !$0.value.isEmpty }
            let current = draftId
            if current == nil && typed.isEmpty { return }
            let draft = FormDraft(form: form, fields: typed.sorted { $0.key < $1.key }.map { FormField(name: $0.key, value: $0.value) })
            do {
                draftId = try await Core.run { try vault.saveFormDraft(draftId: current, caseId: id, draft: draft) }
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
        guard let id = draftId else { fields = [:]; return }
        let vault = self.vault
        do {
            try await Core.run { try vault.discardDraft(draftId: id) }
            draftId = nil
            fields = [:]
        } catch OutreachError.NotFound {
            draftId = nil
            fields = [:]
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
        /// Her preferred name (nil: the case is not on this phone's caseload).
        public let name: String?
        /// The form (nil: a contact record).
        public let form: FormKind?
        public let updatedAt: String
        public var id: String { draftId }
        /// The key of the form's name in `Localizable.strings` (`draft_form_referral`…).
        public var labelKey: String { DraftsStore.labelKey(form) }
    }

    @Published public private(set) var items: [Item] = []
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func load() async {
        let vault = self.vault
        do {
            let (drafts, names) = try await Core.run { () -> ([DraftSummary], [String: String]) in
                let names = Dictionary(try vault.caseload(includeClosed: true).map { ($0.id, $0.preferredName) },
                                       uniquingKeysWith: { first, _ in first })
                return (try vault.drafts(), names)
            }
            items = drafts.map { Item(draftId: $0.draftId, caseId: $0.caseId, name: names[$0.caseId], form: $0.form, updatedAt: $0.updatedAt) }
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

    /// The key of a form's name in `Localizable.strings` (as Android's `draft_form_<form>`).
    public nonisolated static func labelKey(_ form: FormKind?) -> String {
        switch form {
        case nil: return "draft_form_contact"
        case .referral?: return "draft_form_referral"
        case .meeting?: return "draft_form_meeting"
        case .consent?: return "draft_form_consent"
        case .dangerStatement?: return "draft_form_danger_statement"
        case .concern?: return "draft_form_concern"
        case .checkIn?: return "draft_form_check_in"
        }
    }
}
