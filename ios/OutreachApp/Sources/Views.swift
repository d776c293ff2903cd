import OutreachFFI
import OutreachKit
import SwiftUI

// Screens are thin: every rule lives in the Rust core, every state in
// OutreachKit's stores (which run every blocking core call off the main
// actor), every word in Localizable.strings. One column, system controls
// (VoiceOver labels from their titles, at least 44 pt, Dynamic Type), so a
// contact can be recorded one-handed right after a visit.

/// A problem, in words (never only red).
struct ErrorLine: View {
    let message: String?
    var body: some View {
        if let message { Text(tr("problem", message)).foregroundStyle(.red) }
    }
}

struct CreateVaultView: View {
    @EnvironmentObject var app: AppStore
    @State private var name = ""
    @State private var team = ""
    @State private var passphrase = ""
    @State private var again = ""

    var body: some View {
        Form {
            Section(tr("setup_title")) {
                TextField(tr("your_name"), text: $name)
                TextField(tr("team"), text: $team)
                SecureField(tr("passphrase"), text: $passphrase)
                SecureField(tr("passphrase_again"), text: $again)
            }
            if app.working { ProgressView() }
            ErrorLine(message: app.error)
            Button(tr("create")) {
                Task { await app.create(passphrase: passphrase, again: again, name: name, team: team.isEmpty ? nil : team) }
            }
            .disabled(app.working)
        }
    }
}

struct UnlockView: View {
    @EnvironmentObject var app: AppStore
    @State private var passphrase = ""

    var body: some View {
        Form {
            Section(tr("locked_title")) {
                SecureField(tr("passphrase"), text: $passphrase)
                Button(tr("unlock")) {
                    let entered = passphrase
                    passphrase = ""
                    Task { await app.unlock(passphrase: entered) }
                }
                .disabled(app.working)
                if app.quickUnlockAvailable {
                    Button(tr("unlock_quick_ios")) { Task { await app.unlockQuick() } }.disabled(app.working)
                }
                if app.working { ProgressView() }
            }
            ErrorLine(message: app.error)
        }
        .task { await app.refreshQuickUnlock() }
    }
}

struct CaseloadView: View {
    @StateObject var store: CaseloadStore
    let vault: OutreachVault
    @EnvironmentObject var app: AppStore
    /// Forms left unfinished (a killed app, a flat battery), offered first.
    @StateObject private var drafts: DraftsStore

    init(store: CaseloadStore, vault: OutreachVault) {
        _store = StateObject(wrappedValue: store)
        self.vault = vault
        _drafts = StateObject(wrappedValue: DraftsStore(vault: vault))
    }

    var body: some View {
        List {
            NavigationLink(tr("new_case")) { NewCaseView(store: NewCaseStore(vault: vault), vault: vault) }
            if !drafts.items.isEmpty {
                Section(tr("drafts_title")) {
                    ForEach(drafts.items) { d in
                        NavigationLink(destination: draftScreen(d)) {
                            // A new case: her name as typed in the draft, or "not named yet" (there is no case yet).
                            Text(tr("draft_line", tr(d.labelKey), d.name ?? tr(d.form == .openCase ? "draft_case_new" : "draft_case_unknown"),
                                    String(d.updatedAt.prefix(16)).replacingOccurrences(of: "T", with: " ")))
                        }
                        .swipeActions { Button(tr("discard"), role: .destructive) { Task { await drafts.discard(d.draftId) } } }
                    }
                    ErrorLine(message: drafts.error)
                }
            }
            ForEach(store.rows) { row in
                NavigationLink(destination: CaseView(store: CaseStore(vault: vault, caseId: row.id), vault: vault)) {
                    VStack(alignment: .leading) {
                        Text(row.summary.preferredName).bold()
                        // "OVERDUE · next contact …": the word says it, the colour repeats it.
                        Text(row.contactLine).foregroundStyle(row.overdue ? .red : .primary)
                        if let review = row.reviewLine { Text(review) }
                        if row.summary.openConcerns > 0 {
                            Text(tr("open_concerns_ios", String(row.summary.openConcerns),
                                    row.summary.highestOpenSeverity.map(label) ?? ""))
                        }
                        Text(syncLabel(row.sync)).font(.caption)
                    }
                }
            }
            ErrorLine(message: store.error)
        }
        .navigationTitle(tr("caseload_title"))
        .toolbar {
            Toggle(tr("show_closed"), isOn: $store.includeClosed)
            NavigationLink(tr("sign_off_title")) { ReviewView(store: ReviewStore(vault: vault)) }
            NavigationLink(tr("alerts_title")) { SafetyAlertsView(store: SafetyAlertsStore(vault: vault)) }
            NavigationLink(tr("report_title")) { ReportCardView(store: ReportStore(vault: vault)) }
            NavigationLink(tr("sync_title")) { SyncView(store: SyncStore(vault: vault)) }
            NavigationLink(tr("settings_title")) { SettingsView(store: SettingsStore(vault: vault, keyStore: app.keyStore)) }
        }
        .task { await store.refresh(); await drafts.load() }
    }

