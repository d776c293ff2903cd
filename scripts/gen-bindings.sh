#!/usr/bin/env bash
# Generates Kotlin, Swift and Python bindings from the built outreach-ffi
# library (uniffi library mode, using the workspace's pinned uniffi).
#
#   scripts/gen-bindings.sh [debug|release] [--no-build]   (default: debug)
#
# --no-build uses the library and generator already in target/ (the test
# command builds them with the rest of the workspace).
#
# Output: build/bindings/{kotlin,swift,python}. The Python folder also gets a
# copy of the host library so `import outreach_ffi` works from there; the
# Swift folder holds the .swift file plus the C header and modulemap an
# XCFramework needs (building one requires macOS and Xcode).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-debug}"
flag=()
[ "$profile" = release ] && flag=(--release)

if [ "${2:-}" != --no-build ]; then
  # Two separate builds on purpose: built together, cargo would unify uniffi's
  # features and link the whole generator (its "cli" feature) into the library.
  cargo build -q "${flag[@]}" -p outreach-ffi
  cargo build -q "${flag[@]}" -p uniffi-bindgen
fi
lib="target/$profile/liboutreach_ffi.so"
[ -f "$lib" ] || lib="target/$profile/liboutreach_ffi.dylib"
bindgen="target/$profile/uniffi-bindgen"
out="build/bindings"
rm -rf "$out"
for lang in kotlin swift python; do
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$out/$lang" --no-format >/dev/null
done
cp "$lib" "$out/python/"
echo "bindings written to $out (kotlin, swift, python) from $lib"
