"""Ms. Pac-Man clips rendered locally from the ROM that ale-py bundles: genvid's own data.

The seed project's Ms. Pac-Man clips (a Google-Drive download) are not reachable, so genvid
makes its own set with the Arcade Learning Environment (Bellemare et al. 2013, arXiv
1207.4708; ale-py, imported only here and only when clips are made). It is not the seed's set:
scores on it are comparable only with other runs on this set.

How a clip is made (every number is a constant below and in the set's `pacman.json`):

- Emulator: sticky actions off (`repeat_action_probability` 0) and ALE's seed fixed, so the
  game is deterministic and the policy is the only randomness.
- Policy (`StickyRandomPolicy`): a direction (up, right, left, down) drawn uniformly and held
  for 2..12 kept frames (uniform), then drawn afresh. Holding a direction makes Ms. Pac-Man run
  along corridors and turn at random junctions; a fresh random action every frame would
  jitter her in place. Its generator is `numpy.random.default_rng(seed)`.
- Lives (`play_lives`): after a reset the first `INTRO_FRAMES` = 264 emulator frames (the start
  tune, 4.4 s at 60 Hz, in which nothing moves but the blinking power pills) are played with
  no-ops and dropped; she starts moving at frame 265. Then a number of policy steps drawn
  uniformly from 0..39 (`WARMUP_STEPS`) is played and dropped too: every game opens from the
  same state and early on few action sequences differ in effect, so without it about 1 game
  in 6 opened with a clip identical to another's. Her death animation (about 80 frames, the
  ghosts frozen) is kept; the step in which the life counter drops is not, nor are the next
  `RESPAWN_FRAMES` = 118 frames (the pause before play resumes, in which nothing moves),
  played with no-ops. After the last life (game over, or `MAX_EPISODE_FRAMES`) the game is
  reset.
- Frame skip: one frame is kept every `FRAME_SKIP` = 4 emulator frames (the policy acts once
  per kept frame), so 20 frames span 80 emulator frames (1.3 s); she moves about 2 screen
  pixels (0.8 output pixels) per kept frame.
- Flicker: the 2600 draws one ghost per emulator frame (a 4-frame cycle), so a raw frame shows
  one ghost of four. `deflicker` merges the last 4 emulator frames: where the newest shows
  maze (its two commonest colours: corridors, walls and pellets), the newest sprite pixel
  of the 3 frames before shows through; Ms. Pac-Man herself, drawn every frame, comes from the
  newest frame only, so she leaves no trail.
- Crop and resize: rows 0..171 are kept (rows >= 172 are the HUD: lives and fruit), then the
  172x160 frame is resized with PIL's bilinear filter (antialiased when shrinking, as
  `genvid.data.video_folder`) straight to 64x64; the aspect ratio is not kept.
- Clips: consecutive, non-overlapping runs of 20 kept frames from one life (`cut_clips`); the
  frames after a life's last full clip are dropped, so no clip crosses a lost life or a reset.
- Splits: `write_pacman_set(seed=s)` plays train with policy seed 2s and test with 2s + 1,
  independent policy streams (policy and warm-up draw from the same generator). The default
  set holds 2,000 train and 4,096 test clips: FVD by the common protocol scores 2,048
  generated clips against a random subset of 2,048 test clips and its floor takes a second,
  disjoint one. The test clips are consecutive blocks of play, which is why FVD draws random
  subsets rather than the first clips. Version 1 of the set held 256 test clips (the first
  256 of version 2's, byte for byte); `ensure_pacman_set` re-renders a set whose note is of an
  older version instead of using it.
- Checksums: the note records the SHA-256 of each clip file (`sha256`), computed as the file
  is written; `read_pacman_split` checks it (once per process and file), so clips damaged
  behind an intact header are refused in one line that says how to render the set again. A
  note of this version written before checksums were kept gets them on first use.

Deviations: the emulator, not recorded human play. The agent is random, so clips show the
first maze only, and about 1 kept frame in 6 shows her dying (a life lasts about 90 kept
frames, 20 of them the death animation) or stopped against a wall. A ghost is missing from
about 1% of the deflickered frames (the 2600's sprite order is not strictly periodic).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from genvid.atomic import atomic_write_all
from genvid.errors import first_line

ALE_MISSING = "Ms. Pac-Man data need ale-py: pip install 'genvid[atari]'"
FRAME_SKIP = 4  # emulator frames per kept frame
WARMUP_STEPS = 40  # a game's first 0..39 policy steps after the intro are not kept
INTRO_FRAMES = 264  # emulator frames after a reset in which nothing moves
RESPAWN_FRAMES = 118  # emulator frames after a lost life in which nothing moves
MAX_EPISODE_FRAMES = 108_000  # ALE's usual 30-minute cap; random play dies long before
FLICKER_PERIOD = 4  # emulator frames in which every ghost is drawn once
HUD_ROW = 172  # first row of the HUD (lives, fruit); rows 0..171 are kept
SCREEN_SHAPE = (210, 160)  # the 2600's rows and columns
PACMAN_COLOUR = np.uint8(42)  # her NTSC palette index, RGB (210, 164, 74)
DIRECTIONS = ("UP", "RIGHT", "LEFT", "DOWN")  # the policy's actions (ale_py.Action names)
HOLD_STEPS = (2, 12)  # a direction is held for this many kept frames (inclusive)
CLIP_LENGTH = 20
SIZE = (64, 64)
TRAIN_CLIPS = 2_000
TEST_CLIPS = 4_096  # FVD's 2,048 real clips and the floor's disjoint 2,048
VERSION = 2  # of the default set; 1 had 256 test clips. A set of another version is re-rendered
SPLITS = ("train", "test")
METADATA = "pacman.json"  # written last: its presence means the set is complete
SHA256 = "sha256"  # the note's table of each clip file's SHA-256 (file name -> hex digest)

T = TypeVar("T")


def _import_ale():  # noqa: ANN202 (the module)
    try:
        import ale_py
    except ImportError:
        raise ImportError(ALE_MISSING) from None
    return ale_py


def rom_path() -> Path:
    """The Ms. Pac-Man ROM bundled with ale-py (checked against ale-py's own md5)."""
    ale_py = _import_ale()
    from ale_py import roms  # a submodule that `import ale_py` leaves unloaded

    try:
        path = roms.get_rom_path("ms_pacman")
    except OSError as error:  # missing file or directory, or an md5 mismatch
        raise FileNotFoundError(
            f"ale-py's Ms. Pac-Man ROM is missing or damaged: {first_line(error)}"
        ) from None
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"ale-py {ale_py.__version__} has no Ms. Pac-Man ROM (ms_pacman)")
    return Path(path)


