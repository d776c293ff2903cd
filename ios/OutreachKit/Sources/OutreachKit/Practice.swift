import Foundation
import OutreachCore
import OutreachFFI

// The practice records of one case (referrals, meetings, consent given and
// withdrawn, danger statements with their safety goals, closing and
// reopening), lone working (check in, the running timer, extend, check out),
// the supervisor's safety alerts and the report card summary. As Android's
// PracticeModels.kt and SafetyModels.kt: `@MainActor` stores, every blocking
// core call in `Core.run`, the core's `async` calls (check-in, alerts)
// awaited directly; lists from the core's vocabulary, refusals in plain
// words through `Messages`. Every form with free text keeps a draft
// (`FormDraftKeeper`, Drafts.swift): saved on every edit, restored when the
// form is opened again for the case after a killed app, deleted on submit.
// Field names are Android's (`DraftField`, OutreachCore). A form that
// changes a record already saved (revising a danger statement or a Signs of
// Safety entry: `RevisionStore`; updating a concern: `ConcernUpdateStore`,
// Forms.swift) keeps its draft by that record's id; closing a case keeps
// one (`closureDraft`).

/// The practice records of one case, read from its record in one call.
@MainActor
public final class PracticeStore: ObservableObject {
    /// One record with its id (for withdrawing, revising, resolving).
    public struct Item<Value>: Identifiable {
        public let id: String
        public let record: Value
    }

    /// Referrals, newest first.
    @Published public private(set) var referrals: [Item<Referral>] = []
    /// Meetings, newest first.
    @Published public private(set) var meetings: [Item<Meeting>] = []
    /// Consents: current ones first, withdrawn ones after (kept, with the day).
    @Published public private(set) var consents: [Item<Consent>] = []
    /// Danger statements and their safety goals: open ones first.
    @Published public private(set) var dangers: [Item<DangerStatement>] = []
    @Published public private(set) var programme: Programme?
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String
    /// The forms in progress, each saved on every edit (open each with `open()` when its form is shown).
    public let referralDraft: FormDraftKeeper
    public let meetingDraft: FormDraftKeeper
    public let consentDraft: FormDraftKeeper
    public let dangerDraft: FormDraftKeeper
    /// Closing the case: `DraftField.reason` (the core's word), `.note`, `.date`.
    public let closureDraft: FormDraftKeeper

