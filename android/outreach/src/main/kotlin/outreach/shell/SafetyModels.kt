package outreach.shell

import java.time.Duration
import java.time.LocalDate
import java.time.ZonedDateTime
import java.time.temporal.ChronoUnit
import java.util.Locale
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.outreach_ffi.AlertView
import uniffi.outreach_ffi.BetterOff
import uniffi.outreach_ffi.CheckInState
import uniffi.outreach_ffi.CheckInView
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.HowMuch
import uniffi.outreach_ffi.HowWell
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.Report
import uniffi.outreach_ffi.ReportQuery
import uniffi.outreach_ffi.SafetyReceipt
import uniffi.outreach_ffi.SafetyStatus

/**
 * Lone working on one case: check in before a visit (until a time from the
 * platform's pickers, default an hour from now, with an optional note),
 * extend, check out — and the running timer the screen and its notification
 * show. The check-in calls are the core's `suspend` ones (they run on the
 * core's own thread and send at once when there is signal); the timer reads
 * only this phone's safety state, no network. When the server has not heard
 * (no signal), the state says so in words: NOT SENT means no one will be
 * alerted, a check-out NOT SENT means the alert will still be raised until a
 * sync sends it. Overdue is said in words too, never only in red. The note
 * keeps a draft ([draft]: saved on every edit, restored when the screen is
 * opened again for the case after a killed app, deleted once checked in).
 */
class CheckInModel(
    private val repo: OutreachRepository,
    val caseId: String,
    private val clock: () -> ZonedDateTime = { ZonedDateTime.now() },
) {
    /** The running timer at one moment: time left, or how long overdue. */
    data class Timer(val remainingSeconds: Long, val overdue: Boolean) {
        /** `H:MM:SS` left, or overdue by. */
        val shown: String
            get() {
                val s = Math.abs(remainingSeconds)
                return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            }

        /** The timer in English (the shell's wording; the app's is in its strings). */
        val english: String get() = if (overdue) "OVERDUE by $shown: check out or extend" else "$shown left"
    }

    data class State(
        /** This user's check-in to the case, as this phone last heard it (null: not checked in). */
        val checkIn: CheckInView? = null,
        val until: ZonedDateTime? = null,
        val timer: Timer? = null,
        /** The server does not know about the check-in: no one will be alerted. */
        val notSent: Boolean = false,
        /** The check-out is not on the server: the alert will still be raised unless a sync sends it. */
        val checkOutNotSent: Boolean = false,
        /** Why it was not sent (the core's words, e.g. no connection). */
        val notSentBecause: String? = null,
        val checkedOut: Boolean = false,
        val working: Boolean = false,
        val error: String? = null,
    ) {
        val active: Boolean get() = checkIn != null && !checkOutNotSent
    }

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    /** Refusals of the note's draft (a note too long), in plain words; the screen shows it with [State.error]. */
    private val _draftError = MutableStateFlow<String?>(null)
    val draftError: StateFlow<String?> = _draftError.asStateFlow()

    /** The check-in note in progress ([NOTE]), saved on every edit. */
    val draft = FormDraftKeeper(repo, caseId, FormKind.CHECK_IN, _draftError)

    suspend fun setNote(v: String) = draft.set(NOTE, v)

    /** The until picker's default: an hour from now, to the minute. */
    fun defaultUntil(): ZonedDateTime = clock().plusHours(1).truncatedTo(ChronoUnit.MINUTES)

    /** Extensions to offer, in minutes. */
    val extensions: List<Long> = listOf(15L, 30L, 60L)

    /** Reads this phone's safety state (no network): call it on opening and when the screen returns. */
    suspend fun load() {
        try {
            show(repo.read { it.safetyStatus() })
        } catch (e: OutreachException) {
            _state.value = _state.value.copy(error = Messages.of(e))
        }
    }

    private fun show(status: SafetyStatus, receipt: SafetyReceipt? = null, checkedOut: Boolean = false) {
        val mine = status.checkIns.firstOrNull { it.mine && it.caseId == caseId }
        val until = Dates.parseInstant(mine?.until)
        _state.value = State(
            checkIn = mine,
            until = until,
            timer = until?.let { timerAt(it, mine?.state) },
            notSent = mine?.state == CheckInState.NOT_SENT,
            checkOutNotSent = mine?.state == CheckInState.CHECK_OUT_NOT_SENT,
            notSentBecause = receipt?.takeIf { !it.sent }?.notSentBecause,
            checkedOut = checkedOut && mine == null,
        )
    }

    private fun timerAt(until: ZonedDateTime, state: CheckInState?): Timer {
        val left = Duration.between(clock(), until).seconds
        return Timer(left, left < 0 || state == CheckInState.OVERDUE)
    }

    /** Moves the timer on (the screen calls it every second; no core call). */
    fun tick() {
        val s = _state.value
        val until = s.until ?: return
        _state.value = s.copy(timer = timerAt(until, s.checkIn?.state))
    }

    private suspend fun attempt(checkedOut: Boolean = false, call: suspend () -> SafetyReceipt) {
        _state.value = _state.value.copy(working = true, error = null)
        try {
            val receipt = call()
            show(repo.read { it.safetyStatus() }, receipt, checkedOut)
        } catch (e: OutreachException) {
            _state.value = _state.value.copy(working = false, error = Messages.of(e))
        }
    }

    /**
     * Checks in until [until] (the pickers' time), with a note only she and
     * her supervisors can read. Once the phone holds the check-in (sent or
     * NOT SENT) the note's draft is deleted.
     */
    suspend fun checkIn(until: ZonedDateTime, note: String? = null) {
        attempt { repo.vault.checkIn(caseId, Dates.instant(until), note?.ifBlank { null }) }
        if (_state.value.error == null && _state.value.checkIn != null) draft.done()
    }

    /** Checks in with the note as typed in [draft]. */
    suspend fun submit(until: ZonedDateTime) = checkIn(until, draft.value(NOTE))

    /** Moves the deadline on by [minutes]. */
    suspend fun extend(minutes: Long) = attempt { repo.vault.extend(caseId, "${minutes}m") }

    suspend fun checkOut() = attempt(checkedOut = true) { repo.vault.checkOut(caseId) }

    companion object {
        const val NOTE = "note"
    }
}

