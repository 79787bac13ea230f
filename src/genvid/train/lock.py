"""One process at a time in a run directory: an advisory lock held for the life of a training.

`fcntl.flock` on `RUN/.lock`: the kernel releases it when the process exits in any way (a
SIGKILL included), so a killed run never leaves its directory locked, and a second process
that tries to train into the same directory is told which process holds it instead of
interleaving its checkpoints with the first one's. The file keeps the holder's pid and command
for that message; its presence alone means nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"


class RunInUseError(ValueError):
    """Another live process holds the run directory's lock."""


@contextmanager
def hold_run_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN/.lock until the block ends; raise `RunInUseError` at once if another has it."""
    with hold_lock(Path(run_dir) / LOCK, what=str(run_dir), hint="choose another --out"):
        yield


@contextmanager
def hold_lock(path: Path, *, what: str, hint: str) -> Iterator[None]:
    """Hold an flock on `path` (created if missing) until the block ends.

    Raises `RunInUseError` ("{what} is in use by {holder}; wait for it to finish or {hint}")
    at once if another open file holds it, this process's included.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; runs there are not protected
        yield
        return
    try:
        handle = open(path, "a+")  # noqa: SIM115 (held open for the whole block)
    except FileNotFoundError:
        raise FileNotFoundError(f"directory {path.parent} does not exist") from None
    except OSError as err:
        raise ValueError(f"cannot lock {path}: {err.strerror}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunInUseError(
                f"{what} is in use by {holder}; wait for it to finish or {hint}"
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join(Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv))
        handle.write(f"process {os.getpid()} ({command[:200]})\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


def is_held(path: Path) -> bool:
    """Whether a live process holds the flock on `path` (False if the file does not exist)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        handle = open(path)  # noqa: SIM115
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
