import OutreachFFI
import OutreachKit
import SwiftUI
import UserNotifications

// The practice records of one case (referrals, meetings, consent, danger
// statements and safety goals, closing and reopening), lone working, the
// supervisor's safety alerts and the report card. As the other screens:
// system controls (VoiceOver labels from their titles, Dynamic Type), every
// word from Localizable.strings, days and times from the system pickers
// (default today / an hour from now), buttons at least 44 pt, OVERDUE and
// NOT SENT said in words (red only repeats them). What is typed into a
// form is its draft (FormDraftKeeper): saved on every keystroke, restored
// when the screen opens again for the case after the app was killed (said
// so), deleted when the form is saved or cleared. That includes the forms
// that change a record already saved: revising a danger statement or a
// Signs of Safety entry (RevisionView, one form for both), updating a
// concern (ConcernUpdateView) and closing the case (ClosureView).

/// A text field of a form's draft: every keystroke saved.
struct DraftTextField: View {
    @ObservedObject var draft: FormDraftKeeper
    let title: String
    let name: String
    var multiline = false

    var body: some View {
        let text = Binding(get: { draft[name] }, set: { draft.set(name, $0) })
        if multiline { TextField(title, text: text, axis: .vertical) } else { TextField(title, text: text) }
    }
}

/// A day of a form's draft, from the system picker (today until one is picked).
struct DraftDayPicker: View {
    @ObservedObject var draft: FormDraftKeeper
    let title: String
    let name: String

    var body: some View {
        DatePicker(title, selection: Binding(get: { draft.value(name).flatMap(Dates.parseDay) ?? Date() },
                                             set: { draft.set(name, Dates.day($0)) }),
                   displayedComponents: .date)
    }
}

/// A choice of the core's vocabulary kept in a form's draft as the core's word (`fallback` until one is picked).
struct DraftChoice<Value: Hashable>: View {
    @ObservedObject var draft: FormDraftKeeper
    let title: String
    let name: String
    let options: [Value]
    let word: (Value) -> String
    let text: (Value) -> String
    var fallback: Value?
    var optional = false

    var body: some View {
        let picked = Binding<Value?>(
            get: { draft.value(name).flatMap { w in options.first { word($0) == w } } ?? fallback },
            set: { draft.set(name, $0.map(word) ?? "") })
        Picker(title, selection: picked) {
            if optional { Text(tr("not_set")).tag(Value?.none) }
            ForEach(options, id: \.self) { Text(text($0)).tag(Value?.some($0)) }
        }
    }
}

/// A 0–10 score of a form's draft from a slider (`fallback` until one is picked), read out as its number.
struct DraftScore: View {
    @ObservedObject var draft: FormDraftKeeper
    let name: String
    var fallback = 5

    var body: some View {
        let score = draft.value(name).flatMap { Int($0) } ?? fallback
        Slider(value: Binding(get: { Double(score) }, set: { v in
            let picked = Int(v.rounded())
            if picked != score || draft.value(name) == nil { draft.set(name, String(picked)) }
        }), in: 0...10, step: 1) { Text(tr("scale_value", String(score))) }
            .accessibilityValue(String(score))
        Text(tr("scale_value", String(score)))
    }
}

/// A new map entry's worry kind, offered only while the worries column is picked (the first column until one is).
struct DraftWorryKind: View {
    @ObservedObject var draft: FormDraftKeeper

    var body: some View {
        let column = draft.value(DraftField.column) ?? Vocab.core.sosColumns.first?.word
        if column == Vocab.word(SosColumn.worries) {
            DraftChoice(draft: draft, title: tr("worry_kind"), name: DraftField.kind, options: Vocab.core.worryKinds.map(\.value),
                        word: Vocab.word, text: label, optional: true)
        }
    }
}

/// "Restored what you had typed" after a killed app; a clear-form button that
/// asks first. `name` (the form's name) is read out with the button where a
/// screen has more than one form.
struct DraftControls: View {
    @ObservedObject var draft: FormDraftKeeper
    let restored: Bool
    var name: String?
    @State private var confirm = false

