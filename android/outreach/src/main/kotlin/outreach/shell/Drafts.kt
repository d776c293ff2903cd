package outreach.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import uniffi.outreach_ffi.ContactKind
import uniffi.outreach_ffi.FormDraft
import uniffi.outreach_ffi.FormField
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.OutreachException

/**
 * The draft of one form with free text (a referral, a meeting, consent, a
 * danger statement, a concern, a check-in note, a revision of a danger
 * statement or map entry, a concern's update, closing the case, the plan's
 * goal, action and scaling, a new Signs of Safety map entry, a supervisor's
 * comment on a visit, a returned visit's amendment) on one case — or on
 * none: the form that opens a case ([FormKind.OPEN_CASE], [caseId] empty).
 * Every edit is
 * saved through the core at once (sealed, durable, never synced), so a
 * killed app or a flat battery loses at most the keystroke being typed.
 * [open] restores the newest saved draft of this form for this case; the
 * holder calls [done] after the form is submitted, and [discard] throws it
 * away. The core checks only sizes (at most 32 fields, each value at most a
 * note's size); a refusal is set on the holder's error in plain words and
 * nothing is saved — the text stays on screen to be shortened.
 *
 * The fields are kept as typed, by name; a choice is kept as the core's
 * word and a day as `YYYY-MM-DD`.
 */
class FormDraftKeeper internal constructor(
    private val repo: OutreachRepository,
    val caseId: String,
    val form: FormKind,
    /** The holder's error, shown by its screen. */
    private val error: MutableStateFlow<String?>,
) {
    private val _fields = MutableStateFlow<Map<String, String>>(emptyMap())
    val fields: StateFlow<Map<String, String>> = _fields.asStateFlow()

    /** The saved draft's id (null: nothing saved yet). */
    @Volatile
    var draftId: String? = null
        private set

    /** Saves run one after another, so the first edits never make two drafts. */
    private val saving = Mutex()

    /** One field as typed ("" when empty). */
    operator fun get(name: String): String = _fields.value[name] ?: ""

    /** A field as typed, null when empty or blank. */
    fun value(name: String): String? = _fields.value[name]?.ifBlank { null }

    /**
     * Opens the form: the newest saved draft of this form for this case (a
     * killed app's) if there is one, otherwise an empty form. True when a
     * draft was restored. Nothing is saved until the first edit. [accept]
     * picks among drafts of a form two screens share (a revision: of a
     * danger statement, or of a map entry) by their fields.
     */
    suspend fun open(accept: (Map<String, String>) -> Boolean = { true }): Boolean = try {
        val saved = repo.read { v ->
            v.drafts().asSequence().filter { it.caseId == caseId && it.form == form }
                .map { it.draftId to v.restoreFormDraft(it.draftId) }
                .firstOrNull { (_, r) -> accept(r.draft.fields.associate { it.name to it.value }) }
        }
        if (saved == null) {
            false
        } else {
            saving.withLock {
                // Typing that began before the saved draft was read wins (it is the newer text).
                if (draftId != null || _fields.value.isNotEmpty()) return@withLock false
                draftId = saved.first
                _fields.value = saved.second.draft.fields.associate { it.name to it.value }
                true
            }
        }
    } catch (e: OutreachException) {
        error.value = Messages.of(e)
        false
    }

    /**
     * Fills the form with what it starts from (the record being revised or
     * updated), shown at once but saved only with the first edit: opening a
     * form saves nothing. A draft already saved for this form is overwritten
     * by that edit (one form of this kind in progress at a time).
     */
    fun fill(values: Map<String, String>) {
        _fields.value = values
    }

    /** One edit: shown at once, saved at once (the newest value is what is saved). */
    suspend fun set(name: String, value: String) {
        _fields.value = _fields.value + (name to value)
        save()
    }

    /** Several fields changed by one edit (a form kept as a whole): shown at once, saved once. */
    suspend fun setAll(values: Map<String, String>) {
        _fields.value = _fields.value + values
        save()
    }

    private suspend fun save() = saving.withLock {
        val fields = _fields.value.filterValues { it.isNotEmpty() }
        val id = draftId
        if (id == null && fields.isEmpty()) return@withLock
        try {
            draftId = repo.read { it.saveFormDraft(id, caseId, FormDraft(form, fields.map { (n, v) -> FormField(n, v) })) }
            error.value = null
        } catch (e: OutreachException) {
            error.value = Messages.of(e)
        }
    }

    /** After a successful submit: the draft is deleted and the form emptied. */
    suspend fun done() {
        discard()
    }

    /** Throws the draft away (the app asks first) and empties the form. */
    suspend fun discard() = saving.withLock {
        val id = draftId
        try {
            if (id != null) repo.read { it.discardDraft(id) }
            draftId = null
            _fields.value = emptyMap()
        } catch (e: OutreachException.NotFound) {
            draftId = null
            _fields.value = emptyMap()
        } catch (e: OutreachException) {
            error.value = Messages.of(e)
        }
    }
}

