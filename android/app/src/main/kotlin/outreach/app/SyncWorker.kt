package outreach.app

import android.content.Context
import androidx.work.CoroutineWorker
import androidx.work.WorkerParameters
import outreach.shell.SyncPolicy
import uniffi.outreach_ffi.CaseSyncState
import uniffi.outreach_ffi.OutreachException

/**
 * Background sync when a network is available (WorkManager constraint).
 * Runs only while the vault is unlocked: a locked vault has no keys, and
 * that is the point of locking it. Offline and server errors retry later.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    companion object {
        /** Last successful background sync (seconds), for [SyncPolicy]. */
        @Volatile var lastSuccess: Long? = null
    }

    override suspend fun doWork(): Result {
        val app = applicationContext as OutreachApplication
        val repo = app.repository.value ?: return Result.success()
        val now = System.currentTimeMillis() / 1000
        val pending = repo.caseload.value.any { it.sync == CaseSyncState.PENDING_UPLOAD }
        // WorkManager only runs this with a network (its constraint).
        if (!SyncPolicy.shouldSync(networkAvailable = true, pendingUpload = pending, lastSuccess = lastSuccess, now = now)) {
            return Result.success()
        }
        return try {
            repo.sync(null, null)
            lastSuccess = now
            Result.success()
        } catch (e: OutreachException.Offline) {
            Result.retry()
        } catch (e: OutreachException.DeviceRevoked) {
            app.repository.value = null
            Result.success()
        } catch (e: OutreachException) {
            Result.retry()
        }
    }
}
