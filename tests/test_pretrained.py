"""Shipped pretrained models: the export, the card, loading by name, `pretrained:NAME` in the
commands, and every model that really ships reaching its card's check.

The machinery is tested on a tiny PixelCNN trained here and exported into a temporary
directory standing in for the package's; the last tests look at the package's own.
"""

import json
import shutil
from pathlib import Path

import pytest
import safetensors
import torch
from cli_runner import run
from PIL import Image

import genvid
from genvid import pretrained, runs
from genvid.cli import main
from genvid.train.checkpoint import load_weights

TINY = ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]
SVG_TINY = [
    "--set", "hidden_channels=2", "--set", "g_dim=4", "--set", "z_dim=2", "--set", "rnn_size=4",
]  # fmt: skip
PACKAGE = pretrained.SHIPPED  # the package's own directory, before any test moves it
BUDGET_BYTES = 30_000_000  # every shipped model together


def export(run_dir: Path, name: str, out_dir: Path, **options) -> Path:
    return pretrained.export_pretrained(
        run_dir,
        name,
        command="genvid train pixelcnn-mnist ... --steps 2",
        wall_time_s=1.5,
        hardware="2 CPU cores",
        out_dir=out_dir,
        **{"figure": {"limit": 16}, "check": {"limit": 8}, **options},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    argv = ["train", "pixelcnn-mnist", *TINY, "--steps", "2", "--batch-size", "8"]
    main([*argv, "--out", str(run_dir)])
    return run_dir


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """A shipped directory holding the tiny run as `tiny` (float32) and `tiny-bf16`."""
    directory = tmp_path_factory.mktemp("weights")
    export(trained, "tiny", directory)
    export(trained, "tiny-bf16", directory, dtype="bfloat16")
    return directory


@pytest.fixture(scope="module")
def exported_video(tmp_path_factory):
    """A shipped directory holding a tiny SVG-LP (a video model) as `tiny-svg` beside `tiny`."""
    directory = tmp_path_factory.mktemp("video-weights")
    run_dir = tmp_path_factory.mktemp("video-runs") / "svg"
    main(["train", "svg-lp-srvp", *SVG_TINY, "--steps", "1", "--batch-size", "2", "--out", run_dir])
    few = {"limit": 2, "samples": 2}  # the interval over sequences needs two
    export(run_dir, "tiny-svg", directory, figure=few, check=few)
    return directory


@pytest.fixture
def shipped(exported, monkeypatch):
    """`exported` as the package's weights directory, for the requesting test alone."""
    monkeypatch.setattr(pretrained, "SHIPPED", exported)
    return exported


def files_of(directory: Path) -> dict[str, bytes | None]:
    """Every path under `directory` and a file's bytes (None for a folder)."""
    return {
        str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None
        for p in directory.rglob("*")
    }


def reaches_its_check(name: str) -> None:
    """What the suite asks of every shipped model: its card's small-slice figure, measured
    again on the CPU, a file that stores what the card says, and float32 parameters."""
    found = pretrained.card(name)
    check = found["check"]
    assert check["device"] == "cpu"
    report, _, path = runs.evaluate_run(
        pretrained.path(name),
        split=check["split"],
        limit=check["limit"],
        samples=check["samples"],
        seed=check["seed"],
        device="cpu",
    )
    assert path is None  # nothing written into the package
    assert report["count"] == check["count"]
    assert report[check["metric"]] == pytest.approx(check["value"], rel=check["rel_tol"])
    with safetensors.safe_open(pretrained.path(name) / "model.safetensors", "pt") as stored:
        floats = {stored.get_slice(k).get_dtype() for k in stored.keys()} - {"I64", "I32", "U8"}
    assert floats == {
        {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}[found["storage_dtype"]]
    }
    model = pretrained.load(name)
    assert not model.training
    assert {p.dtype for p in model.parameters()} == {torch.float32}


# -- the export and the card --------------------------------------------------------------


def test_an_export_is_a_run_directory_without_training_state_and_a_full_card(shipped, trained):
    assert sorted(files_of(shipped / "tiny")) == ["card.json", "config.json", "model.safetensors"]
    assert (shipped / "tiny" / "config.json").read_bytes() == (trained / "config.json").read_bytes()
    assert pretrained.names() == ["tiny", "tiny-bf16"]
    card = pretrained.card("tiny-bf16")
    assert card["preset"] == "pixelcnn-mnist" and card["data"] == "binarized-mnist"
    assert card["overrides"] == {"hidden_channels": 4, "num_layers": 1, "output_channels": 4}
    assert (card["steps"], card["batch_size"], card["precision"]) == (2, 8, "fp32")
    assert card["storage_dtype"] == "bfloat16"
    assert card["figure"]["metric"] == "nll_nats" and card["figure"]["count"] == 16
    assert card["figure"]["command"] == "genvid eval pretrained:tiny-bf16 --limit 16 --device cpu"
    assert card["check"]["count"] == 8 and card["check"]["rel_tol"] == 1e-3
    assert card["test_command"] == "python -m pytest tests/test_pretrained.py -k tiny-bf16"


def test_loading_by_name_gives_the_runs_weights_bf16_within_its_rounding(shipped, trained):
    weights = load_weights(trained)
    exact = genvid.load_pretrained("tiny").state_dict()
    rounded = pretrained.load("tiny-bf16").state_dict()
    assert exact.keys() == rounded.keys() == weights.keys()
    for key, weight in weights.items():
        torch.testing.assert_close(exact[key], weight, rtol=0, atol=0)
        assert rounded[key].dtype == torch.float32
        torch.testing.assert_close(rounded[key], weight.bfloat16().float(), rtol=0, atol=0)
        torch.testing.assert_close(rounded[key], weight, rtol=2**-8, atol=0)
    assert any(not torch.equal(rounded[k], w) for k, w in weights.items())  # it was rounded


def test_every_export_reaches_its_check_as_the_suite_tests_the_shipped_ones(shipped):
    for name in pretrained.names():
        reaches_its_check(name)


def test_the_check_notices_weights_that_are_not_the_carded_ones(shipped, tmp_path, monkeypatch):
    copy = tmp_path / "tiny"
    shutil.copytree(shipped / "tiny", copy)
    changed = {k: v + 0.5 if v.is_floating_point() else v for k, v in load_weights(copy).items()}
    safetensors.torch.save_file(changed, copy / "model.safetensors", metadata={"step": "2"})
    monkeypatch.setattr(pretrained, "SHIPPED", tmp_path)
    with pytest.raises(AssertionError):
        reaches_its_check("tiny")


def test_an_export_is_refused_in_one_line_and_leaves_nothing(shipped, trained, tmp_path):
    with pytest.raises(ValueError, match="tiny exists; a shipped model is never replaced"):
        export(trained, "tiny", shipped)
    with pytest.raises(ValueError, match="dtype 'int8': wants one of float32, bfloat16"):
        export(trained, "other", tmp_path, dtype="int8")
    with pytest.raises(ValueError, match="pretrained name 'Tiny Model'"):
        export(trained, "Tiny Model", tmp_path)
    with pytest.raises(ValueError, match=r"evaluation options \['steps'\]"):
        pretrained.export_pretrained(
            trained, "x", command="", wall_time_s=0, hardware="", check={"steps": 3}
        )
    with pytest.raises(ValueError, match="paper is 81.3, wants dict or null"):
        export(trained, "other", tmp_path, paper=81.3)
    huge = tmp_path / "huge"
    shutil.copytree(trained, huge)
    weights = load_weights(huge)
    first = next(k for k, v in weights.items() if v.is_floating_point())
    weights[first] = weights[first] + 1e6
    safetensors.torch.save_file(weights, huge / "model.safetensors", metadata={"step": "2"})
    with pytest.raises(ValueError, match=f"weight '{first}' overflows float16"):
        export(huge, "half", tmp_path / "out", dtype="float16")
    assert list((tmp_path / "out").iterdir()) == []  # the staged copy went too
    assert not (tmp_path / "other").exists()


# -- the commands -------------------------------------------------------------------------


def test_eval_pretrained_reproduces_the_cards_figure_and_writes_nothing_there(
    shipped, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    before = files_of(shipped)
    for name in pretrained.names():
        figure = pretrained.card(name)["figure"]
        argv = figure["command"].split()[1:]
        code, out, err = run(argv, capsys)
        assert code == 0, err
        assert f"  card         nll_nats {figure['value']:.6g} on 16 binarized-mnist" in out
        assert "wrote" not in out
        code, out, err = run([*argv, "--out", tmp_path / f"{name}.json"], capsys)
        assert code == 0, err
        assert out.strip().endswith(f"{name}.json")
        report = json.loads((tmp_path / f"{name}.json").read_text())
        assert report[figure["metric"]] == figure["value"]  # the same figure, exactly
        assert report == figure["report"]  # and the card holds all of the report
        assert report["protocol"]["checkpoint_step"] == 2
    assert files_of(shipped) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-bf16.json", "tiny.json"]


def test_sample_pretrained_writes_a_grid(shipped, tmp_path, capsys):
    code, out, err = run(
        ["sample", "pretrained:tiny-bf16", "--n", 4, "--out", tmp_path / "s.png"], capsys
    )
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 's.png'}"
    assert Image.open(tmp_path / "s.png").size[0] > 28


def test_the_demo_draws_a_gif_from_each_shipped_video_model_and_none_from_images(
    exported, exported_video, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(pretrained, "SHIPPED", exported_video)
    shutil.copytree(exported / "tiny", exported_video / "tiny", dirs_exist_ok=True)
    assert pretrained.names() == ["tiny", "tiny-svg"]
    assert pretrained.video_names() == ["tiny-svg"]
    gif = tmp_path / "tiny-svg.gif"
    code, out, err = run(["sample", "pretrained:tiny-svg", "--n", 1, "--out", gif], capsys)
    assert code == 0, err
    with Image.open(gif) as image:
        assert image.n_frames == 25  # SRVP's 5 given frames and 20 predicted
    code, out, err = run(["sample", "pretrained:tiny", "--out", tmp_path / "x.gif"], capsys)
    assert code == 1 and "this model writes .png samples" in err


def test_info_lists_the_shipped_models_with_their_figures(shipped, capsys):
    code, out, err = run(["info"], capsys)
    assert code == 0, err
    section = out.split("pretrained models")[1].split("data sets:")[0]
    for name in ("tiny", "tiny-bf16"):
        value = pretrained.card(name)["figure"]["value"]
        assert f"  {name:<9} pixelcnn-mnist: nll_nats {value:.6g} on 16 binarized-mnist" in section


def test_an_unknown_name_is_one_line_naming_the_shipped_ones(shipped, tmp_path, capsys):
    for command in (["eval", "pretrained:nope"], ["sample", "pretrained:nope", "--out", "x.png"]):
        code, out, err = run(command, capsys)
        assert code == 1 and out == ""
        assert err == "genvid: error: unknown pretrained model 'nope'; shipped: tiny, tiny-bf16\n"
    with pytest.raises(ValueError, match="shipped: tiny, tiny-bf16"):
        genvid.load_pretrained("nope")


def test_with_none_shipped_the_commands_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pretrained, "SHIPPED", tmp_path / "absent")
    assert pretrained.names() == []
    code, _, err = run(["eval", "pretrained:tiny"], capsys)
    assert (
        code == 1
        and err == "genvid: error: unknown pretrained model 'tiny'; none ship with genvid yet\n"
    )
    code, out, _ = run(["info"], capsys)
    assert "pretrained models (genvid sample|eval pretrained:NAME):\n  none shipped yet\n" in out


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda c: c.pop("figure"), "card.json: no figure"),
        (lambda c: c["figure"].update(value="good"), "figure.value is 'good', wants float"),
        (lambda c: c["check"].update(limit=True), "check.limit is True, wants int or null"),
        (lambda c: c.update(storage_dtype="int8"), "storage_dtype wants one of float32"),
        (lambda c: c.update(name="other"), "name is 'other', its directory 'tiny'"),
        (lambda c: c.update(dataset="mnist"), "unknown key dataset"),
        (lambda c: c.update(figure=[1]), "card.json: figure is not a JSON object"),
        (lambda c: "{not json", "card.json is not valid JSON"),
    ],
)
def test_a_damaged_card_is_one_line_naming_the_file_and_key(
    shipped, tmp_path, monkeypatch, capsys, damage, fragment
):
    shutil.copytree(shipped / "tiny", tmp_path / "tiny")
    file = tmp_path / "tiny" / "card.json"
    card = json.loads(file.read_text())
    edited = damage(card)
    file.write_text(edited if isinstance(edited, str) else json.dumps(card))
    monkeypatch.setattr(pretrained, "SHIPPED", tmp_path)
    for command in (["eval", "pretrained:tiny"], ["sample", "pretrained:tiny", "--out", "x.png"]):
        code, out, err = run(command, capsys)
        assert code == 1 and out == "" and err.count("\n") == 1
        assert err.startswith(f"genvid: error: {file}") and fragment in err
    code, out, _ = run(["info"], capsys)
    assert code == 0 and "tiny damaged card: " in out and fragment in out


