"""Checks of the iOS sources that need no Swift compiler (there is none on
the project's machines), against the generated Swift bindings and the core:

  messages    OutreachKit's Messages names every case of the generated
              OutreachError enum (and has no `default`), so every error the
              mobile API can return has its own words.
  vocabulary  every word of the core's vocabulary (read through the Python
              bindings: the same core call) has a label in the app's
              Localizable.strings; OutreachKit's Vocab maps every list of the
              generated Vocabulary record; no Swift source lists a vocabulary
              itself (an array of enum cases, `allCases`).
  strings     every key the app passes to tr() is in Localizable.strings,
              and no screen shows a hard-coded English title.
  main actor  every blocking call on a vault (an OutreachVault method that is
              not `async`, OutreachVault.open / create) is inside a
              `Core.run { }` or `Task.detached { }` closure, never on the
              main actor.
  drafts      every form the generated FormKind names has its label key in
              FormDrafts.labelKey and its words in Localizable.strings.
  layout      the OutreachCore target (the non-UI code, built on Linux by
              scripts/build-swift-linux.sh) imports only Foundation and the
              bindings — no SwiftUI, UIKit, Combine, Security,
              LocalAuthentication or other Apple-only framework — and uses
              no ObservableObject / @Published; every path in Package.swift
              is inside the package (SwiftPM refuses one outside).

    PYTHONPATH=build/bindings/python python3 scripts/check-swift.py

Prints one line per check and ends with "N passed, N failed".
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINDINGS = ROOT / "build/bindings/swift/outreach_ffi.swift"
PACKAGE = ROOT / "ios/OutreachKit"
KIT = PACKAGE / "Sources/OutreachKit"
CORE = PACKAGE / "Sources/OutreachCore"
APP = ROOT / "ios/OutreachApp/Sources"
STRINGS = ROOT / "ios/OutreachApp/Resources/en.lproj/Localizable.strings"
VOCAB_ENUMS = ("Phase|Domain|GoalStatus|ActionOwner|ContactKind|Outcome|SignOffDecision|ReviewState|ExitReason|"
               "WorryKind|SosStatus|Severity|ConcernStatus|ScaleView|SosColumn|MeetingKind|EventKind|ReferralStatus")

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"))


def sources():
    return sorted(list(KIT.rglob("*.swift")) + list(CORE.rglob("*.swift")) + list(APP.rglob("*.swift")))


def code_only(text):
    """The text with comments and string literals blanked (same length),
    so positions still match; string contents become spaces."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out[i:j] = [c if c == "\n" else " " for c in text[i:j]]
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out[i + 1:j] = " " * (j - i - 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


ENTRY = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*=\s*"(?:[^"\\]|\\.)*";$')


def string_keys(path):
    """The keys of a .strings file; every line that is not blank or a
    comment must be one `"key" = "value";` entry."""
    keys, bad = set(), []
    in_comment = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if in_comment or line.startswith("/*"):
            in_comment = not line.endswith("*/")
            continue
        if not line or line.startswith("//"):
            continue
        m = ENTRY.match(line)
        if m:
            keys.add(m.group(1))
        else:
            bad.append(number)
    check(f"strings: {path.relative_to(ROOT)} parses ({len(keys)} entries)", keys and not bad, f"bad lines {bad}")
    return keys


def generated_cases(swift, enum):
    m = re.search(r"enum " + enum + r"\b[^{]*\{(.*?)\n\s*(?:public var errorDescription|\}\n)", swift, re.S)
    return re.findall(r"^\s*case (\w+)", m.group(1), re.M) if m else []


def check_messages(swift):
    cases = generated_cases(swift, "OutreachError")
    text = (CORE / "Messages.swift").read_text(encoding="utf-8")
    code = code_only(text)
    handled = set()
    for m in re.finditer(r"^\s*case ([^:]+):", code, re.M):
        handled.update(re.findall(r"\.(\w+)", m.group(1)))
    missing = [c for c in cases if c not in handled]
    check(f"messages: Messages.swift names each of the {len(cases)} OutreachError cases", len(cases) >= 16 and not missing,
          f"missing {missing}")
    check("messages: no default branch (a new error must get its own words)", not re.search(r"\bdefault\s*:", code))