    var body: some View {
        if restored && draft.hasTyped { Text(tr("draft_restored")) }
        if draft.hasTyped {
            RowButton(title: tr("discard_form"), accessibility: name.map { tr("discard_form_named", $0) }, role: .destructive) { confirm = true }
                .confirmationDialog(tr("discard_form"), isPresented: $confirm) {
                    Button(tr("discard"), role: .destructive) { Task { await draft.discard() } }
                    Button(tr("keep"), role: .cancel) {}
                } message: { Text(tr("discard_form_confirm")) }
        }
    }
}

/// A bordered button at least 44 pt tall, with its own VoiceOver label when the title alone is ambiguous.
struct RowButton: View {
    let title: String
    var accessibility: String?
    var role: ButtonRole?
    let action: () -> Void

    var body: some View {
        Button(role: role, action: action) { Text(title).frame(minHeight: 44) }
            .buttonStyle(.bordered)
            .accessibilityLabel(accessibility ?? title)
    }
}

/// A link to another screen, at least 44 pt tall, with its own VoiceOver label when the title alone is ambiguous.
struct RowLink<Destination: View>: View {
    let title: String
    var accessibility: String?
    @ViewBuilder let destination: () -> Destination

    var body: some View {
        NavigationLink(destination: destination()) { Text(title).frame(minHeight: 44) }
            .accessibilityLabel(accessibility ?? title)
    }
}

/// A stored instant as a time of day in the phone's format.
func shortTime(_ instant: String?) -> String {
    guard let date = Dates.parseInstant(instant) else { return instant ?? "" }
    return date.formatted(date: .omitted, time: .shortened)
}

/// The practice screens a case screen links to.
struct PracticeLinks: View {
    let vault: OutreachVault
    let caseId: String
    let closed: Bool

    var body: some View {
        Section {
            NavigationLink(tr("check_in_title")) { LoneWorkingView(store: CheckInStore(vault: vault, caseId: caseId)) }
            NavigationLink(tr("danger_statements")) { DangerStatementsView(store: PracticeStore(vault: vault, caseId: caseId)) }
            NavigationLink(tr("referrals_title")) { ReferralsView(store: PracticeStore(vault: vault, caseId: caseId)) }
            NavigationLink(tr("meetings_title")) { MeetingsView(store: PracticeStore(vault: vault, caseId: caseId)) }
            NavigationLink(tr("consent_title")) { ConsentView(store: PracticeStore(vault: vault, caseId: caseId)) }
            NavigationLink(tr(closed ? "reopen_case" : "close_case")) { ClosureView(store: PracticeStore(vault: vault, caseId: caseId)) }
        }
    }
}

/// The practice screen that restores a draft of its form (from the caseload's "Not finished" list).
struct PracticeDraftScreen: View {
    let vault: OutreachVault
    let caseId: String
    let form: FormKind

    var body: some View {
        switch form {
        case .referral: ReferralsView(store: PracticeStore(vault: vault, caseId: caseId))
        case .meeting: MeetingsView(store: PracticeStore(vault: vault, caseId: caseId))
        case .consent: ConsentView(store: PracticeStore(vault: vault, caseId: caseId))
        case .dangerStatement: DangerStatementsView(store: PracticeStore(vault: vault, caseId: caseId))
        case .checkIn: LoneWorkingView(store: CheckInStore(vault: vault, caseId: caseId))
        case .closure: ClosureView(store: PracticeStore(vault: vault, caseId: caseId))
        // The entry and the concern are the ones the newest draft was for.
        case .revision: RevisionView(store: RevisionStore(vault: vault, caseId: caseId, entryId: nil))
        case .concernUpdate: ConcernUpdateView(store: ConcernUpdateStore(vault: vault, caseId: caseId, concernId: nil))
        // Opened from Views.swift, where their screens are (the plan's forms: the case screen).
        case .concern, .goal, .action, .scaling, .mapEntry, .openCase, .returnComment, .amendment: EmptyView()
        }
    }
}

/// Referrals to other agencies: agency, why, the day, a status; newest first.
struct ReferralsView: View {
    @StateObject var store: PracticeStore
    @State private var restored = false