# -- the package's own models -------------------------------------------------------------

SHIPPED_NAMES = pretrained.names() or [
    pytest.param(None, marks=pytest.mark.skip(reason="no pretrained model ships with genvid yet"))
]


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_a_shipped_model_reaches_its_cards_check(name):
    reaches_its_check(name)


@pytest.mark.parametrize(
    "name",
    pretrained.video_names()
    or [pytest.param(None, marks=pytest.mark.skip(reason="no video model ships yet"))],
)
def test_a_shipped_video_model_draws_the_demos_gif(name, tmp_path, capsys):
    gif = tmp_path / f"{name}.gif"
    code, out, err = run(["sample", f"pretrained:{name}", "--n", 1, "--out", gif], capsys)
    assert code == 0, err
    with Image.open(gif) as image:
        assert image.n_frames > 1


def test_the_shipped_weights_fit_the_size_budget():
    files = [p for p in PACKAGE.rglob("*") if p.is_file()] if PACKAGE.is_dir() else []
    assert sum(p.stat().st_size for p in files) <= BUDGET_BYTES


def test_the_wheel_carries_every_file_of_a_shipped_model(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["genvid"]
    model = tmp_path / "weights" / "some-model"
    model.mkdir(parents=True)
    for name in ("card.json", "config.json", "model.safetensors"):
        (model / name).touch()
    carried = {p for pattern in patterns for p in tmp_path.glob(pattern)}  # setuptools' globs
    assert carried == set(model.iterdir())