def check_vocabulary(swift, keys):
    import outreach_ffi  # the Python bindings of the same core

    vocab = outreach_ffi.vocabulary()
    lists = {name: [t.word for t in value] for name, value in vars(vocab).items() if isinstance(value, list)}
    missing = [f"vocab_{lst}_{w.replace('-', '_')}" for lst, words in lists.items() for w in words
               if f"vocab_{lst}_{w.replace('-', '_')}" not in keys]
    check(f"vocabulary: every word of the core's {len(lists)} lists has a label in Localizable.strings", lists and not missing,
          f"missing {missing}")
    m = re.search(r"public struct Vocabulary\b[^{]*\{(.*?)\n\s*//", swift, re.S)
    fields = re.findall(r"public var (\w+): \[\w+Term\]", m.group(1)) if m else []
    snake = [re.sub(r"([A-Z])", lambda c: "_" + c.group(1).lower(), f) for f in fields]
    vocab_swift = (CORE / "Vocab.swift").read_text(encoding="utf-8")
    unmapped = [s for s in snake if f'("{s}",' not in vocab_swift]
    check(f"vocabulary: Vocab.swift maps every list of the generated Vocabulary ({len(fields)})",
          len(fields) == len(lists) and not unmapped, f"unmapped {unmapped}")
    copies = []
    for path in sources():
        code = code_only(path.read_text(encoding="utf-8"))
        for pattern in (r"\[\s*(?:" + VOCAB_ENUMS + r")\.\w+\s*,", r"\b(?:" + VOCAB_ENUMS + r")\.allCases\b"):
            copies += [f"{path.relative_to(ROOT)}:{code.count(chr(10), 0, m.start()) + 1}" for m in re.finditer(pattern, code)]
    check("vocabulary: no Swift source lists a vocabulary itself", not copies, f"{copies}")


def call_args(code, text, start):
    """The first argument of the call whose `(` is at `start`, as raw text."""
    depth, i = 0, start
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            break
        i += 1
    return text[start + 1:i]


def check_strings(keys):
    used, unknown, literal = set(), [], []
    titled = r"\b(?:Text|Button|TextField|SecureField|Section|Toggle|Picker|NavigationLink|Label|DatePicker|Stepper)\(\"[A-Za-z]|\.navigationTitle\(\"[A-Za-z]"
    for path in sources():
        text = path.read_text(encoding="utf-8")
        code = code_only(text)
        for m in re.finditer(r"(?<![\w.])tr\(", code):
            for key in re.findall(r'"([^"\\]*)"', call_args(code, text, m.end() - 1)):
                used.add(key)
                if key not in keys:
                    unknown.append(f"{path.relative_to(ROOT)}: {key}")
        if path.is_relative_to(APP):
            literal += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}" for m in re.finditer(titled, text)]
    check(f"strings: every tr() key is in Localizable.strings ({len(used)} keys)", used and not unknown, f"missing {unknown}")
    check("strings: no hard-coded titles in the screens", not literal, f"{literal}")


