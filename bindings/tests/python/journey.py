"""A practitioner's and a supervisor's journey through the generated Python
bindings, against a real outreach-server on loopback: record visits and plan
changes, keep a draft across a "killed app", enrol, sync with a progress
listener, see the supervisor's view, the sign-off loop (sign off, return,
amend; refusals for those without the authority), make and resolve a
conflict, export, cancel a sync, assign and transfer, wrong passphrase,
revoke. Needs OUTREACH_SERVER_BIN (the
server binary) and the bindings on sys.path (scripts/test.sh sets both)."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile

import outreach_ffi as o

results = {"passed": 0, "failed": 0}


def check(name, cond):
    results["passed" if cond else "failed"] += 1
    print(f"{'ok  ' if cond else 'FAIL'} {name}")


class Progress(o.SyncListener):
    def __init__(self):
        self.phases = []

    def on_progress(self, phase, done, total):
        self.phases.append((phase, done, total))


def start_server(data):
    server = os.environ["OUTREACH_SERVER_BIN"]
    proc = subprocess.Popen(
        [server, "serve", "--listen", "127.0.0.1:0", "--data", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    for line in proc.stdout:
        if line.startswith("Listening on http://"):
            return proc, line.split()[2]
    raise RuntimeError("server did not start")


def admin(data, *args):
    out = subprocess.run(
        [os.environ["OUTREACH_SERVER_BIN"], *args, "--data", data, "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


async def main():
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "server")
    proc, url = start_server(data)
    try:
        await journey(tmp, data, url)
    finally:
        proc.terminate()
        proc.wait()


async def journey(tmp, data, url):
    sam = o.OutreachVault.create(os.path.join(tmp, "sam"), "sam's passphrase", "Sam Jones", "North", None)
    ali = o.OutreachVault.create(os.path.join(tmp, "ali"), "ali's passphrase", "Ali Khan", "North", None)

    # Offline: a case, a visit, the plan, Signs of Safety, a concern...
    case = sam.create_case(o.CaseEdit(preferred_name="Jasmine", phase=o.Phase.ENGAGEMENT))
    visit = sam.add_visit(case, o.VisitInput(at="2026-11-20T10:00:00Z", kind=o.ContactKind.HOME,
                                             outcome=o.Outcome.COMPLETED, note="Tenancy letter"))
    goal = sam.add_goal(case, o.GoalInput(domain=o.Domain.HOUSING, text="Keep the tenancy", target_date="2027-03-01"))
    action = sam.add_action(case, goal, o.ActionInput(text="Call the housing officer", owner=o.ActionOwner.WOMAN))
    sam.complete_action(case, goal, action, "2026-11-22")
    sam.set_goal_status(case, goal, o.GoalStatus.IN_PROGRESS)
    sam.add_sos_entry(case, o.SosColumn.WORKING_WELL, "Attends every visit", None)
    sam.add_sos_entry(case, o.SosColumn.WORRIES, "Rent arrears", o.WorryKind.COMPLICATING)
    sam.add_danger_statement(case, "Ex-partner may return", "She has a safety plan")
    concern = sam.add_concern(case, o.ConcernInput(category="domestic abuse", severity=o.Severity.HIGH,
                                                   description="Seen near the flat"))
    sam.update_concern(case, concern, o.ConcernUpdate(status=o.ConcernStatus.ESCALATED, escalated_to="MASH"))
    consent = sam.add_consent(case, o.ConsentInput(what="Share with GP"))
    sam.withdraw_consent(case, consent, None)
    sam.add_referral(case, o.ReferralInput(agency="Women's Aid", reason="Support"))
    sam.add_meeting(case, o.MeetingInput(kind=o.MeetingKind.FGC, date="2026-11-25", attendees=["Jasmine"], summary="Plan agreed"))
    sam.add_event(case, o.EventInput(kind=o.EventKind.OTHER, date="2026-11-26"))
    whole = sam.case_record(case)
    check("whole case as records", whole.goals[goal].actions[action].done is not None
          and len(whole.signs_of_safety.working_well) == 1 and len(whole.signs_of_safety.danger_statements) == 1
          and [w.kind for w in whole.signs_of_safety.worries.values()] == [o.WorryKind.COMPLICATING]
          and whole.concerns[concern].status == o.ConcernStatus.ESCALATED
          and whole.consents[consent].withdrawn_on is not None
          and len(whole.referrals) == 1 and len(whole.meetings) == 1 and len(whole.events) == 1)
    timeline = sam.timeline(case)
    check("timeline lists the dated records", len(timeline) >= 5)
    check("history names the author", all(h.by == "Sam Jones" for h in sam.history(case)))

    # A draft survives the app being killed (a new object on the same files).
    draft = sam.save_draft(None, case, o.VisitDraft(kind=o.ContactKind.PHONE, note="Half-written"))
    del sam
    sam = o.OutreachVault.open(os.path.join(tmp, "sam"))
    sam.unlock("sam's passphrase", None)
    drafts = sam.drafts()
    check("draft listed after a restart", [d.draft_id for d in drafts] == [draft])
    restored = sam.restore_draft(draft)
    check("draft restored", restored.case_id == case and restored.draft.note == "Half-written")
    try:
        sam.submit_draft(draft)
        check("incomplete draft refused", False)
    except o.OutreachError.InvalidInput:
        check("incomplete draft refused", True)
    d = restored.draft
    d.at, d.outcome = "2026-11-27T09:00:00Z", o.Outcome.COMPLETED
    sam.save_draft(draft, case, d)
    check("submitted draft becomes a visit", sam.submit_draft(draft) == draft and sam.drafts() == [])

    check("never synced before enrolment", [s.state for s in sam.sync_states()] == [o.CaseSyncState.NEVER_SYNCED])

    # Enrol both, sync with a listener.
    sam_code = admin(data, "invite", "--name", "Sam Jones", "--role", "practitioner", "--team", "North")["code"]
    ali_code = admin(data, "invite", "--name", "Ali Khan", "--role", "supervisor", "--team", "North")["code"]
    account = await sam.enroll(url, sam_code, False)
    check("enrolled as practitioner", account.role == "practitioner" and account.team == "North")
    await ali.enroll(url, ali_code, False)
    try:
        await ali.enroll(url, ali_code, False)
        check("second enrolment refused", False)
    except o.OutreachError.Sync:
        check("second enrolment refused", True)
    progress = Progress()
    report = await sam.sync(progress, o.SyncCancel())
    check("sync uploads the case", report.pushed == 1 and report.keys_shared == 1)
    check("progress reported", any(p[0] == o.SyncPhase.UPLOADING for p in progress.phases))
    check("synced state", [s.state for s in sam.sync_states()] == [o.CaseSyncState.SYNCED])

    report = await ali.sync(None, None)
    check("supervisor receives the case", report.cases_changed == [case])
    seen = ali.read_case(case)
    check("supervisor sees the visits", {v.id for v in seen.visits} >= {visit, draft})
    ali.sign_off_visit(case, visit, o.SignOffDecision.RETURNED, "Please add the actions agreed")

    # Sign-off: only a supervisor of the case's team, on an enrolled device.
    try:
        sam.sign_off_visit(case, draft, o.SignOffDecision.SIGNED_OFF, None)
        check("the practitioner cannot sign off her own visit", False)
    except o.OutreachError.NotAllowed as e:
        check("the practitioner cannot sign off her own visit", "supervisor" in str(e))
    ali.sign_off_visit(case, draft, o.SignOffDecision.SIGNED_OFF, "Good record")
    signed = ali.case_record(case).visits[draft]
    check("the supervisor's enrolled device signs off a synced visit",
          signed.review == o.ReviewState.SIGNED_OFF and signed.sign_off.by == "Ali Khan"
          and signed.sign_off.device == ali.sync_account().device_id
          and None not in (signed.sign_off.by_user, signed.sign_off.signature))
    check("the sign-off's history names the supervisor's role",
          any(h.role == "supervisor" and h.by == "Ali Khan" for h in ali.history(case)))

    # The supervisor's report card: counts and percentages only.
    card = ali.report(o.ReportQuery(team="North"))
    check("the report card counts the team's case and its signed-off visit",
          card.cases == 1 and card.how_well.denominators.median_days_to_sign_off >= 1
          and card.how_much.contacts_by_kind["home"] >= 1
          and [p.name for p in card.by_practitioner] == ["Sam Jones"])
    html = ali.report_html(o.ReportQuery(), False)
    check("the HTML report card has its charts and no woman's name",
          html.count("<svg") == 3 and "Jasmine" not in html)
    try:
        ali.report(o.ReportQuery(_from="2026-02-01", to="2026-01-01"))
        check("a report period that ends before it starts is refused", False)
    except o.OutreachError.InvalidInput as e:
        check("a report period that ends before it starts is refused", "from" in str(e))

    # Lone working: Sam checks in before a visit; Ali (his supervisor) sees it
    # with its note, opened with the case key; Sam extends, then checks out.
    note = "Back door; her partner may be in"
    receipt = await sam.check_in(case, "+2h", note)
    check("a check-in reaches the server", receipt.sent and receipt.alert_at is not None)
    status = await ali.refresh_safety()
    check("the supervisor sees the check-in and its note",
          [(c.worker, c.note, c.mine) for c in status.check_ins] == [("Sam Jones", note, False)]
          and status.alerts == [])
    mine = sam.safety_status()
    check("the worker's check-in is active, nothing unsent",
          [c.state for c in mine.check_ins] == [o.CheckInState.ACTIVE] and mine.unsent == 0)
    later = await sam.extend(None, "30m")
    check("the deadline moves", later.sent and later.until > receipt.until)
    try:
        await sam.check_in(case, "2020-01-01T10:00:00Z", None)
        check("a deadline in the past is refused", False)
    except o.OutreachError.InvalidInput as e:
        check("a deadline in the past is refused", "until" in str(e))
    try:
        await sam.acknowledge_alert("abcd")
        check("a practitioner may not acknowledge an alert", False)
    except o.OutreachError.NotAllowed:
        check("a practitioner may not acknowledge an alert", True)
    out = await sam.check_out(case)
    check("checked out", out.sent and sam.safety_status().check_ins == [])
    check("the supervisor's view empties", (await ali.refresh_safety()).check_ins == [])

    # Both edit the same field offline: a conflict on both, resolved once.
    sam.edit_case(case, o.CaseEdit(phone="07700 900001"))
    ali.edit_case(case, o.CaseEdit(phone="07700 900002"))
    check("pending upload state", [s.state for s in sam.sync_states()] == [o.CaseSyncState.PENDING_UPLOAD])
    for _ in range(2):
        await sam.sync(None, None)
        await ali.sync(None, None)
    conflicts = sam.conflicts(case)
    check("conflict reported with both values", len(conflicts) == 1 and len(conflicts[0].values) == 2)
    check("same conflict on the supervisor's side", [c.field for c in ali.conflicts(case)] == [c.field for c in conflicts])
    check("conflict state", [s.state for s in sam.sync_states()] == [o.CaseSyncState.CONFLICT])
    sam.resolve_conflict(case, conflicts[0].field, conflicts[0].values[1].value_json)
    await sam.sync(None, None)
    await ali.sync(None, None)
    check("resolved everywhere", sam.conflicts(case) == [] and ali.conflicts(case) == [])
    returned = [v for v in sam.read_case(case).visits if v.id == visit][0]
    check("the return for amendment reached the practitioner", returned.visit.sign_off is not None
          and returned.visit.review == o.ReviewState.RETURNED)
    check("the sign-off reached the practitioner, valid by her directory",
          sam.case_record(case).visits[draft].review == o.ReviewState.SIGNED_OFF)
    export = json.loads(sam.export_case_json(case))
    export_ali = json.loads(ali.export_case_json(case))
    # Each device's export records itself in the case (an event of its own),
    # so the two differ in `events` alone.
    def without_events(e):
        return {k: v for k, v in e["case"].items() if k != "events"}
    check("exports identical", without_events(export) == without_events(export_ali)
          and export["format"] == "outreach.case-export.v1")
    check("the export is recorded in the case",
          [(e["by"], e["format"]) for e in export["case"]["events"].values() if e["kind"] == "record-exported"]
          == [("Sam Jones", "json")])
    check("automerge export", len(sam.export_case_automerge(case)) > 100)
    check("and in the device's access log",
          [(a.action, a.case_id, a.format) for a in sam.access_log()]
          == [("export", case, "json"), ("export", case, "automerge")])

    # A cancelled sync keeps everything and says so.
    sam.add_visit(case, o.VisitInput(at="2026-11-28T10:00:00Z", kind=o.ContactKind.TEXT, outcome=o.Outcome.COMPLETED, note="Texted"))
    cancel = o.SyncCancel()
    cancel.cancel()
    try:
        await sam.sync(None, cancel)
        check("cancelled sync reports it", False)
    except o.OutreachError.Sync as e:
        check("cancelled sync reports it", "cancelled" in str(e))
    check("still pending after cancel", [s.state for s in sam.sync_states()] == [o.CaseSyncState.PENDING_UPLOAD])
    check("then syncs", (await sam.sync(None, None)).pushed == 1)

    # The loop on a visit recorded after enrolment: returned, amended by its
    # author only, signed off.
    texted = [v.id for v in sam.read_case(case).visits if v.visit.note == "Texted"][0]
    await ali.sync(None, None)
    check("the supervisor's queue holds the new visit",
          any(p.visit_id == texted and p.review == o.ReviewState.AWAITING for p in ali.pending_visits()))
    ali.sign_off_visit(case, texted, o.SignOffDecision.RETURNED, "Say what she replied")
    try:
        ali.amend_visit(case, texted, o.VisitDraft(note="Texted; she replied"))
        check("only the visit's author may amend it", False)
    except o.OutreachError.NotAllowed:
        check("only the visit's author may amend it", True)
    await ali.sync(None, None)
    await sam.sync(None, None)
    mine = sam.pending_visits()
    returned = [p for p in mine if p.review == o.ReviewState.RETURNED]
    check("returned visits first in her queue, with the comment",
          mine[:len(returned)] == returned
          and any(p.visit_id == texted and p.comment == "Say what she replied" for p in returned))
    check("amended by its author", sam.amend_visit(case, texted, o.VisitDraft(note="Texted; she replied")) == texted)
    await sam.sync(None, None)
    await ali.sync(None, None)
    check("amended visit back in the supervisor's queue",
          any(p.visit_id == texted and p.review == o.ReviewState.AMENDED for p in ali.pending_visits()))
    ali.sign_off_visit(case, texted, o.SignOffDecision.SIGNED_OFF, None)
    await ali.sync(None, None)
    await sam.sync(None, None)
    final = sam.case_record(case).visits[texted]
    check("signed off after amendment, the earlier text kept",
          final.review == o.ReviewState.SIGNED_OFF and final.note == "Texted; she replied"
          and len(final.amendments) == 1
          and [json.loads(a.previous["note"]) for a in final.amendments.values()] == ["Texted"])

    # The supervisor assigns the case to a colleague, whose phone gets it whole.
    jo = o.OutreachVault.create(os.path.join(tmp, "jo"), "jo's passphrase", "Jo Smith", "North", None)
    await jo.enroll(url, admin(data, "invite", "--name", "Jo Smith", "--role", "practitioner", "--team", "North")["code"], False)
    check("not hers yet", (await jo.sync(None, None)).cases_changed == [])
    try:
        await sam.assign_case(case, "Jo Smith")
        check("a practitioner may not assign", False)
    except o.OutreachError.Sync:
        check("a practitioner may not assign", True)
    done = await ali.assign_case(case, "Jo Smith")
    check("assigned, key shared", done.devices == 1 and done.keys_shared == 1)
    check("colleague receives the case", (await jo.sync(None, None)).cases_changed == [case])
    check("import of an exported case merges", jo.import_case(sam.export_case_automerge(case)) == case)

    # Transfer: only a supervisor of the team; the practitioner who held the
    # case loses it on her next sync, and the case records who held it when.
    try:
        await sam.transfer_case(case, "Jo Smith")
        check("a practitioner may not transfer", False)
    except o.OutreachError.NotAllowed:
        check("a practitioner may not transfer", True)
    moved = await ali.transfer_case(case, "Jo Smith")
    check("transferred", moved.case_id == case and moved.to == "Jo Smith" and moved.devices == 1)
    await jo.sync(None, None)
    holders = jo.case_record(case).programme.holders.values()
    check("the case records its holder", any(h.name == "Jo Smith" and h.to is None for h in holders))
    gone = await sam.sync(None, None)
    check("the previous practitioner's phone lets it go", gone.removed == [case] and sam.caseload(True) == [])

    # Forgetting: a closed case leaves this phone only, once nothing written
    # on it is unsent; an open one stays.
    done_case = jo.create_case(o.CaseEdit(preferred_name="Bea"))
    try:
        jo.forget_case(done_case)
        check("an open case is not forgotten", False)
    except o.OutreachError.InvalidInput:
        check("an open case is not forgotten", True)
    jo.close_case(done_case, o.ExitReason.MOVED_AWAY, None, None)
    try:
        jo.forget_case(done_case)
        check("an unsent case is not forgotten", False)
    except o.OutreachError.InvalidInput:
        check("an unsent case is not forgotten", True)
    await jo.sync(None, None)
    check("a closed, uploaded case is forgotten",
          jo.forget_case(done_case) == done_case and all(c.id != done_case for c in jo.caseload(True)))

    # Erasure by the organisation: every phone that held the case deletes it
    # and says so in its sync report.
    erased = admin(data, "erase-case", case, "--confirm", case, "--by", "dpo")
    check("erase-case names the phones to confirm", "Jo Smith" in [d["user"] for d in erased["devices"]])
    report = await jo.sync(None, None)
    check("an erased case leaves the phone", report.erased == [case] and jo.caseload(True) == [])

    # Wrong passphrase.
    del ali
    ali = o.OutreachVault.open(os.path.join(tmp, "ali"))
    try:
        ali.unlock("not it", None)
        check("wrong passphrase refused", False)
    except o.OutreachError.WrongPassphrase as e:
        check("wrong passphrase refused", e.remaining == 9)
    ali.unlock("ali's passphrase", None)

    # Revoked: refused and wiped.
    device = ali.sync_account().device_id
    admin(data, "revoke-device", device)
    try:
        await ali.sync(None, None)
        check("revoked device refused", False)
    except o.OutreachError.DeviceRevoked:
        check("revoked device refused", True)
    check("revoked device wiped", not os.path.exists(os.path.join(tmp, "ali", "outreach.db")))


asyncio.run(main())
print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
