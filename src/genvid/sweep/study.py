"""`genvid sweep`: an Optuna study whose trials are ordinary run directories.

Each trial is a normal run (`DIR/trials/NNNN`: config, checkpoints, TensorBoard) made by the
one `fit`, trained on data that leave out the validation split (`holdout`) and judged by its
preset's own evaluator on the **validation** split, never the test split. Training stops at
`rungs` evenly spaced steps (`fit(stop_at=...)`, exact: a stopped and resumed run equals an
uninterrupted one); each rung's figure is reported to Optuna, whose pruner (median by default)
stops a trial worse than the median of earlier trials at that rung.

The study lives in a database (`sqlite:///DIR/study.db` by default; any URL Optuna supports,
e.g. PostgreSQL for machines sharing one study). `trials` is the number of finished trials
(complete or pruned) the study should hold: running the command again runs only what is
missing. A worker holds `DIR/trials/.NNNN.lock` for its trial's whole life; a trial left
"running" by a killed process (its lock free) is marked failed on the next start and never
counts as a result. Workers (`--workers K` processes, or several `genvid sweep` commands on
one storage) share the study; each trial's number names its directory, so they never clash.
Two workers may both ask for a trial when one is missing; Optuna numbers trials in the order
they are asked for, so the later one sees that the study already had enough, marks its trial
failed with the user attribute "surplus" before drawing any parameter, and stops: the study
ends with exactly the trials asked for (summaries count surplus trials apart). A worker on
another machine (a shared server database) judges a trial whose lock file it cannot see by
its heartbeat (`genvid.sweep.storage`).

Faults end in one line and lose nothing: a killed worker's trial is marked failed when a
worker next looks (its lock is free) and the same command continues the study; a trial that
cannot write its checkpoint or the study is marked failed where the database still takes it,
else left for the next run to mark; an interrupted worker marks its trial failed and exits
quietly; when as many trials as `--trials` diverged, the sweep stops and says what to change.

A minimum diversity (`min_diversity`, for protocols with a diversity figure: FVD): a collapsed
generator can score a good FVD at small N, so each rung's figure and diversity are kept as the
trial's user attributes (the objective's key, e.g. "fvd", and "diversity"), and a rung whose
diversity is below the minimum reports the worst possible value to Optuna instead (+inf when
minimising) and marks the trial "below_min_diversity". Optuna itself then never holds such a
trial as good: not as the study's best, not in TPE's model of good configurations, not in the
median pruner's bar (which may stop it, like any bad trial). A mark read only by genvid's report
would leave all three fooled. The summary's best trial (the one to retrain with `--from-trial`)
is the best of the trials not below the minimum.

A time budget (`budget_minutes` instead of `budget_steps`): a wide model does fewer steps per
minute than a narrow one, so equal steps give the slow configurations more time. Each trial
first measures its own seconds per step on this machine (`seconds_per_step`: two short fresh
runs of its configuration, whose difference leaves out what only the first steps cost), then
trains as many steps as fit in the budget at that speed (at least `rungs`); the measuring is
not counted in the budget. Its run's config.json records those steps.
Rungs are reported to Optuna by their number (1..rungs), not their step, so the median pruner
compares trials at equal fractions of equal times.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from genvid import data as gdata
from genvid import runs
from genvid.autoregressive.evaluate import NonFiniteResultError
from genvid.presets import get_preset, protocol, update
from genvid.sweep.space import SearchSpace
from genvid.sweep.storage import (
    GRACE_S,
    STUDY,
    SweepError,
    check_sqlite_file,
    check_url,
    creation_lock,
    database_error_types,
    database_errors,
    default_url,
    first_line,
    has_study,
    heartbeat,
    open_storage,
    shown,
    stale_trial_ids,
)
from genvid.train.adversarial import AdversarialUpdate
from genvid.train.lock import hold_lock, is_held
from genvid.train.update import NonFiniteLossError

FINISHED = ("COMPLETE", "PRUNED")
SURPLUS = "surplus"  # user attribute of a trial asked for when the study had enough: never run
BELOW_MIN_DIVERSITY = "below_min_diversity"  # user attribute: its last rung was too uniform
DIVERSITY = "diversity"  # user attribute: the last rung's diversity figure
WORKER = "worker"  # user attribute: host:pid of the worker, set once it holds the trial's lock
# Training options an adversarial model's per-group recipes own (AdversarialUpdate.optimizers
# refuses them at the first step; a sweep refuses them before it starts).
ADVERSARIAL_OWNED = ("lr", "optimizer", "weight_decay")
INTERRUPTED = 130  # a worker's exit code after SIGINT (128 + 2, as a shell reports it)
# Errors a worker process reports to the parent in one line (anything else is a bug: traceback).
REPORTED = (ValueError, OSError, ImportError, MemoryError, SweepError, NonFiniteLossError)
# A time budget's measurement: fresh runs of W and W + K steps; their difference is K steps
# without the one-off costs of a run's first steps (allocations, torch.compile), which both pay.
CALIBRATION_WARMUP = 2  # W
CALIBRATION_STEPS = 8  # K: enough steps to time, few enough to cost little beside the budget


@dataclass(frozen=True)
class Sweep:
    """Everything that defines a sweep; stored in the study and checked on every restart.

    Every option is checked on construction, against the preset's evaluator and update, so a
    sweep is refused before anything is created or trained.
    """

    preset: str
    space: SearchSpace
    trials: int  # finished trials the study should hold
    budget_steps: int | None = None  # training steps of every trial (or budget_minutes)
    budget_minutes: float | None = None  # or: training minutes of every trial at its own speed
    rungs: int = 4  # evaluations per trial (at budget * k / rungs), reported to the pruner
    train: dict[str, Any] | None = None  # fixed training options (batch size, precision, ...)
    data: str | None = None  # None: the preset's
    root: str | None = None
    valid_limit: int | None = None  # validation examples per evaluation (None: the split)
    samples: int | None = None  # sampled evaluators (SVG best of N, FVD clips)
    min_diversity: float | None = None  # FVD: trials less diverse than this never win
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("trials", "budget_steps", "rungs", "valid_limit", "samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if (self.budget_steps is None) == (self.budget_minutes is None):
            raise ValueError("give exactly one of --budget-steps and --budget-minutes")
        minutes = self.budget_minutes
        if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"--budget-minutes must be a positive number, got {minutes}")
        if self.budget_steps is not None and self.rungs > self.budget_steps:
            raise ValueError(f"--rungs {self.rungs} exceeds --budget-steps {self.budget_steps}")
        if "valid" not in gdata.splits(self.data_name):
            raise ValueError(
                f"a sweep is judged on a validation split, and {self.data_name} has none "
                f"(splits: {', '.join(gdata.splits(self.data_name))}); it never reads the test "
                "split"
            )
        check_min_diversity(self.preset, self.space.fixed, self.min_diversity)
        self._check_training_options()
        for judge, which in self._judges():
            self._check_evaluation_options(judge, which)

    @property
    def data_name(self) -> str:
        return self.data or get_preset(self.preset).data

    def _check_training_options(self) -> None:
        """Refuse training options the preset's update ignores or refuses (an adversarial
        model's learning rates live in its config), naming the option as it was given."""
        if not isinstance(update(self.preset, **self.space.fixed), AdversarialUpdate):
            return
        given = [f"--{name.replace('_', '-')}" for name in (self.train or {})]
        given += [f"--param {p.name}" for p in self.space.params if p.target == "train"]
        owned = [f"--{n.replace('_', '-')}" for n in ADVERSARIAL_OWNED]
        owned += [f"--param {n}" for n in ADVERSARIAL_OWNED]
        refused = next((option for option in given if option in owned), None)
        if refused:
            raise ValueError(
                f"{refused} does not apply to {self.preset}, an adversarial model: each parameter "
                "group has its own optimiser in the model config (search critic_lr, "
                "generator_lr, ... instead)"
            )

    def _judges(self) -> list[tuple[Any, str]]:
        """The evaluators the trials can meet: the fixed config's, and those at both ends of
        every searched model field (a field such as `variant` may change the evaluator)."""
        judges = [(protocol(self.preset, **self.space.fixed), "")]
        for param in self.space.params:
            if param.target != "model":
                continue
            values = param.choices if param.kind == "choice" else (param.low, param.high)
            for value in values:
                overrides = {**self.space.fixed, param.name: value}
                judges.append((protocol(self.preset, **overrides), f" with {param.name}={value}"))
        return judges

    def _check_evaluation_options(self, judge: Any, which: str) -> None:
        """Refuse --samples where the evaluator draws none, too few samples for it, and a
        --valid-limit below what an FVD of that many clips needs."""
        draws = hasattr(judge, "samples") and getattr(judge, "stochastic", True)
        if self.samples is not None and not draws:
            why = (
                "a deterministic model makes one prediction per sequence"
                if hasattr(judge, "stochastic")
                else f"its evaluator ({judge.name}) draws no samples"
            )
            raise ValueError(f"--samples does not apply to {self.preset}{which}: {why}")
        if not hasattr(judge, "diversity_of"):  # FVD below: two disjoint real sets of n clips
            return
        clips = self.samples if self.samples is not None else judge.samples
        if clips < 2:
            raise ValueError(f"--samples must be >= 2 for FVD's covariance, got {clips}")
        if self.valid_limit is not None and self.valid_limit < 2 * clips:
            raise ValueError(
                f"--valid-limit {self.valid_limit} is below the {2 * clips} validation clips an "
                f"FVD of {clips} clips needs (two disjoint real sets); raise it or lower --samples"
            )

    def definition(self) -> dict[str, Any]:
        stored = asdict(self)
        stored["space"] = self.space.describe()
        stored.pop("trials")  # asking for more trials continues the same study
        for name in ("budget_minutes", "min_diversity"):
            if stored[name] is None:  # as studies made before the option were stored
                stored.pop(name)
        return json.loads(json.dumps(stored))

    def rung_steps(self, steps: int) -> list[int]:
        """The steps of rungs 1..rungs of a trial of `steps` steps (distinct: steps >= rungs)."""
        return [steps * k // self.rungs for k in range(1, self.rungs + 1)]


def check_min_diversity(preset: str, fixed: dict[str, Any], value: float | None) -> None:
    """Refuse a minimum diversity that is not a positive number, or whose preset's protocol
    reports no diversity figure (protocols that do have `diversity_of(report)`)."""
    if value is None:
        return
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--min-diversity must be a positive number, got {value}")
    judge = protocol(preset, **fixed)
    if not hasattr(judge, "diversity_of"):
        raise ValueError(
            f"{preset} is judged by {judge.name}, which reports no diversity figure (FVD presets "
            "do)"
        )


def run_sweep(
    sweep: Sweep, out: str | Path, *, storage: str | None = None, workers: int = 1
) -> list[str]:
    """Run the sweep into `out` until the study holds `sweep.trials` finished trials; return
    lines that summarise the study."""
    require_optuna()
    out = Path(out)
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    url = storage or default_url(out)
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)  # the study's file and lock go there
    _open_study(sweep, out, url)
    (out / "trials").mkdir(parents=True, exist_ok=True)
    if workers == 1:
        _work(sweep, out, url)
    else:
        _run_workers(sweep, out, url, workers)
    with database_errors(url):
        return summary(_load_study(url))


