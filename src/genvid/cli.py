"""The `genvid` command: train | eval | sample | plot | data | info.

Wiring only: every subcommand calls the library (`genvid.train`, `genvid.runs`,
`genvid.data`, `genvid.viz`); bad input reaches the user as one line and a non-zero exit.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from genvid import data as gdata
from genvid import inventory, pretrained, runs
from genvid.allocator import keep_freed_memory
from genvid.configcheck import parse_field_value
from genvid.errors import first_line
from genvid.presets import get_preset, make_config, presets, recipe_summary
from genvid.protocols.prediction import plot_reports
from genvid.sweep.storage import SweepError
from genvid.train import NonFiniteLossError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# OSErrors are reported in main too; an ImportError here is a missing optional extra (PyAV,
# ale-py), whose message says what to install; a SweepError is a sweep's fault (its database,
# a dead worker, every trial diverged), whose message says how to continue
USER_ERRORS = (ValueError, NonFiniteLossError, ImportError, SweepError)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="genvid")
def cli() -> None:
    """Train, evaluate and sample generative models of images and video."""
    keep_freed_memory()  # every command allocates large CPU tensors again and again


def _parse_overrides(preset: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    """`FIELD=VALUE` strings -> typed overrides of the preset's config."""
    config = get_preset(preset).config
    overrides: dict[str, Any] = {}
    for pair in pairs:
        field, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set wants FIELD=VALUE, got {pair!r}")
        if not hasattr(config, field):
            make_config(preset, **{field: None})  # raises, naming the valid fields
        overrides[field] = parse_field_value(f"--set {field}", text, type(getattr(config, field)))
    make_config(preset, **overrides)  # validate now, before anything is written
    return overrides


_TRAIN_OPTIONS = {
    "steps": click.option("--steps", type=int, help="Optimiser steps in all (default 1000)."),
    "batch_size": click.option(
        "--batch-size", type=int, help="Global batch, split over processes (default 64)."
    ),
    "lr": click.option("--lr", type=float, help="Peak learning rate (default 1e-3)."),
    "optimizer": click.option(
        "--optimizer", type=click.Choice(["adam", "rmsprop"]), help="Optimiser."
    ),
    "lr_schedule": click.option(
        "--lr-schedule", type=click.Choice(["constant", "cosine"]), help="Learning-rate schedule."
    ),
    "warmup_steps": click.option("--warmup-steps", type=int, help="Linear warm-up steps."),
    "grad_clip": click.option(
        "--grad-clip", type=float, help="Clip gradient norms to this (0 = off)."
    ),
    "grad_clip_mode": click.option(
        "--grad-clip-mode",
        type=click.Choice(["global", "tensor"]),
        help="global: one norm over all gradients (default); tensor: each tensor on its own.",
    ),
    "precision": click.option(
        "--precision",
        type=click.Choice(["fp32", "bf16"]),
        help="bf16 autocasts on CPU and CUDA (several times faster on AMX CPUs).",
    ),
    "compile": click.option(
        "--compile/--no-compile", "compile_", default=None, help="torch.compile."
    ),
    "channels_last": click.option(
        "--channels-last/--no-channels-last", default=None, help="channels_last memory format."
    ),
    "device": click.option("--device", help="auto, cpu, cuda or cuda:N (default auto)."),
    "seed": click.option("--seed", type=int, help="Seed of the weights and the data stream."),
    "checkpoint_every": click.option(
        "--checkpoint-every", type=int, help="Checkpoint every N steps (and at the end)."
    ),
    "log_every": click.option("--log-every", type=int, help="TensorBoard scalars every N steps."),
    "sample_every": click.option(
        "--sample-every", type=int, help="Sample grid to TensorBoard every N steps (0 off)."
    ),
}
TRAIN_OPTIONS = list(_TRAIN_OPTIONS.values())
# What a sweep's trials share; their steps, seed, logging and compilation belong to the sweep.
SWEEP_TRAIN_FIELDS = (
    "batch_size",
    "lr",
    "optimizer",
    "lr_schedule",
    "warmup_steps",
    "grad_clip",
    "grad_clip_mode",
    "precision",
    "channels_last",
    "device",
)
SWEEP_TRAIN_OPTIONS = [_TRAIN_OPTIONS[name] for name in SWEEP_TRAIN_FIELDS]


def _with_options(options):
    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


