package outreach.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.outreach_ffi.ActionInput
import uniffi.outreach_ffi.Case
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.GoalInput
import uniffi.outreach_ffi.GoalStatus
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachVault
import uniffi.outreach_ffi.PlatformKeyStore
import uniffi.outreach_ffi.ScaleInput
import uniffi.outreach_ffi.ScaleView
import uniffi.outreach_ffi.Severity
import uniffi.outreach_ffi.TimelineEntry

/**
 * The case screen: safe-contact rules first (what a practitioner must see
 * before she phones or texts), then the plan by domain, Signs of Safety and
 * scale, timeline and concerns — all read from the core's records.
 */
class CaseModel(private val repo: OutreachRepository, val caseId: String) {
    data class State(
        val case: Case? = null,
        /** Safe-contact rules as short lines, shown first. */
        val contactRules: List<String> = emptyList(),
        val goalsByDomain: Map<Domain, List<String>> = emptyMap(),
        val timeline: List<TimelineEntry> = emptyList(),
        val openConcerns: List<Pair<Severity, String>> = emptyList(),
        val latestScale: UByte? = null,
        /** Signs of Safety map: worries, what's working well, what needs to happen. */
        val worries: List<String> = emptyList(),
        val workingWell: List<String> = emptyList(),
        val needsToHappen: List<String> = emptyList(),
        val dangerStatements: List<String> = emptyList(),
        /** Goal id → text, for adding actions. */
        val goals: List<Pair<String, String>> = emptyList(),
        val error: String? = null,
    )

    private val _state = MutableStateFlow(State())
    val state: StateFlow<State> = _state.asStateFlow()

    suspend fun load() {
        _state.value = try {
            val (case, timeline) = repo.read { it.caseRecord(caseId) to it.timeline(caseId) }
            val safe = case.profile.safeContact
            val rules = buildList {
                safe.textOk?.let { add(if (it) "Texts are safe" else "Do NOT text") }
                safe.voicemailOk?.let { add(if (it) "Voicemail is fine" else "Never leave voicemail") }
                safe.codeWord?.let { add("Code word: $it") }
                safe.notes?.let { add(it) }
            }
            State(
                case = case,
                contactRules = rules,
                goalsByDomain = case.goals.values.groupBy({ it.domain }, { it.text }),
                timeline = timeline,
                openConcerns = case.concerns.values
                    .filter { it.status != uniffi.outreach_ffi.ConcernStatus.CLOSED }
                    .sortedByDescending { it.severity.ordinal }
                    .map { it.severity to it.category },
                latestScale = case.scales.values.maxByOrNull { it.date }?.score,
                worries = case.signsOfSafety.worries.values.map { it.text },
                workingWell = case.signsOfSafety.workingWell.values.map { it.text },
                needsToHappen = case.signsOfSafety.needsToHappen.values.map { it.text },
                dangerStatements = case.signsOfSafety.dangerStatements.values.map { "${it.danger} → ${it.safetyGoal}" },
                goals = case.goals.map { (id, g) -> id to "${g.domain}: ${g.text}" },
            )
        } catch (e: OutreachException) {
            State(error = Messages.of(e))
        }
    }
}

/** Plan editing: goals and actions by domain, scale readings. */
class PlanModel(private val repo: OutreachRepository, val caseId: String) {
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    private suspend fun <T> attempt(block: (OutreachVault) -> T): T? = try {
        repo.write(block).also { _error.value = null }
    } catch (e: OutreachException) {
        _error.value = Messages.of(e)
        null
    }

    suspend fun addGoal(domain: Domain, text: String, target: String?) =
        attempt { it.addGoal(caseId, GoalInput(domain = domain, text = text, targetDate = target)) }

    suspend fun setStatus(goal: String, status: GoalStatus) = attempt { it.setGoalStatus(caseId, goal, status) }

    suspend fun addAction(goal: String, text: String) = attempt { it.addAction(caseId, goal, ActionInput(text = text)) }

    suspend fun completeAction(goal: String, action: String) = attempt { it.completeAction(caseId, goal, action, null) }

    suspend fun addScale(score: Long, view: ScaleView) = attempt { it.addScale(caseId, ScaleInput(score = score, view = view)) }

    suspend fun addSosEntry(column: uniffi.outreach_ffi.SosColumn, text: String) = attempt { it.addSosEntry(caseId, column, text) }
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
