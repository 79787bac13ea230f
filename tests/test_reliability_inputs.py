"""Reliability of inputs and outputs (issue 21): bad settings, files and requests are refused
in one line before any work, and no quick check or odd `--out` replaces what it should not."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat

import numpy as np
import pytest
import torch
from cli_runner import run

from genvid import runs
from genvid.cli import main
from genvid.presets import get_preset, make_config, presets

SVG_TINY = ["--set", "hidden_channels=2", "--set", "g_dim=4", "--set", "z_dim=2"]
SVG_TINY += ["--set", "rnn_size=4"]
GAN_TINY = ["--set", "hidden_channels=2", "--set", "critic_channels=2", "--set", "z_dim=4"]
GAN_TINY += ["--set", "rnn_size=8"]


def one_line(code, err, *fragments):
    """Exit 1 and a single `genvid: error:` line naming every fragment."""
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("genvid: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def svg_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "svg"
    main(["train", "svg-lp-smmnist", *SVG_TINY, "--steps", "1", "--batch-size", "2"]
         + ["--log-every", "1000", "--out", str(run_dir)])  # fmt: skip
    return run_dir


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "gan"
    main(["train", "videogan-mmnist", *GAN_TINY, "--steps", "1", "--batch-size", "2"]
         + ["--log-every", "1000", "--out", str(run_dir)])  # fmt: skip
    return run_dir


# items 10/11: a non-finite float setting of any model config


def _float_fields():
    for name in presets():
        config = get_preset(name).config
        for field in dataclasses.fields(config):
            if isinstance(getattr(config, field.name), float):
                yield name, field.name


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_float_field_of_every_config_refuses_non_finite_values(value):
    fields = list(_float_fields())
    assert ("videogan-mmnist", "lstm_momentum") in fields
    for preset, field in fields:
        with pytest.raises(ValueError, match=rf"\.{field} must be finite, got {value}"):
            make_config(preset, **{field: value})


def test_a_nan_momentum_is_refused_before_training(tmp_path, capsys):
    argv = ["train", "videogan-mmnist", *GAN_TINY, "--set", "lstm_optimizer=sgd"]
    argv += ["--set", "lstm_momentum=nan", "--steps", "4", "--out", tmp_path / "run"]
    code, _, err = run(argv, capsys)
    one_line(code, err, "VideoGANConfig.lstm_momentum must be finite, got nan")
    assert not (tmp_path / "run").exists()


# item 12: a --samples other than the protocol's gets a report of its own


def test_report_names_say_the_number_of_samples():
    run, data = runs.Run.new("svg-lp-smmnist"), "moving-mnist-stochastic"
    assert runs.report_name(run, data=data, split="test", limit=None) == "eval.json"
    name = runs.report_name(run, data=data, split="test", limit=None, samples=2)
    assert name == "eval-samples2.json"
    name = runs.report_name(run, data=data, split="test", limit=8, samples=2)
    assert name == "eval-limit8-samples2.json"


def test_an_evaluation_with_fewer_samples_keeps_the_full_report(svg_run, capsys):
    full = svg_run / "eval-limit2.json"
    full.write_text('{"kept": true}')
    code, out, err = run(["eval", svg_run, "--limit", "2", "--samples", "2"], capsys)
    assert code == 0, err
    assert out.strip().endswith("eval-limit2-samples2.json")
    assert json.loads(full.read_text()) == {"kept": True}
    report = json.loads((svg_run / "eval-limit2-samples2.json").read_text())
    assert report["samples"] == 2
    full.unlink()


# item 15: an --out that exists and is not a regular file is never replaced


def test_atomic_writes_refuse_to_replace_a_fifo(tmp_path):
    from genvid.atomic import atomic_write, prepare_output

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for write in (prepare_output, lambda path: atomic_write(path, lambda f: f.write(b"x"))):
        with pytest.raises(ValueError, match="exists and is not a regular file"):
            write(fifo)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["fifo"]  # no temporary file left


@pytest.mark.parametrize("command", ["eval", "sample", "plot", "data"])
def test_every_out_option_refuses_a_fifo(command, svg_run, tmp_path, capsys):
    fifo = tmp_path / ("out.npy" if command == "data" else "out.png")
    os.mkfifo(fifo)
    argv = {
        "eval": ["eval", svg_run, "--limit", "1", "--samples", "1"],
        "sample": ["sample", svg_run, "--n", "1"],
        "plot": ["plot", svg_run],
        "data": ["data", "moving-mnist", "--sequences", "1"],
    }[command]
    code, _, err = run([*argv, "--out", fifo], capsys)
    one_line(code, err, str(fifo), "is not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# item 19: options a sampler cannot honour are refused, not ignored


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "pixelcnn"
    tiny = ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]
    main(["train", "pixelcnn-mnist", *tiny, "--steps", "1", "--batch-size", "2"]
         + ["--log-every", "1000", "--out", str(run_dir)])  # fmt: skip
    return run_dir


@pytest.mark.parametrize(
    "which,option,fragment",
    [
        ("gan", ["--steps", "4"], "a video GAN generates clips of 16 frames"),
        ("gan", ["--size", "32x32"], "--size applies to image models"),
        ("svg", ["--size", "32x32"], "--size applies to image models"),
        ("image", ["--steps", "4"], "--steps applies to video models"),
        ("gan", ["--temperature", "0.5", "--naive"], "--temperature, --naive do not apply to fvd"),
        ("image", ["--temperature", "0"], "--temperature must be > 0, got 0.0"),
    ],
)
def test_a_sampler_refuses_options_it_cannot_honour(
    which, option, fragment, request, tmp_path, capsys
):
    run_dir = request.getfixturevalue(f"{which}_run")
    out = tmp_path / ("s.png" if which == "image" else "s.gif")
    code, _, err = run(["sample", run_dir, "--n", "1", *option, "--out", out], capsys)
    one_line(code, err, fragment)
    assert not out.exists()


# item 16: an allocation too large is one line; SVG's evaluation memory stays bounded


def test_an_allocation_too_large_is_one_line(image_run, tmp_path, capsys):
    argv = ["sample", image_run, "--n", "1", "--size", "100000x100000"]
    code, _, err = run([*argv, "--out", tmp_path / "big.png"], capsys)
    one_line(code, err, "out of memory (", "GB asked for); lower --n, --size, --samples")


class NoisyCopies(torch.nn.Module):
    """Predicts the true future plus noise of a random scale; remembers every call."""

    def __init__(self, videos):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))
        self.videos, self.calls = videos, []

    def predict(self, context, steps, *, generator=None):
        index = [
            next(i for i, v in enumerate(self.videos) if torch.equal(v[:5], c)) for c in context
        ]
        future = self.videos[index, 5 : 5 + steps].float()
        scale = torch.rand(len(context), 1, 1, 1, 1, generator=generator) * 120
        out = (future + torch.randn(future.shape, generator=generator) * scale).clamp(0, 255)
        self.calls.append(out.round().to(torch.uint8))
        return self.calls[-1]


def test_many_samples_are_predicted_in_bounded_chunks_and_the_best_is_kept(monkeypatch):
    from genvid.data import regenerate_test_set
    from genvid.metrics import ssim
    from genvid.protocols import FramePrediction, prediction

    monkeypatch.setattr(prediction, "FRAMES_PER_PASS", 4)
    videos = regenerate_test_set(2, stochastic=True)[..., :16, :16]  # (2, 25, 1, 16, 16)
    model = NoisyCopies(videos)
    report = FramePrediction(samples=10).evaluate(
        model, videos, data="x", batch_size=None, samples=None, device="cpu", seed=0
    )
    assert [len(call) for call in model.calls] == [4, 4, 2, 4, 4, 2]  # one video a pass
    drawn = torch.stack([torch.cat(model.calls[:3]), torch.cat(model.calls[3:])]).float() / 255
    truth = videos[:, 5:].unsqueeze(1).float() / 255  # (B, 1, K, C, H, W)
    scores = ssim(drawn, truth.expand_as(drawn))  # (B, n, K)
    best = scores[torch.arange(2), scores.mean(dim=2).argmax(dim=1)]
    assert report["ssim"] == pytest.approx(best.mean().item(), rel=1e-5)


def test_a_sample_sheet_of_many_videos_is_predicted_in_bounded_chunks(monkeypatch, tmp_path):
    from genvid.data import regenerate_test_set
    from genvid.metrics import ssim
    from genvid.protocols import FramePrediction, prediction
    from genvid.protocols.base import SampleRequest

    monkeypatch.setattr(prediction, "FRAMES_PER_PASS", 25)  # 2 videos x 10 samples per call
    sheets = []
    monkeypatch.setattr(prediction, "save_video_gif", lambda *args: sheets.append(args))
    videos = regenerate_test_set(5, stochastic=True)[..., :16, :16]  # (5, 25, 1, 16, 16)
    model = NoisyCopies(videos)
    request = SampleRequest(
        out=tmp_path / "sheet.gif", count=5, steps=None, size=None,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    FramePrediction(samples=10).sample(model, request, lambda count: videos[:count])
    assert [len(call) for call in model.calls] == [20, 20, 10]  # whole videos, <= 25 a call
    drawn = torch.cat(model.calls).unflatten(0, (5, 10))  # (B, n, K, C, H, W)
    context, truth, columns, _ = sheets[0]
    assert torch.equal(context, videos[:, :5]) and torch.equal(truth, videos[:, 5:])
    scores = ssim(drawn.float() / 255, truth.unsqueeze(1).expand_as(drawn).float() / 255)
    best = drawn[torch.arange(5), scores.mean(dim=2).argmax(dim=1)]
    assert torch.equal(columns[0], best)  # the best of each video's 10, then its draws 1-3
    assert all(torch.equal(columns[k], drawn[:, k]) for k in (1, 2, 3)) and len(columns) == 4


# item 18: --complete values the model cannot be given are refused in one line


@pytest.mark.parametrize(
    "array,fragment",
    [
        (np.zeros((2, 3, 8, 8), np.uint8), "the model draws 1-channel images, the file holds 3"),
        (np.zeros((0, 8, 8), np.uint8), "holds no images"),
        (np.full((2, 8, 8), 2, np.uint8), "scores values 0..1 but the data hold values up to 2"),
        (
            np.full((2, 8, 8), 255, np.uint8),
            "scores values 0..1 but the data hold values up to 255",
        ),
    ],
)
def test_completing_images_the_model_cannot_take_is_one_line(
    array, fragment, image_run, tmp_path, capsys
):
    np.save(tmp_path / "given.npy", array)
    argv = ["sample", image_run, "--complete", tmp_path / "given.npy", "--mask", "top-half"]
    code, _, err = run([*argv, "--out", tmp_path / "done.png"], capsys)
    one_line(code, err, "--complete", fragment)
    assert not (tmp_path / "done.png").exists()


def test_completing_videos_of_another_channel_count_is_refused(tmp_path):
    from genvid import create
    from genvid.protocols import VideoNLL
    from genvid.protocols.autoregressive import AutoregressiveSampling
    from genvid.protocols.base import SampleRequest

    model = create("vpn-baseline", **get_preset("vpn-baseline").tiny)
    np.save(tmp_path / "clips.npy", np.zeros((1, 3, 3, 8, 8), dtype=np.uint8))
    request = SampleRequest(
        out=tmp_path / "v.gif", count=1, steps=1, size=None,
        generator=torch.Generator().manual_seed(0),
        options=AutoregressiveSampling(complete=tmp_path / "clips.npy", mask="top-half"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="the model draws 1-channel images, the file holds 3"):
        VideoNLL().sample(model, request, lambda n: None)


# smaller items: masks, devices, a one-sequence test split


@pytest.mark.parametrize(
    "mask,fragment",
    [
        ("bottom-half", "no such mask or file; the named masks are: top-half"),
        (np.full((8, 8), 2, np.uint8), "wants 0 (drawn) or 1 (given), holds [2]"),
    ],
)
def test_a_mask_that_is_not_0_1_or_a_known_name_is_one_line(
    mask, fragment, image_run, tmp_path, capsys
):
    np.save(tmp_path / "given.npy", np.zeros((1, 8, 8), np.uint8))
    if isinstance(mask, np.ndarray):
        np.save(tmp_path / "mask.npy", mask)
        mask = tmp_path / "mask.npy"
    argv = ["sample", image_run, "--complete", tmp_path / "given.npy", "--mask", mask]
    code, _, err = run([*argv, "--out", tmp_path / "done.png"], capsys)
    one_line(code, err, "--mask", fragment)


def test_an_unknown_device_names_the_valid_ones(image_run, tmp_path, capsys):
    argv = ["sample", image_run, "--device", "tpu", "--out", tmp_path / "s.png"]
    code, _, err = run(argv, capsys)
    one_line(code, err, "--device must be auto, cpu, cuda or cuda:N, got 'tpu'")


def test_frame_prediction_of_one_sequence_says_it_needs_two():
    from genvid.data import regenerate_test_set
    from genvid.protocols import FramePrediction

    videos = regenerate_test_set(1, stochastic=True)[..., :16, :16]
    model = NoisyCopies(videos)
    with pytest.raises(ValueError, match="needs at least 2; x has 1"):
        FramePrediction(samples=2).evaluate(
            model, videos, data="x", batch_size=None, samples=None, device="cpu", seed=0
        )
    assert model.calls == []  # refused before predicting


# item 9: --compile cannot differentiate a gradient penalty: refused before training


def test_compiling_a_gradient_penalty_is_refused_before_anything_is_written(tmp_path, capsys):
    from genvid import create

    argv = ["train", "videogan-mmnist", *GAN_TINY, "--steps", "2", "--batch-size", "2"]
    code, _, err = run([*argv, "--compile", "--out", tmp_path / "run"], capsys)
    one_line(code, err, "--compile", "gradient penalty", "gp_weight=0")
    assert not (tmp_path / "run").exists()
    assert not create(
        "videogan-mmnist", gp_weight=0.0, **get_preset("videogan-mmnist").tiny
    ).double_backward
