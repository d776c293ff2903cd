// Tests of the Kotlin layer every screen uses, on the JVM against the
// host-built core and a real outreach-server on loopback. Run by
// scripts/android-test.sh; ends with "N passed, N failed".
package outreach.shell

import java.io.File
import java.nio.file.Files
import java.time.ZonedDateTime
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.*

private var passed = 0
private var failed = 0

internal fun check(name: String, ok: Boolean) {
    if (ok) passed++ else failed++
    println((if (ok) "ok   " else "FAIL ") + name)
}

internal fun admin(data: String, vararg args: String): String {
    val p = ProcessBuilder(System.getenv("OUTREACH_SERVER_BIN"), *args, "--data", data, "--json").start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "admin ${args.toList()}" }
    return out
}

internal fun code(json: String) = Regex("\"code\":\\s*\"([^\"]+)\"").find(json)!!.groupValues[1]

/** A real server on loopback; [safetyGrace] shortens the wait before a lone-working alert is raised. */
internal class Server(val data: String, private val safetyGrace: String? = null) {
    private var proc: Process? = null
    var url = ""
    fun start(listen: String = "127.0.0.1:0") {
        val p = ProcessBuilder(System.getenv("OUTREACH_SERVER_BIN"), "serve", "--listen", listen, "--data", data)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .apply { safetyGrace?.let { environment()["OUTREACH_SERVER_SAFETY_GRACE"] = it } }
            .start()
        url = p.inputStream.bufferedReader().lineSequence().first { it.startsWith("Listening on http://") }.split(" ")[2]
        proc = p
    }
    fun stop() { proc?.destroy(); proc?.waitFor(); proc = null }
}

fun main() = runBlocking {
    // runBlocking's thread stands for the app's main (UI) thread: the state
    // holders are called from it, as Compose calls them from Dispatchers.Main.
    MainThreadGuard.uiThread = Thread.currentThread()
    val tmp = Files.createTempDirectory("outreach-android").toFile()
    val server = Server(File(tmp, "server").path)
    server.start()
    try {
        tests(tmp, server)
        appTests(tmp)
        practiceTests(tmp)
        draftTests(tmp, server)
        newFormDraftTests(tmp, server)
        check("no blocking core call ran on the UI thread" +
            (if (MainThreadGuard.violations.isEmpty()) "" else ": ${MainThreadGuard.violations.distinct()}"),
            MainThreadGuard.violations.isEmpty())
    } finally {
        server.stop()
    }
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}

