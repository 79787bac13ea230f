"""keep_freed_memory: a freed large block is reused without page faults."""

import json
import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genvid.allocator import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _faults_to_fill(n_bytes: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.ones(n_bytes, dtype=torch.uint8)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del block
    return after - before


def _fills() -> list[int]:
    """Page faults of six fills of a 64 MiB block after the switch, in a fresh process."""
    n_bytes = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB)
    assert keep_freed_memory()
    return [_faults_to_fill(n_bytes) for _ in range(6)]


@pytest.mark.skipif(not GLIBC, reason="the switch changes glibc's malloc only")
def test_a_freed_large_block_is_reused_without_page_faults():
    pages = 64 * 2**20 // resource.getpagesize()
    # The heap grows to hold the block within a fill or two (other allocations can take the
    # hole once more); glibc's default faults on every fill. Measured in fresh processes, up
    # to three: on a loaded machine one process in a few faulted on every fill all the same
    # (seen only with other heavy processes running; cause not found), which no retry of a
    # broken switch would ever pass.
    code = "import json, test_allocator as t; print(json.dumps(t._fills()))"
    attempts = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=str(Path(__file__).parent),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        attempts.append(json.loads(done.stdout))
        if min(attempts[-1][2:]) < pages // 10:
            return
    pytest.fail(f"every fill faulted in three processes: {attempts}")


@pytest.mark.skipif(GLIBC, reason="off glibc the switch reports that it did nothing")
def test_off_glibc_it_says_it_did_nothing():
    assert keep_freed_memory() is False
