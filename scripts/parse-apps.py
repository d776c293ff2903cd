"""Parses every Kotlin file under android/ and every Swift file under ios/
with the tree-sitter grammars from PyPI, and every Android XML resource with
Python's XML parser, and reports syntax errors (the closest check of the app
code possible without Android Studio or Xcode). Prints one line per file and
ends with "N passed, N failed"."""

import pathlib
import sys
import xml.etree.ElementTree as ET

import tree_sitter
import tree_sitter_kotlin
import tree_sitter_swift

ROOT = pathlib.Path(__file__).resolve().parent.parent
LANGS = {
    ".kt": tree_sitter.Language(tree_sitter_kotlin.language()),
    ".swift": tree_sitter.Language(tree_sitter_swift.language()),
}


def first_error(node):
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        found = first_error(child)
        if found is not None:
            return found
    return None


def main():
    files = sorted(
        [p for p in (ROOT / "android").rglob("*.kt")]
        + [p for p in (ROOT / "android").rglob("*.kts")]
        + [p for p in (ROOT / "ios").rglob("*.swift")]
    )
    passed = failed = 0
    for path in files:
        lang = LANGS[".kt" if path.suffix in (".kt", ".kts") else ".swift"]
        tree = tree_sitter.Parser(lang).parse(path.read_bytes())
        err = first_error(tree.root_node) if tree.root_node.has_error else None
        rel = path.relative_to(ROOT)
        if err is None:
            passed += 1
            print(f"ok   {rel}")
        else:
            failed += 1
            print(f"FAIL {rel}:{err.start_point[0] + 1}:{err.start_point[1] + 1}: syntax error near {err.text[:40]!r}")
    for path in sorted((ROOT / "android").rglob("*.xml")):
        rel = path.relative_to(ROOT)
        if "build" in rel.parts:
            continue
        try:
            ET.parse(path)
            passed += 1
            print(f"ok   {rel}")
        except ET.ParseError as e:
            failed += 1
            print(f"FAIL {rel}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not files else 0


sys.exit(main())
