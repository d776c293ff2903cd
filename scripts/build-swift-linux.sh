#!/usr/bin/env bash
# Builds OutreachKit's non-UI target (OutreachCore: Core.run, Messages,
# Vocab, Dates, the draft, visit and report helpers) with `swift build` on
# Linux against the host's liboutreach_ffi.so, then runs its tests
# (ios/OutreachKit/Tests/OutreachCoreTests, against the real core).
#
#   scripts/build-swift-linux.sh [debug|release] [--no-build] [--no-test]
#
# Generates the bindings (scripts/gen-bindings.sh; --no-build uses what is in
# target/ already) into ios/OutreachKit/Generated/ (not in git):
#   OutreachFFI/outreach_ffi.swift         the generated Swift (target OutreachFFI)
#   outreach_ffiFFI/{module.modulemap,outreach_ffiFFI.h}
#                                          the C side as a system library
#   lib/liboutreach_ffi.so                 linked with -L, found at run time by rpath
# The iOS UI (SwiftUI screens, @MainActor stores, Keychain) needs Xcode and
# is not built here. Needs a Swift 6 toolchain (the generated records are
# `Sendable` only with a Swift 6 compiler, and `Core.run` requires it).
# WRITTEN, NEVER RUN on the project's machines: they have no Swift compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || { echo "error: swift is not installed (https://www.swift.org/install/linux/); nothing built" >&2; exit 2; }

profile=debug build=1 test=1
for arg in "$@"; do
  case "$arg" in
    debug|release) profile="$arg" ;;
    --no-build) build=0 ;;
    --no-test) test=0 ;;
    *) echo "usage: scripts/build-swift-linux.sh [debug|release] [--no-build] [--no-test]" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then scripts/gen-bindings.sh "$profile"; else scripts/gen-bindings.sh "$profile" --no-build; fi

pkg=ios/OutreachKit
gen="$pkg/Generated"
rm -rf "$gen/OutreachFFI" "$gen/outreach_ffiFFI" "$gen/lib"
mkdir -p "$gen/OutreachFFI" "$gen/outreach_ffiFFI" "$gen/lib"
cp build/bindings/swift/outreach_ffi.swift "$gen/OutreachFFI/"
cp build/bindings/swift/outreach_ffiFFI.h "$gen/outreach_ffiFFI/"
# The generated module map names Apple's modules (`use "Darwin"`); a system
# library on Linux needs its own, which also links the library.
cat > "$gen/outreach_ffiFFI/module.modulemap" <<'MAP'
module outreach_ffiFFI {
    header "outreach_ffiFFI.h"
    link "outreach_ffi"
    export *
}
MAP
cp "target/$profile/liboutreach_ffi.so" "$gen/lib/"

lib="$(cd "$gen/lib" && pwd)"
flags=(--package-path "$pkg" -c "$profile" -Xlinker -L"$lib" -Xlinker -rpath -Xlinker "$lib")
swift build "${flags[@]}" --target OutreachCore
if [ "$test" = 1 ]; then
  # The tests open a vault in a temporary folder (Argon2id: a second or so each).
  LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" swift test "${flags[@]}"
fi
echo "built OutreachCore ($profile) against $lib/liboutreach_ffi.so"
