package outreach.shell

import java.time.LocalDate
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.outreach_ffi.Case
import uniffi.outreach_ffi.ConsentInput
import uniffi.outreach_ffi.ExitReason
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.MeetingInput
import uniffi.outreach_ffi.MeetingKind
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachVaultInterface
import uniffi.outreach_ffi.Phase
import uniffi.outreach_ffi.ReferralInput
import uniffi.outreach_ffi.ReferralStatus
import uniffi.outreach_ffi.SosStatus
import uniffi.outreach_ffi.SosUpdate
import uniffi.outreach_ffi.WorryKind

// The practice records of one case that the phone's screens add to:
// referrals to other agencies, meetings (FGC, network, professionals,
// review), consents given and withdrawn, danger statements with their safety
// goals, and closing or reopening the case. Each holder lists what the case
// holds, writes through the core (which checks every field) and shows a
// refusal in plain words through [Messages]; the lists a form offers are the
// core's vocabulary, never copied here. Days come from the platform's date
// picker (default: today), never typed. Each form with free text keeps a
// draft ([FormDraftKeeper]: saved on every edit, restored when the form is
// opened again for the case after a killed app, deleted on submit) — the
// forms that change a record already saved too: a revision ([RevisionForm]),
// a concern's update ([ConcernsModel]) and closing the case ([ClosureModel]).

/**
 * One list of a case's records: loads it from the case record, and runs a
 * write off the main thread, reloading on success or setting [error].
 */
abstract class CaseRecordsModel<T>(protected val repo: OutreachRepository, val caseId: String) {
    private val _items = MutableStateFlow<List<T>>(emptyList())
    val items: StateFlow<List<T>> = _items.asStateFlow()
    protected val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    /** The draft of this list's form, saved on every edit (its error is [error]). */
    protected fun keeper(form: FormKind) = FormDraftKeeper(repo, caseId, form, _error)

    /** The list from the case record, in the order the screen shows it. */
    protected abstract fun itemsOf(case: Case): List<T>

