"""A tiny GTP engine for the GTP client's tests: it remembers the points played (no rules, no captures), answers
`genmove` with the first point not yet played in reading order from A1 (or a scripted reply), refuses `play` off the
board, and logs every command it receives.

    python fake_gtp.py [--log FILE] [--script MOVE,MOVE,...] [--exit-at COMMAND] [--silent-at COMMAND]

`--script` replies to the next `genmove`s in order (`resign`, `pass`, `Z9`, ...) before falling back to free
points; `--exit-at` exits without answering when that command arrives, `--silent-at` stops answering.
"""

from __future__ import annotations

import argparse
import sys
import time

LETTERS = "ABCDEFGHJKLMNOPQRST"
KNOWN = ("protocol_version", "name", "version", "known_command", "list_commands", "boardsize", "komi",
         "clear_board", "play", "genmove", "quit")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log")
    parser.add_argument("--script", default="")
    parser.add_argument("--exit-at")
    parser.add_argument("--silent-at")
    args = parser.parse_args()
    script = [move for move in args.script.split(",") if move]
    size, occupied = 19, set()
    log = open(args.log, "a") if args.log else None  # noqa: SIM115 - lives as long as the process
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        if log:
            log.write(line + "\n")
            log.flush()
        number, _, rest = line.partition(" ") if line.split()[0].isdigit() else ("", "", line)
        name, *words = rest.split()
        if name == args.exit_at:
            sys.exit(3)
        if name == args.silent_at:
            time.sleep(60)
        ok, text = True, ""
        if name == "boardsize":
            size, occupied = int(words[0]), set()
        elif name == "clear_board":
            occupied = set()
        elif name == "play":
            vertex = words[1].upper()
            on_board = vertex[:1] in LETTERS[:size] and vertex[1:].isdigit() and 1 <= int(vertex[1:]) <= size
            if vertex != "PASS" and not on_board:
                ok, text = False, "invalid color or coordinate"
            occupied.add(vertex)
        elif name == "genmove":
            if script:
                text = script.pop(0)
            else:
                free = [f"{LETTERS[c]}{r + 1}" for r in range(size) for c in range(size)
                        if f"{LETTERS[c]}{r + 1}" not in occupied]
                text = free[0] if free else "pass"
            occupied.add(text.upper())
        elif name == "known_command":
            text = "true" if words and words[0] in KNOWN else "false"
        elif name == "protocol_version":
            text = "2"
        elif name == "name":
            text = "fake"
        elif name == "quit":
            sys.stdout.write(f"={number}\n\n")
            sys.stdout.flush()
            return
        elif name not in KNOWN:
            ok, text = False, "unknown command"
        sys.stdout.write(f"{'=' if ok else '?'}{number} {text}\n\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
