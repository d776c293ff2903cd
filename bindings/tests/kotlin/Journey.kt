// The same journey as bindings/tests/python/journey.py, through the generated
// Kotlin bindings on the JVM (JNA): a Kotlin platform key store, wrong
// passphrase, records and plan changes, a draft across a restart, enrolment
// and `suspend` sync with a Kotlin progress listener against a real server,
// the supervisor's view and sign-off (refused to the practitioner), a
// conflict resolved, export, revocation.
// Run by scripts/kotlin-test.sh; ends with "N passed, N failed".

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import uniffi.outreach_ffi.*

var passed = 0
var failed = 0

fun check(name: String, ok: Boolean) {
    if (ok) passed++ else failed++
    println((if (ok) "ok   " else "FAIL ") + name)
}

inline fun <reified E : Throwable> throws(block: () -> Unit): Boolean =
    try { block(); false } catch (e: Throwable) { e is E }

/** XOR stands in for the Android Keystore: enough to prove the round trip. */
class XorKeyStore : PlatformKeyStore {
    var calls = 0
    override fun seal(plaintext: ByteArray): ByteArray { calls++; return plaintext.map { (it.toInt() xor 0x5A).toByte() }.toByteArray() }
    override fun unseal(sealed: ByteArray): ByteArray { calls++; return sealed.map { (it.toInt() xor 0x5A).toByte() }.toByteArray() }
}

class Progress : SyncListener {
    val phases = mutableListOf<SyncPhase>()
    override fun onProgress(phase: SyncPhase, done: ULong, total: ULong?) { synchronized(phases) { phases.add(phase) } }
}

fun admin(data: String, vararg args: String): String {
    val p = ProcessBuilder(System.getenv("OUTREACH_SERVER_BIN"), *args, "--data", data, "--json").start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "admin ${args.toList()} failed" }
    return out
}

fun code(json: String): String = Regex("\"code\":\\s*\"([^\"]+)\"").find(json)!!.groupValues[1]

fun main() = runBlocking {
    val tmp = Files.createTempDirectory("outreach-kotlin").toFile()
    val data = File(tmp, "server").path
    val server = ProcessBuilder(System.getenv("OUTREACH_SERVER_BIN"), "serve", "--listen", "127.0.0.1:0", "--data", data)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val url = server.inputStream.bufferedReader().lineSequence().first { it.startsWith("Listening on http://") }.split(" ")[2]
    try {
        journey(tmp, data, url)
    } finally {
        server.destroy()
        server.waitFor()
    }
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}

