"""The exceptions striate raises for problems a user can fix.

Every error a user can trigger (a bad config, a missing file, a shape that does not fit) is a `StriateError`; the CLI
prints its one-line message and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StriateError(Exception):
    """Base class for errors caused by input a user can correct.

    The message is always one line: line breaks that came in with echoed user input (a key, a name, a file's text)
    are shown escaped, as `\\n`.
    """

    def __str__(self) -> str:
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(StriateError, ValueError):
    """A configuration key, value or name is invalid."""


class DataError(StriateError, ValueError):
    """A dataset, file or image is missing, unreadable or malformed."""


class ShapeError(StriateError, ValueError):
    """A tensor or layer shape does not fit what a layer needs."""


class RunFolderError(StriateError, FileNotFoundError):
    """A run folder is missing, incomplete or unreadable."""


class OutputError(StriateError, OSError):
    """A file could not be written (a full or read-only device); what was there before is unchanged."""


class TrainingError(StriateError, RuntimeError):
    """Training produced meaningless numbers (a loss that is not finite)."""


class Interrupted(StriateError):
    """Training was stopped by a signal (Ctrl-C, SIGTERM) after a checkpoint was written; `exit_code` follows the
    shell's convention, 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean `x`?' for the closest of `choices`, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean `{close[0]}`?" if close else ""


def found_at(path) -> str:
    """What is at `path`, for an error that expected something else there: 'nothing', 'a folder', 'a file' or
    'a link to nothing' (a dangling symbolic link)."""
    import os

    if os.path.islink(path) and not os.path.exists(path):
        return "a link to nothing"
    if os.path.isdir(path):
        return "a folder"
    if os.path.exists(path):
        return "a file" if os.path.isfile(path) else "something that is neither a file nor a folder"
    return "nothing"
