import Foundation
import OutreachFFI

/// The contact form's fields as the record the core writes, for the calls
/// that take a finished visit rather than a draft (`addVisitAndCheckOut`).
/// What a draft must have to be submitted is the core's rule
/// (`VisitDraft::complete`); a missing one is refused here in the core's
/// words ("kind: is required to submit"), worded by `Messages`.
public enum Visits {
    public static func input(_ d: VisitDraft) throws -> VisitInput {
        func required<T>(_ v: T?, _ field: String) throws -> T {
            guard let v else { throw OutreachError.InvalidInput(detail: "\(field): is required to submit") }
            return v
        }
        return VisitInput(at: try required(d.at, "at"), kind: try required(d.kind, "kind"),
                          outcome: try required(d.outcome, "outcome"), note: d.note ?? "", plannedAt: d.plannedAt,
                          endedAt: d.endedAt, present: d.present, domains: d.domains, herWords: d.herWords,
                          wellbeing: d.wellbeing, actionsAgreed: d.actionsAgreed, nextContactDue: d.nextContactDue,
                          checkedInAt: d.checkedInAt, checkedOutAt: d.checkedOutAt)
    }
}
