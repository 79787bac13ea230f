"""How long runs trained, from their TensorBoard logs: what a shipped model's card states as
`wall_time_s`, for runs that stopped and resumed across sessions (each process prints only its
own share).

Every `log_every` updates `fit` logs `train/examples_per_s` for the interval since the last log,
so the interval took `log_every * batch_size / examples_per_s` seconds (its first interval
includes the process's start-up). TensorBoard drops the intervals a resumed run trained again
after its last checkpoint, so the sum is the time of the updates the weights hold; the time
lost to repeating them is not counted. Prints one row per run: updates, wall hours of
training (the threads a run used are not logged) and the median and range of examples/s.

    python bench/training_time.py runs/long/svg-lp-small runs/long/gan-small
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def training_seconds(run_dir: Path) -> tuple[int, float, list[float]]:
    """Last logged update, seconds of training and the logged examples/s of `run_dir`."""
    train = json.loads((run_dir / "config.json").read_text())["train"]
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    logged = events.Scalars("train/examples_per_s")
    seconds, last = 0.0, 0
    for event in logged:
        updates = event.step - last  # the log interval (shorter at the end)
        seconds += updates * train["batch_size"] / event.value
        last = event.step
    return last, seconds, [event.value for event in logged]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    print(f"{'run':<32} {'updates':>8} {'wall h':>7} {'examples/s':>18}")
    for run_dir in args.runs:
        updates, seconds, rates = training_seconds(run_dir)
        spread = f"{statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"
        print(f"{str(run_dir):<32} {updates:>8} {seconds / 3600:>7.2f} {spread:>18}")


if __name__ == "__main__":
    main()
