"""`genvid sweep-report DIR`: the best trial, a table of trials, and Optuna's plots as PNGs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from genvid.atomic import prepare_output
from genvid.presets import protocol
from genvid.sweep.storage import (
    STUDY,
    check_sqlite_file,
    check_url,
    creation_lock,
    database_errors,
    default_url,
    has_study,
    open_storage,
    shown,
)
from genvid.sweep.study import (
    BELOW_MIN_DIVERSITY,
    DIVERSITY,
    SURPLUS,
    _lock_of,
    _show,
    require_optuna,
    state_of,
    summary,
    time_budgeted,
)

PLOTS = ("history", "importances", "slice")
RESTORE = "restore it from a copy, or run the sweep again in another --out"


def sweep_report(out: str | Path, *, storage: str | None = None) -> tuple[list[str], list[Path]]:
    """Summary and table lines of the study in `out`, and the plots written to `out/report`."""
    require_optuna()
    import optuna

    out = Path(out)
    url = storage or default_url(out)
    if storage is None and not (out / "study.db").is_file():
        raise FileNotFoundError(f"{out / 'study.db'} not found: not a sweep directory")
    sqlite_file = check_url(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with creation_lock(_lock_of(out, sqlite_file)):  # not while a sweep creates the study
        if sqlite_file and not check_sqlite_file(sqlite_file, RESTORE):
            raise ValueError(f"{sqlite_file} holds no genvid sweep")
        study_storage = open_storage(url)
    with database_errors(url):
        if not has_study(study_storage):
            raise ValueError(f"{shown(url)} holds no genvid sweep")
        study = optuna.load_study(study_name=STUDY, storage=study_storage)
        lines = [*summary(study), "", *trial_table(study)]
        return lines, _plots(study, out / "report")


def trial_table(study: Any) -> list[str]:
    """One markdown row per trial: number, state, value, (FVD sweeps) diversity, last rung
    (its step; its number under a time budget, then with the trial's steps and seconds per
    step), parameters. A trial below the study's minimum diversity shows its own figure
    (Optuna holds the worst value for it) and a mark."""
    names = sorted({name for t in study.get_trials(deepcopy=False) for name in t.params})
    definition = study.user_attrs.get("definition", {})
    key = _diversity_objective(definition)
    timed = time_budgeted(study)
    columns = ["trial", "state", "value", *(["diversity"] if key else []), "rung"]
    columns += [*(["steps", "s/step"] if timed else []), *names]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|---:|---|---:|" + "---:|" * (len(columns) - 3),
    ]
    marked = False
    for t in study.get_trials(deepcopy=False):
        if state_of(t) == SURPLUS:  # never run: nothing to show
            continue
        value = (
            t.value
            if t.value is not None
            else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
            )
        )
        below = bool(t.user_attrs.get(BELOW_MIN_DIVERSITY))
        if below:
            value = t.user_attrs.get(key, value)
            marked = True
        rung = max(t.intermediate_values) if t.intermediate_values else "-"
        cells = [str(t.number), t.state.name.lower(), _show(value) if value is not None else "-"]
        if key:
            diversity = t.user_attrs.get(DIVERSITY)
            cells.append(
                "-" if diversity is None else _show(float(diversity)) + (" *" if below else "")
            )
        cells.append(str(rung))
        if timed:
            cells += [_show(t.user_attrs.get(name, "-")) for name in ("steps", "seconds_per_step")]
        cells += [_show(t.params[n]) if n in t.params else "-" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    if marked:
        lines.append(
            f"* below --min-diversity {definition.get('min_diversity')}: never the best "
            "(Optuna holds the worst value for it)"
        )
    return lines


def _diversity_objective(definition: dict[str, Any]) -> str | None:
    """The objective's key when the study's protocol reports a diversity figure, else None."""
    try:
        judge = protocol(definition["preset"], **definition["space"]["fixed"])
    except (KeyError, TypeError, ValueError):  # not a genvid definition, or a retired preset
        return None
    return judge.objective[0] if hasattr(judge, "diversity_of") else None


def _plots(study: Any, folder: Path) -> list[Path]:
    """Optimisation history, parameter importances and slice plot, where the study has enough
    finished trials of finite value for each (importances need two)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    done = [  # a trial below a minimum diversity holds an infinite value: Optuna omits it
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and math.isfinite(t.value)
    ]
    makers = {
        "history": (1, optuna_plots.plot_optimization_history),
        "importances": (2, optuna_plots.plot_param_importances),
        "slice": (1, optuna_plots.plot_slice),
    }
    written = []
    for name, (needed, make) in makers.items():
        if len(done) < needed:
            continue
        path = folder / f"{name}.png"
        prepare_output(path)
        # Optuna's plots switch the process to the ggplot style: keep it to this figure.
        with warnings.catch_warnings(), plt.rc_context():
            warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
            axes = make(study)
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