/**
 * The supervisor's safety alerts: overdue check-ins of her team (open ones
 * first, as the core orders them) and who is out now. [load] reads this
 * phone's copy (no network); [refresh] sends what waits and fetches the
 * server's. Acknowledging is for supervisors of the worker's team (anyone
 * else is told in plain words).
 */
class SafetyAlertsModel(private val repo: OutreachRepository) {
    data class State(
        val alerts: List<AlertView> = emptyList(),
        val checkIns: List<CheckInView> = emptyList(),
        /** When the server last answered (null: never on this phone). */
        val asOf: String? = null,
        /** Check-ins, check-outs and acknowledgements waiting to be sent. */
        val unsent: UInt = 0u,
        val error: String? = null,
    ) {
        val open: List<AlertView> get() = alerts.filter { it.acknowledgedAt == null }
    }

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    private fun show(s: SafetyStatus) {
        _state.value = State(
            alerts = s.alerts.sortedWith(compareBy<AlertView> { it.acknowledgedAt != null }.thenByDescending { it.minutesOverdue }),
            checkIns = s.checkIns.filter { !it.mine },
            asOf = s.asOf,
            unsent = s.unsent,
        )
    }

    suspend fun load() {
        try {
            show(repo.read { it.safetyStatus() })
        } catch (e: OutreachException) {
            _state.value = _state.value.copy(error = Messages.of(e))
        }
    }

    /** Fetches the server's alerts; offline, this phone's copy stays with the reason in plain words. */
    suspend fun refresh() {
        try {
            show(repo.vault.refreshSafety())
        } catch (e: OutreachException) {
            load()
            _state.value = _state.value.copy(error = Messages.of(e))
        }
    }