    suspend fun load() {
        try {
            _items.value = itemsOf(repo.read { it.caseRecord(caseId) })
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    /** A write; its result, or null with [error] set (nothing written). */
    protected suspend fun <R> attempt(block: (OutreachVaultInterface) -> R): R? = try {
        repo.write(block).also {
            _error.value = null
            load()
        }
    } catch (e: OutreachException) {
        _error.value = Messages.of(e)
        null
    }
}

/** Referrals to other agencies (housing, substance misuse, health visiting…), newest first. */
class ReferralsModel(repo: OutreachRepository, caseId: String) : CaseRecordsModel<ReferralsModel.Item>(repo, caseId) {
    data class Item(
        val id: String,
        val agency: String,
        val reason: String,
        val date: String,
        val status: ReferralStatus?,
        val outcome: String?,
    )

    /** The statuses to offer: the core's list, in its order (the core's default: made). */
    val statuses: List<ReferralStatus> get() = Vocab.core.referralStatuses.map { it.value }

    override fun itemsOf(case: Case) = case.referrals
        .map { (id, r) -> Item(id, r.agency, r.reason, r.date, r.status, r.outcome) }
        .sortedByDescending { it.date }

    /** The form in progress: [AGENCY], [REASON], [DATE] and [STATUS], saved on every edit. */
    val draft = keeper(FormKind.REFERRAL)

    suspend fun setAgency(v: String) = draft.set(AGENCY, v)
    suspend fun setReason(v: String) = draft.set(REASON, v)
    suspend fun setDate(d: LocalDate?) = draft.set(DATE, d?.let(Dates::date) ?: "")
    suspend fun setStatus(s: ReferralStatus?) = draft.set(STATUS, s?.let { Vocab.word(it) } ?: "")
    fun date(): LocalDate? = Dates.parseDate(draft.value(DATE))
    fun status(): ReferralStatus? = draft.value(STATUS)?.let { w -> Vocab.core.referralStatuses.firstOrNull { it.word == w }?.value }

    /** Records a referral on [date] (null: today); its id, or null with [error] set. The form's draft is deleted. */
    suspend fun add(agency: String, reason: String, date: LocalDate?, status: ReferralStatus? = null) =
        attempt { it.addReferral(caseId, ReferralInput(agency = agency, reason = reason, date = date?.let(Dates::date), status = status)) }
            ?.also { draft.done() }

    /** Records the referral as typed in [draft]. */
    suspend fun submit() = add(draft[AGENCY], draft[REASON], date(), status())

    companion object {
        const val AGENCY = "agency"
        const val REASON = "reason"
        const val DATE = "date"
        const val STATUS = "status"
    }
}

/** Family group conferences, network, professionals and review meetings, newest first. */
class MeetingsModel(repo: OutreachRepository, caseId: String) : CaseRecordsModel<MeetingsModel.Item>(repo, caseId) {
    data class Item(val id: String, val kind: MeetingKind, val date: String, val attendees: List<String>, val summary: String)

    /** The kinds to offer: the core's list, in its order. */
    val kinds: List<MeetingKind> get() = Vocab.core.meetingKinds.map { it.value }

    override fun itemsOf(case: Case) = case.meetings
        .map { (id, m) -> Item(id, m.kind, m.date, m.attendees, m.summary) }
        .sortedByDescending { it.date }

    /** Who was there, as typed: names split at commas, blanks dropped. */
    fun attendees(typed: String): List<String> = typed.split(',').map { it.trim() }.filter { it.isNotEmpty() }

    /** The form in progress: [KIND], [DATE], [ATTENDEES] (as typed) and [SUMMARY], saved on every edit. */
    val draft = keeper(FormKind.MEETING)

    suspend fun setKind(k: MeetingKind) = draft.set(KIND, Vocab.word(k))
    suspend fun setDate(d: LocalDate) = draft.set(DATE, Dates.date(d))
    suspend fun setAttendees(v: String) = draft.set(ATTENDEES, v)
    suspend fun setSummary(v: String) = draft.set(SUMMARY, v)
    fun kind(): MeetingKind? = draft.value(KIND)?.let { w -> Vocab.core.meetingKinds.firstOrNull { it.word == w }?.value }
    fun date(): LocalDate? = Dates.parseDate(draft.value(DATE))

    /** Records a meeting held on [date]; its id, or null with [error] set. The form's draft is deleted. */
    suspend fun add(kind: MeetingKind, date: LocalDate, attendees: String, summary: String) =
        attempt { it.addMeeting(caseId, MeetingInput(kind = kind, date = Dates.date(date), attendees = attendees(attendees), summary = summary)) }
            ?.also { draft.done() }

    /** Records the meeting as typed in [draft] (no day picked: today); no kind chosen is refused in plain words. */
    suspend fun submit(): String? {
        val kind = kind() ?: run {
            _error.value = Messages.of(uniffi.outreach_ffi.OutreachException.InvalidInput("kind: choose the kind of meeting"))
            return null
        }
        return add(kind, date() ?: LocalDate.now(), draft[ATTENDEES], draft[SUMMARY])
    }

    companion object {
        const val KIND = "kind"
        const val DATE = "date"
        const val ATTENDEES = "attendees"
        const val SUMMARY = "summary"
    }
}

/** Consents: what she agreed to and when; withdrawn ones stay listed, after the current ones. */
class ConsentsModel(repo: OutreachRepository, caseId: String) : CaseRecordsModel<ConsentsModel.Item>(repo, caseId) {
    data class Item(val id: String, val what: String, val givenOn: String?, val recordedBy: String?, val withdrawnOn: String?) {
        val withdrawn: Boolean get() = withdrawnOn != null
    }

    override fun itemsOf(case: Case) = case.consents
        .map { (id, c) -> Item(id, c.what, c.givenOn, c.recordedBy, c.withdrawnOn) }
        .sortedWith(compareBy<Item> { it.withdrawn }.thenByDescending { it.givenOn })

    /** The form in progress: [WHAT] and [DATE], saved on every edit. */
    val draft = keeper(FormKind.CONSENT)

    suspend fun setWhat(v: String) = draft.set(WHAT, v)
    suspend fun setDate(d: LocalDate?) = draft.set(DATE, d?.let(Dates::date) ?: "")
    fun date(): LocalDate? = Dates.parseDate(draft.value(DATE))

    /** Consent given on [on] (null: today); its id, or null with [error] set. The form's draft is deleted. */
    suspend fun give(what: String, on: LocalDate? = null) =
        attempt { it.addConsent(caseId, ConsentInput(what = what, givenOn = on?.let(Dates::date))) }?.also { draft.done() }

    /** Records the consent as typed in [draft]. */
    suspend fun submit() = give(draft[WHAT], date())

    companion object {
        const val WHAT = "what"
        const val DATE = "date"
    }

    /** She withdrew consent on [on] (null: today). */
    suspend fun withdraw(id: String, on: LocalDate? = null) = attempt { it.withdrawConsent(caseId, id, on?.let(Dates::date)) }
}

/**
 * Danger statements, each with its safety goal (Signs of Safety): add,
 * revise either half, resolve, reopen. Open ones first; resolved ones stay
 * listed for revising.
 */
class DangerStatementsModel(repo: OutreachRepository, caseId: String) : CaseRecordsModel<DangerStatementsModel.Item>(repo, caseId) {
    data class Item(val id: String, val danger: String, val safetyGoal: String, val resolved: Boolean, val addedAt: String?)

    override fun itemsOf(case: Case) = case.signsOfSafety.dangerStatements
        .map { (id, d) -> Item(id, d.danger, d.safetyGoal, d.status == SosStatus.RESOLVED, d.addedAt) }
        .sortedWith(compareBy<Item> { it.resolved }.thenBy { it.addedAt })

    /** The form for a new statement: [DANGER] and [SAFETY_GOAL], saved on every edit. */
    val draft = keeper(FormKind.DANGER_STATEMENT)

    suspend fun setDanger(v: String) = draft.set(DANGER, v)
    suspend fun setSafetyGoal(v: String) = draft.set(SAFETY_GOAL, v)

    /** Adds a statement; its id, or null with [error] set. The form's draft is deleted. */
    suspend fun add(danger: String, safetyGoal: String) =
        attempt { it.addDangerStatement(caseId, danger, safetyGoal) }?.also { draft.done() }

    /** Adds the statement as typed in [draft]. */
    suspend fun submit() = add(draft[DANGER], draft[SAFETY_GOAL])

    /** Revises the danger, the safety goal or both (null leaves one as it is). */
    suspend fun revise(id: String, danger: String? = null, safetyGoal: String? = null) =
        attempt { it.updateSos(caseId, id, SosUpdate(danger = danger, safetyGoal = safetyGoal)) }

    /** The form that revises a statement already saved (its own draft, [FormKind.REVISION]). */
    val revision = RevisionForm(repo, caseId, RevisionForm.DANGER_STATEMENT, _error) { id, update ->
        attempt { it.updateSos(caseId, id, update) }
    }

    suspend fun resolve(id: String) = attempt { it.updateSos(caseId, id, SosUpdate(status = SosStatus.RESOLVED)) }

    suspend fun reopen(id: String) = attempt { it.updateSos(caseId, id, SosUpdate(status = SosStatus.OPEN)) }

    companion object {
        const val DANGER = "danger"
        const val SAFETY_GOAL = "safety_goal"
    }
}

/**
 * The form that revises a Signs of Safety record already saved: a danger
 * statement with its safety goal ([DANGER_STATEMENT], on the danger
 * statements screen) or an entry of the map, its words and a worry's kind
 * ([SOS_ENTRY], on the plan screen). One definition for both; each holder
 * that revises has one. It keeps a draft ([draft], [FormKind.REVISION]:
 * saved on every edit, restored when its screen opens again for the case
 * after a killed app, deleted once the revision is saved or cancelled).
 * [beginDanger] / [beginEntry] fill it from the record as it is (saved only
 * with the first edit); [submit] saves it through the core, which checks
 * it (an emptied danger or goal is refused in plain words, the draft kept).
 *
 * Fields: [REVISES] (what it revises), [RECORD] (the record's id), then
 * [DANGER] and [SAFETY_GOAL], or [TEXT] and [KIND] (the core's word).
 */
class RevisionForm internal constructor(
    repo: OutreachRepository,
    val caseId: String,
    /** [DANGER_STATEMENT] or [SOS_ENTRY]: the records this form's screen revises. */
    val revises: String,
    private val error: MutableStateFlow<String?>,
    /** The holder's write of the revision (reloads its list on success, sets its error otherwise). */
    private val write: suspend (id: String, update: SosUpdate) -> String?,
) {
    init {
        require(revises in REVISES_WHAT) { "a revision revises one of $REVISES_WHAT" }
    }

    val draft = FormDraftKeeper(repo, caseId, FormKind.REVISION, error)

    /** Restores this screen's revision left by a killed app; true when one is back ([record] says which). */
    suspend fun open(): Boolean = draft.open { it[REVISES] == revises }

    /** The id of the record being revised (null: no revision in progress). */
    val record: String? get() = draft.value(RECORD)

    /** Starts revising a danger statement: the form holds both halves as they are. */
    fun beginDanger(id: String, danger: String, safetyGoal: String) =
        draft.fill(mapOf(REVISES to revises, RECORD to id, DANGER to danger, SAFETY_GOAL to safetyGoal))

    /** Starts revising a map entry: its words and (a worry) its kind as they are. */
    fun beginEntry(id: String, text: String, kind: WorryKind?) =
        draft.fill(mapOf(REVISES to revises, RECORD to id, TEXT to text) + (kind?.let { mapOf(KIND to Vocab.word(it)) } ?: emptyMap()))

    suspend fun setDanger(v: String) = draft.set(DANGER, v)
    suspend fun setSafetyGoal(v: String) = draft.set(SAFETY_GOAL, v)
    suspend fun setText(v: String) = draft.set(TEXT, v)
    suspend fun setKind(k: WorryKind?) = draft.set(KIND, k?.let { Vocab.word(it) } ?: "")
    fun kind(): WorryKind? = draft.value(KIND)?.let { w -> Vocab.core.worryKinds.firstOrNull { it.word == w }?.value }

    /** Saves the revision as typed; the record's id, or null with the holder's error set (the draft kept). */
    suspend fun submit(): String? {
        val id = record ?: run {
            error.value = Messages.of(OutreachException.InvalidInput("revision: choose what to revise"))
            return null
        }
        val update = if (revises == DANGER_STATEMENT) SosUpdate(danger = draft[DANGER], safetyGoal = draft[SAFETY_GOAL])
        else SosUpdate(text = draft[TEXT], kind = kind())
        return write(id, update)?.also { draft.done() }
    }

    /** Stops revising: the draft is thrown away, the record left as it was. */
    suspend fun cancel() = draft.discard()

    companion object {
        const val REVISES = "revises"
        const val RECORD = "record"
        const val DANGER = "danger"
        const val SAFETY_GOAL = "safety_goal"
        const val TEXT = "text"
        const val KIND = "kind"

        /** What a revision revises: a danger statement (with its safety goal), or a map entry. */
        const val DANGER_STATEMENT = "danger_statement"
        const val SOS_ENTRY = "sos_entry"
        val REVISES_WHAT = listOf(DANGER_STATEMENT, SOS_ENTRY)
    }
}

/**
 * Closing a case (she has left the programme: why, a note, the day) and
 * reopening it in a phase. The reasons and phases offered are the core's.
 * The closing form keeps a draft ([draft], [FormKind.CLOSURE]: saved on
 * every edit, restored when the screen opens again for the case after a
 * killed app, deleted once the case is closed).
 */
class ClosureModel(private val repo: OutreachRepository, val caseId: String) {
    data class State(
        val loaded: Boolean = false,
        val phase: Phase? = null,
        val closedOn: String? = null,
        /** The core's word for why she left (the screen shows its label). */
        val exitReason: String? = null,
        val error: String? = null,
    ) {
        val closed: Boolean get() = phase == Phase.CLOSED
    }

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    val exitReasons: List<ExitReason> get() = Vocab.core.exitReasons.map { it.value }

    /** The phases a case reopens in (the core's list, without closed). */
    val reopenPhases: List<Phase> get() = Vocab.core.phases.map { it.value }.filter { it != Phase.CLOSED }

    suspend fun load() {
        _state.value = try {
            val p = repo.read { it.caseRecord(caseId) }.programme
            State(loaded = true, phase = p.phase, closedOn = p.closedOn, exitReason = p.exitReason)
        } catch (e: OutreachException) {
            _state.value.copy(error = Messages.of(e))
        }
    }

    private suspend fun attempt(block: (OutreachVaultInterface) -> Unit): Boolean = try {
        repo.write(block)
        load()
        true
    } catch (e: OutreachException) {
        _state.value = _state.value.copy(error = Messages.of(e))
        false
    }

    /** Refusals of the form's draft (a note too long), in plain words; the screen shows it with [State.error]. */
    private val _draftError = MutableStateFlow<String?>(null)
    val draftError: StateFlow<String?> = _draftError.asStateFlow()

    /** The closing form in progress: [REASON] (the core's word), [NOTE] and [DATE], saved on every edit. */
    val draft = FormDraftKeeper(repo, caseId, FormKind.CLOSURE, _draftError)

    suspend fun setReason(r: ExitReason) = draft.set(REASON, Vocab.word(r))
    suspend fun setNote(v: String) = draft.set(NOTE, v)
    suspend fun setDate(d: LocalDate?) = draft.set(DATE, d?.let(Dates::date) ?: "")
    fun reason(): ExitReason? = draft.value(REASON)?.let { w -> Vocab.core.exitReasons.firstOrNull { it.word == w }?.value }
    fun date(): LocalDate? = Dates.parseDate(draft.value(DATE))

    /** Closes the case on [on] (null: today); it leaves the caseload (listed with closed cases). The form's draft is deleted. */
    suspend fun close(reason: ExitReason, note: String?, on: LocalDate? = null) =
        attempt { it.closeCase(caseId, reason, note?.ifBlank { null }, on?.let(Dates::date)) }.also { if (it) draft.done() }

    /** Closes the case as typed in [draft] (no day picked: today); no reason chosen is refused in plain words. */
    suspend fun submit(): Boolean {
        val reason = reason() ?: run {
            _state.value = _state.value.copy(error = Messages.of(OutreachException.InvalidInput("reason: choose why she left")))
            return false
        }
        return close(reason, draft.value(NOTE), date())
    }

    companion object {
        const val REASON = "reason"
        const val NOTE = "note"
        const val DATE = "date"
    }

    /** Back on the caseload in [phase] (null: the core's default, programme). */
    suspend fun reopen(phase: Phase? = null) = attempt { it.reopenCase(caseId, phase) }
}