def check_main_actor(swift):
    m = re.search(r"public protocol OutreachVaultProtocol\b.*?\n\}\n", swift, re.S)
    body = m.group(0) if m else ""
    methods = re.findall(r"^\s*func (\w+)\([^)]*\)([^\n]*)", body, re.M)
    asynchronous = {name for name, rest in methods if "async" in rest}
    blocking = {name for name, _ in methods} - asynchronous
    check(f"main actor: the generated OutreachVault has {len(blocking)} blocking and {len(asynchronous)} async methods",
          len(blocking) > 20 and "sync" in asynchronous and "unlock" in blocking)
    offenders, calls = [], 0
    for path in sources():
        text = path.read_text(encoding="utf-8")
        code = code_only(text)
        safe, stack = [], []
        for i, c in enumerate(code):
            if c == "{":
                before = code[max(0, i - 80):i]
                stack.append((i, bool(re.search(r"(?:\bCore\.run|\bTask\.detached(?:\([^()]*\))?)\s*$", before))))
            elif c == "}" and stack:
                start, protected = stack.pop()
                if protected:
                    safe.append((start, i))
        pattern = r"(?<![\w.])(?:vault|v|\$0)\s*\??\s*\.\s*(\w+)\s*\(|\bOutreachVault\s*\.\s*(open|create)\s*\("
        for m in re.finditer(pattern, code):
            name = m.group(1) or m.group(2)
            if m.group(1) and name not in blocking:
                continue
            calls += 1
            if not any(a < m.start() < b for a, b in safe):
                offenders.append(f"{path.relative_to(ROOT)}:{code.count(chr(10), 0, m.start()) + 1} {name}")
    check(f"main actor: every blocking core call ({calls}) runs in Core.run / Task.detached", calls > 0 and not offenders,
          f"{offenders}")


def check_drafts(swift, keys):
    kinds = generated_cases(swift, "FormKind")
    text = code_only((CORE / "FormDrafts.swift").read_text(encoding="utf-8"))
    raw = (CORE / "FormDrafts.swift").read_text(encoding="utf-8")
    named = dict(re.findall(r'case \.(\w+)\?: return "(\w+)"', raw))
    revises = re.findall(r'\b(?:dangerStatement|sosEntry) = "(\w+)"', raw)
    missing = [k for k in kinds if k not in named]
    unworded = [key for key in list(named.values()) + [f"draft_form_revision_{r}" for r in revises] if key not in keys]
    check(f"drafts: FormDrafts.labelKey names each of the {len(kinds)} generated FormKind cases, each worded",
          len(kinds) >= 6 and len(revises) == 2 and not missing and not unworded and not re.search(r"\bdefault\s*:", text),
          f"missing {missing}, no words for {unworded}")


APPLE_ONLY = {"SwiftUI", "UIKit", "AppKit", "Combine", "Security", "LocalAuthentication", "BackgroundTasks",
              "UserNotifications", "CryptoKit", "os", "Darwin", "ObjectiveC"}


def check_layout():
    files = sorted(CORE.rglob("*.swift"))
    bad = []
    for path in files:
        code = code_only(path.read_text(encoding="utf-8"))
        for m in re.finditer(r"^[ \t]*(?:@_exported[ \t]+|@testable[ \t]+)?import[ \t]+(?:(?:struct|class|enum|func|typealias|protocol|var|let)[ \t]+)?(\w+)", code, re.M):
            if m.group(1) not in ("Foundation", "OutreachFFI"):
                bad.append(f"{path.relative_to(ROOT)} imports {m.group(1)}")
        for word in ("ObservableObject", "@Published", "DispatchQueue.main"):
            if word in code:
                bad.append(f"{path.relative_to(ROOT)} uses {word}")
    check(f"layout: OutreachCore ({len(files)} files) imports only Foundation and the bindings, no Apple-only framework",
          len(files) >= 5 and not bad, f"{bad}")
    manifest = (PACKAGE / "Package.swift").read_text(encoding="utf-8")
    paths = re.findall(r'\bpath:\s*"([^"]*)"', manifest)
    outside = [q for q in paths if q.startswith("/") or ".." in pathlib.PurePosixPath(q).parts]
    unknown = [q for q in paths if not q.startswith("Generated/") and not (PACKAGE / q).is_dir()]
    check(f"layout: the {len(paths)} target paths in Package.swift are inside the package and exist (or are generated)",
          len(paths) >= 5 and not outside and not unknown, f"outside {outside}, missing {unknown}")


def main():
    swift = BINDINGS.read_text(encoding="utf-8")
    keys = string_keys(STRINGS)
    check_messages(swift)
    check_vocabulary(swift, keys)
    check_strings(keys)
    check_main_actor(swift)
    check_drafts(swift, keys)
    check_layout()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


sys.exit(main())
