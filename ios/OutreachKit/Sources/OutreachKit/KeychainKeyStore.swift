import Foundation
import OutreachFFI
import Security

/// The platform key the core asks for: a P-256 key in the Secure Enclave
/// (Keychain on devices without one), never exportable, usable only while
/// the device is unlocked. Values are sealed with ECIES (X9.63, AES-GCM).
public final class KeychainKeyStore: PlatformKeyStore {
    private let tag: Data
    private let requireUserPresence: Bool
    private let algorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    /// `requireUserPresence`: the key is usable only after Face ID / Touch ID
    /// or the device passcode (the system prompts) — the quick-unlock key.
    public init(tag: String = "uk.gov.council.outreach.vault-key", requireUserPresence: Bool = false) {
        self.tag = tag.data(using: .utf8)!
        self.requireUserPresence = requireUserPresence
    }

    private func privateKey() throws -> SecKey {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        if SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let key = item {
            return key as! SecKey
        }
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly,
            requireUserPresence ? [.privateKeyUsage, .userPresence] : .privateKeyUsage, &error)
        else { throw PlatformKeyError.Failed(detail: "access control") }
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag,
                kSecAttrAccessControl as String: access,
            ],
        ]
        #if !targetEnvironment(simulator)
        attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave
        #endif
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw PlatformKeyError.Failed(detail: "key generation")
        }
        return key
    }

    public func seal(plaintext: Data) throws -> Data {
        guard let pub = SecKeyCopyPublicKey(try privateKey()) else { throw PlatformKeyError.Failed(detail: "public key") }
        var error: Unmanaged<CFError>?
        guard let sealed = SecKeyCreateEncryptedData(pub, algorithm, plaintext as CFData, &error) else {
            throw PlatformKeyError.Unavailable
        }
        return sealed as Data
    }

    public func unseal(sealed: Data) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let plain = SecKeyCreateDecryptedData(try privateKey(), algorithm, sealed as CFData, &error) else {
            throw PlatformKeyError.Unavailable
        }
        return plain as Data
    }
}