@cli.command(context_settings=CONTEXT)
@click.argument("preset", required=False)
@click.option("--data", "data_name", help="Training data set (default: the preset's own).")
@click.option("--root", type=click.Path(), help="Directory of a user's data (cifar10, videos).")
@click.option("--out", type=click.Path(), help="Run directory (default runs/PRESET).")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory.")
@click.option(
    "--from-trial",
    type=click.Path(),
    help="Retrain a sweep trial's configuration (DIR/trials/NNNN) on all training data.",
)
@click.option(
    "--overfit", is_flag=True, help="Train on one fixed example (a check that the model learns)."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a model config field, e.g. --set hidden_channels=64 (repeatable).",
)
@_with_options(TRAIN_OPTIONS)
def train(
    preset, data_name, root, out, resume, from_trial, overfit, overrides, compile_, **options
) -> None:
    """Train PRESET (see `genvid info`), or continue a run with --resume RUN.

    Example: genvid train pixelcnn-mnist --steps 2000 --precision bf16 --out runs/demo
    """
    options["compile"] = compile_
    if options["grad_clip"] == 0:
        options["grad_clip"] = None
    chosen = {key: value for key, value in options.items() if value is not None}
    if resume or from_trial:
        if preset or data_name or root or overrides or overfit or (resume and out):
            raise ValueError("--resume and --from-trial take the preset and data from the run")
        if resume and from_trial:
            raise ValueError("choose --resume RUN or --from-trial TRIAL, not both")
    if resume:
        result = runs.resume_run(Path(resume), chosen)
    elif from_trial:
        if not out:
            raise ValueError("--from-trial needs --out, the new run's directory")
        from genvid.sweep import check_trial_to_retrain

        check_trial_to_retrain(Path(from_trial))  # a failed trial is refused, a pruned one warned
        result = runs.start_from_trial(Path(from_trial), Path(out), chosen)
    else:
        if not preset:
            raise ValueError("name a PRESET to train (see `genvid info`) or --resume RUN")
        model_overrides = _parse_overrides(preset, overrides)
        run = runs.Run.new(
            preset,
            overrides=model_overrides,
            data=data_name,
            root=root,
            train=chosen,
            overfit=overfit,
        )
        result = runs.start_run(run, Path(out or Path("runs") / preset))
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 speaks for the run
    click.echo(
        f"trained to step {result.step}: loss {result.loss:.3f}, "
        f"{result.examples_per_s:.1f} examples/s, {result.wall_time_s:.0f} s"
    )


@cli.command("eval", context_settings=CONTEXT)
@click.argument("run", type=click.Path())
@click.option(
    "--split", default=None, help="Split of the run's data set (default: test, or valid if none)."
)
@click.option("--data", "data_name", help="Evaluate on another data set (default: the run's).")
@click.option(
    "--limit",
    "--sequences",
    "limit",
    type=int,
    help="Evaluate only the first N examples or sequences (quick checks).",
)
@click.option(
    "--batch-size",
    type=int,
    help="Examples per pass (default 64 images, 8 videos; frame prediction: 200 // samples).",
)
@click.option(
    "--samples",
    type=int,
    help="SVG: samples per test sequence, the best one counts (default 100); video GANs: "
    "clips generated for FVD (default 2048, the common protocol; fewer: not comparable).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of sampled evaluations.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--out",
    type=click.Path(),
    help="Report file (default RUN/eval.json; RUN/eval-limit8.json etc. for partial checks).",
)
def eval_(run, split, data_name, limit, batch_size, samples, seed, device, out) -> None:
    """Evaluate RUN by its preset's protocol and print the figures.

    Likelihood models: exact NLL (nats per image or per predicted frame, bits/dim for discrete
    data). SVG: SSIM and PSNR per predicted frame, best of --samples per sequence. Video GANs:
    FVD of --samples generated clips against a seeded random subset of as many real ones, the
    real-vs-real floor and the generated clips' diversity.

    The full evaluation on the run's own test split writes RUN/eval.json; any other (--limit,
    --split, --data, --samples other than the protocol's) writes a report named after it,
    e.g. RUN/eval-limit8.json or RUN/eval-samples2.json, so a quick check never replaces the
    full result. RUN may be pretrained:NAME, a model shipped with genvid (`genvid info`): its
    report is written only with --out, and its card's figure is printed beside.
    """
    report, lines, path = runs.evaluate_run(
        pretrained.resolve(run),
        split=split,
        data_name=data_name,
        limit=limit,
        batch_size=batch_size,
        samples=samples,
        seed=seed,
        device=device,
        out=Path(out) if out else None,
    )
    protocol = report["protocol"]
    click.echo(
        f"{protocol['data']} ({protocol['split']}, {protocol['count']} examples, "
        f"checkpoint step {protocol['checkpoint_step']})"
    )
    for line in lines:
        click.echo(line)
    if run.startswith(pretrained.PREFIX):  # what the card says, to compare
        found = pretrained.card(run.removeprefix(pretrained.PREFIX))
        click.echo(f"  card         {pretrained.figure_line(found)}")
    if path is not None:
        click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path())
