import Foundation
import OutreachFFI
import OutreachKit

// Every word the app shows comes from Localizable.strings (Resources/
// en.lproj), the same keys as Android's strings.xml; `scripts/check-swift.py`
// fails if a key used here is missing there, or if a word of the core's
// vocabulary has no label.

/// A string of Localizable.strings; `args` fill `%1$@`, `%2$@`….
func tr(_ key: String, _ args: String...) -> String {
    let format = NSLocalizedString(key, comment: "")
    return args.isEmpty ? format : String(format: format, arguments: args)
}

/// A word of the core's vocabulary in the phone's language; a word new to
/// the core without a label yet shows in plain form.
func vocabLabel(_ list: String, _ word: String) -> String {
    let key = Vocab.key(list, word)
    let text = NSLocalizedString(key, comment: "")
    return text == key ? Vocab.fallback(word) : text
}

func label(_ v: ContactKind) -> String { vocabLabel("contact_kinds", Vocab.word(v)) }
func label(_ v: Outcome) -> String { vocabLabel("outcomes", Vocab.word(v)) }
func label(_ v: Domain) -> String { vocabLabel("domains", Vocab.word(v)) }
func label(_ v: Severity) -> String { vocabLabel("severities", Vocab.word(v)) }
func label(_ v: ConcernStatus) -> String { vocabLabel("concern_statuses", Vocab.word(v)) }
func label(_ v: ExitReason) -> String { vocabLabel("exit_reasons", Vocab.word(v)) }
func label(_ v: WorryKind) -> String { vocabLabel("worry_kinds", Vocab.word(v)) }
func label(_ v: SosColumn) -> String { vocabLabel("sos_columns", Vocab.word(v)) }
func label(_ v: ReviewState) -> String { vocabLabel("review_states", Vocab.word(v)) }
func label(_ v: ScaleView) -> String { vocabLabel("scale_views", Vocab.word(v)) }
func label(_ v: MeetingKind) -> String { vocabLabel("meeting_kinds", Vocab.word(v)) }
func label(_ v: ReferralStatus) -> String { vocabLabel("referral_statuses", Vocab.word(v)) }
func label(_ v: Phase) -> String { vocabLabel("phases", Vocab.word(v)) }

/// A safe-contact rule in the phone's language.
func ruleText(_ rule: SafeRule) -> String {
    switch rule {
    case .texts(let ok): return tr(ok ? "rule_texts_ok" : "rule_no_texts")
    case .voicemail(let ok): return tr(ok ? "rule_voicemail_ok" : "rule_no_voicemail")
    case .codeWord(let word): return tr("rule_code_word", word)
    case .notes(let text): return text
    }
}
