import Foundation
import OutreachFFI

/// Plain words for every core error, with what to do next (the same
/// wording as the Android layer's `Messages`). The switch names every case of
/// `OutreachError` and has no `default`, so a new error does not compile
/// until it has its words; `scripts/check-swift.py` also compares the cases
/// here with the generated enum on every test run (no Swift compiler there).
public enum Messages {
    /// For an error that is not one of the core's (a bug, not a user's mistake).
    public static let unexpected = "Something went wrong. Your saved records are safe; try again."

    public static func of(_ error: Error) -> String {
        guard let e = error as? OutreachError else { return unexpected }
        switch e {
        case .NoVault:
            return "Outreach is not set up on this phone yet. Set it up, or ask your admin for an enrolment code."
        case .VaultExists:
            return "Outreach is already set up on this phone. Unlock it with your passphrase."
        case .WrongPassphrase(let remaining):
            return "That passphrase is not right. \(remaining) attempts left before this phone's records are wiped."
        case .Wiped:
            return "Too many wrong passphrases: the records on this phone were wiped. Ask your admin to set it up again."
        case .Locked:
            return "Unlock Outreach to continue."
        case .PlatformKeyRequired, .PlatformKey:
            return "The phone's secure key is not available. Unlock the phone and try again, or use your passphrase."
        case .InvalidInput(let detail):
            return "Please check this: \(detail)."
        case .NotFound:
            return "That record is no longer there. Go back and refresh."
        case .NotAllowed(let detail):
            return "You can't do that from this account: \(detail). Ask your supervisor if this looks wrong."
        case .Offline:
            return "No connection to the server. Everything is saved on this phone and will sync when you are back online."
        case .DeviceRevoked:
            return "Your organisation removed this phone, so its records were wiped. Ask your admin for a new enrolment code."
        case .Sync(let detail):
            return "Sync did not finish: \(detail). Your records are safe on this phone; try again."
        case .Corrupt:
            return "A record on this phone failed its safety check. Do not delete the app; contact your admin."
        case .Storage(let detail):
            return "This phone could not read or save Outreach's records (\(detail)). Check it has free space, then try again; contact your admin if it happens again."
        case .Internal(let detail):
            return "Something went wrong inside Outreach (\(detail)). Your saved records are safe; contact your admin if it happens again."
        }
    }
}
