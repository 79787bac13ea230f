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
ends with exactly the trials asked for (summaries count surplus trials apart).

A minimum diversity (`min_diversity`, for protocols with a diversity figure: FVD): a collapsed
generator can score a good FVD at small N, so each rung's figure and diversity are kept as the
trial's user attributes (the objective's key, e.g. "fvd", and "diversity"), and a rung whose
diversity is below the minimum reports the worst possible value to Optuna instead (+inf when
minimising) and marks the trial "below_min_diversity". Optuna itself then never holds such a
trial as good: not as the study's best, not in TPE's model of good configurations, not in the
median pruner's bar (which may stop it, like any bad trial). A mark read only by genvid's report
would leave all three fooled. The summary's best trial (the one to retrain with `--from-trial`)
is the best of the trials not below the minimum.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genvid import data as gdata
from genvid import runs
from genvid.evaluate import NonFiniteResultError
from genvid.presets import get_preset, protocol
from genvid.sweep.space import SearchSpace
from genvid.train.lock import hold_lock, is_held
from genvid.train.update import NonFiniteLossError

STUDY = "genvid"  # the study's name in its storage
FINISHED = ("COMPLETE", "PRUNED")
SURPLUS = "surplus"  # user attribute of a trial asked for when the study had enough: never run
BELOW_MIN_DIVERSITY = "below_min_diversity"  # user attribute: its last rung was too uniform
DIVERSITY = "diversity"  # user attribute: the last rung's diversity figure


@dataclass(frozen=True)
class Sweep:
    """Everything that defines a sweep; stored in the study and checked on every restart."""

    preset: str
    space: SearchSpace
    trials: int  # finished trials the study should hold
    budget_steps: int  # training steps of every trial
    rungs: int = 4  # evaluations per trial (at budget * k / rungs), reported to the pruner
    train: dict[str, Any] | None = None  # fixed training options (batch size, precision, ...)
    data: str | None = None  # None: the preset's
    root: str | None = None
    valid_limit: int | None = None  # validation examples per evaluation (None: the split)
    samples: int | None = None  # sampled evaluators (SVG best of N, FVD clips)
    min_diversity: float | None = None  # FVD: trials less diverse than this never win
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("trials", "budget_steps", "rungs"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if self.rungs > self.budget_steps:
            raise ValueError(f"--rungs {self.rungs} exceeds --budget-steps {self.budget_steps}")
        if "valid" not in gdata.splits(self.data_name):
            raise ValueError(
                f"a sweep is judged on a validation split, and {self.data_name} has none "
                f"(splits: {', '.join(gdata.splits(self.data_name))}); it never reads the test "
                "split"
            )
        check_min_diversity(self.preset, self.space.fixed, self.min_diversity)

    @property
    def data_name(self) -> str:
        return self.data or get_preset(self.preset).data

    def definition(self) -> dict[str, Any]:
        stored = asdict(self)
        stored["space"] = self.space.describe()
        stored.pop("trials")  # asking for more trials continues the same study
        if self.min_diversity is None:  # as studies made before the option were stored
            stored.pop("min_diversity")
        return json.loads(json.dumps(stored))

    def rung_steps(self) -> list[int]:
        return sorted(
            {max(1, self.budget_steps * k // self.rungs) for k in range(1, self.rungs + 1)}
        )


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
    import optuna

    out = Path(out)
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    (out / "trials").mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{out.resolve() / 'study.db'}"
    study = _open_study(sweep, url)
    _fail_abandoned_trials(study, out)
    if workers == 1:
        _work(sweep, out, url)
    else:
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // workers)
        processes = [
            context.Process(target=_work, args=(sweep, out, url, threads)) for _ in range(workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode]
        if failed:
            raise RuntimeError(f"{len(failed)} sweep worker(s) failed (exit codes {failed})")
    study = optuna.load_study(study_name=STUDY, storage=_storage(url))
    return summary(study)


def require_optuna() -> None:
    """Optuna is an optional dependency: say how to install it, in one line, if missing."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ImportError("sweeps need Optuna: pip install 'genvid[sweep]'") from None


def _storage(url: str):  # noqa: ANN202 (an optuna storage)
    import optuna

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def _open_study(sweep: Sweep, url: str):  # noqa: ANN202 (an optuna.Study)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, direction = protocol(sweep.preset, **sweep.space.fixed).objective
    # The sampler and pruner live in each worker's process (`_work`), not in the storage.
    study = optuna.create_study(
        study_name=STUDY, storage=_storage(url), load_if_exists=True, direction=direction
    )
    stored = study.user_attrs.get("definition")
    if stored is None:
        study.set_user_attr("definition", sweep.definition())
    elif stored != sweep.definition():
        difference = _first_difference(stored, sweep.definition())
        raise ValueError(
            f"the study in {url} was defined differently ({difference}); use another --out or "
            "the same options"
        )
    return study


def _first_difference(old: dict, new: dict) -> str:
    key = next(k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k))
    return f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"


def _fail_abandoned_trials(study, out: Path) -> None:  # noqa: ANN001
    """Mark failed every "running" trial whose lock no process holds (its worker died)."""
    import optuna

    storage = study._storage  # the study's own storage object, the one API to set a state
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not is_held(_lock_path(out, trial.number)):
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


def _lock_path(out: Path, number: int) -> Path:
    return out / "trials" / f".{number:04d}.lock"


def _work(sweep: Sweep, out: Path, url: str, threads: int | None = None) -> None:
    """One worker: start trials until the study holds enough finished (or running) ones."""
    import optuna
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=STUDY,
        storage=_storage(url),
        sampler=_sampler(sweep.seed, 0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    failures = 0
    while True:
        if _held(study.get_trials(deepcopy=False)) >= sweep.trials:
            return
        trial = study.ask()
        if _surplus(study, trial, sweep.trials):  # another worker asked for the last one
            trial.set_user_attr(SURPLUS, True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        study.sampler = _sampler(sweep.seed, trial.number)  # before any parameter is drawn
        try:
            value = _run_trial(sweep, out, trial)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except (NonFiniteLossError, NonFiniteResultError) as err:  # a diverged trial
            trial.set_user_attr("error", str(err))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failures += 1
            if failures >= sweep.trials:
                raise RuntimeError(f"{failures} trials failed; the last: {err}") from None
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        else:
            study.tell(trial, value)


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
    """Train the trial's run rung by rung, evaluating on the validation split after each."""
    import optuna

    values = {param.name: param.suggest(trial) for param in sweep.space.params}
    model_overrides, train_overrides = sweep.space.split(values)
    run_dir = out / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir))
    judge = protocol(sweep.preset, **model_overrides)
    key, direction = judge.objective
    options = {
        **(sweep.train or {}),
        **train_overrides,
        "steps": sweep.budget_steps,
        "seed": sweep.seed,
        "checkpoint_every": sweep.budget_steps,
    }
    value = float("nan")
    with hold_lock(_lock_path(out, trial.number), what=f"trial {trial.number}", hint="a new --out"):
        for rung, stop in enumerate(sweep.rung_steps()):
            if rung == 0:
                runs.start_run(
                    sweep.preset,
                    model_overrides,
                    sweep.data,
                    sweep.root,
                    run_dir,
                    options,
                    holdout=True,
                    stop_at=stop,
                )
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
            trial.report(value, stop)
            if stop < sweep.budget_steps and trial.should_prune():  # a finished trial counts
                raise optuna.TrialPruned()
    return value


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
