#!/usr/bin/env bash
# Builds liboutreach_ffi.so for Android (arm64-v8a, armeabi-v7a, x86_64) with
# cargo-ndk, into a jniLibs tree an Android module can use, and generates the
# Kotlin bindings beside it.
#
# NEEDS the Android NDK (ANDROID_NDK_HOME, r26 or newer) — not available on
# the Linux CI machines, where the NDK linker and C cross-compilers (bundled
# SQLite) are missing. What CI does check here: the Kotlin bindings compile
# and their journey test runs on the JVM against the host build
# (scripts/kotlin-test.sh).
#
#   ANDROID_NDK_HOME=... scripts/build-android.sh   → build/android/jniLibs/<abi>/liboutreach_ffi.so
#                                                     build/android/kotlin/uniffi/outreach_ffi/outreach_ffi.kt
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${ANDROID_NDK_HOME:-}" ] && [ -d "$ANDROID_NDK_HOME" ] ||
  { echo "error: set ANDROID_NDK_HOME to an installed Android NDK (r26+)" >&2; exit 2; }
command -v cargo-ndk >/dev/null || cargo install --locked cargo-ndk
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android

out=build/android
rm -rf "$out" && mkdir -p "$out/jniLibs"
# API 26 (Android 8): the Keystore features the app relies on.
cargo ndk --platform 26 -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$out/jniLibs" \
  build --release --locked -p outreach-ffi

cargo build --release --locked -p outreach-ffi
cargo build --release --locked -p uniffi-bindgen
target/release/uniffi-bindgen generate --library target/release/liboutreach_ffi.so \
  --language kotlin --no-format --out-dir "$out/kotlin"
echo "built $out/jniLibs/*/liboutreach_ffi.so and $out/kotlin"
