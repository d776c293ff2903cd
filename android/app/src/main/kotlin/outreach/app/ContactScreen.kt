package outreach.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Slider
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
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import kotlin.math.roundToLong
import kotlinx.coroutines.launch
import outreach.shell.ContactFormModel
import outreach.shell.OutreachRepository

/**
 * Record a contact. Every kind and outcome the core knows (phone, text,
 * video and attempted contacts included), times from the platform's date and
 * time pickers (now, and the next contact at the case's interval), every
 * edit saved as an encrypted draft so a killed app loses nothing. When she
 * is checked in to the case (lone working), "Save contact and check out"
 * records it and checks her out in one step; a check-out that could not be
 * sent is said in words (her supervisor will still be alerted) and the
 * screen stays until she has read it.
 */
@Composable
fun ContactScreen(repo: OutreachRepository, caseId: String, done: () -> Unit) {
    val model = remember(caseId) { ContactFormModel(repo, caseId) }
    val draft by model.draft.collectAsState()
    val error by model.error.collectAsState()
    val checkIn by model.checkIn.collectAsState()
    val checkOutNotSent by model.checkOutNotSent.collectAsState()
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    var confirmDiscard by remember { mutableStateOf(false) }
    var present by remember { mutableStateOf<String?>(null) }
    // A draft left by a killed app is restored, not lost; otherwise the defaults.
    LaunchedEffect(caseId) { model.start() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.record_contact), large = true) }
        item { Choices(stringResource(R.string.contact_kind), model.kinds, { it == draft.kind }, { label(it) }) { scope.launch { model.setKind(it) } } }
        item {
            Column {
                Choices(stringResource(R.string.outcome), model.outcomes, { it == draft.outcome }, { label(it) }) {
                    scope.launch { model.setOutcome(it) }
                }
                Text(stringResource(R.string.attempt_hint))
            }
        }
        item { DateTimeField(stringResource(R.string.contact_when), model.at(), { scope.launch { model.setAt(it) } }) }
        item {
            OutlinedTextField(draft.note ?: "", { v -> scope.now { model.setNote(v) } }, label = { Text(stringResource(R.string.note)) },
                modifier = Modifier.fillMaxWidth(), minLines = 4)
        }
        item {
            OutlinedTextField(draft.herWords ?: "", { v -> scope.now { model.setHerWords(v) } },
                label = { Text(stringResource(R.string.her_words)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item {
            OutlinedTextField(draft.actionsAgreed ?: "", { v -> scope.now { model.setActionsAgreed(v) } },
                label = { Text(stringResource(R.string.actions_agreed)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
        }
        item {
            Column {
                val wellbeing = draft.wellbeing
                Text(stringResource(R.string.wellbeing_value, wellbeing?.toString() ?: stringResource(R.string.not_set)))
                Slider((wellbeing ?: 5L).toFloat(), { v -> scope.launch { model.setWellbeing(v.roundToLong()) } }, valueRange = 0f..10f,
                    steps = 9, modifier = tall.fillMaxWidth().semantics { stateDescription = wellbeing?.toString() ?: "" })
                if (wellbeing != null) {
                    TextButton(onClick = { scope.launch { model.setWellbeing(null) } }, modifier = tall) {
                        Text(stringResource(R.string.clear_field, stringResource(R.string.wellbeing)))
                    }
                }
            }
        }
        item {
            // Kept as typed (a trailing comma included) while the draft holds the names.
            OutlinedTextField(present ?: draft.present.joinToString(", "), { v -> present = v; scope.now { model.setPresent(v) } },
                label = { Text(stringResource(R.string.present)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            Choices(stringResource(R.string.domains_discussed), model.domains, { it in draft.domains }, { label(it) }) {
                scope.launch { model.toggleDomain(it) }
            }
        }
        item {
            DateTimeField(stringResource(R.string.next_contact), model.nextContact(), { scope.launch { model.setNextContact(it) } },
                clear = { scope.launch { model.setNextContact(null) } })
        }
        item { ErrorText(error) }
        checkOutNotSent?.let { why ->
            item {
                Column {
                    Text(stringResource(R.string.record_check_out_not_sent), fontWeight = FontWeight.Bold,
                        color = MaterialTheme.colorScheme.error, modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite })
                    if (why.isNotBlank()) Text(stringResource(R.string.not_sent_because, why))
                    Button(onClick = done, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.done)) }
                }
            }
        }
        item {
            Button(onClick = { scope.launch { if (model.submit() != null) done() } }, modifier = tall.fillMaxWidth()) {
                Text(stringResource(R.string.save_contact))
            }
        }
        checkIn?.let { active ->
            item {
                // Lone working: record the contact and check out in one step.
                Column {
                    Text(stringResource(R.string.record_and_check_out_hint, shortTime(active.until)))
                    Button(onClick = {
                        scope.launch {
                            if (model.submitAndCheckOut() == null) return@launch
                            // Checked out: the lone-working timer's notification goes too.
                            CheckInNotification.cancel(context)
                            if (model.checkOutNotSent.value == null) done()
                        }
                    },
                        modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.record_and_check_out)) }
                }
            }
        }
        item {
            OutlinedButton(onClick = { confirmDiscard = true }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.discard_draft)) }
        }
    }
    if (confirmDiscard) {
        AlertDialog(
            onDismissRequest = { confirmDiscard = false },
            title = { Text(stringResource(R.string.discard_draft)) },
            text = { Text(stringResource(R.string.discard_draft_confirm)) },
            confirmButton = {
                TextButton(onClick = { confirmDiscard = false; scope.launch { model.discard(); done() } }, modifier = tall) {
                    Text(stringResource(R.string.discard))
                }
            },
            dismissButton = { TextButton(onClick = { confirmDiscard = false }, modifier = tall) { Text(stringResource(R.string.keep)) } },
        )
    }
}
