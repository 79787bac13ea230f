"""The shipped models as a user meets them: `pip install` into a fresh venv, then, with no
network, `genvid info` and `genvid sample pretrained:NAME --out NAME.png` for every shipped
model, timed.

The install reaches the package registry (torch's CPU build, then this checkout as a wheel,
not editable, so the weights are read from the installed files); every genvid command after it
runs in a new network namespace (`unshare -rn`: only a loopback device, nothing reachable) from
an empty directory outside the checkout. Prints one row per model: the command and its wall time,
start-up included.

    python bench/pretrained_offline.py [--keep DIR] [--torch torch==2.13.0]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", default="torch==2.13.0", help="what pip installs first")
    parser.add_argument("--keep", type=Path, help="build the venv and samples here and keep them")
    args = parser.parse_args()
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode:
        sys.exit("pretrained_offline: needs `unshare -rn` (user namespaces) to cut the network")
    root = args.keep or Path(tempfile.mkdtemp(prefix="genvid-offline-"))
    root.mkdir(parents=True, exist_ok=True)
    venv, work = root / "venv", root / "work"
    work.mkdir(exist_ok=True)
    started = time.perf_counter()
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, args.torch])
    run([*pip, str(REPO)])  # a wheel of the checkout: the weights come as installed files
    install_s = time.perf_counter() - started
    genvid = str(venv / "bin" / "genvid")
    offline = ["unshare", "-rn"]
    info = run([*offline, genvid, "info"], cwd=work).stdout
    names = run(
        [
            *offline,
            str(venv / "bin" / "python"),
            "-c",
            "import genvid.pretrained as p; print(*p.names())",
        ],
        cwd=work,
    ).stdout.split()
    print(f"install into a fresh venv: {install_s:.0f} s ({args.torch}, then the checkout)")
    print("\n`genvid info`, offline, its pretrained part:")
    print(info[info.find("pretrained models") : info.find("data sets")].rstrip())
    print("\n| command (offline, from an empty directory) | wall time (s) |\n|---|---:|")
    for name in names:
        out = work / f"{name}.png"  # a grid: images, or continued test videos
        command = [genvid, "sample", f"pretrained:{name}", "--out", str(out)]
        begun = time.perf_counter()
        run([*offline, *command], cwd=work)
        shown = " ".join(["genvid", *command[1:3], "--out", out.name])
        print(f"| `{shown}` | {time.perf_counter() - begun:.1f} |")
    if args.keep is None:
        shutil.rmtree(root)
    else:
        print(f"\nkept {root}")


if __name__ == "__main__":
    main()
