package outreach.app

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.launch
import outreach.shell.AutoLock
import outreach.shell.CaseModel
import outreach.shell.ConflictModel
import outreach.shell.ContactFormModel
import outreach.shell.EnrolModel
import outreach.shell.OutreachRepository
import outreach.shell.PlanModel
import outreach.shell.ReviewModel
import outreach.shell.SettingsModel
import outreach.shell.SyncModel
import outreach.shell.TransferModel
import outreach.shell.UnlockModel
import uniffi.outreach_ffi.CaseSyncState
import uniffi.outreach_ffi.ContactKind
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.ExitReason
import uniffi.outreach_ffi.Outcome
import uniffi.outreach_ffi.PlatformKeyStore
import uniffi.outreach_ffi.ReviewState
import uniffi.outreach_ffi.ScaleView
import uniffi.outreach_ffi.SosColumn
import uniffi.outreach_ffi.VisitDraft
import uniffi.outreach_ffi.WorryKind

// Screens are thin: every rule lives in the core, every state in the
// `outreach` module's state holders. Big touch targets, one column, so a
// contact can be recorded one-handed right after a visit.

private val pad = Modifier.padding(16.dp)

@Composable
fun CreateVaultScreen(create: (String, String, String?) -> Unit) {
    var name by remember { mutableStateOf("") }
    var team by remember { mutableStateOf("") }
    var pass by remember { mutableStateOf("") }
    var error by remember { mutableStateOf<String?>(null) }
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Set up Outreach on this phone", style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(name, { name = it }, label = { Text("Your name") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(team, { team = it }, label = { Text("Team") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(pass, { pass = it }, label = { Text("Passphrase") }, visualTransformation = PasswordVisualTransformation(),
            modifier = Modifier.fillMaxWidth())
        error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = {
            error = runCatching { create(pass, name, team.ifBlank { null }) }.exceptionOrNull()?.let(outreach.shell.Messages::of)
        }, modifier = Modifier.fillMaxWidth()) { Text("Create") }
    }
}

@Composable
fun UnlockScreen(
    dir: String,
    keyStore: PlatformKeyStore,
    quickPrompt: (onSuccess: () -> Unit, onError: (String) -> Unit) -> Unit,
    unlocked: (OutreachRepository) -> Unit,
) {
    val model = remember { UnlockModel(dir, keyStore) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    var pass by remember { mutableStateOf("") }
    var quickError by remember { mutableStateOf<String?>(null) }
    val quickAvailable = remember { model.quickUnlockAvailable() }
    LaunchedEffect(state) { (state as? UnlockModel.State.Unlocked)?.let { unlocked(it.repository) } }
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Outreach is locked", style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(pass, { pass = it }, label = { Text("Passphrase") }, visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password), modifier = Modifier.fillMaxWidth())
        when (val s = state) {
            is UnlockModel.State.Error -> Text(s.message, color = MaterialTheme.colorScheme.error)
            is UnlockModel.State.Wiped -> Text("This phone's records were wiped. Ask your admin to set it up again.")
            else -> {}
        }
        Button(onClick = { scope.launch { model.unlock(pass); pass = "" } }, modifier = Modifier.fillMaxWidth()) { Text("Unlock") }
        if (quickAvailable) {
            OutlinedButton(onClick = {
                quickPrompt({ scope.launch { model.unlockQuick(QuickUnlock.keyStore) } }, { quickError = it })
            }, modifier = Modifier.fillMaxWidth()) { Text("Unlock with fingerprint or PIN") }
            quickError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        }
    }
}

