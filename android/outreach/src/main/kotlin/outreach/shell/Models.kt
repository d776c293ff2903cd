package outreach.shell

import java.time.ZonedDateTime
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.CheckInState
import uniffi.outreach_ffi.CheckInView
import uniffi.outreach_ffi.ContactKind
import uniffi.outreach_ffi.ConflictInfo
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.Outcome
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachVault
import uniffi.outreach_ffi.OutreachVaultInterface
import uniffi.outreach_ffi.PendingVisit
import uniffi.outreach_ffi.PlatformKeyStore
import uniffi.outreach_ffi.SignOffDecision
import uniffi.outreach_ffi.SyncCancel
import uniffi.outreach_ffi.SyncListener
import uniffi.outreach_ffi.SyncPhase
import uniffi.outreach_ffi.VisitDraft
import uniffi.outreach_ffi.VisitInput

/** Unlock screen: passphrase (and the platform key for quick unlock). */
class UnlockModel(
    private val dir: String,
    private val platformKey: PlatformKeyStore?,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    /** Opens the vault file (the tests wrap it to watch which thread calls the core). */
    private val open: (String) -> OutreachVaultInterface = { OutreachVault.open(it) },
) {
    sealed interface State {
        data object Locked : State
        /** Argon2id is running (about 0.2 s off the main thread): show progress. */
        data object Working : State
        data class Error(val message: String, val attemptsLeft: UInt?) : State
        data class Unlocked(val repository: OutreachRepository) : State
        data object Wiped : State
    }

    private val _state = MutableStateFlow<State>(State.Locked)
    val state: StateFlow<State> = _state.asStateFlow()

    /** Whether to offer biometric / PIN unlock on this screen. */
    suspend fun quickUnlockAvailable(): Boolean = withContext(io) {
        runCatching {
            val vault = open(dir)
            try {
                vault.hasQuickUnlock()
            } finally {
                (vault as? AutoCloseable)?.close()
            }
        }.getOrDefault(false)
    }

    /** Quick unlock, after the phone has checked the user (BiometricPrompt). */
    suspend fun unlockQuick(quickKey: PlatformKeyStore) = attempt { it.unlockQuick(quickKey) }

    suspend fun unlock(passphrase: String) = attempt { it.unlock(passphrase, platformKey) }

    private suspend fun attempt(openWith: (OutreachVaultInterface) -> Unit) {
        _state.value = State.Working
        _state.value = try {
            val vault = withContext(io) {
                val v = open(dir)
                try {
                    openWith(v)
                } catch (e: Throwable) {
                    (v as? AutoCloseable)?.close()
                    throw e
                }
                v
            }
            val repo = OutreachRepository(vault, io)
            repo.refresh()
            State.Unlocked(repo)
        } catch (e: OutreachException.Wiped) {
            State.Wiped
        } catch (e: OutreachException.WrongPassphrase) {
            State.Error(Messages.of(e), e.remaining)
        } catch (e: OutreachException) {
            State.Error(Messages.of(e), null)
        }
    }
}

/**
 * First run on a phone: creates the vault (Argon2id, off the main thread).
 * It comes back unlocked, so the caseload opens at once.
 */
class SetupModel(
    private val dir: String,
    private val platformKey: PlatformKeyStore?,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    private val create: (String, String, String, String?, PlatformKeyStore?) -> OutreachVaultInterface =
        { d, pass, name, team, key -> OutreachVault.create(d, pass, name, team, key) },
) {
    sealed interface State {
        data object Idle : State
        data object Working : State
        data class Error(val message: String) : State
        data class Ready(val repository: OutreachRepository) : State
    }

    private val _state = MutableStateFlow<State>(State.Idle)
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun create(name: String, team: String, passphrase: String, repeat: String) {
        if (passphrase != repeat) {
            _state.value = State.Error("The two passphrases are different.")
            return
        }
        _state.value = State.Working
        _state.value = try {
            val vault = withContext(io) { create(dir, passphrase, name.trim(), team.trim().ifEmpty { null }, platformKey) }
            val repo = OutreachRepository(vault, io)
            repo.refresh()
            State.Ready(repo)
        } catch (e: OutreachException) {
            State.Error(Messages.of(e))
        }
    }
}

