// Tests of the state holders for the practice records, lone working, the
// supervisor's safety alerts and the report card (issue 15), on the JVM
// against the host-built core and a real outreach-server on loopback whose
// alerts are raised as soon as a deadline passes. Called from ShellTests' main.
package outreach.shell

import java.io.File
import java.time.Duration
import java.time.LocalDate
import java.time.ZonedDateTime
import java.time.temporal.ChronoUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.*

/** A vault enrolled with [server] as [name] ([role], team East), opened through the UI-thread guard. */
private suspend fun enrolled(tmp: File, server: Server, name: String, role: String): OutreachRepository {
    val dir = File(tmp, name.lowercase().replace(' ', '-')).path
    val vault = withContext(Dispatchers.IO) { MainThreadGuard.create(dir, "$name's passphrase", name, "East", null) }
    val repo = OutreachRepository(vault)
    val enrol = EnrolModel(repo)
    enrol.enrol(server.url, code(admin(server.data, "invite", "--name", name, "--role", role, "--team", "East")))
    check("$role enrolled", enrol.state.value is EnrolModel.State.Enrolled)
    return repo
}

internal suspend fun practiceTests(tmp: File) {
    val server = Server(File(tmp, "safety-server").path, safetyGrace = "0s")
    server.start()
    try {
        practice(tmp, server)
    } finally {
        server.stop()
    }
}