def require_optuna() -> None:
    """Optuna is an optional dependency: say how to install it, in one line, if missing."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ImportError("sweeps need Optuna: pip install 'genvid[sweep]'") from None


def _lock_of(out: Path, sqlite_file: Path | None) -> Path:
    """The creation lock: beside an SQLite file (every sweep on that file shares it), else in
    the sweep directory."""
    if sqlite_file is not None:
        return sqlite_file.parent / f".{sqlite_file.name}.lock"
    return out / ".study.lock"


def _open_study(sweep: Sweep, out: Path, url: str):  # noqa: ANN202 (an optuna.Study)
    """Create the study in `url` or open it, checking what is there first: a damaged or
    foreign SQLite file, a study defined differently, or trial runs in `out` whose study is
    not in `url` are refused in one line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sqlite_file = check_url(url)
    if sqlite_file is None:
        out.mkdir(parents=True, exist_ok=True)
    hint = "move it away, or use another --out"
    with creation_lock(_lock_of(out, sqlite_file)):
        exists = check_sqlite_file(sqlite_file, hint) if sqlite_file else None
        storage = open_storage(url)
        if exists is None:
            with database_errors(url):
                exists = has_study(storage)
        if not exists and _trial_dirs(out):
            raise ValueError(
                f"{out / 'trials'} holds trial runs, but {shown(url)} holds no genvid sweep: "
                "their study is elsewhere or lost; use another --out"
            )
        _, direction = protocol(sweep.preset, **sweep.space.fixed).objective
        # The sampler and pruner live in each worker's process (`_work`), not in the storage.
        with database_errors(url):
            study = optuna.create_study(
                study_name=STUDY, storage=storage, load_if_exists=True, direction=direction
            )
            stored = study.user_attrs.get("definition")
            if stored is None:
                study.set_user_attr("definition", sweep.definition())
        if stored is not None and stored != sweep.definition():
            difference = _first_difference(stored, sweep.definition())
            raise ValueError(
                f"the study in {shown(url)} was defined differently ({difference}); use another "
                "--out or the same options"
            )
    return study


