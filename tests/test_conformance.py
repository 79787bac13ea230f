"""One conformance suite over every preset (`genvid.presets()`), each at its `tiny` size.

For each preset: build it; its config survives JSON; two `fit` steps through the preset's own
update (the likelihood step or the adversarial phases) change the weights and leave a finite
loss; the checkpoint reloads into a fresh model equal to the trained one, and both compute the
same; the protocol evaluates a few examples and draws samples; the model has what its
protocol's `model_contract` declares. A new family is covered the day its presets exist.
Presets whose data a user must supply (CIFAR-10, ImageNet, their own videos, Ms. Pac-Man clips
rendered from a ROM) train on random data of the same shape.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import sys

import pytest
import torch

from genvid import data as gdata
from genvid import frechet
from genvid.presets import create, get_preset, make_config, presets
from genvid.presets import protocol as protocol_of
from genvid.protocols import FramePrediction, ImageNLL, VideoFVD
from genvid.protocols.base import SampleRequest, options_for
from genvid.train import TrainConfig, fit
from genvid.train.checkpoint import load_weights

# One example of each data set that is not available offline (and not made in seconds).
SYNTHETIC = {
    "cifar10": (3, 32, 32),
    "imagenet64": (3, 64, 64),
    "video-folder": (20, 3, 64, 64),
    "pacman": (20, 3, 64, 64),
}


def _examples(data: str, count: int) -> torch.Tensor:
    """`count` test examples of data set `data`, or random ones of its shape."""
    if data in SYNTHETIC:
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (count, *SYNTHETIC[data]), generator=generator).byte()
    return gdata.eval_set(data, limit=count)


def _stream(data: str) -> gdata.Stream:
    if data in SYNTHETIC:
        return gdata.TensorStream(_examples(data, 8), seed=0)
    return gdata.train_stream(data, seed=0)


@pytest.fixture(autouse=True)
def _stub_i3d(monkeypatch, tmp_path):
    """FVD's features from a few pixels instead of I3D (whose port has its own tests)."""

    def features(clips, model, *, batch_size, device):
        return clips[:, :, :, ::16, ::16].flatten(1).double() + torch.arange(64).double()[0]

    monkeypatch.setattr(frechet, "i3d_features", features)
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _samples(protocol) -> int | None:
    """What `--samples` a sampled evaluation gets here (None: the protocol samples nothing)."""
    if isinstance(protocol, VideoFVD) or (
        isinstance(protocol, FramePrediction) and protocol.stochastic
    ):
        return 2
    return None


def test_every_preset_names_a_tiny_size_and_a_known_data_set():
    for name in presets():
        preset = get_preset(name)
        assert preset.tiny, f"{name} names no tiny overrides"
        make_config(name, **preset.tiny)  # every tiny field exists
        assert preset.data in gdata.names()


@pytest.mark.parametrize("name", presets())
def test_preset_builds_trains_checkpoints_evaluates_and_samples(name, tmp_path):
    preset = get_preset(name)
    config = make_config(name, **preset.tiny)
    stored = json.loads(json.dumps(dataclasses.asdict(config)))
    assert make_config(name, **stored) == config

    torch.manual_seed(0)
    model = create(name, **preset.tiny)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train = TrainConfig(steps=2, batch_size=2, checkpoint_every=2, log_every=1, device="cpu")
    result = fit(model, _stream(preset.data), train, tmp_path / "run", update=preset.update(config))
    assert result.step == 2 and torch.isfinite(torch.tensor(result.loss))
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, f"{name}: two updates changed no weight"

    fresh = create(name, **preset.tiny)
    fresh.load_state_dict(load_weights(tmp_path / "run"))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key

    protocol = preset.protocol(config)
    count = 4 if isinstance(protocol, VideoFVD) else 2
    examples = _examples(preset.data, count)
    report = protocol.evaluate(
        fresh, examples, data=preset.data, batch_size=2, samples=_samples(protocol),
        device=torch.device("cpu"), seed=0,
    )  # fmt: skip
    assert report["count"] in (count, _samples(protocol))
    figures = [v for k, v in report.items() if isinstance(v, float) and not k.endswith("seed")]
    assert figures and all(torch.isfinite(torch.tensor(figures)))
    assert protocol.summary(report)

    image = isinstance(protocol, ImageNLL)
    request = SampleRequest(
        out=tmp_path / ("samples.png" if image else "samples.gif"),
        count=1,
        steps=None if isinstance(protocol, (VideoFVD, ImageNLL)) else 1,  # video lengths
        size=tuple(examples.shape[-2:]) if image else None,
        generator=torch.Generator().manual_seed(0),
        options=options_for(protocol, {}),
    )
    written = protocol.sample(fresh, request, lambda n: examples[:n])
    assert written.is_file() and written.stat().st_size > 0


