#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# formatting, clippy, every Rust test, the Python bindings smoke test and
# journey (against a real server), the Kotlin journey on the JVM, and a
# compile check of the Swift C header.
# Installs what it needs on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "Python bindings smoke test"
# Reuse what the tests just built rather than compiling the library again.
cargo build --workspace --locked -q
scripts/gen-bindings.sh debug --no-build
PYTHONPATH=build/bindings/python python3 bindings/tests/python/smoke.py

step "Python bindings journey (enrol and sync against a real server)"
OUTREACH_SERVER_BIN="$PWD/target/debug/outreach-server" PYTHONPATH=build/bindings/python \
  python3 bindings/tests/python/journey.py

step "Kotlin bindings journey on the JVM (kotlinc from npm, JNA from Debian)"
scripts/kotlin-test.sh

step "Android app's Kotlin layer (android/outreach) on the JVM"
scripts/android-test.sh

step "App sources parse (tree-sitter Kotlin and Swift grammars from PyPI)"
if ! PYTHONPATH=build/tools/py python3 -c 'import tree_sitter, tree_sitter_kotlin, tree_sitter_swift' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --target build/tools/py \
    tree-sitter==0.26.1 tree-sitter-kotlin==1.1.0 tree-sitter-swift==0.7.4
fi
PYTHONPATH=build/tools/py python3 scripts/parse-apps.py

step "Swift bindings: the generated C header compiles"
# No Swift compiler here; the header is what the XCFramework exposes to Swift.
# gcc lacks clang's nullability qualifiers, so they are defined away.
printf '#include "outreach_ffiFFI.h"\nint main(void) { return 0; }\n' |
  cc -fsyntax-only -Wall -Werror -D_Nonnull= -D_Nullable= -I build/bindings/swift -x c - &&
  echo "Swift C header compiles"