    /// The screen that restores a draft: its form's screen for its case.
    @ViewBuilder
    private func draftScreen(_ d: DraftsStore.Item) -> some View {
        switch d.form {
        case nil: ContactView(store: ContactStore(vault: vault, caseId: d.caseId))
        case .concern?: ConcernsView(store: ConcernsStore(vault: vault, caseId: d.caseId))
        // The plan's forms (a goal, an action, a scaling, a new map entry) are on the case screen.
        case .goal?, .action?, .scaling?, .mapEntry?: CaseView(store: CaseStore(vault: vault, caseId: d.caseId), vault: vault)
        // No case yet: the form that opens one.
        case .openCase?: NewCaseView(store: NewCaseStore(vault: vault), vault: vault)
        // The sign-off screen, that draft's form open on its visit.
        case .returnComment?, .amendment?: ReviewView(store: ReviewStore(vault: vault, draftId: d.draftId))
        // The practice screens are built in PracticeViews.swift (their memberwise initialisers are file-private).
        case .some(let form): PracticeDraftScreen(vault: vault, caseId: d.caseId, form: form)
        }
    }

    private func syncLabel(_ s: CaseSyncState) -> String {
        switch s {
        case .neverSynced: return tr("sync_never")
        case .pendingUpload: return tr("sync_pending")
        case .synced: return tr("sync_done")
        case .conflict: return tr("sync_conflict")
        case .needsAttention: return tr("sync_attention")
        }
    }
}

/// Open a case: her name, the safe-contact questions first, the referral.
struct NewCaseView: View {
    @StateObject var store: NewCaseStore
    let vault: OutreachVault
    @State private var opened: String?

    var body: some View {
        Form {
            Section {
                TextField(tr("preferred_name"), text: $store.preferredName)
                TextField(tr("phone"), text: $store.phone).keyboardType(.phonePad)
            }
            Section(tr("safe_contact")) {
                YesNoPicker(title: tr("ask_texts"), value: $store.textOk)
                YesNoPicker(title: tr("ask_voicemail"), value: $store.voicemailOk)
                TextField(tr("code_word"), text: $store.codeWord)
                TextField(tr("safe_contact_notes"), text: $store.safeContactNotes, axis: .vertical)
            }
            Section(tr("referral")) {
                Toggle(tr("referral_date_known"), isOn: Binding(
                    get: { store.referralDate != nil }, set: { store.referralDate = $0 ? Date() : nil }))
                if let date = store.referralDate {
                    DatePicker(tr("referral_date"), selection: Binding(get: { date }, set: { store.referralDate = $0 }),
                               displayedComponents: .date)
                }
                TextField(tr("referral_source"), text: $store.referralSource)
            }
            ErrorLine(message: store.error)
            Button(tr("open_case_save")) { Task { opened = await store.create() } }
            DraftControls(draft: store.draft, restored: store.restored, name: tr("draft_form_open_case"))
        }
        .navigationTitle(tr("new_case"))
        // What a killed app had typed comes back; clearing the draft clears the form.
        .task { await store.load() }
        .onReceive(store.draft.$fields) { store.followDraft($0) }
        // iOS 16: the opened case replaces this form in the stack.
        .navigationDestination(isPresented: Binding(get: { opened != nil }, set: { if !$0 { opened = nil } })) {
            if let id = opened { CaseView(store: CaseStore(vault: vault, caseId: id), vault: vault) }
        }
    }
}

/// Yes / no / not asked yet.
struct YesNoPicker: View {
    let title: String
    @Binding var value: Bool?

