// Tests of the drafts of every form with free text other than the contact
// record (referral, meeting, consent, danger statement, concern, check-in
// note; the plan's goal, action, scaling with its question and new map
// entry; and the forms that change a record already saved: a revision of a
// danger statement or of a map entry, a concern's update, closing the case),
// on the JVM against the host-built core and a real outreach-server:
// typed into the holders, the app killed (holders and core object dropped,
// not closed; a new core opened on the same files), the text back when the
// form is opened again; gone after submit or discard; a field too long
// refused in plain words with nothing saved; a choice or field the core
// refuses said in plain words with the draft kept. Called from ShellTests' main.
package outreach.shell

import java.io.File
import java.time.LocalDate
import java.time.ZonedDateTime
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.*

/** One form's holder, seen through what every form has: a text field, its error, its draft. */
private class Typed(
    val name: String,
    /** The field typed into (its name in the draft). */
    val field: String,
    val type: suspend (String) -> Unit,
    val error: () -> String?,
    val draft: FormDraftKeeper,
)

internal suspend fun draftTests(tmp: File, server: Server) {
    val dir = File(tmp, "dee").path
    val first = withContext(Dispatchers.IO) { MainThreadGuard.create(dir, "dee's passphrase", "Dee Hart", "West", null) }
    val repo = OutreachRepository(first)
    val enrol = EnrolModel(repo)
    enrol.enrol(server.url, code(admin(server.data, "invite", "--name", "Dee Hart", "--role", "practitioner", "--team", "West")))
    check("drafts: practitioner enrolled", enrol.state.value is EnrolModel.State.Enrolled)
    val case = repo.write { it.createCase(CaseEdit(preferredName = "Mia")) }
    val other = repo.write { it.createCase(CaseEdit(preferredName = "Zoe")) }
    // Records already saved, to revise and update.
    val savedDanger = repo.write { it.addDangerStatement(case, "He drinks before contact", "The children are safe at contact") }
    val savedEntry = repo.write { it.addSosEntry(case, SosColumn.WORRIES, "Rent arrears", null) }
    val savedGoal = repo.write { it.addGoal(case, GoalInput(domain = Domain.HOUSING, text = "Keep the tenancy")) }
    val savedConcern = repo.write {
        it.addConcern(case, ConcernInput(category = "neglect", severity = Severity.MEDIUM, description = "No food in the flat"))
    }

    // --- Typed into every form; each edit saved at once.
    val referrals = ReferralsModel(repo, case)
    check("drafts: nothing to restore on a first opening", !referrals.draft.open() && referrals.draft.fields.value.isEmpty())
    referrals.setAgency("Women's Aid")
    referrals.setReason("Wants to know about refuge options")
    referrals.setDate(LocalDate.parse("2026-11-20"))
    referrals.setStatus(ReferralStatus.ACCEPTED)
    val meetings = MeetingsModel(repo, case)
    meetings.setKind(MeetingKind.FGC)
    meetings.setDate(LocalDate.parse("2026-11-25"))
    meetings.setAttendees("Mia, her aunt")
    meetings.setSummary("Aunt will have the children on Fridays")
    val consents = ConsentsModel(repo, case)
    consents.setWhat("Share information with the school")
    consents.setDate(LocalDate.parse("2026-11-03"))
    val dangers = DangerStatementsModel(repo, case)
    dangers.setDanger("He may turn up at the school gate")
    dangers.setSafetyGoal("Mia and the children have a safe plan for pick-up")
    val concerns = ConcernsModel(repo, case)
    concerns.setCategory("domestic abuse")
    concerns.setSeverity(Severity.HIGH)
    concerns.setDescription("Bruise on her arm; said she fell")
    concerns.setEscalatedTo("MASH")
    val checkIn = CheckInModel(repo, case)
    checkIn.setNote("Back door; a dog in the yard")
    // The last keystroke of a word: saved too (a kill right after it loses nothing).
    checkIn.setNote("Back door; a dog in the yard!")
    ReferralsModel(repo, other).setAgency("Housing options")
    // The forms that change a record already saved: opening one on a record saves nothing until the first edit.
    val dangers2 = DangerStatementsModel(repo, case)
    check("revision: nothing to restore on a first opening", !dangers2.revision.open() && dangers2.revision.record == null)
    dangers2.revision.beginDanger(savedDanger, "He drinks before contact", "The children are safe at contact")
    check("revision: beginning one saves nothing", repo.read { v -> v.drafts().none { it.form == FormKind.REVISION } })
    dangers2.revision.setSafetyGoal("The children are safe at contact, and she has a plan if he has been drinking")
    val plan = PlanModel(repo, case)
    plan.revision.beginEntry(savedEntry, "Rent arrears", null)
    plan.revision.setText("Rent arrears of £900; eviction notice served")
    plan.revision.setKind(WorryKind.COMPLICATING)
    concerns.beginUpdate(savedConcern)
    concerns.setUpdateSeverity(Severity.HIGH)
    concerns.setUpdateEscalatedTo("Children's social care duty team")
    // The plan's own forms: a new goal, an action on a goal, a scaling with its question, a new map entry.
    val planForms = setOf(FormKind.GOAL, FormKind.ACTION, FormKind.SCALING, FormKind.MAP_ENTRY)
    check("plan: nothing to restore on a first opening", PlanModel(repo, case).openDrafts().none { it in planForms })
    typePlanForms(plan, savedGoal)
    val closure = ClosureModel(repo, case)
    check("closure: nothing to restore on a first opening", !closure.draft.open())
    closure.setReason(ExitReason.MOVED_AWAY)
    closure.setNote("Moved to her sister's in Leeds; handed over to the Leeds team")
    closure.setDate(LocalDate.parse("2026-11-30"))
    val saved = repo.read { it.drafts() }
    check("drafts: one draft per form (two revisions), each saved on edit" + (saved.map { it.form }.let { " ($it)" }),
        saved.filter { it.caseId == case }.mapNotNull { it.form }.toSet() ==
            FormKind.entries.toSet() - setOf(FormKind.OPEN_CASE, FormKind.RETURN_COMMENT, FormKind.AMENDMENT) &&
            saved.count { it.caseId == case } == 14 &&
            listOf(referrals.error.value, meetings.error.value, consents.error.value, dangers.error.value, concerns.error.value,
                checkIn.draftError.value, dangers2.error.value, plan.error.value, closure.draftError.value).all { it == null })

    // --- Killed: the holders and the core object are dropped without closing; a new core opens the same files.
    val unlock = UnlockModel(dir, null, open = MainThreadGuard::open)
    unlock.unlock("dee's passphrase")
    val repo2 = (unlock.state.value as? UnlockModel.State.Unlocked)?.repository
    check("drafts: a new core opens the killed app's files", repo2 != null)
    if (repo2 == null) return

    val r = ReferralsModel(repo2, case)
    check("referral draft restored after a kill",
        r.draft.open() && r.draft[ReferralsModel.AGENCY] == "Women's Aid" &&
            r.draft[ReferralsModel.REASON] == "Wants to know about refuge options" &&
            r.date() == LocalDate.parse("2026-11-20") && r.status() == ReferralStatus.ACCEPTED)
    val m = MeetingsModel(repo2, case)
    check("meeting draft restored after a kill",
        m.draft.open() && m.kind() == MeetingKind.FGC && m.date() == LocalDate.parse("2026-11-25") &&
            m.draft[MeetingsModel.ATTENDEES] == "Mia, her aunt" && m.draft[MeetingsModel.SUMMARY] == "Aunt will have the children on Fridays")
    val c = ConsentsModel(repo2, case)
    check("consent draft restored after a kill",
        c.draft.open() && c.draft[ConsentsModel.WHAT] == "Share information with the school" && c.date() == LocalDate.parse("2026-11-03"))
    val d = DangerStatementsModel(repo2, case)
    check("danger statement draft restored after a kill",
        d.draft.open() && d.draft[DangerStatementsModel.DANGER] == "He may turn up at the school gate" &&
            d.draft[DangerStatementsModel.SAFETY_GOAL] == "Mia and the children have a safe plan for pick-up")
    val k = ConcernsModel(repo2, case)
    check("concern draft restored after a kill",
        k.draft.open() && k.draft[ConcernsModel.CATEGORY] == "domestic abuse" && k.severity() == Severity.HIGH &&
            k.draft[ConcernsModel.DESCRIPTION] == "Bruise on her arm; said she fell" && k.draft[ConcernsModel.ESCALATED_TO] == "MASH")
    val ci = CheckInModel(repo2, case)
    check("check-in note draft restored after a kill, to the last keystroke",
        ci.draft.open() && ci.draft[CheckInModel.NOTE] == "Back door; a dog in the yard!")
    val zoe = ReferralsModel(repo2, other)
    check("drafts: each case gets its own draft back", zoe.draft.open() && zoe.draft[ReferralsModel.AGENCY] == "Housing options")
    val dr = DangerStatementsModel(repo2, case)
    check("danger statement revision restored after a kill (its statement, both halves)",
        dr.revision.open() && dr.revision.record == savedDanger &&
            dr.revision.draft[RevisionForm.DANGER] == "He drinks before contact" &&
            dr.revision.draft[RevisionForm.SAFETY_GOAL] == "The children are safe at contact, and she has a plan if he has been drinking")
    val pr = PlanModel(repo2, case)
    val planBack = pr.openDrafts()
    check("plan: every form's draft restored after a kill ($planBack)", planBack == planForms + FormKind.REVISION)
    planFormsRestored(pr, savedGoal)
    check("map entry revision restored after a kill, on its own screen (not the danger statement's)",
        pr.revision.record == savedEntry &&
            pr.revision.draft[RevisionForm.TEXT] == "Rent arrears of £900; eviction notice served" &&
            pr.revision.kind() == WorryKind.COMPLICATING)
    check("concern update restored after a kill",
        k.updateDraft.open() && k.updating == savedConcern && k.updateSeverity() == Severity.HIGH && k.updateStatus() == null &&
            k.updateDraft[ConcernsModel.UPDATE_ESCALATED_TO] == "Children's social care duty team")
    val cl = ClosureModel(repo2, case)
    check("closing form restored after a kill",
        cl.draft.open() && cl.reason() == ExitReason.MOVED_AWAY && cl.date() == LocalDate.parse("2026-11-30") &&
            cl.draft[ClosureModel.NOTE] == "Moved to her sister's in Leeds; handed over to the Leeds team")

    // The list offered on start: every draft, by its form in plain words, with her name.
    val list = DraftsModel(repo2)
    list.load()
    val words = list.items.value.filter { it.caseId == case }.map { it.english.substringBefore(" for ") }.toSet()
    check("drafts list: each form in plain words, with her name" + " ($words)",
        list.error.value == null && words == setOf("Referral", "Meeting", "Consent", "Danger statement and safety goal",
            "Safeguarding concern", "Lone-working check-in note", "Revised danger statement and safety goal",
            "Revised Signs of Safety entry", "Update to a safeguarding concern", "Closing the case",
            "Support plan goal", "Action on the support plan", "Scaling question and score", "Signs of Safety entry") &&
            list.items.value.all { it.name == if (it.caseId == case) "Mia" else "Zoe" } &&
            FormKind.entries.all { DraftsModel.labelKey(it).startsWith("draft_form_") })
    check("drafts list: a revision says what it revises (its screen differs)",
        list.items.value.filter { it.form == FormKind.REVISION }.map { it.revises }.toSet() ==
            setOf(RevisionForm.DANGER_STATEMENT, RevisionForm.SOS_ENTRY) &&
            list.items.value.filter { it.form == FormKind.REVISION }.map { DraftsModel.labelKey(it.form, it.revises) }.toSet() ==
            setOf("draft_form_revision_danger_statement", "draft_form_revision_sos_entry"))
    // The contact form restores contact records only, never another form's draft.
    val contact = ContactFormModel(repo2, case)
    contact.start()
    check("contact form: another form's draft is not taken for a contact record", contact.draftId == null && contact.error.value == null)

    // --- A choice not made: plain words, the draft kept.
    m.draft.set(MeetingsModel.KIND, "")
    check("meeting: no kind chosen refused in plain words, draft kept",
        m.submit() == null && m.error.value?.startsWith("Please check") == true && m.draft.draftId != null)
    m.setKind(MeetingKind.FGC)
    planFormsRefused(pr, repo2, case, savedGoal)

    // --- Submitted from the draft: recorded as typed, the draft gone.
    check("referral submitted from its draft; draft gone",
        r.submit() != null && r.error.value == null && r.draft.draftId == null && r.draft.fields.value.isEmpty() &&
            r.items.value.single().let { it.agency == "Women's Aid" && it.date == "2026-11-20" && it.status == ReferralStatus.ACCEPTED })
    check("meeting submitted from its draft; draft gone",
        m.submit() != null && m.error.value == null && m.draft.draftId == null &&
            m.items.value.single().let { it.kind == MeetingKind.FGC && it.attendees == listOf("Mia", "her aunt") })
    check("consent submitted from its draft; draft gone",
        c.submit() != null && c.draft.draftId == null && c.items.value.single().givenOn == "2026-11-03")
    check("danger statement submitted from its draft; draft gone",
        d.submit() != null && d.draft.draftId == null && d.items.value.any { it.danger == "He may turn up at the school gate" })
    check("concern submitted from its draft; draft gone",
        k.submit() != null && k.draft.draftId == null &&
            k.concerns.value.any { it.category == "domestic abuse" && it.severity == Severity.HIGH && it.escalatedTo == "MASH" })
    check("danger statement revision saved from its draft; draft gone",
        dr.revision.submit() != null && dr.error.value == null && dr.revision.draft.draftId == null && dr.revision.record == null &&
            dr.items.value.single { it.id == savedDanger }.safetyGoal ==
            "The children are safe at contact, and she has a plan if he has been drinking")
    check("map entry revision saved from its draft; draft gone",
        pr.revision.submit() != null && pr.error.value == null && pr.revision.draft.draftId == null &&
            repo2.read { it.caseRecord(case) }.signsOfSafety.worries[savedEntry]!!.let {
                it.text == "Rent arrears of £900; eviction notice served" && it.kind == WorryKind.COMPLICATING
            })
    check("concern update saved from its draft; draft gone",
        k.submitUpdate() && k.error.value == null && k.updateDraft.draftId == null && k.updating == null &&
            k.concerns.value.single { it.id == savedConcern }.let {
                it.severity == Severity.HIGH && it.escalatedTo == "Children's social care duty team" && it.status == ConcernStatus.ESCALATED
            })
    check("case closed from its draft; draft gone",
        cl.submit() && cl.state.value.error == null && cl.draft.draftId == null &&
            cl.state.value.let { it.closed && it.closedOn == "2026-11-30" && it.exitReason == Vocab.word(ExitReason.MOVED_AWAY) } &&
            repo2.read { it.caseRecord(case) }.programme.exitNote == "Moved to her sister's in Leeds; handed over to the Leeds team")
    check("case reopened", cl.reopen() && !cl.state.value.closed)
    planFormsSubmitted(pr, repo2, case, savedGoal)
    ci.submit(ZonedDateTime.now().plusHours(1))
    check("checked in with the note from its draft; draft gone" + (ci.state.value.error?.let { " ($it)" } ?: ""),
        ci.state.value.checkIn != null && ci.state.value.error == null && ci.draft.draftId == null)
    ci.checkOut()
    check("drafts: after submitting, only the other case's draft is left",
        repo2.read { it.drafts() }.map { it.caseId } == listOf(other))

    // --- A field too long (17 KiB): plain words, nothing saved; a saved draft keeps its last good text.
    val big = "x".repeat(17 * 1024)
    val forms = listOf(
        ReferralsModel(repo2, case).let { h -> Typed("referral", ReferralsModel.REASON, { h.setReason(it) }, { h.error.value }, h.draft) },
        MeetingsModel(repo2, case).let { h -> Typed("meeting", MeetingsModel.SUMMARY, { h.setSummary(it) }, { h.error.value }, h.draft) },
        ConsentsModel(repo2, case).let { h -> Typed("consent", ConsentsModel.WHAT, { h.setWhat(it) }, { h.error.value }, h.draft) },
        DangerStatementsModel(repo2, case).let { h -> Typed("danger statement", DangerStatementsModel.SAFETY_GOAL, { h.setSafetyGoal(it) }, { h.error.value }, h.draft) },
        ConcernsModel(repo2, case).let { h -> Typed("concern", ConcernsModel.DESCRIPTION, { h.setDescription(it) }, { h.error.value }, h.draft) },
        CheckInModel(repo2, case).let { h -> Typed("check-in note", CheckInModel.NOTE, { h.setNote(it) }, { h.draftError.value }, h.draft) },
        DangerStatementsModel(repo2, case).let { h ->
            h.revision.beginDanger(savedDanger, "He drinks before contact", "Safe at contact")
            Typed("danger statement revision", RevisionForm.DANGER, { h.revision.setDanger(it) }, { h.error.value }, h.revision.draft)
        },
        PlanModel(repo2, case).let { h ->
            h.revision.beginEntry(savedEntry, "Rent arrears", null)
            Typed("map entry revision", RevisionForm.TEXT, { h.revision.setText(it) }, { h.error.value }, h.revision.draft)
        },
        ConcernsModel(repo2, case).let { h ->
            h.beginUpdate(savedConcern)
            Typed("concern update", ConcernsModel.UPDATE_ESCALATED_TO, { h.setUpdateEscalatedTo(it) }, { h.error.value }, h.updateDraft)
        },
        ClosureModel(repo2, case).let { h -> Typed("closing the case", ClosureModel.NOTE, { h.setNote(it) }, { h.draftError.value }, h.draft) },
        PlanModel(repo2, case).let { h -> Typed("goal", PlanModel.TEXT, { h.setGoalText(it) }, { h.error.value }, h.goalDraft) },
        PlanModel(repo2, case).let { h -> Typed("action", PlanModel.TEXT, { h.setActionText(it) }, { h.error.value }, h.actionDraft) },
        PlanModel(repo2, case).let { h -> Typed("scaling question", PlanModel.QUESTION, { h.setQuestion(it) }, { h.error.value }, h.scalingDraft) },
        PlanModel(repo2, case).let { h -> Typed("new map entry", PlanModel.TEXT, { h.setEntryText(it) }, { h.error.value }, h.entryDraft) },
    )
    for (f in forms) {
        f.draft.open()
        f.type(big)
        val refused = f.error()?.let { it.startsWith("Please check") && it != Messages.UNEXPECTED } == true
        val nothing = f.draft.draftId == null && repo2.read { v -> v.drafts().none { it.caseId == case } }
        f.type("Short enough")
        val savedOk = f.error() == null && f.draft.draftId != null
        f.type(big)
        val keeper = FormDraftKeeper(repo2, case, f.draft.form, kotlinx.coroutines.flow.MutableStateFlow(null))
        val kept = f.error() != null && keeper.open() && keeper[f.field] == "Short enough"
        f.draft.discard()
        val discarded = f.draft.draftId == null && repo2.read { v -> v.drafts().none { it.caseId == case } }
        check("${f.name}: a 17 KiB field refused in plain words, nothing saved; the last good text kept; discarded",
            refused && nothing && savedOk && kept && discarded)
    }

    // --- Discarded from the start-up list.
    list.load()
    list.discard(list.items.value.single().draftId)
    check("drafts list: discarded", list.items.value.isEmpty() && list.error.value == null)

    withContext(Dispatchers.IO) {
        (first as AutoCloseable).close()
        (repo2.vault as AutoCloseable).close()
    }
}

