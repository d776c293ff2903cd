package outreach.app

import android.app.Application
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch
import outreach.shell.AutoLock
import outreach.shell.OutreachRepository

/**
 * Holds the unlocked repository (null when locked), applies auto-lock when
 * the app has been in the background past the timeout, and schedules the
 * background sync.
 */
class OutreachApplication : Application() {
    val vaultDir: String by lazy { File(noBackupFilesDir, "vault").path }
    val repository = MutableStateFlow<OutreachRepository?>(null)
    val autoLock = AutoLock()
    private val scope = MainScope()

    override fun onCreate() {
        super.onCreate()
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStop(owner: LifecycleOwner) {
                autoLock.backgrounded(System.currentTimeMillis() / 1000)
            }

            override fun onStart(owner: LifecycleOwner) {
                if (autoLock.foregrounded(System.currentTimeMillis() / 1000)) lock()
            }
        })
        scheduleSync()
    }

    /** Drops the keys; the vault's lock (and its compaction) runs off the main thread. */
    fun lock() {
        val repo = repository.value ?: return
        repository.value = null
        scope.launch { repo.lock() }
    }

    private fun scheduleSync() {
        val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
            .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
            .build()
        WorkManager.getInstance(this)
            .enqueueUniquePeriodicWork("outreach-sync", ExistingPeriodicWorkPolicy.KEEP, request)
    }
}
