import Foundation
import OutreachCore
import OutreachFFI
import XCTest

// OutreachCore against the real core (the host's liboutreach_ffi.so), on
// Linux: `scripts/build-swift-linux.sh` builds and runs these. Written for
// that, never run on the project's machines (no Swift compiler there).
final class OutreachCoreTests: XCTestCase {
    /// A new vault in a temporary folder, unlocked, with one case.
    private func vaultWithCase() throws -> (OutreachVault, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outreach-\(UUID().uuidString)")
        let vault = try OutreachVault.create(dir: dir.path, passphrase: "a long test passphrase", practitioner: "Sam Test",
                                             team: nil, platformKey: nil)
        return (vault, try vault.createCase(fields: CaseEdit(preferredName: "Leah")))
    }

    func testVocabularyIsTheCores() {
        XCTAssertEqual(Vocab.lists.count, 18)
        for (name, words) in Vocab.lists { XCTAssertFalse(words.isEmpty, name) }
        XCTAssertEqual(Vocab.key("contact_kinds", "no-answer"), "vocab_contact_kinds_no_answer")
    }

    func testMessagesWordTheCoresErrors() {
        XCTAssertEqual(Messages.of(OutreachError.InvalidInput(detail: "kind: is required to submit")),
                       "Please check this: kind: is required to submit.")
        XCTAssertEqual(Messages.of(CocoaError(.fileNoSuchFile)), Messages.unexpected)
    }

    func testDaysRoundTrip() {
        XCTAssertEqual(Dates.parseDay("2026-11-27").map(Dates.day), "2026-11-27")
        XCTAssertNil(Dates.parseDay("27/11/2026"))
    }

    func testAFormDraftIsKeptByTheRecordItChanges() async throws {
        let (vault, caseId) = try vaultWithCase()
        let pinned = [DraftField.revises: Revises.sosEntry, DraftField.record: "entry-1"]
        let fields = pinned.merging([DraftField.text: "She is worried about the flat", DraftField.kind: ""]) { a, _ in a }
        let id = try await FormDrafts.save(vault, draftId: nil, caseId: caseId, form: .revision, fields: fields)
        let back = try await FormDrafts.newest(vault, caseId: caseId, form: .revision, matching: pinned)
        XCTAssertEqual(back?.draftId, id)
        XCTAssertEqual(back?.fields[DraftField.text], "She is worried about the flat")
        XCTAssertNil(back?.fields[DraftField.kind], "empty fields are not saved")
        let other = try await FormDrafts.newest(vault, caseId: caseId, form: .revision, matching: [DraftField.record: "entry-2"])
        XCTAssertNil(other)
        let closure = try await FormDrafts.newest(vault, caseId: caseId, form: .closure)
        XCTAssertNil(closure)
        try await FormDrafts.discard(vault, draftId: id)
        try await FormDrafts.discard(vault, draftId: id) // already gone: not an error
        let gone = try await FormDrafts.newest(vault, caseId: caseId, form: .revision)
        XCTAssertNil(gone)
        XCTAssertFalse(FormDrafts.hasTyped(pinned, pinned: Set(pinned.keys)))
        XCTAssertEqual(FormDrafts.labelKey(.closure), "draft_form_closure")
        XCTAssertEqual(FormDrafts.labelKey(.revision, revises: Revises.sosEntry), "draft_form_revision_sos_entry")
    }

    func testThePlansFormsKeepTheirDrafts() async throws {
        let (vault, caseId) = try vaultWithCase()
        let fields = [DraftField.score: "4", DraftField.view: Vocab.word(ScaleView.woman),
                      DraftField.question: "How safe do you feel at home, from 0 to 10?"]
        let id = try await FormDrafts.save(vault, draftId: nil, caseId: caseId, form: .scaling, fields: fields)
        let back = try await FormDrafts.newest(vault, caseId: caseId, form: .scaling)
        XCTAssertEqual(back?.draftId, id)
        XCTAssertEqual(back?.fields, fields)
        let entry = try await FormDrafts.newest(vault, caseId: caseId, form: .mapEntry)
        XCTAssertNil(entry, "another form's draft is not this one's")
        try await FormDrafts.discard(vault, draftId: id)
        XCTAssertEqual(FormDrafts.labelKey(.goal), "draft_form_goal")
        XCTAssertEqual(FormDrafts.labelKey(.action), "draft_form_action")
        XCTAssertEqual(FormDrafts.labelKey(.scaling), "draft_form_scaling")
        XCTAssertEqual(FormDrafts.labelKey(.mapEntry), "draft_form_map_entry")
    }

    func testOpeningACaseKeepsADraftWithNoCase() async throws {
        let (vault, caseId) = try vaultWithCase()
        let fields = [DraftField.preferredName: "Leah", DraftField.codeWord: "bluebell", DraftField.textOk: "no"]
        let id = try await FormDrafts.save(vault, draftId: nil, caseId: FormDrafts.noCase, form: .openCase, fields: fields)
        let back = try await FormDrafts.newest(vault, caseId: FormDrafts.noCase, form: .openCase)
        XCTAssertEqual(back?.draftId, id)
        XCTAssertEqual(back?.fields, fields)
        do {
            _ = try await FormDrafts.save(vault, draftId: nil, caseId: FormDrafts.noCase, form: .referral, fields: [DraftField.agency: "x"])
            XCTFail("another form needs its case")
        } catch OutreachError.InvalidInput {}
        let comment = [DraftField.visit: "v1", DraftField.comment: "Please add the actions"]
        let c = try await FormDrafts.save(vault, draftId: nil, caseId: caseId, form: .returnComment, fields: comment)
        let found = try await FormDrafts.newest(vault, caseId: caseId, form: .returnComment, matching: [DraftField.visit: "v1"])
        XCTAssertEqual(found?.draftId, c)
        try await FormDrafts.discard(vault, draftId: id)
        try await FormDrafts.discard(vault, draftId: c)
        XCTAssertEqual(FormDrafts.labelKey(.openCase), "draft_form_open_case")
        XCTAssertEqual(FormDrafts.labelKey(.returnComment), "draft_form_return_comment")
        XCTAssertEqual(FormDrafts.labelKey(.amendment), "draft_form_amendment")
    }

    func testReportCardsHaveTheTeamsMeasures() async throws {
        let (vault, _) = try vaultWithCase()
        let report = try await Core.run { try vault.report(query: ReportQuery()) }
        let team = ReportFigures.of(report)
        XCTAssertEqual(team.count, 15)
        for card in ReportFigures.cards(report) { XCTAssertEqual(card.figures.map(\.key), team.map(\.key)) }
    }
}
