package outreach.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import java.time.LocalDate
import kotlinx.coroutines.launch
import outreach.shell.ClosureModel
import outreach.shell.ConsentsModel
import outreach.shell.DangerStatementsModel
import outreach.shell.Dates
import outreach.shell.FormDraftKeeper
import outreach.shell.MeetingsModel
import outreach.shell.OutreachRepository
import outreach.shell.ReferralsModel
import outreach.shell.RevisionForm

// The practice records of one case, each on its own screen opened from the
// case screen: referrals, meetings, consent given and withdrawn, danger
// statements with their safety goals, closing and reopening the case. Days
// come from the platform's date picker (default today), lists from the
// core's vocabulary, every word from strings.xml, every control at least
// 48 dp; a refusal is shown through ErrorText (words, not only red).
// What is typed into a form is its draft (FormDraftKeeper): saved on every
// keystroke, restored when the screen opens again for the case after the
// app was killed (said so), deleted when the form is saved or cleared — a
// revision of a danger statement and closing the case included.

/**
 * "Restored what you typed" once a killed app's draft is back; a clear-form
 * button that asks first. [name] (the form's name) is read out with the
 * button where a screen has more than one form.
 */
@Composable
fun FormDraftControls(draft: FormDraftKeeper, restored: Boolean, name: String? = null) {
    val scope = rememberCoroutineScope()
    var confirm by remember { mutableStateOf(false) }
    val fields by draft.fields.collectAsState()
    Column {
        if (restored && fields.isNotEmpty()) Text(stringResource(R.string.draft_restored))
        if (fields.values.any { it.isNotBlank() }) {
            val named = name?.let { stringResource(R.string.discard_form_named, it) }
            OutlinedButton(onClick = { confirm = true },
                modifier = tall.fillMaxWidth().semantics { if (named != null) contentDescription = named }) {
                Text(stringResource(R.string.discard_form))
            }
        }
    }
    if (confirm) {
        AlertDialog(
            onDismissRequest = { confirm = false },
            title = { Text(stringResource(R.string.discard_form)) },
            text = { Text(stringResource(R.string.discard_form_confirm)) },
            confirmButton = {
                TextButton(onClick = { confirm = false; scope.launch { draft.discard() } }, modifier = tall) { Text(stringResource(R.string.discard)) }
            },
            dismissButton = { TextButton(onClick = { confirm = false }, modifier = tall) { Text(stringResource(R.string.keep)) } },
        )
    }
}

/** The routes of the case's other screens (`<route>/{id}` in MainActivity). */
object CaseRoutes {
    const val CHECK_IN = "check-in"
    const val DANGERS = "dangers"
    const val REFERRALS = "referrals"
    const val MEETINGS = "meetings"
    const val CONSENT = "consent"
    const val CLOSURE = "closure"
}

/** Referrals to other agencies: add (agency, why, day, status), newest first. */
@Composable
fun ReferralsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { ReferralsModel(repo, caseId) }
    val referrals by model.items.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    val fields by model.draft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    // A draft left by a killed app is restored, not lost.
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open() }
    val status = fields[ReferralsModel.STATUS]?.let { model.status() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.referrals_title), large = true) }
        item {
            OutlinedTextField(fields[ReferralsModel.AGENCY] ?: "", { v -> scope.now { model.setAgency(v) } },
                label = { Text(stringResource(R.string.referral_agency)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedTextField(fields[ReferralsModel.REASON] ?: "", { v -> scope.now { model.setReason(v) } },
                label = { Text(stringResource(R.string.referral_reason)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item {
            DateField(stringResource(R.string.referral_made_on), Dates.parseDate(fields[ReferralsModel.DATE]) ?: LocalDate.now(),
                { d -> scope.launch { model.setDate(d) } })
        }
        item {
            // Not picking one leaves the core's default (made).
            Choices(stringResource(R.string.referral_status), model.statuses, { it == status }, { label(it) }) {
                val picked = if (status == it) null else it
                scope.launch { model.setStatus(picked) }
            }
        }
        item { ErrorText(error) }
        item {
            Button(onClick = { scope.launch { model.submit() } }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.add_referral)) }
        }
        item { FormDraftControls(model.draft, restored) }
        item { Heading(stringResource(R.string.referrals_made)) }
        if (referrals.isEmpty()) item { Text(stringResource(R.string.none_yet)) }
        items(referrals, key = { it.id }) { r ->
            Column {
                Text(r.agency, fontWeight = FontWeight.Bold)
                Text(stringResource(R.string.referral_line, r.date, r.status?.let { label(it) } ?: ""))
                Text(r.reason)
                r.outcome?.let { Text(stringResource(R.string.referral_outcome, it)) }
            }
        }
    }
}

/** Meetings: kind, day, who was there, what was agreed; newest first. */
@Composable
fun MeetingsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { MeetingsModel(repo, caseId) }
    val meetings by model.items.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    val fields by model.draft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    // A draft left by a killed app is restored, not lost.
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open() }
    // Shown as picked until another is chosen: the core's first kind (saved with the form, not on opening).
    val kind = fields[MeetingsModel.KIND]?.let { model.kind() } ?: model.kinds.first()
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.meetings_title), large = true) }
        item { Choices(stringResource(R.string.meeting_kind), model.kinds, { it == kind }, { label(it) }) { k -> scope.launch { model.setKind(k) } } }
        item {
            DateField(stringResource(R.string.meeting_date), Dates.parseDate(fields[MeetingsModel.DATE]) ?: LocalDate.now(),
                { d -> scope.launch { model.setDate(d) } })
        }
        item {
            OutlinedTextField(fields[MeetingsModel.ATTENDEES] ?: "", { v -> scope.now { model.setAttendees(v) } },
                label = { Text(stringResource(R.string.meeting_attendees)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedTextField(fields[MeetingsModel.SUMMARY] ?: "", { v -> scope.now { model.setSummary(v) } },
                label = { Text(stringResource(R.string.meeting_summary)) }, modifier = Modifier.fillMaxWidth(), minLines = 3)
        }
        item { ErrorText(error) }
        item {
            Button(onClick = { scope.launch { if (model.kind() == null) model.setKind(kind); model.submit() } },
                modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.add_meeting)) }
        }
        item { FormDraftControls(model.draft, restored) }
        item { Heading(stringResource(R.string.meetings_held)) }
        if (meetings.isEmpty()) item { Text(stringResource(R.string.none_yet)) }
        items(meetings, key = { it.id }) { m ->
            Column {
                Text(stringResource(R.string.meeting_line, label(m.kind), m.date), fontWeight = FontWeight.Bold)
                if (m.attendees.isNotEmpty()) Text(stringResource(R.string.meeting_who, m.attendees.joinToString(", ")))
                if (m.summary.isNotBlank()) Text(m.summary)
            }
        }
    }
}

