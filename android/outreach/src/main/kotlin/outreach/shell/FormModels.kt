package outreach.shell

import java.time.LocalDate
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.outreach_ffi.CaseEdit
import uniffi.outreach_ffi.ConcernInput
import uniffi.outreach_ffi.ConcernStatus
import uniffi.outreach_ffi.ConcernUpdate
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachVaultInterface
import uniffi.outreach_ffi.Severity

/**
 * Open a case: her preferred name, how she may be contacted safely (asked
 * before anything else is recorded: texts, voicemail, a code word, notes)
 * and the referral. The core checks every field; a refusal comes back in
 * plain words and nothing is written. The form keeps a draft ([draft],
 * [FormKind.OPEN_CASE]): there is no case yet, so it is kept with an empty
 * case id; saved on every edit, restored by [open] after a killed app,
 * deleted once the case is opened.
 */
class NewCaseModel(private val repo: OutreachRepository) {
    /** The form. `null` for a yes/no means "not asked yet". */
    data class Form(
        val preferredName: String = "",
        val phone: String = "",
        val textOk: Boolean? = null,
        val voicemailOk: Boolean? = null,
        val codeWord: String = "",
        val safeContactNotes: String = "",
        val referralDate: LocalDate? = null,
        val referralSource: String = "",
    )

    private val _form = MutableStateFlow(Form())
    val form: StateFlow<Form> = _form.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    /** The form's draft, by the field names below (a yes/no as `yes` / `no`, a day as `YYYY-MM-DD`). */
    val draft = FormDraftKeeper(repo, NO_CASE, FormKind.OPEN_CASE, _error)

    /** Opens the form: what a killed app had typed, if anything (true when restored). */
    suspend fun open(): Boolean = draft.open().also { if (it) _form.value = formOf(draft.fields.value) }

    /** One edit: shown at once, saved at once. */
    suspend fun edit(change: (Form) -> Form) {
        val next = change(_form.value)
        _form.value = next
        val fields = fieldsOf(next)
        if (fields.any { (k, v) -> draft[k] != v }) draft.setAll(fields)
    }

    /** Opens the case; returns its id, or null with [error] set (nothing written, the draft kept). */
    suspend fun create(): String? {
        val f = _form.value
        val fields = CaseEdit(
            preferredName = f.preferredName,
            phone = f.phone.ifBlank { null },
            textOk = f.textOk,
            voicemailOk = f.voicemailOk,
            codeWord = f.codeWord.ifBlank { null },
            safeContactNotes = f.safeContactNotes.ifBlank { null },
            referralDate = f.referralDate?.let(Dates::date),
            referralSource = f.referralSource.ifBlank { null },
        )
        return try {
            repo.write { it.createCase(fields) }.also {
                draft.done()
                _error.value = null
                _form.value = Form()
            }
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
            null
        }
    }

    /** Clears the form (the app asks first): the draft is thrown away. */
    suspend fun clear() {
        draft.discard()
        _form.value = Form()
    }

    /** The draft was thrown away from its own controls ("Clear this form"): the form empties too. */
    fun followDraft() {
        if (draft.fields.value.isEmpty()) _form.value = Form()
    }