// The plan's own forms (a new goal, an action, a scaling with its question, a
// new map entry), in functions of their own: one method would be too large.

/** Typed into each of the plan's forms, each edit saved at once. */
private suspend fun typePlanForms(plan: PlanModel, savedGoal: String) {
    plan.setGoalDomain(Domain.FINANCE)
    plan.setGoalText("Clear the rent arrears by the spring")
    plan.setActionGoal(savedGoal)
    plan.setActionText("Call the housing officer about a payment plan")
    plan.setScore(4)
    plan.setScaleView(ScaleView.WOMAN)
    plan.setQuestion("How safe do you feel at home, from 0 to 10?")
    plan.setEntryColumn(SosColumn.WORRIES)
    plan.setEntryKind(WorryKind.DANGER)
    plan.setEntryText("He has her new address")
}

/** After the kill: each form's draft back as typed. */
private fun planFormsRestored(pr: PlanModel, savedGoal: String) {
    check("goal draft restored after a kill",
        pr.goalDomain() == Domain.FINANCE && pr.goalDraft[PlanModel.TEXT] == "Clear the rent arrears by the spring")
    check("action draft restored after a kill, with its goal",
        pr.actionDraft[PlanModel.GOAL] == savedGoal && pr.actionDraft[PlanModel.TEXT] == "Call the housing officer about a payment plan")
    check("scaling draft restored after a kill, with its question",
        pr.score() == 4L && pr.scaleView() == ScaleView.WOMAN &&
            pr.scalingDraft[PlanModel.QUESTION] == "How safe do you feel at home, from 0 to 10?")
    check("new map entry draft restored after a kill",
        pr.entryColumn() == SosColumn.WORRIES && pr.entryKind() == WorryKind.DANGER && pr.entryDraft[PlanModel.TEXT] == "He has her new address")
}