/**
 * The drafts this phone holds (contact records and the other forms), newest
 * first, for the list offered on start: "Referral for Leah, saved …".
 * Opening one opens its case's form, which restores it; discarding one
 * deletes it.
 */
class DraftsModel(private val repo: OutreachRepository) {
    data class Item(
        val draftId: String,
        val caseId: String,
        /** Her preferred name (null: the case is no longer on this phone's caseload, or there is none yet: a new case). */
        val name: String?,
        /** The form (null: a contact record). */
        val form: FormKind?,
        /** A contact record's kind, when chosen. */
        val kind: ContactKind?,
        val updatedAt: String,
        /** What a revision revises ([RevisionForm.DANGER_STATEMENT] or [RevisionForm.SOS_ENTRY]); null for other forms. */
        val revises: String? = null,
    ) {
        /** The draft in English (the shell's wording; the app's is in its strings, [labelKey]). */
        val english: String
            get() = formName(form, revises) + (name?.let { " for $it" } ?: "") + ", saved ${updatedAt.take(16).replace('T', ' ')}"
    }

    private val _items = MutableStateFlow<List<Item>>(emptyList())
    val items: StateFlow<List<Item>> = _items.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    suspend fun load() {
        try {
            val (items, names) = repo.read { v ->
                v.drafts().map { d ->
                    // A revision says what it revises (its screen differs), and a new case has no case
                    // to take her name from: both read from the draft itself.
                    fun field(name: String) = v.restoreFormDraft(d.draftId).draft.fields.firstOrNull { it.name == name }?.value
                    val revises = if (d.form == FormKind.REVISION) field(RevisionForm.REVISES) else null
                    val named = if (d.form == FormKind.OPEN_CASE) field(NewCaseModel.PREFERRED_NAME)?.trim()?.ifEmpty { null } else null
                    Triple(d, revises, named)
                } to v.caseload(true).associate { it.id to it.preferredName }
            }
            _items.value = items.map { (d, revises, named) ->
                Item(d.draftId, d.caseId, named ?: names[d.caseId], d.form, d.kind, d.updatedAt, revises)
            }
            _error.value = null
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    /** Throws a draft away (the app asks first). */
    suspend fun discard(draftId: String) {
        try {
            repo.read { it.discardDraft(draftId) }
            load()
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    companion object {
        /** The form's name in plain words (the app's labels: [labelKey] in strings.xml). */
        fun formName(form: FormKind?, revises: String? = null): String = when (form) {
            null -> "Contact record"
            FormKind.REFERRAL -> "Referral"
            FormKind.MEETING -> "Meeting"
            FormKind.CONSENT -> "Consent"
            FormKind.DANGER_STATEMENT -> "Danger statement and safety goal"
            FormKind.CONCERN -> "Safeguarding concern"
            FormKind.CHECK_IN -> "Lone-working check-in note"
            FormKind.REVISION -> when (revises) {
                RevisionForm.SOS_ENTRY -> "Revised Signs of Safety entry"
                RevisionForm.DANGER_STATEMENT -> "Revised danger statement and safety goal"
                else -> "Revision"
            }
            FormKind.CONCERN_UPDATE -> "Update to a safeguarding concern"
            FormKind.CLOSURE -> "Closing the case"
            FormKind.GOAL -> "Support plan goal"
            FormKind.ACTION -> "Action on the support plan"
            FormKind.SCALING -> "Scaling question and score"
            FormKind.MAP_ENTRY -> "Signs of Safety entry"
            FormKind.OPEN_CASE -> "New case"
            FormKind.RETURN_COMMENT -> "Comment on a visit for sign-off"
            FormKind.AMENDMENT -> "Amendment to a returned visit"
        }

        /**
         * The label key of a form's name in strings.xml: `draft_form_<form>`,
         * and for a revision `draft_form_revision_<what it revises>`.
         */
        fun labelKey(form: FormKind?, revises: String? = null): String =
            "draft_form_" + (form?.name?.lowercase() ?: "contact") +
                (if (form == FormKind.REVISION && revises in RevisionForm.REVISES_WHAT) "_$revises" else "")
    }
}
