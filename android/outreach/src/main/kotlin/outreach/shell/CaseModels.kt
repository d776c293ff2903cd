package outreach.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.outreach_ffi.ActionInput
import uniffi.outreach_ffi.Case
import uniffi.outreach_ffi.CaseEdit
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.ExitReason
import uniffi.outreach_ffi.FormKind
import uniffi.outreach_ffi.GoalInput
import uniffi.outreach_ffi.GoalStatus
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachVaultInterface
import uniffi.outreach_ffi.Phase
import uniffi.outreach_ffi.PlatformKeyStore
import uniffi.outreach_ffi.ScaleInput
import uniffi.outreach_ffi.ScaleView
import uniffi.outreach_ffi.Severity
import uniffi.outreach_ffi.SosColumn
import uniffi.outreach_ffi.SosEntry
import uniffi.outreach_ffi.SosStatus
import uniffi.outreach_ffi.SosUpdate
import uniffi.outreach_ffi.TimelineEntry
import uniffi.outreach_ffi.WorryKind

/**
 * The case screen: safe-contact rules first (what a practitioner must see
 * before she phones or texts), then the plan by domain, Signs of Safety and
 * scale, timeline and concerns — all read from the core's records.
 */
class CaseModel(private val repo: OutreachRepository, val caseId: String) {
    /** One Signs of Safety entry, with its id for revising or resolving it. */
    data class SosItem(
        val id: String,
        val column: SosColumn,
        val text: String,
        val kind: WorryKind? = null,
        val resolved: Boolean = false,
    )

    /** One safe-contact rule; the screen words it from its strings. */
    sealed interface SafeRule {
        data class Texts(val ok: Boolean) : SafeRule
        data class Voicemail(val ok: Boolean) : SafeRule
        data class CodeWord(val word: String) : SafeRule
        data class Notes(val text: String) : SafeRule

        /** The rule in English (the shell's wording; the app's is in its strings). */
        val english: String
            get() = when (this) {
                is Texts -> if (ok) "Texts are safe" else "Do NOT text"
                is Voicemail -> if (ok) "Voicemail is fine" else "Never leave voicemail"
                is CodeWord -> "Code word: $word"
                is Notes -> text
            }
    }

    /** A goal of the plan, for adding actions. */
    data class GoalItem(val id: String, val domain: Domain, val text: String)

    data class State(
        val case: Case? = null,
        /** Safe-contact rules, shown first (before anyone phones or texts her). */
        val rules: List<SafeRule> = emptyList(),
        /** The same rules as short English lines. */
        val contactRules: List<String> = emptyList(),
        /** "Closed on … (reason)" when she has left the programme. */
        val closed: String? = null,
        /** The same as parts, for the screen's translated sentence: when, and the core's word for why. */
        val closedOn: String? = null,
        val exitReason: String? = null,
        val goalsByDomain: Map<Domain, List<String>> = emptyMap(),
        val timeline: List<TimelineEntry> = emptyList(),
        /** Open concerns, most severe first (the core's order of severities). */
        val openConcerns: List<Pair<Severity, String>> = emptyList(),
        val latestScale: UByte? = null,
        /** Signs of Safety map (open entries): worries (with their kind), what's working well, what needs to happen. */
        val worries: List<SosItem> = emptyList(),
        val workingWell: List<String> = emptyList(),
        val needsToHappen: List<String> = emptyList(),
        val dangerStatements: List<String> = emptyList(),
        /** Every map entry, resolved ones included, for revising. */
        val sosEntries: List<SosItem> = emptyList(),
        /** The plan's goals, for adding actions. */
        val goals: List<GoalItem> = emptyList(),
        val error: String? = null,
    )

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun load() {
        _state.value = try {
            val (case, timeline) = repo.read { it.caseRecord(caseId) to it.timeline(caseId) }
            val safe = case.profile.safeContact
            val rules = buildList {
                safe.textOk?.let { add(SafeRule.Texts(it)) }
                safe.voicemailOk?.let { add(SafeRule.Voicemail(it)) }
                safe.codeWord?.let { add(SafeRule.CodeWord(it)) }
                safe.notes?.let { add(SafeRule.Notes(it)) }
            }
            fun open(entries: Map<String, SosEntry>) = entries.values.filter { it.status != SosStatus.RESOLVED }
            fun items(column: SosColumn, entries: Map<String, SosEntry>) = entries.map { (id, e) ->
                SosItem(id, column, e.text, e.kind, e.status == SosStatus.RESOLVED)
            }
            val p = case.programme
            State(
                case = case,
                rules = rules,
                contactRules = rules.map { it.english },
                closed = if (p.phase == Phase.CLOSED) {
                    "Closed" + (p.closedOn?.let { " on $it" } ?: "") + (p.exitReason?.let { " ($it)" } ?: "")
                } else null,
                closedOn = p.closedOn.takeIf { p.phase == Phase.CLOSED },
                exitReason = p.exitReason.takeIf { p.phase == Phase.CLOSED },
                goalsByDomain = case.goals.values.groupBy({ it.domain }, { it.text }),
                timeline = timeline,
                openConcerns = case.concerns.values
                    .filter { it.status != uniffi.outreach_ffi.ConcernStatus.CLOSED }
                    .sortedByDescending { Vocab.severityRank(it.severity) }
                    .map { it.severity to it.category },
                latestScale = case.scales.values.maxByOrNull { it.date }?.score,
                worries = items(SosColumn.WORRIES, case.signsOfSafety.worries).filter { !it.resolved },
                workingWell = open(case.signsOfSafety.workingWell).map { it.text },
                needsToHappen = open(case.signsOfSafety.needsToHappen).map { it.text },
                dangerStatements = case.signsOfSafety.dangerStatements.values
                    .filter { it.status != SosStatus.RESOLVED }
                    .map { "${it.danger} → ${it.safetyGoal}" },
                sosEntries = items(SosColumn.WORRIES, case.signsOfSafety.worries) +
                    items(SosColumn.WORKING_WELL, case.signsOfSafety.workingWell) +
                    items(SosColumn.NEEDS_TO_HAPPEN, case.signsOfSafety.needsToHappen),
                goals = case.goals.map { (id, g) -> GoalItem(id, g.domain, g.text) },
            )
        } catch (e: OutreachException) {
            State(error = Messages.of(e))
        }
    }

}

