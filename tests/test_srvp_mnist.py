"""SRVP's Stochastic Moving MNIST: the generator, its fixed test set, the registry and the CLI.

The digests below are of the arrays SRVP's own `preprocessing/mmnist/make_test_set.py`
(commit 05661fa) wrote when run on the MNIST-test digits genvid ships (`--seq_len 25`, and
`--deterministic` with its default 100 frames): its `sequences` (T, N, 64, 64) uint8 and its
`latents` (T, N, 2, 4) int64. genvid's arrays were compared with the reference's in full (all
5,000 sequences, both sets, equal byte for byte) before the digests were pinned.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from genvid import data as gdata
from genvid.cli import cli
from genvid.data import srvp_mnist
from genvid.data.srvp_mnist import LIMIT, SRVPMovingMNIST, SRVPTestSet, trajectory

REFERENCE = {  # deterministic -> digests of the reference's arrays
    False: {
        "latents": "d578fb7d35be0cf6be4b596b26e0df86a58552b8d66d8b27d46b24fffe91804a",
        "first 20": "2a380033f9758c3e27f8668f1e9e3c722557b5a51294a8f3f69a3c932c5d4388",
    },
    True: {
        "latents": "64853adcf398b3d898ed7ede80eab67392dc2b318ac3e6ed06d188bd0037cfa0",
        "first 20": "39ca97caa94388cf1b18479f7ce902bf5736ee1da35766135fe2518b394cc7ae",
    },
}


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.parametrize("deterministic", [False, True])
def test_the_test_set_equals_the_reference_generators_output(deterministic):
    test_set = SRVPTestSet(deterministic=deterministic)
    latents = test_set.trajectories(len(test_set)).transpose(2, 0, 1, 3)  # (T, N, D, 4)
    assert len(test_set) == 5000
    assert latents.shape == ((100 if deterministic else 25), 5000, 2, 4)
    assert _digest(latents) == REFERENCE[deterministic]["latents"]
    frames = test_set.sequences(np.arange(20))[:, :, 0].numpy().transpose(1, 0, 2, 3)
    assert _digest(frames) == REFERENCE[deterministic]["first 20"]


def test_any_sequence_of_the_test_set_can_be_asked_for_alone():
    whole = SRVPTestSet().sequences(np.arange(12))
    assert SRVPTestSet().sequences([11, 3, 3]).equal(whole[[11, 3, 3]])
    with pytest.raises(ValueError, match="holds sequences 0..4999"):
        SRVPTestSet().sequences([5000])


def _scripted(values):
    """A randint that returns `values` in order, checking each lies in [low, high)."""
    queue = list(values)

    def randint(low, high):
        value = queue.pop(0)
        assert low <= value < high, (low, value, high)
        return value

    return randint, queue


def test_a_wall_reflects_the_step_exactly_at_the_point_of_contact():
    # from (34, 10) at (+4, +2): the step reaches row 38, meets row 36 at half of it, and the
    # rest of the step goes back: 36 - 2 = 34; the column moves on undisturbed.
    randint, left = _scripted([34, 10, 4, 2])
    path = trajectory(randint, 3, deterministic=True)
    assert not left
    np.testing.assert_array_equal(path, [[34, 10, 4, 2], [34, 12, -4, 2], [30, 14, -4, 2]])


def test_a_stochastic_bounce_draws_a_new_velocity_pointing_away_from_the_wall():
    # the bounce at row 36 draws (+3, -1): its row speed is forced negative, its size kept;
    # the contact is half-way through the step, so half a step of (-3, -1) follows it.
    randint, left = _scripted([34, 10, 4, 2, 3, -1])
    path = trajectory(randint, 2, deterministic=False)
    assert not left
    np.testing.assert_array_equal(path[1], [round(36 - 1.5), round(11 - 0.5), -3, -1])


def test_a_corner_bounce_reflects_both_components():
    randint, _ = _scripted([35, 35, 2, 2])  # reaches (37, 37): both walls at once
    path = trajectory(randint, 2, deterministic=True)
    np.testing.assert_array_equal(path[1], [35, 35, -2, -2])


@pytest.mark.parametrize("deterministic", [False, True])
def test_trajectories_stay_inside_and_move_by_their_velocity_between_walls(deterministic):
    rng = np.random.default_rng(0)
    for _ in range(200):
        path = trajectory(lambda lo, hi: int(rng.integers(lo, hi)), 30, deterministic=deterministic)
        corners, velocity = path[:, :2], path[:, 2:]
        assert corners.min() >= 0 and corners.max() <= LIMIT
        assert np.abs(velocity).max() <= 4
        if deterministic:  # speeds never change size, only sign
            assert (np.abs(velocity) == np.abs(velocity[0])).all()
        free = (np.diff(velocity, axis=0) == 0).all(axis=1)  # no bounce before frame t + 1
        moved = np.diff(corners, axis=0)
        # the first frames start from integer corners, so away from walls they move exactly
        first_bounce = np.argmin(free) if not free.all() else len(free)
        np.testing.assert_array_equal(moved[:first_bounce], velocity[:first_bounce])


def test_training_sequences_are_pure_functions_of_seed_and_index():
    digits = gdata.load_mnist("train")[0][:100].numpy()
    generator = SRVPMovingMNIST(digits, seed=3)
    batch = generator.sequences([5, 6, 7])
    assert batch.shape == (3, 15, 1, 64, 64) and batch.dtype.is_floating_point is False
    assert generator.sequences([7]).equal(batch[2:])
    assert not SRVPMovingMNIST(digits, seed=4).sequences([7]).equal(batch[2:])
    # digits are summed and clipped: each frame holds the two digits' ink
    frame = batch[0, 0, 0].int()
    assert 0 < frame.sum() <= 2 * int(digits.astype(np.int64).reshape(100, -1).sum(1).max())


def test_the_registry_streams_and_scores_srvp_data():
    stream = gdata.train_stream("moving-mnist-srvp", seed=0)
    assert stream.example_shape == (15, 1, 64, 64)
    assert stream.batch(1, 4).equal(stream.batch(0, 8)[4:])
    test = gdata.eval_set("moving-mnist-srvp", limit=3)
    assert test.equal(SRVPTestSet().sequences(np.arange(3)))
    valid = gdata.eval_set("moving-mnist-srvp", "valid", limit=2)
    assert valid.shape == (2, 25, 1, 64, 64) and not valid.equal(test[:2])


def test_srvps_own_npz_file_is_read_through_root(tmp_path):
    sequences = SRVPTestSet().sequences(np.arange(4))[:, :, 0].numpy().transpose(1, 0, 2, 3)
    sequences = sequences.copy()
    sequences[0, 0, 0, 0] = 77  # tell the file apart from the regenerated set
    np.savez_compressed(
        tmp_path / "smmnist_test_2digits_64.npz",
        sequences=sequences,
        latents=np.zeros((25, 4, 2, 4), np.int64),
    )
    videos = gdata.eval_set("moving-mnist-srvp", root=tmp_path, limit=3)
    assert videos.shape == (3, 25, 1, 64, 64) and int(videos[0, 0, 0, 0, 0]) == 77
    assert videos[1:].equal(SRVPTestSet().sequences([1, 2]))


def test_a_damaged_npz_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "smmnist_test_2digits_64.npz"
    np.savez(path, videos=np.zeros((25, 2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="no 'sequences' array"):
        gdata.read_srvp_npz(path)
    np.savez(path, sequences=np.zeros((25, 2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 \(T, N, 64, 64\)"):
        gdata.read_srvp_npz(tmp_path)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable npz"):
        gdata.read_srvp_npz(path)


def test_the_cli_writes_the_first_sequences_in_the_standard_layout(tmp_path):
    out = tmp_path / "srvp.npy"
    result = CliRunner().invoke(cli, ["data", "moving-mnist-srvp", "--out", str(out), "-h"])
    assert result.exit_code == 0 and "--deterministic" in result.output
    result = CliRunner().invoke(
        cli, ["data", "moving-mnist-srvp", "--out", str(out), "--sequences", "3"]
    )
    assert result.exit_code == 0, result.output
    written = np.load(out)
    expected = SRVPTestSet().sequences(np.arange(3))[:, :, 0].numpy().transpose(1, 0, 2, 3)
    assert written.shape == (25, 3, 64, 64)
    np.testing.assert_array_equal(written, expected)
    result = CliRunner().invoke(
        cli, ["data", "moving-mnist-srvp", "--out", str(out), "--sequences", "5001"]
    )
    assert result.exit_code == 2 and "5001" in result.output


def test_constants_match_the_published_protocol():
    assert srvp_mnist.TEST_FRAMES == {False: 25, True: 100}
    assert srvp_mnist.TEST_SEED == 42 and srvp_mnist.LIMIT == 36


def test_reports_name_the_seed_each_evaluation_set_is_made_with():
    from genvid.data import eval_set_seed

    assert eval_set_seed("moving-mnist-srvp", "test") == 42  # SRVP's make_test_set default
    assert eval_set_seed("moving-mnist", "test") == 150204681
    assert eval_set_seed("moving-mnist-srvp", "valid") == eval_set_seed("moving-mnist", "valid")
    assert eval_set_seed("moving-mnist-mine.npy", "test") is None  # a file: no seed
