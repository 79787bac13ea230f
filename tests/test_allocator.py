"""keep_freed_memory: a freed large block is reused without page faults."""

import platform
import resource

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


@pytest.mark.skipif(not GLIBC, reason="the switch changes glibc's malloc only")
def test_a_freed_large_block_is_reused_without_page_faults():
    n_bytes = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB)
    pages = n_bytes // resource.getpagesize()
    assert keep_freed_memory()
    for _ in range(3):  # the heap grows to hold the block (glibc may take two rounds)
        _faults_to_fill(n_bytes)
    assert _faults_to_fill(n_bytes) < pages // 10


@pytest.mark.skipif(GLIBC, reason="off glibc the switch reports that it did nothing")
def test_off_glibc_it_says_it_did_nothing():
    assert keep_freed_memory() is False
