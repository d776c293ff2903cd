import Foundation
import OutreachFFI

/// Every list a form offers (contact kinds, outcomes, the twelve plan
/// domains, severities, exit reasons, Signs of Safety columns…) comes from the
/// core through one call, in the core's order — never copied here — so a new
/// word reaches the app with the core. The app shows each word through its
/// label in `Localizable.strings`, keyed by `key(_:_:)`; a word without a
/// label yet shows as `fallback(_:)` (`scripts/check-swift.py` fails until
/// every word has one).
public enum Vocab {
    /// The core's vocabularies (no vault needed).
    public static let core: Vocabulary = vocabulary()

    /// Lists by the name of the core's field in snake case, each word in the core's order.
    public static var lists: [(String, [String])] {
        let v = core
        return [
            ("phases", v.phases.map(\.word)),
            ("domains", v.domains.map(\.word)),
            ("goal_statuses", v.goalStatuses.map(\.word)),
            ("action_owners", v.actionOwners.map(\.word)),
            ("contact_kinds", v.contactKinds.map(\.word)),
            ("outcomes", v.outcomes.map(\.word)),
            ("sign_off_decisions", v.signOffDecisions.map(\.word)),
            ("review_states", v.reviewStates.map(\.word)),
            ("exit_reasons", v.exitReasons.map(\.word)),
            ("worry_kinds", v.worryKinds.map(\.word)),
            ("sos_statuses", v.sosStatuses.map(\.word)),
            ("severities", v.severities.map(\.word)),
            ("concern_statuses", v.concernStatuses.map(\.word)),
            ("scale_views", v.scaleViews.map(\.word)),
            ("sos_columns", v.sosColumns.map(\.word)),
            ("meeting_kinds", v.meetingKinds.map(\.word)),
            ("event_kinds", v.eventKinds.map(\.word)),
            ("referral_statuses", v.referralStatuses.map(\.word)),
        ]
    }

    /// The key of a word's label: `vocab_contact_kinds_no_answer` style (as on Android).
    public static func key(_ list: String, _ word: String) -> String {
        "vocab_\(list)_\(word.replacingOccurrences(of: "-", with: "_"))"
    }

    /// What a word without a label shows: "no-answer" → "No answer".
    public static func fallback(_ word: String) -> String {
        let spaced = word.replacingOccurrences(of: "-", with: " ")
        return spaced.prefix(1).uppercased() + spaced.dropFirst()
    }

    // The core's word for a typed value (the label key's last part).
    public static func word(_ v: ContactKind) -> String { core.contactKinds.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: Outcome) -> String { core.outcomes.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: Domain) -> String { core.domains.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: Severity) -> String { core.severities.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: ConcernStatus) -> String { core.concernStatuses.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: ExitReason) -> String { core.exitReasons.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: WorryKind) -> String { core.worryKinds.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: SosColumn) -> String { core.sosColumns.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: ReviewState) -> String { core.reviewStates.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: ScaleView) -> String { core.scaleViews.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: MeetingKind) -> String { core.meetingKinds.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: ReferralStatus) -> String { core.referralStatuses.first { $0.value == v }?.word ?? "" }
    public static func word(_ v: Phase) -> String { core.phases.first { $0.value == v }?.word ?? "" }

    /// Least to most severe, as the core lists them (for "most severe first").
    public static func severityRank(_ v: Severity) -> Int { core.severities.firstIndex { $0.value == v } ?? 0 }
}
