import Foundation
import OutreachFFI

/// One figure of a report card: `key` names its label (`report_<key>`);
/// `value` is nil when there is nothing to divide by (shown as "—").
public struct ReportFigure: Identifiable, Sendable {
    public let key: String
    public let value: String?
    public var id: String { key }
}

/// One practitioner's card: the same measures as the team's.
public struct PractitionerFigures: Identifiable, Sendable {
    public let name: String
    public let cases: UInt64
    public let figures: [ReportFigure]
    public var id: String { name }
}

/// The report card's measures in one order, for the team's card and each
/// practitioner's (`Report.byPractitioner`): counts as they are, percentages
/// rounded, nil where the core has no denominator. No arithmetic here: the
/// core computed every figure.
public enum ReportFigures {
    private static func pct(_ v: Double?) -> String? { v.map { String(format: "%.0f%%", $0) } }

    public static func of(_ howMuch: HowMuch, _ howWell: HowWell, _ betterOff: BetterOff) -> [ReportFigure] {
        [
            ReportFigure(key: "active_cases", value: String(howMuch.activeCases)),
            ReportFigure(key: "new_referrals", value: String(howMuch.newReferrals)),
            ReportFigure(key: "contacts_completed", value: String(howMuch.contactsCompleted)),
            ReportFigure(key: "contacts_attempted", value: String(howMuch.contactsAttempted)),
            ReportFigure(key: "meetings", value: String(howMuch.meetings)),
            ReportFigure(key: "referrals_made", value: String(howMuch.referralsMade)),
            ReportFigure(key: "closures", value: String(howMuch.closures)),
            ReportFigure(key: "contacts_on_time", value: pct(howWell.contactsOnTimePct)),
            ReportFigure(key: "overdue_cases", value: String(howWell.overdueCases)),
            ReportFigure(key: "visits_signed_off", value: pct(howWell.visitsSignedOffPct)),
            ReportFigure(key: "median_days_to_sign_off", value: howWell.medianDaysToSignOff.map { String(format: "%.1f", $0) }),
            ReportFigure(key: "scaling_improved", value: pct(betterOff.scalingImprovedPct)),
            ReportFigure(key: "goals_achieved", value: pct(betterOff.goalsAchievedPct)),
            ReportFigure(key: "pause_agreed", value: pct(betterOff.pauseAgreedPct)),
            ReportFigure(key: "completed_programme", value: String(betterOff.completedProgramme)),
        ]
    }

    /// The team's (or this phone's) card.
    public static func of(_ r: Report) -> [ReportFigure] { of(r.howMuch, r.howWell, r.betterOff) }

    /// One card per practitioner, in the core's order.
    public static func cards(_ r: Report) -> [PractitionerFigures] {
        r.byPractitioner.map { PractitionerFigures(name: $0.name, cases: $0.cases, figures: of($0.howMuch, $0.howWell, $0.betterOff)) }
    }
}