/** Refused in plain words, nothing written, the draft kept with what was typed. */
private suspend fun planFormsRefused(pr: PlanModel, repo2: OutreachRepository, case: String, savedGoal: String) {
    suspend fun planRecord() = repo2.read { it.caseRecord(case) }
    val goalsBefore = planRecord().goals.size
    pr.setGoalDomain(Domain.CONTRACEPTION)
    check("goal: details on a contraception goal refused in plain words, nothing written, the draft kept",
        pr.submitGoal() == null && pr.error.value?.startsWith("Please check") == true && pr.goalDraft.draftId != null &&
            planRecord().goals.size == goalsBefore && pr.goalDraft[PlanModel.TEXT] == "Clear the rent arrears by the spring")
    pr.goalDraft.set(PlanModel.DOMAIN, "")
    check("goal: no domain chosen refused in plain words, the draft kept",
        pr.submitGoal() == null && pr.error.value?.startsWith("Please check") == true && pr.goalDraft.draftId != null)
    pr.setGoalDomain(Domain.FINANCE)
    pr.actionDraft.set(PlanModel.GOAL, "")
    check("action: no goal chosen refused in plain words, the draft kept",
        pr.submitAction() == null && pr.error.value?.startsWith("Please check") == true && pr.actionDraft.draftId != null &&
            pr.actionDraft[PlanModel.TEXT] == "Call the housing officer about a payment plan")
    pr.setActionGoal(savedGoal)
    pr.scalingDraft.set(PlanModel.SCORE, "11")
    check("scaling: a score over 10 refused in plain words, nothing written, the draft kept",
        pr.submitScale() == null && pr.error.value?.startsWith("Please check") == true && pr.scalingDraft.draftId != null &&
            planRecord().scales.isEmpty() && pr.scalingDraft[PlanModel.QUESTION] == "How safe do you feel at home, from 0 to 10?")
    pr.setScore(4)
    pr.setEntryText(" ")
    check("new map entry: empty words refused in plain words, nothing written, the draft kept",
        pr.submitEntry() == null && pr.error.value?.startsWith("Please check") == true && pr.entryDraft.draftId != null &&
            planRecord().signsOfSafety.worries.size == 1 && pr.entryKind() == WorryKind.DANGER)
    pr.setEntryText("He has her new address")
}

