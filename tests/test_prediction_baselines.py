"""The black-frame and copy-last baselines of every frame-prediction report: equal to scikit-image
and closed-form PSNR, independent of the model, printed and plotted beside it."""

import copy
import json
import math

import numpy as np
import pytest
import torch
from cli_runner import run
from skimage.metrics import structural_similarity

import genvid
from genvid import data as gdata
from genvid.metrics import PSNR_CAP_DB
from genvid.protocols import FramePrediction

SVG_TINY = dict(hidden_channels=2, g_dim=4, z_dim=2, rnn_size=4)
FIELDS = ("", "_ci95", "_per_step", "_per_step_ci95")
DATA = "moving-mnist-stochastic"


def _evaluate(model, videos, judge=None, batch_size=3):
    judge = judge or FramePrediction(samples=2, paper={"SVG-LP": {"psnr": 14.5, "ssim": 0.709}})
    return judge.evaluate(
        model, videos, data=DATA, batch_size=batch_size, samples=None, device="cpu", seed=0
    )


def _tiny(preset):
    torch.manual_seed(0)
    return genvid.create(preset, **SVG_TINY)


@pytest.fixture(scope="module")
def videos():
    return gdata.eval_set(DATA, limit=5)  # (5, 25, 1, 64, 64)


@pytest.fixture(scope="module")
def report(videos):
    return _evaluate(_tiny("svg-lp-smmnist"), videos)


def _reference(guess: np.ndarray, truth: np.ndarray) -> dict[str, float | list[float]]:
    """The report's figures of predictions `guess` [N, K, H, W] of `truth` (floats in [0, 1]),
    from scikit-image's SSIM and the closed-form PSNR, in float64 numpy."""
    scores = {"ssim": np.empty(guess.shape[:2]), "psnr": np.empty(guess.shape[:2])}
    for i, j in np.ndindex(*guess.shape[:2]):
        scores["ssim"][i, j] = structural_similarity(
            guess[i, j], truth[i, j], data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )  # fmt: skip
        mse = np.mean((guess[i, j] - truth[i, j]) ** 2)
        scores["psnr"][i, j] = PSNR_CAP_DB if mse == 0 else -10 * math.log10(mse)
    figures = {}
    n = guess.shape[0]
    for metric, values in scores.items():
        per_sequence = values.mean(axis=1)
        figures[metric] = per_sequence.mean()
        figures[f"{metric}_ci95"] = 1.96 * per_sequence.std(ddof=1) / math.sqrt(n)
        figures[f"{metric}_per_step"] = values.mean(axis=0).tolist()
        figures[f"{metric}_per_step_ci95"] = (
            1.96 * values.std(axis=0, ddof=1) / math.sqrt(n)
        ).tolist()
    return figures


def _assert_figures_equal(got, expected, abs=1e-5):
    for metric in ("ssim", "psnr"):
        for field in FIELDS:
            key = metric + field
            assert got[key] == pytest.approx(expected[key], abs=abs), key


def _differs(a, b, metric="ssim"):
    return abs(a[metric] - b[metric]) > 1e-3


def test_baselines_equal_scikit_image_and_closed_form_psnr(videos, report):
    frames = videos[:, :, 0].numpy().astype(np.float64) / 255  # (N, T, H, W)
    truth = frames[:, 5:25]
    black = _reference(np.zeros_like(truth), truth)
    copy_last = _reference(np.repeat(frames[:, 4:5], 20, axis=1), truth)
    _assert_figures_equal(report["baselines"]["black"], black)
    _assert_figures_equal(report["baselines"]["copy-last"], copy_last)
    # The check can tell the baselines apart: a copy of the first given frame, or of the first
    # predicted one, would not pass as either.
    copy_first = _reference(np.repeat(frames[:, 0:1], 20, axis=1), truth)
    copy_next = _reference(np.repeat(frames[:, 5:6], 20, axis=1), truth)
    for other in (copy_first, copy_next):
        assert _differs(other, black) and _differs(other, copy_last)
        assert _differs(other, report["baselines"]["copy-last"])


def test_an_exact_match_scores_the_psnr_cap_for_the_baselines_too():
    """Hand-made: sequence 0 goes blank after its context (the black prediction is exact), 1
    stands still (the copy is exact), 2 is noise. Those frames score 100 dB, not +inf."""
    generator = torch.Generator().manual_seed(0)
    videos = torch.randint(0, 256, (3, 25, 1, 64, 64), dtype=torch.uint8, generator=generator)
    videos[0, 5:] = 0
    videos[1, 5:] = videos[1, 4]
    report = _evaluate(_tiny("svg-det-smmnist"), videos, FramePrediction(stochastic=False))
    black, copy_last = report["baselines"]["black"], report["baselines"]["copy-last"]
    assert all(math.isfinite(v) for v in black["psnr_per_step"] + copy_last["psnr_per_step"])
    frames = videos[:, :, 0].numpy().astype(np.float64) / 255
    truth = frames[:, 5:25]
    _assert_figures_equal(black, _reference(np.zeros_like(truth), truth))
    _assert_figures_equal(copy_last, _reference(np.repeat(frames[:, 4:5], 20, axis=1), truth))
    # Step 1 of the exact sequence, from the mean over the three: exactly the cap.
    others = [-10 * math.log10(np.mean(truth[i, 0] ** 2)) for i in (1, 2)]
    assert 3 * black["psnr_per_step"][0] - sum(others) == pytest.approx(PSNR_CAP_DB, abs=1e-3)
    moved = [-10 * math.log10(np.mean((truth[i, 0] - frames[i, 4]) ** 2)) for i in (0, 2)]
    assert 3 * copy_last["psnr_per_step"][0] - sum(moved) == pytest.approx(PSNR_CAP_DB, abs=1e-3)


