import Foundation
import OutreachCore
import OutreachFFI

/// Open a case: her preferred name, how she may be contacted safely (texts,
/// voicemail, a code word, notes — asked before anything else), and the
/// referral. The core checks every field; a refusal comes back in plain
/// words and nothing is written. The form keeps a draft (`draft`,
/// `.openCase`): there is no case yet, so it is saved with an empty case id
/// (`FormDrafts.noCase`); every edit saved, restored by `load()` after a killed app,
/// deleted once the case is opened. Android's field names (`DraftField`).
/// (As Android's `NewCaseModel`.)
@MainActor
public final class NewCaseStore: ObservableObject {
    @Published public var preferredName = "" { didSet { keep(DraftField.preferredName, preferredName) } }
    @Published public var phone = "" { didSet { keep(DraftField.phone, phone) } }
    /// nil: not asked yet.
    @Published public var textOk: Bool? { didSet { keep(DraftField.textOk, Self.yesNo(textOk)) } }
    @Published public var voicemailOk: Bool? { didSet { keep(DraftField.voicemailOk, Self.yesNo(voicemailOk)) } }
    @Published public var codeWord = "" { didSet { keep(DraftField.codeWord, codeWord) } }
    @Published public var safeContactNotes = "" { didSet { keep(DraftField.safeContactNotes, safeContactNotes) } }
    @Published public var referralDate: Date? { didSet { keep(DraftField.referralDate, referralDate.map(Dates.day) ?? "") } }
    @Published public var referralSource = "" { didSet { keep(DraftField.referralSource, referralSource) } }
    @Published public var error: String?
    /// A draft left by a killed app was restored.
    @Published public private(set) var restored = false
    /// The form's draft (no case: `FormDrafts.noCase`).
    public let draft: FormDraftKeeper
    private let vault: OutreachVault
    /// Set while the fields are filled from the draft (nothing to save then).
    private var filling = false

    public init(vault: OutreachVault) {
        self.vault = vault
        draft = FormDraftKeeper(vault: vault, caseId: FormDrafts.noCase, form: .openCase)
        draft.onError = { [weak self] message in if let message { self?.error = message } }
    }

    private static func yesNo(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "" }
    private static func yesNo(_ s: String) -> Bool? { s == "yes" ? true : s == "no" ? false : nil }

    /// One edit: saved at once (in order, off the main actor).
    private func keep(_ name: String, _ value: String) {
        guard !filling, draft[name] != value else { return }
        draft.set(name, value)
    }

    /// The fields from the draft (restored, or emptied).
    private func fill() {
        filling = true
        defer { filling = false }
        preferredName = draft[DraftField.preferredName]
        phone = draft[DraftField.phone]
        textOk = Self.yesNo(draft[DraftField.textOk])
        voicemailOk = Self.yesNo(draft[DraftField.voicemailOk])
        codeWord = draft[DraftField.codeWord]
        safeContactNotes = draft[DraftField.safeContactNotes]
        referralDate = Dates.parseDay(draft[DraftField.referralDate])
        referralSource = draft[DraftField.referralSource]
    }

    /// Opens the form: what a killed app had typed, if anything.
    public func load() async {
        if await draft.open() {
            fill()
            restored = true
        }
    }

    /// The draft's fields changed (`draft.$fields`, sent before they are
    /// set): thrown away ("Clear this form"), the form empties too.
    public func followDraft(_ fields: [String: String]) {
        guard fields.isEmpty, draft.draftId == nil else { return }
        filling = true
        defer { filling = false }
        (preferredName, phone, textOk, voicemailOk) = ("", "", nil, nil)
        (codeWord, safeContactNotes, referralDate, referralSource) = ("", "", nil, "")
        restored = false
    }

    private func blankToNil(_ s: String) -> String? {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? nil : t
    }

