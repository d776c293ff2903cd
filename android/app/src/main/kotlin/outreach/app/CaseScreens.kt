package outreach.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Slider
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import kotlin.math.roundToLong
import kotlinx.coroutines.launch
import outreach.shell.CaseModel
import outreach.shell.ConcernsModel
import outreach.shell.NewCaseModel
import outreach.shell.OutreachRepository
import outreach.shell.PlanModel
import outreach.shell.RevisionForm
import outreach.shell.TransferModel
import outreach.shell.Vocab
import uniffi.outreach_ffi.ConcernStatus
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.SosColumn

/** A safe-contact rule in the phone's language (shown first, in bold: the words carry it, not the colour). */
@Composable
fun ruleText(rule: CaseModel.SafeRule): String = when (rule) {
    is CaseModel.SafeRule.Texts -> stringResource(if (rule.ok) R.string.rule_texts_ok else R.string.rule_no_texts)
    is CaseModel.SafeRule.Voicemail -> stringResource(if (rule.ok) R.string.rule_voicemail_ok else R.string.rule_no_voicemail)
    is CaseModel.SafeRule.CodeWord -> stringResource(R.string.rule_code_word, rule.word)
    is CaseModel.SafeRule.Notes -> rule.text
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CaseScreen(
    repo: OutreachRepository,
    caseId: String,
    record: () -> Unit,
    plan: () -> Unit,
    concerns: () -> Unit,
    conflicts: () -> Unit,
    /** Opens one of the case's other screens by its route ([CaseRoutes]). */
    go: (String) -> Unit = {},
) {
    val model = remember(caseId) { CaseModel(repo, caseId) }
    val state by model.state.collectAsState()
    val transfer = remember(caseId) { TransferModel(repo, caseId) }
    val transferState by transfer.state.collectAsState()
    val scope = rememberCoroutineScope()
    var transferTo by remember { mutableStateOf("") }
    LaunchedEffect(caseId) { model.load() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Heading(state.case?.profile?.preferredName ?: "", large = true) }
        if (state.closed != null) {
            item {
                val reason = state.exitReason?.let { vocabLabel("exit_reasons", it) } ?: ""
                Text(stringResource(R.string.case_closed, state.closedOn ?: "", reason), fontWeight = FontWeight.Bold)
            }
        }
        // Safe-contact rules come first: she may not be safe to text or call.
        if (state.rules.isNotEmpty()) item { Heading(stringResource(R.string.safe_contact)) }
        items(state.rules) { Text(ruleText(it), fontWeight = FontWeight.Bold, color = MaterialTheme.colorScheme.error) }
        item {
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = record, modifier = tall) { Text(stringResource(R.string.record_contact)) }
                OutlinedButton(onClick = plan, modifier = tall) { Text(stringResource(R.string.plan_title)) }
                OutlinedButton(onClick = concerns, modifier = tall) { Text(stringResource(R.string.concerns_title)) }
                OutlinedButton(onClick = conflicts, modifier = tall) { Text(stringResource(R.string.conflicts_title)) }
            }
        }
        // Lone working first (before a visit), then the practice records.
        item {
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = { go(CaseRoutes.CHECK_IN) }, modifier = tall) { Text(stringResource(R.string.check_in_title)) }
                OutlinedButton(onClick = { go(CaseRoutes.DANGERS) }, modifier = tall) { Text(stringResource(R.string.danger_statements)) }
                OutlinedButton(onClick = { go(CaseRoutes.REFERRALS) }, modifier = tall) { Text(stringResource(R.string.referrals_title)) }
                OutlinedButton(onClick = { go(CaseRoutes.MEETINGS) }, modifier = tall) { Text(stringResource(R.string.meetings_title)) }
                OutlinedButton(onClick = { go(CaseRoutes.CONSENT) }, modifier = tall) { Text(stringResource(R.string.consent_title)) }
                OutlinedButton(onClick = { go(CaseRoutes.CLOSURE) }, modifier = tall) {
                    Text(stringResource(if (state.closed != null) R.string.reopen_case else R.string.close_case))
                }
            }
        }
        item { ErrorText(state.error) }
        item { Heading(stringResource(R.string.plan_title)) }
        items(state.goalsByDomain.entries.toList()) { (domain, goals) -> Text("${label(domain)}: ${goals.joinToString("; ")}") }
        item { Heading(stringResource(R.string.sos_title)) }
        items(state.worries) { w -> Text(stringResource(R.string.sos_worry_line, w.kind?.let { label(it) } ?: label(SosColumn.WORRIES), w.text)) }
        items(state.workingWell) { Text(stringResource(R.string.sos_line, label(SosColumn.WORKING_WELL), it)) }
        items(state.needsToHappen) { Text(stringResource(R.string.sos_line, label(SosColumn.NEEDS_TO_HAPPEN), it)) }
        items(state.dangerStatements) { Text(stringResource(R.string.danger_line, it)) }
        item { Text(stringResource(R.string.scale_latest, state.latestScale?.toString() ?: "-")) }
        item { Heading(stringResource(R.string.open_concerns_title)) }
        items(state.openConcerns) { (severity, category) -> Text(stringResource(R.string.concern_line, label(severity), category)) }
        item { Heading(stringResource(R.string.timeline)) }
        items(state.timeline) { Text("${it.at.take(10)}  ${it.summary}") }
        // Supervisors move a case to another practitioner; anyone else is told why not.
        item { Heading(stringResource(R.string.transfer_title)) }
        item {
            OutlinedTextField(transferTo, { transferTo = it }, label = { Text(stringResource(R.string.transfer_to)) },
                modifier = Modifier.fillMaxWidth())
        }
        item {
            OutlinedButton(onClick = { scope.launch { transfer.transfer(transferTo); transferTo = "" } },
                enabled = transferState !is TransferModel.State.Working, modifier = tall) { Text(stringResource(R.string.transfer_action)) }
        }
        when (val t = transferState) {
            is TransferModel.State.Done -> item { Text(t.message) }
            is TransferModel.State.Error -> item { ErrorText(t.message) }
            else -> {}
        }
    }
}