    var body: some View {
        Form {
            Section(tr("referrals_title")) {
                DraftTextField(draft: store.referralDraft, title: tr("referral_agency"), name: DraftField.agency)
                DraftTextField(draft: store.referralDraft, title: tr("referral_reason"), name: DraftField.reason, multiline: true)
                DraftDayPicker(draft: store.referralDraft, title: tr("referral_made_on"), name: DraftField.date)
                // Not picking one leaves the core's default (made).
                DraftChoice(draft: store.referralDraft, title: tr("referral_status"), name: DraftField.status,
                            options: store.referralStatuses, word: Vocab.word, text: label, optional: true)
                ErrorLine(message: store.error)
                Button(tr("add_referral")) { Task { await store.submitReferral() } }
                DraftControls(draft: store.referralDraft, restored: restored)
            }
            Section(tr("referrals_made")) {
                if store.referrals.isEmpty { Text(tr("none_yet")) }
                ForEach(store.referrals) { item in
                    VStack(alignment: .leading) {
                        Text(item.record.agency).bold()
                        Text(tr("referral_line", item.record.date, item.record.status.map(label) ?? ""))
                        Text(item.record.reason)
                        if let outcome = item.record.outcome { Text(tr("referral_outcome", outcome)) }
                    }
                    .accessibilityElement(children: .combine)
                }
            }
        }
        .navigationTitle(tr("referrals_title"))
        // A draft left by a killed app is restored, not lost.
        .task { await store.load(); restored = await store.referralDraft.open() }
    }
}

/// Meetings: kind, the day, who was there, what was agreed; newest first.
struct MeetingsView: View {
    @StateObject var store: PracticeStore
    @State private var restored = false

    var body: some View {
        Form {
            Section(tr("meetings_title")) {
                // Shown as the core's first kind until one is picked (saved with the form, not on opening).
                DraftChoice(draft: store.meetingDraft, title: tr("meeting_kind"), name: DraftField.kind,
                            options: store.meetingKinds, word: Vocab.word, text: label, fallback: store.meetingKinds.first)
                DraftDayPicker(draft: store.meetingDraft, title: tr("meeting_date"), name: DraftField.date)
                DraftTextField(draft: store.meetingDraft, title: tr("meeting_attendees"), name: DraftField.attendees)
                DraftTextField(draft: store.meetingDraft, title: tr("meeting_summary"), name: DraftField.summary, multiline: true)
                ErrorLine(message: store.error)
                Button(tr("add_meeting")) {
                    Task {
                        if store.meetingDraft.value(DraftField.kind) == nil, let first = store.meetingKinds.first {
                            store.meetingDraft.set(DraftField.kind, Vocab.word(first))
                        }
                        await store.submitMeeting()
                    }
                }
                DraftControls(draft: store.meetingDraft, restored: restored)
            }
            Section(tr("meetings_held")) {
                if store.meetings.isEmpty { Text(tr("none_yet")) }
                ForEach(store.meetings) { item in
                    VStack(alignment: .leading) {
                        Text(tr("meeting_line", label(item.record.kind), item.record.date)).bold()
                        if !item.record.attendees.isEmpty { Text(tr("meeting_who", item.record.attendees.joined(separator: ", "))) }
                        if !item.record.summary.isEmpty { Text(item.record.summary) }
                    }
                    .accessibilityElement(children: .combine)
                }
            }
        }
        .navigationTitle(tr("meetings_title"))
        .task { await store.load(); restored = await store.meetingDraft.open() }
    }
}

/// Consent: what she agreed to and when; withdrawing keeps the record, with the day.
struct ConsentView: View {
    @StateObject var store: PracticeStore
    @State private var restored = false
    @State private var withdrawnOn = Date()