private suspend fun practice(tmp: File, server: Server) {
    val robin = enrolled(tmp, server, "Robin Shaw", "practitioner")
    val kim = enrolled(tmp, server, "Kim Ode", "supervisor")
    val case = robin.write { it.createCase(CaseEdit(preferredName = "Leah")) }
    robin.sync(null, null)
    val v = Vocab.core

    // --- Referrals.
    val referrals = ReferralsModel(robin, case)
    check("referrals: the core's statuses offered", referrals.statuses == v.referralStatuses.map { it.value })
    check("referrals: no agency refused in plain words, nothing written",
        referrals.add(" ", "Rent arrears", null) == null && referrals.error.value!!.startsWith("Please check") && referrals.items.value.isEmpty())
    val referral = referrals.add("Housing options", "Rent arrears", LocalDate.parse("2026-11-20"))
    check("referrals: recorded on the picked day, made by default, listed",
        referral != null && referrals.error.value == null &&
            referrals.items.value.single().let { it.id == referral && it.date == "2026-11-20" && it.status == ReferralStatus.MADE })
    referrals.add("Health visiting", "New baby", null, ReferralStatus.ACCEPTED)
    check("referrals: no day means today, newest first",
        referrals.items.value.first().let { it.agency == "Health visiting" && it.date == LocalDate.now().toString() })

    // --- Meetings.
    val meetings = MeetingsModel(robin, case)
    check("meetings: the core's kinds offered", meetings.kinds == v.meetingKinds.map { it.value })
    check("meetings: attendees split at commas", meetings.attendees(" Leah, Robin Shaw ,, health visitor") == listOf("Leah", "Robin Shaw", "health visitor"))
    check("meetings: an over-long name refused in plain words",
        meetings.add(MeetingKind.NETWORK, LocalDate.parse("2026-11-25"), "x".repeat(v.maxShortChars.toInt() + 1), "") == null &&
            meetings.error.value!!.startsWith("Please check"))
    val meeting = meetings.add(MeetingKind.FGC, LocalDate.parse("2026-11-25"), "Leah, her mum", "Family plan agreed")
    check("meetings: family group conference recorded",
        meeting != null && meetings.error.value == null &&
            meetings.items.value.single().let { it.kind == MeetingKind.FGC && it.date == "2026-11-25" && it.attendees == listOf("Leah", "her mum") })

    // --- Consent given and withdrawn.
    val consents = ConsentsModel(robin, case)
    check("consent: nothing said refused in plain words", consents.give("  ") == null && consents.error.value!!.startsWith("Please check"))
    val gp = consents.give("Share information with her GP", LocalDate.parse("2026-11-02"))!!
    val photos = consents.give("Photos for the life-story book")!!
    check("consent: given, today when no day is picked",
        consents.items.value.single { it.id == photos }.givenOn == LocalDate.now().toString() &&
            consents.items.value.single { it.id == gp }.let { it.givenOn == "2026-11-02" && it.recordedBy == "Robin Shaw" })
    check("consent: withdrawn on the picked day", consents.withdraw(gp, LocalDate.parse("2026-11-28")) != null && consents.error.value == null)
    check("consent: withdrawn ones listed after current ones",
        consents.items.value.map { it.id } == listOf(photos, gp) && consents.items.value.last().let { it.withdrawn && it.withdrawnOn == "2026-11-28" })
    check("consent: unknown consent in plain words",
        consents.withdraw("0000dead") == null && consents.error.value == Messages.of(OutreachException.NotFound("x")))

    // --- Danger statements and safety goals: add, revise, resolve.
    val dangers = DangerStatementsModel(robin, case)
    check("danger statement: an empty danger refused in plain words",
        dangers.add(" ", "Leah has a safety plan") == null && dangers.error.value!!.startsWith("Please check"))
    val danger = dangers.add("He may come to the flat at night", "Leah and the baby are safe at night")!!
    check("danger statement: safety goal revised, danger kept",
        dangers.revise(danger, safetyGoal = "Leah knows who to call and the door is secured") != null &&
            dangers.items.value.single().let { it.danger == "He may come to the flat at night" && it.safetyGoal == "Leah knows who to call and the door is secured" })
    check("danger statement: an emptied safety goal refused in plain words",
        dangers.revise(danger, safetyGoal = " ") == null && dangers.error.value!!.startsWith("Please check"))
    check("danger statement: resolved, kept for revising", dangers.resolve(danger) != null && dangers.items.value.single().resolved)
    check("danger statement: reopened", dangers.reopen(danger) != null && !dangers.items.value.single().resolved)

    // --- The revision form (its own draft): bad input in plain words, the draft kept; then saved.
    val rev = dangers.revision
    check("revision: nothing chosen to revise refused in plain words",
        rev.submit() == null && dangers.error.value?.startsWith("Please check") == true)
    rev.beginDanger(danger, "He may come to the flat at night", "Leah knows who to call and the door is secured")
    rev.setDanger(" ")
    check("revision: an emptied danger refused in plain words, nothing written, the draft kept",
        rev.submit() == null && dangers.error.value?.startsWith("Please check") == true && rev.draft.draftId != null &&
            dangers.items.value.single().danger == "He may come to the flat at night")
    rev.setDanger("He may come to the flat at night, usually after the pub shuts")
    check("revision: saved from the form, the draft gone",
        rev.submit() == danger && dangers.error.value == null && rev.draft.draftId == null &&
            dangers.items.value.single().danger == "He may come to the flat at night, usually after the pub shuts")
    val plan = PlanModel(robin, case)
    val worry = plan.addSosEntry(SosColumn.WORKING_WELL, "Her mum helps on Sundays")!!
    plan.revision.beginEntry(worry, "Her mum helps on Sundays", null)
    plan.revision.setKind(WorryKind.HARM)
    check("map entry revision: a worry's kind on another column refused in plain words, the draft kept",
        plan.revision.submit() == null && plan.error.value?.startsWith("Please check") == true && plan.revision.draft.draftId != null)
    plan.revision.setKind(null)
    plan.revision.setText("Her mum helps on Sundays and Wednesdays")
    check("map entry revision: saved, the draft gone",
        plan.revision.submit() != null && plan.error.value == null && plan.revision.draft.draftId == null &&
            robin.read { it.caseRecord(case) }.signsOfSafety.workingWell[worry]?.text == "Her mum helps on Sundays and Wednesdays")
    plan.revision.beginEntry(worry, "x", null)
    plan.revision.setText("typed, then thought better of")
    plan.revision.cancel()
    check("map entry revision: cancelled, the draft gone, the entry as it was",
        plan.revision.record == null && robin.read { v -> v.drafts().none { it.caseId == case } } &&
            robin.read { it.caseRecord(case) }.signsOfSafety.workingWell[worry]?.text == "Her mum helps on Sundays and Wednesdays")

    // --- Updating and escalating a concern (its own draft).
    val concerns = ConcernsModel(robin, case)
    val concern = concerns.raise("neglect", Severity.MEDIUM, "No food in the flat")!!
    check("concern update: no concern chosen refused in plain words",
        !concerns.submitUpdate() && concerns.error.value?.startsWith("Please check") == true)
    concerns.beginUpdate(concern)
    check("concern update: nothing changed refused in plain words",
        !concerns.submitUpdate() && concerns.error.value?.startsWith("Please check") == true)
    concerns.setUpdateEscalatedTo("x".repeat(v.maxShortChars.toInt() + 1))
    check("concern update: an over-long name refused in plain words, nothing written, the draft kept",
        !concerns.submitUpdate() && concerns.error.value?.startsWith("Please check") == true && concerns.updateDraft.draftId != null &&
            concerns.concerns.value.single().escalatedTo == null)
    concerns.setUpdateEscalatedTo("MASH")
    concerns.setUpdateSeverity(Severity.HIGH)
    check("concern update: escalated and more severe, the draft gone",
        concerns.submitUpdate() && concerns.error.value == null && concerns.updateDraft.draftId == null &&
            concerns.concerns.value.single().let { it.escalatedTo == "MASH" && it.severity == Severity.HIGH && it.status == ConcernStatus.ESCALATED })
    concerns.beginUpdate(concern)
    concerns.setUpdateStatus(ConcernStatus.MONITORING)
    check("concern update: status changed alone",
        concerns.submitUpdate() && concerns.concerns.value.single().let { it.status == ConcernStatus.MONITORING && it.severity == Severity.HIGH })

    // --- The report card summary.
    val report = ReportModel(robin)
    report.load(LocalDate.parse("2026-12-01"), LocalDate.parse("2026-11-01"))
    check("report: a period the wrong way round refused in plain words",
        report.state.value.error?.let { it.startsWith("Please check") && it.contains("from") } == true)
    // The 30 days to today (UTC, as the core counts), which hold the case opened above
    // whatever the date the tests run on.
    val today = LocalDate.now(java.time.ZoneOffset.UTC)
    report.load(today.minusDays(30), today)
    val figures = report.state.value.figures.associate { it.key to it.value }
    check("report: the core's figures for the period" + (if (report.state.value.error == null) "" else " (${report.state.value.error})"),
        report.state.value.error == null && figures.size == 15 && figures["active_cases"] == "1" &&
            report.state.value.report?.period?.from == today.minusDays(30).toString())
    check("report: a percentage with nothing to divide by is no data, not 0", figures["visits_signed_off"] == null)
    val cards = report.state.value.cards
    check("report: one card per practitioner, the core's, with the team card's measures" + " (${cards.map { it.name }})",
        cards.map { it.name } == report.state.value.report!!.byPractitioner.map { it.name } && cards.map { it.name } == listOf("Robin Shaw") &&
            cards.single().let { c ->
                c.cases == "1" && c.figures.map { it.key } == report.state.value.figures.map { it.key } &&
                    c.figures.associate { it.key to it.value }.let { it["active_cases"] == "1" && it["visits_signed_off"] == null }
            })
    report.load(LocalDate.parse("2026-12-01"), LocalDate.parse("2026-11-01"))
    check("report: the cards stay as they were when a period is refused",
        report.state.value.error != null && report.state.value.cards == cards)

    // --- Lone working: check in, the running timer, extend, check out.
    var now = ZonedDateTime.now()
    val checkIn = CheckInModel(robin, case) { now }
    check("check-in: until defaults to an hour from now", checkIn.defaultUntil() == now.plusHours(1).truncatedTo(ChronoUnit.MINUTES))
    checkIn.checkIn(now.minusMinutes(5))
    check("check-in: a time in the past refused in plain words",
        checkIn.state.value.error?.startsWith("Please check") == true && !checkIn.state.value.active)
    checkIn.checkIn(now.plusMinutes(90), "Side door; her brother may be there")
    var s = checkIn.state.value
    check("check-in: sent, timer running" + (s.error?.let { " ($it)" } ?: ""),
        s.active && !s.notSent && s.error == null && s.timer?.let { !it.overdue && it.remainingSeconds in 5300L..5400L && it.english.endsWith("left") } == true)
    now = now.plusMinutes(100)
    checkIn.tick()
    check("check-in: overdue said in words, not only colour",
        checkIn.state.value.timer?.let { it.overdue && it.english.startsWith("OVERDUE by 0:1") } == true)
    now = ZonedDateTime.now()
    val before = checkIn.state.value.until
    checkIn.extend(30)
    check("check-in: extended by 30 minutes",
        before != null && checkIn.state.value.until?.let { Duration.between(before, it) } == Duration.ofMinutes(30))
    checkIn.checkOut()
    check("check-in: checked out", checkIn.state.value.let { it.checkedOut && !it.active && it.error == null })
    checkIn.checkOut()
    check("check-out with no check-in: plain words",
        checkIn.state.value.error.let { it != null && it != Messages.UNEXPECTED })

    // No signal: the check-in is kept on the phone and the screen says NO ONE will be alerted.
    val addr = server.url.removePrefix("http://")
    server.stop()
    checkIn.checkIn(now.plusMinutes(60))
    s = checkIn.state.value
    check("check-in offline: kept, NOT SENT said", s.checkIn != null && s.notSent && s.error == null)
    server.start(addr)
    withContext(Dispatchers.IO) { robin.vault.refreshSafety() }
    checkIn.load()
    check("check-in sent on the next refresh", checkIn.state.value.let { it.active && !it.notSent })
    checkIn.checkOut()
    check("checked out again", !checkIn.state.value.active && checkIn.state.value.error == null)

    // --- The supervisor's safety alerts: a deadline passes, the alert reaches her, she acknowledges it.
    now = ZonedDateTime.now()
    checkIn.checkIn(now.plusSeconds(3))
    delay(6_000)
    val alerts = SafetyAlertsModel(kim)
    alerts.load()
    check("alerts: none on the phone before a refresh", alerts.state.value.alerts.isEmpty() && alerts.state.value.asOf == null)
    alerts.refresh()
    val alert = alerts.state.value.open.firstOrNull()
    check("alerts: the overdue check-in reaches the supervisor" + (alerts.state.value.error?.let { " ($it)" } ?: ""),
        alert != null && alert.worker == "Robin Shaw" && !alert.mine && alerts.state.value.asOf != null)
    val robinAlerts = SafetyAlertsModel(robin)
    check("alerts: a practitioner cannot acknowledge: plain words",
        alert != null && !robinAlerts.acknowledge(alert.alertId) && robinAlerts.state.value.error?.startsWith("You can't do that") == true)
    check("alerts: the supervisor acknowledges it",
        alert != null && alerts.acknowledge(alert.alertId) && alerts.state.value.open.isEmpty() && alerts.state.value.error == null)
    checkIn.checkOut()

    // --- "Record and check out" from the contact form.
    val contact = ContactFormModel(robin, case)
    contact.start()
    check("record and check out: not offered without a check-in", contact.checkIn.value == null)
    contact.setKind(ContactKind.HOME)
    contact.setOutcome(Outcome.COMPLETED)
    check("record and check out without a check-in: the core's refusal in plain words, nothing recorded" +
        (contact.error.value?.let { " ($it)" } ?: ""),
        contact.submitAndCheckOut() == null && contact.error.value.let { it != null && it != Messages.UNEXPECTED } &&
            robin.read { it.caseRecord(case) }.visits.isEmpty() && contact.draftId != null)
    contact.discard()
    checkIn.checkIn(ZonedDateTime.now().plusHours(1))
    contact.start()
    check("record and check out: offered with an open check-in", contact.checkIn.value?.caseId == case)
    contact.setKind(ContactKind.HOME)
    contact.setNote("Talked about the eviction notice")
    check("record and check out: no outcome refused in plain words, still checked in, the draft kept",
        contact.submitAndCheckOut() == null && contact.error.value?.let { it.startsWith("Please check") && it.contains("outcome") } == true &&
            contact.draftId != null && checkIn.also { it.load() }.state.value.active)
    contact.setOutcome(Outcome.COMPLETED)
    val draftBefore = contact.draftId
    val recorded = contact.submitAndCheckOut()
    check("record and check out: the visit keeps the draft's id (sent again after a kill, the same visit, never a second)",
        recorded != null && recorded == draftBefore)
    val visit = recorded?.let { robin.read { v -> v.caseRecord(case) }.visits[it] }
    check("record and check out: recorded with the check-in's times and checked out, in one go" +
        (contact.error.value?.let { " ($it)" } ?: ""),
        visit != null && contact.error.value == null && contact.checkOutNotSent.value == null &&
            visit.note == "Talked about the eviction notice" && visit.checkedInAt != null && visit.checkedOutAt != null &&
            contact.checkIn.value == null && contact.draftId == null && robin.read { v -> v.drafts().none { it.caseId == case } } &&
            checkIn.also { it.load() }.state.value.let { !it.active && it.checkIn == null })
    // No signal: recorded, the check-out NOT SENT said (the alert will still be raised until a sync sends it).
    checkIn.checkIn(ZonedDateTime.now().plusHours(1))
    val addr2 = server.url.removePrefix("http://")
    server.stop()
    contact.start()
    contact.setKind(ContactKind.PHONE)
    contact.setOutcome(Outcome.COMPLETED)
    contact.setNote("Rang her from the car: she is fine")
    val offline = contact.submitAndCheckOut()
    check("record and check out offline: recorded, the check-out NOT SENT said" + (contact.error.value?.let { " ($it)" } ?: ""),
        offline != null && contact.error.value == null && contact.checkOutNotSent.value != null &&
            checkIn.also { it.load() }.state.value.checkOutNotSent)
    server.start(addr2)
    withContext(Dispatchers.IO) { robin.vault.refreshSafety() }
    checkIn.load()
    check("record and check out: the check-out sent on the next refresh", checkIn.state.value.checkIn == null)

    // --- Closing and reopening the case.
    val closure = ClosureModel(robin, case)
    closure.load()
    check("closure: the core's reasons; reopening offers every phase but closed",
        !closure.state.value.closed && closure.exitReasons == v.exitReasons.map { it.value } &&
            closure.reopenPhases == v.phases.map { it.value } - Phase.CLOSED)
    val reason = closure.exitReasons.first()
    check("closure: closed on the picked day, with why",
        closure.close(reason, "Finished the programme", LocalDate.parse("2026-11-29")) &&
            closure.state.value.let { it.closed && it.closedOn == "2026-11-29" && it.exitReason == Vocab.word(reason) })
    check("closure: closing twice refused in plain words",
        !closure.close(reason, null) && closure.state.value.error?.startsWith("Please check") == true)
    check("closure: reopened in the picked phase",
        closure.reopen(Phase.NEXT_STEPS) && closure.state.value.phase == Phase.NEXT_STEPS && closure.state.value.error == null)
    // The closing form (its own draft): no reason chosen is refused in plain words, the draft kept.
    closure.setNote("She has found work and moved on")
    check("closure form: no reason chosen refused in plain words, still open, the draft kept",
        !closure.submit() && closure.state.value.error?.startsWith("Please check") == true && !closure.state.value.closed &&
            closure.draft.draftId != null)
    closure.setReason(ExitReason.COMPLETED)
    check("closure form: closed today with the note, the draft gone",
        closure.submit() && closure.state.value.let { it.closed && it.closedOn == LocalDate.now().toString() && it.error == null } &&
            closure.draft.draftId == null && robin.read { it.caseRecord(case) }.programme.exitNote == "She has found work and moved on")

    withContext(Dispatchers.IO) {
        (robin.vault as AutoCloseable).close()
        (kim.vault as AutoCloseable).close()
    }
}