    var body: some View {
        Picker(title, selection: $value) {
            Text(tr("not_asked")).tag(Bool?.none)
            Text(tr("yes")).tag(Bool?.some(true))
            Text(tr("no")).tag(Bool?.some(false))
        }
    }
}

/// One case: safe-contact rules first, the practice links, the plan. The
/// plan's forms (a new goal, an action, a scaling with its question, a new
/// map entry) are their drafts (`FormDraftKeeper`, held by `CaseStore`):
/// saved on every keystroke, restored when the case opens again after a
/// killed app (said so), deleted once added or cleared. A default shown but
/// never touched (the first domain, a score of 5, whose view, the first
/// column) is saved only with the form.
struct CaseView: View {
    @StateObject var store: CaseStore
    let vault: OutreachVault
    /// The plan's forms whose draft a killed app left, restored on opening.
    @State private var restored: Set<FormKind> = []
    @State private var transferTo = ""

    /// One entry of the Signs of Safety map, with its column.
    private struct SosItem: Identifiable {
        let id: String
        let column: SosColumn
        let entry: SosEntry
    }

    /// The plan's goals, in a steady order (for the list and an action's goal).
    private var goals: [(key: String, value: Goal)] {
        (store.record?.goals ?? [:]).sorted { $0.key < $1.key }
    }

    private var sosEntries: [SosItem] {
        guard let map = store.record?.signsOfSafety else { return [] }
        let columns: [(SosColumn, [String: SosEntry])] = [(.worries, map.worries), (.workingWell, map.workingWell),
                                                          (.needsToHappen, map.needsToHappen)]
        return columns.flatMap { c in c.1.sorted { $0.key < $1.key }.map { SosItem(id: $0.key, column: c.0, entry: $0.value) } }
    }