def _trial_dirs(out: Path) -> list[Path]:
    trials = out / "trials"
    return [p for p in trials.iterdir() if p.name.isdigit()] if trials.is_dir() else []


def _load_study(url: str, **kwargs: Any):  # noqa: ANN202 (an optuna.Study)
    import optuna

    return optuna.load_study(study_name=STUDY, storage=open_storage(url), **kwargs)


def _first_difference(old: dict, new: dict) -> str:
    key = next(k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k))
    return f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"


def _fail_abandoned_trials(study, out: Path) -> None:  # noqa: ANN001
    """Mark failed every "running" trial whose worker died.

    A worker takes the trial's lock (`out/trials/.NNNN.lock`) at once after asking for it, then
    records heartbeats and its name (the user attribute "worker"). A trial whose lock file is
    here is dead when no process holds the lock; one whose lock file is elsewhere (another
    machine or sweep directory on the same database) when its heartbeat is older than the grace
    period, or when it never named its worker and started longer ago than that (its worker died
    between asking and locking).
    """
    import optuna

    storage = study._storage  # the study's own storage object, the one API to set a state
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if not running:
        return
    stale = stale_trial_ids(storage, study._study_id)
    for trial in running:
        lock = _lock_path(out, trial.number)
        if lock.exists():
            dead = not is_held(lock)
            if dead:  # a time budget's measuring runs, if it was killed while it measured
                shutil.rmtree(_scratch_path(out, trial.number), ignore_errors=True)
        else:
            started = trial.datetime_start or datetime.now()
            silent = (datetime.now() - started).total_seconds() > GRACE_S
            dead = trial._trial_id in stale or (WORKER not in trial.user_attrs and silent)
        if dead:
            try:
                storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker marked it first


