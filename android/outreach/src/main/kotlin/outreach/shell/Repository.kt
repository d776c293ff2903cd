package outreach.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.CaseSummary
import uniffi.outreach_ffi.CaseSyncState
import uniffi.outreach_ffi.OutreachVault
import uniffi.outreach_ffi.SyncCancel
import uniffi.outreach_ffi.SyncListener
import uniffi.outreach_ffi.SyncReport

/** One caseload row: the core's summary and where the case stands with the server. */
data class CaseRow(val summary: CaseSummary, val sync: CaseSyncState)

/**
 * The one object screens talk to. It runs every core call off the main
 * thread and republishes the caseload after anything that can change it,
 * so the list on screen is always what the vault holds. No business rules
 * here: validation, merging and sync all live in the Rust core.
 */
class OutreachRepository(
    val vault: OutreachVault,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _caseload = MutableStateFlow<List<CaseRow>>(emptyList())
    val caseload: StateFlow<List<CaseRow>> = _caseload.asStateFlow()

    suspend fun refresh() = withContext(io) {
        val states = vault.syncStates().associate { it.caseId to it.state }
        _caseload.value = vault.caseload().map { CaseRow(it, states[it.id] ?: CaseSyncState.NEVER_SYNCED) }
    }

    /** A read on the I/O dispatcher. */
    suspend fun <T> read(block: (OutreachVault) -> T): T = withContext(io) { block(vault) }

    /** A write on the I/O dispatcher, then a caseload refresh. */
    suspend fun <T> write(block: (OutreachVault) -> T): T {
        val result = withContext(io) { block(vault) }
        refresh()
        return result
    }

    suspend fun sync(listener: SyncListener?, cancel: SyncCancel?): SyncReport {
        val report = vault.sync(listener, cancel)
        refresh()
        return report
    }
}
