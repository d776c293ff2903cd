import OutreachFFI
import OutreachKit
import SwiftUI

// Screens are thin: every rule lives in the Rust core, every state in
// OutreachKit's stores. One column, large controls, so a contact can be
// recorded one-handed right after a visit.

struct CreateVaultView: View {
    @EnvironmentObject var app: AppStore
    @State private var name = ""
    @State private var team = ""
    @State private var passphrase = ""

    var body: some View {
        Form {
            Section("Set up Outreach on this phone") {
                TextField("Your name", text: $name)
                TextField("Team", text: $team)
                SecureField("Passphrase", text: $passphrase)
            }
            if let error = app.error { Text(error).foregroundStyle(.red) }
            Button("Create") { app.create(passphrase: passphrase, name: name, team: team.isEmpty ? nil : team) }
        }
    }
}

struct UnlockView: View {
    @EnvironmentObject var app: AppStore
    @State private var passphrase = ""

    var body: some View {
        Form {
            Section("Outreach is locked") {
                SecureField("Passphrase", text: $passphrase)
                Button("Unlock") {
                    app.unlock(passphrase: passphrase)
                    passphrase = ""
                }
                if app.quickUnlockAvailable {
                    Button("Unlock with Face ID or passcode") { app.unlockQuick() }
                }
            }
            if let error = app.error { Text(error).foregroundStyle(.red) }
        }
    }
}

struct CaseloadView: View {
    @StateObject var store: CaseloadStore
    let vault: OutreachVault
    @EnvironmentObject var app: AppStore

    var body: some View {
        List(store.rows) { row in
            NavigationLink(destination: CaseView(store: CaseStore(vault: vault, caseId: row.id), vault: vault)) {
                VStack(alignment: .leading) {
                    Text(row.summary.preferredName).bold()
                    // "OVERDUE · next contact …" and "not seen for N days", worded by OutreachKit.
                    Text(row.contactLine)
                        .foregroundStyle(row.overdue ? .red : .primary)
                    if let review = row.reviewLine { Text(review) }
                    if row.summary.openConcerns > 0 { Text("\(row.summary.openConcerns) open concern(s)") }
                    Text(label(row.sync)).font(.caption)
                }
            }
        }
        .navigationTitle("Caseload")
        .toolbar {
            Toggle("Closed", isOn: $store.includeClosed)
            NavigationLink("Sign-off") { ReviewView(store: ReviewStore(vault: vault)) }
            NavigationLink("Sync") { SyncView(store: SyncStore(vault: vault)) }
            NavigationLink("Settings") { SettingsView(vault: vault) }
        }
        .onAppear { store.refresh() }
    }

    private func label(_ s: CaseSyncState) -> String {
        switch s {
        case .neverSynced: return "Not yet synced"
        case .pendingUpload: return "Waiting to upload"
        case .synced: return "Synced"
        case .conflict: return "Conflict to resolve"
        }
    }
}

struct CaseView: View {
    @StateObject var store: CaseStore
    let vault: OutreachVault
    @State private var goal = ""
    @State private var domain: Domain = .housing
    @State private var score = 5.0
    @State private var worry = ""
    @State private var worryKind: WorryKind?
    @State private var exitReason: ExitReason = .completed
    @State private var exitNote = ""
    @State private var transferTo = ""