/**
 * Plan editing: goals and actions by domain, scale readings, the Signs of
 * Safety map. Each form with free text keeps a draft ([FormDraftKeeper]:
 * saved on every edit, restored when the plan opens again for the case
 * after a killed app, deleted once added): a new goal ([goalDraft],
 * [FormKind.GOAL]), an action ([actionDraft], [FormKind.ACTION]), a scaling
 * with its question ([scalingDraft], [FormKind.SCALING]) and a new map entry
 * ([entryDraft], [FormKind.MAP_ENTRY]); revising an entry is [revision].
 * Opening a form saves nothing; a default the screen shows but that was
 * never touched (the first domain, a score of 5, whose view, the first
 * column) is saved only with the form.
 */
class PlanModel(private val repo: OutreachRepository, val caseId: String) {
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    private suspend fun <T> attempt(block: (OutreachVaultInterface) -> T): T? = try {
        repo.write(block).also { _error.value = null }
    } catch (e: OutreachException) {
        _error.value = Messages.of(e)
        null
    }

    /** A choice not made, refused in plain words (nothing written, the draft kept). */
    private fun <T> refuse(detail: String): T? {
        _error.value = Messages.of(OutreachException.InvalidInput(detail))
        return null
    }

    private fun keeper(form: FormKind) = FormDraftKeeper(repo, caseId, form, _error)

    /** The new goal in progress: [DOMAIN] (the core's word) and [TEXT], saved on every edit. */
    val goalDraft = keeper(FormKind.GOAL)

    /** The action in progress: [GOAL] (the goal's id) and [TEXT], saved on every edit. */
    val actionDraft = keeper(FormKind.ACTION)

    /** The scaling in progress: [SCORE] (0–10), [VIEW] (the core's word) and [QUESTION], saved on every edit. */
    val scalingDraft = keeper(FormKind.SCALING)

    /** The new map entry in progress: [COLUMN] and [KIND] (the core's words) and [TEXT], saved on every edit. */
    val entryDraft = keeper(FormKind.MAP_ENTRY)

    /** Restores every form of the plan left by a killed app; the drafts restored (empty: none). */
    suspend fun openDrafts(): Set<FormKind> = buildSet {
        for (d in listOf(goalDraft, actionDraft, scalingDraft, entryDraft)) if (d.open()) add(d.form)
        if (revision.open()) add(FormKind.REVISION)
    }

    suspend fun setGoalDomain(d: Domain) = goalDraft.set(DOMAIN, Vocab.word(d))
    suspend fun setGoalText(v: String) = goalDraft.set(TEXT, v)
    fun goalDomain(): Domain? = goalDraft.value(DOMAIN)?.let { w -> Vocab.core.domains.firstOrNull { it.word == w }?.value }