@click.option(
    "--out",
    type=click.Path(),
    required=True,
    help="Output: .png grid (images or videos), or .gif (videos: context, truth, sample).",
)
@click.option(
    "--n",
    "count",
    type=int,
    default=16,
    show_default=True,
    help="Images to draw, or test videos to continue.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler.")
@click.option("--size", help="HxW of image samples (default: the training data's).")
@click.option(
    "--steps",
    type=int,
    help="Video models: frames to generate after the context (default: the protocol's).",
)
@click.option("--naive", is_flag=True, help="Use the naive reference sampler (same draws).")
@click.option(
    "--compile",
    is_flag=True,
    help="PixelCNN and VPN: compile the cached sampler's step (same draws, 1.3-3x faster a "
    "frame; compiling takes 10-30 s once per process, so it pays on long jobs; see "
    "BENCHMARKS.md).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--temperature",
    type=float,
    default=1.0,
    show_default=True,
    help="Autoregressive models: divide the logits by this (1 draws from the model exactly).",
)
@click.option(
    "--complete",
    type=click.Path(path_type=Path),
    help="A .npy of uint8 images [N, C, H, W] (or [N, H, W]) to complete; VPNs: videos "
    "[N, T, C, H, W] (or [N, T, H, W]) continued after all but their last frame, whose "
    "given pixels the first drawn frame keeps.",
)
@click.option("--mask", help="With --complete: top-half, or a .npy 0/1 [H, W] of given pixels.")
def sample(run, out, count, seed, size, steps, device, **options) -> None:
    """Draw samples from RUN: an image grid, or continued test videos (GIF or grid).

    Completion: genvid sample RUN --complete digits.npy --mask top-half --out done.png keeps
    the top half of each image and draws the rest given it (given images in the first row).
    RUN may be pretrained:NAME, a model shipped with genvid (`genvid info`).
    """
    if options["naive"] and options["compile"]:
        raise click.UsageError("--compile speeds up the cached sampler; --naive has no step")
    # the sampler options given go to the run's protocol, which declares the ones it takes
    source = click.get_current_context().get_parameter_source
    given = {name: v for name, v in options.items() if source(name) is not ParameterSource.DEFAULT}
    path = runs.sample_run(
        pretrained.resolve(run),
        Path(out),
        count=count,
        seed=seed,
        size=size,
        steps=steps,
        device=device,
        options=given,
    )
    click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("runs_", metavar="RUN...", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), required=True, help="Output .png.")
def plot(runs_, out) -> None:
    """SSIM and PSNR per predicted frame of frame-prediction runs (SVG), with 95 % bands.

    Each RUN is a run directory (its eval.json) or a report file; put the deterministic
    baseline beside the stochastic models: genvid plot runs/svg-lp runs/svg-det --out fig.png
    """
    click.echo(f"wrote {plot_reports([Path(r) for r in runs_], Path(out))}")


@cli.group(context_settings=CONTEXT)
def data() -> None:
    """Generate or inspect data sets."""


@data.command("moving-mnist", context_settings=CONTEXT)
@click.option("--out", type=click.Path(), required=True, help="Output .npy, (20, N, 64, 64) uint8.")
@click.option(
    "--sequences", type=click.IntRange(min=1), default=10000, show_default=True, help="Sequences N."
)
@click.option(
    "--seed",
    type=int,
    default=gdata.TEST_SET_SEED,
    show_default=True,
    help="Seed of the sequences (the default is genvid's regenerated test set).",
)
@click.option(
    "--stochastic", is_flag=True, help="SVG's stochastic bounces (32x32 digits, 25 frames)."
)
def moving_mnist(out, sequences, seed, stochastic) -> None:
    """Write Moving MNIST from MNIST-test digits in the standard (time, sequence, 64, 64) layout."""
    click.echo(gdata.write_regenerated_test_set(out, sequences, seed=seed, stochastic=stochastic))


