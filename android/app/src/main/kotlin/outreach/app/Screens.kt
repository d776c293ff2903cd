package outreach.app

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.launch
import outreach.shell.AutoLock
import outreach.shell.ConflictModel
import outreach.shell.DraftsModel
import outreach.shell.RevisionForm
import outreach.shell.EnrolModel
import outreach.shell.OutreachRepository
import outreach.shell.ReviewModel
import outreach.shell.SettingsModel
import outreach.shell.SetupModel
import outreach.shell.SyncModel
import outreach.shell.UnlockModel
import uniffi.outreach_ffi.CaseSyncState
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.PlatformKeyStore
import uniffi.outreach_ffi.ReviewState

// Screens are thin: every rule lives in the core, every state in the
// `outreach` module's state holders (which run every core call off the main
// thread), every word in strings.xml. Big touch targets, one column, so a
// contact can be recorded one-handed right after a visit.

val pad = Modifier.padding(16.dp)

/** First run: set up the vault (Argon2id runs off the main thread; progress meanwhile). */
@Composable
fun SetupScreen(dir: String, keyStore: PlatformKeyStore, ready: (OutreachRepository) -> Unit) {
    val model = remember { SetupModel(dir, keyStore) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    var name by remember { mutableStateOf("") }
    var team by remember { mutableStateOf("") }
    var pass by remember { mutableStateOf("") }
    var again by remember { mutableStateOf("") }
    LaunchedEffect(state) { (state as? SetupModel.State.Ready)?.let { ready(it.repository) } }
    Column(pad.fillMaxSize().verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Heading(stringResource(R.string.setup_title), large = true)
        OutlinedTextField(name, { name = it }, label = { Text(stringResource(R.string.your_name)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(team, { team = it }, label = { Text(stringResource(R.string.team)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(pass, { pass = it }, label = { Text(stringResource(R.string.passphrase)) },
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password), modifier = Modifier.fillMaxWidth())
        OutlinedTextField(again, { again = it }, label = { Text(stringResource(R.string.passphrase_again)) },
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password), modifier = Modifier.fillMaxWidth())
        when (val s = state) {
            is SetupModel.State.Working -> LinearProgressIndicator(Modifier.fillMaxWidth())
            is SetupModel.State.Error -> ErrorText(s.message)
            else -> {}
        }
        Button(onClick = { scope.launch { model.create(name, team, pass, again) } }, enabled = state !is SetupModel.State.Working,
            modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.create)) }
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
    var quickAvailable by remember { mutableStateOf(false) }
    LaunchedEffect(Unit) { quickAvailable = model.quickUnlockAvailable() }
    LaunchedEffect(state) { (state as? UnlockModel.State.Unlocked)?.let { unlocked(it.repository) } }
    Column(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Heading(stringResource(R.string.locked_title), large = true)
        OutlinedTextField(pass, { pass = it }, label = { Text(stringResource(R.string.passphrase)) },
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password), modifier = Modifier.fillMaxWidth())
        when (val s = state) {
            is UnlockModel.State.Working -> LinearProgressIndicator(Modifier.fillMaxWidth())
            is UnlockModel.State.Error -> ErrorText(s.message)
            is UnlockModel.State.Wiped -> ErrorText(stringResource(R.string.wiped))
            else -> {}
        }
        Button(onClick = { scope.launch { model.unlock(pass); pass = "" } }, enabled = state !is UnlockModel.State.Working,
            modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.unlock)) }
        if (quickAvailable) {
            OutlinedButton(onClick = {
                quickPrompt({ scope.launch { model.unlockQuick(QuickUnlock.keyStore) } }, { quickError = it })
            }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.unlock_quick)) }
            ErrorText(quickError)
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CaseloadScreen(
    repo: OutreachRepository,
    openCase: (String) -> Unit,
    newCase: () -> Unit,
    sync: () -> Unit,
    settings: () -> Unit,
    review: () -> Unit,
    alerts: () -> Unit = {},
    report: () -> Unit = {},
    /** Opens the screen of an unfinished form (a route of [draftRoute]), which restores its draft. */
    openDraft: (String) -> Unit = {},
) {
    val rows by repo.caseload.collectAsState()
    val scope = rememberCoroutineScope()
    var showClosed by remember { mutableStateOf(repo.includeClosed) }
    // Forms left unfinished (a killed app, a flat battery), offered first: contact records and the other forms.
    val drafts = remember { DraftsModel(repo) }
    val unfinished by drafts.items.collectAsState()
    var confirmDiscard by remember { mutableStateOf<String?>(null) }
    LaunchedEffect(Unit) { repo.refresh(); drafts.load() }
    val open = stringResource(R.string.open_case_action)
    Column(Modifier.fillMaxSize()) {
        Column(pad, verticalArrangement = Arrangement.spacedBy(8.dp)) {
            Heading(stringResource(R.string.caseload_title), large = true)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = newCase, modifier = tall) { Text(stringResource(R.string.new_case)) }
                OutlinedButton(onClick = review, modifier = tall) { Text(stringResource(R.string.sign_off_title)) }
                OutlinedButton(onClick = alerts, modifier = tall) { Text(stringResource(R.string.alerts_title)) }
                OutlinedButton(onClick = report, modifier = tall) { Text(stringResource(R.string.report_title)) }
                OutlinedButton(onClick = sync, modifier = tall) { Text(stringResource(R.string.sync_title)) }
                OutlinedButton(onClick = settings, modifier = tall) { Text(stringResource(R.string.settings_title)) }
            }
            FilterChip(showClosed, { showClosed = !showClosed; scope.launch { repo.showClosed(showClosed) } },
                { Text(stringResource(R.string.show_closed)) }, modifier = tall)
            if (unfinished.isNotEmpty()) {
                Heading(stringResource(R.string.drafts_title))
                unfinished.forEach { d ->
                    // A new case: her name as typed in the draft, or "not named yet" (there is no case yet).
                    val line = stringResource(R.string.draft_line, stringResource(draftFormLabel(d.form, d.revises)),
                        d.name ?: stringResource(if (d.form == FormKind.OPEN_CASE) R.string.draft_case_new else R.string.draft_case_unknown),
                        d.updatedAt.take(16).replace('T', ' '))
                    Column {
                        Text(line)
                        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            val openNamed = stringResource(R.string.draft_open_named, line)
                            OutlinedButton(onClick = { openDraft(draftRoute(d)) }, modifier = tall.semantics { contentDescription = openNamed }) {
                                Text(stringResource(R.string.draft_open))
                            }
                            OutlinedButton(onClick = { confirmDiscard = d.draftId }, modifier = tall) { Text(stringResource(R.string.discard)) }
                        }
                    }
                }
            }
        }
        LazyColumn {
            items(rows, key = { it.summary.id }) { row ->
                val s = row.summary
                Column(
                    Modifier.fillMaxWidth().then(tall).clickable(onClickLabel = open) { openCase(s.id) }.padding(16.dp),
                ) {
                    Text(s.preferredName, fontWeight = FontWeight.Bold)
                    // "OVERDUE · next contact …": the word says it, the colour repeats it.
                    Text(row.contactLine, color = if (row.overdue) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface)
                    row.reviewLine?.let { Text(it) }
                    if (s.openConcerns > 0u) {
                        Text(pluralStringResource(R.plurals.open_concerns, s.openConcerns.toInt(), s.openConcerns.toInt(),
                            s.highestOpenSeverity?.let { label(it) } ?: ""))
                    }
                    Text(
                        stringResource(
                            when (row.sync) {
                                CaseSyncState.NEVER_SYNCED -> R.string.sync_never
                                CaseSyncState.PENDING_UPLOAD -> R.string.sync_pending
                                CaseSyncState.SYNCED -> R.string.sync_done
                                CaseSyncState.CONFLICT -> R.string.sync_conflict
                                CaseSyncState.NEEDS_ATTENTION -> R.string.sync_attention
                            },
                        ),
                        style = MaterialTheme.typography.labelMedium,
                    )
                }
            }
        }
    }
    confirmDiscard?.let { id ->
        AlertDialog(
            onDismissRequest = { confirmDiscard = null },
            title = { Text(stringResource(R.string.discard_form)) },
            text = { Text(stringResource(R.string.discard_form_confirm)) },
            confirmButton = {
                TextButton(onClick = { confirmDiscard = null; scope.launch { drafts.discard(id) } }, modifier = tall) {
                    Text(stringResource(R.string.discard))
                }
            },
            dismissButton = { TextButton(onClick = { confirmDiscard = null }, modifier = tall) { Text(stringResource(R.string.keep)) } },
        )
    }
}

