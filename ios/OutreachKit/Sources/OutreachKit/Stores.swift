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
}

@MainActor
public final class CaseloadStore: ObservableObject {
    @Published public private(set) var rows: [CaseRow] = []
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func refresh() {
        do {
            let states = Dictionary(uniqueKeysWithValues: try vault.syncStates().map { ($0.caseId, $0.state) })
            rows = try vault.caseload().map { CaseRow(summary: $0, sync: states[$0.id] ?? .neverSynced) }
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

    public func addScale(score: Int64) {
        do { _ = try vault.addScale(caseId: caseId, reading: ScaleInput(score: score, view: .woman)); load() }
        catch { self.error = Messages.of(error) }
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
