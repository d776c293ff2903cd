// Tests of the vocabulary, the error messages and the state holders added
// for issue 15 (setting up a phone, opening a case, the contact form's
// defaults and attempts, concerns, the Signs of Safety map), on the JVM
// against the host-built core. Called from ShellTests' main.
package outreach.shell

import java.io.File
import java.time.LocalDate
import java.time.ZoneId
import java.time.ZonedDateTime
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.outreach_ffi.*

/** One instance of an error variant, whatever its fields (a detail, a count). */
private fun sample(variant: Class<*>): OutreachException {
    // The widest constructor: for a field of an unsigned type Kotlin adds a
    // synthetic one taking a DefaultConstructorMarker (passed as null).
    val ctor = variant.declaredConstructors.maxBy { it.parameterCount }
    ctor.isAccessible = true
    val args = ctor.parameterTypes.map<Class<*>, Any?> { t ->
        when (t) {
            String::class.java -> "sample detail"
            Int::class.javaPrimitiveType -> 3
            else -> null
        }
    }
    return ctor.newInstance(*args.toTypedArray()) as OutreachException
}

/** Resource names in the app's strings.xml. */
private fun appStrings(): Set<String> {
    val xml = File("android/app/src/main/res/values/strings.xml").readText()
    return Regex("<string name=\"([a-z0-9_]+)\"").findAll(xml).map { it.groupValues[1] }.toSet()
}

