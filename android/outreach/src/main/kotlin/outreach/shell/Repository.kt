package outreach.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.CaseSummary
import uniffi.outreach_ffi.CaseSyncState
import uniffi.outreach_ffi.OutreachVaultInterface
import uniffi.outreach_ffi.Phase
import uniffi.outreach_ffi.SyncCancel
import uniffi.outreach_ffi.SyncListener
import uniffi.outreach_ffi.SyncReport
import uniffi.outreach_ffi.Transfer

/** One caseload row: the core's summary and where the case stands with the server. */
data class CaseRow(val summary: CaseSummary, val sync: CaseSyncState) {
    /** Contact is overdue (the core's rule; closed cases never are). */
    val overdue: Boolean get() = summary.contact.overdue

    /** Closed cases are listed only when the caseload includes them. */
    val closed: Boolean get() = summary.phase == Phase.CLOSED

    /**
     * The row's contact line: "OVERDUE · next contact …", the last contact
     * (an attempt says so) and how long since she was last seen in person.
     */
    val contactLine: String
        get() {
            val c = summary.contact
            if (closed) return "Closed" + (c.lastContact?.let { " · last contact ${it.take(10)}" } ?: "")
            return buildString {
                if (c.overdue) append("OVERDUE · ")
                append("next contact ${c.nextContactDue ?: "not set"}")
                c.lastContact?.let { append(" · last ${if (c.lastContactAttempt) "attempt" else "contact"} ${it.take(10)}") }
                c.notSeenDays?.let { append(" · not seen for $it day${if (it == 1L) "" else "s"}") }
            }
        }

    /** Sign-off loop and programme end, e.g. "2 awaiting sign-off · 1 returned · ending soon". */
    val reviewLine: String?
        get() = listOfNotNull(
            summary.awaitingSignOff.takeIf { it > 0u }?.let { "$it awaiting sign-off" },
            summary.returned.takeIf { it > 0u }?.let { "$it returned for amendment" },
            if (summary.endingSoon) "ending soon${summary.plannedEnd?.let { " ($it)" } ?: ""}" else null,
        ).joinToString(" · ").ifEmpty { null }
}

/**
 * The one object screens talk to. It runs every core call off the main
 * thread (on [io]; `suspend` calls such as sync run on the core's own
 * thread) and republishes the caseload after anything that can change it,
 * so the list on screen is always what the vault holds. No business rules
 * here: validation, merging and sync all live in the Rust core. The JVM
 * tests wrap [vault] to fail on any blocking core call from the UI thread.
 */
class OutreachRepository(
    val vault: OutreachVaultInterface,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _caseload = MutableStateFlow<List<CaseRow>>(emptyList())
    val caseload: StateFlow<List<CaseRow>> = _caseload.asStateFlow()

    /** Closed cases leave the caseload unless this is on (listed after the open ones). */
    @Volatile
    var includeClosed: Boolean = false

    suspend fun refresh() = withContext(io) {
        val states = vault.syncStates().associate { it.caseId to it.state }
        _caseload.value = vault.caseload(includeClosed).map { CaseRow(it, states[it.id] ?: CaseSyncState.NEVER_SYNCED) }
    }

    /** Shows or hides closed cases, then refreshes. */
    suspend fun showClosed(on: Boolean) {
        includeClosed = on
        refresh()
    }

    /** A read on the I/O dispatcher. */
    suspend fun <T> read(block: (OutreachVaultInterface) -> T): T = withContext(io) { block(vault) }

    /** A write on the I/O dispatcher, then a caseload refresh. */
    suspend fun <T> write(block: (OutreachVaultInterface) -> T): T {
        val result = withContext(io) { block(vault) }
        refresh()
        return result
    }

    /** Locks the vault (keys and decrypted cases dropped, pending compaction done) off the main thread. */
    suspend fun lock() = withContext(io) { vault.lock() }

    suspend fun sync(listener: SyncListener?, cancel: SyncCancel?): SyncReport {
        val report = vault.sync(listener, cancel)
        refresh()
        return report
    }

    /**
     * Transfers a case to a practitioner by name (supervisors of the case's
     * team, admins; anyone else gets `NotAllowed`). Her devices get it on
     * their next sync; the practitioners who held it lose it on theirs.
     */
    suspend fun transfer(caseId: String, toUser: String): Transfer {
        val transfer = vault.transferCase(caseId, toUser.trim())
        refresh()
        return transfer
    }
}