/** The form's name in plain words (a contact record when [form] is null; a revision says what it revises). */
fun draftFormLabel(form: FormKind?, revises: String? = null): Int = when (form) {
    null -> R.string.draft_form_contact
    FormKind.REFERRAL -> R.string.draft_form_referral
    FormKind.MEETING -> R.string.draft_form_meeting
    FormKind.CONSENT -> R.string.draft_form_consent
    FormKind.DANGER_STATEMENT -> R.string.draft_form_danger_statement
    FormKind.CONCERN -> R.string.draft_form_concern
    FormKind.CHECK_IN -> R.string.draft_form_check_in
    FormKind.REVISION -> when (revises) {
        RevisionForm.DANGER_STATEMENT -> R.string.draft_form_revision_danger_statement
        RevisionForm.SOS_ENTRY -> R.string.draft_form_revision_sos_entry
        else -> R.string.draft_form_revision
    }
    FormKind.CONCERN_UPDATE -> R.string.draft_form_concern_update
    FormKind.CLOSURE -> R.string.draft_form_closure
    FormKind.GOAL -> R.string.draft_form_goal
    FormKind.ACTION -> R.string.draft_form_action
    FormKind.SCALING -> R.string.draft_form_scaling
    FormKind.MAP_ENTRY -> R.string.draft_form_map_entry
    FormKind.OPEN_CASE -> R.string.draft_form_open_case
    FormKind.RETURN_COMMENT -> R.string.draft_form_return_comment
    FormKind.AMENDMENT -> R.string.draft_form_amendment
}