    /// Opens the case; its id, or nil with `error` set (nothing written, the draft kept).
    public func create() async -> String? {
        await draft.flush()
        let fields = CaseEdit(
            preferredName: preferredName, phone: blankToNil(phone), textOk: textOk, voicemailOk: voicemailOk,
            codeWord: blankToNil(codeWord), safeContactNotes: blankToNil(safeContactNotes),
            referralDate: referralDate.map(Dates.day), referralSource: blankToNil(referralSource))
        let vault = self.vault
        do {
            let id = try await Core.run { try vault.createCase(fields: fields) }
            error = nil
            await draft.done()
            fill()
            restored = false
            return id
        } catch {
            self.error = Messages.of(error)
            return nil
        }
    }
}

/// Safeguarding concerns on one case: raise, update (status, severity,
/// escalation), listed open first, most severe first, then newest. The form
/// for a new concern keeps a draft (`concernDraft`: saved on every edit,
/// restored when opened again for the case after a killed app, deleted once
/// raised). Updating one concern is its own form with its own draft
/// (`ConcernUpdateStore`). (As Android's `ConcernsModel`.)
@MainActor
public final class ConcernsStore: ObservableObject {
    public struct Item: Identifiable, Sendable {
        public let id: String
        public let concern: Concern
        public var status: ConcernStatus { concern.status ?? .open }
        public var open: Bool { status != .closed }
    }

    @Published public private(set) var concerns: [Item] = []
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String

    public var severities: [Severity] { Vocab.core.severities.map(\.value) }
    public var statuses: [ConcernStatus] { Vocab.core.concernStatuses.map(\.value) }

    /// The form for a new concern: `DraftField.category`, `.severity` (the core's word), `.description`, `.escalatedTo`.
    public let concernDraft: FormDraftKeeper