    companion object {
        /** The case id a draft with no case is saved under: none. */
        const val NO_CASE = ""
        const val PREFERRED_NAME = "preferred_name"
        const val PHONE = "phone"
        const val TEXT_OK = "text_ok"
        const val VOICEMAIL_OK = "voicemail_ok"
        const val CODE_WORD = "code_word"
        const val SAFE_CONTACT_NOTES = "safe_contact_notes"
        const val REFERRAL_DATE = "referral_date"
        const val REFERRAL_SOURCE = "referral_source"

        private fun yesNo(b: Boolean?) = when (b) { true -> "yes"; false -> "no"; null -> "" }
        private fun yesNo(s: String?) = when (s) { "yes" -> true; "no" -> false; else -> null }

        fun fieldsOf(f: Form): Map<String, String> = mapOf(
            PREFERRED_NAME to f.preferredName,
            PHONE to f.phone,
            TEXT_OK to yesNo(f.textOk),
            VOICEMAIL_OK to yesNo(f.voicemailOk),
            CODE_WORD to f.codeWord,
            SAFE_CONTACT_NOTES to f.safeContactNotes,
            REFERRAL_DATE to (f.referralDate?.let(Dates::date) ?: ""),
            REFERRAL_SOURCE to f.referralSource,
        )

        fun formOf(m: Map<String, String>): Form = Form(
            preferredName = m[PREFERRED_NAME] ?: "",
            phone = m[PHONE] ?: "",
            textOk = yesNo(m[TEXT_OK]),
            voicemailOk = yesNo(m[VOICEMAIL_OK]),
            codeWord = m[CODE_WORD] ?: "",
            safeContactNotes = m[SAFE_CONTACT_NOTES] ?: "",
            referralDate = Dates.parseDate(m[REFERRAL_DATE]),
            referralSource = m[REFERRAL_SOURCE] ?: "",
        )
    }
}

/**
 * Safeguarding concerns on one case: raise, update (status, severity,
 * escalation) and the list — open ones first, most severe first (the
 * core's order of severities), then the newest. The form for a new concern
 * keeps a draft ([draft]: saved on every edit, restored when the form is
 * opened again for the case after a killed app, deleted once raised), and
 * so does the form that updates or escalates one ([updateDraft],
 * [FormKind.CONCERN_UPDATE], deleted once the update is saved).
 */
class ConcernsModel(private val repo: OutreachRepository, val caseId: String) {
    data class Item(
        val id: String,
        val category: String,
        val severity: Severity,
        val status: ConcernStatus,
        val description: String,
        val raisedAt: String,
        val raisedBy: String?,
        val escalatedTo: String?,
    ) {
        val open: Boolean get() = status != ConcernStatus.CLOSED
    }

    private val _concerns = MutableStateFlow<List<Item>>(emptyList())
    val concerns: StateFlow<List<Item>> = _concerns.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    /** The severities and statuses to offer: the core's lists. */
    val severities: List<Severity> get() = Vocab.core.severities.map { it.value }
    val statuses: List<ConcernStatus> get() = Vocab.core.concernStatuses.map { it.value }

