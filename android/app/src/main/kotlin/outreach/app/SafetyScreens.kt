package outreach.app

import android.Manifest
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
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
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import java.time.LocalDate
import java.time.ZonedDateTime
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import outreach.shell.CheckInModel
import outreach.shell.Dates
import outreach.shell.OutreachRepository
import outreach.shell.ReportModel
import outreach.shell.SafetyAlertsModel
import uniffi.outreach_ffi.CheckInState

// Lone working (check in before a visit, the running timer, extend, check
// out), the supervisor's safety alerts, and the report card summary. What
// matters for safety is said in words as well as colour: OVERDUE, NOT SENT
// (the server does not know, so no one will be alerted), a check-out NOT
// SENT (the alert will still be raised). Every control is at least 48 dp.

/** A figure's label from strings.xml (`report_<key>`); a new figure without one shows its key in plain form. */
@Composable
fun reportLabel(key: String): String {
    val context = LocalContext.current
    val id = remember(key) { context.resources.getIdentifier("report_$key", "string", context.packageName) }
    return if (id != 0) stringResource(id) else key.replace('_', ' ')
}

/** Check in before a visit to this case, see the time left, extend, check out. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CheckInScreen(repo: OutreachRepository, caseId: String) {
    val model = remember(caseId) { CheckInModel(repo, caseId) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    var until by remember { mutableStateOf<ZonedDateTime>(model.defaultUntil()) }
    // The note is its draft: saved on every keystroke, restored after a killed app, deleted once checked in.
    val fields by model.draft.fields.collectAsState()
    val draftError by model.draftError.collectAsState()
    var restored by remember { mutableStateOf(false) }
    val context = LocalContext.current
    val askToNotify = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) {}
    LaunchedEffect(caseId) { model.load(); restored = model.draft.open() }
    // The timer outside the app: an ongoing notification counting down to the deadline.
    LaunchedEffect(state.until, state.active) {
        val deadline = state.until
        if (deadline != null && state.active) CheckInNotification.show(context, deadline, shortTime(Dates.instant(deadline)))
        else CheckInNotification.cancel(context)
    }
    // The running timer: one tick a second while a check-in is open (no core call).
    LaunchedEffect(state.until) {
        while (state.until != null) {
            model.tick()
            delay(1_000)
        }
    }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.check_in_title), large = true) }
        if (state.checkIn == null) {
            if (state.checkedOut) item { Text(stringResource(R.string.checked_out)) }
            item { Text(stringResource(R.string.check_in_hint)) }
            item { DateTimeField(stringResource(R.string.check_in_until), until, { until = it }) }
            item {
                OutlinedTextField(fields[CheckInModel.NOTE] ?: "", { v -> scope.now { model.setNote(v) } },
                    label = { Text(stringResource(R.string.check_in_note)) }, modifier = Modifier.fillMaxWidth(), minLines = 2)
            }
            item { ErrorText(state.error ?: draftError) }
            item {
                Button(onClick = {
                    if (CheckInNotification.needsPermission(context)) askToNotify.launch(Manifest.permission.POST_NOTIFICATIONS)
                    scope.launch { model.submit(until) }
                }, enabled = !state.working,
                    modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.check_in_action)) }
            }
            item { FormDraftControls(model.draft, restored) }
        } else {
            val timer = state.timer
            if (timer != null) {
                item {
                    // OVERDUE in words and bold, the colour repeats it; announced once when it changes.
                    val words = if (timer.overdue) stringResource(R.string.check_in_overdue, timer.shown)
                    else stringResource(R.string.check_in_left, timer.shown)
                    Text(words, style = MaterialTheme.typography.headlineSmall, fontWeight = if (timer.overdue) FontWeight.Bold else null,
                        color = if (timer.overdue) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface)
                }
                if (timer.overdue) {
                    item {
                        Text(stringResource(R.string.check_in_overdue_hint),
                            modifier = Modifier.semantics { liveRegion = LiveRegionMode.Assertive })
                    }
                }
            }
            item { Text(stringResource(R.string.check_in_until_line, state.until?.let { shortTime(Dates.instant(it)) } ?: "")) }
            if (state.notSent) {
                item {
                    Text(stringResource(R.string.check_in_not_sent), fontWeight = FontWeight.Bold, color = MaterialTheme.colorScheme.error,
                        modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite })
                }
            }
            if (state.checkOutNotSent) {
                item {
                    Text(stringResource(R.string.check_out_not_sent), fontWeight = FontWeight.Bold, color = MaterialTheme.colorScheme.error,
                        modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite })
                }
            }
            state.notSentBecause?.let { why -> item { Text(stringResource(R.string.not_sent_because, why)) } }
            item { ErrorText(state.error) }
            if (!state.checkOutNotSent) {
                item {
                    FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                        model.extensions.forEach { minutes ->
                            OutlinedButton(onClick = { scope.launch { model.extend(minutes) } }, enabled = !state.working, modifier = tall) {
                                Text(stringResource(R.string.extend_by, minutes.toString()))
                            }
                        }
                    }
                }
            }
            item {
                Button(onClick = { scope.launch { model.checkOut() } }, enabled = !state.working, modifier = tall.fillMaxWidth()) {
                    Text(stringResource(R.string.check_out_action))
                }
            }
        }
    }
}

/** A stored instant in the phone's time format. */
internal fun shortTime(instant: String): String =
    Dates.parseInstant(instant)?.toLocalTime()?.withNano(0)?.toString()?.take(5) ?: instant

