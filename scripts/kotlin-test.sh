#!/usr/bin/env bash
# Compiles bindings/tests/kotlin/Journey.kt with the Kotlin compiler from npm
# (`kotlin-compiler`, pinned) against the generated bindings, and runs it on
# the JVM with JNA from Debian's libjna-java, against the host-built library
# and a real outreach-server. Installs what it needs (idempotent; see
# scripts/kotlin-bindings.sh, which also compiles the bindings once for this
# and scripts/android-test.sh). Expects the debug build and generated
# bindings (scripts/test.sh makes both).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/kotlin-bindings.sh
lib="$PWD/build/tools/kotlin-2.4.20/node_modules/kotlin-compiler/lib"
kotlinc="$PWD/build/tools/kotlin-2.4.20/node_modules/kotlin-compiler/bin/kotlinc"
out="$PWD/build/kotlin"
cp="/usr/share/java/jna.jar:$lib/kotlinx-coroutines-core-jvm.jar:$out/bindings.jar"
"$kotlinc" -nowarn -cp "$cp" -d "$out/journey.jar" bindings/tests/kotlin/Journey.kt
OUTREACH_SERVER_BIN="$PWD/target/debug/outreach-server" \
  java -Djna.library.path="$PWD/target/debug" -cp "$out/journey.jar:$cp:$lib/kotlin-stdlib.jar" JourneyKt