private suspend fun tests(tmp: File, server: Server) {
    val samDir = File(tmp, "sam").path
    OutreachVault.create(samDir, "sam's passphrase", "Sam Jones", "North", null).close()

    // Unlock: wrong, then right.
    // Every vault the app layer uses is opened through the guard: a
    // blocking core call from this thread (the test's UI thread) is recorded.
    val unlock = UnlockModel(samDir, null, open = MainThreadGuard::open)
    unlock.unlock("not it")
    val wrong = unlock.state.value
    check("wrong passphrase: plain words and attempts left",
        wrong is UnlockModel.State.Error && wrong.attemptsLeft == 9u && wrong.message.contains("9 attempts left"))
    unlock.unlock("sam's passphrase")
    val unlocked = unlock.state.value
    check("right passphrase unlocks", unlocked is UnlockModel.State.Unlocked)
    val repo = (unlocked as UnlockModel.State.Unlocked).repository

    // Record a contact and see the caseload update.
    val case = repo.write { it.createCase(CaseEdit(preferredName = "Jasmine")) }
    check("caseload shows the new case, never synced",
        repo.caseload.value.map { it.summary.preferredName to it.sync } == listOf("Jasmine" to CaseSyncState.NEVER_SYNCED))
    val form = ContactFormModel(repo, case)
    form.setKind(ContactKind.HOME)
    form.setNote("Talked through the tenancy letter")
    form.toggleDomain(Domain.HOUSING)
    check("incomplete contact refused in plain words", form.submit() == null && form.error.value!!.contains("at"))
    form.setAt(ZonedDateTime.parse("2026-11-27T10:00:00Z"))
    form.setOutcome(Outcome.COMPLETED)
    val visit = form.submit()
    check("contact recorded", visit != null && form.error.value == null)
    check("caseload updated", repo.caseload.value.single().summary.visits == 1u)
    val row = repo.caseload.value.single()
    check("caseload row: contact due from the core, not seen yet, awaiting sign-off",
        row.summary.contact.nextContactDue != null && row.summary.contact.lastContact == "2026-11-27T10:00:00Z" &&
            row.contactLine.contains("next contact ") && row.summary.awaitingSignOff == 1u &&
            row.reviewLine == "1 awaiting sign-off")

    // A draft survives the app being killed mid-typing.
    val typing = ContactFormModel(repo, case)
    typing.setKind(ContactKind.PHONE)
    typing.setHerWords("I want to sort it myself")
    withContext(Dispatchers.IO) { (repo.vault as AutoCloseable).close() } // the process dies; nothing but the files remain
    val again = UnlockModel(samDir, null, open = MainThreadGuard::open)
    again.unlock("sam's passphrase")
    val repo2 = (again.state.value as UnlockModel.State.Unlocked).repository
    val saved = repo2.read { it.drafts() }
    val restored = ContactFormModel(repo2, case)
    restored.restore(saved.single().draftId)
    check("killed draft restored", restored.draft.value.herWords == "I want to sort it myself" &&
        restored.draft.value.kind == ContactKind.PHONE)

    // The case screen: safe-contact rules first, plan by domain, concerns.
    repo2.write { it.editCase(case, CaseEdit(textOk = false, voicemailOk = false, codeWord = "bluebell")) }
    val plan = PlanModel(repo2, case)
    val goal = plan.addGoal(Domain.HOUSING, "Keep the tenancy", "2027-03-01")!!
    plan.addAction(goal, "Call the housing officer")
    plan.addScale(6, ScaleView.WOMAN)
    plan.addSosEntry(SosColumn.WORKING_WELL, "Attends every visit")
    plan.addSosEntry(SosColumn.WORRIES, "Ex-partner may return", WorryKind.DANGER)
    val settled = plan.addSosEntry(SosColumn.WORRIES, "Rent arrears", WorryKind.COMPLICATING)!!
    check("worry kind only on worries, in plain words",
        plan.addSosEntry(SosColumn.WORKING_WELL, "x", WorryKind.HARM) == null && plan.error.value!!.startsWith("Please check"))
    check("worry resolved", plan.resolveSos(settled) != null && plan.error.value == null)
    check("scale with its question", plan.addScale(7, ScaleView.PRACTITIONER, "How safe is she at home?") != null)
    check("plan edit refused in plain words", plan.addScale(11, ScaleView.WOMAN) == null && plan.error.value!!.startsWith("Please check"))
    repo2.write { it.addConcern(case, ConcernInput(category = "domestic abuse", severity = Severity.HIGH, description = "Seen near the flat")) }
    val caseScreen = CaseModel(repo2, case)
    caseScreen.load()
    val cs = caseScreen.state.value
    check("safe-contact rules first", cs.contactRules == listOf("Do NOT text", "Never leave voicemail", "Code word: bluebell"))
    check("plan by domain", cs.goalsByDomain[Domain.HOUSING] == listOf("Keep the tenancy"))
    check("Signs of Safety map and goals listed", cs.workingWell == listOf("Attends every visit") && cs.goals.single().id == goal)
    check("open worries with their kind, resolved kept for revising",
        cs.worries.map { it.kind to it.text } == listOf(WorryKind.DANGER to "Ex-partner may return") &&
            cs.sosEntries.single { it.id == settled }.let { it.resolved && it.kind == WorryKind.COMPLICATING })
    check("scale and concerns", cs.latestScale in setOf(6.toUByte(), 7.toUByte()) &&
        cs.case!!.scales.values.any { it.question == "How safe is she at home?" } &&
        cs.openConcerns == listOf(Severity.HIGH to "domestic abuse"))

    // Closing a case takes it off the caseload (listed with closed cases); reopening brings it back.
    check("case closed", plan.closeCase(ExitReason.MOVED_AWAY, "Moved to Leeds", "2026-11-29") != null)
    check("closed case leaves the caseload", repo2.caseload.value.isEmpty())
    repo2.showClosed(true)
    check("listed when closed cases are shown", repo2.caseload.value.single().let { it.closed && it.contactLine.startsWith("Closed") })
    caseScreen.load()
    check("case screen says closed", caseScreen.state.value.closed?.startsWith("Closed on 2026-11-29") == true)
    check("closing twice refused in plain words", plan.closeCase(ExitReason.OTHER, null) == null && plan.error.value!!.startsWith("Please check"))
    repo2.showClosed(false)
    check("reopened, back on the caseload", plan.reopenCase() != null && repo2.caseload.value.single().summary.phase == Phase.PROGRAMME)

    // Auto-lock and sync policy.
    val lock = AutoLock(timeoutSeconds = 120)
    lock.backgrounded(1000)
    check("no lock inside the timeout", !lock.foregrounded(1100))
    lock.backgrounded(1000)
    check("locks past the timeout", lock.foregrounded(1120))
    check("sync policy", SyncPolicy.shouldSync(true, true, 990, 1000) && !SyncPolicy.shouldSync(false, true, null, 1000) &&
        !SyncPolicy.shouldSync(true, false, 990, 1000))

    // Quick unlock (biometric / PIN) through a platform key store.
    val quickKey = object : PlatformKeyStore {
        override fun seal(plaintext: ByteArray) = plaintext.map { (it.toInt() xor 0x33).toByte() }.toByteArray()
        override fun unseal(sealed: ByteArray) = sealed.map { (it.toInt() xor 0x33).toByte() }.toByteArray()
    }
    val quickSettings = SettingsModel(repo2, null)
    quickSettings.setQuickUnlock(true, quickKey)
    check("quick unlock turned on", quickSettings.message.value == "Quick unlock is on.")
    val quick = UnlockModel(samDir, null, open = MainThreadGuard::open)
    check("quick unlock offered", quick.quickUnlockAvailable())
    quick.unlockQuick(quickKey)
    check("quick unlock opens the vault", quick.state.value is UnlockModel.State.Unlocked)
    withContext(Dispatchers.IO) { ((quick.state.value as UnlockModel.State.Unlocked).repository.vault as AutoCloseable).close() }

    // Settings: passphrase change.
    val settings = SettingsModel(repo2, null)
    settings.changePassphrase("new passphrase", "different")
    check("passphrase mismatch caught", settings.message.value == "The two passphrases are different.")
    settings.changePassphrase("short", "short")
    check("weak passphrase refused", settings.message.value!!.contains("at least"))
    settings.changePassphrase("sam's new passphrase", "sam's new passphrase")
    check("passphrase changed", settings.message.value == "Passphrase changed.")

    // Sync: progress, success, then the server gone, then back.
    val enrol = EnrolModel(repo2)
    enrol.enrol(server.url, "0000-0000-0000-0000-0000")
    check("unknown code: plain words", (enrol.state.value as EnrolModel.State.Error).message.contains("unknown enrolment code"))
    enrol.enrol(server.url, code(admin(server.data, "invite", "--name", "Sam Jones", "--role", "practitioner", "--team", "North")))
    check("enrolled", (enrol.state.value as? EnrolModel.State.Enrolled)?.who?.startsWith("Sam Jones (practitioner, team North)") == true)
    val clock = { "2026-11-28T09:00:00Z" }
    val sync = SyncModel(repo2, clock)
    sync.sync()
    check("sync succeeds with a summary", sync.state.value.lastSuccess == "2026-11-28T09:00:00Z" &&
        sync.state.value.summary!!.startsWith("1 sent") && sync.state.value.error == null)
    check("progress reported", sync.state.value.phase != null)
    check("caseload shows synced", repo2.caseload.value.single().sync == CaseSyncState.SYNCED)
    repo2.write { it.addVisit(case, VisitInput(at = "2026-11-28T08:00:00Z", kind = ContactKind.TEXT, outcome = Outcome.COMPLETED, note = "Texted")) }
    check("caseload shows pending upload", repo2.caseload.value.single().sync == CaseSyncState.PENDING_UPLOAD)
    val addr = server.url.removePrefix("http://")
    server.stop()
    sync.sync()
    check("offline: plain words, nothing lost", sync.state.value.error!!.contains("No connection") &&
        sync.state.value.lastSuccess == "2026-11-28T09:00:00Z" &&
        repo2.caseload.value.single().sync == CaseSyncState.PENDING_UPLOAD)
    server.start(addr)
    sync.sync()
    check("back online: uploaded", sync.state.value.error == null && repo2.caseload.value.single().sync == CaseSyncState.SYNCED)

    // A conflict shown and resolved.
    val ali = OutreachVault.create(File(tmp, "ali").path, "ali's passphrase", "Ali Khan", "North", null)
    ali.enroll(server.url, code(admin(server.data, "invite", "--name", "Ali Khan", "--role", "supervisor", "--team", "North")), false)
    sync.sync()
    ali.sync(null, null)
    repo2.write { it.editCase(case, CaseEdit(phone = "07700 900001")) }
    ali.editCase(case, CaseEdit(phone = "07700 900002"))
    repeat(2) { sync.sync(); ali.sync(null, null) }
    check("caseload shows the conflict", repo2.caseload.value.single().sync == CaseSyncState.CONFLICT)
    val conflicts = ConflictModel(repo2, case)
    conflicts.load()
    check("conflict shows both values", conflicts.conflicts.value.single().values.size == 2)
    conflicts.pick(conflicts.conflicts.value.single().field, 0)
    check("conflict resolved", conflicts.conflicts.value.isEmpty())
    sync.sync()
    check("resolution synced", repo2.caseload.value.single().sync == CaseSyncState.SYNCED)

    // The sign-off loop: the supervisor returns a visit, the practitioner
    // cannot sign off herself, amends, and the supervisor signs it off.
    val aliRepo = OutreachRepository(MainThreadGuard.wrap(ali))
    val own = repo2.write { it.addVisit(case, VisitInput(at = "2026-11-29T10:00:00Z", kind = ContactKind.HOME, outcome = Outcome.COMPLETED, note = "Home visit")) }
    sync.sync()
    aliRepo.sync(null, null)
    val samReview = ReviewModel(repo2)
    check("practitioner cannot sign off: plain words",
        !samReview.signOff(case, own) && samReview.error.value!!.startsWith("You can't do that") &&
            samReview.error.value!!.contains("supervisor"))
    val aliReview = ReviewModel(aliRepo)
    aliReview.load()
    check("supervisor sees the visit to review", aliReview.pending.value.any { it.visitId == own && it.review == ReviewState.AWAITING })
    check("the queue knows a supervisor", aliReview.supervisor.value)
    check("return without a comment refused in plain words",
        !aliReview.returnForAmendment(case, own, " ") && aliReview.error.value!!.startsWith("Please check"))
    check("supervisor returns it", aliReview.returnForAmendment(case, own, "Add the actions agreed") && aliReview.error.value == null)
    aliRepo.sync(null, null)
    sync.sync()
    samReview.load()
    check("the queue knows a practitioner (amend, not sign off)", !samReview.supervisor.value)
    check("returned visit first, with the comment",
        samReview.pending.value.first().let { it.visitId == own && it.review == ReviewState.RETURNED && it.comment == "Add the actions agreed" })
    check("supervisor cannot amend her visit: plain words",
        !aliReview.amend(case, own, VisitDraft(actionsAgreed = "x")) && aliReview.error.value!!.startsWith("You can't do that"))
    check("practitioner amends", samReview.amend(case, own, VisitDraft(actionsAgreed = "She calls the landlord")) && samReview.error.value == null)
    sync.sync()
    aliRepo.sync(null, null)
    check("supervisor signs the amended visit off", aliReview.signOff(case, own) && aliReview.error.value == null)
    aliRepo.sync(null, null)
    sync.sync()
    val signed = repo2.read { it.caseRecord(case) }.visits[own]!!
    check("signed off, signed by the supervisor's device, amendment kept",
        signed.review == ReviewState.SIGNED_OFF && signed.signOff?.signature != null && signed.signOff?.byUser != null &&
            signed.amendments.size == 1)

    // Transfer: refused to the practitioner; the supervisor moves the case
    // to a colleague, and Sam's phone lets it go on its next sync.
    val jo = OutreachVault.create(File(tmp, "jo").path, "jo's passphrase", "Jo Smith", "North", null)
    jo.enroll(server.url, code(admin(server.data, "invite", "--name", "Jo Smith", "--role", "practitioner", "--team", "North")), false)
    val samTransfer = TransferModel(repo2, case)
    samTransfer.transfer("Jo Smith")
    check("practitioner cannot transfer: plain words",
        (samTransfer.state.value as? TransferModel.State.Error)?.message?.startsWith("You can't do that") == true)
    val aliTransfer = TransferModel(aliRepo, case)
    aliTransfer.transfer("Jo Smith")
    check("supervisor transfers", (aliTransfer.state.value as? TransferModel.State.Done)?.message?.startsWith("Transferred to Jo Smith") == true)
    check("the colleague receives the case", jo.sync(null, null).casesChanged.contains(case))
    sync.sync()
    // The contact form restored above was never submitted: nothing written
    // here is dropped, so the case stays until the draft is submitted or
    // discarded.
    check("transferred away: kept while an unsent draft is on the phone", repo2.caseload.value.isNotEmpty())
    repo2.write { v -> v.drafts().forEach { v.discardDraft(it.draftId) } }
    sync.sync()
    check("transferred away: gone from this phone's caseload, said so",
        repo2.caseload.value.isEmpty() && sync.state.value.summary!!.contains("transferred"))
    check("who held it when, in the case", jo.caseRecord(case).programme.holders.values.any { it.name == "Jo Smith" && it.to == null })

    // Revoked: told in plain words.
    admin(server.data, "revoke-device", repo2.read { it.syncAccount()!!.deviceId })
    sync.sync()
    check("revoked: plain words", sync.state.value.revoked && sync.state.value.error!!.contains("removed this phone"))
}