/** Added from their drafts, as typed; each draft gone. */
private suspend fun planFormsSubmitted(pr: PlanModel, repo2: OutreachRepository, case: String, savedGoal: String) {
    suspend fun planRecord() = repo2.read { it.caseRecord(case) }
    check("goal added from its draft; draft gone",
        pr.submitGoal() != null && pr.error.value == null && pr.goalDraft.draftId == null && pr.goalDraft.fields.value.isEmpty() &&
            planRecord().goals.values.any { it.domain == Domain.FINANCE && it.text == "Clear the rent arrears by the spring" })
    check("action added to its goal from its draft; draft gone",
        pr.submitAction() != null && pr.error.value == null && pr.actionDraft.draftId == null &&
            planRecord().goals[savedGoal]!!.actions.values.any { it.text == "Call the housing officer about a payment plan" })
    check("scaling added from its draft, with its question; draft gone",
        pr.submitScale() != null && pr.error.value == null && pr.scalingDraft.draftId == null &&
            planRecord().scales.values.single().let {
                it.score.toInt() == 4 && it.view == ScaleView.WOMAN && it.question == "How safe do you feel at home, from 0 to 10?"
            })
    check("new map entry added from its draft; draft gone",
        pr.submitEntry() != null && pr.error.value == null && pr.entryDraft.draftId == null &&
            planRecord().signsOfSafety.worries.values.any { it.text == "He has her new address" && it.kind == WorryKind.DANGER })
}