internal suspend fun appTests(tmp: File) {
    // --- Messages cover every error the mobile API can return.
    val variants = OutreachException::class.java.declaredClasses
        .filter { OutreachException::class.java.isAssignableFrom(it) && it != OutreachException::class.java }
    val generic = variants.filter { v ->
        val m = Messages.of(sample(v))
        m == Messages.UNEXPECTED || m.isBlank() || m.contains("detail=")
    }
    check("Messages: each of the ${variants.size} OutreachException variants has its own words" +
        (if (generic.isEmpty()) "" else " (missing: ${generic.map { it.simpleName }})"),
        variants.size >= 16 && generic.isEmpty())
    check("Messages: the core's detail is passed on",
        Messages.of(sample(OutreachException.InvalidInput::class.java)).contains("sample detail"))

    // --- The vocabulary is the core's, every word has a label, no copy in the app.
    val v = Vocab.core
    check("vocabulary: the core's lists, complete and in order",
        v.contactKinds.map { it.value } == ContactKind.entries && v.outcomes.map { it.value } == Outcome.entries &&
            v.domains.map { it.value } == Domain.entries && v.domains.size == 12 &&
            v.severities.map { it.value } == Severity.entries && v.concernStatuses.map { it.value } == ConcernStatus.entries &&
            v.exitReasons.map { it.value } == ExitReason.entries && v.sosColumns.map { it.value } == SosColumn.entries &&
            v.worryKinds.map { it.value } == WorryKind.entries && v.scaleViews.map { it.value } == ScaleView.entries &&
            v.phases.map { it.value } == Phase.entries && v.goalStatuses.map { it.value } == GoalStatus.entries &&
            v.eventKinds.map { it.value } == EventKind.entries - EventKind.RECORD_EXPORTED)
    val listFields = Vocabulary::class.java.declaredFields.count { List::class.java.isAssignableFrom(it.type) }
    check("vocabulary: every list of the core's record is mapped ($listFields)", Vocab.lists.size == listFields)
    val strings = appStrings()
    val unlabelled = Vocab.lists.flatMap { (list, words) -> words.map { Vocab.key(list, it) } }.filter { it !in strings }
    check("vocabulary: every word has a label in strings.xml" + (if (unlabelled.isEmpty()) "" else " (missing: $unlabelled)"),
        unlabelled.isEmpty())
    // No aapt here: check every string a screen names is in strings.xml.
    val plurals = Regex("<plurals name=\"([a-z0-9_]+)\"").findAll(File("android/app/src/main/res/values/strings.xml").readText())
        .map { it.groupValues[1] }.toSet()
    val appSources = File("android/app/src").walk().filter { it.isFile && it.name.endsWith(".kt") }.toList()
    val used = appSources.flatMap { f -> Regex("R\\.(string|plurals)\\.([a-z0-9_]+)").findAll(f.readText()).map { it.groupValues[1] to it.groupValues[2] } }
    val undefined = used.filter { (kind, name) -> name !in (if (kind == "string") strings else plurals) }.distinct()
    check("app strings: every R.string a screen uses is in strings.xml (${used.size} uses)" +
        (if (undefined.isEmpty()) "" else " (missing: $undefined)"), used.isNotEmpty() && undefined.isEmpty())
    check("app strings: no hard-coded Text(\"…\") in the screens",
        appSources.none { Regex("Text\\(\"[A-Za-z]").containsMatchIn(it.readText()) })
    val enumNames = "Phase|Domain|GoalStatus|ActionOwner|ContactKind|Outcome|SignOffDecision|ReviewState|ExitReason|" +
        "WorryKind|SosStatus|Severity|ConcernStatus|ScaleView|SosColumn|MeetingKind|EventKind|ReferralStatus"
    val copied = Regex("\\b($enumNames)\\.(entries|values\\(\\))")
    val copies = (File("android/app/src").walk() + File("android/outreach/src/main").walk())
        .filter { it.isFile && it.name.endsWith(".kt") }
        .filter { copied.containsMatchIn(it.readText()) }
        .map { it.path }.toList()
    check("vocabulary: no app source lists a vocabulary itself" + (if (copies.isEmpty()) "" else " ($copies)"), copies.isEmpty())
    check("vocabulary: default interval and limits from the core",
        v.defaultContactEveryDays == 14u && v.maxNoteBytes == 16384u && v.maxShortChars == 200u)

    // --- First run: the vault is created off the UI thread and opens unlocked.
    val patDir = File(tmp, "pat").path
    val setup = SetupModel(patDir, null, create = MainThreadGuard::create)
    setup.create("Pat Lee", "North", "pat's long passphrase", "pat's long passphrase!")
    check("setup: passphrases differ, said so", (setup.state.value as? SetupModel.State.Error)?.message == "The two passphrases are different.")
    setup.create("Pat Lee", "North", "short", "short")
    check("setup: weak passphrase refused in plain words",
        (setup.state.value as? SetupModel.State.Error)?.message?.let { it.startsWith("Please check") && it.contains("at least") } == true)
    setup.create("Pat Lee", "North", "pat's long passphrase", "pat's long passphrase")
    val pat = (setup.state.value as? SetupModel.State.Ready)?.repository
    check("setup: created and unlocked", pat != null && pat.caseload.value.isEmpty())
    pat!!

    // --- Open a case, safe-contact rules first.
    val newCase = NewCaseModel(pat)
    newCase.edit { it.copy(preferredName = "  ", textOk = false) }
    check("open a case: no name refused in plain words, nothing written",
        newCase.create() == null && newCase.error.value!!.startsWith("Please check") && pat.caseload.value.isEmpty())
    newCase.edit {
        it.copy(preferredName = "Amira", textOk = false, voicemailOk = true, codeWord = "sunflower", safeContactNotes = "Only after 6pm",
            referralDate = LocalDate.parse("2026-11-02"), referralSource = "Children's services")
    }
    val amira = newCase.create()
    check("open a case: opened, on the caseload, form cleared",
        amira != null && pat.caseload.value.single().summary.preferredName == "Amira" && newCase.form.value == NewCaseModel.Form())
    amira!!
    val amiraScreen = CaseModel(pat, amira)
    amiraScreen.load()
    check("open a case: safe-contact rules recorded and shown first",
        amiraScreen.state.value.rules == listOf(
            CaseModel.SafeRule.Texts(false), CaseModel.SafeRule.Voicemail(true),
            CaseModel.SafeRule.CodeWord("sunflower"), CaseModel.SafeRule.Notes("Only after 6pm"),
        ) && amiraScreen.state.value.case!!.programme.referralDate == "2026-11-02")

    // --- The contact form: every kind and outcome, attempts included; pickers' defaults.
    val clock = { ZonedDateTime.parse("2026-11-30T09:30:00Z") }
    val call = ContactFormModel(pat, amira, clock)
    check("contact form offers every kind and outcome, attempts included",
        call.kinds == v.contactKinds.map { it.value } &&
            call.kinds.containsAll(listOf(ContactKind.PHONE, ContactKind.TEXT, ContactKind.VIDEO, ContactKind.ATTEMPTED)) &&
            call.outcomes.containsAll(listOf(Outcome.NO_ANSWER, Outcome.CANCELLED)) && call.domains.size == 12)
    call.start()
    check("contact form starts at now, next contact in 14 days, nothing saved yet",
        call.draft.value.at == "2026-11-30T09:30:00Z" && call.draft.value.nextContactDue == "2026-12-14T09:30:00Z" &&
            call.draftId == null && pat.read { it.drafts() }.isEmpty())
    call.setKind(ContactKind.PHONE)
    call.setOutcome(Outcome.NO_ANSWER)
    call.setAt(ZonedDateTime.of(2026, 11, 30, 8, 15, 0, 0, ZoneId.of("Europe/London")))
    check("picked time stored as the core's instant", call.draft.value.at == "2026-11-30T08:15:00Z" &&
        call.at()?.toInstant() == ZonedDateTime.parse("2026-11-30T08:15:00Z").toInstant())
    call.setNote("Rang twice, no answer")
    call.setWellbeing(11)
    check("wellbeing out of range refused in plain words", call.submit() == null && call.error.value!!.startsWith("Please check"))
    call.setWellbeing(null)
    check("phone attempt recorded", call.submit() != null && call.error.value == null)
    check("caseload shows the last contact as an attempt", pat.caseload.value.single().summary.contact.lastContactAttempt)
    val knock = ContactFormModel(pat, amira, clock)
    knock.start()
    knock.setKind(ContactKind.ATTEMPTED)
    knock.setOutcome(Outcome.NO_ANSWER)
    knock.setNextContact(null)
    knock.setNote("Knocked, no answer; card left")
    check("attempted visit recorded, next contact left to the case's interval",
        knock.draft.value.nextContactDue == null && knock.submit() != null)

    // A draft of the form survives the app being killed.
    val typing = ContactFormModel(pat, amira, clock)
    typing.start()
    typing.setKind(ContactKind.VIDEO)
    typing.setHerWords("I want the GP letter first")
    withContext(Dispatchers.IO) { (pat.vault as AutoCloseable).close() }
    val unlock = UnlockModel(patDir, null, open = MainThreadGuard::open)
    check("no quick unlock offered when it is off", !unlock.quickUnlockAvailable())
    unlock.unlock("pat's long passphrase")
    val pat2 = (unlock.state.value as UnlockModel.State.Unlocked).repository
    val back = ContactFormModel(pat2, amira, clock)
    back.start()
    check("contact form restored after a kill, with its defaults",
        back.draftId != null && back.draft.value.herWords == "I want the GP letter first" &&
            back.draft.value.kind == ContactKind.VIDEO && back.draft.value.at == "2026-11-30T09:30:00Z")
    back.discard()
    check("discarded draft gone", pat2.read { it.drafts() }.isEmpty() && back.draft.value == VisitDraft())

    // --- Concerns: raise, update, most severe first.
    val screen = CaseModel(pat2, amira)
    val concerns = ConcernsModel(pat2, amira)
    check("concern offers the core's severities and statuses",
        concerns.severities == v.severities.map { it.value } && concerns.statuses == v.concernStatuses.map { it.value })
    check("concern without a category refused in plain words",
        concerns.raise(" ", Severity.HIGH, "Seen outside") == null && concerns.error.value!!.startsWith("Please check"))
    val low = concerns.raise("housing", Severity.LOW, "Arrears letter")!!
    val high = concerns.raise("domestic abuse", Severity.HIGH, "Ex-partner seen outside the flat")!!
    val medium = concerns.raise("mental health", Severity.MEDIUM, "Low mood")!!
    check("concerns listed most severe first", concerns.concerns.value.map { it.id } == listOf(high, medium, low))
    concerns.update(high, escalatedTo = "MASH")
    check("concern escalated (naming who makes it escalated)",
        concerns.concerns.value.first { it.id == high }.let { it.status == ConcernStatus.ESCALATED && it.escalatedTo == "MASH" })
    concerns.update(high, status = ConcernStatus.CLOSED)
    concerns.update(low, severity = Severity.HIGH)
    check("closed concerns after the open ones; severity changed",
        concerns.concerns.value.map { it.id } == listOf(low, medium, high) && !concerns.concerns.value.last().open)
    check("unknown concern: plain words", concerns.update("0000dead", status = ConcernStatus.CLOSED) == null &&
        concerns.error.value == Messages.of(OutreachException.NotFound("x")))
    screen.load()
    check("case screen: open concerns most severe first",
        screen.state.value.openConcerns == listOf(Severity.HIGH to "housing", Severity.MEDIUM to "mental health"))

    // --- Signs of Safety: add, revise, resolve.
    val plan = PlanModel(pat2, amira)
    val worry = plan.addSosEntry(SosColumn.WORRIES, "Ex-partner has her address", WorryKind.DANGER)!!
    check("Signs of Safety: revised", plan.updateSos(worry, SosUpdate(text = "Ex-partner may have her new address")) != null)
    check("Signs of Safety: danger statement", plan.addDangerStatement("He may come to the flat", "She has a safety plan") != null)
    check("Signs of Safety: empty entry refused in plain words",
        plan.addSosEntry(SosColumn.NEEDS_TO_HAPPEN, " ") == null && plan.error.value!!.startsWith("Please check"))
    check("Signs of Safety: resolved", plan.resolveSos(worry) != null)
    screen.load()
    check("Signs of Safety: resolved entry kept with its revision, danger statement listed",
        screen.state.value.worries.isEmpty() &&
            screen.state.value.sosEntries.single().let { it.resolved && it.text == "Ex-partner may have her new address" } &&
            screen.state.value.dangerStatements.size == 1)

    // --- The guard itself catches a core call made on the UI thread.
    val before = MainThreadGuard.violations.size
    pat2.vault.caseload(false)
    check("the UI-thread guard catches a core call on the UI thread", MainThreadGuard.violations.size == before + 1)
    MainThreadGuard.violations.removeAt(before)
    withContext(Dispatchers.IO) { (pat2.vault as AutoCloseable).close() }
}
