#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# formatting, clippy, every Rust test, and the Python bindings smoke test.
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