    var body: some View {
        List {
            // Safe-contact rules first: she may not be safe to text or call (bold words, red too).
            if !store.rules.isEmpty {
                Section(tr("safe_contact")) { ForEach(store.rules, id: \.self) { Text(ruleText($0)).bold().foregroundStyle(.red) } }
            }
            if store.closed, let p = store.record?.programme {
                Section { Text(tr("case_closed", p.closedOn ?? "", p.exitReason.map { vocabLabel("exit_reasons", $0) } ?? "")).bold() }
            }
            Section {
                NavigationLink(tr("record_contact")) { ContactView(store: ContactStore(vault: vault, caseId: store.caseId)) }
                NavigationLink(tr("concerns_title")) { ConcernsView(store: ConcernsStore(vault: vault, caseId: store.caseId)) }
                NavigationLink(tr("conflicts_title")) { ConflictsView(store: ConflictStore(vault: vault, caseId: store.caseId)) }
            }
            // Lone working, danger statements, referrals, meetings, consent, close / reopen.
            PracticeLinks(vault: vault, caseId: store.caseId, closed: store.closed)
            ErrorLine(message: store.error)
            Section(tr("plan_title")) {
                ForEach(goals, id: \.key) { _, g in Text(tr("goal_choice", label(g.domain), g.text)) }
                // All twelve domains, from the core.
                DraftChoice(draft: store.goalDraft, title: tr("domain"), name: DraftField.domain, options: Vocab.core.domains.map(\.value),
                            word: Vocab.word, text: label, fallback: Vocab.core.domains.first?.value)
                DraftTextField(draft: store.goalDraft, title: tr("goal"), name: DraftField.text, multiline: true)
                RowButton(title: tr("add_goal")) {
                    Task {
                        if store.goalDraft.value(DraftField.domain) == nil, let first = Vocab.core.domains.first {
                            store.goalDraft.set(DraftField.domain, first.word)
                        }
                        if await store.submitGoal() { restored.remove(.goal) }
                    }
                }
                DraftControls(draft: store.goalDraft, restored: restored.contains(.goal), name: tr("draft_form_goal"))
            }
            // An action: the goal it is for, then what will be done.
            if !goals.isEmpty {
                Section(tr("action_section")) {
                    DraftChoice(draft: store.actionDraft, title: tr("action_goal"), name: DraftField.goal, options: goals.map { $0.key },
                                word: { $0 }, text: { id in goals.first { $0.key == id }.map { tr("goal_choice", label($0.value.domain), $0.value.text) } ?? "" },
                                optional: true)
                    DraftTextField(draft: store.actionDraft, title: tr("action_text"), name: DraftField.text, multiline: true)
                    RowButton(title: tr("add_action")) { Task { if await store.submitAction() { restored.remove(.action) } } }
                    DraftControls(draft: store.actionDraft, restored: restored.contains(.action), name: tr("draft_form_action"))
                }
            }
            Section(tr("scaling")) {
                DraftScore(draft: store.scalingDraft, name: DraftField.score)
                DraftChoice(draft: store.scalingDraft, title: tr("whose_view"), name: DraftField.view, options: Vocab.core.scaleViews.map(\.value),
                            word: Vocab.word, text: label, fallback: Vocab.core.scaleViews.first?.value)
                DraftTextField(draft: store.scalingDraft, title: tr("scaling_question"), name: DraftField.question, multiline: true)
                RowButton(title: tr("add_reading")) {
                    Task {
                        let d = store.scalingDraft
                        if d.value(DraftField.score) == nil { d.set(DraftField.score, "5") }
                        if d.value(DraftField.view) == nil, let first = Vocab.core.scaleViews.first { d.set(DraftField.view, first.word) }
                        if await store.submitScale() { restored.remove(.scaling) }
                    }
                }
                DraftControls(draft: store.scalingDraft, restored: restored.contains(.scaling), name: tr("draft_form_scaling"))
            }
            Section(tr("sos_title")) {
                ForEach(sosEntries) { item in
                    VStack(alignment: .leading) {
                        Text(tr("sos_entry_line", label(item.column), item.entry.text)
                             + (item.entry.status == .resolved ? " · " + vocabLabel("sos_statuses", "resolved") : ""))
                        HStack {
                            // Revising is its own form, with a draft kept by the entry's id (RevisionView).
                            RowLink(title: tr("revise"), accessibility: tr("revise_named", item.entry.text)) {
                                RevisionView(store: RevisionStore(vault: vault, caseId: store.caseId, entryId: item.id))
                            }
                            RowButton(title: tr(item.entry.status == .resolved ? "reopen" : "resolve")) {
                                Task { await store.setSosResolved(entryId: item.id, item.entry.status != .resolved) }
                            }
                        }
                    }
                }
                // A new entry: its draft (the column and a worry's kind as the core's words).
                DraftChoice(draft: store.entryDraft, title: tr("sos_column"), name: DraftField.column, options: Vocab.core.sosColumns.map(\.value),
                            word: Vocab.word, text: label, fallback: Vocab.core.sosColumns.first?.value)
                DraftWorryKind(draft: store.entryDraft)
                DraftTextField(draft: store.entryDraft, title: tr("sos_entry"), name: DraftField.text, multiline: true)
                RowButton(title: tr("add_entry")) {
                    Task {
                        if store.entryDraft.value(DraftField.column) == nil, let first = Vocab.core.sosColumns.first {
                            store.entryDraft.set(DraftField.column, first.word)
                        }
                        if await store.submitEntry() { restored.remove(.mapEntry) }
                    }
                }
                DraftControls(draft: store.entryDraft, restored: restored.contains(.mapEntry), name: tr("draft_form_map_entry"))
            }
            // Adding one is the danger statements screen (linked above), whose form keeps a draft.
            Section(tr("danger_statements")) {
                ForEach(Array(store.record?.signsOfSafety.dangerStatements ?? [:]).sorted(by: { $0.key < $1.key }), id: \.key) { _, d in
                    Text(tr("danger_line", "\(d.danger) → \(d.safetyGoal)"))
                }
            }
            Section(tr("open_concerns_title")) {
                ForEach(Array(store.record?.concerns ?? [:]).filter { $0.value.status != .closed }
                    .sorted(by: { Vocab.severityRank($0.value.severity) > Vocab.severityRank($1.value.severity) }), id: \.key) { _, c in
                    Text(tr("concern_line", label(c.severity), c.category))
                }
            }
            Section(tr("timeline")) {
                ForEach(store.timeline, id: \.id) { Text("\(String($0.at.prefix(10)))  \($0.summary)") }
            }
            // Closing (its form keeps a draft) and reopening: ClosureView, linked above.
            Section(tr("programme")) {
                TextField(tr("transfer_to"), text: $transferTo)
                Button(tr("transfer_action")) { Task { await store.transfer(to: transferTo); transferTo = "" } }
                if let t = store.transferred { Text(t) }
            }
        }
        .navigationTitle(store.record?.profile.preferredName ?? "")
        .task { await store.load(); restored = await store.openDrafts() }
        // Back from a revision, a closure or a concern's update: the case as saved.
        .onAppear { Task { await store.load() } }
    }
}