@data.command("moving-mnist-srvp", context_settings=CONTEXT)
@click.option("--out", type=click.Path(), required=True, help="Output .npy, (T, N, 64, 64) uint8.")
@click.option(
    "--sequences",
    type=click.IntRange(min=1, max=gdata.srvp_mnist.TEST_SEQUENCES),
    default=gdata.srvp_mnist.TEST_SEQUENCES,
    show_default=True,
    help="Write the first N sequences of the set.",
)
@click.option(
    "--deterministic",
    is_flag=True,
    help="The deterministic set (velocities reversed at the walls, 100 frames); default: the "
    "stochastic one (new random velocities at the walls, 25 frames).",
)
def moving_mnist_srvp(out, sequences, deterministic) -> None:
    """Write SRVP's Stochastic Moving MNIST test set, the one the later papers' figures use.

    Byte-identical to the `sequences` array SRVP's make_test_set.py writes (seed 42, MNIST-test
    digits, 28x28, two per sequence), in the standard (time, sequence, 64, 64) layout.
    """
    click.echo(gdata.write_srvp_test_set(out, sequences, deterministic=deterministic))


@data.command("pacman", context_settings=CONTEXT)
@click.option(
    "--root", type=click.Path(), help="Output directory (default: the cache the registry reads)."
)
@click.option("--train-clips", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option(
    "--test-clips",
    type=click.IntRange(min=1),
    default=4096,
    show_default=True,
    help="Test clips (FVD by the common protocol needs 2 x 2,048).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the policy.")
def pacman(root, train_clips, test_clips, seed) -> None:
    """Render genvid's own Ms. Pac-Man clips (20x3x64x64) from ale-py's ROM, once, before a
    multi-process run (a run makes the default set on first use otherwise)."""
    from genvid.data.pacman import default_root, write_pacman_set

    out = Path(root) if root else default_root()
    click.echo(write_pacman_set(out, train_clips=train_clips, test_clips=test_clips, seed=seed))


@cli.command(context_settings=CONTEXT)
@click.argument("preset")
@click.option("--trials", type=int, required=True, help="Finished trials the study should hold.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=DIST",
    help="A searched field: loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH, "
    "int-log:LOW:HIGH or choice:A,B (repeatable).",
)
@click.option("--space", "space_file", type=click.Path(), help="TOML file: [params], [set].")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Fixed override.")
@click.option("--budget-steps", type=int, help="Training steps of every trial.")
@click.option(
    "--budget-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="CPU-minutes of training per trial: each trial runs as many steps as fit at its "
    "measured speed (measured first on a few extra steps, not counted in the budget).",
)
@click.option("--rungs", type=int, default=4, show_default=True, help="Evaluations per trial.")
@click.option("--out", type=click.Path(), required=True, help="Sweep directory.")
@click.option("--storage", help="Optuna database URL (default sqlite:///OUT/study.db).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--data", "data_name", help="Training data set (default: the preset's own).")
@click.option("--root", type=click.Path(), help="Directory of a user's data.")
@click.option("--valid-limit", type=int, help="Validation examples per evaluation (default all).")
@click.option("--samples", type=int, help="Sampled evaluators: samples (SVG) or clips (FVD).")
@click.option(
    "--min-diversity",
    type=click.FloatRange(min=0, min_open=True),
    help="FVD sweeps: a trial whose diversity (mean pairwise I3D distance over the data's) is "
    "below this is recorded but never the best (stored with the study).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of trials and sampler.")
@_with_options(SWEEP_TRAIN_OPTIONS)
def sweep(preset, params, space_file, overrides, out, storage, workers, **kw) -> None:
    """Search PRESET's hyperparameters with Optuna; each trial is a run in OUT/trials/NNNN.

    Trials train on data without the validation split and are judged on it by the preset's
    own evaluator (NLL down, SSIM up, FVD down), at --rungs steps so that the median pruner
    stops bad ones early. Give every trial --budget-steps, or --budget-minutes to compare
    configurations at equal CPU time. Run the same command again to continue a killed sweep.

    Example: genvid sweep pixelcnn-mnist --trials 8 --param lr=loguniform:1e-4:1e-2
    --param hidden_channels=int:8:64 --budget-steps 500 --out sweeps/pixelcnn
    """
    from genvid.sweep import Sweep, check_min_diversity, parse_space, run_sweep

    if (kw["budget_steps"] is None) == (kw["budget_minutes"] is None):
        raise click.UsageError("give exactly one of --budget-steps and --budget-minutes")
    train_options = {k: kw.pop(k) for k in SWEEP_TRAIN_FIELDS if kw[k] is not None}
    if train_options.get("grad_clip") == 0:
        train_options["grad_clip"] = None
    space = parse_space(preset, params, space_file, _parse_overrides(preset, overrides))
    try:  # a usage error, before any trial trains
        check_min_diversity(preset, space.fixed, kw["min_diversity"])
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--min-diversity'") from None
    definition = Sweep(
        preset,
        space,
        trials=kw["trials"],
        budget_steps=kw["budget_steps"],
        budget_minutes=kw["budget_minutes"],
        rungs=kw["rungs"],
        train=train_options,
        data=kw["data_name"],
        root=kw["root"],
        valid_limit=kw["valid_limit"],
        samples=kw["samples"],
        min_diversity=kw["min_diversity"],
        seed=kw["seed"],
    )
    for line in run_sweep(definition, Path(out), storage=storage, workers=workers):
        click.echo(line)


@cli.command("sweep-report", context_settings=CONTEXT)
@click.argument("sweep_dir", metavar="DIR", type=click.Path())
@click.option("--storage", help="Optuna database URL (default sqlite:///DIR/study.db).")
def sweep_report(sweep_dir, storage) -> None:
    """The best trial, a table of every trial, and plots (DIR/report/*.png) of a sweep."""
    from genvid.sweep import sweep_report as report

    lines, plots = report(Path(sweep_dir), storage=storage)
    for line in lines:
        click.echo(line)
    for path in plots:
        click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
def info() -> None:
    """List presets, pretrained models, data sets found, and devices."""
    click.echo("presets:")
    width = max(map(len, presets()))
    for name in presets():
        click.echo(f"  {name:<{width}} {get_preset(name).description}")
        click.echo(f"  {'':<{width}} recipe: {recipe_summary(name)}")
    click.echo("pretrained models (genvid sample|eval pretrained:NAME):")
    for line in inventory.pretrained_lines():
        click.echo(f"  {line}")
    click.echo("data sets:")
    for line in inventory.data_lines():
        click.echo(f"  {line}")
    click.echo("devices:")
    for line in inventory.device_lines():
        click.echo(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line on stderr and exit 1 for bad input, no traceback."""
    try:
        cli.main(args=argv, prog_name="genvid", standalone_mode=False)
    except click.ClickException as error:  # a bad option: one line too, and where to look
        hint = " (see --help)" if isinstance(error, click.UsageError) else ""
        click.echo(f"genvid: error: {error.format_message()}{hint}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("genvid: aborted", err=True)
        sys.exit(130)
    except USER_ERRORS as error:
        _fail(first_line(error))
    except OSError as error:  # the file system said no: a full disk, a read-only mount, ...
        where = f": {error.filename}" if error.filename else ""
        _fail(f"{error.strerror}{where}" if error.strerror else first_line(error))
    except MemoryError:
        _fail("out of memory; try a smaller --batch-size or fewer examples")
    except RuntimeError as error:  # PyTorch's allocators say so in a RuntimeError
        if not _allocation_failed(error):
            raise  # anything else is a bug
        tried = re.search(r"tried to allocate (\d+) bytes", str(error))  # the CPU's words
        size = f" ({int(tried.group(1)) / 1e9:,.1f} GB asked for)" if tried else ""
        _fail(f"out of memory{size}; lower --n, --size, --samples or --batch-size")


def _allocation_failed(error: RuntimeError) -> bool:
    """Whether `error` is an allocator's refusal (CPU: DefaultCPUAllocator; CUDA: OOM)."""
    message = str(error)
    return (
        type(error).__name__ == "OutOfMemoryError"
        or "DefaultCPUAllocator" in message
        or "can't allocate memory" in message
    )


def _fail(message: str) -> None:
    click.echo(f"genvid: error: {message}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