    var body: some View {
        List {
            // Safe-contact rules first: she may not be safe to text or call.
            Section { ForEach(store.contactRules, id: \.self) { Text($0).bold().foregroundStyle(.red) } }
            if let closed = store.closed { Section { Text(closed).bold() } }
            Section {
                NavigationLink("Record contact") { ContactView(store: ContactStore(vault: vault, caseId: store.caseId)) }
                NavigationLink("Conflicts") { ConflictsView(store: ConflictStore(vault: vault, caseId: store.caseId)) }
            }
            Section("Support plan") {
                ForEach(Array(store.record?.goals ?? [:]).sorted(by: { $0.key < $1.key }), id: \.key) { _, g in
                    Text("\(String(describing: g.domain)): \(g.text)")
                }
                Picker("Domain", selection: $domain) {
                    ForEach([Domain.housing, .mentalHealth, .physicalHealth, .substanceUse, .domesticAbuse, .finance], id: \.self) {
                        Text(String(describing: $0)).tag($0)
                    }
                }
                TextField("New goal", text: $goal)
                Button("Add goal") { store.addGoal(domain: domain, text: goal); goal = "" }
            }
            Section("Signs of Safety map") {
                ForEach(Array(store.record?.signsOfSafety.worries ?? [:]).filter { $0.value.status != .resolved }.sorted(by: { $0.key < $1.key }), id: \.key) { id, w in
                    Button("Worry\(w.kind.map { " (\(String(describing: $0)))" } ?? ""): \(w.text)") { store.resolveSos(entryId: id) }
                }
                ForEach(store.record?.signsOfSafety.workingWell.values.filter { $0.status != .resolved }.map(\.text) ?? [], id: \.self) { Text("Working well: \($0)") }
                ForEach(store.record?.signsOfSafety.needsToHappen.values.filter { $0.status != .resolved }.map(\.text) ?? [], id: \.self) { Text("Needs to happen: \($0)") }
                TextField("New worry", text: $worry)
                Picker("Kind", selection: $worryKind) {
                    Text("Not set").tag(WorryKind?.none)
                    Text("Harm").tag(WorryKind?.some(.harm))
                    Text("Danger").tag(WorryKind?.some(.danger))
                    Text("Complicating factor").tag(WorryKind?.some(.complicating))
                }
                Button("Add worry") { store.addSosEntry(column: .worries, text: worry, kind: worryKind); worry = "" }
            }
            Section("Signs of Safety scale") {
                Slider(value: $score, in: 0...10, step: 1)
                Button("Add reading: \(Int(score))") { store.addScale(score: Int64(score)) }
            }
            Section("Concerns") {
                ForEach(Array(store.record?.concerns ?? [:]).sorted(by: { $0.key < $1.key }), id: \.key) { _, c in
                    Text("\(String(describing: c.severity)) · \(c.category)")
                }
            }
            Section("Timeline") {
                ForEach(store.timeline, id: \.id) { Text("\(String($0.at.prefix(10)))  \($0.kind): \($0.summary)") }
            }
            Section("Programme") {
                if store.closed != nil {
                    Button("Reopen case") { store.reopen() }
                } else {
                    Picker("She left because", selection: $exitReason) {
                        ForEach([ExitReason.completed, .disengaged, .withdrew, .movedAway, .pregnancy, .custody, .transferred, .other], id: \.self) {
                            Text(String(describing: $0)).tag($0)
                        }
                    }
                    TextField("Note (optional)", text: $exitNote)
                    Button("Close case") { store.close(reason: exitReason, note: exitNote.isEmpty ? nil : exitNote) }
                }
                TextField("Transfer to (practitioner's name)", text: $transferTo)
                Button("Transfer case") { Task { await store.transfer(to: transferTo); transferTo = "" } }
                if let t = store.transferred { Text(t) }
            }
            if let error = store.error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(store.record?.profile.preferredName ?? "")
        .onAppear { store.load() }
    }
}

struct ContactView: View {
    @StateObject var store: ContactStore
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        Form {
            Picker("Type", selection: Binding(get: { store.draft.kind ?? .home }, set: { store.draft.kind = $0; store.save() })) {
                ForEach([ContactKind.home, .community, .office, .phone, .text, .attempted], id: \.self) {
                    Text(String(describing: $0)).tag($0)
                }
            }
            Picker("Outcome", selection: Binding(get: { store.draft.outcome ?? .completed }, set: { store.draft.outcome = $0; store.save() })) {
                ForEach([Outcome.completed, .noAnswer, .cancelled, .rescheduled], id: \.self) { Text(String(describing: $0)).tag($0) }
            }
            TextField("When (2026-11-27T10:00:00Z)", text: Binding(get: { store.draft.at ?? "" }, set: { store.draft.at = $0; store.save() }))
            TextField("Note", text: Binding(get: { store.draft.note ?? "" }, set: { store.draft.note = $0; store.save() }), axis: .vertical)
                .lineLimit(4...12)
            TextField("Her own words", text: Binding(get: { store.draft.herWords ?? "" }, set: { store.draft.herWords = $0; store.save() }))
            TextField("Who was present (comma separated)", text: Binding(
                get: { store.draft.present.joined(separator: ", ") },
                set: { store.draft.present = $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }; store.save() }))
            TextField("Next contact due", text: Binding(get: { store.draft.nextContactDue ?? "" }, set: { store.draft.nextContactDue = $0.isEmpty ? nil : $0; store.save() }))
            if let error = store.error { Text(error).foregroundStyle(.red) }
            Button("Save contact") { if store.submit() { dismiss() } }
        }
        .navigationTitle("Record a contact")
    }
}

