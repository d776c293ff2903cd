package outreach.app

import android.content.Context
import androidx.work.CoroutineWorker
import androidx.work.WorkerParameters
import uniffi.outreach_ffi.OutreachException

/**
 * Background sync when a network is available (WorkManager constraint).
 * Runs only while the vault is unlocked: a locked vault has no keys, and
 * that is the point of locking it. Offline and server errors retry later.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as OutreachApplication
        val repo = app.repository.value ?: return Result.success()
        return try {
            repo.sync(null, null)
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