@Composable
fun CaseloadScreen(repo: OutreachRepository, openCase: (String) -> Unit, sync: () -> Unit, settings: () -> Unit, review: () -> Unit) {
    val rows by repo.caseload.collectAsState()
    val scope = rememberCoroutineScope()
    var showClosed by remember { mutableStateOf(repo.includeClosed) }
    LaunchedEffect(Unit) { repo.refresh() }
    Column(Modifier.fillMaxSize()) {
        Row(pad, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Text("Caseload", style = MaterialTheme.typography.headlineSmall, modifier = Modifier.weight(1f))
            OutlinedButton(onClick = review) { Text("Sign-off") }
            OutlinedButton(onClick = sync) { Text("Sync") }
            OutlinedButton(onClick = settings) { Text("Settings") }
        }
        Row(Modifier.padding(horizontal = 16.dp)) {
            FilterChip(showClosed, { showClosed = !showClosed; scope.launch { repo.showClosed(showClosed) } }, { Text("Show closed cases") })
        }
        LazyColumn {
            items(rows, key = { it.summary.id }) { row ->
                val s = row.summary
                Column(Modifier.fillMaxWidth().clickable { openCase(s.id) }.padding(16.dp)) {
                    Text(s.preferredName, fontWeight = FontWeight.Bold)
                    // "OVERDUE · next contact …" and "not seen for N days", worded by the shell layer.
                    Text(row.contactLine, color = if (row.overdue) Color(0xFFB00020) else Color.Unspecified)
                    row.reviewLine?.let { Text(it) }
                    if (s.openConcerns > 0u) Text("${s.openConcerns} open concern(s), highest ${s.highestOpenSeverity}")
                    Text(
                        when (row.sync) {
                            CaseSyncState.NEVER_SYNCED -> "Not yet synced"
                            CaseSyncState.PENDING_UPLOAD -> "Waiting to upload"
                            CaseSyncState.SYNCED -> "Synced"
                            CaseSyncState.CONFLICT -> "Conflict to resolve"
                        },
                        style = MaterialTheme.typography.labelMedium,
                    )
                }
            }
        }
    }
}

@Composable
fun CaseScreen(repo: OutreachRepository, caseId: String, record: () -> Unit, plan: () -> Unit, conflicts: () -> Unit) {
    val model = remember(caseId) { CaseModel(repo, caseId) }
    val state by model.state.collectAsState()
    val transfer = remember(caseId) { TransferModel(repo, caseId) }
    val transferState by transfer.state.collectAsState()
    val scope = rememberCoroutineScope()
    var transferTo by remember { mutableStateOf("") }
    LaunchedEffect(caseId) { model.load() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Text(state.case?.profile?.preferredName ?: "", style = MaterialTheme.typography.headlineSmall) }
        state.closed?.let { item { Text(it, fontWeight = FontWeight.Bold) } }
        // Safe-contact rules come first: she may not be safe to text or call.
        items(state.contactRules) { Text(it, fontWeight = FontWeight.Bold, color = Color(0xFFB00020)) }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = record) { Text("Record contact") }
                OutlinedButton(onClick = plan) { Text("Plan") }
                OutlinedButton(onClick = conflicts) { Text("Conflicts") }
            }
        }
        state.error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
        item { Text("Support plan", style = MaterialTheme.typography.titleMedium) }
        items(state.goalsByDomain.entries.toList()) { (domain, goals) -> Text("$domain: ${goals.joinToString("; ")}") }
        item { Text("Signs of Safety", style = MaterialTheme.typography.titleMedium) }
        items(state.worries) { Text("Worry: $it") }
        items(state.workingWell) { Text("Working well: $it") }
        items(state.needsToHappen) { Text("Needs to happen: $it") }
        items(state.dangerStatements) { Text("Danger → safety goal: $it") }
        item { Text("Scale (latest): ${state.latestScale ?: "-"} / 10") }
        item { Text("Open concerns", style = MaterialTheme.typography.titleMedium) }
        items(state.openConcerns) { (severity, category) -> Text("$severity · $category") }
        item { Text("Timeline", style = MaterialTheme.typography.titleMedium) }
        items(state.timeline) { Text("${it.at.take(10)}  ${it.kind}: ${it.summary}") }
        // Supervisors move a case to another practitioner; anyone else is told why not.
        item { Text("Transfer", style = MaterialTheme.typography.titleMedium) }
        item {
            OutlinedTextField(transferTo, { transferTo = it }, label = { Text("Practitioner's name") }, modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedButton(onClick = { scope.launch { transfer.transfer(transferTo); transferTo = "" } },
                enabled = transferState !is TransferModel.State.Working) { Text("Transfer case") }
        }
        when (val t = transferState) {
            is TransferModel.State.Done -> item { Text(t.message) }
            is TransferModel.State.Error -> item { Text(t.message, color = MaterialTheme.colorScheme.error) }
            else -> {}
        }
    }
}

