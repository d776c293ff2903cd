import Foundation
import OutreachFFI

/// Plain words for every core error, with what to do next (the same
/// wording as the Android layer's `Messages`).
public enum Messages {
    public static func of(_ error: Error) -> String {
        switch error as? OutreachError {
        case .WrongPassphrase(let remaining)?:
            return "That passphrase is not right. \(remaining) attempts left before this phone's records are wiped."
        case .Wiped?:
            return "Too many wrong passphrases: the records on this phone were wiped. Ask your admin to set it up again."
        case .InvalidInput(let detail)?:
            return "Please check this: \(detail)."
        case .NotAllowed(let detail)?:
            return "You can't do that from this account: \(detail). Ask your supervisor if this looks wrong."
        case .Offline?:
            return "No connection to the server. Everything is saved on this phone and will sync when you are back online."
        case .DeviceRevoked?:
            return "Your organisation removed this phone, so its records were wiped. Ask your admin for a new enrolment code."
        case .Sync(let detail)?:
            return "Sync did not finish: \(detail). Your records are safe on this phone; try again."
        case .Corrupt?:
            return "A record on this phone failed its safety check. Do not delete the app; contact your admin."
        case .PlatformKey?, .PlatformKeyRequired?:
            return "The phone's secure key is not available. Unlock the phone and try again."
        default:
            return "Something went wrong. Your saved records are safe; try again."
        }
    }
}
