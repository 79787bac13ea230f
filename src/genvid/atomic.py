"""Atomic file writes: readers see either the old file or the complete new one.

A leaf module (it imports nothing of genvid's), shared by the data writers, the checkpoints
and the command line's reports.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    """The process's umask (read once, at import, while no other thread can create files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; a finished file gets the mode any other new file would get.
FILE_MODE = 0o666 & ~_read_umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that readers see either the old content or the complete new one.

    `write(f)` fills a temporary file in the same directory; it is flushed, fsynced and renamed
    over `path` (`os.replace` is atomic on POSIX and Windows), then the directory is fsynced so
    that the rename itself survives a power cut. On any error the temporary file is removed.
    The file gets the mode the user's umask gives new files (not mkstemp's private 0600).
    """
    atomic_write_all({Path(path): write})


def atomic_write_all(writers: dict[Path, Callable[[IO[bytes]], None]]) -> None:
    """`atomic_write` for several files: every file is staged before any is renamed.

    Serialising (the slow part, where interruptions happen) thus never leaves a mix of old and
    new files; only a crash between two renames can, a window of microseconds.
    """
    for path in writers:
        check_replaceable(path)
    staged: dict[Path, str] = {}
    try:
        for path, write in writers.items():
            fd, staged[path] = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            os.chmod(staged[path], FILE_MODE)  # not fchmod: Windows has none
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in staged.items():
            os.replace(tmp, path)
    except BaseException as err:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno and err.filename is None:  # name the file
            raise OSError(err.errno, err.strerror, str(path)) from None
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


def remove_stale_temporaries(directory: Path, names: list[str]) -> list[Path]:
    """Delete the temporary files that interrupted `atomic_write`s of `names` left behind.

    Only safe while nothing else writes those files (the caller holds the run's lock).
    Returns the paths removed.
    """
    removed = []
    for name in names:
        for tmp in Path(directory).glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def prepare_output(path: Path) -> None:
    """Make `path`'s directory and check a file can be written there, before the work that
    fills it (a grid of samples, an evaluation): a read-only or missing place fails at once.

    Raises:
        ValueError: one line naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; name a file")
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except FileExistsError:
        raise ValueError(f"cannot write {path}: {path.parent} is not a directory") from None
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror}") from None


def check_replaceable(path: Path) -> None:
    """Raise `ValueError` if `path` exists and is not a regular file (a device such as
    /dev/null, a FIFO, a socket): renaming a new file over it would replace the node itself.

    A directory is left to the caller (`os.replace` refuses it with its own error).
    """
    try:
        mode = os.stat(path).st_mode  # follows a symbolic link: a link to /dev/null counts
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError:  # unreadable: the write itself will say why
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(
            f"{path} exists and is not a regular file (a device, FIFO or socket); "
            "name a new or regular file"
        )