@Composable
fun ContactScreen(repo: OutreachRepository, caseId: String, done: () -> Unit) {
    val model = remember(caseId) { ContactFormModel(repo, caseId) }
    val draft by model.draft.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    LaunchedEffect(caseId) {
        // A draft left by a killed app is restored, not lost.
        repo.read { it.drafts() }.firstOrNull { it.caseId == caseId }?.let { model.restore(it.draftId) }
    }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Text("Record a contact", style = MaterialTheme.typography.headlineSmall) }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                ContactKind.entries.take(4).forEach { k ->
                    FilterChip(draft.kind == k, { scope.launch { model.setKind(k) } }, { Text(k.name.lowercase()) })
                }
            }
        }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                Outcome.entries.forEach { o ->
                    FilterChip(draft.outcome == o, { scope.launch { model.setOutcome(o) } }, { Text(o.name.lowercase()) })
                }
            }
        }
        item {
            OutlinedTextField(draft.at ?: "", { v -> scope.launch { model.setAt(v) } }, label = { Text("When (2026-11-27T10:00:00Z)") },
                modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedTextField(draft.note ?: "", { v -> scope.launch { model.setNote(v) } }, label = { Text("Note") },
                modifier = Modifier.fillMaxWidth(), minLines = 4)
        }
        item {
            OutlinedTextField(draft.herWords ?: "", { v -> scope.launch { model.setHerWords(v) } }, label = { Text("Her own words") },
                modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedTextField(draft.present.joinToString(", "), { v -> scope.launch { model.setPresent(v) } },
                label = { Text("Who was present (comma separated)") }, modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedTextField(draft.nextContactDue ?: "", { v -> scope.launch { model.setNextContact(v) } },
                label = { Text("Next contact due") }, modifier = Modifier.fillMaxWidth())
        }
        items(Domain.entries.toList()) { d ->
            FilterChip(d in draft.domains, { scope.launch { model.toggleDomain(d) } }, { Text(d.name.lowercase()) })
        }
        error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
        item {
            Button(onClick = { scope.launch { if (model.submit() != null) done() } }, modifier = Modifier.fillMaxWidth()) { Text("Save contact") }
        }
    }
}

@Composable
fun PlanScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { PlanModel(repo, caseId) }
    val case = remember(caseId) { CaseModel(repo, caseId) }
    val caseState by case.state.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    var action by remember { mutableStateOf("") }
    LaunchedEffect(caseId) { case.load() }
    var text by remember { mutableStateOf("") }
    var domain by remember { mutableStateOf(Domain.HOUSING) }
    var score by remember { mutableStateOf("") }
    var worry by remember { mutableStateOf("") }
    var worryKind by remember { mutableStateOf<WorryKind?>(null) }
    var exitReason by remember { mutableStateOf(ExitReason.COMPLETED) }
    var exitNote by remember { mutableStateOf("") }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Text("Support plan", style = MaterialTheme.typography.headlineSmall) }
        item { OutlinedTextField(action, { action = it }, label = { Text("Action (then tap a goal)") }, modifier = Modifier.fillMaxWidth()) }
        items(caseState.goals) { (goalId, label) ->
            OutlinedButton(onClick = { scope.launch { model.addAction(goalId, action); action = ""; case.load() } },
                modifier = Modifier.fillMaxWidth()) { Text("+ action: $label") }
        }
        items(Domain.entries.toList()) { d -> FilterChip(domain == d, { domain = d }, { Text(d.name.lowercase()) }) }
        item { OutlinedTextField(text, { text = it }, label = { Text("Goal") }, modifier = Modifier.fillMaxWidth()) }
        item { Button(onClick = { scope.launch { model.addGoal(domain, text, null); text = ""; case.load() } }) { Text("Add goal") } }
        item {
            OutlinedTextField(score, { score = it }, label = { Text("Scale reading 0–10 (her view)") },
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number))
        }
        item { Button(onClick = { scope.launch { model.addScale(score.toLongOrNull() ?: -1, ScaleView.WOMAN) } }) { Text("Add reading") } }
        item { Text("Signs of Safety: worries", style = MaterialTheme.typography.titleMedium) }
        item { OutlinedTextField(worry, { worry = it }, label = { Text("Worry") }, modifier = Modifier.fillMaxWidth()) }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                WorryKind.entries.forEach { k ->
                    FilterChip(worryKind == k, { worryKind = if (worryKind == k) null else k }, { Text(CaseModel.worryLabel(k)) })
                }
            }
        }
        item {
            Button(onClick = { scope.launch { model.addSosEntry(SosColumn.WORRIES, worry, worryKind); worry = ""; case.load() } }) {
                Text("Add worry")
            }
        }
        items(caseState.sosEntries.filter { !it.resolved }) { entry ->
            OutlinedButton(onClick = { scope.launch { model.resolveSos(entry.id); case.load() } }, modifier = Modifier.fillMaxWidth()) {
                Text("Resolved: ${entry.text}")
            }
        }
        item { Text("Programme", style = MaterialTheme.typography.titleMedium) }
        if (caseState.closed != null) {
            item { Text(caseState.closed ?: "") }
            item { Button(onClick = { scope.launch { model.reopenCase(); case.load() } }) { Text("Reopen case") } }
        } else {
            items(ExitReason.entries.toList()) { r ->
                FilterChip(exitReason == r, { exitReason = r }, { Text(r.name.lowercase().replace('_', ' ')) })
            }
            item { OutlinedTextField(exitNote, { exitNote = it }, label = { Text("Why she left (optional)") }, modifier = Modifier.fillMaxWidth()) }
            item { OutlinedButton(onClick = { scope.launch { model.closeCase(exitReason, exitNote); case.load() } }) { Text("Close case") } }
        }
        error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
    }
}