// The last three forms to keep a draft: opening a case (no case yet: kept
// with an empty case id), the supervisor's comment on a visit in the sign-off
// queue, and the author's amendment of a returned visit. For each: typed,
// the app killed (holders and core dropped, a new core on the same files),
// the text back; bad input in plain words with the draft kept; gone once
// submitted; "Not finished" says it in plain words and opens the right form.

/** The app killed: a new core opened on [dir]'s files. */
private suspend fun reopened(dir: String, pass: String): OutreachRepository? {
    val unlock = UnlockModel(dir, null, open = MainThreadGuard::open)
    unlock.unlock(pass)
    return (unlock.state.value as? UnlockModel.State.Unlocked)?.repository
}

internal suspend fun newFormDraftTests(tmp: File, server: Server) {
    suspend fun enrolled(name: String, role: String): Pair<String, OutreachRepository> {
        val dir = File(tmp, "drafts-" + name.lowercase().replace(' ', '-')).path
        val vault = withContext(Dispatchers.IO) { MainThreadGuard.create(dir, "$name's passphrase", name, "South", null) }
        val repo = OutreachRepository(vault)
        val enrol = EnrolModel(repo)
        enrol.enrol(server.url, code(admin(server.data, "invite", "--name", name, "--role", role, "--team", "South")))
        check("new form drafts: $role enrolled", enrol.state.value is EnrolModel.State.Enrolled)
        return dir to repo
    }
    val (patDir, pat) = enrolled("Pat Lowe", "practitioner")
    val (sueDir, sue) = enrolled("Sue Amos", "supervisor")

    // --- Opening a case: there is no case yet.
    val opening = NewCaseModel(pat)
    check("new case: nothing to restore on a first opening", !opening.open() && opening.draft.draftId == null)
    opening.edit { it.copy(preferredName = "Leah") }
    opening.edit { it.copy(textOk = false, codeWord = "bluebell", safeContactNotes = "Never before 6pm: he is home") }
    opening.edit { it.copy(referralDate = LocalDate.parse("2026-11-24"), referralSource = "Health visitor") }
    check("new case: saved on every edit, with no case",
        opening.error.value == null && pat.read { v -> v.drafts() }.single().let { it.form == FormKind.OPEN_CASE && it.caseId == "" })
    val list = DraftsModel(pat)
    list.load()
    check("new case: \"Not finished\" in plain words, with the name typed (${list.items.value.map { it.english }})",
        list.items.value.single().let { it.english.startsWith("New case for Leah, saved ") && it.caseId == "" } &&
            DraftsModel.labelKey(FormKind.OPEN_CASE) == "draft_form_open_case")
    val pat2 = reopened(patDir, "Pat Lowe's passphrase")
    check("new case: a new core opens the killed app's files", pat2 != null)
    if (pat2 == null) return
    val back = NewCaseModel(pat2)
    check("new case: restored after a kill, every answer",
        back.open() && back.form.value == NewCaseModel.Form(preferredName = "Leah", textOk = false, codeWord = "bluebell",
            safeContactNotes = "Never before 6pm: he is home", referralDate = LocalDate.parse("2026-11-24"), referralSource = "Health visitor"))
    back.edit { it.copy(preferredName = "  ") }
    check("new case: no name refused in plain words, nothing written, the draft kept",
        back.create() == null && back.error.value?.startsWith("Please check") == true && pat2.read { it.caseload(true) }.isEmpty() &&
            back.draft.draftId != null && NewCaseModel(pat2).let { it.open() && it.form.value.codeWord == "bluebell" })
    back.edit { it.copy(preferredName = "x".repeat(17 * 1024)) }
    check("new case: a 17 KiB field refused in plain words; the last good text kept",
        back.error.value?.startsWith("Please check") == true && NewCaseModel(pat2).let { it.open() && it.form.value.preferredName == "  " })
    back.edit { it.copy(preferredName = "Leah") }
    val leah = back.create()
    check("new case: opened from the draft; draft gone",
        leah != null && back.error.value == null && back.draft.draftId == null && back.form.value == NewCaseModel.Form() &&
            pat2.read { it.drafts() }.isEmpty() && pat2.read { it.caseRecord(leah) }.profile.let { it.preferredName == "Leah" })
    leah!!

    // --- The sign-off screen: a visit recorded, sent to the supervisor.
    val visit = pat2.write {
        it.addVisit(leah, VisitInput(at = "2026-11-29T10:00:00Z", kind = ContactKind.HOME, outcome = Outcome.COMPLETED, note = "First visit"))
    }
    SyncModel(pat2) { "2026-11-29T12:00:00Z" }.sync()
    sue.sync(null, null)
    val review = ReviewModel(sue)
    review.load()
    val pending = review.pending.value.firstOrNull { it.visitId == visit }
    check("sign-off: the supervisor sees the visit", review.supervisor.value && pending != null)
    pending!!
    check("sign-off: beginning a comment restores nothing and saves nothing",
        !review.begin(pending) && review.visit == visit && sue.read { it.drafts() }.isEmpty())
    review.setComment("Please add what she agreed")
    review.setComment("Please add what she agreed to do about the rent")
    check("sign-off: the comment saved on every edit, under the visit's case",
        review.error.value == null && sue.read { it.drafts() }.single().let { it.form == FormKind.RETURN_COMMENT && it.caseId == leah })
    val sue2 = reopened(sueDir, "Sue Amos's passphrase")
    check("sign-off: a new core opens the killed app's files", sue2 != null)
    if (sue2 == null) return
    val sueList = DraftsModel(sue2)
    sueList.load()
    val commentItem = sueList.items.value.single()
    check("sign-off: \"Not finished\" names the comment in plain words (${commentItem.english})",
        commentItem.english.startsWith("Comment on a visit for sign-off for Leah"))
    val review2 = ReviewModel(sue2)
    review2.load()
    check("sign-off: the comment restored after a kill, on its visit (from \"Not finished\")",
        review2.openDraft(commentItem.draftId) && review2.visit == visit &&
            review2.form.value!![ReviewModel.COMMENT] == "Please add what she agreed to do about the rent")
    review2.setComment(" ")
    check("sign-off: a return with no comment refused in plain words, the draft kept",
        !review2.submitReturn() && review2.error.value?.startsWith("Please check") == true &&
            review2.form.value?.draftId != null && sue2.read { it.drafts() }.size == 1)
    review2.setComment("Please add what she agreed to do about the rent")
    check("sign-off: returned with the comment from its draft; draft gone",
        review2.submitReturn() && review2.error.value == null && review2.form.value == null && sue2.read { it.drafts() }.isEmpty() &&
            sue2.read { it.caseRecord(leah) }.visits[visit]!!.review == ReviewState.RETURNED)

    // --- The author amends the returned visit.
    sue2.sync(null, null)
    SyncModel(pat2) { "2026-11-29T13:00:00Z" }.sync()
    val amending = ReviewModel(pat2)
    amending.load()
    val returned = amending.pending.value.firstOrNull { it.visitId == visit && it.review == ReviewState.RETURNED }
    check("amend: the returned visit back with the comment",
        !amending.supervisor.value && returned?.comment == "Please add what she agreed to do about the rent")
    returned!!
    amending.begin(returned)
    amending.setActionsAgreed("She calls the landlord on Monday")
    check("amend: saved on every edit",
        amending.error.value == null && pat2.read { it.drafts() }.single().let { it.form == FormKind.AMENDMENT && it.caseId == leah })
    val pat3 = reopened(patDir, "Pat Lowe's passphrase")
    check("amend: a new core opens the killed app's files", pat3 != null)
    if (pat3 == null) return
    val amending2 = ReviewModel(pat3)
    amending2.load()
    check("amend: restored after a kill, on its visit (the sign-off screen opened)",
        amending2.openDraft() && amending2.visit == visit &&
            amending2.form.value!![ReviewModel.ACTIONS_AGREED] == "She calls the landlord on Monday")
    val patList = DraftsModel(pat3)
    patList.load()
    check("amend: \"Not finished\" names it in plain words",
        patList.items.value.single().english.startsWith("Amendment to a returned visit for Leah"))
    amending2.setActionsAgreed("")
    check("amend: nothing amended refused in plain words, the draft kept",
        !amending2.submitAmendment() && amending2.error.value?.startsWith("Please check") == true &&
            amending2.form.value?.draftId != null && pat3.read { it.drafts() }.size == 1)
    amending2.setActionsAgreed("She calls the landlord on Monday")
    check("amend: amended from its draft; draft gone",
        amending2.submitAmendment() && amending2.error.value == null && amending2.form.value == null &&
            pat3.read { it.drafts() }.isEmpty() &&
            pat3.read { it.caseRecord(leah) }.visits[visit]!!.let { it.actionsAgreed == "She calls the landlord on Monday" && it.amendments.size == 1 })

    withContext(Dispatchers.IO) {
        for (r in listOf(pat, sue, pat2, sue2, pat3)) (r.vault as AutoCloseable).close()
    }
}
