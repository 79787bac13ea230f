"""What `genvid info` says about the pretrained models, the data sets found and the devices."""

from __future__ import annotations

import torch

from genvid import data as gdata
from genvid import pretrained
from genvid.errors import first_line


def pretrained_lines() -> list[str]:
    """What `genvid info` says about the shipped models: name, preset, figure (a damaged card
    is named with its fault, so the rest are still listed)."""
    shipped = pretrained.names()
    if not shipped:
        return ["none shipped yet"]
    width, lines = max(map(len, shipped)), []
    for name in shipped:
        try:
            found = pretrained.card(name)
        except ValueError as err:
            lines.append(f"{name:<{width}} damaged card: {first_line(err)}")
            continue
        lines.append(f"{name:<{width}} {found['preset']}: {pretrained.figure_line(found)}")
    return lines


def data_lines() -> list[str]:
    """What `genvid info` says about data sets."""
    return [
        f"{info.name:<24} {'found' if info.found else 'missing':<8} {info.location}"
        for info in gdata.describe()
    ]


def device_lines() -> list[str]:
    """What `genvid info` says about devices."""
    lines = [f"cpu: {torch.get_num_threads()} threads, torch {torch.__version__}"]
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        memory = properties.total_memory / 2**30
        lines.append(f"cuda:{index}: {properties.name}, {memory:.0f} GiB")
    if not torch.cuda.is_available():
        lines.append("cuda: not available")
    return lines
