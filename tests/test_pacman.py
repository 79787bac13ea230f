"""Ms. Pac-Man clips rendered from ale-py's ROM: shapes, determinism, motion, files, registry."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from importlib.util import find_spec
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from genvid.data import eval_set, frame_size, pacman, train_stream
from genvid.data.pacman import (
    ALE_MISSING,
    HUD_ROW,
    PACMAN_COLOUR,
    cut_clips,
    deflicker,
    ensure_pacman_set,
    generate_pacman_clips,
    play_lives,
    read_pacman_split,
    split_seed,
    write_pacman_set,
)
from genvid.data.registry import describe

needs_ale = pytest.mark.skipif(find_spec("ale_py") is None, reason="needs ale-py")
WALL = (228, 111, 111)  # the first maze's walls, RGB
PACMAN_RGB = (210, 164, 74)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A tiny set: 3 train clips (policy seed 0) and 2 test clips (policy seed 1)."""
    root = tmp_path_factory.mktemp("pacman")
    return write_pacman_set(root, train_clips=3, test_clips=2, seed=0, progress=False)


def _pacman_centre(frame: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero((frame == PACMAN_RGB).all(-1))
    return np.array([rows.mean(), cols.mean()])


@needs_ale
def test_clips_shape_dtype_and_determinism(written):
    clips = generate_pacman_clips(3, seed=0, progress=False)
    assert clips.shape == (3, 20, 3, 64, 64) and clips.dtype == np.uint8
    train = read_pacman_split(written, "train").numpy()  # made by another run, streamed to disk
    assert clips.tobytes() == train.tobytes()
    test = read_pacman_split(written, "test").numpy()  # policy seed 1
    assert test.shape == (2, 20, 3, 64, 64) and not np.array_equal(test, clips[:2])
    assert split_seed(0, "train") == 0 and split_seed(0, "test") == 1


@needs_ale
def test_frames_move_within_every_clip(written):
    clips = read_pacman_split(written, "train").numpy().astype(int)
    for clip in clips:
        steps = np.abs(np.diff(clip, axis=0)).sum(axis=(1, 2, 3))  # (T - 1,)
        assert (steps > 0).mean() > 0.9
    frames = list(islice(next(play_lives(seed=0)), 20))
    assert np.abs(_pacman_centre(frames[-1]) - _pacman_centre(frames[0])).max() >= 8


@needs_ale
def test_frames_are_cropped_to_the_maze():
    frame = next(next(play_lives(seed=3, frame_skip=2)))
    assert frame.shape == (HUD_ROW, 160, 3) and frame.dtype == np.uint8
    assert (frame[-1] == WALL).all(-1).mean() > 0.9  # the maze's bottom wall, no HUD below


@needs_ale
def test_the_intro_is_exactly_the_frames_in_which_nothing_moves():
    ale = pacman._open_emulator()
    ale.reset_game()
    positions = []
    for _ in range(pacman.INTRO_FRAMES + 4):
        ale.act(0)  # NOOP; she sets off on her own
        positions.append(ale.getRAM()[6:11].copy())  # x of 4 ghosts and hers (AtariARI map)
    positions = np.array(positions)
    assert (positions[: pacman.INTRO_FRAMES] == positions[0]).all()
    assert (positions[pacman.INTRO_FRAMES :] != positions[0]).any()


@needs_ale
def test_the_respawn_pause_is_exactly_the_frames_in_which_nothing_moves():
    ale = pacman._open_emulator()
    ale.reset_game()
    while ale.lives() == 3:
        ale.act(3)  # RIGHT until a ghost catches her
    positions = []
    for _ in range(pacman.RESPAWN_FRAMES + 4):
        ale.act(0)
        positions.append(ale.getRAM()[6:11].copy())
    positions = np.array(positions)
    assert (positions[: pacman.RESPAWN_FRAMES] == positions[0]).all()
    assert (positions[pacman.RESPAWN_FRAMES :] != positions[0]).any()


@needs_ale
def test_games_open_differently():
    firsts = [next(next(play_lives(seed))) for seed in range(5)]  # same start, warm-ups differ
    assert len({frame.tobytes() for frame in firsts}) == 5


@needs_ale
def test_a_new_life_starts_in_motion():
    lives = play_lives(seed=0)
    first = list(next(lives))  # to the lost life
    second = list(islice(next(lives), 4))
    assert len(first) > 20
    assert np.abs(_pacman_centre(second[3]) - _pacman_centre(second[0])).max() >= 2


@needs_ale
def test_pacman_palette_index_is_her_colour():
    ale = pacman._open_emulator()
    for _ in range(pacman.INTRO_FRAMES):
        ale.act(0)
    colours, rgb = ale.getScreen(), ale.getScreenRGB()
    assert (colours == PACMAN_COLOUR).sum() > 10
    assert (rgb[colours == PACMAN_COLOUR] == PACMAN_RGB).all()


def test_deflicker_shows_every_ghost_and_pacman_once():
    colours = np.full((4, 6, 8), 144, np.uint8)  # corridor
    colours[:, 0] = 74  # a wall row
    colours[0, 2, 1] = 70  # a ghost drawn 3 frames ago only
    colours[2, 3, 5] = 70  # another, drawn 1 frame ago
    colours[3, 3, 5] = 74  # where the newest frame shows a pellet
    colours[1:, 4, 3] = 42  # Ms. Pac-Man drawn at (4, 3) ...
    colours[3, 4, 3], colours[3, 4, 4] = 144, 42  # ... but newest at (4, 4)
    screens = np.repeat(colours[..., None], 3, axis=-1)  # RGB = the palette index, for the test
    frame = deflicker(screens, colours)[..., 0]
    expected = colours[3].copy()
    expected[2, 1] = expected[3, 5] = 70
    np.testing.assert_array_equal(frame, expected)


def test_clips_never_cross_a_lost_life_or_a_reset():
    lengths = [45, 7, 20, 39]
    lives = ([(e, t) for t in range(n)] for e, n in enumerate(lengths))  # (life, frame) pairs
    clips = list(cut_clips(lives, clip_length=20))
    assert [clip[0] for clip in clips] == [(0, 0), (0, 20), (2, 0), (3, 0)]
    for clip in clips:
        life, start = clip[0]
        assert clip == [(life, start + t) for t in range(20)]
    with pytest.raises(ValueError, match="clip_length must be >= 1"):
        next(cut_clips([[1]], clip_length=0))


@needs_ale
def test_written_set_note_and_errors(written, tmp_path):
    note = json.loads((written / "pacman.json").read_text())
    assert "genvid's own data" in note["data"] and note["frame_skip"] == pacman.FRAME_SKIP
    assert note["clips"] == {"train": 3, "test": 2} and note["policy_seeds"]["test"] == 1
    assert not list(written.glob(".*.tmp"))  # nothing staged is left behind
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("pacman.json", "train.npy", "test.npy"):
        (broken / name).write_bytes((written / name).read_bytes())
    (broken / "test.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="^corrupt Ms. Pac-Man clip file .*test.npy"):
        read_pacman_split(broken, "test")
    (broken / "test.npy").write_bytes((written / "test.npy").read_bytes()[:-100])  # truncated
    with pytest.raises(ValueError, match="corrupt Ms. Pac-Man clip file"):
        read_pacman_split(broken, "test")
    np.save(broken / "test.npy", np.zeros((2, 20, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"not uint8 \(2, 20, 3, 64, 64\)"):
        read_pacman_split(broken, "test")
    (broken / "pacman.json").write_text("{")
    with pytest.raises(ValueError, match="^corrupt Ms. Pac-Man note"):
        read_pacman_split(broken, "test")
    (broken / "pacman.json").unlink()
    with pytest.raises(FileNotFoundError, match="no Ms. Pac-Man test clips"):
        read_pacman_split(broken, "test")
    with pytest.raises(ValueError, match="no split 'valid'"):
        read_pacman_split(written, "valid")


@needs_ale
def test_registry_stream_and_eval_set(written):
    stream = train_stream("pacman", seed=5, root=written)
    batch = stream.batch(1, 2)
    assert batch.shape == (2, 20, 3, 64, 64) and batch.dtype == torch.uint8
    assert frame_size("pacman") == stream.example_shape[-2:]
    again = train_stream("pacman", seed=5, root=written)
    for step in range(3):
        whole = again.batch(step, 2)
        assert torch.equal(whole, stream.batch(step, 2))
        halves = [stream.batch(step, 2, rank, 2) for rank in range(2)]
        assert torch.equal(torch.cat(halves), whole)
    clips = read_pacman_split(written, "train")
    assert all(any(torch.equal(clip, known) for known in clips) for clip in batch)
    assert torch.equal(eval_set("pacman", "test", root=written), read_pacman_split(written, "test"))
    assert eval_set("pacman", root=written, limit=1).shape == (1, 20, 3, 64, 64)
    assert {info.name: info.found for info in describe(written)}["pacman"]


@needs_ale
def test_first_use_generates_once(tmp_path, monkeypatch, capsys):
    calls = []

    def small(root):  # the default set, but tiny
        calls.append(root)
        return write_pacman_set(root, train_clips=2, test_clips=1, progress=False)

    monkeypatch.setattr(pacman, "write_pacman_set", small)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ensure_pacman_set() == tmp_path / "genvid" / "pacman"
    assert "generating the Ms. Pac-Man clips" in capsys.readouterr().err
    assert eval_set("pacman", "train").shape == (2, 20, 3, 64, 64)  # reused, not remade
    assert len(calls) == 1


@needs_ale
def test_a_set_of_an_older_version_is_rendered_again(tmp_path, monkeypatch, capsys):
    calls = []

    def small(root):  # the default set, but tiny
        calls.append(root)
        return write_pacman_set(root, train_clips=2, test_clips=1, progress=False)

    monkeypatch.setattr(pacman, "write_pacman_set", small)
    root = small(tmp_path / "set")
    assert json.loads((root / "pacman.json").read_text())["version"] == pacman.VERSION == 2
    assert ensure_pacman_set(root) == root and len(calls) == 1  # this version: kept as written
    note = json.loads((root / "pacman.json").read_text())
    del note["version"]  # as version 1 (256 test clips) wrote its note
    (root / "pacman.json").write_text(json.dumps(note))
    assert pacman.written_version(root) == 1
    capsys.readouterr()
    assert ensure_pacman_set(root) == root and len(calls) == 2  # rendered again, not used
    assert "re-rendering the Ms. Pac-Man clips" in capsys.readouterr().err
    assert pacman.written_version(root) == pacman.VERSION
    (root / "pacman.json").write_text("{")  # unreadable: left for the reader to name
    assert pacman.written_version(root) is None and ensure_pacman_set(root) == root
    assert len(calls) == 2


def test_the_default_set_holds_enough_test_clips_for_fvd():
    from genvid.cli import cli
    from genvid.protocols.fvd import PROTOCOL_CLIPS

    assert pacman.TEST_CLIPS == 2 * PROTOCOL_CLIPS == 4096 and pacman.TRAIN_CLIPS == 2000
    defaults = {p.name: p.default for p in cli.commands["data"].commands["pacman"].params}
    assert defaults["test_clips"] == pacman.TEST_CLIPS
    assert defaults["train_clips"] == pacman.TRAIN_CLIPS


def test_missing_ale_py_and_rom(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now raises ImportError
    with pytest.raises(ImportError, match=f"^{re.escape(ALE_MISSING)}$"):
        generate_pacman_clips(1, seed=0)
    with pytest.raises(ImportError, match="pip install 'genvid\\[atari\\]'"):
        pacman.rom_path()


def test_missing_ale_py_is_named_before_any_note_of_rendering(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ImportError, match=f"^{re.escape(ALE_MISSING)}$"):
        pacman.ensure_pacman_set(tmp_path / "new")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / pacman.METADATA).write_text('{"version": 1}')
    with pytest.raises(ImportError, match=f"^{re.escape(ALE_MISSING)}$"):
        pacman.ensure_pacman_set(tmp_path / "old")
    assert capsys.readouterr().err == ""


@needs_ale
def test_missing_rom(monkeypatch):
    from ale_py import roms

    monkeypatch.setattr(roms, "get_rom_path", lambda name: None)
    with pytest.raises(FileNotFoundError, match="has no Ms. Pac-Man ROM"):
        generate_pacman_clips(1, seed=0)

    def damaged(name):
        raise OSError("The hash of ms_pacman.bin does not match what was expected!\nExpected")

    monkeypatch.setattr(roms, "get_rom_path", damaged)
    with pytest.raises(FileNotFoundError, match="missing or damaged: The hash .* expected!$"):
        pacman.rom_path()


def test_genvid_data_pacman_writes_a_set_from_the_command_line(tmp_path):
    pytest.importorskip("ale_py")
    from click.testing import CliRunner

    from genvid.cli import cli

    out = tmp_path / "pacman"
    args = ["data", "pacman", "--root", str(out), "--train-clips", "2", "--test-clips", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert read_pacman_split(out, "train").shape == (2, 20, 3, 64, 64)
    assert read_pacman_split(out, "test").shape == (1, 20, 3, 64, 64)


@needs_ale
def test_clips_damaged_behind_an_intact_header_are_refused_naming_the_file(written, tmp_path):
    note = json.loads((written / "pacman.json").read_text())
    for split in ("train", "test"):
        data = (written / f"{split}.npy").read_bytes()
        assert note["sha256"][f"{split}.npy"] == hashlib.sha256(data).hexdigest()
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("pacman.json", "train.npy", "test.npy"):
        (copy / name).write_bytes((written / name).read_bytes())
    assert read_pacman_split(copy, "test").shape == (2, 20, 3, 64, 64)
    clips = np.load(copy / "test.npy")
    clips[1, 5] = 255 - clips[1, 5]  # one frame changed; header, shape and dtype intact
    np.save(copy / "test.npy", clips)
    command = f"genvid data pacman --root {copy} --train-clips 3 --test-clips 2"
    with pytest.raises(ValueError) as error:
        read_pacman_split(copy, "test")
    message = str(error.value)
    assert message.startswith(f"{copy / 'test.npy'} does not match the checksum in")
    assert message.endswith(command) and "\n" not in message
    assert read_pacman_split(copy, "train").shape == (3, 20, 3, 64, 64)  # checked apart


@needs_ale
def test_a_note_written_before_checksums_gets_them_and_is_then_checked(
    written, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(pacman, "write_pacman_set", None)  # nothing is rendered again
    old = tmp_path / "old"
    old.mkdir()
    for name in ("train.npy", "test.npy"):
        (old / name).write_bytes((written / name).read_bytes())
    note = json.loads((written / "pacman.json").read_text())
    del note["sha256"]  # as version 2 was first written
    (old / "pacman.json").write_text(json.dumps(note))
    assert read_pacman_split(old, "test").shape == (2, 20, 3, 64, 64)  # readable unchecked
    assert ensure_pacman_set(old) == old
    assert "recording checksums" in capsys.readouterr().err
    recorded = json.loads((old / "pacman.json").read_text())
    assert recorded["sha256"] == json.loads((written / "pacman.json").read_text())["sha256"]
    assert ensure_pacman_set(old) == old and not capsys.readouterr().err  # once
    clips = np.load(old / "train.npy")
    clips[0, 0, 0, 0, 0] ^= 1
    np.save(old / "train.npy", clips)
    with pytest.raises(ValueError, match="does not match the checksum"):
        read_pacman_split(old, "train")