    var body: some View {
        Form {
            Section(tr("consent_title")) {
                DraftTextField(draft: store.consentDraft, title: tr("consent_what"), name: DraftField.what, multiline: true)
                DraftDayPicker(draft: store.consentDraft, title: tr("consent_given_on"), name: DraftField.date)
                ErrorLine(message: store.error)
                Button(tr("consent_give")) { Task { await store.submitConsent() } }
                DraftControls(draft: store.consentDraft, restored: restored)
            }
            Section(tr("consents_recorded")) {
                if store.consents.isEmpty { Text(tr("none_yet")) }
                if store.consents.contains(where: { $0.record.withdrawnOn == nil }) {
                    DatePicker(tr("consent_withdrawn_on"), selection: $withdrawnOn, displayedComponents: .date)
                }
                ForEach(store.consents) { item in
                    VStack(alignment: .leading) {
                        Text(item.record.what).bold()
                        // Current or withdrawn in words.
                        if let withdrawn = item.record.withdrawnOn {
                            Text(tr("consent_withdrawn_line", withdrawn))
                        } else {
                            Text(tr("consent_given_line", item.record.givenOn ?? "", item.record.recordedBy ?? ""))
                            RowButton(title: tr("consent_withdraw"), accessibility: tr("consent_withdraw_named", item.record.what)) {
                                Task { await store.withdrawConsent(item.id, day: withdrawnOn) }
                            }
                        }
                    }
                }
            }
        }
        .navigationTitle(tr("consent_title"))
        .task { await store.load(); restored = await store.consentDraft.open() }
    }
}

/// Danger statements and their safety goals: add, revise either half, resolve, reopen.
struct DangerStatementsView: View {
    @StateObject var store: PracticeStore
    @State private var restored = false

    var body: some View {
        Form {
            Section(tr("danger_statements")) {
                // A new statement is typed into its draft (restored after a killed app).
                DraftTextField(draft: store.dangerDraft, title: tr("danger"), name: DraftField.danger, multiline: true)
                DraftTextField(draft: store.dangerDraft, title: tr("safety_goal"), name: DraftField.safetyGoal, multiline: true)
                ErrorLine(message: store.error)
                Button(tr("add_danger_statement")) { Task { await store.submitDanger() } }
                DraftControls(draft: store.dangerDraft, restored: restored)
            }
            Section {
                if store.dangers.isEmpty { Text(tr("none_yet")) }
                ForEach(store.dangers) { item in
                    let resolved = item.record.status == .resolved
                    VStack(alignment: .leading) {
                        Text(tr("danger_is", item.record.danger)).bold()
                        Text(tr("safety_goal_is", item.record.safetyGoal))
                        // Resolved in words, not only colour.
                        if resolved { Text(vocabLabel("sos_statuses", "resolved")) }
                        HStack {
                            // Revising is its own form, with its own draft (kept by the statement's id).
                            RowLink(title: tr("revise"), accessibility: tr("revise_named", item.record.danger)) {
                                RevisionView(store: store.revision(item.id))
                            }
                            RowButton(title: tr(resolved ? "reopen" : "resolve")) {
                                Task { await store.setDangerResolved(item.id, !resolved) }
                            }
                        }
                    }
                }
            }
        }
        .navigationTitle(tr("danger_statements"))
        .task { await store.load(); restored = await store.dangerDraft.open() }
        // Back from a revision: the statements as saved.
        .onAppear { Task { await store.load() } }
    }
}

/// Revise a danger statement (the danger, the safety goal) or a Signs of
/// Safety entry (its text, a worry's kind): one form for both, its draft
/// kept by the entry's id — restored after a killed app, deleted once saved
/// or when revising is cancelled.
struct RevisionView: View {
    @StateObject var store: RevisionStore
    @Environment(\.dismiss) private var dismiss
    @State private var confirmCancel = false

    var body: some View {
        Form {
            if let draft = store.draft, let target = store.target {
                Section(tr("revision_title")) {
                    switch target {
                    case .danger(let d):
                        Text(tr("revision_was", d.danger))
                        DraftTextField(draft: draft, title: tr("danger"), name: DraftField.danger, multiline: true)
                        DraftTextField(draft: draft, title: tr("safety_goal"), name: DraftField.safetyGoal, multiline: true)
                    case .entry(let column, let entry):
                        Text(tr("sos_entry_line", label(column), entry.text))
                        DraftTextField(draft: draft, title: tr("sos_entry_revised"), name: DraftField.text, multiline: true)
                        if column == .worries {
                            DraftChoice(draft: draft, title: tr("worry_kind"), name: DraftField.kind, options: store.worryKinds,
                                        word: Vocab.word, text: label, optional: true)
                        }
                    }
                    ErrorLine(message: store.error)
                    if store.restored && draft.hasTyped { Text(tr("draft_restored")) }
                    RowButton(title: tr("save_revision")) { Task { if await store.submit() { dismiss() } } }
                    RowButton(title: tr("revision_cancel"), role: .destructive) { confirmCancel = true }
                        .confirmationDialog(tr("revision_cancel"), isPresented: $confirmCancel) {
                            Button(tr("discard"), role: .destructive) { Task { await store.cancel(); dismiss() } }
                            Button(tr("keep"), role: .cancel) {}
                        } message: { Text(tr("revision_cancel_confirm")) }
                }
            } else {
                ErrorLine(message: store.error)
            }
        }
        .navigationTitle(tr("revision_title"))
        .task { await store.load() }
    }
}

