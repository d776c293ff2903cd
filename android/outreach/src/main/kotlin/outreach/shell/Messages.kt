package outreach.shell

import uniffi.outreach_ffi.OutreachException

/**
 * What a practitioner reads when something goes wrong: plain words and what
 * to do next. The core's messages carry no personal data; these add the
 * next step. Every screen maps errors through here, never on its own.
 *
 * [of] has one branch per error the mobile API can return and no `else`:
 * a new variant of `OutreachException` does not compile until it has its
 * words here (and the JVM tests construct every variant and check each
 * gets its own message, not [UNEXPECTED]).
 */
object Messages {
    /** For a throwable that is not one of the core's errors (a bug, not a user's mistake). */
    const val UNEXPECTED = "Something went wrong. Your saved records are safe; try again."

    fun of(e: Throwable): String = if (e is OutreachException) of(e) else UNEXPECTED

    fun of(e: OutreachException): String = when (e) {
        is OutreachException.NoVault ->
            "Outreach is not set up on this phone yet. Set it up, or ask your admin for an enrolment code."
        is OutreachException.VaultExists ->
            "Outreach is already set up on this phone. Unlock it with your passphrase."
        is OutreachException.WrongPassphrase ->
            "That passphrase is not right. ${e.remaining} attempts left before this phone's records are wiped."
        is OutreachException.Wiped ->
            "Too many wrong passphrases: the records on this phone were wiped. Ask your admin to set it up again."
        is OutreachException.Locked -> "Unlock Outreach to continue."
        is OutreachException.PlatformKeyRequired, is OutreachException.PlatformKey ->
            "The phone's secure key is not available. Unlock the phone and try again, or use your passphrase."
        is OutreachException.InvalidInput -> "Please check this: ${e.detail}."
        is OutreachException.NotFound -> "That record is no longer there. Go back and refresh."
        is OutreachException.NotAllowed ->
            "You can't do that from this account: ${e.detail}. Ask your supervisor if this looks wrong."
        is OutreachException.Offline ->
            "No connection to the server. Everything is saved on this phone and will sync when you are back online."
        is OutreachException.DeviceRevoked ->
            "Your organisation removed this phone, so its records were wiped. Ask your admin for a new enrolment code."
        is OutreachException.Sync -> "Sync did not finish: ${e.detail}. Your records are safe on this phone; try again."
        is OutreachException.Corrupt ->
            "A record on this phone failed its safety check. Do not delete the app; contact your admin."
        is OutreachException.Storage ->
            "This phone could not read or save Outreach's records (${e.detail}). Check it has free space, then try again; contact your admin if it happens again."
        is OutreachException.Internal ->
            "Something went wrong inside Outreach (${e.detail}). Your saved records are safe; contact your admin if it happens again."
    }
}
