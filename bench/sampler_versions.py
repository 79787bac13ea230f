"""Two versions of genvid's samplers side by side: the same draws timed in fresh processes,
alternating old and new, so that a noisy machine's drift falls on both alike.

    git worktree add /tmp/old REV
    python bench/sampler_versions.py --old /tmp/old/src [--rounds 2]

Jobs: one 64x64 `vpn-micro` frame at batch 1 and 16 `pixelcnn-mnist` 28x28 images, eager and
compiled; each the median of three draws after a warm-up draw (which compiles), float32,
random weights. The checksum column shows that both versions drew the same values.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

JOB = """
import statistics, time, torch, genvid
torch.manual_seed(0)
compiled = {compiled}
if {vpn}:
    model = genvid.create("vpn-micro").eval()
    context = torch.randint(0, 2, (1, 1, 1, 64, 64), dtype=torch.uint8)
    def draw():
        generator = torch.Generator().manual_seed(0)
        return model.sample(context=context, steps=1, generator=generator, compiled=compiled)
else:
    model = genvid.create("pixelcnn-mnist").eval()
    def draw():
        generator = torch.Generator().manual_seed(0)
        return model.sample(16, (28, 28), generator=generator, compiled=compiled)
draw()
times = []
for _ in range(3):
    start = time.perf_counter()
    out = draw()
    times.append(time.perf_counter() - start)
print(statistics.median(times), int(out.sum()))
"""


def run(source: str | None, vpn: bool, compiled: bool) -> tuple[float, int]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if source:  # else the installed (new) version
        env["PYTHONPATH"] = source
    code = JOB.format(vpn=vpn, compiled=compiled)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    seconds, checksum = out.stdout.split()
    return float(seconds), int(checksum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the old version's src directory")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("| round | job | old s | new s | old / new | checksums equal |")
    print("|---:|---|---:|---:|---:|---|")
    for round_ in range(1, args.rounds + 1):
        for vpn in (True, False):
            for compiled in (False, True):
                old = run(args.old, vpn, compiled)
                new = run(None, vpn, compiled)
                job = ("vpn-micro frame, b1" if vpn else "pixelcnn 16 images") + (
                    ", compiled" if compiled else ", eager"
                )
                print(
                    f"| {round_} | {job} | {old[0]:.3f} | {new[0]:.3f} | "
                    f"{old[0] / new[0]:.1f}x | {old[1] == new[1]} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
