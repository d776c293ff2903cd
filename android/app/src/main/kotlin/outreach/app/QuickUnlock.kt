package outreach.app

import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricManager.Authenticators.DEVICE_CREDENTIAL
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity

/**
 * Biometric or device-PIN check before quick unlock. The quick-unlock key
 * (an auth-bound Keystore key) only works for a few seconds after this
 * succeeds; the core then unwraps the vault key with it.
 */
object QuickUnlock {
    val keyStore = KeystoreKeyStore(alias = "outreach-quick-unlock", requireUserAuth = true)

    fun prompt(activity: FragmentActivity, onSuccess: () -> Unit, onError: (String) -> Unit) {
        val callback = object : BiometricPrompt.AuthenticationCallback() {
            override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) = onSuccess()
            override fun onAuthenticationError(errorCode: Int, errString: CharSequence) = onError(errString.toString())
        }
        val info = BiometricPrompt.PromptInfo.Builder()
            .setTitle("Unlock Outreach")
            .setAllowedAuthenticators(BIOMETRIC_STRONG or DEVICE_CREDENTIAL)
            .build()
        BiometricPrompt(activity, ContextCompat.getMainExecutor(activity), callback).authenticate(info)
    }
}
