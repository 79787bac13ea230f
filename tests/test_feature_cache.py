"""The I3D feature cache: every entry carries a checksum; a changed, torn or non-finite entry
is recomputed and rewritten with one warning naming it, never used. I3D is stubbed (the
features are a function of the clips' pixels), so these tests take milliseconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genvid import frechet


@pytest.fixture
def stub_i3d(monkeypatch, tmp_path):
    """The cache under tmp_path (XDG_CACHE_HOME), I3D replaced by a pixel statistic: [N, 400].
    Returns the list of calls (the clips each was given)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def features(clips, model, *, batch_size, device):
        calls.append(clips)
        means = clips.double().flatten(1).mean(1, keepdim=True)  # (N, 1)
        return means + torch.arange(400, dtype=torch.float64)  # (N, 400)

    monkeypatch.setattr(frechet, "i3d_features", features)
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    return calls


def clips(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, 9, 1, 8, 8), dtype=torch.uint8, generator=generator)


def entry() -> tuple:
    (path,) = frechet.feature_cache_dir().glob("*.npy")
    return path, path.with_suffix(".json")


def test_an_entry_is_written_with_its_checksum_and_read_without_i3d(stub_i3d):
    first = frechet.cached_i3d_features(clips())
    path, checksum = entry()
    note = json.loads(checksum.read_text())
    assert note["shape"] == [3, 400] and len(note["sha256"]) == 64
    assert torch.equal(frechet.cached_i3d_features(clips()), first)
    assert len(stub_i3d) == 1  # the second call read the entry


def _rewrite(path, values) -> None:
    """New values behind an intact .npy header (same shape and dtype), checksum untouched."""
    np.save(path, values, allow_pickle=False)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("scaled", "do not match the checksum"),
        ("nan", "do not match the checksum"),
        ("torn", "do not match the checksum"),
        ("checksum file", "checksum file"),
    ],
)
def test_a_damaged_entry_is_recomputed_with_one_warning_naming_it(stub_i3d, capsys, damage, reason):
    first = frechet.cached_i3d_features(clips())
    path, checksum = entry()
    good = path.read_bytes()
    if damage == "scaled":  # as a hand edit did: the FVD floor moved from 434 to 7,938
        _rewrite(path, np.load(path) * 20)
    elif damage == "nan":
        values = np.load(path)
        values[1, 7] = np.nan
        _rewrite(path, values)
    elif damage == "torn":
        path.write_bytes(good[: len(good) // 2])
    else:
        checksum.write_text("{")
    capsys.readouterr()
    assert torch.equal(frechet.cached_i3d_features(clips()), first)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(path) in err[0] and reason in err[0]
    assert err[0].startswith("genvid: warning: I3D feature cache entry")
    assert len(stub_i3d) == 2  # recomputed
    assert path.read_bytes() == good  # and rewritten, with a checksum that holds
    assert frechet.cached_i3d_features(clips()) is not None and len(stub_i3d) == 2


def test_a_non_finite_entry_whose_checksum_holds_is_still_recomputed(stub_i3d, capsys):
    first = frechet.cached_i3d_features(clips())
    path, checksum = entry()
    values = np.load(path)
    values[0, 0] = np.inf
    frechet._write_cache_entry(path, values)  # a consistent checksum of broken features
    capsys.readouterr()
    assert torch.equal(frechet.cached_i3d_features(clips()), first)
    err = capsys.readouterr().err
    assert "NaN or infinite" in err and str(path) in err and len(stub_i3d) == 2


def test_an_entry_from_before_checksums_is_used_once_sound_and_then_checked(stub_i3d, capsys):
    first = frechet.cached_i3d_features(clips())
    path, checksum = entry()
    checksum.unlink()  # as genvid wrote entries before checksums
    assert torch.equal(frechet.cached_i3d_features(clips()), first)
    assert len(stub_i3d) == 1 and checksum.is_file() and not capsys.readouterr().err
    _rewrite(path, np.load(path) + 1)  # changed after its checksum was kept: caught
    assert torch.equal(frechet.cached_i3d_features(clips()), first)
    assert len(stub_i3d) == 2 and "do not match" in capsys.readouterr().err


def test_broken_features_are_never_cached(stub_i3d, monkeypatch):
    monkeypatch.setattr(
        frechet, "i3d_features", lambda c, m, **kw: torch.full((len(c), 400), float("nan"))
    )
    assert torch.isnan(frechet.cached_i3d_features(clips())).all()
    assert not list(frechet.feature_cache_dir().glob("*"))


def test_a_cache_that_cannot_be_written_costs_time_not_the_result(stub_i3d, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    features = frechet.cached_i3d_features(clips(), cache_dir=blocked / "i3d")
    assert features.shape == (3, 400) and len(stub_i3d) == 1