    /** Adds a goal; its id, or null with [error] set. The goal form's draft is deleted. */
    suspend fun addGoal(domain: Domain, text: String, target: String?) =
        attempt { it.addGoal(caseId, GoalInput(domain = domain, text = text, targetDate = target)) }?.also { goalDraft.done() }

    /** Adds the goal as typed in [goalDraft]; no domain chosen is refused in plain words. */
    suspend fun submitGoal(): String? {
        val domain = goalDomain() ?: return refuse("domain: choose the part of her life this goal is about")
        return addGoal(domain, goalDraft[TEXT], null)
    }

    suspend fun setStatus(goal: String, status: GoalStatus) = attempt { it.setGoalStatus(caseId, goal, status) }

    suspend fun setActionGoal(goal: String) = actionDraft.set(GOAL, goal)
    suspend fun setActionText(v: String) = actionDraft.set(TEXT, v)

    /** Adds an action to a goal; its id, or null with [error] set. The action form's draft is deleted. */
    suspend fun addAction(goal: String, text: String) =
        attempt { it.addAction(caseId, goal, ActionInput(text = text)) }?.also { actionDraft.done() }

    /** Adds the action as typed in [actionDraft] to its goal; no goal chosen is refused in plain words. */
    suspend fun submitAction(): String? {
        val goal = actionDraft.value(GOAL) ?: return refuse("goal: choose the goal this action is for")
        return addAction(goal, actionDraft[TEXT])
    }

    suspend fun completeAction(goal: String, action: String) = attempt { it.completeAction(caseId, goal, action, null) }

    suspend fun setScore(score: Long) = scalingDraft.set(SCORE, score.toString())
    suspend fun setScaleView(v: ScaleView) = scalingDraft.set(VIEW, Vocab.word(v))
    suspend fun setQuestion(v: String) = scalingDraft.set(QUESTION, v)
    fun score(): Long? = scalingDraft.value(SCORE)?.trim()?.toLongOrNull()
    fun scaleView(): ScaleView? = scalingDraft.value(VIEW)?.let { w -> Vocab.core.scaleViews.firstOrNull { it.word == w }?.value }

    /** A scaling reading; [question] is the scaling question asked, if any. The scaling form's draft is deleted. */
    suspend fun addScale(score: Long, view: ScaleView, question: String? = null) =
        attempt { it.addScale(caseId, ScaleInput(score = score, view = view, question = question?.ifBlank { null })) }
            ?.also { scalingDraft.done() }

    /** Adds the reading as typed in [scalingDraft]; no score or view chosen is refused in plain words. */
    suspend fun submitScale(): String? {
        val score = score() ?: return refuse("score: choose a score from 0 to 10")
        val view = scaleView() ?: return refuse("view: choose whose view the score is")
        return addScale(score, view, scalingDraft.value(QUESTION))
    }

    suspend fun setEntryColumn(c: SosColumn) {
        // A worry's kind belongs to the worries column only: another column drops it.
        if (c != SosColumn.WORRIES && entryDraft.value(KIND) != null) entryDraft.set(KIND, "")
        entryDraft.set(COLUMN, Vocab.word(c))
    }
    suspend fun setEntryKind(k: WorryKind?) = entryDraft.set(KIND, k?.let { Vocab.word(it) } ?: "")
    suspend fun setEntryText(v: String) = entryDraft.set(TEXT, v)
    fun entryColumn(): SosColumn? = entryDraft.value(COLUMN)?.let { w -> Vocab.core.sosColumns.firstOrNull { it.word == w }?.value }
    fun entryKind(): WorryKind? = entryDraft.value(KIND)?.let { w -> Vocab.core.worryKinds.firstOrNull { it.word == w }?.value }

    /** Adds the entry as typed in [entryDraft]; no column chosen is refused in plain words. */
    suspend fun submitEntry(): String? {
        val column = entryColumn() ?: return refuse("column: choose the column of the map")
        return addSosEntry(column, entryDraft[TEXT], entryKind())
    }

    /** [kind] (harm, danger, complicating factor) only for the worries column. */
    suspend fun addSosEntry(column: SosColumn, text: String, kind: WorryKind? = null) =
        attempt { it.addSosEntry(caseId, column, text, kind) }?.also { entryDraft.done() }

    /** Revises an entry or danger statement; returns its full id. */
    suspend fun updateSos(entryId: String, update: SosUpdate) = attempt { it.updateSos(caseId, entryId, update) }

