"""What a person watching sees: TensorBoard scalars and sample grids, and a progress bar.

Only rank 0 builds a `Monitor`; TensorBoard is imported lazily, with a clear message if missing.
"""

from __future__ import annotations

import sys
import time
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
        self.writer = SummaryWriter(log_dir, purge_step=start_step + 1)
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
        for name, value in scalars.items():
            self.writer.add_scalar(f"train/{name}", value, step)
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
            save_clip_grid_gif(samples.cpu(), self.samples_dir / f"step-{step:06d}.gif")
        else:
            grid = image_grid(samples.cpu())
        self.writer.add_image("samples", grid, step, dataformats="CHW")

    def close(self) -> None:
        """Flush the events and close the bar."""
        self.bar.close()
        self.writer.close()


def _wait_for_a_new_second(log_dir: Path) -> None:
    """Keep TensorBoard's file order equal to the order of the runs that wrote them.

    Event files are named `events.out.tfevents.<unix second>.<host>.<pid>.<counter>` and read
    in name order; two files of one process in one second sort by the counter as text
    (".10" before ".9"), which would apply a resumed run's purge to the wrong file.
    """
    stamps = [int(p.name.split(".")[3]) for p in Path(log_dir).glob("events.out.tfevents.*")]
    while stamps and time.time() < max(stamps) + 1:
        time.sleep(0.05)
