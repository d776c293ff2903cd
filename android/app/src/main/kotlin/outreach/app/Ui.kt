package outreach.app

import android.app.DatePickerDialog
import android.app.TimePickerDialog
import android.text.format.DateFormat
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import java.time.LocalDate
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.launch
import java.time.ZoneId
import java.time.ZonedDateTime
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import outreach.shell.Vocab
import uniffi.outreach_ffi.ConcernStatus
import uniffi.outreach_ffi.ContactKind
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.ExitReason
import uniffi.outreach_ffi.MeetingKind
import uniffi.outreach_ffi.Outcome
import uniffi.outreach_ffi.Phase
import uniffi.outreach_ffi.ReferralStatus
import uniffi.outreach_ffi.ReviewState
import uniffi.outreach_ffi.ScaleView
import uniffi.outreach_ffi.Severity
import uniffi.outreach_ffi.SosColumn
import uniffi.outreach_ffi.WorryKind

// Shared pieces of every screen: labels for the core's words, section
// headings TalkBack can jump between, choice chips, error text that is
// announced and says it is a problem (not only red), and the platform's
// date and time pickers. Every control is at least 48 dp tall.

/**
 * Runs [block] at once up to its first suspension (a draft's state changes
 * before the text field recomposes, so typing never loses a character), the
 * rest (the sealed save, off the main thread) after.
 */
fun CoroutineScope.now(block: suspend () -> Unit) {
    launch(start = CoroutineStart.UNDISPATCHED) { block() }
}

/** The minimum touch target. */
val tall = Modifier.heightIn(min = 48.dp)

/**
 * A word of the core's vocabulary in the phone's language: the label in
 * strings.xml keyed by [Vocab.key]; a word new to the core that has no
 * label yet shows in plain form (the JVM tests fail until it has one).
 */
@Composable
fun vocabLabel(list: String, word: String): String {
    val context = LocalContext.current
    val id = remember(list, word) { context.resources.getIdentifier(Vocab.key(list, word), "string", context.packageName) }
    return if (id != 0) stringResource(id) else Vocab.fallback(word)
}

@Composable fun label(v: ContactKind) = vocabLabel("contact_kinds", Vocab.word(v))
@Composable fun label(v: Outcome) = vocabLabel("outcomes", Vocab.word(v))
@Composable fun label(v: Domain) = vocabLabel("domains", Vocab.word(v))
@Composable fun label(v: Severity) = vocabLabel("severities", Vocab.word(v))
@Composable fun label(v: ConcernStatus) = vocabLabel("concern_statuses", Vocab.word(v))
@Composable fun label(v: ExitReason) = vocabLabel("exit_reasons", Vocab.word(v))
@Composable fun label(v: WorryKind) = vocabLabel("worry_kinds", Vocab.word(v))
@Composable fun label(v: SosColumn) = vocabLabel("sos_columns", Vocab.word(v))
@Composable fun label(v: ReviewState) = vocabLabel("review_states", Vocab.word(v))
@Composable fun label(v: ScaleView) = vocabLabel("scale_views", Vocab.word(v))
@Composable fun label(v: MeetingKind) = vocabLabel("meeting_kinds", Vocab.word(v))
@Composable fun label(v: ReferralStatus) = vocabLabel("referral_statuses", Vocab.word(v))
@Composable fun label(v: Phase) = vocabLabel("phases", Vocab.word(v))

/** A section title, marked as a heading for TalkBack's heading navigation. */
@Composable
fun Heading(text: String, large: Boolean = false) {
    Text(
        text,
        style = if (large) MaterialTheme.typography.headlineSmall else MaterialTheme.typography.titleMedium,
        modifier = Modifier.padding(top = 8.dp).semantics { heading() },
    )
}

/** A problem, announced when it appears, and worded as one (never only red). */
@Composable
fun ErrorText(message: String?) {
    if (message == null) return
    Text(
        stringResource(R.string.problem, message),
        color = MaterialTheme.colorScheme.error,
        modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite },
    )
}

/** One choice among [options] as chips (each announced with its selected state). */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun <T> Choices(title: String, options: List<T>, selected: (T) -> Boolean, labelOf: @Composable (T) -> String, pick: (T) -> Unit) {
    Column {
        Text(title, style = MaterialTheme.typography.labelLarge)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            options.forEach { option ->
                FilterChip(selected(option), { pick(option) }, { Text(labelOf(option)) }, modifier = tall)
            }
        }
    }
}

private val dateTimeFormat = DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT)
private val dateFormat = DateTimeFormatter.ofLocalizedDate(FormatStyle.MEDIUM)

/**
 * A date and time from the platform's pickers (date, then time), shown in
 * the phone's format. Never typed. [clear] offers to leave it unset.
 */
@Composable
fun DateTimeField(title: String, value: ZonedDateTime?, pick: (ZonedDateTime) -> Unit, clear: (() -> Unit)? = null) {
    val context = LocalContext.current
    val shown = value?.let { dateTimeFormat.format(it) } ?: stringResource(R.string.not_set)
    Column {
        OutlinedButton(onClick = {
            val start = value ?: ZonedDateTime.now()
            DatePickerDialog(context, { _, y, m, d ->
                TimePickerDialog(context, { _, h, min ->
                    pick(ZonedDateTime.of(y, m + 1, d, h, min, 0, 0, ZoneId.systemDefault()))
                }, start.hour, start.minute, DateFormat.is24HourFormat(context)).show()
            }, start.year, start.monthValue - 1, start.dayOfMonth).show()
        }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.field_value, title, shown)) }
        if (clear != null && value != null) {
            TextButton(onClick = clear, modifier = tall) { Text(stringResource(R.string.clear_field, title)) }
        }
    }
}

/** A calendar day from the platform's date picker. */
@Composable
fun DateField(title: String, value: LocalDate?, pick: (LocalDate) -> Unit, clear: (() -> Unit)? = null) {
    val context = LocalContext.current
    val shown = value?.let { dateFormat.format(it) } ?: stringResource(R.string.not_set)
    Column {
        OutlinedButton(onClick = {
            val start = value ?: LocalDate.now()
            DatePickerDialog(context, { _, y, m, d -> pick(LocalDate.of(y, m + 1, d)) }, start.year, start.monthValue - 1, start.dayOfMonth)
                .show()
        }, modifier = tall.fillMaxWidth()) { Text(stringResource(R.string.field_value, title, shown)) }
        if (clear != null && value != null) {
            TextButton(onClick = clear, modifier = tall) { Text(stringResource(R.string.clear_field, title)) }
        }
    }
}

/** A yes / no / not asked choice (safe-contact questions). */
@Composable
fun YesNo(title: String, value: Boolean?, pick: (Boolean?) -> Unit) {
    val yes = stringResource(R.string.yes)
    val no = stringResource(R.string.no)
    val unasked = stringResource(R.string.not_asked)
    Choices(title, listOf(true, false, null), { it == value }, { if (it == null) unasked else if (it) yes else no }) { pick(it) }
}