/// Record a contact: every kind and outcome the core knows (phone, text,
/// video and attempted contacts included), the platform's date and time
/// pickers (now, and the next contact at the case's interval), every edit
/// saved as an encrypted draft.
struct ContactView: View {
    @StateObject var store: ContactStore
    @Environment(\.dismiss) private var dismiss
    @State private var confirmDiscard = false
    /// Recorded and checked out, but the check-out has not reached the server: said before leaving.
    @State private var recordedNotSent = false

    private func text(_ path: WritableKeyPath<VisitDraft, String?>) -> Binding<String> {
        Binding(get: { store.draft[keyPath: path] ?? "" }, set: { store.draft[keyPath: path] = $0.isEmpty ? nil : $0; store.save() })
    }

    var body: some View {
        Form {
            Picker(tr("contact_kind"), selection: Binding(get: { store.draft.kind }, set: { store.draft.kind = $0; store.save() })) {
                Text(tr("not_set")).tag(ContactKind?.none)
                ForEach(store.kinds, id: \.self) { Text(label($0)).tag(ContactKind?.some($0)) }
            }
            Section {
                Picker(tr("outcome"), selection: Binding(get: { store.draft.outcome }, set: { store.draft.outcome = $0; store.save() })) {
                    Text(tr("not_set")).tag(Outcome?.none)
                    ForEach(store.outcomes, id: \.self) { Text(label($0)).tag(Outcome?.some($0)) }
                }
            } footer: { Text(tr("attempt_hint")) }
            DatePicker(tr("contact_when"), selection: Binding(
                get: { Dates.parseInstant(store.draft.at) ?? Date() },
                set: { store.draft.at = Dates.instant($0); store.save() }))
            TextField(tr("note"), text: text(\.note), axis: .vertical).lineLimit(4...12)
            TextField(tr("her_words"), text: text(\.herWords), axis: .vertical)
            TextField(tr("actions_agreed"), text: text(\.actionsAgreed), axis: .vertical)
            Stepper(tr("wellbeing_value", store.draft.wellbeing.map { String($0) } ?? tr("not_set")),
                    onIncrement: { store.draft.wellbeing = min((store.draft.wellbeing ?? 4) + 1, 10); store.save() },
                    onDecrement: { store.draft.wellbeing = max((store.draft.wellbeing ?? 6) - 1, 0); store.save() })
            TextField(tr("present"), text: Binding(
                get: { store.draft.present.joined(separator: ", ") },
                set: { store.draft.present = $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }; store.save() }))
            Section(tr("domains_discussed")) {
                ForEach(store.domains, id: \.self) { d in
                    Toggle(label(d), isOn: Binding(
                        get: { store.draft.domains.contains(d) },
                        set: { on in store.draft.domains = on ? store.draft.domains + [d] : store.draft.domains.filter { $0 != d }; store.save() }))
                }
            }
            Section {
                Toggle(tr("next_contact_set"), isOn: Binding(
                    get: { store.draft.nextContactDue != nil },
                    set: { store.draft.nextContactDue = $0 ? Dates.instant(Date().addingTimeInterval(Double(Vocab.core.defaultContactEveryDays) * 86_400)) : nil; store.save() }))
                if let due = Dates.parseInstant(store.draft.nextContactDue) {
                    DatePicker(tr("next_contact"), selection: Binding(
                        get: { due }, set: { store.draft.nextContactDue = Dates.instant($0); store.save() }))
                }
            }
            ErrorLine(message: store.error)
            RowButton(title: tr("save_contact")) { Task { if await store.submit() { dismiss() } } }
                .disabled(store.working)
            // Only while she is checked in to this case: one call records the visit and checks out.
            if store.checkedIn {
                Section {
                    RowButton(title: tr("save_and_check_out"), accessibility: tr("save_and_check_out_label")) {
                        Task {
                            guard await store.submitAndCheckOut() else { return }
                            CheckInReminder.schedule(at: nil)
                            if store.checkOutNotSent != nil { recordedNotSent = true } else { dismiss() }
                        }
                    }
                    .disabled(store.working)
                } footer: { Text(tr("save_and_check_out_hint")) }
            }
            RowButton(title: tr("discard_draft"), role: .destructive) { confirmDiscard = true }
        }
        .navigationTitle(tr("record_contact"))
        .task { await store.start() }
        .confirmationDialog(tr("discard_draft_confirm"), isPresented: $confirmDiscard, titleVisibility: .visible) {
            Button(tr("discard"), role: .destructive) { Task { await store.discard(); dismiss() } }
            Button(tr("keep"), role: .cancel) {}
        }
        // Recorded, but the check-out has not reached the server: said in words before leaving the form.
        .alert(tr("contact_saved"), isPresented: $recordedNotSent) {
            Button(tr("done")) { dismiss() }
        } message: {
            Text(tr("check_out_not_sent") + (store.checkOutNotSent.map { $0.isEmpty ? "" : "\n" + tr("not_sent_because", $0) } ?? ""))
        }
    }
}