/** The supervisor's safety alerts: open first, acknowledge; who of her team is out now. */
@Composable
fun SafetyAlertsScreen(repo: OutreachRepository) {
    val model = remember { SafetyAlertsModel(repo) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    // This phone's copy at once, then the server's.
    LaunchedEffect(Unit) { model.load(); model.refresh() }
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.alerts_title), large = true) }
        item { Text(stringResource(R.string.alerts_as_of, state.asOf?.let(::shortTime) ?: stringResource(R.string.never))) }
        if (state.unsent > 0u) item { Text(stringResource(R.string.alerts_unsent, state.unsent.toString())) }
        item { ErrorText(state.error) }
        item {
            OutlinedButton(onClick = { scope.launch { model.refresh() } }, modifier = tall.fillMaxWidth()) {
                Text(stringResource(R.string.alerts_refresh))
            }
        }
        if (state.alerts.isEmpty()) item { Text(stringResource(R.string.alerts_none)) }
        items(state.alerts, key = { it.alertId }) { a ->
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                val unacknowledged = a.acknowledgedAt == null
                // OVERDUE and acknowledged in words; red only repeats it.
                Text(stringResource(R.string.alert_line, a.worker, a.minutesOverdue.toString(), shortTime(a.due)), fontWeight = FontWeight.Bold,
                    color = if (unacknowledged) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface)
                Text(a.checkedOutAt?.let { stringResource(R.string.alert_checked_out, shortTime(it)) } ?: stringResource(R.string.alert_still_out))
                if (unacknowledged) {
                    val action = stringResource(R.string.alert_acknowledge_named, a.worker)
                    Button(onClick = { scope.launch { model.acknowledge(a.alertId) } },
                        modifier = tall.fillMaxWidth().semantics { contentDescription = action }) {
                        Text(stringResource(R.string.alert_acknowledge))
                    }
                } else {
                    Text(stringResource(R.string.alert_acknowledged, a.acknowledgedBy ?: "", shortTime(a.acknowledgedAt ?: "")))
                }
            }
        }
        item { Heading(stringResource(R.string.out_now)) }
        if (state.checkIns.isEmpty()) item { Text(stringResource(R.string.out_now_none)) }
        items(state.checkIns, key = { it.timerId }) { c ->
            Text(stringResource(if (c.state == CheckInState.OVERDUE) R.string.out_now_overdue else R.string.out_now_line, c.worker, shortTime(c.until)))
        }
    }
}

/**
 * The report card summary for a period (the core's default until one is
 * picked), then one card per practitioner with the same figures (the core's
 * cards, in its order; numbers as the core gives them). A percentage with
 * nothing to divide by shows "—" and is read out as "no data yet".
 */
@Composable
fun ReportScreen(repo: OutreachRepository) {
    val model = remember { ReportModel(repo) }
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    var from by remember { mutableStateOf<LocalDate?>(null) }
    var to by remember { mutableStateOf<LocalDate?>(null) }
    var team by remember { mutableStateOf("") }
    LaunchedEffect(Unit) { model.load() }
    val period = state.report?.period
    LazyColumn(pad.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item { Heading(stringResource(R.string.report_title), large = true) }
        item { DateField(stringResource(R.string.report_from), from ?: Dates.parseDate(period?.from), { from = it }) }
        item { DateField(stringResource(R.string.report_to), to ?: Dates.parseDate(period?.to), { to = it }) }
        item {
            OutlinedTextField(team, { team = it }, label = { Text(stringResource(R.string.report_team)) }, modifier = Modifier.fillMaxWidth())
        }
        item {
            Button(onClick = { scope.launch { model.load(from, to, team) } }, modifier = tall.fillMaxWidth()) {
                Text(stringResource(R.string.report_show))
            }
        }
        item { ErrorText(state.error) }
        state.report?.let { r ->
            item { Text(stringResource(R.string.report_cases, r.cases.toString())) }
            if (r.unreadableCases > 0u) item { Text(stringResource(R.string.report_unreadable, r.unreadableCases.toString())) }
        }
        items(state.figures, key = { it.key }) { f ->
            Text(stringResource(R.string.field_value, reportLabel(f.key), f.value ?: stringResource(R.string.report_no_data)),
                modifier = tall)
        }
        if (state.cards.isNotEmpty()) item { Heading(stringResource(R.string.report_by_practitioner)) }
        items(state.cards, key = { "card:" + it.name }) { card ->
            Column {
                // Each card's title is a heading: TalkBack moves from one practitioner to the next.
                Heading(stringResource(R.string.report_card_title, card.name, card.cases))
                card.figures.forEach { f -> CardFigure(reportLabel(f.key), f.value) }
            }
        }
    }
}

/** One figure of a practitioner's card: "—" when there is no data, read out in words. */
@Composable
private fun CardFigure(label: String, value: String?) {
    if (value != null) {
        Text(stringResource(R.string.field_value, label, value), modifier = tall)
    } else {
        val spoken = stringResource(R.string.field_value, label, stringResource(R.string.report_no_data))
        Text(stringResource(R.string.field_value, label, stringResource(R.string.report_no_data_short)),
            modifier = tall.semantics { contentDescription = spoken })
    }
}