/** The screen that restores a draft: its form's screen for its case (the plan's forms and a map entry's revision: the plan). */
fun draftRoute(d: DraftsModel.Item): String = when (d.form) {
    null -> "contact/${d.caseId}"
    FormKind.REFERRAL -> "${CaseRoutes.REFERRALS}/${d.caseId}"
    FormKind.MEETING -> "${CaseRoutes.MEETINGS}/${d.caseId}"
    FormKind.CONSENT -> "${CaseRoutes.CONSENT}/${d.caseId}"
    FormKind.DANGER_STATEMENT -> "${CaseRoutes.DANGERS}/${d.caseId}"
    FormKind.CONCERN -> "concerns/${d.caseId}"
    FormKind.CHECK_IN -> "${CaseRoutes.CHECK_IN}/${d.caseId}"
    FormKind.REVISION -> if (d.revises == RevisionForm.SOS_ENTRY) "plan/${d.caseId}" else "${CaseRoutes.DANGERS}/${d.caseId}"
    FormKind.CONCERN_UPDATE -> "concerns/${d.caseId}"
    FormKind.CLOSURE -> "${CaseRoutes.CLOSURE}/${d.caseId}"
    // The plan's own forms: a goal, an action, a scaling, a new map entry.
    FormKind.GOAL, FormKind.ACTION, FormKind.SCALING, FormKind.MAP_ENTRY -> "plan/${d.caseId}"
    // No case yet: the form that opens one.
    FormKind.OPEN_CASE -> "new-case"
    // The sign-off screen, that draft's form open on its visit.
    FormKind.RETURN_COMMENT, FormKind.AMENDMENT -> "review/${d.draftId}"
}

