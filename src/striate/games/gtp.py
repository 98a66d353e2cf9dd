"""A Go Text Protocol (GTP 2) client over subprocess pipes, and a `Player` for GNU Go or any other GTP engine.

Why hand-written: GTP is a line protocol of a dozen commands; what a client must get right is small and specific -
responses end with a blank line, `=` means success and `?` failure, an engine can hang or die - and the Python
GTP packages are unmaintained or aimed at writing engines rather than driving them.

GNU Go is Debian's `gnugo` package (`apt-get install gnugo`; the binary lands in /usr/games, which is often not on
PATH, so `find_gnugo` looks there too). `GTPPlayer` runs it as
`gnugo --mode gtp --level N --boardsize S --komi K --chinese-rules` (area scoring, like striate's Go), starts a game
with `boardsize`, `komi`, `clear_board` (and `set_random_seed` when the engine knows it), sends every opponent move
with `play` and asks for its own with `kgs-genmove_cleanup` where the engine knows it (GNU Go does), else `genmove`.
The cleanup variant matters: striate scores the board as it stands (area scoring, no agreement on dead stones), and a
plain `genmove` passes as soon as the engine deems the game settled, leaving the opponent's dead stones to count as
alive - GNU Go then loses won games to a random player. Moves use GTP coordinates, which are striate Go's own text
(`move_text`, `parse_move`: files A-T without I, rank 1 at the bottom, `pass`); `resign` becomes `Resignation`.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from striate.errors import ConfigError, StriateError
from striate.games.base import Game, State
from striate.games.players import BasePlayer, Resignation

_RESPONSE = re.compile(r"([=?])(\d*)\s?(.*)", re.DOTALL)
COLOURS = ("B", "W")  # GTP colour of players 0 and 1


class GTPError(StriateError):
    """A GTP engine could not be started, refused a command, answered too late or exited."""


def find_gnugo() -> str | None:
    """The path of the `gnugo` binary: on PATH, or Debian's /usr/games/gnugo; None when it is not installed."""
    found = shutil.which("gnugo")
    if found:
        return found
    debian = Path("/usr/games/gnugo")
    return str(debian) if debian.is_file() and os.access(debian, os.X_OK) else None


def gnugo_command(level: int = 1, size: int = 9, komi: float = 7.5, executable: str | None = None) -> list[str]:
    """The command line that starts GNU Go as a GTP engine with Chinese (area) rules."""
    if not isinstance(level, int) or not 0 <= level <= 10:
        raise ConfigError(f"Invalid `level` for GNU Go: expected an int from 0 to 10, received {level!r}.")
    executable = executable or find_gnugo()
    if executable is None:
        raise GTPError("GNU Go is not installed: expected `gnugo` on PATH or in /usr/games, found neither; install "
                       "it with `apt-get install gnugo`.")
    return [executable, "--mode", "gtp", "--level", str(level), "--boardsize", str(size), "--komi", f"{komi:g}",
            "--chinese-rules"]


