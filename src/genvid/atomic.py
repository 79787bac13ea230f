"""Atomic file writes: readers see either the old file or the complete new one.

A leaf module (it imports nothing of genvid's), shared by the data writers, the checkpoints
and the command line's reports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that readers see either the old content or the complete new one.

    `write(f)` fills a temporary file in the same directory; it is flushed, fsynced and renamed
    over `path` (`os.replace` is atomic on POSIX and Windows), then the directory is fsynced so
    that the rename itself survives a power cut. On any error the temporary file is removed.
    """
    atomic_write_all({Path(path): write})


def atomic_write_all(writers: dict[Path, Callable[[IO[bytes]], None]]) -> None:
    """`atomic_write` for several files: every file is staged before any is renamed.

    Serialising (the slow part, where interruptions happen) thus never leaves a mix of old and
    new files; only a crash between two renames can, a window of microseconds.
    """
    staged: dict[Path, str] = {}
    try:
        for path, write in writers.items():
            fd, staged[path] = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in staged.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
        raise
    for directory in {path.parent for path in writers}:
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