    /** The form that revises a map entry already saved (its own draft, restored after a killed app). */
    val revision = RevisionForm(repo, caseId, RevisionForm.SOS_ENTRY, _error) { id, update -> updateSos(id, update) }

    suspend fun resolveSos(entryId: String) = updateSos(entryId, SosUpdate(status = SosStatus.RESOLVED))

    suspend fun reopenSos(entryId: String) = updateSos(entryId, SosUpdate(status = SosStatus.OPEN))

    suspend fun addDangerStatement(danger: String, safetyGoal: String) =
        attempt { it.addDangerStatement(caseId, danger, safetyGoal) }

    /** Days between contacts when a contact sets no next date (the core's default is 14). */
    suspend fun setContactEvery(days: UInt) = attempt { it.editCase(caseId, CaseEdit(contactEveryDays = days)) }

    /** She has left the programme: the case leaves the caseload (listed with closed cases). */
    suspend fun closeCase(reason: ExitReason, note: String?, on: String? = null) =
        attempt { it.closeCase(caseId, reason, note?.ifBlank { null }, on) }

    /** Back on the caseload, in [phase] (the core's default: programme). */
    suspend fun reopenCase(phase: Phase? = null) = attempt { it.reopenCase(caseId, phase) }

    companion object {
        const val DOMAIN = "domain"
        const val GOAL = "goal"
        const val TEXT = "text"
        const val SCORE = "score"
        const val VIEW = "view"
        const val QUESTION = "question"
        const val COLUMN = "column"
        const val KIND = "kind"
    }
}

/** Enrol device: server address and the one-time code from the admin. */
class EnrolModel(private val repo: OutreachRepository) {
    sealed interface State {
        data object Idle : State
        data object Working : State
        data class Enrolled(val who: String) : State
        data class Error(val message: String) : State
    }

    private val _state = MutableStateFlow<State>(State.Idle)
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun enrol(server: String, code: String) {
        _state.value = State.Working
        _state.value = try {
            val a = repo.vault.enroll(server.trim(), code.trim(), false)
            State.Enrolled("${a.user} (${a.role}${a.team?.let { ", team $it" } ?: ""}) at ${a.organisation}")
        } catch (e: OutreachException) {
            State.Error(Messages.of(e))
        }
    }
}

/** Settings: change passphrase, auto-lock timeout. */
class SettingsModel(private val repo: OutreachRepository, private val platformKey: PlatformKeyStore?) {
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message.asStateFlow()

    /** Biometric / PIN quick unlock on or off (the key must be user-authentication bound). */
    suspend fun setQuickUnlock(on: Boolean, quickKey: PlatformKeyStore) {
        _message.value = try {
            repo.read { if (on) it.enableQuickUnlock(quickKey) else it.disableQuickUnlock() }
            if (on) "Quick unlock is on." else "Quick unlock is off."
        } catch (e: OutreachException) {
            Messages.of(e)
        }
    }

    suspend fun changePassphrase(new: String, repeat: String) {
        _message.value = when {
            new != repeat -> "The two passphrases are different."
            else -> try {
                repo.read { it.changePassphrase(new, platformKey) }
                "Passphrase changed."
            } catch (e: OutreachException) {
                Messages.of(e)
            }
        }
    }
}

/**
 * Auto-lock: the vault locks when the app has been in the background longer
 * than the timeout. Pure logic, so both the Android lifecycle observer and
 * the tests use the same rule.
 */
class AutoLock(var timeoutSeconds: Long = DEFAULT_TIMEOUT_SECONDS) {
    private var backgroundedAt: Long? = null

    fun backgrounded(nowSeconds: Long) {
        backgroundedAt = nowSeconds
    }

    /** Returns true if the vault must be locked now. */
    fun foregrounded(nowSeconds: Long): Boolean {
        val since = backgroundedAt ?: return false
        backgroundedAt = null
        return nowSeconds - since >= timeoutSeconds
    }

    companion object {
        const val DEFAULT_TIMEOUT_SECONDS = 120L
        val CHOICES = listOf(30L, 120L, 300L, 900L)
    }
}

/**
 * When the background job syncs: whenever a network is available and
 * something waits to upload, otherwise at most every [intervalSeconds].
 */
object SyncPolicy {
    fun shouldSync(networkAvailable: Boolean, pendingUpload: Boolean, lastSuccess: Long?, now: Long, intervalSeconds: Long = 900): Boolean =
        networkAvailable && (pendingUpload || lastSuccess == null || now - lastSuccess >= intervalSeconds)
}