suspend fun journey(tmp: File, data: String, url: String) {
    val keys = XorKeyStore()
    val samDir = File(tmp, "sam").path
    var sam = OutreachVault.create(samDir, "sam's passphrase", "Sam Jones", "North", keys)
    check("vault bound to the Kotlin key store", keys.calls > 0 && sam.isUnlocked())
    val ali = OutreachVault.create(File(tmp, "ali").path, "ali's passphrase", "Ali Khan", "North", null)

    val case = sam.createCase(CaseEdit(preferredName = "Jasmine", phase = Phase.ENGAGEMENT))
    val visit = sam.addVisit(case, VisitInput(at = "2026-11-20T10:00:00Z", kind = ContactKind.HOME, outcome = Outcome.COMPLETED, note = "Tenancy letter"))
    val goal = sam.addGoal(case, GoalInput(domain = Domain.HOUSING, text = "Keep the tenancy", targetDate = "2027-03-01"))
    val action = sam.addAction(case, goal, ActionInput(text = "Call the housing officer", owner = ActionOwner.WOMAN))
    sam.completeAction(case, goal, action, null)
    sam.addSosEntry(case, SosColumn.WORKING_WELL, "Attends every visit", null)
    sam.addSosEntry(case, SosColumn.WORRIES, "Ex-partner may return", WorryKind.DANGER)
    check("worry kind only on worries", throws<OutreachException.InvalidInput> {
        sam.addSosEntry(case, SosColumn.NEEDS_TO_HAPPEN, "x", WorryKind.HARM)
    })
    sam.addScale(case, ScaleInput(score = 6L, view = ScaleView.WOMAN))
    check("bad input refused", throws<OutreachException.InvalidInput> { sam.addScale(case, ScaleInput(score = 11L)) })
    check("timeline", sam.timeline(case).size >= 3)
    val whole = sam.caseRecord(case)
    check("whole case as records", whole.goals[goal]!!.actions[action]!!.done != null &&
        whole.signsOfSafety.workingWell.size == 1 && whole.scales.size == 1 && whole.visits.containsKey(visit) &&
        whole.signsOfSafety.worries.values.single().kind == WorryKind.DANGER)
    val row = sam.caseload(false).single()
    check("caseload: contact due nested, team, awaiting sign-off",
        row.contact.lastContact == "2026-11-20T10:00:00Z" && row.contact.nextContactDue != null &&
            row.team == "North" && row.awaitingSignOff == 1u)
    check("local-only vault cannot sign off", throws<OutreachException.NotAllowed> {
        sam.signOffVisit(case, visit, SignOffDecision.SIGNED_OFF, null)
    })
    sam.closeCase(case, ExitReason.WITHDREW, null, null)
    check("closed case leaves the caseload", sam.caseload(false).isEmpty() && sam.caseload(true).single().phase == Phase.CLOSED)
    sam.reopenCase(case, Phase.ENGAGEMENT)
    check("reopened", sam.caseload(false).single().phase == Phase.ENGAGEMENT)

    // A draft survives the app being killed; wrong passphrase first.
    val draft = sam.saveDraft(null, case, VisitDraft(kind = ContactKind.PHONE, note = "Half-written"))
    sam.close()
    sam = OutreachVault.open(samDir)
    check("wrong passphrase refused", throws<OutreachException.WrongPassphrase> { sam.unlock("wrong one", keys) })
    check("one attempt counted", sam.failedAttempts() == 1u)
    sam.unlock("sam's passphrase", keys)
    val restored = sam.restoreDraft(draft)
    check("draft restored after restart", restored.caseId == case && restored.draft.note == "Half-written")
    sam.saveDraft(draft, case, restored.draft.copy(at = "2026-11-27T09:00:00Z", outcome = Outcome.COMPLETED))
    check("draft submitted as one visit", sam.submitDraft(draft) == draft && sam.drafts().isEmpty())

    // Enrol and sync (suspend) with a Kotlin listener.
    sam.enroll(url, code(admin(data, "invite", "--name", "Sam Jones", "--role", "practitioner", "--team", "North")), false)
    ali.enroll(url, code(admin(data, "invite", "--name", "Ali Khan", "--role", "supervisor", "--team", "North")), false)
    check("pending before the first sync", sam.syncStates().map { it.state } == listOf(CaseSyncState.NEVER_SYNCED))
    val progress = Progress()
    val report = sam.sync(progress, SyncCancel())
    check("suspend sync uploads", report.pushed == 1UL && report.keysShared == 1UL)
    check("listener saw the upload", progress.phases.contains(SyncPhase.UPLOADING))
    check("synced state", sam.syncStates().map { it.state } == listOf(CaseSyncState.SYNCED))
    check("supervisor receives", ali.sync(null, null).casesChanged == listOf(case))
    check("supervisor sees the visits", ali.readCase(case).visits.map { it.id }.toSet().containsAll(listOf(visit, draft)))

    // Sign-off: the practitioner is refused, the supervisor's enrolled device signs.
    check("practitioner's own sign-off refused: NotAllowed", throws<OutreachException.NotAllowed> {
        sam.signOffVisit(case, draft, SignOffDecision.SIGNED_OFF, null)
    })
    check("supervisor's queue", ali.pendingVisits().map { it.visitId }.containsAll(listOf(visit, draft)))
    ali.signOffVisit(case, draft, SignOffDecision.SIGNED_OFF, "Good record")
    val signed = ali.caseRecord(case).visits[draft]!!
    check("signed off by the supervisor's device", signed.review == ReviewState.SIGNED_OFF &&
        signed.signOff?.device == ali.syncAccount()!!.deviceId && signed.signOff?.signature != null)
    ali.sync(null, null)
    sam.sync(null, null)
    check("the practitioner sees it signed off", sam.caseRecord(case).visits[draft]!!.review == ReviewState.SIGNED_OFF)

    // Conflict on the same field, resolved once.
    sam.editCase(case, CaseEdit(phone = "07700 900001"))
    ali.editCase(case, CaseEdit(phone = "07700 900002"))
    repeat(2) { sam.sync(null, null); ali.sync(null, null) }
    val conflicts = sam.conflicts(case)
    check("conflict with both values", conflicts.size == 1 && conflicts[0].values.size == 2)
    sam.resolveConflict(case, conflicts[0].field, conflicts[0].values[0].valueJson)
    sam.sync(null, null); ali.sync(null, null)
    check("resolved on both", sam.conflicts(case).isEmpty() && ali.conflicts(case).isEmpty())
    check("export", sam.exportCaseJson(case).contains("outreach.case-export.v1"))
    check("practitioner's transfer refused: NotAllowed", throws<OutreachException.NotAllowed> {
        runBlocking { sam.transferCase(case, "Ali Khan") }
    })

    // Revoked: refused and wiped.
    admin(data, "revoke-device", ali.syncAccount()!!.deviceId)
    check("revoked device refused", throws<OutreachException.DeviceRevoked> { runBlocking { ali.sync(null, null) } })
    check("revoked vault wiped", !File(tmp, "ali/outreach.db").exists())
}
