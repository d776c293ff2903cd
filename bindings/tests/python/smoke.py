"""Smoke test of the generated Python bindings: create a vault, record a visit,
read it back, and check the error paths a shell relies on. Run with the folder
holding outreach_ffi.py and the library on sys.path (scripts/test.sh does)."""

import json
import os
import sys
import tempfile
import threading

import outreach_ffi as o

results = {"passed": 0, "failed": 0}


def check(name, cond):
    if cond:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name}")


class FakeKeystore(o.PlatformKeyStore):
    """A platform key store written in Python: XOR is enough to prove the
    foreign-trait round trip (the real ones are Android Keystore / Keychain)."""

    def __init__(self, fail=False):
        self.fail = fail

    def seal(self, plaintext):
        if self.fail:
            raise o.PlatformKeyError.Unavailable()
        return bytes(b ^ 0x5A for b in plaintext)

    def unseal(self, sealed):
        if self.fail:
            raise o.PlatformKeyError.Unavailable()
        return bytes(b ^ 0x5A for b in sealed)


def main():
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "vault")
    vault = o.OutreachVault.create(path, "correct horse battery", "Sam Jones", "North", None)
    check("created vault is unlocked", vault.is_unlocked())

    case_id = vault.create_case(o.CaseEdit(preferred_name="Jasmine", date_of_birth="1996-04-02", phase=o.Phase.ENGAGEMENT))
    visit_id = vault.add_visit(
        case_id,
        o.VisitInput(
            at="2026-11-20T10:00:00Z",
            kind=o.ContactKind.HOME,
            outcome=o.Outcome.COMPLETED,
            note="Talked about the tenancy",
            her_words="I want a fresh start",
            wellbeing=7,
            next_contact_due="2026-11-27T10:00:00Z",
            domains=[o.Domain.HOUSING],
        ),
    )
    vault.lock()
    check("lock", not vault.is_unlocked())

    try:
        vault.read_case(case_id)
        check("locked vault refuses reads", False)
    except o.OutreachError.Locked:
        check("locked vault refuses reads", True)

    reopened = o.OutreachVault.open(path)
    try:
        reopened.unlock("not the passphrase", None)
        check("wrong passphrase is refused", False)
    except o.OutreachError.WrongPassphrase as e:
        check("wrong passphrase is refused", e.remaining == 9)
    check("failed attempt counted", reopened.failed_attempts() == 1)

    reopened.unlock("correct horse battery", None)
    case = reopened.read_case(case_id)
    visit = case.visits[0]
    check("visit read back", visit.id == visit_id and visit.visit.note == "Talked about the tenancy")
    check("her own words kept", visit.visit.her_words == "I want a fresh start")
    check("enums cross the boundary", visit.visit.kind == o.ContactKind.HOME and case.phase == o.Phase.ENGAGEMENT)
    load = reopened.caseload(False)
    check("caseload lists the case", len(load) == 1 and load[0].contact.next_contact_due == "2026-11-27T10:00:00Z")
    check("caseload contact: last contact, seen, team, awaiting sign-off",
          load[0].contact.last_contact == "2026-11-20T10:00:00Z" and not load[0].contact.last_contact_attempt
          and load[0].contact.last_seen == "2026-11-20T10:00:00Z" and load[0].contact.not_seen_days is not None
          and load[0].team == "North" and load[0].awaiting_sign_off == 1 and load[0].returned == 0)
    full = json.loads(reopened.case_json(case_id))
    check("full JSON export", full["format"] == "outreach.case-export.v1" and visit_id in full["case"]["visits"])

    try:
        reopened.add_visit(case_id, o.VisitInput(at="2026-11-20T10:00:00Z", kind=o.ContactKind.HOME,
                                                 outcome=o.Outcome.COMPLETED, note="x", wellbeing=11))
        check("bad input rejected", False)
    except o.OutreachError.InvalidInput as e:
        check("bad input rejected", "0 to 10" in str(e) and "Jasmine" not in str(e))
    check("nothing written by bad input", len(reopened.read_case(case_id).visits) == 1)

    try:
        reopened.read_case("00000000-0000-4000-8000-000000000000")
        check("unknown case", False)
    except o.OutreachError.NotFound:
        check("unknown case", True)

    # Several threads on one vault object at once.
    errors = []

    def writer(n):
        try:
            for i in range(3):
                reopened.add_visit(case_id, o.VisitInput(at=f"2026-11-2{n}T1{i}:00:00Z", kind=o.ContactKind.PHONE,
                                                         outcome=o.Outcome.COMPLETED, note=f"thread {n} visit {i}"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("concurrent writers from 4 threads", not errors and len(reopened.read_case(case_id).visits) == 13)

    # Sign-off needs an enrolled supervisor's device: a local-only vault is refused.
    try:
        reopened.sign_off_visit(case_id, visit_id, o.SignOffDecision.SIGNED_OFF, None)
        check("sign-off refused on a vault never enrolled", False)
    except o.OutreachError.NotAllowed as e:
        check("sign-off refused on a vault never enrolled", "supervisor" in str(e) and "Jasmine" not in str(e))
    check("the visit still awaits sign-off",
          reopened.case_record(case_id).visits[visit_id].review == o.ReviewState.AWAITING
          and reopened.case_record(case_id).visits[visit_id].sign_off is None)
    pending = reopened.pending_visits()
    check("her own visits listed as pending", visit_id in [p.visit_id for p in pending]
          and all(p.review == o.ReviewState.AWAITING and p.comment is None for p in pending))
    try:
        reopened.amend_visit(case_id, visit_id, o.VisitDraft(note="changed"))
        check("only a returned visit can be amended", False)
    except o.OutreachError.InvalidInput:
        check("only a returned visit can be amended", True)

    # Signs of Safety with kinds of worry, revised and resolved; scaling question.
    worry = reopened.add_sos_entry(case_id, o.SosColumn.WORRIES, "Ex-partner may return", o.WorryKind.DANGER)
    try:
        reopened.add_sos_entry(case_id, o.SosColumn.WORKING_WELL, "Attends", o.WorryKind.HARM)
        check("worry kind only on worries", False)
    except o.OutreachError.InvalidInput:
        check("worry kind only on worries", True)
    reopened.update_sos(case_id, worry, o.SosUpdate(text="Ex-partner released next month"))
    reopened.update_sos(case_id, worry, o.SosUpdate(status=o.SosStatus.RESOLVED))
    entry = reopened.case_record(case_id).signs_of_safety.worries[worry]
    check("worry revised and resolved", entry.text == "Ex-partner released next month" and entry.kind == o.WorryKind.DANGER
          and entry.status == o.SosStatus.RESOLVED and entry.resolved_at is not None and entry.updated_at is not None)
    scale = reopened.add_scale(case_id, o.ScaleInput(score=6, question="How safe is she at home?"))
    check("scaling question kept", reopened.case_record(case_id).scales[scale].question == "How safe is she at home?")
    reopened.edit_case(case_id, o.CaseEdit(contact_every_days=7))
    check("contact interval", reopened.case_record(case_id).programme.contact_every_days == 7)

    # Closed cases leave the caseload; reopened ones come back.
    reopened.close_case(case_id, o.ExitReason.MOVED_AWAY, "Moved to Leeds", "2026-11-29")
    check("closed case leaves the caseload", reopened.caseload(False) == [])
    closed = reopened.caseload(True)
    check("listed with closed cases, never overdue",
          len(closed) == 1 and closed[0].phase == o.Phase.CLOSED and not closed[0].contact.overdue)
    programme = reopened.case_record(case_id).programme
    check("closure recorded", programme.closed_on == "2026-11-29" and programme.exit_note == "Moved to Leeds")
    try:
        reopened.close_case(case_id, o.ExitReason.OTHER, None, None)
        check("closing a closed case refused", False)
    except o.OutreachError.InvalidInput:
        check("closing a closed case refused", True)
    reopened.reopen_case(case_id, None)
    back = reopened.caseload(False)
    check("reopened case back on the caseload", len(back) == 1 and back[0].phase == o.Phase.PROGRAMME)
    check("history names the role (none before enrolment)", all(h.role is None for h in reopened.history(case_id)))

    # Platform key implemented in Python, as the mobile shells will.
    bound = os.path.join(tmp, "bound")
    v2 = o.OutreachVault.create(bound, "another passphrase", "Kim", None, FakeKeystore())
    v2.lock()
    try:
        v2.unlock("another passphrase", None)
        check("platform-bound vault needs the key", False)
    except o.OutreachError.PlatformKeyRequired:
        check("platform-bound vault needs the key", True)
    try:
        v2.unlock("another passphrase", FakeKeystore(fail=True))
        check("platform failure surfaces as an error", False)
    except o.OutreachError.PlatformKey:
        check("platform failure surfaces as an error", True)
    v2.unlock("another passphrase", FakeKeystore())
    check("unlock with passphrase and platform key", v2.is_unlocked())
    v2.wipe()
    check("wipe removes the vault", not os.path.exists(os.path.join(bound, "outreach.db")))

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