    suspend fun load() {
        try {
            val case = repo.read { it.caseRecord(caseId) }
            _concerns.value = case.concerns.map { (id, c) ->
                Item(id, c.category, c.severity, c.status ?: ConcernStatus.OPEN, c.description, c.raisedAt, c.raisedBy, c.escalatedTo)
            }.sortedWith(
                compareByDescending<Item> { it.open }
                    .thenByDescending { Vocab.severityRank(it.severity) }
                    .thenByDescending { it.raisedAt },
            )
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    private suspend fun <T> attempt(block: (OutreachVaultInterface) -> T): T? = try {
        repo.write(block).also {
            _error.value = null
            load()
        }
    } catch (e: OutreachException) {
        _error.value = Messages.of(e)
        null
    }

    /** The form for a new concern: [CATEGORY], [SEVERITY], [DESCRIPTION] and [ESCALATED_TO], saved on every edit. */
    val draft = FormDraftKeeper(repo, caseId, FormKind.CONCERN, _error)

    suspend fun setCategory(v: String) = draft.set(CATEGORY, v)
    suspend fun setSeverity(s: Severity) = draft.set(SEVERITY, Vocab.word(s))
    suspend fun setDescription(v: String) = draft.set(DESCRIPTION, v)
    suspend fun setEscalatedTo(v: String) = draft.set(ESCALATED_TO, v)
    fun severity(): Severity? = draft.value(SEVERITY)?.let { w -> Vocab.core.severities.firstOrNull { it.word == w }?.value }

    /** Raises a concern; returns its id, or null with [error] set. The form's draft is deleted. */
    suspend fun raise(category: String, severity: Severity, description: String, escalatedTo: String? = null) =
        attempt {
            it.addConcern(caseId, ConcernInput(category = category, severity = severity, description = description,
                escalatedTo = escalatedTo?.ifBlank { null }))
        }?.also { draft.done() }

    /** Raises the concern as typed in [draft]; no severity chosen is refused in plain words. */
    suspend fun submit(): String? {
        val severity = severity() ?: run {
            _error.value = Messages.of(OutreachException.InvalidInput("severity: choose how severe it is"))
            return null
        }
        return raise(draft[CATEGORY], severity, draft[DESCRIPTION], draft.value(ESCALATED_TO))
    }

    /** Changes what is given; naming who it was escalated to marks it escalated (the core's rule). */
    suspend fun update(id: String, status: ConcernStatus? = null, severity: Severity? = null, escalatedTo: String? = null) =
        attempt { it.updateConcern(caseId, id, ConcernUpdate(status = status, severity = severity, escalatedTo = escalatedTo?.ifBlank { null })) }

    /**
     * The form that updates or escalates a concern already raised:
     * [UPDATE_CONCERN] (its id), [UPDATE_SEVERITY] and [UPDATE_STATUS] (the
     * core's words; empty leaves them as they are) and [UPDATE_ESCALATED_TO],
     * saved on every edit. [beginUpdate] opens it on a concern (saved only
     * with the first edit); opening the screen again after a killed app
     * restores it ([updateDraft]`.open()`).
     */
    val updateDraft = FormDraftKeeper(repo, caseId, FormKind.CONCERN_UPDATE, _error)

    /** Starts updating concern [id] (another update in progress is replaced by the next edit). */
    fun beginUpdate(id: String) = updateDraft.fill(mapOf(UPDATE_CONCERN to id))

    /** The concern being updated (null: none). */
    val updating: String? get() = updateDraft.value(UPDATE_CONCERN)

    suspend fun setUpdateSeverity(s: Severity?) = updateDraft.set(UPDATE_SEVERITY, s?.let { Vocab.word(it) } ?: "")
    suspend fun setUpdateStatus(s: ConcernStatus?) = updateDraft.set(UPDATE_STATUS, s?.let { Vocab.word(it) } ?: "")
    suspend fun setUpdateEscalatedTo(v: String) = updateDraft.set(UPDATE_ESCALATED_TO, v)
    fun updateSeverity(): Severity? =
        updateDraft.value(UPDATE_SEVERITY)?.let { w -> Vocab.core.severities.firstOrNull { it.word == w }?.value }
    fun updateStatus(): ConcernStatus? =
        updateDraft.value(UPDATE_STATUS)?.let { w -> Vocab.core.concernStatuses.firstOrNull { it.word == w }?.value }

    /** Saves the update as typed in [updateDraft]; true when saved (the draft deleted), false with [error] set. */
    suspend fun submitUpdate(): Boolean {
        val id = updating ?: run {
            _error.value = Messages.of(OutreachException.InvalidInput("concern: choose the concern to update"))
            return false
        }
        if (updateSeverity() == null && updateStatus() == null && updateDraft.value(UPDATE_ESCALATED_TO) == null) {
            _error.value = Messages.of(OutreachException.InvalidInput("update: change the severity or status, or say who it was escalated to"))
            return false
        }
        update(id, updateStatus(), updateSeverity(), updateDraft.value(UPDATE_ESCALATED_TO)) ?: return false
        updateDraft.done()
        return true
    }

    /** Stops updating: the draft is thrown away, the concern left as it was. */
    suspend fun cancelUpdate() = updateDraft.discard()

    companion object {
        const val CATEGORY = "category"
        const val SEVERITY = "severity"
        const val DESCRIPTION = "description"
        const val ESCALATED_TO = "escalated_to"
        const val UPDATE_CONCERN = "concern"
        const val UPDATE_SEVERITY = "severity"
        const val UPDATE_STATUS = "status"
        const val UPDATE_ESCALATED_TO = "escalated_to"
    }
}