def _open_emulator():  # noqa: ANN202 (an ale_py.ALEInterface)
    ale_py = _import_ale()
    path = rom_path()
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no per-reset chatter
    ale = ale_py.ALEInterface()
    ale.setInt("random_seed", 0)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("frame_skip", 1)  # genvid skips frames itself, to see the ones in between
    ale.setInt("max_num_frames_per_episode", MAX_EPISODE_FRAMES)
    ale.loadROM(str(path))
    return ale


class StickyRandomPolicy:
    """A random joystick that holds each direction for a random number of kept frames.

    Args:
        rng: the policy's only source of randomness.
        hold_steps: (least, most) kept frames a drawn direction is held, both inclusive.
    """

    def __init__(self, rng: np.random.Generator, hold_steps: tuple[int, int] = HOLD_STEPS) -> None:
        if not 1 <= hold_steps[0] <= hold_steps[1]:
            raise ValueError(f"hold_steps must be 1 <= least <= most, got {hold_steps}")
        self.rng = rng
        self.hold_steps = hold_steps
        self._direction = 0
        self._left = 0  # kept frames the current direction is still held

    def __call__(self) -> int:
        """The next kept frame's action: an index into `DIRECTIONS`."""
        if self._left == 0:
            self._direction = int(self.rng.integers(len(DIRECTIONS)))
            self._left = int(self.rng.integers(self.hold_steps[0], self.hold_steps[1] + 1))
        self._left -= 1
        return self._direction


