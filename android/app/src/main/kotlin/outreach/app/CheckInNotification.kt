package outreach.app

import android.Manifest
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import androidx.work.ExistingWorkPolicy
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import java.time.Duration
import java.time.ZonedDateTime
import java.util.concurrent.TimeUnit

/**
 * The lone-working timer outside the app: an ongoing notification whose
 * countdown the system runs itself (no core call, nothing to keep awake),
 * shown while a check-in is open and removed on check-out. It names no one
 * and no address — it is on the lock screen — only the time she is due back.
 * At the deadline (WorkManager: may be a little late in Doze; the server's
 * alert does not depend on it) the words change to OVERDUE, if the
 * notification is still there — that is, if she has not checked out.
 */
object CheckInNotification {
    private const val CHANNEL = "lone-working"
    private const val ID = 4201

    /** Android 13 and later ask before an app may notify. */
    fun needsPermission(context: Context): Boolean =
        Build.VERSION.SDK_INT >= 33 &&
            context.checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED

    private const val OVERDUE_WORK = "lone-working-overdue"

    fun show(context: Context, until: ZonedDateTime, backBy: String) {
        post(context, until, context.getString(R.string.check_in_notification_title, backBy),
            context.getString(R.string.check_in_notification_text))
        val delay = Duration.between(ZonedDateTime.now(), until).toMillis().coerceAtLeast(0)
        WorkManager.getInstance(context).enqueueUniqueWork(
            OVERDUE_WORK, ExistingWorkPolicy.REPLACE,
            OneTimeWorkRequestBuilder<OverdueWorker>()
                .setInitialDelay(delay, TimeUnit.MILLISECONDS)
                .setInputData(workDataOf(UNTIL to until.toInstant().toEpochMilli()))
                .build(),
        )
    }

    /** At the deadline: OVERDUE in words, if she is still checked in (the notification is still up). */
    internal fun showOverdue(context: Context, untilMillis: Long) {
        val manager = context.getSystemService(NotificationManager::class.java) ?: return
        if (manager.activeNotifications.none { it.id == ID }) return
        val until = ZonedDateTime.ofInstant(java.time.Instant.ofEpochMilli(untilMillis), java.time.ZoneId.systemDefault())
        post(context, until, context.getString(R.string.check_in_notification_overdue_title),
            context.getString(R.string.check_in_notification_overdue_text))
    }

    internal const val UNTIL = "until"

    private fun post(context: Context, until: ZonedDateTime, title: String, text: String) {
        if (needsPermission(context)) return
        val manager = context.getSystemService(NotificationManager::class.java) ?: return
        manager.createNotificationChannel(
            NotificationChannel(CHANNEL, context.getString(R.string.check_in_channel), NotificationManager.IMPORTANCE_DEFAULT),
        )
        val open = PendingIntent.getActivity(
            context, 0, Intent(context, MainActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP),
            PendingIntent.FLAG_IMMUTABLE,
        )
        val notification = Notification.Builder(context, CHANNEL)
            .setSmallIcon(android.R.drawable.ic_lock_idle_alarm)
            .setContentTitle(title)
            .setContentText(text)
            .setWhen(until.toInstant().toEpochMilli())
            .setShowWhen(true)
            .setUsesChronometer(true)
            .setChronometerCountDown(true)
            .setOngoing(true)
            .setVisibility(Notification.VISIBILITY_PUBLIC)
            .setContentIntent(open)
            .build()
        manager.notify(ID, notification)
    }

    fun cancel(context: Context) {
        WorkManager.getInstance(context).cancelUniqueWork(OVERDUE_WORK)
        context.getSystemService(NotificationManager::class.java)?.cancel(ID)
    }
}

/** Turns the timer's notification to OVERDUE at the deadline (no core call: the vault may be locked). */
class OverdueWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    override fun doWork(): Result {
        val until = inputData.getLong(CheckInNotification.UNTIL, 0L)
        if (until > 0) CheckInNotification.showOverdue(applicationContext, until)
        return Result.success()
    }
}