def _mismatches(method, declared) -> list[str]:
    """How a model's bound `method` fails calls its contract's `declared` signature allows:
    a declared parameter missing, of another kind or position, or required where declared
    optional; a parameter of its own the contract never passes that has no default."""
    have = inspect.signature(method).parameters
    want = list(inspect.signature(declared).parameters.values())[1:]  # without self
    positional = [p.name for p in want if p.kind is p.POSITIONAL_OR_KEYWORD]
    found = [p.name for p in have.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    problems = [] if found[: len(positional)] == positional else [f"positions {found}"]
    for p in want:
        q = have.get(p.name)
        if q is None or (q.kind is not p.kind and q.kind is not p.POSITIONAL_OR_KEYWORD):
            problems.append(f"{p.name}: missing or not {p.kind.description}")
        elif p.default is not p.empty and q.default is q.empty:
            problems.append(f"{p.name}: required, declared optional")
    extra = [q for name, q in have.items() if name not in {p.name for p in want}]
    problems += [f"{q.name}: required, never passed" for q in extra if q.default is q.empty]
    return problems


@pytest.mark.parametrize("name", presets())
def test_every_model_satisfies_its_protocols_declared_contract(name):
    """The model of every preset has what its protocol's `model_contract` declares, each
    method taking the calls the declaration allows."""
    preset = get_preset(name)
    contract = type(preset.protocol(make_config(name, **preset.tiny))).model_contract
    model = create(name, **preset.tiny)
    assert isinstance(model, contract), f"{name} lacks a member of {contract.__name__}"
    for klass in contract.__mro__:
        for member, declared in vars(klass).items():
            if inspect.isfunction(declared) and not member.startswith("_"):
                problems = _mismatches(getattr(model, member), declared)
                assert not problems, f"{name}.{member} vs {contract.__name__}: {problems}"


RASTER_IMAGE_PRESETS = [
    name for name in presets() if isinstance(protocol_of(name), ImageNLL)
]  # PixelCNN, the PixelRNNs, the multi-scale PixelRNN: autoregressive image models


@pytest.mark.parametrize("name", RASTER_IMAGE_PRESETS)
def test_image_model_scores_every_value_uses_every_layer_and_draws_in_range(name):
    """What an exact-likelihood image model owes its protocol, at shapes other than training's:
    an NLL per value, log p per image, a loss every parameter contributes to, and samples of
    any size within the likelihood's values (the multi-scale model: even sizes)."""
    torch.manual_seed(0)
    model = create(name, **get_preset(name).tiny)
    channels, top = model.config.channels, model.likelihood.max_value
    x = torch.randint(0, top + 1, (3, channels, 4, 6), dtype=torch.uint8)
    nll = model.nll(x)
    assert nll.shape == x.shape and nll.dtype == torch.float32
    torch.testing.assert_close(model.log_prob(x), -nll.flatten(1).sum(1))
    out = model(x)
    assert out["loss"].shape == () and torch.isfinite(out["loss"])
    out["loss"].backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, key
    samples = model.sample(2, (4, 2), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, channels, 4, 2) and samples.dtype == torch.uint8
    assert int(samples.max()) <= top


def _with_module(monkeypatch, tmp_path, name: str, source: str) -> None:
    """Put module `name` (its `source`) inside the presets package, as a family would."""
    package = importlib.import_module("genvid.presets")
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, f"genvid.presets.{name}", raising=False)


def test_a_new_family_module_is_found_without_editing_any_shared_file(monkeypatch, tmp_path):
    toy = (
        "from genvid.models.pixelcnn import PixelCNN, PixelCNNConfig\n"
        "from genvid.presets.base import Preset, binarized_mnist_nll\n"
        "PRESETS = (Preset('toy-pixelcnn', PixelCNN, PixelCNNConfig(num_layers=1), "
        "'binarized-mnist', 'a toy family', binarized_mnist_nll(81.3), tiny={}),)\n"
    )
    _with_module(monkeypatch, tmp_path, "toyfamily", toy)
    found = importlib.import_module("genvid.presets")._discover()
    assert "toy-pixelcnn" in found and set(presets()) < set(found)
    assert found["toy-pixelcnn"].build(found["toy-pixelcnn"].config).config.num_layers == 1


def test_a_preset_name_defined_by_two_modules_is_refused(monkeypatch, tmp_path):
    _with_module(monkeypatch, tmp_path, "copycat", "from genvid.presets.vpn import PRESETS\n")
    with pytest.raises(ValueError, match=r"'vpn-\w+' is defined by both genvid.presets.vpn"):
        importlib.import_module("genvid.presets")._discover()
