import Foundation
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
// Field names are Android's (`DraftField`).

/// The names of the forms' fields in their drafts (the same as Android's).
public enum DraftField {
    public static let agency = "agency", reason = "reason", date = "date", status = "status"
    public static let kind = "kind", attendees = "attendees", summary = "summary"
    public static let what = "what"
    public static let danger = "danger", safetyGoal = "safety_goal"
    public static let category = "category", severity = "severity", description = "description", escalatedTo = "escalated_to"
    public static let note = "note"
}

extension Dates {
    /// A `YYYY-MM-DD` day from the core, for a date picker (nil if unreadable).
    public static func parseDay(_ s: String) -> Date? {
        let f = DateFormatter()
        f.calendar = Calendar(identifier: .iso8601)
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd"
        return f.date(from: s)
    }
}

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

    public init(vault: OutreachVault, caseId: String) {
        self.vault = vault
        self.caseId = caseId
        referralDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .referral)
        meetingDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .meeting)
        consentDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .consent)
        dangerDraft = FormDraftKeeper(vault: vault, caseId: caseId, form: .dangerStatement)
        for keeper in [referralDraft, meetingDraft, consentDraft, dangerDraft] {
            keeper.onError = { [weak self] message in if let message { self?.error = message } }
        }
    }

    /// Restores the case's saved drafts of these forms (a killed app's).
    public func openDrafts() async {
        for keeper in [referralDraft, meetingDraft, consentDraft, dangerDraft] { await keeper.open() }
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

    /// Revises the danger, the safety goal or both (nil leaves one as it is).
    @discardableResult
    public func reviseDanger(_ entryId: String, danger: String?, safetyGoal: String?) async -> Bool {
        let update = SosUpdate(danger: danger, safetyGoal: safetyGoal)
        return await write { v, id in try await Core.run { _ = try v.updateSos(caseId: id, entryId: entryId, update: update) } }
    }

    @discardableResult
    public func setDangerResolved(_ entryId: String, _ resolved: Bool) async -> Bool {
        let update = SosUpdate(status: resolved ? .resolved : .open)
        return await write { v, id in try await Core.run { _ = try v.updateSos(caseId: id, entryId: entryId, update: update) } }
    }

    /// Closes the case on `day` (nil: today): it leaves the caseload.
    @discardableResult
    public func close(reason: ExitReason, note: String?, day: Date?) async -> Bool {
        let note = Self.blankToNil(note), on = day.map(Dates.day)
        return await write { v, id in try await Core.run { try v.closeCase(caseId: id, reason: reason, note: note, on: on) } }
    }

    /// Back on the caseload in `phase` (nil: the core's default, programme).
    @discardableResult
    public func reopen(phase: Phase?) async -> Bool {
        await write { v, id in try await Core.run { try v.reopenCase(caseId: id, phase: phase) } }
    }
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

/// The report card summary for a period (nil: the core's default period).
@MainActor
public final class ReportStore: ObservableObject {
    /// One figure: `key` names its label (`report_<key>`); `value` nil when there is nothing to divide by.
    public struct Figure: Identifiable {
        public let key: String
        public let value: String?
        public var id: String { key }
    }

    @Published public private(set) var report: Report?
    @Published public private(set) var figures: [Figure] = []
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
            figures = Self.figuresOf(r)
            error = nil
        } catch { self.error = Messages.of(error) }
    }

    private static func pct(_ v: Double?) -> String? { v.map { String(format: "%.0f%%", $0) } }

    public static func figuresOf(_ r: Report) -> [Figure] {
        [
            Figure(key: "active_cases", value: String(r.howMuch.activeCases)),
            Figure(key: "new_referrals", value: String(r.howMuch.newReferrals)),
            Figure(key: "contacts_completed", value: String(r.howMuch.contactsCompleted)),
            Figure(key: "contacts_attempted", value: String(r.howMuch.contactsAttempted)),
            Figure(key: "meetings", value: String(r.howMuch.meetings)),
            Figure(key: "referrals_made", value: String(r.howMuch.referralsMade)),
            Figure(key: "closures", value: String(r.howMuch.closures)),
            Figure(key: "contacts_on_time", value: pct(r.howWell.contactsOnTimePct)),
            Figure(key: "overdue_cases", value: String(r.howWell.overdueCases)),
            Figure(key: "visits_signed_off", value: pct(r.howWell.visitsSignedOffPct)),
            Figure(key: "median_days_to_sign_off", value: r.howWell.medianDaysToSignOff.map { String(format: "%.1f", $0) }),
            Figure(key: "scaling_improved", value: pct(r.betterOff.scalingImprovedPct)),
            Figure(key: "goals_achieved", value: pct(r.betterOff.goalsAchievedPct)),
            Figure(key: "pause_agreed", value: pct(r.betterOff.pauseAgreedPct)),
            Figure(key: "completed_programme", value: String(r.betterOff.completedProgramme)),
        ]
    }
}