def test_baselines_do_not_depend_on_the_model(videos, report):
    other = _evaluate(_tiny("svg-det-smmnist"), videos, FramePrediction(stochastic=False), 2)
    assert other["baselines"] == report["baselines"]
    assert other["ssim_per_step"] != report["ssim_per_step"]  # the models do differ


def test_baseline_fields_are_all_there_and_consistent(report):
    stored = json.loads(json.dumps(report))
    assert set(stored["baselines"]) == {"black", "copy-last"}
    for figures in stored["baselines"].values():
        assert set(figures) == {metric + field for metric in ("ssim", "psnr") for field in FIELDS}
        for metric in ("ssim", "psnr"):
            steps = figures[f"{metric}_per_step"]
            assert len(steps) == len(figures[f"{metric}_per_step_ci95"]) == 20
            assert figures[metric] == pytest.approx(sum(steps) / len(steps), abs=1e-9)
            assert figures[f"{metric}_ci95"] > 0
            assert all(half > 0 for half in figures[f"{metric}_per_step_ci95"])
    # The black prediction's SSIM is high on mostly black frames; its PSNR is that of the
    # frames' energy alone, so the copy, which adds a wrong digit, does worse.
    black, copy_last = stored["baselines"]["black"], stored["baselines"]["copy-last"]
    assert black["ssim"] > 0.5 and black["psnr"] > copy_last["psnr"]


def test_summary_prints_the_baselines_between_the_model_and_the_paper(report):
    lines = FramePrediction(samples=2).summary(report)
    assert lines[0].startswith("  SSIM         ") and lines[1].startswith("  PSNR         ")
    for line, name in zip(lines[2:4], ("black", "copy-last"), strict=True):
        label = {"black": "black frame", "copy-last": "copy last"}[name]
        figures = report["baselines"][name]
        assert line == (
            f"  {label:<13}SSIM {figures['ssim']:.4f} +- {figures['ssim_ci95']:.4f}  "
            f"PSNR {figures['psnr']:.2f} +- {figures['psnr_ci95']:.2f} dB"
        )
    assert lines[4].startswith("  paper        SVG-LP")
    older = {key: value for key, value in report.items() if key != "baselines"}
    assert len(FramePrediction(samples=2).summary(older)) == len(lines) - 2


def _write(path, report, data=DATA, preset="svg-lp-smmnist"):
    path.write_text(json.dumps({**report, "protocol": {"data": data, "preset": preset}}))
    return str(path)


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_plot_draws_the_baselines_and_refuses_damaged_ones(tmp_path, report, capsys):
    pytest.importorskip("matplotlib")
    older = {key: value for key, value in report.items() if key != "baselines"}
    figures = {}
    for name, reports in {
        "with": [report],
        "without": [older],  # an eval.json written before the baselines
        "two-sets": [report, {**report, "baselines": _shifted(report["baselines"])}],
    }.items():
        paths = [
            _write(tmp_path / f"{name}-{k}.json", r, data=f"set {k}", preset=f"model {k}")
            for k, r in enumerate(reports)
        ]
        out = tmp_path / f"{name}.png"
        code, stdout, err = run(["plot", *paths, "--out", str(out)], capsys)
        assert code == 0, err
        figures[name] = _pixels(out)
    assert figures["with"].shape == figures["without"].shape
    assert not np.array_equal(figures["with"], figures["without"])  # the reference lines
    assert not np.array_equal(figures["with"], figures["two-sets"])

    damaged = {
        "not an object": [],
        "black missing": {"copy-last": report["baselines"]["copy-last"]},
        "short per-step list": _damaged(report, "black", "psnr_per_step", [13.0] * 19),
        "not numbers": _damaged(report, "copy-last", "ssim_per_step", ["x"] * 20),
    }
    for k, baselines in enumerate(damaged.values()):
        path = _write(tmp_path / f"damaged-{k}.json", {**report, "baselines": baselines})
        code, stdout, err = run(["plot", path, "--out", str(tmp_path / "bad.png")], capsys)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert path in err and "baselines" in err and "Traceback" not in err

    model_damaged = {
        "ssim_per_step": "0.5",  # a string
        "psnr_per_step": report["psnr_per_step"][:-1],  # shorter than the SSIM list
        "psnr_per_step_ci95": None,  # missing
        "ssim_per_step_ci95": [0.1] * 19 + [None],
        "context": "5",
    }
    for k, (key, value) in enumerate(model_damaged.items()):
        damaged_report = {**report, key: value}
        if value is None:
            del damaged_report[key]
        path = _write(tmp_path / f"model-damaged-{k}.json", damaged_report)
        code, stdout, err = run(["plot", path, "--out", str(tmp_path / "bad.png")], capsys)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert path in err and key in err and "Traceback" not in err


def _shifted(baselines):
    """The same baselines 0.1 lower, as another data set's would be."""
    shifted = copy.deepcopy(baselines)
    for figures in shifted.values():
        for metric in ("ssim", "psnr"):
            figures[f"{metric}_per_step"] = [v - 0.1 for v in figures[f"{metric}_per_step"]]
    return shifted


def _damaged(report, name, key, value):
    baselines = copy.deepcopy(report["baselines"])
    baselines[name][key] = value
    return baselines
