#!/usr/bin/env bash
# A walk-through end to end on throwaway data: a sync server on loopback, a
# practitioner's phone and her supervisor's (two vaults driven by the
# `outreach` shell). The practitioner records a visit offline, syncs; the
# supervisor syncs, sees it and signs it off; the sign-off comes back.
# Each command is printed as it runs. Pass a folder to keep everything.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p outreach-cli -p outreach-server
bin="$PWD/target/release/outreach"
server_bin="$PWD/target/release/outreach-server"

root="${1:-$(mktemp -d)}"
mkdir -p "$root"
export OUTREACH_PASSPHRASE="demo passphrase, not for real use"
run() { printf '\n$ outreach'; printf ' %q' "$@"; printf '\n'; "$bin" "$@"; }
admin() { printf '\n$ outreach-server'; printf ' %q' "$@"; printf '\n'; "$server_bin" "$@" --data "$root/server"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '\n$ outreach-server serve --listen 127.0.0.1:%s --data %q &\n' "$port" "$root/server"
"$server_bin" serve --listen "127.0.0.1:$port" --data "$root/server" >"$root/server.out" 2>"$root/server.log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q Listening "$root/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$root/server.out"

sam_code=$("$server_bin" invite --name "Sam Jones" --role practitioner --team North --data "$root/server" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
printf '\n$ outreach-server invite --name "Sam Jones" --role practitioner --team North\n(code %s)\n' "$sam_code"
ali_code=$("$server_bin" invite --name "Ali Khan" --role supervisor --team North --data "$root/server" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
printf '\n$ outreach-server invite --name "Ali Khan" --role supervisor --team North\n(code %s)\n' "$ali_code"

visit_at=$(date -u -d '3 days ago' +%Y-%m-%dT10:00:00Z)
next_due=$(date -u -d '4 days' +%Y-%m-%dT10:00:00Z)
target=$(date -u -d '3 months' +%Y-%m-%d)

printf '\n# Ali, the supervisor, set up at base earlier\n'
export OUTREACH_VAULT="$root/ali"
run init --practitioner "Ali Khan" --team North
run enroll --server "http://127.0.0.1:$port" --code "$ali_code"

printf '\n# Sam, the practitioner, on her phone\n'
export OUTREACH_VAULT="$root/sam"
run init --practitioner "Sam Jones" --team North
run enroll --server "http://127.0.0.1:$port" --code "$sam_code"
case_id=$("$bin" case new --name "Jasmine" --dob 1996-04-02 --text-ok no --voicemail-ok no --phase engagement)
printf '\n$ outreach case new --name Jasmine --dob 1996-04-02 --text-ok no --voicemail-ok no --phase engagement\n%s\n' "$case_id"
visit_id=$("$bin" visit add "$case_id" --at "$visit_at" --kind home --outcome completed \
  --note "Talked through the tenancy letter; she wants to call the housing officer herself." \
  --her-words "I want to sort it myself this time" --wellbeing 6 --domain housing \
  --next "$next_due")
printf '\n$ outreach visit add %s --kind home --outcome completed --note "Talked through the tenancy letter…" …\n%s\n' "$case_id" "$visit_id"
run goal add "$case_id" --domain housing --text "Keep the tenancy" --target "$target"
run scale add "$case_id" --score 5 --view woman
run concern add "$case_id" --category "domestic abuse" --severity high --text "Ex-partner seen near the flat"
run sync

printf '\n# Ali syncs at base and reviews\n'
export OUTREACH_VAULT="$root/ali"
run sync
run case list
run concern list
run visit sign-off "$case_id" "$visit_id" --comment "Good plan; review the tenancy at supervision"
run sync

printf '\n# Back on Sam'"'"'s phone\n'
export OUTREACH_VAULT="$root/sam"
run sync
run history "$case_id"

admin devices
printf '\nThe server holds only ciphertext: grep finds no trace of the notes in %s\n' "$root/server"
if grep -rq "tenancy" "$root/server"; then echo "UNEXPECTED: plaintext found"; exit 1; else echo "(none found)"; fi
printf '\nEverything kept in %s (passphrase in OUTREACH_PASSPHRASE above).\n' "$root"
