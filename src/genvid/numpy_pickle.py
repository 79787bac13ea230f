"""Pickles of numpy arrays read without running anything the file names.

A pickle may call any importable function, and numpy's own `__setstate__` trusts its input (a
damaged dtype state crashes the process). So the unpickler admits only the globals a pickled
array needs (numpy's array reconstructor, `numpy.ndarray`, `numpy.dtype`, and `_codecs.encode`,
which Python 3's protocol-2 pickles spell byte strings with) and calls none of numpy's: it
records each call with the state BUILD gives it. Each array is then built from plain bytes with
`np.frombuffer` once its dtype, shape and byte count check out. Dicts, lists, tuples, strings,
bytes and numbers need no global. Every failure is one `NumpyPickleError`. Protocols up to 4
only: numpy pickles arrays under protocol 5 with another global (`_frombuffer`), refused here.

A leaf module: the CIFAR-10 reader and the I3D weight reader both use it.
"""

from __future__ import annotations

import functools
import io
import math
import pickle
import pickletools
import reprlib
import warnings
from collections.abc import Collection

import numpy as np

from genvid.errors import first_line

INTEGER_DTYPES = frozenset(f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8))
_GLOBALS = {  # what a pickle may name, and what each stands for
    ("numpy.core.multiarray", "_reconstruct"): "array",
    ("numpy._core.multiarray", "_reconstruct"): "array",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
}


class NumpyPickleError(ValueError):
    """Not a pickle of numpy arrays that `load_numpy_pickle` admits; the message is one line."""


def load_numpy_pickle(
    content: bytes, *, dtypes: Collection[str], encoding: str = "ASCII"
) -> object:
    """The object pickled in `content`, every numpy array in it built from its own bytes.

    Args:
        content: the pickle's bytes.
        dtypes: the array types admitted, as numpy's type codes without the byte order ("u1",
            "f4"; `INTEGER_DTYPES`).
        encoding: how Python 2 byte strings are read; "bytes" keeps them bytes.

    Returns:
        The unpickled object; the arrays in its dicts, lists and tuples are writable numpy
        arrays, named in messages by their path ("data", "params/Logits/bias", "items[3]").

    Raises:
        NumpyPickleError: a damaged pickle, a global other than the array's, or an array of
            another dtype, a bad shape, or a shape its bytes do not fill.
    """
    try:
        # Walking the opcodes first refuses a length field beyond the end of the file before
        # pickle allocates it (CPython 3.11 may then print a stray SystemError).
        with warnings.catch_warnings():  # pickletools warns of bad escapes in text strings
            warnings.simplefilter("ignore", DeprecationWarning)
            for _ in pickletools.genops(content):
                pass
        tree = _Unpickler(io.BytesIO(content), encoding=encoding).load()
    except Exception as error:  # pickle's docs: a damaged pickle may raise any exception
        raise NumpyPickleError(first_line(error, with_type=True)) from None
    try:
        return _arrays(tree, "", frozenset(dtypes), {})
    except RecursionError:
        raise NumpyPickleError("containers nested too deeply") from None


class _Call:
    """A numpy call a pickle asks for, kept with the state BUILD gives it; see `_array`."""

    def __init__(self, name: str, *args: object) -> None:
        self.name, self.args, self.state = name, args, None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 (pickle's own signature)
        kind = _GLOBALS.get((module, name))
        if kind is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return _latin1 if kind == "encode" else functools.partial(_Call, kind)


def _latin1(text: object, encoding: object) -> bytes:
    """`_codecs.encode` as Python 3's protocol-2 pickles call it, and no other codec."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


def _arrays(value: object, where: str, dtypes: frozenset[str], done: dict[int, object]) -> object:
    """`value` with every `_Call` in its containers replaced by its array (`done`: by id)."""
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, _Call):
        done[id(value)] = _array(value, where or "the top level", dtypes)
    elif isinstance(value, dict):
        done[id(value)] = value  # before its items: a container may hold itself
        for key, item in value.items():
            name = key.decode("latin1") if isinstance(key, bytes) else str(key)
            value[key] = _arrays(item, f"{where}/{name}" if where else name, dtypes, done)
    elif isinstance(value, list):
        done[id(value)] = value
        for i, item in enumerate(value):
            value[i] = _arrays(item, f"{where}[{i}]", dtypes, done)
    elif isinstance(value, tuple):
        done[id(value)] = tuple(
            _arrays(item, f"{where}[{i}]", dtypes, done) for i, item in enumerate(value)
        )
    else:
        return value
    return done[id(value)]


def _array(call: _Call, where: str, dtypes: frozenset[str]) -> np.ndarray:
    """The array a call of numpy's reconstructor stands for.

    Its state is numpy's (version, shape, dtype, Fortran order, raw bytes), and the dtype call's
    state starts (version, byte order).
    """
    state = call.state if call.name == "array" else None
    if not isinstance(state, tuple) or len(state) != 5:
        raise NumpyPickleError(f"{where} is a numpy.{call.name} but not a whole array")
    _, shape, dtype_call, fortran, raw = state
    code, order = None, "|"  # numpy keeps the byte order in the dtype's state
    if isinstance(dtype_call, _Call) and dtype_call.name == "dtype" and dtype_call.args:
        code = _text(dtype_call.args[0])
        if isinstance(dtype_call.state, tuple) and len(dtype_call.state) > 1:
            order = _text(dtype_call.state[1])
    if code not in dtypes or order not in ("<", ">", "|", "="):
        raise NumpyPickleError(f"{where} is an array of dtype {code!r}, byte order {order!r}")
    if not isinstance(shape, tuple) or any(type(n) is not int or n < 0 for n in shape):
        raise NumpyPickleError(f"{where} is an array of shape {reprlib.repr(shape)}")
    dtype = np.dtype(order + code)
    size = len(raw) if isinstance(raw, (bytes, bytearray)) else None
    if size != math.prod(shape) * dtype.itemsize:
        raise NumpyPickleError(f"{where} is an array of {dtype} {shape} holding {size} bytes")
    # a bytearray copy: writable, as pickle.load's arrays are
    array = np.frombuffer(bytearray(raw), dtype)
    return array.reshape(shape, order="F" if fortran is True else "C")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None
