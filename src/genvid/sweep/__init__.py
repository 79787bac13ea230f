"""Hyperparameter search on Optuna: `genvid sweep` and `genvid sweep-report`.

`space` parses and checks what a sweep varies, `study` runs the trials (ordinary run
directories judged on the validation split by the preset's own evaluator), `storage` opens the
study's database and turns its failures into one line, `report` shows the study. Optuna is an
optional dependency (`pip install 'genvid[sweep]'`), imported when a sweep runs.
"""

from genvid.sweep.report import sweep_report
from genvid.sweep.space import Param, SearchSpace, parse_space
from genvid.sweep.storage import SweepError
from genvid.sweep.study import Sweep, check_min_diversity, check_trial_to_retrain, run_sweep

__all__ = [
    "Param",
    "SearchSpace",
    "Sweep",
    "SweepError",
    "check_min_diversity",
    "check_trial_to_retrain",
    "parse_space",
    "run_sweep",
    "sweep_report",
]
