"""Frame prediction judged by SSIM and PSNR, best of N samples (SVG; Denton & Fergus 2018).

The protocol of the later literature on Stochastic Moving MNIST (SRVP, SLAMP): condition on 5
frames, predict 20; for each test sequence draw N = 100 samples and keep the best one with
respect to the ground truth by its score averaged over the predicted frames, separately for
SSIM and for PSNR; report the per-step and the averaged figures, mean over sequences with a
95 % interval. A deterministic model has one prediction per sequence. Metric conventions are
in `genvid.metrics`.

Beside the model, every report scores two deterministic baselines on the same frames with the
same metrics: an all-black prediction and the last given frame copied forward. On Stochastic
Moving MNIST the black background dominates SSIM, so doing nothing scores high (SSIM 0.68 on
1,000 test sequences); a model's figures mean little without them. `plot_reports` (`genvid
plot`) draws several runs' reports on one figure, the baselines once per data set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor
from tqdm import tqdm

from genvid import data as gdata
from genvid.atomic import prepare_output
from genvid.metrics import best_of_samples, mean_and_interval, psnr, ssim
from genvid.models.base import eval_mode
from genvid.protocols.base import Sampler, SampleRequest, no_size
from genvid.viz import BASELINE_STYLES, plot_frame_prediction, save_image_grid, save_video_gif

# sequences x samples predicted in one call, by the evaluation and by `genvid sample`'s sheet
# (bounded memory: 16 videos x 100 samples in one call took 23 GB for svg-lp-srvp-small)
FRAMES_PER_PASS = 200
SHOWN_SAMPLES = 3  # random samples beside the best one in `genvid sample`
TRAINING_VIDEOS = 2  # TensorBoard: predictions for the first sequences of the training stream
METRICS = (("ssim", ssim), ("psnr", psnr))
BASELINES = {"black": "black frame", "copy-last": "copy last"}  # report key -> summary label


@runtime_checkable
class Predictor(Protocol):
    """What `FramePrediction` calls on a model (an `nn.Module`; SVG): frames predicted after
    context frames, every draw from `generator`."""

    def predict(
        self, context: Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """uint8 `[B, steps, C, H, W]` after uint8 `context` `[B, Tc, C, H, W]`."""
        ...


@dataclass(frozen=True)
class FramePrediction:
    """Best-of-`samples` SSIM and PSNR of frames `context+1 .. context+predicted`.

    `stochastic=False` (a deterministic model) evaluates its one prediction per sequence.
    `paper` (figures per model: {"psnr": ..., "ssim": ...}) is reported beside evaluations on
    `paper_data` only. `baselines` holds the same figures of the all-black prediction and of
    the last given frame repeated (see `_baseline_scores`).
    """

    context: int = 5
    predicted: int = 20
    samples: int = 100
    stochastic: bool = True
    paper: dict[str, dict[str, float]] | None = None
    paper_data: str = "moving-mnist-stochastic"
    name: str = "frame-prediction"
    objective: tuple[str, str] = ("ssim", "maximize")  # what a sweep optimises
    model_contract: ClassVar[type] = Predictor
    sampler_options: ClassVar[None] = None  # draws with no options of its own
    sample_formats: ClassVar[tuple[str, ...]] = (".gif", ".png")

    def evaluate(
        self, model: Predictor, examples: Tensor, *, data: str, batch_size, samples, device, seed
    ) -> dict[str, Any]:
        if samples is not None and not self.stochastic:
            raise ValueError("a deterministic model makes one prediction; drop --samples")
        n = (samples if samples is not None else self.samples) if self.stochastic else 1
        if n < 1:
            raise ValueError(f"--samples must be >= 1, got {n}")
        gdata.check_frames(examples, context=self.context, predicted=self.predicted, source=data)
        if len(examples) < 2:  # before any prediction, not in the interval at the end
            raise ValueError(
                f"frame prediction reports a 95 % interval over sequences, so it needs at least "
                f"2; {data} has {len(examples)}"
            )
        generator = torch.Generator(device=device).manual_seed(seed)
        chunk = batch_size or max(1, FRAMES_PER_PASS // n)
        best = {metric: [] for metric, _ in METRICS}
        plain = {name: {metric: [] for metric, _ in METRICS} for name in BASELINES}
        with eval_mode(model), torch.no_grad():
            for videos in tqdm(examples.split(chunk), desc="predicting", disable=None):
                videos = videos.to(device)
                scores = self._scores(model, videos, n, generator)
                for metric, values in scores.items():
                    best[metric].append(best_of_samples(values)[0].cpu())
                for name, by_metric in self._baseline_scores(videos).items():
                    for metric, values in by_metric.items():
                        plain[name][metric].append(values.cpu())
        report: dict[str, Any] = {"count": len(examples), "context": self.context}
        report |= {"predicted": self.predicted, "samples": n, "stochastic": self.stochastic}
        report["sampling_seed"] = seed
        report |= _figures(best)
        report["baselines"] = {name: _figures(chunks) for name, chunks in plain.items()}
        report["selection"] = (
            f"best of {n} samples per sequence by the mean over the predicted frames, "
            "separately for SSIM and PSNR"
            if self.stochastic
            else "deterministic model: one prediction per sequence"
        )
        if self.paper and data == self.paper_data:
            report["paper"] = self.paper
        return report

    def _scores(
        self, model: Predictor, videos: Tensor, n: int, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """SSIM and PSNR of `n` predictions of each video: `[n, B, predicted]` each.

        More than `FRAMES_PER_PASS` samples are predicted in chunks of at most that many
        sequences x samples (a chunk holds at least one sample of every video), so memory stays
        bounded; only the scores of all `n` are kept, a few bytes per sample and frame.
        """
        b = len(videos)
        per_call = n if n <= FRAMES_PER_PASS else max(1, FRAMES_PER_PASS // b)
        truth = videos[:, self.context : self.context + self.predicted]
        target = truth.unsqueeze(1).float() / 255
        scores: dict[str, list[Tensor]] = {metric: [] for metric, _ in METRICS}
        for first in range(0, n, per_call):
            m = min(per_call, n - first)
            context = videos[:, : self.context].repeat_interleave(m, dim=0)  # (B*m, Tc, C, H, W)
            predicted = model.predict(context, self.predicted, generator=generator)
            predicted = predicted.unflatten(0, (b, m)).float() / 255  # (B, m, K, C, H, W)
            for metric, fn in METRICS:
                scores[metric].append(fn(predicted, target.expand_as(predicted)).transpose(0, 1))
        return {metric: torch.cat(chunks) for metric, chunks in scores.items()}  # (n, B, K)

    def _baseline_scores(self, videos: Tensor) -> dict[str, dict[str, Tensor]]:
        """SSIM and PSNR of the two deterministic baselines of each video: `[B, predicted]`
        each, for `black` (every predicted frame 0) and `copy-last` (frame `context` repeated).

        They go through `ssim` and `psnr` as the model's predictions do, so `psnr`'s cap holds
        for them too: a predicted frame equal to its target (a black prediction of a blank
        frame; a copy of a frame that did not move) scores `PSNR_CAP_DB` = 100 dB, not +inf. No
        Stochastic Moving MNIST frame is blank (its digits never leave the canvas), but a
        sequence whose digits both start with speed 0 stays still, and its copy-last frames
        score 100 dB.
        """
        truth = videos[:, self.context : self.context + self.predicted].float() / 255
        last = videos[:, self.context - 1 : self.context].float() / 255  # (B, 1, C, H, W)
        guesses = {"black": torch.zeros_like(truth), "copy-last": last.expand_as(truth)}
        return {
            name: {metric: fn(guess, truth) for metric, fn in METRICS}  # (B, K)
            for name, guess in guesses.items()
        }

    def summary(self, report: dict[str, Any]) -> list[str]:
        first, last = report["context"] + 1, report["context"] + report["predicted"]
        how = f"best of {report['samples']}" if report["stochastic"] else "deterministic, 1 sample"
        lines = [
            f"  SSIM         {report['ssim']:.4f} +- {report['ssim_ci95']:.4f} (95 %), frames "
            f"{first}-{last} given 1-{report['context']}, {how}",
            f"  PSNR         {report['psnr']:.2f} +- {report['psnr_ci95']:.2f} dB",
        ]
        for name, label in BASELINES.items():
            if name in report.get("baselines", {}):  # reports written before the baselines
                figures = report["baselines"][name]
                lines.append(
                    f"  {label:<13}SSIM {figures['ssim']:.4f} +- {figures['ssim_ci95']:.4f}  "
                    f"PSNR {figures['psnr']:.2f} +- {figures['psnr_ci95']:.2f} dB"
                )
        for model, figures in (report.get("paper") or {}).items():
            lines.append(f"  paper        {model}: PSNR {figures['psnr']}, SSIM {figures['ssim']}")
        return lines

    def sample(self, model: Predictor, request: SampleRequest, videos) -> Any:
        """Ground truth beside the best prediction (by SSIM) and a few random ones: a GIF, or a
        PNG grid (one row per video: context, truth, best, random)."""
        no_size(request)
        steps = request.steps if request.steps is not None else self.predicted
        if steps < 1:
            raise ValueError(f"--steps must be >= 1, got {steps}")
        given = videos(request.count)
        gdata.check_frames(given, context=self.context, predicted=steps, source="the test set")
        n = max(self.samples if self.stochastic else 1, 1)
        context = given[:, : self.context]
        truth = given[:, self.context : self.context + steps]
        device = next(model.parameters()).device
        shown = []  # per chunk of videos: the best sample, then the first few after the first
        with eval_mode(model), torch.no_grad():
            # chunks of whole videos, at most FRAMES_PER_PASS predictions each: memory stays bounded
            # however many videos are asked for; only the drawn columns are kept
            chunk = max(1, FRAMES_PER_PASS // n)
            for first in range(0, len(given), chunk):
                part = slice(first, first + chunk)
                b = len(context[part])
                drawn = model.predict(
                    context[part].repeat_interleave(n, dim=0).to(device),
                    steps,
                    generator=request.generator,
                ).cpu()
                drawn = drawn.unflatten(0, (b, n))  # (b, n, K, C, H, W)
                target = truth[part].unsqueeze(1).expand_as(drawn)
                score = ssim(drawn.float() / 255, target.float() / 255).mean(dim=2)  # (b, n)
                best = drawn[torch.arange(b), score.argmax(dim=1)]
                shown.append(torch.stack([best, *drawn[:, 1 : SHOWN_SAMPLES + 1].unbind(1)], 1))
        columns = list(torch.cat(shown).unbind(1))
        if request.out.suffix.lower() == ".gif":
            return save_video_gif(context, truth, columns, request.out)
        rows = torch.cat([context, truth, *columns], dim=1)  # (B, Tc + K * columns, C, H, W)
        return save_image_grid(rows.flatten(0, 1), request.out, nrow=rows.shape[1])

    def training_sampler(self, stream, seed: int) -> Sampler:
        given = stream.batch(0, TRAINING_VIDEOS)[:, : self.context]

        def draw(model: Predictor) -> Tensor:
            device = next(model.parameters()).device
            generator = torch.Generator(device=device).manual_seed(seed)
            return model.predict(given.to(device), self.predicted, generator=generator)

        return draw


def _figures(scores: dict[str, list[Tensor]]) -> dict[str, Any]:
    """Report fields of per-step scores, chunks of `[sequences, predicted]` per metric: the mean
    over sequences of each sequence's mean over the steps, the per-step means over sequences,
    and the half widths of their 95 % intervals (`mean_and_interval`), in float64."""
    fields: dict[str, Any] = {}
    for metric, chunks in scores.items():
        per_sequence = torch.cat(chunks).double()  # (M, predicted)
        mean, half = mean_and_interval(per_sequence.mean(dim=1))
        step_mean, step_half = mean_and_interval(per_sequence)
        fields[metric], fields[f"{metric}_ci95"] = float(mean), float(half)
        fields[f"{metric}_per_step"] = step_mean.tolist()
        fields[f"{metric}_per_step_ci95"] = step_half.tolist()
    return fields


def plot_reports(sources: list[Path], out: Path) -> Path:
    """SSIM and PSNR per step of several runs' frame-prediction reports on one figure.

    Each source is a run directory (its eval.json) or a report file; the legend names each by
    its preset (and directory, when two share a preset). The baselines (black frame, copy of
    the last given frame) are drawn once per data set, from the first report on it that has
    them; reports written before the baselines plot without.
    """
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must end in .png, got {out}")
    prepare_output(out)
    reports, baselines = {}, {}
    for source in sources:
        path = source / "eval.json" if source.is_dir() else source
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run `genvid eval {source}` first")
        try:
            report = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(report, dict) or "ssim_per_step" not in report:
            raise ValueError(f"{path} holds no frame-prediction figures (SSIM/PSNR per step)")
        _check_per_step(report, path)
        label = report.get("protocol", {}).get("preset", path.parent.name)
        reports[f"{label} ({path.parent.name})" if label in reports else label] = report
        if "baselines" in report:
            _check_baselines(report, path)
            data = report.get("protocol", {}).get("data", path.name)
            baselines.setdefault(f"{data}, {report.get('count')} sequences", report)
    if len(baselines) == 1:  # one data set: no need to name it in the legend
        baselines = {"": next(iter(baselines.values()))}
    return plot_frame_prediction(reports, out, baselines=baselines)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numbers(values: object, length: int, path: Path, key: str) -> None:
    if not (isinstance(values, list) and len(values) == length and all(map(_is_number, values))):
        raise ValueError(f"{path}: {key} is not a list of {length} numbers")


def _check_per_step(report: dict[str, Any], path: Path) -> None:
    """One-line ValueError naming `path` unless the model's per-step figures, their bands
    and its context are what the plot draws: equally long lists of numbers and an integer."""
    steps = report["ssim_per_step"]
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{path}: ssim_per_step is not a list of per-step numbers")
    for key in ("ssim_per_step", "ssim_per_step_ci95", "psnr_per_step", "psnr_per_step_ci95"):
        _check_numbers(report.get(key), len(steps), path, key)
    context = report.get("context")
    if not (isinstance(context, int) and not isinstance(context, bool) and context >= 0):
        raise ValueError(f"{path}: context is not a number of given frames")


def _check_baselines(report: dict[str, Any], path: Path) -> None:
    """One-line ValueError naming `path` unless every baseline the plot draws has per-step
    SSIM and PSNR as long as the model's (checked before, by `_check_per_step`)."""
    entries = report["baselines"]
    for name in BASELINE_STYLES:
        entry = entries.get(name) if isinstance(entries, dict) else None
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: baselines.{name} is missing or not an object")
        for metric in ("ssim", "psnr"):
            key = f"{metric}_per_step"
            _check_numbers(entry.get(key), len(report[key]), path, f"baselines.{name}.{key}")