struct ReviewView: View {
    @StateObject var store: ReviewStore
    @State private var comment = ""
    @State private var actionsAgreed = ""

    var body: some View {
        List {
            if store.pending.isEmpty { Text("Nothing waiting for sign-off") }
            TextField(store.isSupervisor ? "Comment (needed to return a visit)" : "Actions agreed (to amend a returned visit)",
                      text: store.isSupervisor ? $comment : $actionsAgreed)
            ForEach(store.pending, id: \.visitId) { visit in
                Section("\(visit.preferredName) · \(String(visit.at.prefix(16)))") {
                    Text(label(visit)).foregroundStyle(visit.review == .returned ? .red : .primary)
                    if let by = visit.recordedBy { Text("Recorded by \(by)").font(.caption) }
                    if store.isSupervisor {
                        Button("Sign off") { store.signOff(visit, comment: comment.isEmpty ? nil : comment); comment = "" }
                        Button("Return for amendment") { store.returnForAmendment(visit, comment: comment); comment = "" }
                    } else if visit.review == .returned {
                        Button("Amend") {
                            store.amend(visit, changes: VisitDraft(actionsAgreed: actionsAgreed.isEmpty ? nil : actionsAgreed))
                            actionsAgreed = ""
                        }
                    }
                }
            }
            if let error = store.error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle("Sign-off")
        .onAppear { store.load() }
    }

    private func label(_ v: PendingVisit) -> String {
        switch v.review {
        case .awaiting: return "Awaiting sign-off"
        case .amended: return "Amended, awaiting sign-off"
        case .returned: return "Returned: \(v.comment ?? "")"
        case .signedOff: return "Signed off"
        case .notValid: return "Sign-off not valid: review again"
        }
    }
}

struct ConflictsView: View {
    @StateObject var store: ConflictStore

    var body: some View {
        List {
            if store.conflicts.isEmpty { Text("No conflicts") }
            ForEach(store.conflicts, id: \.field) { conflict in
                Section(conflict.field) {
                    ForEach(conflict.values, id: \.valueJson) { choice in
                        Button("\(choice.valueJson) — \(choice.by), \(String(choice.at.prefix(16)))") {
                            store.pick(field: conflict.field, choice: choice)
                        }
                    }
                }
            }
        }
        .navigationTitle("Conflicts")
        .onAppear { store.load() }
    }
}

struct SyncView: View {
    @StateObject var store: SyncStore
    @State private var server = "https://"
    @State private var code = ""

    var body: some View {
        Form {
            Section("Sync") {
                if store.running {
                    if let p = store.progress { ProgressView(value: p) } else { ProgressView() }
                    Button("Cancel") { store.cancel() }
                }
                Text("Last success: \(store.lastSuccess.map { $0.formatted() } ?? "never")")
                if let s = store.summary { Text(s) }
                if let e = store.error { Text(e).foregroundStyle(.red) }
                Button("Sync now") { Task { await store.sync() } }.disabled(store.running)
            }
            Section("Enrol this phone") {
                TextField("Server", text: $server)
                TextField("Code from your admin", text: $code)
                Button("Enrol") { Task { await store.enrol(server: server, code: code) } }
            }
        }
        .navigationTitle("Sync")
    }
}

struct SettingsView: View {
    let vault: OutreachVault
    @EnvironmentObject var app: AppStore
    @State private var new = ""
    @State private var again = ""
    @State private var message: String?

    var body: some View {
        Form {
            Section("Passphrase") {
                SecureField("New passphrase", text: $new)
                SecureField("Again", text: $again)
                Button("Change passphrase") {
                    if new != again {
                        message = "The two passphrases are different."
                    } else {
                        do {
                            try vault.changePassphrase(newPassphrase: new, platformKey: app.keyStore)
                            message = "Passphrase changed."
                        } catch { message = Messages.of(error) }
                    }
                    new = ""
                    again = ""
                }
                if let m = message { Text(m) }
            }
            Section("Lock after the app has been in the background for") {
                Picker("Auto-lock", selection: $app.autoLockSeconds) {
                    Text("30 s").tag(TimeInterval(30))
                    Text("2 min").tag(TimeInterval(120))
                    Text("5 min").tag(TimeInterval(300))
                    Text("15 min").tag(TimeInterval(900))
                }
                Button("Quick unlock on") { app.setQuickUnlock(true) }
                Button("Quick unlock off") { app.setQuickUnlock(false) }
                Button("Lock now") { app.lock() }
            }
        }
        .navigationTitle("Settings")
    }
}
