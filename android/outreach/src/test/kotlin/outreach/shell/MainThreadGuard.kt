// Fails the run if the app layer makes a blocking core call on the UI
// thread. Every vault the state holders use is wrapped in a GuardedVault
// (generated from the bindings' OutreachVaultInterface by
// scripts/kotlin-guarded-vault.py) that records any non-suspending call made
// on [uiThread] (the thread the tests drive the state holders from, as
// Compose drives them from the main thread). Suspending calls (sync, enrol,
// transfer, check-in…) run their work on the core's own thread and are fine.
package outreach.shell

import java.util.Collections
import uniffi.outreach_ffi.OutreachVault
import uniffi.outreach_ffi.OutreachVaultInterface

internal object MainThreadGuard {
    lateinit var uiThread: Thread
    val violations: MutableList<String> = Collections.synchronizedList(mutableListOf())

    private fun onUi() = Thread.currentThread() === uiThread

    fun wrap(inner: OutreachVault): OutreachVaultInterface = GuardedVault(inner) { name -> if (onUi()) violations += name }

    /** `OutreachVault.open`, watched: opening reads the vault file. */
    fun open(dir: String): OutreachVaultInterface {
        if (onUi()) violations += "open"
        return wrap(OutreachVault.open(dir))
    }

    /** `OutreachVault.create`, watched: creating runs Argon2id. */
    fun create(dir: String, pass: String, name: String, team: String?, key: uniffi.outreach_ffi.PlatformKeyStore?): OutreachVaultInterface {
        if (onUi()) violations += "create"
        return wrap(OutreachVault.create(dir, pass, name, team, key))
    }
}
