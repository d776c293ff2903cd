#!/usr/bin/env bash
# Compiles the Android app's plain-Kotlin layer (android/outreach: repository,
# state holders, error messages — no Android imports) against the generated
# bindings, and runs its tests on the JVM against the host-built core and a
# real outreach-server. Same tools as scripts/kotlin-test.sh, and the same
# compiled bindings (scripts/kotlin-bindings.sh installs and compiles them if
# needed). Expects the debug build and generated bindings.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kotlin-bindings.sh
lib="$PWD/build/tools/kotlin-2.4.20/node_modules/kotlin-compiler/lib"
kotlinc="$PWD/build/tools/kotlin-2.4.20/node_modules/kotlin-compiler/bin/kotlinc"
cp="/usr/share/java/jna.jar:$lib/kotlinx-coroutines-core-jvm.jar:$PWD/build/kotlin/bindings.jar"
out="$PWD/build/android-outreach"
mkdir -p "$out"
# The tests' UI-thread guard: a delegating vault generated from the bindings.
python3 scripts/kotlin-guarded-vault.py build/bindings/kotlin/uniffi/outreach_ffi/outreach_ffi.kt "$out/GuardedVault.kt"
"$kotlinc" -nowarn -cp "$cp" -d "$out/tests.jar" "$out/GuardedVault.kt" \
  $(find android/outreach/src/main/kotlin android/outreach/src/test/kotlin -name '*.kt')
OUTREACH_SERVER_BIN="$PWD/target/debug/outreach-server" \
  java -Djna.library.path="$PWD/target/debug" -cp "$out/tests.jar:$cp:$lib/kotlin-stdlib.jar" outreach.shell.ShellTestsKt
