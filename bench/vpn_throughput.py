"""Video Pixel Network cost on this machine: training throughput, memory, sampling time.

Table 1, one row per preset and way of training (each row in a fresh process, so its peak
memory is its own): training sequences/s (the step `fit` runs, `bench/steptimer.py`, with
RMSProp, the paper's optimiser) at batch 16, 20 frames of 64x64 (19 frames scored, as in
training); the peak resident memory of that process; the convolution and matmul work of one
step (counted by `torch.utils.flop_counter` at batch 1, times the batch) and the rate it was
done at. Ways:
bf16 autocast; bf16 with channels_last weights and `torch.compile` (what `genvid train
--precision bf16 --channels-last --compile` does); bf16 with `checkpoint_activations`; fp32,
plain and checkpointed; and the TensorFlow reimplementation's equal work ("10+10-nograd": 10
context frames without gradients, 10 scored) in fp32, compiled fp32, bf16 and compiled bf16,
beside 10+10 with the context in the graph. A row whose process the kernel kills for memory says so.
Table 2: activations autograd saves for backward at batch 16, 20 frames of 64x64, plain and
checkpointed, for every preset including vpn-full (too large to train here): counted with
saved-tensor hooks on small steps (`--memory-size`) and scaled linearly.
Table 3: seconds to sample one frame after two context frames, cached and naive.

    python bench/vpn_throughput.py [--presets vpn-micro,vpn-mini] [--batch 16] [--frames 20]
        [--size 64] [--steps 2] [--ways bf16,bf16-compiled,...]
        [--memory-presets vpn-micro,vpn-mini,vpn-full] [--sample-size 64]

`--memory-presets ""` and `--sample-size 0` leave tables 2 and 3 out.

Small sizes (`--batch 2 --frames 3 --size 8 --steps 1 --ways fp32 --memory-size 8
--sample-size 4`) check that it runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import torch
from steptimer import seconds_per_step
from torch.utils.flop_counter import FlopCounterMode

import genvid
from genvid.allocator import keep_freed_memory

TARGET = (16, 20, 64, 64)  # batch, frames, height, width of the activation estimate
# The TensorFlow reimplementation's work per sequence: 10 context frames read without
# gradients, the last 10 scored (`--set train_context_frames=10 --set context_grad=false`).
EQUAL_WORK = {"train_context_frames": 10, "context_grad": False}
WITH_CONTEXT_GRAD = {"train_context_frames": 10}  # the same frames scored, context in the graph
WAYS = {  # name: (autocast bf16, channels_last + compile, model config overrides)
    "bf16": (True, False, {}),
    "bf16-compiled": (True, True, {}),
    "bf16-checkpointed": (True, False, {"checkpoint_activations": True}),
    "fp32": (False, False, {}),
    "fp32-checkpointed": (False, False, {"checkpoint_activations": True}),
    "fp32-10+10": (False, False, WITH_CONTEXT_GRAD),
    "fp32-10+10-nograd": (False, False, EQUAL_WORK),
    "bf16-10+10-nograd": (True, False, EQUAL_WORK),
    "bf16-compiled-10+10-nograd": (True, True, EQUAL_WORK),
    "fp32-compiled-10+10-nograd": (False, True, EQUAL_WORK),
}


def _video(batch: int, frames: int, size: int) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (batch, frames, 1, size, size), dtype=torch.uint8)


def train_row(preset: str, way: str, batch: int, frames: int, size: int, steps: int) -> tuple:
    """In a fresh process: (sequences/s, peak RSS in GiB, TFLOP per step, TFLOP/s)."""
    keep_freed_memory()
    bf16, compiled, overrides = WAYS[way]
    model = genvid.create(preset, **overrides)
    with FlopCounterMode(display=False) as counter:  # batch 1, plain fp32 step
        model(_video(1, frames, size))["loss"].backward()
    tflop = counter.get_total_flops() * batch / 1e12
    model.zero_grad(set_to_none=True)
    net = model
    if compiled:
        model.to(memory_format=torch.channels_last)
        net = torch.compile(model)
    optimiser = torch.optim.RMSprop(model.parameters(), lr=3e-4)
    video = _video(batch, frames, size)
    precision = "bf16" if bf16 else "fp32"
    # the warm-up step compiles `net` where it is compiled
    seconds = seconds_per_step(net, video, optimiser, steps=steps, precision=precision)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return batch / seconds, peak, tflop, tflop / seconds


def saved_bytes(model, batch) -> int:
    """Bytes autograd keeps for backward in one training forward (each storage counted once)."""
    seen, total = set(), 0

    def pack(tensor):
        nonlocal total
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(batch)["loss"].backward()
    return total


def activation_gib(model, size: int, frames: tuple[int, int]) -> float:
    """Saved activations of a training step at `TARGET`, in GiB, extrapolated from three small
    steps: saved(B, T) = const + B * (a + b * T) for batches of 1 and 2 sequences of `frames[0]`
    frames and 1 of `frames[1]` frames (const: weights and masked kernels), then scaled by
    pixels (the encoder pads inside its convolutions, so nothing saved grows with dilation)."""
    t1, t2 = frames

    def measure(b: int, t: int) -> int:
        return saved_bytes(model, _video(b, t, size))

    one = measure(1, t1)
    per_sequence_t1 = measure(2, t1) - one
    per_sequence_t2 = measure(1, t2) - (one - per_sequence_t1)
    per_frame = (per_sequence_t2 - per_sequence_t1) / (t2 - t1)
    per_sequence = per_sequence_t1 + per_frame * (TARGET[1] - t1)
    return TARGET[0] * per_sequence * (TARGET[2] * TARGET[3]) / size**2 / 2**30


def sampling_seconds(model, size: int, *, fast: bool) -> float:
    context = torch.zeros(1, 2, model.config.channels, size, size, dtype=torch.uint8)
    start = time.perf_counter()
    model.sample(context=context, steps=1, generator=torch.Generator().manual_seed(0), fast=fast)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="vpn-micro,vpn-mini", help="trained, sampled")
    parser.add_argument("--batch", type=int, default=16, help="sequences per training step")
    parser.add_argument("--frames", type=int, default=20, help="frames per training sequence")
    parser.add_argument("--size", type=int, default=64, help="frame side for training rows")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per row")
    parser.add_argument(
        "--ways", default=",".join(WAYS), help="comma-separated, of: " + ", ".join(WAYS)
    )
    parser.add_argument("--memory-presets", default="vpn-micro,vpn-mini,vpn-full")
    parser.add_argument("--memory-size", type=int, default=16, help="frame side, memory rows")
    parser.add_argument(
        "--sample-size", type=int, default=64, help="frame side for sampling (0: no sampling)"
    )
    args = parser.parse_args()
    keep_freed_memory()
    presets = args.presets.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        f"Training: batch {args.batch}, {args.frames} frames of {args.size}x{args.size}\n\n"
        "| preset | way | sequences/s | peak memory | TFLOP/step | achieved TFLOP/s |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    spawn = multiprocessing.get_context("spawn")
    for name in presets:
        for way in args.ways.split(","):
            row = (name, way, args.batch, args.frames, args.size, args.steps)
            try:
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    rate, peak, tflop, achieved = pool.submit(train_row, *row).result()
            except BrokenProcessPool:  # the kernel killed it: out of memory
                print(f"| {name} | {way} | killed (out of memory) | | | |", flush=True)
                continue
            print(
                f"| {name} | {way} | {rate:.2f} | {peak:.1f} GiB | {tflop:.2f} | {achieved:.2f} |",
                flush=True,
            )
    print(
        f"\nSaved activations at batch {TARGET[0]}, {TARGET[1]} frames of "
        f"{TARGET[2]}x{TARGET[3]}, float32 (estimated)\n\n"
        "| preset | params | plain | checkpoint_activations |\n|---|---:|---:|---:|"
    )
    for name in filter(None, args.memory_presets.split(",")):
        models = [genvid.create(name, checkpoint_activations=c) for c in (False, True)]
        sizes = [activation_gib(model, args.memory_size, (2, 4)) for model in models]
        params = sum(p.numel() for p in models[0].parameters())
        print(f"| {name} | {params / 1e6:.2f}M | {sizes[0]:.1f} GiB | {sizes[1]:.1f} GiB |")
    if not args.sample_size:
        return
    print(
        f"\nSampling one {args.sample_size}x{args.sample_size} frame after two context frames"
        "\n\n| preset | cached | naive | naive / cached |\n|---|---:|---:|---:|"
    )
    for name in presets:
        model = genvid.create(name)
        fast = sampling_seconds(model, args.sample_size, fast=True)
        naive = sampling_seconds(model, args.sample_size, fast=False)
        print(f"| {name} | {fast:.1f} s | {naive:.1f} s | {naive / fast:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