/// Update one concern: severity, status, who it was escalated to. Its draft
/// is kept by the concern's id — restored after a killed app, deleted once saved.
struct ConcernUpdateView: View {
    @StateObject var store: ConcernUpdateStore
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        Form {
            if let draft = store.draft, let concern = store.concern {
                Section(tr("concern_line", label(concern.severity), concern.category)) {
                    Text(tr("concern_status_line", label(concern.status ?? .open), String(concern.raisedAt.prefix(10)))
                         + (concern.escalatedTo.map { " · " + tr("escalated_to_line", $0) } ?? ""))
                    Text(concern.description)
                }
                Section(tr("concern_update_title")) {
                    // Shown as saved until another is picked (a choice left as it is changes nothing).
                    DraftChoice(draft: draft, title: tr("severity"), name: DraftField.severity, options: store.severities,
                                word: Vocab.word, text: label, fallback: concern.severity)
                    DraftChoice(draft: draft, title: tr("concern_status"), name: DraftField.status, options: store.statuses,
                                word: Vocab.word, text: label, fallback: concern.status ?? .open)
                    DraftTextField(draft: draft, title: tr("escalate_to"), name: DraftField.escalatedTo)
                    Text(tr("escalate_hint"))
                    ErrorLine(message: store.error)
                    RowButton(title: tr("concern_update_save")) { Task { if await store.submit() { dismiss() } } }
                    DraftControls(draft: draft, restored: store.restored)
                }
            } else {
                ErrorLine(message: store.error)
            }
        }
        .navigationTitle(tr("concern_update_title"))
        .task { await store.load() }
    }
}

/// Close the case (why, a note, the day she left) or reopen it in a phase.
/// The closing form is its draft: saved on every edit, restored after a
/// killed app, deleted once the case is closed.
struct ClosureView: View {
    @StateObject var store: PracticeStore
    @Environment(\.dismiss) private var dismiss
    @State private var restored = false
    /// The core's default phase for a reopened case.
    @State private var phase: Phase = .programme

    var body: some View {
        Form {
            if store.closed {
                if let p = store.programme {
                    Text(tr("case_closed", p.closedOn ?? "", p.exitReason.map { vocabLabel("exit_reasons", $0) } ?? "")).bold()
                }
                Picker(tr("reopen_in_phase"), selection: $phase) {
                    ForEach(store.reopenPhases, id: \.self) { Text(label($0)).tag($0) }
                }
                ErrorLine(message: store.error)
                RowButton(title: tr("reopen_case")) { Task { if await store.reopen(phase: phase) { dismiss() } } }
            } else if store.programme != nil {
                // Shown as the core's first reason until one is picked (saved with the form, not on opening).
                DraftChoice(draft: store.closureDraft, title: tr("exit_reason"), name: DraftField.reason,
                            options: store.exitReasons, word: Vocab.word, text: label, fallback: store.exitReasons.first)
                DraftTextField(draft: store.closureDraft, title: tr("exit_note"), name: DraftField.note, multiline: true)
                DraftDayPicker(draft: store.closureDraft, title: tr("closed_on"), name: DraftField.date)
                Text(tr("close_case_hint"))
                ErrorLine(message: store.error)
                RowButton(title: tr("close_case"), role: .destructive) {
                    Task {
                        if store.closureDraft.value(DraftField.reason) == nil, let first = store.exitReasons.first {
                            store.closureDraft.set(DraftField.reason, Vocab.word(first))
                        }
                        if await store.submitClosure() { dismiss() }
                    }
                }
                DraftControls(draft: store.closureDraft, restored: restored)
            } else {
                ErrorLine(message: store.error)
            }
        }
        .navigationTitle(tr("programme"))
        .task { await store.load(); restored = await store.closureDraft.open() }
    }
}

