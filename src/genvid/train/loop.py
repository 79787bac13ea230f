"""The one training loop (DESIGN.md, section 3, "Training"), for every model, in 1 or N processes.

It sees only the contracts of docs/design.md: `stream.batch(step, batch_size, rank,
world_size)` is a pure function of its arguments, and an `Update` (`genvid.train.update`) does
one step with its named optimisers (the default: `model(batch)` returns scalar tensors with a
"loss", one backward, one optimiser). Everything else belongs to the loop: device, schedules,
bf16 autocast, torch.compile, DDP, logging and checkpoints of every optimiser by name. Because
the data of update k are `stream.batch(k, ...)` and every generator is saved with the weights, a
resumed run repeats an uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from genvid.allocator import keep_freed_memory
from genvid.atomic import remove_stale_temporaries
from genvid.errors import first_line
from genvid.train import distributed
from genvid.train.checkpoint import (
    CONFIG,
    STATE,
    WEIGHTS,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_run_config,
)
from genvid.train.config import TrainConfig
from genvid.train.lock import hold_run_lock
from genvid.train.monitor import Monitor
from genvid.train.optim import build_scheduler, sync_lr
from genvid.train.rng import rng_state, seed_everything, set_rng_state
from genvid.train.runspec import create_run_dir, run_spec
from genvid.train.update import LikelihoodUpdate, NonFiniteLossError, Update


class Stream(Protocol):
    """Training data as docs/design.md defines them (see `genvid.data.streams`)."""

    example_shape: tuple[int, ...]

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor: ...


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, lost mount); the previous one is intact."""


@dataclass(frozen=True)
class FitResult:
    """What a call to `fit` achieved."""

    step: int  # completed updates of the run (config.steps when it finished, or stop_at)
    loss: float  # loss of the last update, averaged over ranks
    wall_time_s: float  # seconds spent in this call
    examples_per_s: float  # global examples trained per second in this call


def fit(
    model: nn.Module,
    stream: Stream,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    spec: dict | None = None,
    sample_fn: Callable[[nn.Module], Tensor] | None = None,
    resume: bool = False,
    update: Update | None = None,
    stop_at: int | None = None,
) -> FitResult:
    """Train `model` on `stream` for `config.steps` updates, checkpointing into `run_dir`.

    Args:
        model: a module whose `forward(batch)` returns a dict of scalars with "loss"; its
            weights are moved to the device and trained in place.
        stream: the data; update k (0-based) of rank r trains on
            `stream.batch(k, config.batch_size, r, world_size)`.
        spec: what rebuilds the model and data (e.g. {"model": ..., "data": ...}), stored in
            RUN/config.json beside "train"; on resume it must equal the stored one.
        sample_fn: `sample_fn(model) -> uint8 [N, C, H, W]` (or `[N, T, C, H, W]`), called on
            rank 0 every `config.sample_every` updates in eval mode without gradients; its
            draws from torch's generator are undone, so sampling never changes training.
        resume: continue the run stored in `run_dir` (from step 0 if it holds a config but
            no checkpoint yet); a fresh run refuses a directory that holds a checkpoint.
        update: what one step does (default `LikelihoodUpdate()`: the model's "loss", one
            optimiser built from `config`).
        stop_at: stop after this many updates of the run (checkpointing there) instead of
            `config.steps`; a later `resume` continues exactly as if never stopped (the
            schedule stays keyed by `config.steps`). What a sweep's rungs use.

    Returns:
        A `FitResult`. Raises `NonFiniteLossError` when the loss turns NaN or infinite, and
        `RunInUseError` when another process is training in `run_dir` (rank 0 holds an
        advisory lock on it for the whole call).

    On the CPU this calls `genvid.allocator.keep_freed_memory()`, which holds for the whole
    process: freed memory is reused, not returned to the system.
    """
    if config.sample_every and sample_fn is None:
        raise ValueError(f"sample_every={config.sample_every} needs a sample_fn")
    if config.compile and getattr(model, "double_backward", False):
        raise ValueError(
            "--compile: torch.compile cannot differentiate through a gradient (this model's "
            "gradient penalty); train without --compile, or with --set gp_weight=0"
        )
    ctx = distributed.setup(config.device)
    try:
        with _own_run_dir(ctx, Path(run_dir), resume):
            update = update or LikelihoodUpdate()
            end = config.steps if stop_at is None else stop_at
            if not 0 < end <= config.steps:
                raise ValueError(f"stop_at must be in 1..{config.steps}, got {stop_at}")
            return _fit(
                ctx=ctx,
                model=model,
                stream=stream,
                config=config,
                run_dir=Path(run_dir),
                spec=spec,
                sample_fn=sample_fn,
                resume=resume,
                update=update,
                end=end,
            )
    finally:
        distributed.teardown(ctx)