/**
 * Open a case: her name, then the safe-contact questions, then the referral.
 * What is typed is kept as a draft (no case yet), restored after a killed
 * app, deleted once the case is opened.
 */
@Composable
fun NewCaseScreen(repo: OutreachRepository, opened: (String) -> Unit) {
    val model = remember { NewCaseModel(repo) }
    val form by model.form.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    var restored by remember { mutableStateOf(false) }
    LaunchedEffect(Unit) { restored = model.open() }
    val kept by model.draft.fields.collectAsState()
    LaunchedEffect(kept.isEmpty()) { model.followDraft() }
    fun edit(change: (NewCaseModel.Form) -> NewCaseModel.Form) = scope.now { model.edit(change) }
    Column(pad.fillMaxSize().verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Heading(stringResource(R.string.new_case), large = true)
        OutlinedTextField(form.preferredName, { v -> edit { it.copy(preferredName = v) } },
            label = { Text(stringResource(R.string.preferred_name)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(form.phone, { v -> edit { it.copy(phone = v) } }, label = { Text(stringResource(R.string.phone)) },
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Phone), modifier = Modifier.fillMaxWidth())
        Heading(stringResource(R.string.safe_contact))
        YesNo(stringResource(R.string.ask_texts), form.textOk) { v -> edit { it.copy(textOk = v) } }
        YesNo(stringResource(R.string.ask_voicemail), form.voicemailOk) { v -> edit { it.copy(voicemailOk = v) } }
        OutlinedTextField(form.codeWord, { v -> edit { it.copy(codeWord = v) } }, label = { Text(stringResource(R.string.code_word)) },
            modifier = Modifier.fillMaxWidth())
        OutlinedTextField(form.safeContactNotes, { v -> edit { it.copy(safeContactNotes = v) } },
            label = { Text(stringResource(R.string.safe_contact_notes)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        Heading(stringResource(R.string.referral))
        DateField(stringResource(R.string.referral_date), form.referralDate, { d -> edit { it.copy(referralDate = d) } },
            clear = { edit { it.copy(referralDate = null) } })
        OutlinedTextField(form.referralSource, { v -> edit { it.copy(referralSource = v) } },
            label = { Text(stringResource(R.string.referral_source)) }, modifier = Modifier.fillMaxWidth())
        ErrorText(error)
        Button(onClick = { scope.launch { model.create()?.let(opened) } }, modifier = tall.fillMaxWidth()) {
            Text(stringResource(R.string.open_case_save))
        }
        FormDraftControls(model.draft, restored, stringResource(R.string.draft_form_open_case))
    }
}

/** Concerns on one case: open ones first, most severe first; raise, update or escalate (severity, status, who), close. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun ConcernsScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { ConcernsModel(repo, caseId) }
    val concerns by model.concerns.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    // The new concern is typed into its draft, an update of one already
    // raised into the update's: each saved on every keystroke, restored after
    // a killed app, deleted once saved or cleared.
    val fields by model.draft.fields.collectAsState()
    val update by model.updateDraft.fields.collectAsState()
    var restored by remember { mutableStateOf(false) }
    var updateRestored by remember { mutableStateOf(false) }
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open(); updateRestored = model.updateDraft.open() }
    // Shown as picked until another is chosen: the most severe (saved with the form, not on opening).
    val severity = fields[ConcernsModel.SEVERITY]?.let { model.severity() } ?: model.severities.last()
    val updating = update[ConcernsModel.UPDATE_CONCERN]
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.concerns_title), large = true) }
        item { Heading(stringResource(R.string.raise_concern)) }
        item {
            OutlinedTextField(fields[ConcernsModel.CATEGORY] ?: "", { v -> scope.now { model.setCategory(v) } },
                label = { Text(stringResource(R.string.concern_category)) }, modifier = Modifier.fillMaxWidth())
        }
        item { Choices(stringResource(R.string.severity), model.severities, { it == severity }, { label(it) }) { s -> scope.launch { model.setSeverity(s) } } }
        item {
            OutlinedTextField(fields[ConcernsModel.DESCRIPTION] ?: "", { v -> scope.now { model.setDescription(v) } },
                label = { Text(stringResource(R.string.concern_description)) }, modifier = Modifier.fillMaxWidth(), minLines = 3)
        }
        item {
            Button(onClick = { scope.launch { if (model.severity() == null) model.setSeverity(severity); model.submit() } },
                modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.raise_concern)) }
        }
        item { FormDraftControls(model.draft, restored) }
        // While an update is open its own form shows the problem, next to it.
        if (updating == null) item { ErrorText(error) }
        items(concerns, key = { it.id }) { c ->
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                // Severity and status in words, not only colour.
                Text(stringResource(R.string.concern_line, label(c.severity), c.category), fontWeight = FontWeight.Bold,
                    color = if (c.open) MaterialTheme.colorScheme.onSurface else MaterialTheme.colorScheme.outline)
                Text(stringResource(R.string.concern_status_line, label(c.status), c.raisedAt.take(10)) +
                    (c.escalatedTo?.let { " · " + stringResource(R.string.escalated_to_line, it) } ?: ""))
                Text(c.description)
                if (updating == c.id) {
                    // The update form: empty choices leave the concern's value as it is.
                    Heading(stringResource(R.string.concern_update_title))
                    if (updateRestored) Text(stringResource(R.string.draft_restored))
                    Text(stringResource(R.string.concern_update_hint))
                    val newSeverity = update[ConcernsModel.UPDATE_SEVERITY]?.let { model.updateSeverity() } ?: c.severity
                    val newStatus = update[ConcernsModel.UPDATE_STATUS]?.let { model.updateStatus() } ?: c.status
                    Choices(stringResource(R.string.severity), model.severities, { it == newSeverity }, { label(it) }) { s ->
                        scope.launch { model.setUpdateSeverity(if (s == c.severity) null else s) }
                    }
                    Choices(stringResource(R.string.concern_status), model.statuses, { it == newStatus }, { label(it) }) { s ->
                        scope.launch { model.setUpdateStatus(if (s == c.status) null else s) }
                    }
                    OutlinedTextField(update[ConcernsModel.UPDATE_ESCALATED_TO] ?: "", { v -> scope.now { model.setUpdateEscalatedTo(v) } },
                        label = { Text(stringResource(R.string.escalate_to)) }, modifier = Modifier.fillMaxWidth())
                    ErrorText(error)
                    FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                        Button(onClick = { scope.launch { if (model.submitUpdate()) updateRestored = false } }, modifier = tall) {
                            Text(stringResource(R.string.concern_update_save))
                        }
                        OutlinedButton(onClick = { scope.launch { model.cancelUpdate(); updateRestored = false } }, modifier = tall) {
                            Text(stringResource(R.string.concern_update_cancel))
                        }
                    }
                } else if (c.open) {
                    val named = stringResource(R.string.concern_update_named, c.category)
                    OutlinedButton(onClick = { model.beginUpdate(c.id); updateRestored = false },
                        modifier = tall.fillMaxWidth().semantics { contentDescription = named }) {
                        Text(stringResource(R.string.concern_update_action))
                    }
                } else {
                    OutlinedButton(onClick = { scope.launch { model.update(c.id, status = ConcernStatus.OPEN) } }, modifier = tall) {
                        Text(stringResource(R.string.reopen_concern))
                    }
                }
            }
        }
    }
}

/**
 * The plan: goals by domain (all twelve), actions, scaling with its
 * question, the Signs of Safety map. Each form is its draft (FormDraftKeeper:
 * a new goal, an action, a scaling, a new map entry, and RevisionForm for
 * revising an entry): saved on every keystroke, restored after a killed app
 * (said so), deleted once added or cleared. A default shown but never
 * touched (the first domain, a score of 5, whose view, the first column) is
 * saved only with the form. Danger statements and closing the case have
 * their own screens (with their drafts), opened from here by [go] with
 * their route ([CaseRoutes]).
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun PlanScreen(repo: OutreachRepository, caseId: String, go: (String) -> Unit = {}) {
    val model = remember(caseId) { PlanModel(repo, caseId) }
    val case = remember(caseId) { CaseModel(repo, caseId) }
    val caseState by case.state.collectAsState()
    val error by model.error.collectAsState()
    val scope = rememberCoroutineScope()
    val goalForm by model.goalDraft.fields.collectAsState()
    val actionForm by model.actionDraft.fields.collectAsState()
    val scaling by model.scalingDraft.fields.collectAsState()
    val entryForm by model.entryDraft.fields.collectAsState()
    val revised by model.revision.draft.fields.collectAsState()
    // The forms whose draft a killed app left, restored on opening.
    var restored by remember { mutableStateOf(emptySet<FormKind>()) }
    LaunchedEffect(caseId) { case.load(); restored = model.openDrafts() }
    val vocab = Vocab.core
    // Shown as picked until another is chosen (saved with the form, not on opening).
    val domain = goalForm[PlanModel.DOMAIN]?.let { model.goalDomain() } ?: vocab.domains.first().value
    val actionGoal = actionForm[PlanModel.GOAL]
    val score = scaling[PlanModel.SCORE]?.let { model.score() } ?: 5L
    val view = scaling[PlanModel.VIEW]?.let { model.scaleView() } ?: vocab.scaleViews.first().value
    val column = entryForm[PlanModel.COLUMN]?.let { model.entryColumn() } ?: vocab.sosColumns.first().value
    val worryKind = entryForm[PlanModel.KIND]?.let { model.entryKind() }
    // The map entry being revised (its draft's record), and what it is.
    val revising = revised[RevisionForm.RECORD]
    val revisingEntry = revising?.let { id -> caseState.sosEntries.firstOrNull { it.id == id } }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Heading(stringResource(R.string.plan_title), large = true) }
        item { ErrorText(error) }
        item {
            Choices(stringResource(R.string.domain), vocab.domains.map { it.value }, { it == domain }, { label(it) }) { d ->
                scope.launch { model.setGoalDomain(d) }
            }
        }
        item {
            OutlinedTextField(goalForm[PlanModel.TEXT] ?: "", { v -> scope.now { model.setGoalText(v) } },
                label = { Text(stringResource(R.string.goal)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            Button(onClick = {
                scope.launch {
                    if (model.goalDomain() == null) model.setGoalDomain(domain)
                    if (model.submitGoal() != null) { restored = restored - FormKind.GOAL; case.load() }
                }
            }, modifier = tall) { Text(stringResource(R.string.add_goal)) }
        }
        item { FormDraftControls(model.goalDraft, FormKind.GOAL in restored, stringResource(R.string.draft_form_goal)) }
        // An action: the goal it is for, then what will be done.
        if (caseState.goals.isNotEmpty() || actionForm.isNotEmpty()) {
            item {
                Choices(stringResource(R.string.action_goal), caseState.goals, { it.id == actionGoal },
                    { stringResource(R.string.goal_choice, label(it.domain), it.text) }) { g -> scope.launch { model.setActionGoal(g.id) } }
            }
            item {
                OutlinedTextField(actionForm[PlanModel.TEXT] ?: "", { v -> scope.now { model.setActionText(v) } },
                    label = { Text(stringResource(R.string.action_text)) }, modifier = Modifier.fillMaxWidth())
            }
            item {
                Button(onClick = {
                    scope.launch { if (model.submitAction() != null) { restored = restored - FormKind.ACTION; case.load() } }
                }, modifier = tall) { Text(stringResource(R.string.add_action)) }
            }
            item { FormDraftControls(model.actionDraft, FormKind.ACTION in restored, stringResource(R.string.draft_form_action)) }
        }
        item { Heading(stringResource(R.string.scaling)) }
        item {
            Column {
                Text(stringResource(R.string.scale_value, score.toString()))
                Slider(score.toFloat(), { v -> v.roundToLong().let { s -> if (s != score) scope.now { model.setScore(s) } } },
                    valueRange = 0f..10f, steps = 9,
                    modifier = tall.fillMaxWidth().semantics { stateDescription = score.toString() })
            }
        }
        item {
            Choices(stringResource(R.string.whose_view), vocab.scaleViews.map { it.value }, { it == view }, { label(it) }) { v ->
                scope.launch { model.setScaleView(v) }
            }
        }
        item {
            OutlinedTextField(scaling[PlanModel.QUESTION] ?: "", { v -> scope.now { model.setQuestion(v) } },
                label = { Text(stringResource(R.string.scaling_question)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            Button(onClick = {
                scope.launch {
                    if (model.score() == null) model.setScore(score)
                    if (model.scaleView() == null) model.setScaleView(view)
                    if (model.submitScale() != null) { restored = restored - FormKind.SCALING; case.load() }
                }
            }, modifier = tall) { Text(stringResource(R.string.add_reading)) }
        }
        item { FormDraftControls(model.scalingDraft, FormKind.SCALING in restored, stringResource(R.string.draft_form_scaling)) }
        item { Heading(stringResource(R.string.sos_title)) }
        if (revising == null) {
            item {
                Choices(stringResource(R.string.sos_column), vocab.sosColumns.map { it.value }, { it == column }, { label(it) }) { c ->
                    scope.launch { model.setEntryColumn(c) }
                }
            }
            if (column == SosColumn.WORRIES) {
                item {
                    Choices(stringResource(R.string.worry_kind), vocab.worryKinds.map { it.value }, { it == worryKind }, { label(it) }) { k ->
                        scope.launch { model.setEntryKind(if (worryKind == k) null else k) }
                    }
                }
            }
            item {
                OutlinedTextField(entryForm[PlanModel.TEXT] ?: "", { v -> scope.now { model.setEntryText(v) } },
                    label = { Text(stringResource(R.string.sos_entry)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
            }
            item {
                Button(onClick = {
                    scope.launch {
                        if (model.entryColumn() == null) model.setEntryColumn(column)
                        if (model.submitEntry() != null) { restored = restored - FormKind.MAP_ENTRY; case.load() }
                    }
                }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.add_entry)) }
            }
            item { FormDraftControls(model.entryDraft, FormKind.MAP_ENTRY in restored, stringResource(R.string.draft_form_map_entry)) }
        } else {
            // Revising an entry already on the map: its draft, saved on every keystroke.
            item { Text(stringResource(R.string.revising, revisingEntry?.text ?: ""), fontWeight = FontWeight.Bold) }
            if (FormKind.REVISION in restored) item { Text(stringResource(R.string.draft_restored)) }
            if (revisingEntry?.column == SosColumn.WORRIES) {
                item {
                    val kind = revised[RevisionForm.KIND]?.let { model.revision.kind() }
                    Choices(stringResource(R.string.worry_kind), vocab.worryKinds.map { it.value }, { it == kind }, { label(it) }) {
                        scope.launch { model.revision.setKind(if (kind == it) null else it) }
                    }
                }
            }
            item {
                OutlinedTextField(revised[RevisionForm.TEXT] ?: "", { v -> scope.now { model.revision.setText(v) } },
                    label = { Text(stringResource(R.string.sos_entry_revised)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
            }
            item {
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = {
                        scope.launch { if (model.revision.submit() != null) restored = restored - FormKind.REVISION; case.load() }
                    }, modifier = tall) { Text(stringResource(R.string.save_revision)) }
                    val cancel = stringResource(R.string.cancel_revision_named, revisingEntry?.text ?: "")
                    OutlinedButton(onClick = { scope.launch { model.revision.cancel(); restored = restored - FormKind.REVISION } },
                        modifier = tall.semantics { contentDescription = cancel }) { Text(stringResource(R.string.cancel_revision)) }
                }
            }
        }
        items(caseState.sosEntries, key = { it.id }) { e ->
            Column {
                Text(stringResource(R.string.sos_entry_line, label(e.column), e.text) +
                    (if (e.resolved) " · " + vocabLabel("sos_statuses", "resolved") else ""))
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    val revise = stringResource(R.string.revise_named, e.text)
                    OutlinedButton(onClick = { model.revision.beginEntry(e.id, e.text, e.kind); restored = restored - FormKind.REVISION },
                        modifier = tall.semantics { contentDescription = revise }) { Text(stringResource(R.string.revise)) }
                    OutlinedButton(onClick = { scope.launch { if (e.resolved) model.reopenSos(e.id) else model.resolveSos(e.id); case.load() } },
                        modifier = tall) { Text(stringResource(if (e.resolved) R.string.reopen else R.string.resolve)) }
                }
            }
        }
        // Danger statements and closing the case: their own screens, each form with its draft.
        item { Heading(stringResource(R.string.danger_statements)) }
        item {
            OutlinedButton(onClick = { go(CaseRoutes.DANGERS) }, modifier = tall.fillMaxWidth()) {
                Text(stringResource(R.string.plan_danger_statements_open))
            }
        }
        item { Heading(stringResource(R.string.programme)) }
        item {
            OutlinedButton(onClick = { go(CaseRoutes.CLOSURE) }, modifier = tall.fillMaxWidth()) {
                Text(stringResource(if (caseState.closed != null) R.string.reopen_case else R.string.plan_close_open))
            }
        }
    }
}