/** Consent: what she agreed to and when; withdrawing keeps the record, with the day. */
@Composable
fun ConsentScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { ConsentsModel(repo, caseId) }
    val consents by model.items.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    val fields by model.draft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    var withdrawOn by remember { mutableStateOf(LocalDate.now()) }
    // A draft left by a killed app is restored, not lost.
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.consent_title), large = true) }
        item {
            OutlinedTextField(fields[ConsentsModel.WHAT] ?: "", { v -> scope.now { model.setWhat(v) } },
                label = { Text(stringResource(R.string.consent_what)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item {
            DateField(stringResource(R.string.consent_given_on), Dates.parseDate(fields[ConsentsModel.DATE]) ?: LocalDate.now(),
                { d -> scope.launch { model.setDate(d) } })
        }
        item { ErrorText(error) }
        item {
            Button(onClick = { scope.launch { model.submit() } }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.consent_give)) }
        }
        item { FormDraftControls(model.draft, restored) }
        item { Heading(stringResource(R.string.consents_recorded)) }
        if (consents.isEmpty()) item { Text(stringResource(R.string.none_yet)) }
        if (consents.any { !it.withdrawn }) item { DateField(stringResource(R.string.consent_withdrawn_on), withdrawOn, { withdrawOn = it }) }
        items(consents, key = { it.id }) { c ->
            Column {
                Text(c.what, fontWeight = FontWeight.Bold)
                // Current or withdrawn in words (never only greyed out).
                Text(
                    if (c.withdrawnOn != null) stringResource(R.string.consent_withdrawn_line, c.withdrawnOn ?: "")
                    else stringResource(R.string.consent_given_line, c.givenOn ?: "", c.recordedBy ?: ""),
                )
                if (!c.withdrawn) {
                    val action = stringResource(R.string.consent_withdraw_named, c.what)
                    OutlinedButton(onClick = { scope.launch { model.withdraw(c.id, withdrawOn) } },
                        modifier = tall.semantics { contentDescription = action }) { Text(stringResource(R.string.consent_withdraw)) }
                }
            }
        }
    }
}

