#!/usr/bin/env bash
# Fuzzes every decoder of untrusted bytes (issue 10) for a bounded time:
# each target in fuzz/ (see fuzz/README.md) runs SECONDS (default 20) from a
# copy of its committed seed corpus, so runs never grow the repository.
#
#   scripts/fuzz.sh [SECONDS]
#
# Installs cargo-fuzz if missing (idempotent). Only the stable toolchain is
# available here, so the targets are built without a sanitizer (`-s none`,
# libFuzzer coverage only; our code has no `unsafe`). Exits non-zero if any
# target panics, times out or runs out of memory; the input that did is
# printed as hex and kept in fuzz/artifacts/<target>/ to replay with
#   cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
# The last line is `fuzz: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-20}"
RSS_LIMIT_MB=2048     # per target process; a bigger allocation is a failure
TIMEOUT_SECS=10       # one input taking longer is a failure (a hang)
CARGO_FUZZ_VERSION=0.13.2

case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The fuzz crate is its own workspace; its lock file is the main one (so the
# fuzzed automerge, postcard, hpke… are exactly the versions the app ships),
# plus what libFuzzer needs, which cargo adds.
cp Cargo.lock fuzz/Cargo.lock

passed=0
failed=0
targets=$(cargo fuzz list)
echo "fuzz: building $(echo "$targets" | wc -l) targets"
if ! cargo fuzz build -s none; then
  echo "fuzz: build failed"
  echo "fuzz: 0 passed, $(echo "$targets" | wc -l) failed"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in $targets; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  seeds=$(find "$corpus" -type f | wc -l)
  log="$work/$target.log"
  before=$(ls "fuzz/artifacts/$target" | sort)
  start=$(date +%s)
  if RUST_BACKTRACE=1 cargo fuzz run -s none "$target" "$corpus" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" \
      -timeout="$TIMEOUT_SECS" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz: $target ok: ${runs:-?} inputs in $(( $(date +%s) - start )) s from $seeds seeds"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "fuzz: $target FAILED:"
    # The panic (or libFuzzer's reason: timeout, out of memory) and the
    # backtrace's frames outside the standard library and libFuzzer.
    { grep -m1 -A1 'panicked at' "$log" || true; } | sed 's/^/  | /'
    { grep -E 'ERROR: libFuzzer|SUMMARY: libFuzzer' "$log" || true; } | sed 's/^/  | /'
    { grep -E '^ +[0-9]+: ' "$log" || true; } |
      grep -vE ' (core|alloc|std|__rustc|anyhow|cargo_fuzz)::| _ZN6fuzzer|__libc_|_start$|main$| [0-9]+: (try_fold|try_for_each|from_iter|spec_|extend_|collect|next|unwrap|do_call|catch_unwind|try_process)' |
      head -25 | sed 's/^/  | /'
    for f in $(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$target" | sort)); do
      echo "fuzz: $target input fuzz/artifacts/$target/$f ($(wc -c <"fuzz/artifacts/$target/$f") bytes), hex:"
      od -An -v -tx1 "fuzz/artifacts/$target/$f" | tr -d ' \n' | fold -w 128 | sed 's/^/  /'
      echo
    done
  fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
