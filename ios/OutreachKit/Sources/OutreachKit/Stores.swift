import BackgroundTasks
import Foundation
import OutreachCore
import OutreachFFI

// The stores the screens observe: `@MainActor`, so what they publish is
// only ever changed on the main actor; every blocking core call inside them
// runs through `Core.run` (a background thread) and is awaited. No business
// rules here: the Rust core has them all.

/// The app's state: locked or unlocked, auto-lock, background sync.
@MainActor
public final class AppStore: ObservableObject {
    /// One per app: the background-sync task needs it outside any view.
    public static let shared = AppStore()

    @Published public private(set) var vault: OutreachVault?
    @Published public var error: String?
    /// Argon2id is running (create, unlock): show progress, the UI stays live.
    @Published public private(set) var working = false
    @Published public private(set) var quickUnlockAvailable = false
    public var autoLockSeconds: TimeInterval = 120
    private var backgroundedAt: Date?
    public let dir: URL
    public let keyStore = KeychainKeyStore()
    public let quickKeyStore = KeychainKeyStore(tag: "uk.gov.council.outreach.quick-unlock", requireUserPresence: true)

    public init() {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        dir = base.appendingPathComponent("vault", isDirectory: true)
    }

    public var hasVault: Bool { FileManager.default.fileExists(atPath: dir.appendingPathComponent("outreach.db").path) }