/** Danger statements and safety goals: add, revise either half, resolve, reopen. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun DangerStatementsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { DangerStatementsModel(repo, caseId) }
    val statements by model.items.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    // A new statement is typed into its form's draft, a revision of one
    // already saved into the revision's (RevisionForm): each saved on every
    // keystroke and restored after a killed app.
    val fields by model.draft.fields.collectAsState()
    val revised by model.revision.draft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    var revisionRestored by remember { mutableStateOf(false) }
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open(); revisionRestored = model.revision.open() }
    val revising = revised[RevisionForm.RECORD]
    val revisingWhat = revising?.let { id -> statements.firstOrNull { it.id == id }?.danger }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.danger_statements), large = true) }
        if (revising != null) {
            item { Text(stringResource(R.string.revising, revisingWhat ?: ""), fontWeight = FontWeight.Bold) }
            if (revisionRestored) item { Text(stringResource(R.string.draft_restored)) }
        }
        item {
            OutlinedTextField(if (revising == null) fields[DangerStatementsModel.DANGER] ?: "" else revised[RevisionForm.DANGER] ?: "",
                { v -> if (revising == null) scope.now { model.setDanger(v) } else scope.now { model.revision.setDanger(v) } },
                label = { Text(stringResource(R.string.danger)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item {
            OutlinedTextField(if (revising == null) fields[DangerStatementsModel.SAFETY_GOAL] ?: "" else revised[RevisionForm.SAFETY_GOAL] ?: "",
                { v -> if (revising == null) scope.now { model.setSafetyGoal(v) } else scope.now { model.revision.setSafetyGoal(v) } },
                label = { Text(stringResource(R.string.safety_goal)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item { ErrorText(error) }
        item {
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = {
                    scope.launch {
                        if (revising == null) model.submit()
                        else if (model.revision.submit() != null) revisionRestored = false
                    }
                }, modifier = tall) { Text(stringResource(if (revising == null) R.string.add_danger_statement else R.string.save_revision)) }
                if (revising != null) {
                    // The revision's draft is thrown away; the statement stays as it was.
                    val cancel = stringResource(R.string.cancel_revision_named, revisingWhat ?: "")
                    OutlinedButton(onClick = { scope.launch { model.revision.cancel(); revisionRestored = false } },
                        modifier = tall.semantics { contentDescription = cancel }) { Text(stringResource(R.string.cancel_revision)) }
                }
            }
        }
        if (revising == null) item { FormDraftControls(model.draft, restored) }
        if (statements.isEmpty()) item { Text(stringResource(R.string.none_yet)) }
        items(statements, key = { it.id }) { d ->
            Column {
                Text(stringResource(R.string.danger_is, d.danger), fontWeight = FontWeight.Bold)
                Text(stringResource(R.string.safety_goal_is, d.safetyGoal))
                // Resolved in words, not only colour.
                if (d.resolved) Text(vocabLabel("sos_statuses", "resolved"))
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    val revise = stringResource(R.string.revise_named, d.danger)
                    OutlinedButton(onClick = { model.revision.beginDanger(d.id, d.danger, d.safetyGoal); revisionRestored = false },
                        modifier = tall.semantics { contentDescription = revise }) { Text(stringResource(R.string.revise)) }
                    OutlinedButton(onClick = { scope.launch { if (d.resolved) model.reopen(d.id) else model.resolve(d.id) } }, modifier = tall) {
                        Text(stringResource(if (d.resolved) R.string.reopen else R.string.resolve))
                    }
                }
            }
        }
    }
}

/**
 * Close the case (why, a note, the day she left) or reopen it in a phase.
 * The closing form is its draft: saved on every edit, restored after a
 * killed app, deleted once the case is closed.
 */
@Composable
fun ClosureScreen(repo: OutreachRepository, caseId: String, done: () -> Unit) {
    val model = remember(caseId) { ClosureModel(repo, caseId) }
    val state by model.state.collectAsState()
    val draftError by model.draftError.collectAsState()
    val scope = rememberCoroutineScope()
    val fields by model.draft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    var phase by remember { mutableStateOf(model.reopenPhases.first()) }
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open() }
    // Shown as picked until another is chosen: the core's first reason (saved with the form, not on opening).
    val reason = fields[ClosureModel.REASON]?.let { model.reason() } ?: model.exitReasons.first()
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.programme), large = true) }
        if (!state.loaded) {
            item { ErrorText(state.error) }
        } else if (state.closed) {
            item {
                val why = state.exitReason?.let { vocabLabel("exit_reasons", it) } ?: ""
                Text(stringResource(R.string.case_closed, state.closedOn ?: "", why), fontWeight = FontWeight.Bold)
            }
            item { Choices(stringResource(R.string.reopen_in_phase), model.reopenPhases, { it == phase }, { label(it) }) { phase = it } }
            item { ErrorText(state.error) }
            item {
                Button(onClick = { scope.launch { if (model.reopen(phase)) done() } }, modifier = tall.fillMaxWidth()) {
                    Text(stringResource(R.string.reopen_case))
                }
            }
        } else {
            item { Choices(stringResource(R.string.exit_reason), model.exitReasons, { it == reason }, { label(it) }) { r -> scope.launch { model.setReason(r) } } }
            item {
                OutlinedTextField(fields[ClosureModel.NOTE] ?: "", { v -> scope.now { model.setNote(v) } },
                    label = { Text(stringResource(R.string.exit_note)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
            }
            item {
                DateField(stringResource(R.string.closed_on), Dates.parseDate(fields[ClosureModel.DATE]) ?: LocalDate.now(), { d -> scope.launch { model.setDate(d) } })
            }
            item { Text(stringResource(R.string.close_case_hint)) }
            item { ErrorText(state.error ?: draftError) }
            item {
                Button(onClick = { scope.launch { if (model.reason() == null) model.setReason(reason); if (model.submit()) done() } },
                    modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.close_case)) }
            }
            item { FormDraftControls(model.draft, restored) }
        }
    }
}
