import Foundation
import OutreachFFI

/// Every blocking core call goes through `Core.run`: it runs on a detached
/// task's background thread, never on the main actor, so Argon2id (create,
/// unlock: about 0.2 s) and the durable commits (a write is one fsync'd
/// transaction) never freeze the UI. The stores are `@MainActor`: they await
/// the result here and publish it on the main actor. The core's `async`
/// calls (sync, enrol, transfer, check-in…) already run on a thread of their
/// own and are awaited directly. `scripts/check-swift.py` fails the build if
/// a vault call outside `Core.run` is not one of those `async` calls.
public enum Core {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Task.detached(priority: .userInitiated) { try work() }.value
    }
}