    /** Acknowledges an alert; true when the server has it (false: [State.error] says why). */
    suspend fun acknowledge(alertId: String): Boolean = try {
        val receipt = repo.vault.acknowledgeAlert(alertId)
        load()
        if (!receipt.sent) {
            _state.value = _state.value.copy(error = Messages.of(OutreachException.Offline(receipt.notSentBecause ?: "")))
        }
        receipt.sent
    } catch (e: OutreachException) {
        _state.value = _state.value.copy(error = Messages.of(e))
        false
    }
}

/**
 * The report card summary (how much, how well, is anyone better off) over
 * the cases this phone holds, for a period from the pickers (null: the
 * core's default period). Counts and percentages only, as the core works
 * them out; a percentage without a denominator is shown as "no data", not 0.
 * Below it, one card per practitioner (the core's `by_practitioner`, in its
 * order) with the same figures; small numbers are shown as the core gives
 * them (exact counts; only the HTML report rounds 1–4 to "< 5").
 */
class ReportModel(private val repo: OutreachRepository) {
    /** One figure: [key] names its label (`report_<key>`); [value] null when there is nothing to divide by. */
    data class Figure(val key: String, val value: String?)

    /** One practitioner's card: her name, how many cases, the team card's figures over hers. */
    data class Card(val name: String, val cases: String, val figures: List<Figure>)

    data class State(
        val report: Report? = null,
        val figures: List<Figure> = emptyList(),
        /** One per practitioner, as the core orders them. */
        val cards: List<Card> = emptyList(),
        val error: String? = null,
    )

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun load(from: LocalDate? = null, to: LocalDate? = null, team: String? = null) {
        val query = ReportQuery(from = from?.let(Dates::date), to = to?.let(Dates::date), team = team?.ifBlank { null })
        _state.value = try {
            val r = repo.read { it.report(query) }
            State(report = r, figures = figures(r), cards = cards(r))
        } catch (e: OutreachException) {
            _state.value.copy(error = Messages.of(e))
        }
    }

    companion object {
        private fun pct(v: Double?) = v?.let { String.format(Locale.UK, "%.0f%%", it) }
        private fun days(v: Double?) = v?.let { String.format(Locale.UK, "%.1f", it) }

        fun figures(r: Report): List<Figure> = figures(r.howMuch, r.howWell, r.betterOff)

        /** The per-practitioner cards, each with the team card's figures. */
        fun cards(r: Report): List<Card> =
            r.byPractitioner.map { Card(it.name, it.cases.toString(), figures(it.howMuch, it.howWell, it.betterOff)) }

        /** The figures of one card (the team's or a practitioner's): the same measures, in the same order. */
        fun figures(howMuch: HowMuch, howWell: HowWell, betterOff: BetterOff): List<Figure> = listOf(
            Figure("active_cases", howMuch.activeCases.toString()),
            Figure("new_referrals", howMuch.newReferrals.toString()),
            Figure("contacts_completed", howMuch.contactsCompleted.toString()),
            Figure("contacts_attempted", howMuch.contactsAttempted.toString()),
            Figure("meetings", howMuch.meetings.toString()),
            Figure("referrals_made", howMuch.referralsMade.toString()),
            Figure("closures", howMuch.closures.toString()),
            Figure("contacts_on_time", pct(howWell.contactsOnTimePct)),
            Figure("overdue_cases", howWell.overdueCases.toString()),
            Figure("visits_signed_off", pct(howWell.visitsSignedOffPct)),
            Figure("median_days_to_sign_off", days(howWell.medianDaysToSignOff)),
            Figure("scaling_improved", pct(betterOff.scalingImprovedPct)),
            Figure("goals_achieved", pct(betterOff.goalsAchievedPct)),
            Figure("pause_agreed", pct(betterOff.pauseAgreedPct)),
            Figure("completed_programme", betterOff.completedProgramme.toString()),
        )
    }
}