def _stop(process: subprocess.Popen, stderr) -> None:
    """Kill the engine if it still runs, reap it and close its pipes and error file."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout, stderr):
        stream.close()


class GTPClient:
    """One GTP engine process, spoken to over its stdin and stdout.

    Args:
        command: the engine's command line. timeout: seconds to wait for each response.

    Raises:
        GTPError: the engine cannot be started, refuses a command (`? ...`), is silent for `timeout` seconds or exits.
    """

    def __init__(self, command: Sequence[str], timeout: float = 60.0):
        self.command, self.timeout = list(command), timeout
        # stderr goes to a file, not a pipe, so that an engine that talks a lot cannot block; closed in `close`
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=self._stderr, bufsize=0)
        except OSError as error:
            self._stderr.close()
            raise GTPError(f"Cannot start the GTP engine {self.command[0]!r}: expected an executable, received "
                           f"{error.strerror or error}; check the path (GNU Go: `apt-get install gnugo`).") from None
        self._buffer = b""
        self._finalizer = weakref.finalize(self, _stop, self._process, self._stderr)

    def send(self, command: str) -> str:
        """Send one command; returns the response text after `=` (several lines joined by newlines)."""
        try:
            self._process.stdin.write(command.encode() + b"\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(command) from None
        deadline = time.monotonic() + self.timeout
        line = self._read_line(command, deadline)
        while not line.strip():  # blank lines before a response are not part of it
            line = self._read_line(command, deadline)
        lines = [line]
        while lines[-1].strip():
            lines.append(self._read_line(command, deadline))
        response = _RESPONSE.match("\n".join(lines).strip())
        if response is None:
            raise GTPError(f"The GTP engine {self.command[0]!r} answered `{command}` with {lines[0][:80]!r}: expected "
                           "a line starting with `=` or `?`; is it running in GTP mode?")
        status, _, text = response.groups()
        if status == "?":
            raise GTPError(f"The GTP engine {self.command[0]!r} refused `{command}`: {text.strip() or 'no reason'}.")
        return text.strip()

    def _read_line(self, command: str, deadline: float) -> str:
        descriptor = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([descriptor], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                raise GTPError(f"The GTP engine {self.command[0]!r} did not answer `{command}` within "
                               f"{self.timeout:g} s: expected a response line; raise `timeout` or check the engine.")
            chunk = os.read(descriptor, 65536)
            if not chunk:
                raise self._died(command)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def _died(self, command: str) -> GTPError:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = self._stderr.read()[-300:].decode(errors="replace").strip().replace("\n", " | ")
        return GTPError(f"The GTP engine {self.command[0]!r} exited (code {code}) at `{command}`: expected a response;"
                        f" its last error output: {tail or 'none'}.")

    def boardsize(self, size: int) -> None:
        self.send(f"boardsize {size}")

    def komi(self, komi: float) -> None:
        self.send(f"komi {komi:g}")

    def clear_board(self) -> None:
        self.send("clear_board")

    def play(self, colour: str, vertex: str) -> None:
        """Tell the engine about a move: `colour` `B` or `W`, `vertex` like `D4` or `pass`."""
        self.send(f"play {colour} {vertex}")

    def genmove(self, colour: str, cleanup: bool = False) -> str:
        """The engine's move for `colour`, upper case: a vertex (`D4`), `PASS` or `RESIGN`; the engine plays it.
        `cleanup` asks with `kgs-genmove_cleanup` instead: the engine captures dead stones before it passes."""
        return self.send(f"{'kgs-genmove_cleanup' if cleanup else 'genmove'} {colour}").upper()

    def known_command(self, name: str) -> bool:
        return self.send(f"known_command {name}").lower() == "true"

    def quit(self) -> None:
        """Ask the engine to exit, and make sure it has."""
        if self._process.poll() is None:
            try:
                self.send("quit")
                self._process.wait(timeout=5)
            except (GTPError, subprocess.TimeoutExpired):
                pass
        self.close()

    def close(self) -> None:
        """Kill the engine if it still runs."""
        self._finalizer()

    def __enter__(self) -> GTPClient:
        return self

    def __exit__(self, *exc) -> None:
        self.quit()


class GTPPlayer(BasePlayer):
    """A GTP engine as a Go player; GNU Go at `level` (0-10) unless `command` names another engine.

    The engine starts at the first move it sees, with the game's board size and komi; `close()` (or a `with` block)
    stops it. The player must see every action of the game through `observe`, as `play_match` does.

    Args:
        level: GNU Go's strength level (1 is fast and weak, 10 its default). command: another engine's command line.
        timeout: seconds to wait for each response.
    """

    def __init__(self, level: int = 1, *, command: Sequence[str] | None = None, name: str | None = None,
                 timeout: float = 60.0):
        if command is None:
            gnugo_command(level)  # fail early, with the install hint, when GNU Go is missing or the level is wrong
        self.level, self.command, self.timeout = level, None if command is None else list(command), timeout
        self.name = name or (f"gnugo-{level}" if command is None else Path(self.command[0]).name)
        self._client: GTPClient | None = None
        self._seed, self._started, self._generated = 0, False, None
        self._cleanup: bool | None = None  # whether the engine knows `kgs-genmove_cleanup`, asked once

    def reset(self, seed: int) -> None:
        self._seed, self._started, self._generated = seed, False, None

    def _start(self, game: Game) -> GTPClient:
        if game.name != "go":
            raise ConfigError(f"Invalid game for a GTP player: expected Go, received {game.describe()}.")
        if self._client is None:
            command = self.command or gnugo_command(self.level, game.size, game.komi)
            self._client = GTPClient(command, self.timeout)
        if not self._started:
            self._client.boardsize(game.size)
            self._client.komi(game.komi)
            self._client.clear_board()
            if self._client.known_command("set_random_seed"):
                self._client.send(f"set_random_seed {self._seed % 2**31}")
            if self._cleanup is None:
                self._cleanup = self._client.known_command("kgs-genmove_cleanup")
            self._started, self._generated = True, None
        return self._client

    def choose(self, game: Game, state: State) -> int:
        client = self._start(game)
        reply = client.genmove(COLOURS[game.to_play(state)], cleanup=self._cleanup)
        if reply == "RESIGN":
            raise Resignation(self.name, "the engine resigned")
        try:
            (action,) = game.parse_move(state, reply)
        except ConfigError as error:
            raise GTPError(f"The GTP engine {self.name!r} played {reply!r}, which striate's rules refuse: {error}") \
                from None
        self._generated = action
        return action

    def observe(self, game: Game, state: State, action: int) -> None:
        client = self._start(game)
        if self._generated == action:  # its own move, already on its board
            self._generated = None
            return
        client.play(COLOURS[game.to_play(state)], game.move_text(state, action))

    def close(self) -> None:
        if self._client is not None:
            self._client.quit()
            self._client = None

    def __enter__(self) -> GTPPlayer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["COLOURS", "GTPClient", "GTPError", "GTPPlayer", "find_gnugo", "gnugo_command"]
