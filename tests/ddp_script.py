"""Run by tests/test_ddp.py under `torchrun`: train the tiny model, rank 0 writes the result.

Usage: python -m torch.distributed.run --nproc_per_node=N tests/ddp_script.py RUN_DIR
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from tiny_models import TinyBernoulli, TinyStream

from genvid.train import TrainConfig, fit

CONFIG = TrainConfig(steps=6, batch_size=8, lr=1e-2, device="cpu", checkpoint_every=3, log_every=2)


def main(run_dir: Path) -> None:
    torch.manual_seed(0)  # the same initial weights in every process and in the reference run
    result = fit(TinyBernoulli(), TinyStream(seed=2), CONFIG, run_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        (run_dir / "result.json").write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