/**
 * Record a contact: every edit is saved as an encrypted draft through the
 * core at once, so a killed app or a flat battery loses nothing; submit
 * turns it into a visit. Every contact kind and outcome the core knows is
 * offered (attempts included: an attempted contact, no answer, cancelled);
 * times come from the platform's pickers, starting at now and the next
 * contact at the case's interval (the core's default: 14 days). When she
 * has an open lone-working check-in to the case, the form also offers
 * "record and check out" ([submitAndCheckOut]: one call of the core's).
 */
class ContactFormModel(
    private val repo: OutreachRepository,
    val caseId: String,
    private val clock: () -> ZonedDateTime = { ZonedDateTime.now() },
) {
    private val _draft = MutableStateFlow(VisitDraft())
    val draft: StateFlow<VisitDraft> = _draft.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()
    var draftId: String? = null
        private set

    /** Her open lone-working check-in to this case, as this phone holds it (null: none; no network read). */
    private val _checkIn = MutableStateFlow<CheckInView?>(null)
    val checkIn: StateFlow<CheckInView?> = _checkIn.asStateFlow()

    /**
     * After "record and check out": the contact is recorded but the check-out
     * did not reach the server, so her supervisor will still be alerted
     * unless a sync sends it first. The reason, in the core's words ("" if
     * none given); null when it was sent or not asked for.
     */
    private val _checkOutNotSent = MutableStateFlow<String?>(null)
    val checkOutNotSent: StateFlow<String?> = _checkOutNotSent.asStateFlow()

    /** The kinds and outcomes to offer: the core's lists, in its order. */
    val kinds: List<ContactKind> get() = Vocab.core.contactKinds.map { it.value }
    val outcomes: List<Outcome> get() = Vocab.core.outcomes.map { it.value }
    val domains: List<Domain> get() = Vocab.core.domains.map { it.value }

    /**
     * Opens the form: the case's saved draft if a killed app left one,
     * otherwise a new form at now, next contact at the case's interval.
     * Nothing is saved until the first edit.
     */
    suspend fun start() {
        try {
            loadCheckIn()
            // The case's contact-record draft (another form's drafts are restored by their own holders).
            val saved = repo.read { v -> v.drafts().firstOrNull { it.caseId == caseId && it.form == null } }
            if (saved != null) return restore(saved.draftId)
            val every = repo.read { it.caseRecord(caseId).programme.contactEveryDays } ?: Vocab.core.defaultContactEveryDays
            val now = clock()
            _draft.value = VisitDraft(at = Dates.instant(now), nextContactDue = Dates.instant(now.plusDays(every.toLong())))
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    /** Reads whether she is checked in to this case (this phone's safety state, no network). */
    suspend fun loadCheckIn() {
        _checkIn.value = repo.read { it.safetyStatus() }.checkIns
            .firstOrNull { it.mine && it.caseId == caseId && it.state != CheckInState.CHECK_OUT_NOT_SENT }
    }

    /** Restores a saved draft (offered on start after a crash). */
    suspend fun restore(id: String) {
        val restored = repo.read { it.restoreDraft(id) }
        require(restored.caseId == caseId) { "draft belongs to another case" }
        draftId = id
        _draft.value = restored.draft
    }

    suspend fun edit(change: (VisitDraft) -> VisitDraft) {
        val next = change(_draft.value)
        _draft.value = next
        try {
            val id = draftId
            draftId = repo.read { it.saveDraft(id, caseId, next) }
            _error.value = null
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    suspend fun setKind(kind: ContactKind) = edit { it.copy(kind = kind) }
    suspend fun setOutcome(outcome: Outcome) = edit { it.copy(outcome = outcome) }
    suspend fun setNote(note: String) = edit { it.copy(note = note) }
    suspend fun setHerWords(words: String) = edit { it.copy(herWords = words) }
    suspend fun setActionsAgreed(actions: String) = edit { it.copy(actionsAgreed = actions.ifBlank { null }) }

    /** How she is, 0–10 (the core checks the range). */
    suspend fun setWellbeing(score: Long?) = edit { it.copy(wellbeing = score) }

    /** When the contact happened, from the date and time pickers. */
    suspend fun setAt(at: ZonedDateTime) = edit { it.copy(at = Dates.instant(at)) }

    /** When the next contact is due, from the pickers; null leaves it to the case's interval. */
    suspend fun setNextContact(due: ZonedDateTime?) = edit { it.copy(nextContactDue = due?.let(Dates::instant)) }

    /** The form's times in the phone's zone, for the pickers and their labels. */
    fun at(): ZonedDateTime? = Dates.parseInstant(_draft.value.at)
    fun nextContact(): ZonedDateTime? = Dates.parseInstant(_draft.value.nextContactDue)

    suspend fun setPresent(names: String) =
        edit { it.copy(present = names.split(',').map(String::trim).filter(String::isNotEmpty)) }
    suspend fun toggleDomain(d: Domain) = edit { it.copy(domains = if (d in it.domains) it.domains - d else it.domains + d) }

    /** Throws the draft away (asked to confirm in the app). */
    suspend fun discard() {
        val id = draftId ?: run { _draft.value = VisitDraft(); return }
        try {
            repo.read { it.discardDraft(id) }
            draftId = null
            _draft.value = VisitDraft()
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    /**
     * "Record and check out": records the contact as typed and checks out of
     * this case's lone-working check-in in one call (the core fills in the
     * visit's check-in and check-out times). Returns the visit id, or null
     * with [error] set in plain words (nothing recorded, the draft kept).
     * Recorded but the check-out not sent: [checkOutNotSent] says so.
     */
    suspend fun submitAndCheckOut(): String? {
        _checkOutNotSent.value = null
        // Through the saved draft, as [submit]: the visit keeps the draft's
        // id, so sending it again after a kill rewrites the same visit
        // instead of recording the contact twice.
        val id = draftId ?: run { edit { it }; draftId } ?: return null
        val done = try {
            repo.vault.submitDraftAndCheckOut(id)
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
            return null
        }
        _error.value = null
        _checkOutNotSent.value = if (done.receipt.sent) null else done.receipt.notSentBecause ?: ""
        // Recorded and the draft deleted by the core.
        draftId = null
        _draft.value = VisitDraft()
        try {
            repo.refresh()
            loadCheckIn()
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
        return done.visitId
    }

    /** Returns the visit id, or null with [error] set. */
    suspend fun submit(): String? {
        val id = draftId ?: run { edit { it }; draftId } ?: return null
        return try {
            repo.write { it.submitDraft(id) }.also { draftId = null; _draft.value = VisitDraft(); _error.value = null }
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
            null
        }
    }
}

/** Sync screen: progress, last success, an error in plain words. */
class SyncModel(private val repo: OutreachRepository, private val now: () -> String) {
    data class State(
        val running: Boolean = false,
        val phase: SyncPhase? = null,
        val done: ULong = 0u,
        val total: ULong? = null,
        val lastSuccess: String? = null,
        val summary: String? = null,
        val error: String? = null,
        val revoked: Boolean = false,
    )

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()
    private var cancel: SyncCancel? = null

    private val listener = object : SyncListener {
        override fun onProgress(phase: SyncPhase, done: ULong, total: ULong?) {
            _state.value = _state.value.copy(phase = phase, done = done, total = total)
        }
    }

    suspend fun sync() {
        val handle = SyncCancel()
        cancel = handle
        _state.value = _state.value.copy(running = true, error = null, phase = null, done = 0u, total = null)
        _state.value = try {
            val r = repo.sync(listener, handle)
            _state.value.copy(
                running = false,
                lastSuccess = now(),
                summary = "${r.pushed} sent, ${r.pulled} received" +
                    (if (r.conflicts > 0u) ", ${r.conflicts} to resolve" else "") +
                    (if (r.removed.isNotEmpty()) ", ${r.removed.size} transferred to a colleague and removed from this phone" else ""),
            )
        } catch (e: OutreachException.DeviceRevoked) {
            _state.value.copy(running = false, error = Messages.of(e), revoked = true)
        } catch (e: OutreachException) {
            _state.value.copy(running = false, error = Messages.of(e))
        } finally {
            cancel = null
        }
    }

    fun cancel() {
        cancel?.cancel()
    }
}

/**
 * The sign-off loop. A supervisor sees her team's visits awaiting a decision
 * and signs them off or returns them with a comment; a practitioner sees her
 * own visits waiting or returned (returned first, with the comment) and
 * amends a returned one. Who may do what is the core's rule (the
 * organisation's directory); a refusal comes back in plain words.
 */
class ReviewModel(private val repo: OutreachRepository) {
    private val _pending = MutableStateFlow<List<PendingVisit>>(emptyList())
    val pending: StateFlow<List<PendingVisit>> = _pending.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()
    private val _supervisor = MutableStateFlow(false)

    /** Enrolled as a supervisor: the queue offers sign off and return; otherwise amend. */
    val supervisor: StateFlow<Boolean> = _supervisor.asStateFlow()

    suspend fun load() {
        try {
            val (role, pending) = repo.read { it.syncAccount()?.role to it.pendingVisits() }
            _supervisor.value = role == "supervisor"
            _pending.value = pending
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
        }
    }

    /** True when done; false with [error] set. */
    private suspend fun attempt(block: (OutreachVaultInterface) -> Unit): Boolean = try {
        repo.write(block)
        _error.value = null
        load()
        true
    } catch (e: OutreachException) {
        _error.value = Messages.of(e)
        false
    }

    suspend fun signOff(caseId: String, visitId: String, comment: String? = null) =
        attempt { it.signOffVisit(caseId, visitId, SignOffDecision.SIGNED_OFF, comment?.ifBlank { null }) }

    /** Back to its author for amendment; the comment says what to change. */
    suspend fun returnForAmendment(caseId: String, visitId: String, comment: String) =
        attempt { it.signOffVisit(caseId, visitId, SignOffDecision.RETURNED, comment) }

    /** The author amends a returned visit: the fields set in [changes] replace their values. */
    suspend fun amend(caseId: String, visitId: String, changes: VisitDraft) =
        attempt { it.amendVisit(caseId, visitId, changes) }

    // The form on one visit, with its draft: the supervisor's comment
    // ([FormKind.RETURN_COMMENT]: [VISIT], [COMMENT]) or the author's
    // amendment of a returned visit ([FormKind.AMENDMENT]: [VISIT],
    // [ACTIONS_AGREED]). Saved on every edit under the visit's case,
    // restored after a killed app ([openDraft], or [begin] on the same
    // visit), deleted once the visit is signed off, returned or amended.
    private val _form = MutableStateFlow<FormDraftKeeper?>(null)

    /** The form open on a visit (null: none); its visit is `form[VISIT]`. */
    val form: StateFlow<FormDraftKeeper?> = _form.asStateFlow()

    /** The visit the form is on. */
    val visit: String? get() = _form.value?.value(VISIT)

    private fun kind() = if (_supervisor.value) FormKind.RETURN_COMMENT else FormKind.AMENDMENT

    /**
     * Opens the form on [v]: its saved draft if a killed app left one,
     * otherwise an empty form for it (nothing saved until the first edit).
     * True when a draft was restored.
     */
    suspend fun begin(v: PendingVisit): Boolean {
        _form.value?.let { if (it.caseId == v.caseId && it.value(VISIT) == v.visitId) return false }
        val keeper = FormDraftKeeper(repo, v.caseId, kind(), _error)
        val restored = keeper.open { it[VISIT] == v.visitId }
        if (!restored) keeper.fill(mapOf(VISIT to v.visitId))
        _form.value = keeper
        return restored
    }

    /**
     * After [load]: reopens the form a killed app left — the draft [draftId]
     * ("Not finished"), or else the newest of this role's form whose visit is
     * still in the queue. True when one was restored.
     */
    suspend fun openDraft(draftId: String? = null): Boolean {
        val wanted = kind()
        val found = try {
            repo.read { v ->
                v.drafts().asSequence()
                    .filter { it.form == wanted && (draftId == null || it.draftId == draftId) }
                    .mapNotNull { d ->
                        val visit = v.restoreFormDraft(d.draftId).draft.fields.firstOrNull { it.name == VISIT }?.value
                        _pending.value.firstOrNull { it.caseId == d.caseId && it.visitId == visit }
                    }
                    .firstOrNull()
            }
        } catch (e: OutreachException) {
            _error.value = Messages.of(e)
            null
        } ?: return false
        return begin(found)
    }

    suspend fun setComment(text: String) { _form.value?.set(COMMENT, text) }
    suspend fun setActionsAgreed(text: String) { _form.value?.set(ACTIONS_AGREED, text) }

    /** Closes the form; the draft is kept ("Not finished" offers it). */
    fun close() { _form.value = null }

    /** Throws the form's draft away (the app asks first) and closes it. */
    suspend fun discard() { _form.value?.discard(); _form.value = null }

    /** Runs [submit] on the open form's visit; on success the draft is deleted and the form closed. */
    private suspend fun submitForm(submit: suspend (caseId: String, visitId: String, keeper: FormDraftKeeper) -> Boolean): Boolean {
        val keeper = _form.value ?: return false
        val visitId = keeper.value(VISIT) ?: return false
        if (!submit(keeper.caseId, visitId, keeper)) return false
        keeper.done()
        _form.value = null
        return true
    }

    /** Signs the form's visit off with the comment typed, if any. */
    suspend fun submitSignOff() = submitForm { c, v, k -> signOff(c, v, k.value(COMMENT)) }

    /** Returns the form's visit with the comment typed (refused in plain words without one, the draft kept). */
    suspend fun submitReturn() = submitForm { c, v, k -> returnForAmendment(c, v, k[COMMENT]) }

    /** Amends the form's returned visit with what was typed (refused in plain words if nothing changes, the draft kept). */
    suspend fun submitAmendment() = submitForm { c, v, k -> amend(c, v, VisitDraft(actionsAgreed = k.value(ACTIONS_AGREED))) }

    companion object {
        const val VISIT = "visit"
        const val COMMENT = "comment"
        const val ACTIONS_AGREED = "actions_agreed"
    }
}

/** Transfer a case to another practitioner (supervisors of the case's team). */
class TransferModel(private val repo: OutreachRepository, val caseId: String) {
    sealed interface State {
        data object Idle : State
        data object Working : State
        data class Done(val message: String) : State
        data class Error(val message: String) : State
    }

    private val _state = MutableStateFlow<State>(State.Idle)
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun transfer(toUser: String) {
        _state.value = State.Working
        _state.value = try {
            val t = repo.transfer(caseId, toUser)
            State.Done("Transferred to ${t.to}. Her ${if (t.devices == 1u) "phone gets" else "phones get"} the case on their next sync.")
        } catch (e: OutreachException) {
            State.Error(Messages.of(e))
        }
    }
}

/** Conflicts screen: both values, pick one (or type a new one). */
class ConflictModel(private val repo: OutreachRepository, val caseId: String) {
    private val _conflicts = MutableStateFlow<List<ConflictInfo>>(emptyList())
    val conflicts: StateFlow<List<ConflictInfo>> = _conflicts.asStateFlow()

    suspend fun load() {
        _conflicts.value = repo.read { it.conflicts(caseId) }
    }

    suspend fun pick(field: String, choice: Int) {
        val value = _conflicts.value.first { it.field == field }.values[choice].valueJson
        repo.write { it.resolveConflict(caseId, field, value) }
        load()
    }
}