@Composable
fun ReviewScreen(repo: OutreachRepository) {
    val model = remember { ReviewModel(repo) }
    val pending by model.pending.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    var supervisor by remember { mutableStateOf(false) }
    var comment by remember { mutableStateOf("") }
    var actions by remember { mutableStateOf("") }
    LaunchedEffect(Unit) {
        supervisor = repo.read { it.syncAccount()?.role == "supervisor" }
        model.load()
    }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item {
            Text(if (pending.isEmpty()) "Nothing waiting for sign-off" else "Sign-off", style = MaterialTheme.typography.headlineSmall)
        }
        item {
            OutlinedTextField(if (supervisor) comment else actions, { if (supervisor) comment = it else actions = it },
                label = { Text(if (supervisor) "Comment (needed to return a visit)" else "Actions agreed (to amend a returned visit)") },
                modifier = Modifier.fillMaxWidth())
        }
        items(pending, key = { it.visitId }) { v ->
            Column {
                Text("${v.preferredName} · ${v.at.take(16)} · ${v.kind.name.lowercase()}", fontWeight = FontWeight.Bold)
                Text(
                    when (v.review) {
                        ReviewState.AWAITING -> "Awaiting sign-off"
                        ReviewState.AMENDED -> "Amended, awaiting sign-off"
                        ReviewState.RETURNED -> "Returned: ${v.comment ?: ""}"
                        ReviewState.SIGNED_OFF -> "Signed off"
                        ReviewState.NOT_VALID -> "Sign-off not valid: review again"
                    },
                    color = if (v.review == ReviewState.RETURNED) Color(0xFFB00020) else Color.Unspecified,
                )
                v.recordedBy?.let { Text("Recorded by $it", style = MaterialTheme.typography.labelMedium) }
                if (supervisor) {
                    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                        Button(onClick = { scope.launch { model.signOff(v.caseId, v.visitId, comment); comment = "" } }) { Text("Sign off") }
                        OutlinedButton(onClick = { scope.launch { model.returnForAmendment(v.caseId, v.visitId, comment); comment = "" } }) {
                            Text("Return")
                        }
                    }
                } else if (v.review == ReviewState.RETURNED) {
                    Button(onClick = {
                        scope.launch { model.amend(v.caseId, v.visitId, VisitDraft(actionsAgreed = actions.ifBlank { null })); actions = "" }
                    }) { Text("Amend") }
                }
            }
        }
        error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
    }
}