    /// First run: creates the vault (it comes back unlocked).
    public func create(passphrase: String, again: String, name: String, team: String?) async {
        guard passphrase == again else { error = "The two passphrases are different."; return }
        working = true
        defer { working = false }
        let dir = self.dir, key = keyStore
        do {
            vault = try await Core.run {
                try FileManager.default.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                        attributes: [.protectionKey: FileProtectionType.complete])
                return try OutreachVault.create(dir: dir.path, passphrase: passphrase, practitioner: name, team: team, platformKey: key)
            }
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    public func unlock(passphrase: String) async {
        working = true
        defer { working = false }
        let dir = self.dir, key = keyStore
        do {
            vault = try await Core.run {
                let v = try OutreachVault.open(dir: dir.path)
                try v.unlock(passphrase: passphrase, platformKey: key)
                return v
            }
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    /// Whether to offer Face ID / Touch ID / passcode on the unlock screen.
    public func refreshQuickUnlock() async {
        let dir = self.dir
        quickUnlockAvailable = (try? await Core.run { try OutreachVault.open(dir: dir.path).hasQuickUnlock() }) ?? false
    }

    /// Face ID / Touch ID / passcode instead of the passphrase (the system
    /// prompts when the quick-unlock key is used, off the main actor).
    public func unlockQuick() async {
        working = true
        defer { working = false }
        let dir = self.dir, key = quickKeyStore
        do {
            vault = try await Core.run {
                let v = try OutreachVault.open(dir: dir.path)
                try v.unlockQuick(platformKey: key)
                return v
            }
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    public func setQuickUnlock(_ on: Bool) async {
        guard let vault else { return }
        let key = quickKeyStore
        do {
            try await Core.run { if on { try vault.enableQuickUnlock(platformKey: key) } else { try vault.disableQuickUnlock() } }
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    /// Drops the keys at once from the UI's point of view; the core's lock
    /// (and its compaction) runs off the main actor.
    public func lock() {
        guard let v = vault else { return }
        vault = nil
        Task.detached(priority: .utility) { v.lock() }
    }

    public func didEnterBackground() { backgroundedAt = Date() }

    public func willEnterForeground() {
        if let since = backgroundedAt, Date().timeIntervalSince(since) >= autoLockSeconds { lock() }
        backgroundedAt = nil
    }

    /// Background sync (BGTaskScheduler): only while unlocked.
    public static let syncTask = "uk.gov.council.outreach.sync"

    public func scheduleBackgroundSync() {
        let request = BGAppRefreshTaskRequest(identifier: Self.syncTask)
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    public func runBackgroundSync() async {
        guard let vault else { return }
        _ = try? await vault.sync(listener: nil, cancel: nil)
        scheduleBackgroundSync()
    }
}

/// Settings: passphrase change (Argon2id, off the main actor).
@MainActor
public final class SettingsStore: ObservableObject {
    @Published public private(set) var message: String?
    private let vault: OutreachVault
    private let keyStore: KeychainKeyStore

    public init(vault: OutreachVault, keyStore: KeychainKeyStore) { self.vault = vault; self.keyStore = keyStore }

    public func changePassphrase(_ new: String, again: String) async {
        guard new == again else { message = "The two passphrases are different."; return }
        let vault = self.vault, key = keyStore
        do {
            try await Core.run { try vault.changePassphrase(newPassphrase: new, platformKey: key) }
            message = "Passphrase changed."
        } catch { message = Messages.of(error) }
    }
}

public struct CaseRow: Identifiable, Sendable {
    public let summary: CaseSummary
    public let sync: CaseSyncState
    public var id: String { summary.id }

    /// Contact is overdue (the core's rule; closed cases never are).
    public var overdue: Bool { summary.contact.overdue }

    public var closed: Bool { summary.phase == .closed }

    /// "OVERDUE · next contact …", the last contact (an attempt says so) and
    /// how long since she was last seen in person (same words as Android).
    public var contactLine: String {
        let c = summary.contact
        if closed { return "Closed" + (c.lastContact.map { " · last contact \(String($0.prefix(10)))" } ?? "") }
        var line = (c.overdue ? "OVERDUE · " : "") + "next contact \(c.nextContactDue ?? "not set")"
        if let last = c.lastContact { line += " · last \(c.lastContactAttempt ? "attempt" : "contact") \(String(last.prefix(10)))" }
        if let days = c.notSeenDays { line += " · not seen for \(days) day\(days == 1 ? "" : "s")" }
        return line
    }

    /// Sign-off loop and programme end, e.g. "2 awaiting sign-off · ending soon".
    public var reviewLine: String? {
        var parts: [String] = []
        if summary.awaitingSignOff > 0 { parts.append("\(summary.awaitingSignOff) awaiting sign-off") }
        if summary.returned > 0 { parts.append("\(summary.returned) returned for amendment") }
        if summary.endingSoon { parts.append("ending soon" + (summary.plannedEnd.map { " (\($0))" } ?? "")) }
        return parts.isEmpty ? nil : parts.joined(separator: " · ")
    }
}

@MainActor
public final class CaseloadStore: ObservableObject {
    @Published public private(set) var rows: [CaseRow] = []
    @Published public var error: String?
    /// Closed cases leave the caseload unless this is on.
    @Published public var includeClosed = false { didSet { Task { await refresh() } } }
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func refresh() async {
        let vault = self.vault, closed = includeClosed
        do {
            rows = try await Core.run {
                let states = Dictionary(uniqueKeysWithValues: try vault.syncStates().map { ($0.caseId, $0.state) })
                return try vault.caseload(includeClosed: closed).map { CaseRow(summary: $0, sync: states[$0.id] ?? .neverSynced) }
            }
        } catch { self.error = Messages.of(error) }
    }
}

/// One safe-contact rule; the screen words it from its strings.
public enum SafeRule: Hashable, Sendable {
    case texts(Bool)
    case voicemail(Bool)
    case codeWord(String)
    case notes(String)
}

/// One case: safe-contact rules first, the plan (goals and actions by
/// domain, scaling with its question, the Signs of Safety map), timeline,
/// transfer. The plan's forms with free text each keep a draft
/// (`FormDraftKeeper`: saved on every edit, restored when the case is opened
/// again after a killed app, deleted once added): a new goal (`goalDraft`,
/// `.goal`), an action (`actionDraft`, `.action`), a scaling (`scalingDraft`,
/// `.scaling`) and a new map entry (`entryDraft`, `.mapEntry`) — Android's
/// field names (`PlanModel`). A default the screen shows but that was never
/// touched (the first domain, a score of 5, whose view, the first column) is
/// saved only with the form.
@MainActor
public final class CaseStore: ObservableObject {
    @Published public private(set) var record: Case?
    /// Safe-contact rules, shown first (before anyone phones or texts her).
    @Published public private(set) var rules: [SafeRule] = []
    @Published public private(set) var timeline: [TimelineEntry] = []
    @Published public private(set) var transferred: String?
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String
    /// A new goal: `DraftField.domain` (the core's word) and `.text`.
    public let goalDraft: FormDraftKeeper
    /// An action: `DraftField.goal` (the goal's id) and `.text`.
    public let actionDraft: FormDraftKeeper
    /// A scaling: `DraftField.score` (0–10), `.view` (the core's word) and `.question`.
    public let scalingDraft: FormDraftKeeper
    /// A new map entry: `DraftField.column` and `.kind` (the core's words) and `.text`.
    public let entryDraft: FormDraftKeeper

    public init(vault: OutreachVault, caseId: String) {
        self.vault = vault
        self.caseId = caseId
        goalDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .goal)
        actionDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .action)
        scalingDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .scaling)
        entryDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .mapEntry)
        for keeper in [goalDraft, actionDraft, scalingDraft, entryDraft] {
            keeper.onError = { [weak self] message in if let message { self?.error = message } }
        }
    }

    /// Restores the plan's forms left by a killed app; the forms restored.
    public func openDrafts() async -> Set<FormKind> {
        var restored: Set<FormKind> = []
        for keeper in [goalDraft, actionDraft, scalingDraft, entryDraft] {
            if await keeper.open() { restored.insert(keeper.form) }
        }
        return restored
    }

    /// A choice not made, refused in plain words (nothing written, the draft kept).
    private func refuse(_ detail: String) -> Bool {
        error = Messages.of(OutreachError.InvalidInput(detail: detail))
        return false
    }

    public func load() async {
        let vault = self.vault, id = caseId
        do {
            let (c, t) = try await Core.run { (try vault.caseRecord(caseId: id), try vault.timeline(caseId: id)) }
            let safe = c.profile.safeContact
            var rules: [SafeRule] = []
            if let t = safe.textOk { rules.append(.texts(t)) }
            if let v = safe.voicemailOk { rules.append(.voicemail(v)) }
            if let w = safe.codeWord { rules.append(.codeWord(w)) }
            if let n = safe.notes { rules.append(.notes(n)) }
            record = c
            self.rules = rules
            timeline = t
        } catch { self.error = Messages.of(error) }
    }

    /// Awaits one write (its core call in `Core.run`), then reloads; false with `error` set.
    @discardableResult
    private func write(_ work: (OutreachVault, String) async throws -> Void) async -> Bool {
        do {
            try await work(vault, caseId)
            error = nil
            await load()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    /// A goal. The goal form's draft is deleted.
    @discardableResult
    public func addGoal(domain: Domain, text: String) async -> Bool {
        let ok = await write { v, id in try await Core.run { _ = try v.addGoal(caseId: id, goal: GoalInput(domain: domain, text: text)) } }
        if ok { await goalDraft.done() }
        return ok
    }

    /// The goal as typed in `goalDraft`; no domain chosen is refused in plain words.
    @discardableResult
    public func submitGoal() async -> Bool {
        await goalDraft.flush()
        guard let domain = goalDraft.value(DraftField.domain).flatMap({ w in Vocab.core.domains.first { $0.word == w }?.value }) else {
            return refuse("domain: choose the part of her life this goal is about")
        }
        return await addGoal(domain: domain, text: goalDraft[DraftField.text])
    }

    /// An action on a goal. The action form's draft is deleted.
    @discardableResult
    public func addAction(goalId: String, text: String) async -> Bool {
        let ok = await write { v, id in try await Core.run { _ = try v.addAction(caseId: id, goalId: goalId, action: ActionInput(text: text)) } }
        if ok { await actionDraft.done() }
        return ok
    }

    /// The action as typed in `actionDraft`, on its goal; no goal chosen is refused in plain words.
    @discardableResult
    public func submitAction() async -> Bool {
        await actionDraft.flush()
        guard let goal = actionDraft.value(DraftField.goal) else { return refuse("goal: choose the goal this action is for") }
        return await addAction(goalId: goal, text: actionDraft[DraftField.text])
    }

    /// A scaling reading with the question asked, if any. The scaling form's draft is deleted.
    @discardableResult
    public func addScale(score: Int64, view: ScaleView, question: String?) async -> Bool {
        let ok = await write { v, id in try await Core.run { _ = try v.addScale(caseId: id, reading: ScaleInput(score: score, view: view, question: question)) } }
        if ok { await scalingDraft.done() }
        return ok
    }

    /// The reading as typed in `scalingDraft`; no score or view chosen is refused in plain words.
    @discardableResult
    public func submitScale() async -> Bool {
        await scalingDraft.flush()
        let d = scalingDraft
        guard let score = d.value(DraftField.score).flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }) else {
            return refuse("score: choose a score from 0 to 10")
        }
        guard let view = d.value(DraftField.view).flatMap({ w in Vocab.core.scaleViews.first { $0.word == w }?.value }) else {
            return refuse("view: choose whose view the score is")
        }
        return await addScale(score: score, view: view, question: d.value(DraftField.question))
    }

    /// A Signs of Safety entry; `kind` (harm, danger, complicating) only for worries. The new entry form's draft is deleted.
    @discardableResult
    public func addSosEntry(column: SosColumn, text: String, kind: WorryKind? = nil) async -> Bool {
        let ok = await write { v, id in try await Core.run { _ = try v.addSosEntry(caseId: id, column: column, text: text, kind: kind) } }
        if ok { await entryDraft.done() }
        return ok
    }

    /// The entry as typed in `entryDraft` (a worry's kind only on the worries column); no column chosen is refused in plain words.
    @discardableResult
    public func submitEntry() async -> Bool {
        await entryDraft.flush()
        let d = entryDraft
        guard let column = d.value(DraftField.column).flatMap({ w in Vocab.core.sosColumns.first { $0.word == w }?.value }) else {
            return refuse("column: choose the column of the map")
        }
        let kind = column == .worries ? d.value(DraftField.kind).flatMap({ w in Vocab.core.worryKinds.first { $0.word == w }?.value }) : nil
        return await addSosEntry(column: column, text: d[DraftField.text], kind: kind)
    }

    // Revising an entry is `RevisionStore` (Practice.swift): its form keeps a draft.

    /// Marks a Signs of Safety entry or danger statement resolved (or open again).
    @discardableResult
    public func setSosResolved(entryId: String, _ resolved: Bool) async -> Bool {
        await write { v, id in
            try await Core.run { _ = try v.updateSos(caseId: id, entryId: entryId, update: SosUpdate(status: resolved ? .resolved : .open)) }
        }
    }

    // Adding a danger statement is `PracticeStore.submitDanger` (DangerStatementsView): its form keeps a draft.

    // Closing (its form keeps a draft) and reopening are `PracticeStore`'s (ClosureView): one definition each.

    /// Transfers the case to a practitioner by name (supervisors of the
    /// case's team; anyone else is told in plain words). Her phones get it on
    /// their next sync; the practitioners who held it lose it on theirs.
    public func transfer(to user: String) async {
        do {
            let t = try await vault.transferCase(caseId: caseId, toUser: user.trimmingCharacters(in: .whitespaces))
            transferred = "Transferred to \(t.to). Her phone\(t.devices == 1 ? " gets" : "s get") the case on the next sync."
            error = nil
            await load()
        } catch { self.error = Messages.of(error) }
    }

    public var closed: Bool { record?.programme.phase == .closed }
}

/// The sign-off queue: a supervisor signs off or returns her team's visits
/// (a return needs a comment: the core says so in plain words); a
/// practitioner amends her returned ones. Who may is the core's rule. The
/// comment or amendment is typed on its visit (`begin`) and kept as a draft
/// (`form`: `.returnComment` — `DraftField.visit`, `.comment` — or
/// `.amendment` — `.visit`, `.actionsAgreed`; Android's names), saved under
/// the visit's case on every edit, restored after a killed app (`start`,
/// or `begin` on the same visit), deleted once the visit is signed off,
/// returned or amended. (As Android's `ReviewModel`.)
@MainActor
public final class ReviewStore: ObservableObject {
    @Published public private(set) var pending: [PendingVisit] = []
    @Published public private(set) var isSupervisor = false
    @Published public var error: String?
    /// The form open on a visit (nil: none); its visit is `form.pinned[DraftField.visit]`.
    @Published public private(set) var form: FormDraftKeeper?
    /// The open form's draft was left by a killed app.
    @Published public private(set) var restored = false
    private let vault: OutreachVault
    /// The draft to reopen ("Not finished"); nil: the newest of this role's form.
    private let draftId: String?

    public init(vault: OutreachVault, draftId: String? = nil) {
        self.vault = vault
        self.draftId = draftId
    }

    private var formKind: FormKind { isSupervisor ? .returnComment : .amendment }

    /// The visit the open form is on.
    public var visitId: String? { form?.pinned[DraftField.visit] }

    /// Loads the queue, then reopens the form a killed app left — the draft
    /// given ("Not finished"), or the newest of this role's form whose visit
    /// is still in the queue.
    public func start() async {
        await load()
        let vault = self.vault, kind = formKind, wanted = draftId
        do {
            let saved = try await Core.run { () throws -> [(String, String?)] in
                try vault.drafts().filter { $0.form == kind && (wanted == nil || $0.draftId == wanted) }.map {
                    ($0.caseId, FormDrafts.fields(of: try vault.restoreFormDraft(draftId: $0.draftId).draft)[DraftField.visit])
                }
            }
            let found = saved.lazy.compactMap { s in self.pending.first { $0.caseId == s.0 && $0.visitId == s.1 } }.first
            if let found { await begin(found) }
        } catch { self.error = Messages.of(error) }
    }

    /// Opens the form on `visit`: its saved draft if a killed app left one,
    /// otherwise empty (nothing saved until the first edit).
    public func begin(_ visit: PendingVisit) async {
        if let form, form.caseId == visit.caseId, visitId == visit.visitId { return }
        let keeper = FormDraftKeeper(vault: vault, caseId: visit.caseId, form: formKind, pinned: [DraftField.visit: visit.visitId])
        keeper.onError = { [weak self] message in if let message { self?.error = message } }
        form = keeper
        restored = await keeper.open()
    }

    /// Closes the form; the draft stays ("Not finished" offers it).
    public func close() { form = nil; restored = false }

    /// Runs a decision on the open form's visit; on success its draft is deleted and the form closed.
    private func submitForm(_ decide: (PendingVisit, FormDraftKeeper) async -> Bool) async -> Bool {
        guard let keeper = form, let visit = pending.first(where: { $0.caseId == keeper.caseId && $0.visitId == visitId }) else { return false }
        await keeper.flush()
        guard await decide(visit, keeper) else { return false }
        await keeper.done()
        close()
        return true
    }

    /// Signs the open form's visit off, with the comment typed if any.
    @discardableResult
    public func submitSignOff() async -> Bool {
        await submitForm { v, k in await signOff(v, comment: k.value(DraftField.comment)) }
    }

    /// Returns the open form's visit with the comment typed (none: refused in plain words, the draft kept).
    @discardableResult
    public func submitReturn() async -> Bool {
        await submitForm { v, k in await returnForAmendment(v, comment: k[DraftField.comment]) }
    }

    /// Amends the open form's returned visit (nothing changed: refused in plain words, the draft kept).
    @discardableResult
    public func submitAmendment() async -> Bool {
        await submitForm { v, k in await amend(v, changes: VisitDraft(actionsAgreed: k.value(DraftField.actionsAgreed))) }
    }

    public func load() async {
        let vault = self.vault
        do {
            let (role, pending) = try await Core.run { (try vault.syncAccount()?.role, try vault.pendingVisits()) }
            isSupervisor = role == "supervisor"
            self.pending = pending
        } catch { self.error = Messages.of(error) }
    }

    /// Awaits one decision (its core call in `Core.run`), then reloads; false with `error` set.
    @discardableResult
    private func decide(_ work: (OutreachVault) async throws -> Void) async -> Bool {
        do {
            try await work(vault)
            error = nil
            await load()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    @discardableResult
    public func signOff(_ visit: PendingVisit, comment: String?) async -> Bool {
        await decide { v in try await Core.run { try v.signOffVisit(caseId: visit.caseId, visitId: visit.visitId, decision: .signedOff, comment: comment) } }
    }

    @discardableResult
    public func returnForAmendment(_ visit: PendingVisit, comment: String) async -> Bool {
        await decide { v in try await Core.run { try v.signOffVisit(caseId: visit.caseId, visitId: visit.visitId, decision: .returned, comment: comment) } }
    }

    @discardableResult
    public func amend(_ visit: PendingVisit, changes: VisitDraft) async -> Bool {
        await decide { v in try await Core.run { _ = try v.amendVisit(caseId: visit.caseId, visitId: visit.visitId, changes: changes) } }
    }
}

/// The contact form: every edit saved as an encrypted draft at once (in
/// order, off the main actor), so a killed app loses nothing. Every contact
/// kind and outcome the core knows is offered; the times start at now and
/// the next contact at the case's interval (the core's default: 14 days).
/// When she is checked in to the case (lone working), the form also offers
/// "Save contact and check out": one core call records the visit (its
/// check-in and check-out times from the check-in and now) and checks out.
@MainActor
public final class ContactStore: ObservableObject {
    @Published public var draft = VisitDraft()
    @Published public var error: String?
    /// She has an open lone-working check-in to this case (read on `start()`).
    @Published public private(set) var checkedIn = false
    /// After "save and check out": the check-out did not reach the server,
    /// so the alert will still be raised unless a sync sends it (the reason, or "").
    @Published public private(set) var checkOutNotSent: String?
    @Published public private(set) var working = false
    private var draftId: String?
    private var saving: Task<Void, Never>?
    private let vault: OutreachVault
    private let now: @Sendable () -> Date
    public let caseId: String

    public var kinds: [ContactKind] { Vocab.core.contactKinds.map(\.value) }
    public var outcomes: [Outcome] { Vocab.core.outcomes.map(\.value) }
    public var domains: [Domain] { Vocab.core.domains.map(\.value) }

    public init(vault: OutreachVault, caseId: String, now: @escaping @Sendable () -> Date = { Date() }) {
        self.vault = vault
        self.caseId = caseId
        self.now = now
    }

    /// The case's saved draft if a killed app left one, otherwise a new form
    /// at now, next contact at the case's interval. Nothing is saved until the first edit.
    public func start() async {
        let vault = self.vault, id = caseId, now = self.now()
        do {
            let (savedId, saved, every, open) = try await Core.run { () throws -> (String?, VisitDraft?, UInt32?, Bool) in
                // Her check-in to this case, if one is open (this phone's copy, no network).
                let open = try vault.safetyStatus().checkIns.contains { $0.mine && $0.caseId == id && $0.state != .checkOutNotSent }
                // The case's contact-record draft (other forms' drafts are restored by their stores).
                if let s = try vault.drafts().first(where: { $0.caseId == id && $0.form == nil }) {
                    return (s.draftId, try vault.restoreDraft(draftId: s.draftId).draft, nil, open)
                }
                return (nil, nil, try vault.caseRecord(caseId: id).programme.contactEveryDays, open)
            }
            checkedIn = open
            if let savedId, let saved {
                draftId = savedId
                draft = saved
            } else {
                let days = every ?? Vocab.core.defaultContactEveryDays
                draft = VisitDraft(at: Dates.instant(now),
                                   nextContactDue: Dates.instant(now.addingTimeInterval(Double(days) * 86_400)))
            }
        } catch { self.error = Messages.of(error) }
    }

    /// Saves the form as it is now; saves run one after another.
    public func save() {
        let previous = saving, vault = self.vault, id = caseId, snapshot = draft
        saving = Task {
            await previous?.value
            let current = draftId
            do {
                draftId = try await Core.run { try vault.saveDraft(draftId: current, caseId: id, draft: snapshot) }
                error = nil
            } catch { self.error = Messages.of(error) }
        }
    }

    public func submit() async -> Bool {
        save()
        await saving?.value
        guard let id = draftId else { return false }
        let vault = self.vault
        do {
            _ = try await Core.run { try vault.submitDraft(draftId: id) }
            draftId = nil
            draft = VisitDraft()
            error = nil
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    /// "Save contact and check out" (only while she is checked in to the
    /// case): the saved draft recorded and checked out in one core call
    /// (`async` in the core: its own thread, awaited here), which deletes
    /// the draft. The visit keeps the draft's id, as `submit` does, so
    /// sending it again after a kill rewrites the same visit instead of
    /// recording the contact twice. True when the visit was recorded; a
    /// check-out that did not reach the server sets `checkOutNotSent` (said
    /// on screen in words). A missing kind, outcome or time is refused in
    /// plain words, nothing written.
    public func submitAndCheckOut() async -> Bool {
        save()
        await saving?.value
        guard let saved = draftId else { return false }
        working = true
        defer { working = false }
        let vault = self.vault
        do {
            let result = try await vault.submitDraftAndCheckOut(draftId: saved)
            checkedIn = false
            checkOutNotSent = result.receipt.sent ? nil : (result.receipt.notSentBecause ?? "")
            error = nil
        } catch {
            self.error = Messages.of(error)
            return false
        }
        draftId = nil
        draft = VisitDraft()
        return true
    }

    /// Throws the draft away (the app asks first).
    public func discard() async {
        await saving?.value
        guard let id = draftId else { draft = VisitDraft(); return }
        let vault = self.vault
        do {
            try await Core.run { try vault.discardDraft(draftId: id) }
            draftId = nil
            draft = VisitDraft()
        } catch { self.error = Messages.of(error) }
    }
}

@MainActor
public final class SyncStore: ObservableObject, SyncListener {
    @Published public private(set) var running = false
    @Published public private(set) var progress: Double?
    @Published public private(set) var lastSuccess: Date?
    @Published public private(set) var summary: String?
    @Published public var error: String?
    private var cancelHandle: SyncCancel?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    nonisolated public func onProgress(phase: SyncPhase, done: UInt64, total: UInt64?) {
        Task { @MainActor in
            self.progress = total.flatMap { $0 > 0 ? Double(done) / Double($0) : nil }
        }
    }

    public func sync() async {
        let handle = SyncCancel()
        cancelHandle = handle
        running = true
        error = nil
        defer { running = false; cancelHandle = nil }
        do {
            // `async` in the core: the work runs on the core's own thread.
            let r = try await vault.sync(listener: self, cancel: handle)
            lastSuccess = Date()
            summary = "\(r.pushed) sent, \(r.pulled) received" + (r.conflicts > 0 ? ", \(r.conflicts) to resolve" : "")
                + (r.removed.isEmpty ? "" : ", \(r.removed.count) transferred to a colleague and removed from this phone")
        } catch { self.error = Messages.of(error) }
    }

    public func cancel() { cancelHandle?.cancel() }

    public func enrol(server: String, code: String) async {
        do { _ = try await vault.enroll(server: server, code: code, allowInsecureHttp: false); error = nil }
        catch { self.error = Messages.of(error) }
    }
}

@MainActor
public final class ConflictStore: ObservableObject {
    @Published public private(set) var conflicts: [ConflictInfo] = []
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String

    public init(vault: OutreachVault, caseId: String) { self.vault = vault; self.caseId = caseId }

    public func load() async {
        let vault = self.vault, id = caseId
        do { conflicts = try await Core.run { try vault.conflicts(caseId: id) } } catch { self.error = Messages.of(error) }
    }

    public func pick(field: String, choice: ConflictChoice) async {
        let vault = self.vault, id = caseId, value = choice.valueJson
        do {
            try await Core.run { try vault.resolveConflict(caseId: id, field: field, valueJson: value) }
            await load()
        } catch { self.error = Messages.of(error) }
    }
}
