"""Every `genvid` subcommand on tiny settings, and one-line errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from cli_runner import run
from PIL import Image

from genvid.cli import main

TINY = ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "pixelcnn-mnist", *TINY, "--steps", "4", "--batch-size", "8"]
    main([*argv, "--checkpoint-every", "2", "--out", str(run_dir)])
    return run_dir


def test_train_writes_a_run(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["preset"] == "pixelcnn-mnist"
    assert config["model"]["overrides"] == {
        "hidden_channels": 4,
        "num_layers": 1,
        "output_channels": 4,
    }
    assert config["data"]["name"] == "binarized-mnist"
    assert config["train"]["steps"] == 4 and config["train"]["batch_size"] == 8
    assert (trained_run / "model.safetensors").is_file()


def test_resume_extends_the_run(trained_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    code, out, err = run(["train", "--resume", str(copy), "--steps", "6"], capsys)
    assert code == 0, err
    assert "trained to step 6" in out
    assert json.loads((copy / "config.json").read_text())["train"]["steps"] == 6


def test_eval_prints_and_writes_a_report_named_after_its_limit(trained_run, capsys):
    code, out, err = run(["eval", str(trained_run), "--limit", "40", "--batch-size", "16"], capsys)
    assert code == 0, err
    assert "nats/image" in out and "bits/dim" in out
    assert out.strip().endswith("eval-limit40.json")
    assert not (trained_run / "eval.json").exists()  # kept for the full evaluation
    report = json.loads((trained_run / "eval-limit40.json").read_text())
    assert report["protocol"]["count"] == 40 and report["protocol"]["checkpoint_step"] == 4
    assert report["protocol"]["data"] == "binarized-mnist" and report["protocol"]["split"] == "test"
    assert report["bits_per_dim"] == pytest.approx(report["nll_nats"] / (784 * np.log(2)))
    # the figures of the run's model on the first 40 test images, recomputed here
    import torch

    from genvid import runs
    from genvid.data import load_binarized_mnist

    model, _, step = runs.load_run_model(trained_run, torch.device("cpu"))
    with torch.no_grad():
        nats = -model.log_prob(load_binarized_mnist("test")[:40]).double()
    assert step == 4 and report["count"] == 40
    assert report["nll_nats"] == pytest.approx(nats.mean().item(), rel=1e-5)
    assert report["nll_nats_stderr"] == pytest.approx(nats.std().item() / np.sqrt(40), rel=1e-4)
    assert report["nll_nats_stderr"] > 0


def test_a_run_written_before_overfit_and_holdout_still_resumes(trained_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(trained_run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["data"] = {"name": "binarized-mnist", "root": None}  # an older release's "data"
    (copy / "config.json").write_text(json.dumps(config))
    code, out, err = run(["train", "--resume", str(copy), "--steps", "5"], capsys)
    assert code == 0, err
    assert "trained to step 5" in out
    assert json.loads((copy / "config.json").read_text())["data"] == config["data"]


def test_train_reads_its_data_once(tmp_path, capsys, monkeypatch):
    from genvid import data as gdata

    calls, read = [], gdata.train_stream
    monkeypatch.setattr(gdata, "train_stream", lambda *a, **kw: calls.append(a) or read(*a, **kw))
    argv = ["train", "pixelcnn-mnist", *TINY, "--steps", "1", "--batch-size", "2"]
    code, _, err = run([*argv, "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert calls == [("binarized-mnist",)]


def test_sample_writes_a_grid(trained_run, tmp_path, capsys):
    out_file = tmp_path / "grid.png"
    code, out, err = run(
        ["sample", str(trained_run), "--n", "4", "--size", "5x6", "--out", str(out_file)], capsys
    )
    assert code == 0, err
    with Image.open(out_file) as image:
        assert image.size == (2 * 6 + 3 * 2, 2 * 5 + 3 * 2)  # 2 x 2 tiles, 2-pixel padding
        eager = np.asarray(image)
    compiled_file = tmp_path / "compiled.png"
    argv = ["sample", str(trained_run), "--n", "4", "--size", "5x6", "--compile"]
    code, out, err = run([*argv, "--out", str(compiled_file)], capsys)
    assert code == 0, err
    with Image.open(compiled_file) as image:
        assert np.array_equal(np.asarray(image), eager)  # the same draws, compiled
    code, _, err = run([*argv, "--naive", "--out", str(compiled_file)], capsys)
    assert code == 2 and "--naive has no step" in err


def test_sample_draws_the_training_datas_size_without_reading_the_data(
    trained_run, tmp_path, capsys, monkeypatch
):
    from genvid import data as gdata

    def unread(*args, **kwargs):
        raise AssertionError("genvid sample read the training data")

    monkeypatch.setattr(gdata, "train_stream", unread)
    out_file = tmp_path / "grid.png"
    code, _, err = run(["sample", str(trained_run), "--n", "1", "--out", str(out_file)], capsys)
    assert code == 0, err
    with Image.open(out_file) as image:
        assert image.size == (28 + 2 * 2, 28 + 2 * 2)  # one binarized MNIST image, padded


def test_sample_completes_given_images_at_a_temperature(trained_run, tmp_path, capsys):
    digits = (np.random.default_rng(0).random((3, 6, 8)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "digits.npy", digits)
    out_file = tmp_path / "done.png"
    argv = ["sample", str(trained_run), "--complete", str(tmp_path / "digits.npy")]
    code, _, err = run(
        [*argv, "--mask", "top-half", "--temperature", "0.7", "--out", str(out_file)], capsys
    )
    assert code == 0, err
    with Image.open(out_file) as image:
        assert image.size == (3 * 8 + 4 * 2, 2 * 6 + 3 * 2)  # given row, completed row
        grid = np.array(image)
    completed = grid[6 + 2 * 2 : 6 + 2 * 2 + 3, 2:10] > 0  # top half of the first completion
    np.testing.assert_array_equal(completed, digits[0, :3] > 0)
    np.save(tmp_path / "mask.npy", np.ones((5, 5), np.uint8))
    code, _, err = run(
        [*argv, "--mask", str(tmp_path / "mask.npy"), "--out", str(out_file)], capsys
    )
    assert code == 1 and "wants top-half or a 0/1 array [6, 8]" in err
    code, _, err = run([*argv, "--out", str(out_file)], capsys)
    assert code == 1 and "--complete FILE.npy and --mask go together" in err


def test_data_moving_mnist_writes_the_standard_layout(tmp_path, capsys):
    out_file = tmp_path / "mm.npy"
    code, out, err = run(
        ["data", "moving-mnist", "--out", str(out_file), "--sequences", "3", "--seed", "5"], capsys
    )
    assert code == 0, err
    array = np.load(out_file)
    assert array.shape == (20, 3, 64, 64) and array.dtype == np.uint8
    assert "nats/frame" in out and "seed 5" in out
    from genvid.data import regenerate_test_set

    videos = regenerate_test_set(3, seed=5).numpy()  # (3, 20, 1, 64, 64)
    np.testing.assert_array_equal(array, videos[:, :, 0].transpose(1, 0, 2, 3))
    assert not np.array_equal(videos, regenerate_test_set(3, seed=6).numpy())  # the seed counts


def test_info_lists_presets_data_and_devices(capsys):
    code, out, _ = run(["info"], capsys)
    assert code == 0
    assert "pixelcnn-mnist" in out and "binarized-mnist" in out and "cpu:" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "pixelcnn-imagenet"], "unknown preset"),
        (["train", "pixelcnn-mnist", "--set", "colours=3"], "no field 'colours'"),
        (["train", "pixelcnn-mnist", "--set", "num_layers=many"], "not a valid int"),
        (["train", "pixelcnn-mnist", "--data", "imagenet"], "unknown data set"),
        (["train", "pixelcnn-mnist", "--steps", "0"], "steps must be >= 1"),
        (["train"], "name a PRESET"),
        (["eval", "RUN_DOES_NOT_EXIST"], "RUN_DOES_NOT_EXIST"),
        (["sample", "RUN_DOES_NOT_EXIST", "--out", "x.png"], "RUN_DOES_NOT_EXIST"),
        (["data", "moving-mnist", "--out", "x.npy", "--sequences", "0"], "--sequences"),
    ],
)
def test_bad_input_gives_one_line_and_a_non_zero_exit(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err


def test_bad_input_on_an_existing_run(trained_run, tmp_path, capsys):
    cases = [
        (["sample", str(trained_run), "--out", str(tmp_path / "x.gif")], "writes .png samples"),
        (["sample", str(trained_run), "--out", str(tmp_path / "x.jpg")], "end in .png or .gif"),
        (["sample", str(trained_run), "--out", str(tmp_path / "x.png"), "--size", "9"], "HxW"),
        (["train", "pixelcnn-mnist", "--out", str(trained_run)], "already holds a run"),
        (["train", "--resume", str(trained_run), "--lr", "0.5"], "different configuration"),
        (["eval", str(trained_run), "--split", "holdout"], "no split 'holdout'"),
    ]
    for argv, message in cases:
        code, _, err = run(argv, capsys)
        assert code != 0 and len(err.strip().splitlines()) == 1 and message in err, (argv, err)


def test_corrupt_weights_give_one_line(trained_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "corrupt"
    shutil.copytree(trained_run, copy)
    (copy / "model.safetensors").write_bytes(b"not a safetensors file")
    code, _, err = run(["eval", str(copy)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "model.safetensors" in err


def test_console_script_process_exits_non_zero_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "genvid", "eval", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("genvid: error:") and "Traceback" not in result.stderr


VPN_TINY = [
    "--set", "hidden_channels=4", "--set", "encoder_blocks=1", "--set", "decoder_blocks=1",
    "--set", "lstm_channels=4", "--set", "dilation=false",
]  # fmt: skip


def test_video_run_trains_evaluates_against_the_bound_and_samples_a_gif(tmp_path, capsys):
    run_dir = tmp_path / "vpn"
    argv = ["train", "vpn-micro", *VPN_TINY, "--steps", "2", "--batch-size", "2"]
    code, _, err = run([*argv, "--overfit", "--out", str(run_dir)], capsys)
    assert code == 0, err
    assert json.loads((run_dir / "config.json").read_text())["data"]["overfit"] is True

    code, out, err = run(["eval", str(run_dir), "--sequences", "2"], capsys)
    assert code == 0, err
    assert "nats/frame" in out and "lower bound" in out and "87.6" in out
    assert "frames 11-20 given 1-10" in out
    report = json.loads((run_dir / "eval-limit2.json").read_text())
    assert report["protocol"]["count"] == 2 and report["protocol"]["seed"] == 150204681
    assert (
        report["protocol"]["data"] == "moving-mnist (regenerated from MNIST-test, seed 150204681)"
    )
    assert report["nll_nats_per_frame"] > report["lower_bound_nats_per_frame"] > 0

    gif = tmp_path / "continued.gif"
    code, out, err = run(
        ["sample", str(run_dir), "--n", "1", "--steps", "1", "--out", str(gif)], capsys
    )
    assert code == 0, err
    with Image.open(gif) as image:
        assert image.n_frames == 10 + 1  # the 10 context frames, then the one drawn
        assert image.size == (2 * (64 + 4), 64 + 4)  # truth and sample, 2-pixel borders
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB")).astype(int))
    from genvid.data import regenerate_test_set

    truth = regenerate_test_set(1)[0, :11, 0].numpy().astype(int)  # the first test video
    for k, frame in enumerate(frames):
        for column in (0, 1):  # context frames in both columns, truth on the left
            if k == 10 and column == 1:
                continue  # the drawn frame
            tile = frame[2:66, 2 + column * 68 : 66 + column * 68]
            assert np.abs(tile - truth[k][..., None]).mean() < 2, (k, column)
        border = frame[0, 1 * 68 + 10]  # the sample column's top border
        assert tuple(border) == ((0, 160, 0) if k < 10 else (200, 0, 0)), k

    clips = np.random.default_rng(0).integers(0, 2, (2, 3, 8, 8), dtype=np.uint8)  # [N, T, H, W]
    np.save(tmp_path / "clips.npy", clips)
    argv = ["sample", str(run_dir), "--complete", str(tmp_path / "clips.npy"), "--steps", "2"]
    code, out, err = run([*argv, "--mask", "top-half", "--out", str(gif)], capsys)
    assert code == 0, err
    with Image.open(gif) as image:
        assert image.n_frames == 2 + 2  # the two context frames, the completed one and one more
    np.save(tmp_path / "clips.npy", clips[:, :1])
    code, out, err = run([*argv, "--mask", "top-half", "--out", str(gif)], capsys)
    assert code == 1 and "T >= 2" in err


SVG_TINY = [
    "--set", "hidden_channels=2", "--set", "g_dim=4", "--set", "z_dim=2", "--set", "rnn_size=4",
]  # fmt: skip


def test_svg_runs_train_evaluate_best_of_n_sample_and_plot(tmp_path, capsys):
    reports = []
    for preset in ("svg-lp-srvp", "svg-det-smmnist"):
        run_dir = tmp_path / preset
        argv = ["train", preset, *SVG_TINY, "--steps", "2", "--batch-size", "2"]
        code, _, err = run([*argv, "--out", str(run_dir)], capsys)
        assert code == 0, err
        extra = ["--samples", "3"] if preset == "svg-lp-srvp" else []
        code, out, err = run(["eval", str(run_dir), "--sequences", "2", *extra], capsys)
        assert code == 0, err
        assert "SSIM" in out and "PSNR" in out and "frames 6-25 given 1-5" in out
        # 3 samples, not the protocol's 100: a report of its own
        name = "eval-limit2-samples3.json" if extra else "eval-limit2.json"
        report = json.loads((run_dir / name).read_text())
        assert len(report["ssim_per_step"]) == len(report["psnr_per_step_ci95"]) == 20
        assert report["samples"] == (3 if extra else 1)
        # the published figures were measured on SRVP's test set: printed beside it only
        assert ("SVG-LP (SLAMP table 4)" in out) == (preset == "svg-lp-srvp")
        assert report["protocol"]["evaluator"] == "frame-prediction"
        reports.append(str(run_dir / name))
    gif = tmp_path / "svg.gif"
    argv = ["sample", str(tmp_path / "svg-lp-srvp"), "--n", "1", "--out", str(gif)]
    code, _, err = run([*argv, "--compile"], capsys)
    assert code != 0 and "--compile does not apply to frame-prediction sampling" in err
    code, _, err = run(argv, capsys)
    assert code == 0, err
    with Image.open(gif) as image:
        assert image.n_frames == 25  # 5 context + 20 predicted frames
        assert image.size[0] == 5 * (64 + 4)  # truth, best and three more samples side by side
    figure = tmp_path / "plot.png"
    code, out, err = run(["plot", *reports, "--out", str(figure)], capsys)
    assert code == 0, err
    with Image.open(figure) as image:
        assert image.size == (1200, 480)  # 10 x 4 inches at 120 dpi
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # the two runs' line colours
        assert (np.abs(pixels - colour).sum(axis=1) < 10).sum() > 200, colour
    code, _, err = run(
        ["plot", str(tmp_path / "svg-lp-srvp" / "config.json"), "--out", str(figure)], capsys
    )
    assert code != 0 and "no frame-prediction figures" in err