@Composable
fun ConflictsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { ConflictModel(repo, caseId) }
    val conflicts by model.conflicts.collectAsState()
    val scope = rememberCoroutineScope()
    LaunchedEffect(caseId) { model.load() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Text(if (conflicts.isEmpty()) "No conflicts" else "Pick the right value", style = MaterialTheme.typography.headlineSmall) }
        items(conflicts) { c ->
            Column {
                Text(c.field, fontWeight = FontWeight.Bold)
                c.values.forEachIndexed { i, v ->
                    OutlinedButton(onClick = { scope.launch { model.pick(c.field, i) } }, modifier = Modifier.fillMaxWidth()) {
                        Text("${v.valueJson} — ${v.by}, ${v.at.take(16)}")
                    }
                }
            }
        }
    }
}

@Composable
fun SyncScreen(repo: OutreachRepository, enrol: () -> Unit) {
    val model = remember { SyncModel(repo) { java.time.Instant.now().toString() } }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Sync", style = MaterialTheme.typography.headlineSmall)
        if (state.running) {
            val total = state.total
            if (total != null && total > 0u) LinearProgressIndicator(progress = { state.done.toFloat() / total.toFloat() })
            else LinearProgressIndicator()
            OutlinedButton(onClick = model::cancel) { Text("Cancel") }
        }
        Text("Last success: ${state.lastSuccess ?: "never"}")
        state.summary?.let { Text(it) }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { scope.launch { model.sync() } }, enabled = !state.running, modifier = Modifier.fillMaxWidth()) { Text("Sync now") }
        OutlinedButton(onClick = enrol, modifier = Modifier.fillMaxWidth()) { Text("Enrol this phone") }
    }
}

@Composable
fun EnrolScreen(repo: OutreachRepository, done: () -> Unit) {
    val model = remember { EnrolModel(repo) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    var server by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Enrol this phone", style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(server, { server = it }, label = { Text("Server") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(code, { code = it }, label = { Text("Code from your admin") }, modifier = Modifier.fillMaxWidth())
        when (val s = state) {
            is EnrolModel.State.Error -> Text(s.message, color = MaterialTheme.colorScheme.error)
            is EnrolModel.State.Enrolled -> { Text("Enrolled as ${s.who}"); Button(onClick = done) { Text("Done") } }
            is EnrolModel.State.Working -> LinearProgressIndicator()
            else -> {}
        }
        Button(onClick = { scope.launch { model.enrol(server, code) } }, modifier = Modifier.fillMaxWidth()) { Text("Enrol") }
    }
}

@Composable
fun SettingsScreen(repo: OutreachRepository, keyStore: PlatformKeyStore, autoLock: AutoLock, lock: () -> Unit) {
    val model = remember { SettingsModel(repo, keyStore) }
    val message by model.message.collectAsState()
    val scope = rememberCoroutineScope()
    var new by remember { mutableStateOf("") }
    var again by remember { mutableStateOf("") }
    var timeout by remember { mutableStateOf(autoLock.timeoutSeconds) }
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Settings", style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(new, { new = it }, label = { Text("New passphrase") }, visualTransformation = PasswordVisualTransformation())
        OutlinedTextField(again, { again = it }, label = { Text("Again") }, visualTransformation = PasswordVisualTransformation())
        Button(onClick = { scope.launch { model.changePassphrase(new, again); new = ""; again = "" } }) { Text("Change passphrase") }
        message?.let { Text(it) }
        Text("Lock after the app has been in the background for:")
        Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
            AutoLock.CHOICES.forEach { s ->
                FilterChip(timeout == s, { timeout = s; autoLock.timeoutSeconds = s }, { Text(if (s < 60) "${s}s" else "${s / 60} min") })
            }
        }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = { scope.launch { model.setQuickUnlock(true, QuickUnlock.keyStore) } }) { Text("Quick unlock on") }
            OutlinedButton(onClick = { scope.launch { model.setQuickUnlock(false, QuickUnlock.keyStore) } }) { Text("Off") }
        }
        OutlinedButton(onClick = lock, modifier = Modifier.fillMaxWidth()) { Text("Lock now") }
    }
}
