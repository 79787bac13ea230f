"""Where a sweep's study lives: its database URL checked, the file looked at before Optuna
touches it, the schema created by one process at a time, and database failures in one line.

- The URL is parsed first (`--storage notaurl` is refused, as is an SQLite file in a directory
  that does not exist or an in-memory SQLite database, which dies with its process).
- An SQLite file that exists is read before Optuna opens it: an empty file, a file that is not
  SQLite, a damaged one (`PRAGMA quick_check`) or one holding another program's tables is
  refused, naming the file. Optuna would otherwise add its tables to it, or fail with a
  traceback.
- Creating the schema is not safe for two processes at once (`table studies already exists`,
  `UNIQUE constraint failed: alembic_version.version_num`): processes of one machine take an
  flock on a lock file beside the SQLite file (or in the sweep directory for a server
  database) while they create or open the study; processes of several machines sharing a
  server database retry when they meet the other's half-made schema.
- Heartbeats: the worker running a trial records one in the study every `HEARTBEAT_S` seconds
  (Optuna's heartbeat table; the database server's clock), so a worker on another machine can
  tell a dead trial from a live one (`stale_trial_ids`): its lock file is on the other machine.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genvid.errors import first_line as error_first_line

STUDY = "genvid"  # the study's name in its storage
SQLITE_TIMEOUT_S = 120  # how long an SQLite writer waits for another one's lock
HEARTBEAT_S = 20  # a running trial's heartbeat interval
GRACE_S = 120  # a trial of another machine silent this long is dead
OPEN_TRIES = 6  # attempts to open a server database whose schema another machine is creating
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})
SQLITE_HEADER = b"SQLite format 3\x00"
URL_EXAMPLES = "sqlite:///DIR/study.db or postgresql://USER:PASSWORD@HOST/DATABASE"


class SweepError(RuntimeError):
    """A sweep cannot go on for a reason outside its definition: its database failed, a worker
    died, every trial diverged. The message is one line that says what to do."""


def default_url(out: Path) -> str:
    """The study of sweep directory `out` when no `--storage` is given."""
    return f"sqlite:///{Path(out).resolve() / 'study.db'}"


def shown(url: str) -> str:
    """`url` with its password hidden, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def first_line(err: BaseException) -> str:
    """The first line of an error (SQLAlchemy's: of the driver's own error, without the SQL;
    Optuna's StorageInternalError: of the database error under it)."""
    import optuna

    if isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ is not None:
        err = err.__cause__
    return error_first_line(getattr(err, "orig", None) or err)


def check_url(url: str, option: str = "--storage") -> Path | None:
    """Refuse a URL that is not one, or an SQLite file that cannot be made; return the SQLite
    file's path (None for a server database). Nothing is created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{option} {url!r} is not a database URL; e.g. {URL_EXAMPLES}") from None
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise ValueError(
            f"{option} {url}: an in-memory SQLite database dies with its process; name a file: "
            "sqlite:///PATH/study.db"
        )
    path = Path(parsed.database)
    if not path.parent.is_dir():
        raise ValueError(f"{option} {url}: directory {path.parent} does not exist")
    return path


def check_sqlite_file(path: Path, hint: str) -> bool:
    """Whether SQLite file `path` holds the genvid study; False when it does not exist or holds
    an empty Optuna schema (a creation that was interrupted).

    Raises:
        ValueError: one line naming the file: empty, not SQLite, damaged, or another
            program's tables. `hint` says what to do instead.
    """
    if not path.exists():
        return False
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a study database")
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    if not header:
        raise ValueError(f"{path} is empty (0 bytes), not a sweep's study; {hint}")
    if header != SQLITE_HEADER:
        raise ValueError(f"{path} is not an SQLite database (damaged or another file); {hint}")
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise ValueError(f"{path} is damaged (SQLite: {verdict}); {hint}")
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in rows}
            if not tables:
                return False
            if not OPTUNA_TABLES <= tables:
                names = ", ".join(sorted(tables)[:4])
                raise ValueError(f"{path} holds another program's tables ({names}); {hint}")
            names = {row[0] for row in connection.execute("SELECT study_name FROM studies")}
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{path} is damaged (SQLite: {first_line(err)}); {hint}") from None
    return STUDY in names


@contextlib.contextmanager
def creation_lock(path: Path) -> Iterator[None]:
    """Hold an flock on `path` (waiting for it) while this process creates or opens a study,
    so two processes of one machine never create its schema at once. A place that cannot be
    written (a sweep read by someone else) is not locked: nothing is created there."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    try:
        handle = open(path, "a")  # noqa: SIM115 (held open for the whole block)
    except OSError:
        yield
        return
    with handle:  # closing it releases the lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def open_storage(url: str) -> Any:
    """An Optuna `RDBStorage` of `url` with heartbeats; one line for every failure.

    Raises:
        ImportError: the database's Python driver is not installed (says which extra).
        SweepError: the database cannot be reached or opened.
    """
    import optuna
    from sqlalchemy import exc

    sqlite = url.startswith("sqlite")
    kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if sqlite else {}
    for attempt in range(OPEN_TRIES):
        try:
            with warnings.catch_warnings():  # the heartbeat arguments are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                )
        except ImportError as err:
            driver = getattr(err.__cause__, "name", None) or "its driver"
            extra = "pip install 'genvid[postgres]'" if "postgres" in url else "install it"
            raise ImportError(f"{shown(url)} needs {driver}, which is missing: {extra}") from None
        except (exc.IntegrityError, exc.ProgrammingError) as err:
            # Another machine created the schema at the same moment; the next try finds it.
            if sqlite or attempt == OPEN_TRIES - 1:
                raise SweepError(f"cannot open the study {shown(url)}: {first_line(err)}") from None
            time.sleep((attempt + 1) * random.uniform(0.2, 0.5))
        except database_error_types() as err:
            raise SweepError(f"cannot open the study {shown(url)}: {first_line(err)}") from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a database failure inside the block (a full disk, a lost server) into one line."""
    try:
        yield
    except database_error_types() as err:
        raise SweepError(
            f"the study database {shown(url)} failed: {first_line(err)}; run the same command "
            "again once it works (a trial left running is then marked failed)"
        ) from None


def database_error_types() -> tuple[type[Exception], ...]:
    """What a failing database raises through SQLAlchemy and Optuna (imported when needed)."""
    import optuna
    from sqlalchemy import exc

    return (exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)


def has_study(storage: Any) -> bool:
    """Whether `storage` holds the genvid study."""
    try:
        storage.get_study_id_from_name(STUDY)
    except KeyError:
        return False
    return True


def stale_trial_ids(storage: Any, study_id: int) -> set[int]:
    """Ids of the study's running trials whose heartbeat is more than `GRACE_S` old by the
    database's clock. A trial that never recorded one is not among them (Optuna's rule)."""
    return set(storage._get_stale_trial_ids(study_id))


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat now and every `HEARTBEAT_S` seconds until the block ends.

    A beat that fails (a database gone for a moment, a full disk) is skipped: the worker meets
    the failure itself at its next write and reports it.
    """

    def record() -> None:
        try:
            storage.record_heartbeat(trial_id)
        except database_error_types():
            pass

    record()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            record()

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
