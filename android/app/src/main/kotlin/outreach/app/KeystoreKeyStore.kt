package outreach.app

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.outreach_ffi.PlatformKeyException
import uniffi.outreach_ffi.PlatformKeyStore

/**
 * The platform key the core asks for: an AES-256-GCM key in the Android
 * Keystore, non-exportable, in StrongBox where the phone has one. With
 * [requireUserAuth] (biometric quick unlock) the key only works for a few
 * seconds after the user authenticates. Sealed form: 12-byte IV ‖ ciphertext.
 */
class KeystoreKeyStore(
    private val alias: String = "outreach-vault-key",
    private val requireUserAuth: Boolean = false,
) : PlatformKeyStore {
    private val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    private fun key(): SecretKey =
        (keyStore.getKey(alias, null) as? SecretKey) ?: generate(strongBox = Build.VERSION.SDK_INT >= 28)

    private fun generate(strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setUserAuthenticationRequired(requireUserAuth)
            .apply {
                if (requireUserAuth && Build.VERSION.SDK_INT >= 30) {
                    setUserAuthenticationParameters(10, KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL)
                }
                if (strongBox && Build.VERSION.SDK_INT >= 28) setIsStrongBoxBacked(true)
            }
            .build()
        return try {
            KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore").run {
                init(spec)
                generateKey()
            }
        } catch (e: StrongBoxUnavailableException) {
            generate(strongBox = false)
        }
    }

    private fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: UserNotAuthenticatedException) {
        throw PlatformKeyException.Unavailable()
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw PlatformKeyException.Invalidated()
    } catch (e: PlatformKeyException) {
        throw e
    } catch (e: Exception) {
        throw PlatformKeyException.Failed(e.javaClass.simpleName)
    }

    override fun seal(plaintext: ByteArray): ByteArray = guarded {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, key())
        cipher.iv + cipher.doFinal(plaintext)
    }

    override fun unseal(sealed: ByteArray): ByteArray = guarded {
        if (sealed.size < 12 + 16) throw PlatformKeyException.Failed("sealed value too short")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(128, sealed, 0, 12))
        cipher.doFinal(sealed, 12, sealed.size - 12)
    }
}
