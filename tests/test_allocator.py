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
    # The heap grows to hold the block within a fill or two (other allocations of the test
    # process can take the hole once more); glibc's default faults on every fill.
    faults = [_faults_to_fill(n_bytes) for _ in range(6)]
    assert min(faults[2:]) < pages // 10, faults


@pytest.mark.skipif(GLIBC, reason="off glibc the switch reports that it did nothing")
def test_off_glibc_it_says_it_did_nothing():
    assert keep_freed_memory() is False
