"""What a person watching sees: TensorBoard scalars and sample grids, and a progress bar.

Only rank 0 builds a `Monitor`; TensorBoard is imported lazily, with a clear message if missing.
The events are a view of the run, not part of it: when they cannot be written (a full disk),
one warning says so and training goes on; the checkpoints say for themselves whether they fail.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from genvid.viz import image_grid, save_clip_grid_gif


class Monitor:
    """TensorBoard events in RUN/tb and a tqdm bar (or one line per log step when not a TTY).

    Args:
        log_dir: where the event files go.
        steps: total updates of the run (the bar's length).
        start_step: updates already done; events an interrupted run logged after this step
            (or a failed start, at step 0) are purged, so TensorBoard shows one unbroken curve.
    """

    def __init__(self, log_dir: Path, *, steps: int, start_step: int) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError(
                f"training logs to TensorBoard, which is missing ({err}); pip install tensorboard"
            ) from None
        _wait_for_a_new_second(log_dir)
        _quiet_tensorboard_threads()
        self.log_dir = Path(log_dir)
        self.events_failed = False
        try:  # writes the file's first event
            self.writer = SummaryWriter(log_dir, purge_step=start_step + 1)
        except OSError as err:
            self._stop(err)
        self.bar = tqdm(
            total=steps, initial=start_step, unit="step", dynamic_ncols=True, disable=None
        )  # None: off when stderr is not a TTY
        self.steps = steps
        self.samples_dir = Path(log_dir).parent / "samples"

    def update(self, n: int = 1) -> None:
        """Advance the bar by `n` updates."""
        self.bar.update(n)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        """Write `scalars` (loss, other model outputs, lr, examples/s) under global step `step`."""

        def write() -> None:
            for name, value in scalars.items():
                self.writer.add_scalar(f"train/{name}", value, step)

        self._write(write)
        shown = f"loss {scalars['loss']:.4g}, {scalars['examples_per_s']:.4g} ex/s"
        if self.bar.disable:
            print(f"step {step}/{self.steps}: {shown}", file=sys.stderr, flush=True)
        else:
            self.bar.set_postfix_str(shown, refresh=False)

    def log_samples(self, step: int, samples: Tensor) -> None:
        """Tile uint8 samples `[N, C, H, W]` (or videos `[N, T, C, H, W]`, one per row, and
        also as a moving GIF, RUN/samples/step-NNNNNN.gif, since TensorBoard shows no video
        without moviepy)."""
        if samples.dtype != torch.uint8 or samples.dim() not in (4, 5):
            raise ValueError(
                f"sample_fn must return uint8 [N, C, H, W] or [N, T, C, H, W], got "
                f"{samples.dtype} {tuple(samples.shape)}"
            )
        if samples.dim() == 5:
            grid = image_grid(samples.flatten(0, 1).cpu(), nrow=samples.shape[1])  # (N*T, C, H, W)
            path = self.samples_dir / f"step-{step:06d}.gif"
            self._write(lambda: save_clip_grid_gif(samples.cpu(), path))
        else:
            grid = image_grid(samples.cpu())
        self._write(lambda: self.writer.add_image("samples", grid, step, dataformats="CHW"))

    def close(self) -> None:
        """Flush the events and close the bar."""
        self.bar.close()
        self._write(
            lambda: self.writer.flush()
        )  # raises what the writer thread met; close() would not
        self._write(lambda: self.writer.close())

    def _write(self, write: Callable[[], object]) -> None:
        """Write events or a GIF; after the first failure, warn once and write no more."""
        if self.events_failed:
            return
        try:
            write()
        except OSError as err:
            self._stop(err)

    def _stop(self, err: OSError) -> None:
        self.events_failed = True
        print(
            f"genvid: warning: no more TensorBoard events or sample GIFs in "
            f"{self.log_dir.parent} ({err}); training goes on",
            file=sys.stderr,
            flush=True,
        )


def _quiet_tensorboard_threads() -> None:
    """Let TensorBoard's writer thread die without printing a traceback.

    Its exception (e.g. ENOSPC) is kept and raised again by the next write or close in the
    main thread, where `Monitor._write` turns it into one warning line.
    """
    previous = threading.excepthook
    if getattr(previous, "quiets_tensorboard", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not type(args.thread).__module__.startswith("tensorboard."):
            previous(args)

    hook.quiets_tensorboard = True
    threading.excepthook = hook


def _wait_for_a_new_second(log_dir: Path) -> None:
    """Keep TensorBoard's file order equal to the order of the runs that wrote them.

    Event files are named `events.out.tfevents.<unix second>.<host>.<pid>.<counter>` and read
    in name order; two files of one process in one second sort by the counter as text
    (".10" before ".9"), which would apply a resumed run's purge to the wrong file.
    """
    stamps = [int(p.name.split(".")[3]) for p in Path(log_dir).glob("events.out.tfevents.*")]
    while stamps and time.time() < max(stamps) + 1:
        time.sleep(0.05)
