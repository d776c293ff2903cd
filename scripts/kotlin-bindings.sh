#!/usr/bin/env bash
# Installs the Kotlin tools (kotlinc from npm, pinned; a JDK and JNA from
# Debian) if missing, and compiles the generated Kotlin bindings once into
# build/kotlin/bindings.jar — reused by scripts/kotlin-test.sh and
# scripts/android-test.sh until the generated source changes (compiling the
# 10,000-line bindings file is most of a kotlinc run). Idempotent.
# Expects the generated bindings (scripts/gen-bindings.sh).
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

src=build/bindings/kotlin/uniffi/outreach_ffi/outreach_ffi.kt
[ -f "$src" ] || { echo "no generated bindings: run scripts/gen-bindings.sh first" >&2; exit 1; }
out="$PWD/build/kotlin"
mkdir -p "$out"
sum="$( (sha256sum "$src"; echo "$KOTLIN_VERSION") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$out/bindings.jar" ] || [ "$(cat "$out/bindings.sha256" 2>/dev/null)" != "$sum" ]; then
  rm -f "$out/bindings.sha256"
  "$kotlinc" -nowarn -cp "$jna:$lib/kotlinx-coroutines-core-jvm.jar" -d "$out/bindings.jar" "$src"
  echo "$sum" >"$out/bindings.sha256"
fi
