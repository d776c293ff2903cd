#!/usr/bin/env bash
# The main job on an embedded default: builds the `outreach` shell and walks
# through a practitioner's day on a throwaway vault (demo passphrase, demo
# case), printing each command as it goes. Pass a folder to keep the vault.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p outreach-cli
bin="$PWD/target/release/outreach"

dir="${1:-$(mktemp -d)/demo-vault}"
export OUTREACH_VAULT="$dir" OUTREACH_PASSPHRASE="demo passphrase, not for real use"
run() { printf '\n$ outreach'; printf ' %q' "$@"; printf '\n'; "$bin" "$@"; }

visit_at=$(date -u -d '3 days ago' +%Y-%m-%dT10:00:00Z)
next_due=$(date -u -d '4 days' +%Y-%m-%dT10:00:00Z)
target=$(date -u -d '3 months' +%Y-%m-%d)

run init --practitioner "Sam Jones" --team North
case_id=$("$bin" case new --name "Jasmine" --dob 1996-04-02 --text-ok no --voicemail-ok no --phase engagement)
printf '\n$ outreach case new --name Jasmine --dob 1996-04-02 --text-ok no --voicemail-ok no --phase engagement\n%s\n' "$case_id"
run visit add "$case_id" --at "$visit_at" --kind home --outcome completed \
  --note "Talked through the tenancy letter; she wants to call the housing officer herself." \
  --her-words "I want to sort it myself this time" --wellbeing 6 --domain housing \
  --next "$next_due"
run goal add "$case_id" --domain housing --text "Keep the tenancy" --target "$target"
run scale add "$case_id" --score 5 --view woman
run concern add "$case_id" --category "domestic abuse" --severity high --text "Ex-partner seen near the flat"
run case list
run case show "$case_id"
run concern list
run history "$case_id"
printf '\nDemo vault kept in %s (passphrase in OUTREACH_PASSPHRASE above).\n' "$dir"