def _lock_path(out: Path, number: int) -> Path:
    return out / "trials" / f".{number:04d}.lock"


def time_budgeted(study) -> bool:  # noqa: ANN001 (an optuna.Study)
    """Whether the stored sweep gave its trials a time budget: their rungs are then reported
    by number, not by step, and each trial has its own steps."""
    return study.user_attrs.get("definition", {}).get("budget_minutes") is not None


def _scratch_path(out: Path, number: int) -> Path:
    return out / "trials" / f".calibrate-{number:04d}"


def _run_workers(sweep: Sweep, out: Path, url: str, workers: int) -> None:
    """`workers` processes of `_work`; one line for a worker that died or failed.

    Each worker starts with SIGINT ignored (inherited through spawn's exec) and handles it once
    it runs (`_worker`): a Ctrl-C stops every worker's trial cleanly, without tracebacks, and
    the parent waits for them before it says "aborted".
    """
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]  # (reader, writer): its error
    threads = max(1, (os.cpu_count() or 1) // workers)
    main = threading.current_thread() is threading.main_thread()  # signals: main thread only
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else signal.SIG_IGN
    interruptible = handler is not signal.SIG_IGN  # a command started with SIGINT ignored: keep it
    processes = [
        context.Process(
            target=_worker,
            args=(sweep, out, url, threads, writer, interruptible),
            name=f"worker {index}",
        )
        for index, (_, writer) in enumerate(pipes, 1)
    ]
    try:
        for process in processes:
            process.start()
    finally:
        if main:
            signal.signal(signal.SIGINT, handler)
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # one interruption: wait for the workers
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()
        signal.signal(signal.SIGINT, handler)
        raise
    reported = {index: reader.recv() for index, (reader, _) in enumerate(pipes, 1) if reader.poll()}
    for index, process in enumerate(processes, 1):
        code = process.exitcode
        if code == INTERRUPTED or (code and code < 0):
            how = (
                "interrupted (SIGINT)"
                if code == INTERRUPTED
                else f"killed by {_signal_name(-code)}"
            )
            raise SweepError(
                f"sweep worker {index} of {workers} (pid {process.pid}) was {how}; run "
                "the same command again to continue (its trial is marked failed, finished trials "
                "are kept)"
            )
    for index, process in enumerate(processes, 1):
        if process.exitcode:
            raise SweepError(
                reported.get(index)
                or f"sweep worker {index} of {workers} (pid {process.pid}) failed with exit code "
                f"{process.exitcode} (see above); run the same command again to continue"
            )


def _signal_name(number: int) -> str:
    return signal.Signals(number).name if number in signal.valid_signals() else str(number)


def _interrupted(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # one interruption: the clean-up runs in peace
    raise KeyboardInterrupt


def _worker(
    sweep: Sweep, out: Path, url: str, threads: int, errors: Any, interruptible: bool
) -> None:
    """A worker process: `_work`, its error sent to the parent (`errors`, a pipe's end) as one
    line; on SIGINT its trial is marked failed and it exits quietly."""
    if interruptible:
        signal.signal(signal.SIGINT, _interrupted)
    try:
        _work(sweep, out, url, threads)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except REPORTED as err:
        errors.send(_one_line(err))
        sys.exit(1)


def _one_line(err: BaseException) -> str:
    """An error as the command line prints it (an OSError with its file)."""
    if isinstance(err, OSError) and err.strerror and not isinstance(err, FileNotFoundError):
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return first_line(err)


def _work(sweep: Sweep, out: Path, url: str, threads: int | None = None) -> None:
    """One worker: start trials until the study holds enough finished (or running) ones."""
    import optuna
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _load_study(
        url,
        sampler=_sampler(sweep.seed, 0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    failures = 0
    while True:
        trial = None
        with contextlib.ExitStack() as held:
            try:
                with _sigint_deferred():  # a Ctrl-C now stops a locked trial, never a half-made one
                    with database_errors(url):
                        trial = _next_trial(study, out, sweep.trials)
                    if trial is None:
                        return
                    lock = hold_lock(
                        _lock_path(out, trial.number),
                        what=f"trial {trial.number}",
                        hint="a new --out",
                    )
                    held.enter_context(lock)
                held.enter_context(heartbeat(study._storage, trial._trial_id))
                with database_errors(url):
                    # says "alive" to workers that cannot see the lock (_fail_abandoned_trials)
                    trial.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getpid()}")
                    surplus = _surplus(study, trial, sweep.trials)
                    if surplus:  # another worker asked for the last one
                        trial.set_user_attr(SURPLUS, True)
                if surplus:
                    _tell(study, trial, state=optuna.trial.TrialState.FAIL)
                    return
                study.sampler = _sampler(sweep.seed, trial.number)  # before drawing a parameter
                value = _run_trial(sweep, out, trial)
            except optuna.TrialPruned:
                _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
            except (NonFiniteLossError, NonFiniteResultError) as err:  # a diverged trial
                with database_errors(url):
                    trial.set_user_attr("error", str(err))
                _tell(study, trial, state=optuna.trial.TrialState.FAIL)
                failures += 1
                if failures >= sweep.trials:
                    with database_errors(url):
                        raise SweepError(_diverged(study, failures, err)) from None
            except optuna.exceptions.UpdateFinishedTrialError:
                _warn_taken(trial)
            except BaseException as err:
                if trial is None:
                    raise
                marked = _fail_if_possible(study, trial)
                raise _explained(err, url, trial, marked) from None
            else:
                _tell(study, trial, value)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT back (in the main thread) until the block ends: a Ctrl-C while a worker asks
    for a trial and locks it arrives once the trial is locked, so the trial is marked failed."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _next_trial(study, out: Path, wanted: int):  # noqa: ANN001, ANN202 (an optuna.Trial)
    """A new trial, or None when the study holds `wanted` finished or running ones."""
    _fail_abandoned_trials(study, out)
    if _held(study.get_trials(deepcopy=False)) >= wanted:
        return None
    with warnings.catch_warnings():  # Optuna's heartbeat note about ask-and-tell
        warnings.simplefilter("ignore", UserWarning)
        return study.ask()


def _tell(study, trial, value: float | None = None, *, state=None) -> None:  # noqa: ANN001
    """`study.tell`, unless another worker judged the trial dead meanwhile (a late heartbeat):
    then a warning, and the result is not counted."""
    import optuna

    try:
        with database_errors(study._storage._backend.url):
            study.tell(trial, value, state=state)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
        if not study._storage.get_trial(trial._trial_id).state.is_finished():
            raise
        _warn_taken(trial)


def _warn_taken(trial) -> None:  # noqa: ANN001
    print(
        f"genvid: warning: trial {trial.number} was marked failed by another worker while it "
        "ran (its heartbeat was late); its result is not counted",
        file=sys.stderr,
    )


def _fail_if_possible(study, trial) -> bool:  # noqa: ANN001
    """Mark a trial failed on the way out, and say whether that worked; a database that takes
    no write (a full disk) leaves it running, and the next run marks it failed (its lock is free
    by then)."""
    import optuna

    unwritable = (*database_error_types(), ValueError, optuna.exceptions.UpdateFinishedTrialError)
    try:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    except unwritable:
        return False
    return True


def _explained(err: BaseException, url: str, trial, marked: bool) -> BaseException:  # noqa: ANN001
    """The error a failed trial stops the sweep with: one line for what a fault looks like."""
    again = "run the same command again to continue"
    if not marked:
        again += f" (trial {trial.number} is then marked failed)"
    if isinstance(err, database_error_types()):
        return SweepError(
            f"the study database {shown(url)} failed during trial {trial.number} "
            f"({first_line(err)}); {again} once it works (the trial is then marked failed)"
        )
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return SweepError(f"trial {trial.number} stopped: {_one_line(err)}; free space and {again}")
    return err


def _diverged(study, failures: int, err: BaseException) -> str:  # noqa: ANN001
    """Why the sweep stops after `failures` diverged trials, and what to change."""
    change = (
        "lower the learning rate (the --param lr range, or --lr) or clip gradients (--grad-clip)"
    )
    last = first_line(err)[:160]
    if not any(t.state.name in FINISHED for t in study.get_trials(deepcopy=False)):
        return f"all {failures} trials diverged (the last: {last}); {change}"
    return (
        f"{failures} trials diverged, as many as --trials (the last: {last}); narrow the search "
        f"space towards the finished trials (genvid sweep-report), or {change}"
    )


def _held(trials) -> int:  # noqa: ANN001 (optuna FrozenTrials)
    """How many of `trials` count towards `--trials`: finished or running."""
    return sum(t.state.name in (*FINISHED, "RUNNING") for t in trials)


def _surplus(study, trial, wanted: int) -> bool:  # noqa: ANN001 (optuna objects)
    """Whether the trials asked for before `trial` already hold `wanted` (the storage
    numbers trials in the order they are asked for)."""
    trials = study.get_trials(deepcopy=False)
    return _held(t for t in trials if t.number < trial.number) >= wanted


def state_of(trial) -> str:  # noqa: ANN001 (an optuna FrozenTrial)
    """A trial's state as reports show it: Optuna's, or "surplus" for one never run."""
    return SURPLUS if trial.user_attrs.get(SURPLUS) else trial.state.name.lower()


def _sampler(seed: int, number: int):  # noqa: ANN202 (an optuna sampler)
    """TPE seeded from the sweep's seed and the trial's number, so every trial draws its own
    configuration whichever worker or command runs it (one seed per process let two
    `genvid sweep` commands on one study repeat each other's trials), and a serial sweep
    repeats exactly."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed * 1_000_003 + number)


def _run_trial(sweep: Sweep, out: Path, trial) -> float:  # noqa: ANN001 (an optuna.Trial)
    """Train the trial's run rung by rung, evaluating on the validation split after each; with
    a time budget, measure its speed first to know its steps."""
    import optuna

    values = {param.name: param.suggest(trial) for param in sweep.space.params}
    model_overrides, train_overrides = sweep.space.split(values)
    run_dir = out / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir))

    def new_run(steps: int) -> runs.Run:
        options = {
            **(sweep.train or {}),
            **train_overrides,
            "steps": steps,
            "seed": sweep.seed,
            "checkpoint_every": steps,
        }
        return runs.Run.new(
            sweep.preset,
            overrides=model_overrides,
            data=sweep.data,
            root=sweep.root,
            train=options,
            holdout=True,
        )

    steps = sweep.budget_steps
    if steps is None:
        seconds = seconds_per_step(new_run, _scratch_path(out, trial.number))
        steps = max(sweep.rungs, math.floor(sweep.budget_minutes * 60 / seconds))
        trial.set_user_attr("seconds_per_step", seconds)
        trial.set_user_attr("steps", steps)
    run = new_run(steps)
    judge = run.protocol
    key, direction = judge.objective
    value = float("nan")
    for rung, stop in enumerate(sweep.rung_steps(steps), 1):
        if rung == 1:
            runs.start_run(run, run_dir, stop_at=stop)
        else:
            runs.resume_run(run_dir, {}, stop_at=stop)
        report, _, _ = runs.evaluate_run(
            run_dir,
            split="valid",
            limit=sweep.valid_limit,
            samples=sweep.samples,
            seed=sweep.seed,
            out=run_dir / f"eval-valid-step{stop}.json",
        )
        value = float(report[key])
        if hasattr(judge, "diversity_of"):
            diversity = judge.diversity_of(report)
            value = _constrained(trial, value, diversity, key, direction, sweep.min_diversity)
        # Steps differ between the trials of a time budget: the pruner compares rung numbers.
        trial.report(value, stop if sweep.budget_minutes is None else rung)
        if stop < steps and trial.should_prune():  # a finished trial counts
            raise optuna.TrialPruned()
    return value


def seconds_per_step(new_run: Callable[[int], runs.Run], scratch: Path) -> float:
    """Training seconds per step of the run `new_run(steps)` makes, on this machine.

    Two fresh runs in `scratch` (removed afterwards, also on error), of W + K and of W steps:
    (wall(W + K) - wall(W)) / K, each the wall time `fit` measures (building the data set is
    not in it). The longer run goes first: what a process pays only once (its first
    allocations of a shape) then lengthens the longer run, an error towards fewer steps than
    the budget, not more. Timer noise larger than K steps (the longer run not slower) falls
    back to the longer run's mean step, an over-estimate too.
    """
    walls = {}
    try:
        for steps in (CALIBRATION_WARMUP + CALIBRATION_STEPS, CALIBRATION_WARMUP):
            shutil.rmtree(scratch, ignore_errors=True)
            walls[steps] = runs.start_run(new_run(steps), scratch).wall_time_s
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    longer, shorter = walls[CALIBRATION_WARMUP + CALIBRATION_STEPS], walls[CALIBRATION_WARMUP]
    if longer <= shorter:
        return longer / (CALIBRATION_WARMUP + CALIBRATION_STEPS)
    return (longer - shorter) / CALIBRATION_STEPS


def _constrained(
    trial,  # noqa: ANN001 (an optuna.Trial)
    value: float,
    diversity: float,
    key: str,
    direction: str,
    minimum: float | None,
) -> float:
    """The figure a rung reports to Optuna: `value`, or the worst value there is when
    `diversity` is below `minimum`; the figure and the diversity are kept as user attributes
    either way."""
    trial.set_user_attr(key, value)
    trial.set_user_attr(DIVERSITY, diversity)
    below = minimum is not None and diversity < minimum
    trial.set_user_attr(BELOW_MIN_DIVERSITY, below)
    if below:
        return math.inf if direction == "minimize" else -math.inf
    return value


def check_trial_to_retrain(trial_dir: Path) -> None:
    """Before `genvid train --from-trial DIR/trials/NNNN`: refuse a trial that failed in its
    sweep (it diverged, or its run broke off), warn in one line about one that was pruned or is
    still running. Only a sweep whose study is the default `DIR/study.db` is looked up (the
    trial's directory does not name another storage); anything else is retrained unchecked."""
    trial_dir = Path(trial_dir)
    database = trial_dir.parent.parent / "study.db"
    if not (trial_dir.name.isdigit() and trial_dir.parent.name == "trials"):
        return
    if not database.is_file():
        return
    try:
        import optuna

        if not check_sqlite_file(database, "its trials cannot be looked up"):
            return
        study = _load_study(default_url(database.parent))
        trials = [t for t in study.get_trials(deepcopy=False) if t.number == int(trial_dir.name)]
    except (ImportError, ValueError, SweepError):
        return  # no Optuna, or a study that cannot be read: nothing to say about the trial
    if not trials:
        return
    trial = trials[0]
    state = trial.state
    where = f"trial {trial.number} ({trial_dir})"
    if state == optuna.trial.TrialState.FAIL:
        why = trial.user_attrs.get("error") or "its run broke off"
        raise ValueError(
            f"{where} failed in its sweep ({first_line(ValueError(why))[:160]}); "
            "retrain a complete trial (genvid sweep-report lists them)"
        )
    if state == optuna.trial.TrialState.PRUNED:
        at = max(trial.intermediate_values) if trial.intermediate_values else 0
        unit = "rung" if time_budgeted(study) else "step"
        print(
            f"genvid: warning: {where} was pruned at {unit} {at} (worse than the median of its "
            "rung); retraining it anyway",
            file=sys.stderr,
        )
    elif state == optuna.trial.TrialState.RUNNING:
        print(
            f"genvid: warning: {where} is still running in its sweep (or its worker died); "
            "retraining its configuration anyway",
            file=sys.stderr,
        )


def summary(study) -> list[str]:  # noqa: ANN001 (an optuna.Study)
    """The best trial and how many trials ended in each state."""
    trials = study.get_trials(deepcopy=False)
    counts = {}
    for trial in trials:
        counts[state_of(trial)] = counts.get(state_of(trial), 0) + 1
    lines = ["trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))]
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    eligible = [t for t in completed if not t.user_attrs.get(BELOW_MIN_DIVERSITY)]
    minimum = study.user_attrs.get("definition", {}).get("min_diversity")
    if len(eligible) < len(completed):
        below = [t.number for t in completed if t not in eligible]
        lines.append(
            f"below --min-diversity {minimum}: trial(s) {', '.join(map(str, below))} (recorded, "
            "never the best)"
        )
    if eligible:
        pick = min if study.direction.name == "MINIMIZE" else max
        best = pick(eligible, key=lambda t: t.value)
        lines.append(
            f"best: trial {best.number} ({best.user_attrs.get('run_dir')}): {best.value:.4f}"
        )
        lines.append("  " + ", ".join(f"{k}={_show(v)}" for k, v in best.params.items()))
    elif completed:
        lines.append(f"best: none (every complete trial is below --min-diversity {minimum})")
    return lines


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