def deflicker(screens: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Merge a flicker cycle of screens into one frame that shows every sprite.

    Args:
        screens: uint8 RGB [P, H, W, 3], oldest first.
        colours: uint8 NTSC palette indices [P, H, W] of the same screens.

    Returns:
        uint8 [H, W, 3]: the newest screen, except where it shows maze (its two commonest
        colours), which takes the newest sprite pixel (neither maze nor Ms. Pac-Man) of the
        older screens.
    """
    counts = np.bincount(colours[-1, ::4, ::4].ravel(), minlength=256)  # the maze is ~99%
    wall, corridor = np.argsort(counts)[-2:].astype(np.uint8)  # uint8: compare without upcasts
    frame = screens[-1].copy()
    pixels, sources = frame.reshape(-1, 3), screens.reshape(len(screens), -1, 3)  # (H*W, 3)
    colours = colours.reshape(len(colours), -1)  # (P, H*W)
    open_ = (colours[-1] == wall) | (colours[-1] == corridor)  # where a hidden ghost may show
    for older in range(len(screens) - 2, -1, -1):  # newest first
        colour = colours[older]
        sprite = (colour != wall) & (colour != corridor) & (colour != PACMAN_COLOUR)
        fill = np.flatnonzero(open_ & sprite)  # indices: far faster than a boolean mask here
        pixels[fill] = sources[older, fill]
        open_[fill] = False
    return frame


class _ScreenWindow:
    """A ring of the last FLICKER_PERIOD emulator screens, as RGB and as palette indices."""

    def __init__(self) -> None:
        self.screens = np.zeros((FLICKER_PERIOD, *SCREEN_SHAPE, 3), np.uint8)
        self.colours = np.zeros((FLICKER_PERIOD, *SCREEN_SHAPE), np.uint8)
        self.count = 0

    def capture(self, ale) -> None:  # noqa: ANN001 (an ale_py.ALEInterface)
        slot = self.count % FLICKER_PERIOD
        ale.getScreenRGB(self.screens[slot])
        ale.getScreen(self.colours[slot])
        self.count += 1

    def frame(self) -> np.ndarray:
        """The deflickered maze: uint8 [HUD_ROW, 160, 3]."""
        order = (self.count + np.arange(FLICKER_PERIOD)) % FLICKER_PERIOD  # oldest first
        return deflicker(self.screens[order, :HUD_ROW], self.colours[order, :HUD_ROW])


def _play(ale, action, frames: int, window: _ScreenWindow) -> None:  # noqa: ANN001
    """Hold `action` for `frames` emulator frames, capturing the last FLICKER_PERIOD screens."""
    for frame in range(frames):
        ale.act(action)
        if frame >= frames - FLICKER_PERIOD:
            window.capture(ale)


def play_lives(seed: int, frame_skip: int = FRAME_SKIP) -> Iterator[Iterator[np.ndarray]]:
    """Endless lives of Ms. Pac-Man under the sticky random policy, game after game.

    Args:
        seed: the seed of the policy and the warm-ups (`numpy.random.default_rng(seed)`).
        frame_skip: emulator frames per kept frame.

    Returns:
        Lives in order, each the iterator of its kept frames from the moment play starts to
        the lost life; consume each to its end before taking the next (one emulator).

    Shape:
        Every frame is uint8 [172, 160, 3] (RGB, HUD cropped, deflickered, not resized).
    """
    if frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
    ale = _open_emulator()
    action_type = _import_ale().Action
    actions = [getattr(action_type, name) for name in DIRECTIONS]
    rng = np.random.default_rng(seed)
    policy = StickyRandomPolicy(rng)
    window = _ScreenWindow()

    def life(pause_frames: int, warmup_steps: int) -> Iterator[np.ndarray]:
        _play(ale, action_type.NOOP, pause_frames, window)
        for _ in range(warmup_steps):  # played, not kept
            _play(ale, actions[policy()], frame_skip, window)
        lives = ale.lives()
        while True:
            _play(ale, actions[policy()], frame_skip, window)
            if ale.game_over() or ale.lives() < lives:  # that step is not kept
                return
            yield window.frame()

    while True:
        ale.reset_game()
        yield life(INTRO_FRAMES, int(rng.integers(WARMUP_STEPS)))
        while not ale.game_over():
            yield life(RESPAWN_FRAMES, 0)


def cut_clips(lives: Iterable[Iterable[T]], clip_length: int) -> Iterator[list[T]]:
    """Non-overlapping runs of `clip_length` consecutive frames, each inside one life.

    The frames after a life's last full clip are dropped, so no clip crosses a lost life or a
    reset. Every life is read to its end.
    """
    if clip_length < 1:
        raise ValueError(f"clip_length must be >= 1, got {clip_length}")
    for life in lives:
        clip: list[T] = []
        for frame in life:
            clip.append(frame)
            if len(clip) == clip_length:
                yield clip
                clip = []


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 [H, W, 3] frame resized bilinearly (antialiased) to `size`: uint8 [3, h, w]."""
    image = Image.fromarray(frame).resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(image).transpose(2, 0, 1)  # (3, h, w)


def _clips(
    num_clips: int, seed: int, frame_skip: int, clip_length: int, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """The first `num_clips` clips of policy seed `seed`: uint8 [T, 3, h, w] each.

    The arguments are checked at once; the emulator starts with the first clip.
    """
    for name, value in (("num_clips", num_clips), ("frame_skip", frame_skip)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if clip_length < 1:
        raise ValueError(f"clip_length must be >= 1, got {clip_length}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be two positive ints (height, width), got {size}")
    clips = cut_clips(play_lives(seed, frame_skip), clip_length)
    return (
        np.stack([resize_frame(frame, size) for frame in clip]) for clip in islice(clips, num_clips)
    )


def generate_pacman_clips(
    num_clips: int,
    *,
    seed: int,
    frame_skip: int = FRAME_SKIP,
    clip_length: int = CLIP_LENGTH,
    size: tuple[int, int] = SIZE,
    progress: bool = True,
) -> np.ndarray:
    """Ms. Pac-Man clips of the sticky random policy (module docstring), deterministic in `seed`.

    Args:
        num_clips: N >= 1.
        seed: the policy's seed; the same seed gives the same bytes.
        frame_skip: emulator frames per kept frame.
        clip_length: kept frames per clip.
        size: (height, width) of the resized frames.
        progress: show a tqdm bar (on a terminal only).

    Shape:
        uint8 [N, clip_length, 3, height, width], RGB.
    """
    clips = _clips(num_clips, seed, frame_skip, clip_length, size)
    out = np.empty((num_clips, clip_length, 3, *size), np.uint8)
    with tqdm(
        total=num_clips, desc="Ms. Pac-Man", unit="clip", disable=None if progress else True
    ) as bar:
        for index, clip in enumerate(clips):
            out[index] = clip
            bar.update()
    return out


def split_seed(seed: int, split: str) -> int:
    """The policy seed of a split of set seed `seed`: 2 seed (train), 2 seed + 1 (test)."""
    return 2 * seed + SPLITS.index(split)


def write_pacman_set(
    out_dir: str | Path,
    *,
    train_clips: int = TRAIN_CLIPS,
    test_clips: int = TEST_CLIPS,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate and write `train.npy`, `test.npy` and `pacman.json` in `out_dir`, atomically.

    Each clip is written as it is made (memory stays small); all three files are staged before
    any is renamed into place, the note last, so a reader sees a complete set or none, and two
    concurrent writers (making identical bytes) cannot corrupt it.

    Returns:
        `out_dir`.
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"train": train_clips, "test": test_clips}
    for split, count in counts.items():
        if count < 1:
            raise ValueError(f"{split}_clips must be >= 1, got {count}")
    rom_path()  # fail before anything is staged

    digests: dict[str, str] = {}  # file name -> SHA-256, filled as the files are written

    def clip_file(split: str) -> Callable[[IO[bytes]], None]:
        def write(file: IO[bytes]) -> None:
            hashing = _HashingWriter(file)
            shape = (counts[split], CLIP_LENGTH, 3, *SIZE)
            header = {"descr": "|u1", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(hashing, header)
            clips = _clips(counts[split], split_seed(seed, split), FRAME_SKIP, CLIP_LENGTH, SIZE)
            desc = f"Ms. Pac-Man {split}"
            disable = None if progress else True
            for clip in tqdm(clips, total=counts[split], desc=desc, unit="clip", disable=disable):
                hashing.write(clip.tobytes())
            digests[f"{split}.npy"] = hashing.digest.hexdigest()

        return write

    def note(file: IO[bytes]) -> None:  # staged after the clip files: their digests are known
        file.write(_note_bytes({**_metadata(seed, counts), SHA256: digests}))

    writers = {out_dir / f"{split}.npy": clip_file(split) for split in SPLITS}
    writers[out_dir / METADATA] = note
    atomic_write_all(writers)
    return out_dir


class _HashingWriter:
    """A file's `write` that also feeds a SHA-256 of everything written."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.file.write(data)


def _note_bytes(note: dict) -> bytes:
    return json.dumps(note, indent=2).encode() + b"\n"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 16 MiB pieces (the test set is 1 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata(seed: int, counts: dict[str, int]) -> dict:
    return {
        "version": VERSION,
        "data": "Ms. Pac-Man clips rendered by genvid from the ROM bundled with ale-py: "
        "genvid's own data, not the seed project's clips",
        "layout": "uint8 [N, T, 3, H, W], RGB; one .npy file per split",
        "clips": counts,
        "clip_length": CLIP_LENGTH,
        "size": list(SIZE),
        "seed": seed,
        "policy_seeds": {split: split_seed(seed, split) for split in SPLITS},
        "policy": f"sticky random: a direction of {', '.join(DIRECTIONS)} drawn uniformly and "
        f"held for {HOLD_STEPS[0]}..{HOLD_STEPS[1]} kept frames (uniform); "
        "numpy.random.default_rng(policy seed)",
        "emulator": "ale-py, repeat_action_probability 0, random_seed 0",
        "ale_py": _import_ale().__version__,
        "intro_frames_dropped": INTRO_FRAMES,
        "warmup_steps_dropped": f"uniform 0..{WARMUP_STEPS - 1} per game, after the intro",
        "frame_skip": FRAME_SKIP,
        "deflicker": f"newest sprite pixel of the last {FLICKER_PERIOD} emulator frames",
        "crop": f"rows 0..{HUD_ROW - 1} of {SCREEN_SHAPE[0]} (HUD dropped)",
        "resize": f"PIL bilinear to {SIZE[0]}x{SIZE[1]}",
        "respawn_frames_dropped": RESPAWN_FRAMES,
        "lives": "reset at game over; no clip crosses a lost life or a reset",
    }


def default_root() -> Path:
    """Where the registry keeps the set: `$XDG_CACHE_HOME/genvid/pacman` (`~/.cache/...`)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genvid" / "pacman"


def is_written(root: str | Path) -> bool:
    """Whether `root` holds a complete set (its note is renamed into place last)."""
    return (Path(root) / METADATA).is_file()


def written_version(root: str | Path) -> int | None:
    """The version in a written set's note (1 for a note without one, written before versions
    were recorded); None when the note is absent or unreadable (`read_pacman_split` says why)."""
    try:
        note = json.loads((Path(root) / METADATA).read_text())
    except (ValueError, OSError):
        return None
    version = note.get("version", 1) if isinstance(note, dict) else None
    return version if isinstance(version, int) else None


def ensure_pacman_set(root: str | Path | None = None) -> Path:
    """The set's directory, generating the default set there first if it has none, or if its
    set was written by an older genvid (another `VERSION`: e.g. 256 test clips, too few for
    FVD's 2 x 2,048). A set of this version keeps whatever clip counts it was written with; one
    written before checksums were recorded gets them now (`record_checksums`)."""
    root = default_root() if root is None else Path(root)
    if not is_written(root):
        _import_ale()  # a missing ale-py is the one line, not a note of work that cannot start
        print(f"genvid: generating the Ms. Pac-Man clips in {root} (once, ~3 min)", file=sys.stderr)
        write_pacman_set(root)
    elif written_version(root) not in (None, VERSION):
        _import_ale()
        print(
            f"genvid: re-rendering the Ms. Pac-Man clips in {root}: they are version "
            f"{written_version(root)} of the set, this genvid makes version {VERSION} "
            f"({TEST_CLIPS:,} test clips; ~3 min, once)",
            file=sys.stderr,
        )
        write_pacman_set(root)
    elif written_version(root) == VERSION:
        record_checksums(root)
    return root


def record_checksums(root: str | Path) -> bool:
    """Add the SHA-256 of each clip file to a note written before genvid recorded them (the
    files are taken as they are: they were written atomically). Returns whether it did; a set
    that already has them, an unreadable note or a directory that cannot be written is left as
    it is (it is then read unchecked, or the reader names the problem)."""
    root = Path(root)
    try:
        note = json.loads((root / METADATA).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(note, dict) or SHA256 in note:
        return False
    try:
        digests = {f"{split}.npy": file_sha256(root / f"{split}.npy") for split in SPLITS}
        print(
            f"genvid: recording checksums of the Ms. Pac-Man clips in {root} (once)",
            file=sys.stderr,
        )
        text = _note_bytes({**note, SHA256: digests})
        atomic_write_all({root / METADATA: lambda file: file.write(text)})
    except OSError:
        return False
    return True


def read_pacman_split(root: str | Path, split: str) -> Tensor:
    """One split of a written set, memory-mapped: uint8 [N, T, 3, H, W].

    Raises:
        FileNotFoundError: the set or the split's file is missing.
        ValueError: the file is corrupt or its shape is not the one its note states.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"Ms. Pac-Man has no split {split!r}; splits: {', '.join(SPLITS)}")
    path = root / f"{split}.npy"
    if not is_written(root) or not path.is_file():
        raise FileNotFoundError(f"no Ms. Pac-Man {split} clips in {root} (write_pacman_set)")
    try:
        note = json.loads((root / METADATA).read_text())
        expected = (note["clips"][split], note["clip_length"], 3, *note["size"])
    except (ValueError, OSError, KeyError, TypeError) as error:
        raise ValueError(
            f"corrupt Ms. Pac-Man note {root / METADATA} ({first_line(error)})"
        ) from None
    try:
        clips = np.load(path, mmap_mode="c", allow_pickle=False)  # copy-on-write: a torch view
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"corrupt Ms. Pac-Man clip file {path} ({first_line(error)}); "
            f"delete {root} to remake it"
        ) from None
    if clips.dtype != np.uint8 or clips.shape != tuple(expected):
        raise ValueError(
            f"{path}: {clips.dtype} {clips.shape}, not uint8 {tuple(expected)}; delete {root}"
        )
    digests = note.get(SHA256) if isinstance(note, dict) else None
    if isinstance(digests, dict) and path.name in digests:
        _check_digest(path, str(digests[path.name]), note)
    return torch.from_numpy(clips)


_VERIFIED: set[tuple] = set()  # (path, inode, size, mtime) of files whose digest matched


def _check_digest(path: Path, expected: str, note: dict) -> None:
    """Refuse a clip file whose bytes are not those its note's checksum records (once per
    process and file version: the test set is 1 GB)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    if file_sha256(path) != expected:
        raise ValueError(
            f"{path} does not match the checksum in {path.parent / METADATA} (damaged after it "
            f"was written); render the set again: {_render_command(path.parent, note)}"
        )
    _VERIFIED.add(key)


def _render_command(root: Path, note: dict) -> str:
    """The command that writes the set `note` describes into `root` again."""
    command = f"genvid data pacman --root {root}"
    clips = note.get("clips", {})
    if clips.get("train", TRAIN_CLIPS) != TRAIN_CLIPS:
        command += f" --train-clips {clips['train']}"
    if clips.get("test", TEST_CLIPS) != TEST_CLIPS:
        command += f" --test-clips {clips['test']}"
    if note.get("seed", 0):
        command += f" --seed {note['seed']}"
    return command
