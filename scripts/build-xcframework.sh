#!/usr/bin/env bash
# Builds OutreachFFI.xcframework for iOS (device + simulator, arm64 and
# x86_64 simulator) and generates the Swift bindings beside it.
#
# NEEDS macOS with Xcode and its command-line tools; it cannot run on the
# Linux CI machines (no Apple SDK or linker there). What CI does check here:
# the Swift bindings are generated and their C header compiles.
#
#   scripts/build-xcframework.sh            → build/ios/OutreachFFI.xcframework
#                                              build/ios/Sources/OutreachFFI/outreach_ffi.swift
#
# Both are then copied into ios/OutreachKit/Generated/ (not in git), where
# the OutreachKit package's targets find them: SwiftPM refuses a target path
# outside the package. (Linux, OutreachCore only: scripts/build-swift-linux.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname)" = Darwin ] || { echo "error: building the XCFramework needs macOS with Xcode" >&2; exit 2; }
command -v xcodebuild >/dev/null || { echo "error: xcodebuild not found: install Xcode" >&2; exit 2; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build --release --locked -p outreach-ffi --target "$t"
done

# Swift bindings, header and modulemap from the host build (library mode).
cargo build --release --locked -p outreach-ffi
cargo build --release --locked -p uniffi-bindgen
out=build/ios
rm -rf "$out" && mkdir -p "$out/headers" "$out/Sources/OutreachFFI"
target/release/uniffi-bindgen generate --library target/release/liboutreach_ffi.dylib \
  --language swift --no-format --out-dir "$out/gen"
cp "$out/gen/outreach_ffiFFI.h" "$out/headers/"
# An XCFramework's module map must be called module.modulemap.
cp "$out/gen/outreach_ffiFFI.modulemap" "$out/headers/module.modulemap"
cp "$out/gen/outreach_ffi.swift" "$out/Sources/OutreachFFI/"

# One fat simulator library (arm64 + x86_64), then the framework.
mkdir -p "$out/sim"
lipo -create target/aarch64-apple-ios-sim/release/liboutreach_ffi.a \
  target/x86_64-apple-ios/release/liboutreach_ffi.a -output "$out/sim/liboutreach_ffi.a"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/liboutreach_ffi.a -headers "$out/headers" \
  -library "$out/sim/liboutreach_ffi.a" -headers "$out/headers" \
  -output "$out/OutreachFFI.xcframework"
pkg=ios/OutreachKit/Generated
rm -rf "$pkg/OutreachFFI.xcframework" "$pkg/OutreachFFI"
mkdir -p "$pkg/OutreachFFI"
cp -R "$out/OutreachFFI.xcframework" "$pkg/"
cp "$out/Sources/OutreachFFI/outreach_ffi.swift" "$pkg/OutreachFFI/"
echo "built $out/OutreachFFI.xcframework and $out/Sources/OutreachFFI/outreach_ffi.swift (copied to $pkg)"