/// The lone-working deadline outside the app: one local notification at the
/// time she is due back (moved on an extension, removed on check-out). It
/// names no one and no address: it shows on the lock screen.
enum CheckInReminder {
    static let id = "uk.gov.council.outreach.check-in"

    static func schedule(at until: Date?) {
        let center = UNUserNotificationCenter.current()
        center.removePendingNotificationRequests(withIdentifiers: [id])
        guard let until, until > Date() else { return }
        let title = tr("check_in_due_title"), body = tr("check_in_notification_text")
        center.requestAuthorization(options: [.alert, .sound]) { granted, _ in
            guard granted else { return }
            let content = UNMutableNotificationContent()
            content.title = title
            content.body = body
            content.sound = .default
            let trigger = UNTimeIntervalNotificationTrigger(timeInterval: max(1, until.timeIntervalSinceNow), repeats: false)
            center.add(UNNotificationRequest(identifier: id, content: content, trigger: trigger))
        }
    }
}

/// Lone working: check in before a visit, the running timer, extend, check out.
struct LoneWorkingView: View {
    @StateObject var store: CheckInStore
    @State private var until = Date().addingTimeInterval(3600)
    @State private var restored = false

    var body: some View {
        Form {
            if store.current == nil {
                if store.checkedOut { Text(tr("checked_out")) }
                Text(tr("check_in_hint"))
                DatePicker(tr("check_in_until"), selection: $until, in: Date()..., displayedComponents: [.date, .hourAndMinute])
                // The note is its draft: saved on every keystroke, restored after a killed app, deleted once checked in.
                DraftTextField(draft: store.noteDraft, title: tr("check_in_note"), name: DraftField.note, multiline: true)
                ErrorLine(message: store.error)
                Button(tr("check_in_action")) { Task { await store.submit(until: until) } }
                    .disabled(store.working)
                DraftControls(draft: store.noteDraft, restored: restored)
            } else {
                if let timer = store.timer {
                    // OVERDUE in words and bold; red only repeats it.
                    Text(tr(timer.overdue ? "check_in_overdue" : "check_in_left", timer.shown))
                        .font(.title2)
                        .fontWeight(timer.overdue ? .bold : .regular)
                        .foregroundStyle(timer.overdue ? .red : .primary)
                    if timer.overdue { Text(tr("check_in_overdue_hint")) }
                }
                Text(tr("check_in_until_line", store.until.map { $0.formatted(date: .omitted, time: .shortened) } ?? ""))
                if store.notSent { Text(tr("check_in_not_sent")).bold().foregroundStyle(.red) }
                if store.checkOutNotSent { Text(tr("check_out_not_sent")).bold().foregroundStyle(.red) }
                if let why = store.notSentBecause { Text(tr("not_sent_because", why)) }
                ErrorLine(message: store.error)
                if !store.checkOutNotSent {
                    HStack {
                        ForEach(store.extensions, id: \.self) { minutes in
                            RowButton(title: tr("extend_by", String(minutes))) { Task { await store.extend(minutes: minutes) } }
                                .disabled(store.working)
                        }
                    }
                }
                Button(tr("check_out_action")) { Task { await store.checkOut() } }.disabled(store.working)
            }
        }
        .navigationTitle(tr("check_in_title"))
        .task { await store.load(); until = store.defaultUntil(); restored = await store.noteDraft.open() }
        .onChange(of: store.until) { deadline in CheckInReminder.schedule(at: store.active ? deadline : nil) }
        // The running timer: one tick a second while the screen is shown (no core call).
        .task {
            while !Task.isCancelled {
                store.tick()
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }
}

/// The supervisor's safety alerts: open first, acknowledge; who of her team is out now.
struct SafetyAlertsView: View {
    @StateObject var store: SafetyAlertsStore

    var body: some View {
        List {
            Section {
                Text(tr("alerts_as_of", store.asOf.map { shortTime($0) } ?? tr("never")))
                if store.unsent > 0 { Text(tr("alerts_unsent", String(store.unsent))) }
                ErrorLine(message: store.error)
                Button(tr("alerts_refresh")) { Task { await store.refresh() } }
            }
            Section(tr("alerts_title")) {
                if store.alerts.isEmpty { Text(tr("alerts_none")) }
                ForEach(store.alerts, id: \.alertId) { a in
                    VStack(alignment: .leading) {
                        Text(tr("alert_line", a.worker, String(a.minutesOverdue), shortTime(a.due))).bold()
                            .foregroundStyle(a.acknowledgedAt == nil ? .red : .primary)
                        Text(a.checkedOutAt.map { tr("alert_checked_out", shortTime($0)) } ?? tr("alert_still_out"))
                        if a.acknowledgedAt == nil {
                            RowButton(title: tr("alert_acknowledge"), accessibility: tr("alert_acknowledge_named", a.worker)) {
                                Task { await store.acknowledge(a.alertId) }
                            }
                        } else {
                            Text(tr("alert_acknowledged", a.acknowledgedBy ?? "", shortTime(a.acknowledgedAt)))
                        }
                    }
                }
            }
            Section(tr("out_now")) {
                if store.checkIns.isEmpty { Text(tr("out_now_none")) }
                ForEach(store.checkIns, id: \.timerId) { c in
                    Text(tr(c.state == .overdue ? "out_now_overdue" : "out_now_line", c.worker, shortTime(c.until)))
                }
            }
        }
        .navigationTitle(tr("alerts_title"))
        .task { await store.load(); await store.refresh() }
    }
}

/// One figure of a card: "label: value"; a figure with nothing to divide by
/// shows "—" and is read out as "no data yet". Wraps at large text sizes.
struct FigureRow: View {
    let figure: ReportFigure

    var body: some View {
        Text(tr("field_value", reportLabel(figure.key), figure.value ?? tr("report_none")))
            .fixedSize(horizontal: false, vertical: true)
            .accessibilityLabel(tr("field_value", reportLabel(figure.key), figure.value ?? tr("report_no_data")))
    }
}

/// The report card for a period (the core's default until one is picked):
/// the team's card, then one card per practitioner with the same measures.
struct ReportCardView: View {
    @StateObject var store: ReportStore
    // Until the core's report answers, today; then its default period.
    @State private var from = Date()
    @State private var to = Date()
    @State private var team = ""

    var body: some View {
        Form {
            Section {
                DatePicker(tr("report_from"), selection: $from, displayedComponents: .date)
                DatePicker(tr("report_to"), selection: $to, displayedComponents: .date)
                TextField(tr("report_team"), text: $team)
                RowButton(title: tr("report_show")) { Task { await store.load(from: from, to: to, team: team) } }
                ErrorLine(message: store.error)
            }
            if let r = store.report {
                Section {
                    Text(tr("report_cases", String(r.cases)))
                    if r.unreadableCases > 0 { Text(tr("report_unreadable", String(r.unreadableCases))) }
                    ForEach(store.figures) { FigureRow(figure: $0) }
                } header: {
                    Text(tr("report_period", r.period.from, r.period.to))
                } footer: {
                    Text(tr("report_none_hint"))
                }
                if !store.cards.isEmpty {
                    Section { Text(tr("report_by_practitioner_hint")) } header: { Text(tr("report_by_practitioner")) }
                }
                // One card per practitioner, the same measures as the team's.
                ForEach(store.cards) { card in
                    Section {
                        ForEach(card.figures) { FigureRow(figure: $0) }
                    } header: {
                        Text(tr("report_practitioner_card", card.name, String(card.cases)))
                            .accessibilityAddTraits(.isHeader)
                    }
                }
            }
        }
        .navigationTitle(tr("report_title"))
        .task {
            await store.load()
            if let p = store.report?.period, let f = Dates.parseDay(p.from), let t = Dates.parseDay(p.to) { from = f; to = t }
        }
    }
}

/// A figure's label (`report_<key>`); a new figure without one shows its key in plain form.
func reportLabel(_ key: String) -> String {
    let k = "report_" + key
    let text = NSLocalizedString(k, comment: "")
    return text == k ? key.replacingOccurrences(of: "_", with: " ") : text
}
