import BackgroundTasks
import Foundation
import OutreachFFI

/// The app's state: locked or unlocked, auto-lock, background sync. One
/// store per screen below; no business rules (the Rust core has them all).
@MainActor
public final class AppStore: ObservableObject {
    /// One per app: the background-sync task needs it outside any view.
    public static let shared = AppStore()

    @Published public private(set) var vault: OutreachVault?
    @Published public var error: String?
    public var autoLockSeconds: TimeInterval = 120
    private var backgroundedAt: Date?
    public let dir: URL
    public let keyStore = KeychainKeyStore()

    public init() {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        dir = base.appendingPathComponent("vault", isDirectory: true)
    }

    public var hasVault: Bool { FileManager.default.fileExists(atPath: dir.appendingPathComponent("outreach.db").path) }

    public func create(passphrase: String, name: String, team: String?) {
        do {
            try FileManager.default.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                    attributes: [.protectionKey: FileProtectionType.complete])
            vault = try OutreachVault.create(dir: dir.path, passphrase: passphrase, practitioner: name, team: team, platformKey: keyStore)
        } catch { self.error = Messages.of(error) }
    }

    public func unlock(passphrase: String) {
        do {
            let v = try OutreachVault.open(dir: dir.path)
            try v.unlock(passphrase: passphrase, platformKey: keyStore)
            vault = v
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    public let quickKeyStore = KeychainKeyStore(tag: "uk.gov.council.outreach.quick-unlock", requireUserPresence: true)

    public var quickUnlockAvailable: Bool {
        (try? OutreachVault.open(dir: dir.path).hasQuickUnlock()) ?? false
    }

    /// Face ID / Touch ID / passcode instead of the passphrase (the system
    /// prompts when the quick-unlock key is used).
    public func unlockQuick() {
        do {
            let v = try OutreachVault.open(dir: dir.path)
            try v.unlockQuick(platformKey: quickKeyStore)
            vault = v
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    public func setQuickUnlock(_ on: Bool) {
        do {
            if on { try vault?.enableQuickUnlock(platformKey: quickKeyStore) } else { try vault?.disableQuickUnlock() }
        } catch { self.error = Messages.of(error) }
    }

    public func lock() {
        vault?.lock()
        vault = nil
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

public struct CaseRow: Identifiable {
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
    @Published public var includeClosed = false { didSet { refresh() } }
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func refresh() {
        do {
            let states = Dictionary(uniqueKeysWithValues: try vault.syncStates().map { ($0.caseId, $0.state) })
            rows = try vault.caseload(includeClosed: includeClosed).map { CaseRow(summary: $0, sync: states[$0.id] ?? .neverSynced) }
        } catch { self.error = Messages.of(error) }
    }
}

@MainActor
public final class CaseStore: ObservableObject {
    @Published public private(set) var record: Case?
    @Published public private(set) var contactRules: [String] = []
    @Published public private(set) var timeline: [TimelineEntry] = []
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String

    public init(vault: OutreachVault, caseId: String) { self.vault = vault; self.caseId = caseId }

    public func load() {
        do {
            let c = try vault.caseRecord(caseId: caseId)
            let safe = c.profile.safeContact
            var rules: [String] = []
            if let t = safe.textOk { rules.append(t ? "Texts are safe" : "Do NOT text") }
            if let v = safe.voicemailOk { rules.append(v ? "Voicemail is fine" : "Never leave voicemail") }
            if let w = safe.codeWord { rules.append("Code word: \(w)") }
            if let n = safe.notes { rules.append(n) }
            record = c
            contactRules = rules
            timeline = try vault.timeline(caseId: caseId)
        } catch { self.error = Messages.of(error) }
    }

    public func addGoal(domain: Domain, text: String) {
        do { _ = try vault.addGoal(caseId: caseId, goal: GoalInput(domain: domain, text: text)); load() }
        catch { self.error = Messages.of(error) }
    }

    public func addScale(score: Int64, question: String? = nil) {
        do { _ = try vault.addScale(caseId: caseId, reading: ScaleInput(score: score, view: .woman, question: question)); load() }
        catch { self.error = Messages.of(error) }
    }

    /// A Signs of Safety entry; `kind` (harm, danger, complicating) only for worries.
    public func addSosEntry(column: SosColumn, text: String, kind: WorryKind? = nil) {
        do { _ = try vault.addSosEntry(caseId: caseId, column: column, text: text, kind: kind); load() }
        catch { self.error = Messages.of(error) }
    }

    /// Marks a Signs of Safety entry or danger statement resolved.
    public func resolveSos(entryId: String) {
        do { _ = try vault.updateSos(caseId: caseId, entryId: entryId, update: SosUpdate(status: .resolved)); load() }
        catch { self.error = Messages.of(error) }
    }

    /// She has left the programme: the case leaves the caseload.
    public func close(reason: ExitReason, note: String?) {
        do { try vault.closeCase(caseId: caseId, reason: reason, note: note, on: nil); load() }
        catch { self.error = Messages.of(error) }
    }

    public func reopen() {
        do { try vault.reopenCase(caseId: caseId, phase: nil); load() }
        catch { self.error = Messages.of(error) }
    }

    @Published public private(set) var transferred: String?

    /// Transfers the case to a practitioner by name (supervisors of the
    /// case's team; anyone else is told in plain words). Her phones get it on
    /// their next sync; the practitioners who held it lose it on theirs.
    public func transfer(to user: String) async {
        do {
            let t = try await vault.transferCase(caseId: caseId, toUser: user.trimmingCharacters(in: .whitespaces))
            transferred = "Transferred to \(t.to). Her phone\(t.devices == 1 ? " gets" : "s get") the case on the next sync."
            error = nil
            load()
        } catch { self.error = Messages.of(error) }
    }

    /// "Closed on … (reason)" when she has left the programme.
    public var closed: String? {
        guard let p = record?.programme, p.phase == .closed else { return nil }
        return "Closed" + (p.closedOn.map { " on \($0)" } ?? "") + (p.exitReason.map { " (\($0))" } ?? "")
    }
}

/// The sign-off loop: a supervisor signs off or returns her team's visits;
/// a practitioner amends her returned ones. Who may is the core's rule.
@MainActor
public final class ReviewStore: ObservableObject {
    @Published public private(set) var pending: [PendingVisit] = []
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public var isSupervisor: Bool { (try? vault.syncAccount())?.role == "supervisor" }

    public func load() {
        do { pending = try vault.pendingVisits() } catch { self.error = Messages.of(error) }
    }

    public func signOff(_ visit: PendingVisit, comment: String?) {
        do {
            try vault.signOffVisit(caseId: visit.caseId, visitId: visit.visitId, decision: .signedOff, comment: comment)
            error = nil
            load()
        } catch { self.error = Messages.of(error) }
    }

    public func returnForAmendment(_ visit: PendingVisit, comment: String) {
        do {
            try vault.signOffVisit(caseId: visit.caseId, visitId: visit.visitId, decision: .returned, comment: comment)
            error = nil
            load()
        } catch { self.error = Messages.of(error) }
    }

    public func amend(_ visit: PendingVisit, changes: VisitDraft) {
        do {
            _ = try vault.amendVisit(caseId: visit.caseId, visitId: visit.visitId, changes: changes)
            error = nil
            load()
        } catch { self.error = Messages.of(error) }
    }
}

/// The contact form: every edit saved as an encrypted draft at once.
@MainActor
public final class ContactStore: ObservableObject {
    @Published public var draft = VisitDraft()
    @Published public var error: String?
    private var draftId: String?
    private let vault: OutreachVault
    public let caseId: String

    public init(vault: OutreachVault, caseId: String) {
        self.vault = vault
        self.caseId = caseId
        if let saved = try? vault.drafts().first(where: { $0.caseId == caseId }),
           let restored = try? vault.restoreDraft(draftId: saved.draftId) {
            draftId = saved.draftId
            draft = restored.draft
        }
    }

    public func save() {
        do { draftId = try vault.saveDraft(draftId: draftId, caseId: caseId, draft: draft); error = nil }
        catch { self.error = Messages.of(error) }
    }

    public func submit() -> Bool {
        save()
        guard let id = draftId else { return false }
        do {
            _ = try vault.submitDraft(draftId: id)
            draftId = nil
            draft = VisitDraft()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
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

    public func load() {
        do { conflicts = try vault.conflicts(caseId: caseId) } catch { self.error = Messages.of(error) }
    }

    public func pick(field: String, choice: ConflictChoice) {
        do { try vault.resolveConflict(caseId: caseId, field: field, valueJson: choice.valueJson); load() }
        catch { self.error = Messages.of(error) }
    }
}
