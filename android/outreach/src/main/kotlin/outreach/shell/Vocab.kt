package outreach.shell

import uniffi.outreach_ffi.ConcernStatus
import uniffi.outreach_ffi.ContactKind
import uniffi.outreach_ffi.Domain
import uniffi.outreach_ffi.ExitReason
import uniffi.outreach_ffi.GoalStatus
import uniffi.outreach_ffi.MeetingKind
import uniffi.outreach_ffi.Outcome
import uniffi.outreach_ffi.Phase
import uniffi.outreach_ffi.ReferralStatus
import uniffi.outreach_ffi.ReviewState
import uniffi.outreach_ffi.ScaleView
import uniffi.outreach_ffi.Severity
import uniffi.outreach_ffi.SosColumn
import uniffi.outreach_ffi.Vocabulary
import uniffi.outreach_ffi.WorryKind
import uniffi.outreach_ffi.vocabulary

/**
 * Every list a form offers (contact kinds, outcomes, plan domains,
 * severities, exit reasons, Signs of Safety columns…) comes from the core
 * through one call, in the core's order — never copied here — so a new word
 * reaches the app with the core. The app shows each word through its label
 * in `strings.xml`, keyed by [key]; a word without a label yet shows as
 * [fallback] (the JVM tests fail until every word has one).
 */
object Vocab {
    /** The core's vocabularies (no vault needed; read once). */
    val core: Vocabulary by lazy { vocabulary() }

    /** Lists by the name of the core's field in snake case (`contact_kinds`), each word in the core's order. */
    val lists: Map<String, List<String>> by lazy {
        val v = core
        linkedMapOf(
            "phases" to v.phases.map { it.word },
            "domains" to v.domains.map { it.word },
            "goal_statuses" to v.goalStatuses.map { it.word },
            "action_owners" to v.actionOwners.map { it.word },
            "contact_kinds" to v.contactKinds.map { it.word },
            "outcomes" to v.outcomes.map { it.word },
            "sign_off_decisions" to v.signOffDecisions.map { it.word },
            "review_states" to v.reviewStates.map { it.word },
            "exit_reasons" to v.exitReasons.map { it.word },
            "worry_kinds" to v.worryKinds.map { it.word },
            "sos_statuses" to v.sosStatuses.map { it.word },
            "severities" to v.severities.map { it.word },
            "concern_statuses" to v.concernStatuses.map { it.word },
            "scale_views" to v.scaleViews.map { it.word },
            "sos_columns" to v.sosColumns.map { it.word },
            "meeting_kinds" to v.meetingKinds.map { it.word },
            "event_kinds" to v.eventKinds.map { it.word },
            "referral_statuses" to v.referralStatuses.map { it.word },
        )
    }

    /** The resource name of a word's label: `vocab_contact_kinds_no_answer` style. */
    fun key(list: String, word: String): String = "vocab_${list}_${word.replace('-', '_')}"

    /** What a word without a label shows: "no-answer" → "No answer". */
    fun fallback(word: String): String = word.replace('-', ' ').replaceFirstChar { it.uppercase() }

    // The core's word for a typed value (the label key's last part).
    fun word(v: ContactKind) = core.contactKinds.first { it.value == v }.word
    fun word(v: Outcome) = core.outcomes.first { it.value == v }.word
    fun word(v: Domain) = core.domains.first { it.value == v }.word
    fun word(v: Severity) = core.severities.first { it.value == v }.word
    fun word(v: ConcernStatus) = core.concernStatuses.first { it.value == v }.word
    fun word(v: ExitReason) = core.exitReasons.first { it.value == v }.word
    fun word(v: WorryKind) = core.worryKinds.first { it.value == v }.word
    fun word(v: SosColumn) = core.sosColumns.first { it.value == v }.word
    fun word(v: ReviewState) = core.reviewStates.first { it.value == v }.word
    fun word(v: ScaleView) = core.scaleViews.first { it.value == v }.word
    fun word(v: GoalStatus) = core.goalStatuses.first { it.value == v }.word
    fun word(v: Phase) = core.phases.first { it.value == v }.word
    fun word(v: MeetingKind) = core.meetingKinds.first { it.value == v }.word
    fun word(v: ReferralStatus) = core.referralStatuses.first { it.value == v }.word

    /** Most severe first (the core lists severities least to most severe). */
    fun severityRank(v: Severity): Int = core.severities.indexOfFirst { it.value == v }
}