/// Concerns: open first, most severe first; raise, escalate, change, close.
struct ConcernsView: View {
    @StateObject var store: ConcernsStore
    @State private var restored = false

    var body: some View {
        List {
            // The new concern is typed into its draft: saved on every keystroke,
            // restored after a killed app, deleted once raised or cleared.
            Section(tr("raise_concern")) {
                DraftTextField(draft: store.concernDraft, title: tr("concern_category"), name: DraftField.category)
                // Shown as the most severe until one is picked (saved with the form, not on opening).
                DraftChoice(draft: store.concernDraft, title: tr("severity"), name: DraftField.severity,
                            options: store.severities, word: Vocab.word, text: label, fallback: store.severities.last)
                DraftTextField(draft: store.concernDraft, title: tr("concern_description"), name: DraftField.description, multiline: true)
                Button(tr("raise_concern")) {
                    Task {
                        if store.concernDraft.value(DraftField.severity) == nil, let most = store.severities.last {
                            store.concernDraft.set(DraftField.severity, Vocab.word(most))
                        }
                        await store.submit()
                    }
                }
                DraftControls(draft: store.concernDraft, restored: restored)
            }
            ErrorLine(message: store.error)
            ForEach(store.concerns) { item in
                Section(tr("concern_line", label(item.concern.severity), item.concern.category)) {
                    Text(tr("concern_status_line", label(item.status), String(item.concern.raisedAt.prefix(10)))
                         + (item.concern.escalatedTo.map { " · " + tr("escalated_to_line", $0) } ?? ""))
                    Text(item.concern.description)
                    if item.open {
                        // Severity, status, escalation: one form with its own draft (kept by the concern's id).
                        RowLink(title: tr("concern_update_action"), accessibility: tr("concern_update_named", item.concern.category)) {
                            ConcernUpdateView(store: store.updateForm(item.id))
                        }
                    } else {
                        RowButton(title: tr("reopen_concern"), accessibility: tr("reopen_concern_named", item.concern.category)) {
                            Task { await store.update(item.id, status: .open) }
                        }
                    }
                }
            }
        }
        .navigationTitle(tr("concerns_title"))
        .task { await store.load(); restored = await store.concernDraft.open() }
        // Back from an update: the list as saved.
        .onAppear { Task { await store.load() } }
    }
}

/// The sign-off queue: a supervisor signs off or returns (with a comment);
/// a practitioner amends a returned visit.
struct ReviewView: View {
    @StateObject var store: ReviewStore