    public init(vault: OutreachVault, caseId: String) {
        self.vault = vault
        self.caseId = caseId
        referralDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .referral)
        meetingDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .meeting)
        consentDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .consent)
        dangerDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .dangerStatement)
        closureDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .closure)
        for keeper in [referralDraft, meetingDraft, consentDraft, dangerDraft, closureDraft] {
            keeper.onError = { [weak self] message in if let message { self?.error = message } }
        }
    }

    /// Restores the case's saved drafts of these forms (a killed app's).
    public func openDrafts() async {
        for keeper in [referralDraft, meetingDraft, consentDraft, dangerDraft, closureDraft] { await keeper.open() }
    }

    /// The lists the forms offer: the core's, in its order.
    public var referralStatuses: [ReferralStatus] { Vocab.core.referralStatuses.map(\.value) }
    public var meetingKinds: [MeetingKind] { Vocab.core.meetingKinds.map(\.value) }
    public var exitReasons: [ExitReason] { Vocab.core.exitReasons.map(\.value) }
    /// The phases a case reopens in (the core's list, without closed).
    public var reopenPhases: [Phase] { Vocab.core.phases.map(\.value).filter { $0 != .closed } }
    public var closed: Bool { programme?.phase == .closed }

    public func load() async {
        let vault = self.vault, id = caseId
        do {
            let c = try await Core.run { try vault.caseRecord(caseId: id) }
            referrals = c.referrals.map { Item(id: $0.key, record: $0.value) }.sorted { $0.record.date > $1.record.date }
            meetings = c.meetings.map { Item(id: $0.key, record: $0.value) }.sorted { $0.record.date > $1.record.date }
            consents = c.consents.map { Item(id: $0.key, record: $0.value) }.sorted { a, b in
                let (wa, wb) = (a.record.withdrawnOn != nil, b.record.withdrawnOn != nil)
                if wa != wb { return !wa }
                return (a.record.givenOn ?? "") > (b.record.givenOn ?? "")
            }
            dangers = c.signsOfSafety.dangerStatements.map { Item(id: $0.key, record: $0.value) }.sorted { a, b in
                let (ra, rb) = (a.record.status == .resolved, b.record.status == .resolved)
                if ra != rb { return !ra }
                return (a.record.addedAt ?? "") < (b.record.addedAt ?? "")
            }
            programme = c.programme
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

    private static func blankToNil(_ s: String?) -> String? {
        guard let t = s?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
        return t
    }

    /// Who was there, as typed: names split at commas, blanks dropped.
    public static func attendees(_ typed: String) -> [String] {
        typed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A referral on `day` (nil: today); the status left unset is the core's default (made). The form's draft is deleted.
    @discardableResult
    public func addReferral(agency: String, reason: String, day: Date?, status: ReferralStatus?) async -> Bool {
        let input = ReferralInput(agency: agency, reason: reason, date: day.map(Dates.day), status: status)
        let ok = await write { v, id in try await Core.run { _ = try v.addReferral(caseId: id, referral: input) } }
        if ok { await referralDraft.done() }
        return ok
    }

    /// The referral as typed in `referralDraft`.
    @discardableResult
    public func submitReferral() async -> Bool {
        await referralDraft.flush()
        let d = referralDraft
        let status = d.value(DraftField.status).flatMap { w in Vocab.core.referralStatuses.first { $0.word == w }?.value }
        return await addReferral(agency: d[DraftField.agency], reason: d[DraftField.reason],
                                 day: d.value(DraftField.date).flatMap(Dates.parseDay), status: status)
    }

    @discardableResult
    public func addMeeting(kind: MeetingKind, day: Date, attendees: String, summary: String) async -> Bool {
        let input = MeetingInput(kind: kind, date: Dates.day(day), attendees: Self.attendees(attendees), summary: summary)
        let ok = await write { v, id in try await Core.run { _ = try v.addMeeting(caseId: id, meeting: input) } }
        if ok { await meetingDraft.done() }
        return ok
    }

    /// The meeting as typed in `meetingDraft` (no day picked: today); no kind chosen is refused in plain words.
    @discardableResult
    public func submitMeeting() async -> Bool {
        await meetingDraft.flush()
        let d = meetingDraft
        guard let kind = d.value(DraftField.kind).flatMap({ w in Vocab.core.meetingKinds.first { $0.word == w }?.value }) else {
            error = Messages.of(OutreachError.InvalidInput(detail: "kind: choose the kind of meeting"))
            return false
        }
        return await addMeeting(kind: kind, day: d.value(DraftField.date).flatMap(Dates.parseDay) ?? Date(),
                                attendees: d[DraftField.attendees], summary: d[DraftField.summary])
    }

    /// Consent given on `day` (nil: today). The form's draft is deleted.
    @discardableResult
    public func giveConsent(what: String, day: Date?) async -> Bool {
        let input = ConsentInput(what: what, givenOn: day.map(Dates.day))
        let ok = await write { v, id in try await Core.run { _ = try v.addConsent(caseId: id, consent: input) } }
        if ok { await consentDraft.done() }
        return ok
    }

    /// The consent as typed in `consentDraft`.
    @discardableResult
    public func submitConsent() async -> Bool {
        await consentDraft.flush()
        return await giveConsent(what: consentDraft[DraftField.what], day: consentDraft.value(DraftField.date).flatMap(Dates.parseDay))
    }

    /// She withdrew consent on `day` (nil: today); the record stays, with the day.
    @discardableResult
    public func withdrawConsent(_ consentId: String, day: Date?) async -> Bool {
        let date = day.map(Dates.day)
        return await write { v, id in try await Core.run { try v.withdrawConsent(caseId: id, consentId: consentId, date: date) } }
    }

    /// A danger statement with its safety goal. The form's draft is deleted.
    @discardableResult
    public func addDanger(danger: String, safetyGoal: String) async -> Bool {
        let ok = await write { v, id in try await Core.run { _ = try v.addDangerStatement(caseId: id, danger: danger, safetyGoal: safetyGoal) } }
        if ok { await dangerDraft.done() }
        return ok
    }

    /// The statement as typed in `dangerDraft`.
    @discardableResult
    public func submitDanger() async -> Bool {
        await dangerDraft.flush()
        return await addDanger(danger: dangerDraft[DraftField.danger], safetyGoal: dangerDraft[DraftField.safetyGoal])
    }

    /// Revising a statement: its own form (`RevisionStore`), with a draft kept by the statement's id.
    public func revision(_ entryId: String) -> RevisionStore { RevisionStore(vault: vault, caseId: caseId, entryId: entryId) }

    @discardableResult
    public func setDangerResolved(_ entryId: String, _ resolved: Bool) async -> Bool {
        let update = SosUpdate(status: resolved ? .resolved : .open)
        return await write { v, id in try await Core.run { _ = try v.updateSos(caseId: id, entryId: entryId, update: update) } }
    }

    /// Closes the case on `day` (nil: today): it leaves the caseload. The form's draft is deleted.
    @discardableResult
    public func close(reason: ExitReason, note: String?, day: Date?) async -> Bool {
        let note = Self.blankToNil(note), on = day.map(Dates.day)
        let ok = await write { v, id in try await Core.run { try v.closeCase(caseId: id, reason: reason, note: note, on: on) } }
        if ok { await closureDraft.done() }
        return ok
    }

    /// The closure as typed in `closureDraft` (no day picked: today); no reason chosen is refused in plain words.
    @discardableResult
    public func submitClosure() async -> Bool {
        await closureDraft.flush()
        let d = closureDraft
        guard let reason = d.value(DraftField.reason).flatMap({ w in Vocab.core.exitReasons.first { $0.word == w }?.value }) else {
            error = Messages.of(OutreachError.InvalidInput(detail: "reason: choose why the case is closing"))
            return false
        }
        return await close(reason: reason, note: d.value(DraftField.note), day: d.value(DraftField.date).flatMap(Dates.parseDay))
    }

    /// Back on the caseload in `phase` (nil: the core's default, programme).
    @discardableResult
    public func reopen(phase: Phase?) async -> Bool {
        await write { v, id in try await Core.run { try v.reopenCase(caseId: id, phase: phase) } }
    }
}

/// Revising a record already saved: a danger statement (its danger, its
/// safety goal) or a Signs of Safety entry (its text, a worry's kind). One
/// form for both, reached from the danger statements screen, the case's
/// Signs of Safety map and the "Not finished" list. The form is its draft
/// (`.revision`, kept with what it revises and the entry's id:
/// `DraftField.revises`, `.record`, as Android's `RevisionForm`): saved on
/// every edit, restored when the same entry is revised again after a killed
/// app, deleted once saved or cancelled. With no draft, it starts from the
/// entry as it is (saved only with the first edit).
@MainActor
public final class RevisionStore: ObservableObject {
    /// What is being revised.
    public enum Target {
        case danger(DangerStatement)
        case entry(SosColumn, SosEntry)
    }

    /// The entry (nil until `load()` found it).
    @Published public private(set) var target: Target?
    /// The form: `DraftField.danger` and `.safetyGoal`, or `.text` and `.kind` (a worry's kind, the core's word).
    @Published public private(set) var draft: FormDraftKeeper?
    /// A draft left by a killed app was restored.
    @Published public private(set) var restored = false
    @Published public var error: String?
    private let vault: OutreachVault
    public let caseId: String
    /// The entry's id; nil when opened from "Not finished" (then the newest revision draft's entry).
    public private(set) var entryId: String?

    public init(vault: OutreachVault, caseId: String, entryId: String?) {
        self.vault = vault
        self.caseId = caseId
        self.entryId = entryId
    }

    public var worryKinds: [WorryKind] { Vocab.core.worryKinds.map(\.value) }

    /// Finds the entry, restores its draft or starts from the entry as it is.
    public func load() async {
        let vault = self.vault, id = caseId
        do {
            if entryId == nil {
                entryId = try await FormDrafts.newest(vault, caseId: id, form: .revision)?.fields[DraftField.record]
            }
            guard let entryId else {
                error = Messages.of(OutreachError.NotFound(detail: "revision"))
                return
            }
            let map = try await Core.run { try vault.caseRecord(caseId: id).signsOfSafety }
            var found: Target? = map.dangerStatements[entryId].map { Target.danger($0) }
            let columns: [(SosColumn, [String: SosEntry])] = [(.worries, map.worries), (.workingWell, map.workingWell),
                                                              (.needsToHappen, map.needsToHappen)]
            for (column, entries) in columns where found == nil {
                if let e = entries[entryId] { found = .entry(column, e) }
            }
            guard let found else {
                error = Messages.of(OutreachError.NotFound(detail: "entry"))
                return
            }
            target = found
            let revises: String
            switch found {
            case .danger: revises = Revises.dangerStatement
            case .entry: revises = Revises.sosEntry
            }
            let keeper = FormDraftKeeper(vault: vault, caseId: id, form: .revision,
                                         pinned: [DraftField.revises: revises, DraftField.record: entryId])
            keeper.onError = { [weak self] message in if let message { self?.error = message } }
            draft = keeper
            restored = await keeper.open()
            if !restored {
                switch found {
                case .danger(let d):
                    keeper.prefill([DraftField.danger: d.danger, DraftField.safetyGoal: d.safetyGoal])
                case .entry(_, let e):
                    keeper.prefill([DraftField.text: e.text, DraftField.kind: e.kind.map { Vocab.word($0) } ?? ""])
                }
            }
        } catch { self.error = Messages.of(error) }
    }

    /// Saves the revision as typed; the draft is deleted. False with `error` set.
    @discardableResult
    public func submit() async -> Bool {
        guard let draft, let target, let entryId else { return false }
        await draft.flush()
        let update: SosUpdate
        switch target {
        case .danger:
            update = SosUpdate(danger: draft[DraftField.danger], safetyGoal: draft[DraftField.safetyGoal])
        case .entry(let column, _):
            let kind = column == .worries
                ? draft.value(DraftField.kind).flatMap { w in Vocab.core.worryKinds.first { $0.word == w }?.value } : nil
            update = SosUpdate(text: draft[DraftField.text], kind: kind)
        }
        let vault = self.vault, id = caseId
        do {
            _ = try await Core.run { try vault.updateSos(caseId: id, entryId: entryId, update: update) }
            error = nil
            await draft.done()
            return true
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }

    /// Stops revising: the draft is thrown away, the entry stays as it was.
    public func cancel() async { await draft?.discard() }
}

/// Lone working on one case: check in before a visit (until a time from the
/// picker, default an hour from now), extend, check out, and the running
/// timer. NOT SENT (no one will be alerted) and a check-out NOT SENT (the
/// alert will still be raised) are said in words, as is OVERDUE.
@MainActor
public final class CheckInStore: ObservableObject {
    /// The timer at one moment: time left, or how long overdue.
    public struct Countdown: Equatable {
        public let remainingSeconds: Int64
        public let overdue: Bool
        /// `H:MM:SS` left, or overdue by.
        public var shown: String {
            let s = Int(remainingSeconds.magnitude)
            return String(format: "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60)
        }
    }

    /// This user's check-in to the case, as this phone last heard it.
    @Published public private(set) var current: CheckInView?
    @Published public private(set) var until: Date?
    @Published public private(set) var timer: Countdown?
    @Published public private(set) var notSent = false
    @Published public private(set) var checkOutNotSent = false
    @Published public private(set) var notSentBecause: String?
    @Published public private(set) var checkedOut = false
    @Published public private(set) var working = false
    @Published public var error: String?
    private let vault: OutreachVault
    private let now: @Sendable () -> Date
    public let caseId: String
    /// Extensions to offer, in minutes.
    public let extensions = [15, 30, 60]
    /// The note in progress (`DraftField.note`), saved on every edit; deleted once checked in.
    public let noteDraft: FormDraftKeeper

    public init(vault: OutreachVault, caseId: String, now: @escaping @Sendable () -> Date = { Date() }) {
        self.vault = vault
        self.caseId = caseId
        self.now = now
        noteDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .checkIn)
        noteDraft.onError = { [weak self] message in if let message { self?.error = message } }
    }

    public var active: Bool { current != nil && !checkOutNotSent }

    /// The picker's default: an hour from now, to the minute.
    public func defaultUntil() -> Date {
        let t = now().addingTimeInterval(3600).timeIntervalSince1970
        return Date(timeIntervalSince1970: (t / 60).rounded(.down) * 60)
    }

    /// Reads this phone's safety state (no network).
    public func load() async {
        let vault = self.vault
        do { show(try await Core.run { try vault.safetyStatus() }) } catch { self.error = Messages.of(error) }
    }

    private func show(_ status: SafetyStatus, receipt: SafetyReceipt? = nil, checkingOut: Bool = false) {
        let mine = status.checkIns.first { $0.mine && $0.caseId == caseId }
        current = mine
        until = Dates.parseInstant(mine?.until)
        notSent = mine?.state == .notSent
        checkOutNotSent = mine?.state == .checkOutNotSent
        notSentBecause = receipt.flatMap { $0.sent ? nil : $0.notSentBecause }
        checkedOut = checkingOut && mine == nil
        tick()
    }

    /// Moves the timer on (the screen calls it every second; no core call).
    public func tick() {
        guard let until else { timer = nil; return }
        let left = Int64(until.timeIntervalSince(now()).rounded(.down))
        timer = Countdown(remainingSeconds: left, overdue: left < 0 || current?.state == .overdue)
    }

    private func attempt(checkingOut: Bool = false, _ call: () async throws -> SafetyReceipt) async {
        working = true
        defer { working = false }
        do {
            let receipt = try await call()
            let vault = self.vault
            show(try await Core.run { try vault.safetyStatus() }, receipt: receipt, checkingOut: checkingOut)
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    /// Checks in until `until`, with a note only she and her team's supervisors can read.
    /// Once the phone holds the check-in (sent or NOT SENT) the note's draft is deleted.
    public func checkIn(until: Date, note: String?) async {
        let vault = self.vault, id = caseId
        let note = note.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        await attempt { try await vault.checkIn(caseId: id, until: Dates.instant(until), note: note) }
        if error == nil && current != nil { await noteDraft.done() }
    }

    /// Checks in with the note as typed in `noteDraft`.
    public func submit(until: Date) async {
        await noteDraft.flush()
        await checkIn(until: until, note: noteDraft.value(DraftField.note))
    }

    public func extend(minutes: Int) async {
        let vault = self.vault, id = caseId
        await attempt { try await vault.extend(caseId: id, by: "\(minutes)m") }
    }

    public func checkOut() async {
        let vault = self.vault, id = caseId
        await attempt(checkingOut: true) { try await vault.checkOut(caseId: id) }
    }
}

/// The supervisor's safety alerts (open first) and who of her team is out now.
@MainActor
public final class SafetyAlertsStore: ObservableObject {
    @Published public private(set) var alerts: [AlertView] = []
    @Published public private(set) var checkIns: [CheckInView] = []
    /// When the server last answered (nil: never on this phone).
    @Published public private(set) var asOf: String?
    @Published public private(set) var unsent: UInt32 = 0
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    private func show(_ s: SafetyStatus) {
        alerts = s.alerts.sorted { a, b in
            if (a.acknowledgedAt == nil) != (b.acknowledgedAt == nil) { return a.acknowledgedAt == nil }
            return a.minutesOverdue > b.minutesOverdue
        }
        checkIns = s.checkIns.filter { !$0.mine }
        asOf = s.asOf
        unsent = s.unsent
    }

    /// This phone's copy (no network).
    public func load() async {
        let vault = self.vault
        do { show(try await Core.run { try vault.safetyStatus() }) } catch { self.error = Messages.of(error) }
    }

    /// Fetches the server's alerts; offline, this phone's copy stays with the reason in plain words.
    public func refresh() async {
        do {
            show(try await vault.refreshSafety())
            error = nil
        } catch {
            await load()
            self.error = Messages.of(error)
        }
    }

    /// Acknowledges an alert (supervisors of the worker's team); true when the server has it.
    @discardableResult
    public func acknowledge(_ alertId: String) async -> Bool {
        do {
            let receipt = try await vault.acknowledgeAlert(alertId: alertId)
            await load()
            error = receipt.sent ? nil : Messages.of(OutreachError.Offline(detail: receipt.notSentBecause ?? ""))
            return receipt.sent
        } catch {
            self.error = Messages.of(error)
            return false
        }
    }
}

/// The report card for a period (nil: the core's default period): the
/// team's card (this phone's cases) and, for a supervisor, one card per
/// practitioner (`Report.byPractitioner`), the same measures on each.
@MainActor
public final class ReportStore: ObservableObject {
    public typealias Figure = ReportFigure

    @Published public private(set) var report: Report?
    @Published public private(set) var figures: [ReportFigure] = []
    /// One card per practitioner, in the core's order.
    @Published public private(set) var cards: [PractitionerFigures] = []
    @Published public var error: String?
    private let vault: OutreachVault

    public init(vault: OutreachVault) { self.vault = vault }

    public func load(from: Date? = nil, to: Date? = nil, team: String? = nil) async {
        let trimmed = team?.trimmingCharacters(in: .whitespaces)
        let query = ReportQuery(from: from.map(Dates.day), to: to.map(Dates.day), team: trimmed?.isEmpty == false ? trimmed : nil)
        let vault = self.vault
        do {
            let r = try await Core.run { try vault.report(query: query) }
            report = r
            figures = ReportFigures.of(r)
            cards = ReportFigures.cards(r)
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    public static func figuresOf(_ r: Report) -> [ReportFigure] { ReportFigures.of(r) }
}