    public init(vault: OutreachVault, caseId: String) {
        self.vault = vault
        self.caseId = caseId
        concernDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .concern)
        concernDraft.onError = { [weak self] message in if let message { self?.error = message } }
    }

    public func load() async {
        let vault = self.vault, id = caseId
        do {
            let record = try await Core.run { try vault.caseRecord(caseId: id) }
            concerns = record.concerns.map { Item(id: $0.key, concern: $0.value) }.sorted { a, b in
                if a.open != b.open { return a.open }
                let (ra, rb) = (Vocab.severityRank(a.concern.severity), Vocab.severityRank(b.concern.severity))
                if ra != rb { return ra > rb }
                return a.concern.raisedAt > b.concern.raisedAt
            }
        } catch { self.error = Messages.of(error) }
    }

    /// Raises a concern (naming who it was escalated to marks it escalated). The form's draft is deleted.
    @discardableResult
    public func raise(category: String, severity: Severity, description: String, escalatedTo: String? = nil) async -> Bool {
        let vault = self.vault, id = caseId
        let escalated = escalatedTo.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        do {
            _ = try await Core.run {
                try vault.addConcern(caseId: id, concern: ConcernInput(category: category, severity: severity, description: description,
                                                                      escalatedTo: escalated))
            }
            error = nil
            await concernDraft.done()
            await load()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    /// Raises the concern as typed in `concernDraft`; no severity chosen is refused in plain words.
    @discardableResult
    public func submit() async -> Bool {
        await concernDraft.flush()
        let d = concernDraft
        guard let severity = d.value(DraftField.severity).flatMap({ w in Vocab.core.severities.first { $0.word == w }?.value }) else {
            error = Messages.of(OutreachError.InvalidInput(detail: "severity: choose how severe it is"))
            return false
        }
        return await raise(category: d[DraftField.category], severity: severity, description: d[DraftField.description],
                           escalatedTo: d.value(DraftField.escalatedTo))
    }

    /// Updating one concern: its own form (`ConcernUpdateStore`), with a draft kept by the concern's id.
    public func updateForm(_ concernId: String) -> ConcernUpdateStore {
        ConcernUpdateStore(vault: vault, caseId: caseId, concernId: concernId)
    }

    /// Changes what is given; naming who it was escalated to marks it escalated (the core's rule).
    @discardableResult
    public func update(_ concernId: String, status: ConcernStatus? = nil, severity: Severity? = nil, escalatedTo: String? = nil) async -> Bool {
        let vault = self.vault, id = caseId
        let update = ConcernUpdate(status: status, severity: severity, escalatedTo: escalatedTo)
        do {
            try await Core.run { try vault.updateConcern(caseId: id, concernId: concernId, update: update) }
            error = nil
            await load()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }
}

/// Updating one concern already raised: a new severity, a new status, who
/// it was escalated to (naming someone marks it escalated: the core's rule).
/// Reached from the concerns list and the "Not finished" list. The form is
/// its draft (`.concernUpdate`, kept by the concern's id in
/// `DraftField.concern`; `.severity` and `.status` as the core's words,
/// `.escalatedTo` as typed — Android's names): saved on every edit, restored
/// when the same concern is updated again after a killed app, deleted once
/// saved. A choice left as it is changes nothing; changing nothing at all is
/// refused in plain words. (As Android's `ConcernsModel.updateDraft`.)
@MainActor
public final class ConcernUpdateStore: ObservableObject {
    /// The concern as saved (nil until `load()` found it).
    @Published public private(set) var concern: Concern?
    @Published public private(set) var draft: FormDraftKeeper?
    /// A draft left by a killed app was restored.
    @Published public private(set) var restored = false
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String
    /// The concern's id; nil when opened from "Not finished" (then the newest update draft's concern).
    public private(set) var concernId: String?

    public init(vault: OutreachVault, caseId: String, concernId: String?) {
        self.vault = vault
        self.caseId = caseId
        self.concernId = concernId
    }

    public var severities: [Severity] { Vocab.core.severities.map(\.value) }
    public var statuses: [ConcernStatus] { Vocab.core.concernStatuses.map(\.value) }

    /// Finds the concern and restores its update's draft (a killed app's).
    public func load() async {
        let vault = self.vault, id = caseId
        do {
            if concernId == nil {
                concernId = try await FormDrafts.newest(vault, caseId: id, form: .concernUpdate)?.fields[DraftField.concern]
            }
            guard let concernId else {
                error = Messages.of(OutreachError.NotFound(detail: "concern"))
                return
            }
            let saved = try await Core.run { try vault.caseRecord(caseId: id).concerns[concernId] }
            guard let found = saved else {
                error = Messages.of(OutreachError.NotFound(detail: "concern"))
                return
            }
            concern = found
            let keeper = FormDraftKeeper(vault: vault, caseId: id, form: .concernUpdate, pinned: [DraftField.concern: concernId])
            keeper.onError = { [weak self] message in if let message { self?.error = message } }
            draft = keeper
            restored = await keeper.open()
        } catch { self.error = Messages.of(error) }
    }

    /// Saves the update as typed (only what differs from the concern as saved); the draft is deleted.
    @discardableResult
    public func submit() async -> Bool {
        guard let draft, let concern, let concernId else { return false }
        await draft.flush()
        let severity = draft.value(DraftField.severity).flatMap { w in Vocab.core.severities.first { $0.word == w }?.value }
        let status = draft.value(DraftField.status).flatMap { w in Vocab.core.concernStatuses.first { $0.word == w }?.value }
        let update = ConcernUpdate(status: status == (concern.status ?? .open) ? nil : status,
                                   severity: severity == concern.severity ? nil : severity,
                                   escalatedTo: draft.value(DraftField.escalatedTo))
        if update.status == nil && update.severity == nil && update.escalatedTo == nil {
            error = Messages.of(OutreachError.InvalidInput(detail: "update: change the severity or status, or say who it was escalated to"))
            return false
        }
        let vault = self.vault, id = caseId
        do {
            try await Core.run { try vault.updateConcern(caseId: id, concernId: concernId, update: update) }
            error = nil
            await draft.done()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }
}