    var body: some View {
        List {
            if store.pending.isEmpty { Text(tr("sign_off_empty")) }
            ForEach(store.pending, id: \.visitId) { visit in
                Section(tr("visit_line", visit.preferredName, String(visit.at.prefix(16)), label(visit.kind))) {
                    // The state in words; returned is also red.
                    Text(label(visit.review) + (visit.comment.map { " — \($0)" } ?? ""))
                        .foregroundStyle(visit.review == .returned || visit.review == .notValid ? .red : .primary)
                    if let by = visit.recordedBy { Text(tr("recorded_by", by)).font(.caption) }
                    // The comment or amendment is typed on its visit, kept as a draft.
                    if let form = store.form, form.caseId == visit.caseId, store.visitId == visit.visitId {
                        if store.isSupervisor {
                            DraftTextField(draft: form, title: tr("sign_off_comment"), name: DraftField.comment, multiline: true)
                            RowButton(title: tr("sign_off_action")) { Task { await store.submitSignOff() } }
                            RowButton(title: tr("return_action")) { Task { await store.submitReturn() } }
                        } else {
                            DraftTextField(draft: form, title: tr("amend_actions"), name: DraftField.actionsAgreed, multiline: true)
                            RowButton(title: tr("amend_action")) { Task { await store.submitAmendment() } }
                        }
                        DraftControls(draft: form, restored: store.restored,
                                      name: tr(store.isSupervisor ? "draft_form_return_comment" : "draft_form_amendment"))
                    } else if store.isSupervisor || visit.review == .returned {
                        RowButton(title: tr(store.isSupervisor ? "review_begin" : "amend_action"),
                                  accessibility: tr(store.isSupervisor ? "review_begin_named" : "amend_named", visit.preferredName)) {
                            Task { await store.begin(visit) }
                        }
                    }
                }
            }
            ErrorLine(message: store.error)
        }
        .navigationTitle(tr("sign_off_title"))
        .task { await store.start() }
    }
}

struct ConflictsView: View {
    @StateObject var store: ConflictStore

    var body: some View {
        List {
            if store.conflicts.isEmpty { Text(tr("conflicts_none")) }
            ForEach(store.conflicts, id: \.field) { conflict in
                Section(conflict.field) {
                    ForEach(conflict.values, id: \.valueJson) { choice in
                        Button(tr("conflict_value", choice.valueJson, choice.by, String(choice.at.prefix(16)))) {
                            Task { await store.pick(field: conflict.field, choice: choice) }
                        }
                    }
                }
            }
            ErrorLine(message: store.error)
        }
        .navigationTitle(tr("conflicts_title"))
        .task { await store.load() }
    }
}

struct SyncView: View {
    @StateObject var store: SyncStore
    @State private var server = "https://"
    @State private var code = ""

    var body: some View {
        Form {
            Section(tr("sync_title")) {
                if store.running {
                    if let p = store.progress { ProgressView(value: p) } else { ProgressView() }
                    Button(tr("cancel")) { store.cancel() }
                }
                Text(tr("last_success", store.lastSuccess.map { $0.formatted() } ?? tr("never")))
                if let s = store.summary { Text(s) }
                ErrorLine(message: store.error)
                Button(tr("sync_now")) { Task { await store.sync() } }.disabled(store.running)
            }
            Section(tr("enrol_title")) {
                TextField(tr("server"), text: $server)
                TextField(tr("enrol_code"), text: $code)
                Button(tr("enrol")) { Task { await store.enrol(server: server, code: code) } }
            }
        }
        .navigationTitle(tr("sync_title"))
    }
}

struct SettingsView: View {
    @StateObject var store: SettingsStore
    @EnvironmentObject var app: AppStore
    @State private var new = ""
    @State private var again = ""

    var body: some View {
        Form {
            Section(tr("change_passphrase")) {
                SecureField(tr("new_passphrase"), text: $new)
                SecureField(tr("passphrase_again"), text: $again)
                Button(tr("change_passphrase")) {
                    let (n, a) = (new, again)
                    new = ""
                    again = ""
                    Task { await store.changePassphrase(n, again: a) }
                }
                if let m = store.message { Text(m) }
            }
            Section(tr("lock_after")) {
                Picker(tr("lock_after"), selection: $app.autoLockSeconds) {
                    Text(tr("seconds_30")).tag(TimeInterval(30))
                    Text(tr("minutes_2")).tag(TimeInterval(120))
                    Text(tr("minutes_5")).tag(TimeInterval(300))
                    Text(tr("minutes_15")).tag(TimeInterval(900))
                }
                Button(tr("quick_unlock_on")) { Task { await app.setQuickUnlock(true) } }
                Button(tr("quick_unlock_off")) { Task { await app.setQuickUnlock(false) } }
                Button(tr("lock_now")) { app.lock() }
            }
            ErrorLine(message: app.error)
        }
        .navigationTitle(tr("settings_title"))
    }
}
