#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# formatting, clippy, every Rust test, the README's walk-throughs run as
# pasted, the Python bindings smoke test and journey (against a real server),
# the Kotlin journey and the Android app's Kotlin layer on the JVM, a parse of
# the app sources, a bounded fuzzing run of every decoder of untrusted bytes
# and a compile check of the Swift C header.
# Installs what it needs on a fresh machine (idempotent), Chromium and
# chromedriver for the console's browser test and PostgreSQL for the
# server's second backend included.
#
# The workspace is compiled once: clippy-driver compiles the workspace's own
# crates (the way `cargo clippy` runs it, warnings denied), so linting happens
# while the tests, binaries and bindings library are built, and every later
# step reuses that build. Dependencies are built once, as a plain build.
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
# The console's browser test (cli/tests/console.rs): Debian's headless
# Chromium and its WebDriver; the test fails rather than skips without them.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
export OUTREACH_REQUIRE_BROWSER=1
# The server's PostgreSQL backend (its contract suite, races and the
# end-to-end sync): Debian's PostgreSQL, run by the tests as a throwaway
# cluster in a temporary directory; the tests fail rather than skip without it.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
# The test cluster runs with TLS on, its certificate made with openssl
# (normally installed with PostgreSQL; checked on its own in case).
command -v openssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl; }
export OUTREACH_REQUIRE_POSTGRES=1
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors), compiling the workspace once"
# The cargo-clippy protocol: clippy-driver as the workspace crates' compiler,
# its arguments in CLIPPY_ARGS. Exported, so every cargo command below (and
# the one the end-to-end harness runs) sees the same build and reuses it.
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# Every target `cargo clippy --all-targets` lints — libraries, binaries and
# test files, as tests and as shipped (the bindings library, the server, the
# shell) — in ONE cargo command, so that one feature resolution serves them
# all: a separate `cargo build` (no dev-dependencies) would compile the core
# and everything above it a second time.
cargo build --workspace --all-targets --locked

step "cargo test"
# The end-to-end tests' harness would otherwise build the binaries again.
export OUTREACH_TEST_BINARIES_BUILT=1
cargo test --workspace --locked

step "README walk-throughs, run as pasted (against a throwaway server)"
python3 scripts/readme-check.py

step "Python bindings smoke test"
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

step "Fuzz the decoders of untrusted bytes (wire messages, sealed values, Automerge from peers)"
# Its own workspace and build flags (libFuzzer coverage): not the clippy build.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS scripts/fuzz.sh 15

step "Swift bindings: the generated C header compiles"
# No Swift compiler here; the header is what the XCFramework exposes to Swift.
# gcc lacks clang's nullability qualifiers, so they are defined away.
# (Two commands, not `&&`: under `set -e` a failure before `&&` would not stop the script.)
printf '#include "outreach_ffiFFI.h"\nint main(void) { return 0; }\n' |
  cc -fsyntax-only -Wall -Werror -D_Nonnull= -D_Nullable= -I build/bindings/swift -x c -
echo "Swift C header compiles"

step "Swift sources checked against the bindings and the core (Messages, vocabulary, strings, main actor)"
# No Swift compiler here either: scripts/check-swift.py compares Messages.swift
# with the generated OutreachError, the app's Localizable.strings with the
# core's vocabulary (through the Python bindings), and fails on a blocking
# vault call outside Core.run / Task.detached.
PYTHONPATH=build/bindings/python python3 scripts/check-swift.py

step "OutreachKit's non-UI target (OutreachCore) with swift build and its tests, if Swift is installed"
# Not on the project's machines (no Swift toolchain): then this says so and moves on.
if command -v swift >/dev/null 2>&1; then
  scripts/build-swift-linux.sh debug --no-build
else
  echo "skipped: swift is not installed (OutreachCore's Linux layout is checked by check-swift.py only)"
fi