/**
 * The sign-off queue. A supervisor signs her team's visits off or returns
 * them with a comment; a practitioner sees hers (returned first, with the
 * comment) and amends a returned one. The comment or amendment is typed on
 * its visit and kept as a draft (saved on every keystroke, restored after a
 * killed app — [draftId] from "Not finished" — deleted once done).
 */
@Composable
fun ReviewScreen(repo: OutreachRepository, draftId: String? = null) {
    val model = remember { ReviewModel(repo) }
    val pending by model.pending.collectAsState()
    val error by model.error.collectAsState()
    val supervisor by model.supervisor.collectAsState()
    val form by model.form.collectAsState()
    val scope = rememberCoroutineScope()
    var restored by remember { mutableStateOf(false) }
    LaunchedEffect(Unit) { model.load(); restored = model.openDraft(draftId) }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(if (pending.isEmpty()) R.string.sign_off_empty else R.string.sign_off_title), large = true) }
        items(pending, key = { it.visitId }) { v ->
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(stringResource(R.string.visit_line, v.preferredName, v.at.take(16).replace('T', ' '), label(v.kind)),
                    fontWeight = FontWeight.Bold)
                // The state in words; returned is also in the error colour.
                Text(
                    label(v.review) + (v.comment?.let { " — $it" } ?: ""),
                    color = if (v.review == ReviewState.RETURNED || v.review == ReviewState.NOT_VALID) {
                        MaterialTheme.colorScheme.error
                    } else MaterialTheme.colorScheme.onSurface,
                )
                v.recordedBy?.let { Text(stringResource(R.string.recorded_by, it), style = MaterialTheme.typography.labelMedium) }
                val keeper = form?.takeIf { it.caseId == v.caseId && it.value(ReviewModel.VISIT) == v.visitId }
                if (keeper != null) {
                    val fields by keeper.fields.collectAsState()
                    if (supervisor) {
                        OutlinedTextField(fields[ReviewModel.COMMENT] ?: "", { t -> scope.now { model.setComment(t) } },
                            label = { Text(stringResource(R.string.sign_off_comment)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
                        Button(onClick = { scope.launch { model.submitSignOff() } }, modifier = tall.fillMaxWidth()) {
                            Text(stringResource(R.string.sign_off_action))
                        }
                        OutlinedButton(onClick = { scope.launch { model.submitReturn() } }, modifier = tall.fillMaxWidth()) {
                            Text(stringResource(R.string.return_action))
                        }
                    } else {
                        OutlinedTextField(fields[ReviewModel.ACTIONS_AGREED] ?: "", { t -> scope.now { model.setActionsAgreed(t) } },
                            label = { Text(stringResource(R.string.amend_actions)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
                        Button(onClick = { scope.launch { model.submitAmendment() } }, modifier = tall.fillMaxWidth()) {
                            Text(stringResource(R.string.amend_action))
                        }
                    }
                    FormDraftControls(keeper, restored, stringResource(
                        if (supervisor) R.string.draft_form_return_comment else R.string.draft_form_amendment))
                    ErrorText(error)
                } else if (supervisor || v.review == ReviewState.RETURNED) {
                    val named = stringResource(if (supervisor) R.string.review_begin_named else R.string.amend_named, v.preferredName)
                    OutlinedButton(onClick = { scope.launch { restored = model.begin(v) } },
                        modifier = tall.fillMaxWidth().semantics { contentDescription = named }) {
                        Text(stringResource(if (supervisor) R.string.review_begin else R.string.amend_action))
                    }
                }
            }
        }
        if (form?.value(ReviewModel.VISIT) == null) item { ErrorText(error) }
    }
}

@Composable
fun ConflictsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { ConflictModel(repo, caseId) }
    val conflicts by model.conflicts.collectAsState()
    val scope = rememberCoroutineScope()
    LaunchedEffect(caseId) { model.load() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(if (conflicts.isEmpty()) R.string.conflicts_none else R.string.conflicts_title), large = true) }
        items(conflicts) { c ->
            Column {
                Heading(c.field)
                c.values.forEachIndexed { i, v ->
                    OutlinedButton(onClick = { scope.launch { model.pick(c.field, i) } }, modifier = tall.fillMaxWidth()) {
                        Text(stringResource(R.string.conflict_value, v.valueJson, v.by, v.at.take(16).replace('T', ' ')))
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
        Heading(stringResource(R.string.sync_title), large = true)
        if (state.running) {
            val total = state.total
            if (total != null && total > 0u) LinearProgressIndicator(progress = { state.done.toFloat() / total.toFloat() })
            else LinearProgressIndicator()
            OutlinedButton(onClick = model::cancel, modifier = tall) { Text(stringResource(R.string.cancel)) }
        }
        Text(stringResource(R.string.last_success, state.lastSuccess ?: stringResource(R.string.never)))
        state.summary?.let { Text(it) }
        ErrorText(state.error)
        Button(onClick = { scope.launch { model.sync() } }, enabled = !state.running, modifier = tall.fillMaxWidth()) {
            Text(stringResource(R.string.sync_now))
        }
        OutlinedButton(onClick = enrol, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.enrol_title)) }
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
        Heading(stringResource(R.string.enrol_title), large = true)
        OutlinedTextField(server, { server = it }, label = { Text(stringResource(R.string.server)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enrol_code)) }, modifier = Modifier.fillMaxWidth())
        when (val s = state) {
            is EnrolModel.State.Error -> ErrorText(s.message)
            is EnrolModel.State.Enrolled -> {
                Text(stringResource(R.string.enrolled_as, s.who))
                Button(onClick = done, modifier = tall) { Text(stringResource(R.string.done)) }
            }
            is EnrolModel.State.Working -> LinearProgressIndicator()
            else -> {}
        }
        Button(onClick = { scope.launch { model.enrol(server, code) } }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.enrol)) }
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
    Column(pad.fillMaxSize().verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Heading(stringResource(R.string.settings_title), large = true)
        OutlinedTextField(new, { new = it }, label = { Text(stringResource(R.string.new_passphrase)) },
            visualTransformation = PasswordVisualTransformation(), modifier = Modifier.fillMaxWidth())
        OutlinedTextField(again, { again = it }, label = { Text(stringResource(R.string.passphrase_again)) },
            visualTransformation = PasswordVisualTransformation(), modifier = Modifier.fillMaxWidth())
        Button(onClick = { scope.launch { model.changePassphrase(new, again); new = ""; again = "" } }, modifier = tall) {
            Text(stringResource(R.string.change_passphrase))
        }
        message?.let { Text(it) }
        val seconds = stringResource(R.string.seconds_short)
        val minutes = stringResource(R.string.minutes_short)
        Choices(stringResource(R.string.lock_after), AutoLock.CHOICES, { it == timeout },
            { s -> if (s < 60) "$s $seconds" else "${s / 60} $minutes" }) { s -> timeout = s; autoLock.timeoutSeconds = s }
        Heading(stringResource(R.string.quick_unlock))
        OutlinedButton(onClick = { scope.launch { model.setQuickUnlock(true, QuickUnlock.keyStore) } }, modifier = tall.fillMaxWidth()) {
            Text(stringResource(R.string.quick_unlock_on))
        }
        OutlinedButton(onClick = { scope.launch { model.setQuickUnlock(false, QuickUnlock.keyStore) } }, modifier = tall.fillMaxWidth()) {
            Text(stringResource(R.string.quick_unlock_off))
        }
        OutlinedButton(onClick = lock, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.lock_now)) }
    }
}
