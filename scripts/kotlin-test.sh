#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the Kotlin compiler from npm
# (`kotlin-compiler`, pinned) and runs bindings/tests/kotlin/Journey.kt on the
# JVM with JNA from Debian's libjna-java, against the host-built library and
# a real outreach-server. Installs what it needs (idempotent). Expects the
# debug build and generated bindings (scripts/test.sh makes both).
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_VERSION=2.4.20
tools="$PWD/build/tools/kotlin-$KOTLIN_VERSION"
kotlinc="$tools/node_modules/kotlin-compiler/bin/kotlinc"
lib="$tools/node_modules/kotlin-compiler/lib"
if [ ! -x "$kotlinc" ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
  npm install --silent --no-audit --no-fund --prefix "$tools" "kotlin-compiler@$KOTLIN_VERSION"
fi
command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq default-jdk-headless; }
jna=/usr/share/java/jna.jar
if [ ! -f "$jna" ]; then
  apt-get update -qq && apt-get install -y -qq libjna-java
fi

out="$PWD/build/kotlin"
mkdir -p "$out"
cp="$jna:$lib/kotlinx-coroutines-core-jvm.jar"
"$kotlinc" -nowarn -cp "$cp" -d "$out/journey.jar" \
  build/bindings/kotlin/uniffi/outreach_ffi/outreach_ffi.kt bindings/tests/kotlin/Journey.kt
OUTREACH_SERVER_BIN="$PWD/target/debug/outreach-server" \
  java -Djna.library.path="$PWD/target/debug" -cp "$out/journey.jar:$cp:$lib/kotlin-stdlib.jar" JourneyKt
