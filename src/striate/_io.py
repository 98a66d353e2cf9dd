"""Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from striate.errors import OutputError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)` and rename the result to `path`, so readers never see a half-written file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a run's files get the mode any new file would get
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a read-only or vanished folder: the old file (if any) is untouched
        raise OutputError(f"Cannot write {path}: {error.strerror or error}; free some space or choose another "
                          "folder (--out). Nothing already written was changed.") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; restored at once
    os.umask(mask)
    return mask


def write_synced(path: str | Path, data: bytes) -> None:
    """Write `data` to a new file and fsync it, so it is on the device before anything refers to it."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o666 & ~_umask())


def fsync_folder(path: str | Path) -> None:
    """Make a folder's entries (a rename into it) durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: write_synced(tmp, data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_write_yaml(path: str | Path, data, comment: str = "") -> Path:
    """`data` as YAML, after `comment` as `#` lines (read by people, ignored by YAML readers)."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return atomic_write_text(path, header + yaml.safe_dump(data, sort_keys=False))
