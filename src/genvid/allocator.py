"""Keep freed CPU memory in the process, so large tensors stop costing page faults.

glibc's malloc serves every block above 32 MiB (its largest mmap threshold) with a fresh
`mmap` and returns it on `free`. A training step of a full-resolution video model allocates
and frees gigabytes of such blocks, and the kernel then zeroes every page again on first
touch: on the 2-core CPU this cost vpn-micro a third of its step time (bench/vpn_throughput.py).
Telling malloc to serve them from its heap and never to trim it removes those faults; the
price is that the process keeps its peak memory until it exits, which a training or
evaluation run does anyway. jemalloc or tcmalloc (`LD_PRELOAD`) do the same job and are
left alone: the switch only changes glibc's own malloc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_MAX = -4
_NEVER = 2**31 - 1  # largest int: no trim threshold is ever reached


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory instead of unmapping it (Linux only).

    Returns: whether the setting took effect (False off glibc, e.g. macOS or musl).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER))