@contextmanager
def _own_run_dir(ctx: distributed.Dist, run_dir: Path, resume: bool) -> Iterator[None]:
    """Rank 0 makes RUN, holds its lock for the whole run and clears what an interrupted write
    left; if it cannot, every rank raises its error (no rank is left waiting at a barrier)."""
    with ExitStack() as stack:
        error = None
        if ctx.is_main:
            try:
                if not resume:
                    create_run_dir(run_dir)
                stack.enter_context(hold_run_lock(run_dir))
                remove_stale_temporaries(run_dir, [CONFIG, WEIGHTS, STATE])
            except (ValueError, OSError) as err:
                error = err
        distributed.raise_from_main(ctx, error)
        yield


def _fit(
    *,
    ctx: distributed.Dist,
    model: nn.Module,
    stream: Stream,
    config: TrainConfig,
    run_dir: Path,
    spec: dict | None,
    sample_fn: Callable[[nn.Module], Tensor] | None,
    resume: bool,
    update: Update,
    end: int,
) -> FitResult:
    if config.batch_size % ctx.world_size:
        raise ValueError(
            f"batch_size {config.batch_size} does not split over {ctx.world_size} processes"
        )
    stored_spec = run_spec(run_dir, config, spec, resume)
    if ctx.device.type == "cpu":
        keep_freed_memory()  # large CPU tensors: no page faults on every step
    seed_everything(config.seed + ctx.rank)
    model.to(ctx.device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizers = update.optimizers(model, config)
    schedulers = {name: build_scheduler(opt, config) for name, opt in optimizers.items()}
    start, loss = 0, math.nan
    if resume and has_checkpoint(run_dir):
        checkpoint = load_checkpoint(run_dir, model, optimizers, schedulers, update)
        start, loss = checkpoint.step, checkpoint.loss
        if start > end:
            raise ValueError(f"{run_dir} has done {start} updates already; steps={end}")
        for scheduler in schedulers.values():
            sync_lr(scheduler, start)
        # Exact only in a world of the same size; extra ranks keep their fresh seed + rank.
        if ctx.rank < len(checkpoint.rng_states):
            set_rng_state(checkpoint.rng_states[ctx.rank], ctx.device)
    distributed.barrier(ctx)  # every rank has read the run directory before rank 0 writes
    if ctx.is_main:
        write_run_config(run_dir, {**stored_spec, "train": asdict(config)})

    net: nn.Module = model
    if ctx.world_size > 1:
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = DistributedDataParallel(
            model, device_ids=device_ids, find_unused_parameters=update.find_unused_parameters
        )
    if config.compile:
        net = torch.compile(net)

    local_batch = config.batch_size // ctx.world_size
    monitor = Monitor(run_dir / "tb", steps=config.steps, start_step=start) if ctx.is_main else None
    last_saved = start if start else None
    started = tick = time.perf_counter()
    tick_step = start
    try:
        for step in range(start, end):
            batch = _to_device(
                stream.batch(step, config.batch_size, ctx.rank, ctx.world_size),
                ctx,
                config,
                local_batch,
            )
            lrs = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
            try:
                metrics = update(
                    net,
                    batch,
                    optimizers,
                    step=step,
                    config=config,
                    rank=ctx.rank,
                    world_size=ctx.world_size,
                )
            except NonFiniteLossError as err:
                where = f"{run_dir} at step {last_saved}" if last_saved is not None else "none"
                raise NonFiniteLossError(f"{err}; last good checkpoint: {where}") from None
            with warnings.catch_warnings():
                # A schedule is a function of the fit step: it advances for a group that did
                # not update in this step (another phase's), which PyTorch warns about.
                warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`")
                for scheduler in schedulers.values():
                    scheduler.step()
            done = step + 1
            if monitor is not None:
                monitor.update()
            log_now = done % config.log_every == 0 or done == end
            save_now = done % config.checkpoint_every == 0 or done == end
            if log_now or save_now:  # collective: every rank takes the same branch
                scalars = _mean_over_ranks(ctx, metrics)
                loss = scalars["loss"]
            if log_now and monitor is not None:
                now = time.perf_counter()
                scalars.update(_lr_scalars(lrs))
                scalars["examples_per_s"] = (done - tick_step) * config.batch_size / (now - tick)
                tick, tick_step = now, done
                monitor.log(done, scalars)
            sample_now = config.sample_every and done % config.sample_every == 0
            if sample_now and monitor is not None and sample_fn is not None:
                monitor.log_samples(done, _draw_samples(model, sample_fn, ctx.device))
            if save_now:
                _checkpoint(
                    ctx, run_dir, model, optimizers, schedulers, update, done, loss, last_saved
                )
                last_saved = done
    finally:
        if monitor is not None:
            monitor.close()
    wall = time.perf_counter() - started
    examples = (end - start) * config.batch_size
    return FitResult(end, loss, wall, examples / wall if examples else 0.0)


def _lr_scalars(lrs: dict[str, float]) -> dict[str, float]:
    """ "lr" for one optimiser, "lr/NAME" for each of several."""
    if len(lrs) == 1:
        return {"lr": next(iter(lrs.values()))}
    return {f"lr/{name}": lr for name, lr in lrs.items()}


def _to_device(batch: Tensor, ctx: distributed.Dist, config: TrainConfig, size: int) -> Tensor:
    if batch.shape[0] != size:
        raise ValueError(f"stream returned a batch of {batch.shape[0]} examples, expected {size}")
    batch = batch.to(ctx.device, non_blocking=True)
    if config.channels_last and batch.dim() == 4:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def _mean_over_ranks(ctx: distributed.Dist, metrics: dict[str, Tensor]) -> dict[str, float]:
    """Global-batch means of the model's scalars (what the loss of the global batch would be)."""
    for name, value in metrics.items():
        if value.dim():
            raise ValueError(f"the model output {name!r} must be a scalar, got shape {value.shape}")
    values = distributed.mean_over_ranks(ctx, torch.stack(list(metrics.values()))).tolist()
    return dict(zip(metrics, values, strict=True))


def _draw_samples(
    model: nn.Module, sample_fn: Callable[[nn.Module], Tensor], device: torch.device
) -> Tensor:
    """Samples in eval mode, without gradients, leaving torch's generators as they were."""
    model.eval()
    try:
        devices = [device.index] if device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            return sample_fn(model)
    finally:
        model.train()


def _checkpoint(
    ctx: distributed.Dist,
    run_dir: Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler],
    update: Update,
    step: int,
    loss: float,
    last_saved: int | None,
) -> None:
    """Rank 0 writes every rank's RNG state with the weights. Every rank then learns whether
    the write worked (so when any rank names this checkpoint, it is complete on disk), and a
    failed write (a full disk) stops all of them, naming the checkpoint that is still intact."""
    rng_states = distributed.gather_objects(ctx, rng_state(ctx.device))
    error = None
    if ctx.is_main:
        try:
            save_checkpoint(
                run_dir,
                model,
                optimizers,
                schedulers,
                step,
                loss=loss,
                rng_states=rng_states,
                update_state=update.state_dict(),
            )
        except OSError as err:
            kept = f"step {last_saved}'s is intact" if last_saved else "there is no earlier one"
            error = CheckpointWriteError(
                f"could not write the checkpoint of step {step} into {run_dir} "
                f"({err.strerror or first_line(err)}); {kept}"
            )
    distributed.raise_from_main(ctx, error)
