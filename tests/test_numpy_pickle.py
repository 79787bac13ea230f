import os
import pickle

import numpy as np
import pytest

from genvid.numpy_pickle import INTEGER_DTYPES, NumpyPickleError, load_numpy_pickle


@pytest.mark.parametrize("protocol", [2, 4])
def test_arrays_in_dicts_lists_and_tuples_load_as_pickle_gives_them(protocol):
    tree = {
        "params": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4)},
        "big_endian": [np.arange(5, dtype=">i2"), ("text", b"bytes", 7)],
        "fortran": (np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),),
    }
    loaded = load_numpy_pickle(pickle.dumps(tree, protocol), dtypes={"f4", *INTEGER_DTYPES})
    expected = pickle.loads(pickle.dumps(tree, protocol))
    for got, want in [
        (loaded["params"]["kernel"], expected["params"]["kernel"]),
        (loaded["big_endian"][0], expected["big_endian"][0]),
        (loaded["fortran"][0], expected["fortran"][0]),
    ]:
        # numpy's own unpickling may swap a big-endian array to native order; the values agree
        assert got.dtype.newbyteorder("=") == want.dtype.newbyteorder("=")
        assert got.flags.writeable
        np.testing.assert_array_equal(got, want)
    assert loaded["fortran"][0].flags.f_contiguous
    assert loaded["big_endian"][1] == ("text", b"bytes", 7)


def test_an_array_of_a_dtype_not_asked_for_is_named_by_its_path():
    content = pickle.dumps({"params": {"bias": [np.zeros(3, np.float64)]}}, 4)
    with pytest.raises(NumpyPickleError, match=r"params/bias\[0\] is an array of dtype 'f8'"):
        load_numpy_pickle(content, dtypes={"f4"})


def test_other_globals_are_refused_before_they_run(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    with pytest.raises(NumpyPickleError, match=r"refusing to load global (posix|nt)\.mkdir"):
        load_numpy_pickle(pickle.dumps({"w": Exploit()}, 4), dtypes={"f4"})
    assert not (tmp_path / "pwned").exists()


def test_self_holding_and_deeply_nested_containers_end_in_one_line():
    items: list = [np.arange(3, dtype=np.uint8)]
    items.append(items)
    loaded = load_numpy_pickle(pickle.dumps(items, 2), dtypes=INTEGER_DTYPES)
    assert loaded[1] is loaded and loaded[0].tolist() == [0, 1, 2]
    depth = 100_000  # protocol 0: MARK ... LIST, nested
    with pytest.raises(NumpyPickleError, match="nested too deeply"):
        load_numpy_pickle(b"(" * depth + b"l" * depth + b".", dtypes=INTEGER_DTYPES)
