#!/usr/bin/env python3
"""Runs the README's walk-throughs as a reader would paste them.

    scripts/readme-check.py [--bin-dir DIR] [--keep]

Takes every indented code block that follows a `<!-- readme-check: … -->`
marker in README.md, in order, and runs them all as ONE bash script
(`set -euo pipefail`, so shell variables carry from one command to the next,
as when pasted into one terminal) in a throwaway directory that is also
`HOME` (so `~/outreach-vault` is throwaway too). It fails — printing the
README line and the output — on the first command that fails.

The only substitutions (so the README can never drift from the code):
  * lines starting with `cargo ` are skipped: the binaries come from
    --bin-dir (default target/debug, which the test command has built), and
    the README's `$PWD/target/release` is a link to that folder;
  * `127.0.0.1:8787` (the server's default address) becomes a free loopback
    port, so the check never collides with a server already running;
  * the passphrase prompts are answered through the environment:
    OUTREACH_PASSPHRASE, and OUTREACH_NEW_PASSPHRASE (a different one, for
    `passphrase change`: the README must carry the new one on). OUTREACH_VAULT and OUTREACH_SERVER_DATA are unset.
`jq` is installed if missing (the walk-throughs use it to pick ids out of
`--json` output).
"""

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!--\s*readme-check:")
TIMEOUT_S = 900


def blocks(readme: Path):
    """(first README line number, [(line number, text)]) of each marked block."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    found = []
    i = 0
    while i < len(lines):
        if not MARKER.match(lines[i]):
            i += 1
            continue
        i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
            body.append((i + 1, lines[i][4:]))
            i += 1
        if not any(t.strip() for _, t in body):
            sys.exit(f"README.md line {i}: a readme-check marker without an indented block after it")
        found.append(body)
    return found


def commands(body):
    """Logical commands (backslash continuations joined) with their first line number."""
    out = []
    pending, start = [], None
    for number, text in body:
        if not pending and (not text.strip() or text.lstrip().startswith("#")):
            continue
        if start is None:
            start = number
        pending.append(text)
        if text.rstrip().endswith("\\"):
            continue
        out.append((start, "\n".join(pending)))
        pending, start = [], None
    if pending:
        out.append((start, "\n".join(pending)))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_jq():
    if shutil.which("jq"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "jq"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default=str(ROOT / "target" / "debug"))
    ap.add_argument("--keep", action="store_true", help="keep the throwaway directory")
    args = ap.parse_args()
    bin_dir = Path(args.bin_dir).resolve()
    for exe in ("outreach", "outreach-server"):
        if not (bin_dir / exe).is_file():
            sys.exit(f"{bin_dir / exe} is missing: build the workspace first (cargo build)")
    ensure_jq()

    port = free_port()
    script = [
        "set -euo pipefail",
        # The server the walk-through starts in the background never outlives it.
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
        "trap 'echo \"README.md line $__line failed (exit $?)\" >&2' ERR",
    ]
    count = 0
    skipped = 0
    for body in blocks(ROOT / "README.md"):
        for number, cmd in commands(body):
            if cmd.lstrip().startswith("cargo "):
                skipped += 1
                continue
            cmd = cmd.replace("127.0.0.1:8787", f"127.0.0.1:{port}")
            script.append(f"__line={number}")
            script.append(f"printf '\\n$ %s\\n' {shlex.quote(cmd)}")
            script.append(cmd)
            count += 1
    if count == 0:
        sys.exit("README.md has no readme-check blocks")

    work = Path(tempfile.mkdtemp(prefix="readme-check."))
    (work / "target").mkdir()
    (work / "target" / "release").symlink_to(bin_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        HOME=str(work),
        OUTREACH_PASSPHRASE="readme check passphrase",
        OUTREACH_NEW_PASSPHRASE="readme check new passphrase",
    )
    (work / "walk-through.sh").write_text("\n".join(script) + "\n")
    log_path = work / "output.log"
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run(
                ["bash", "walk-through.sh"],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=TIMEOUT_S,
            ).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    if rc != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-60:]
        print("\n".join(tail))
        print(f"README check FAILED ({rc}); everything it ran: {log_path}")
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"README walk-throughs: {count} commands ran in order and succeeded "
        f"({skipped} cargo build line(s) skipped)"
    )


if __name__ == "__main__":
    main()
