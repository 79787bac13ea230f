"""Video Pixel Network cost on this machine: training throughput, activation memory, sampling.

For each preset: parameters; activation memory kept for backward (bytes saved by autograd,
counted with saved-tensor hooks at the measured size and scaled linearly to batch 16, 20 frames
of 64x64, extrapolated from steps of 2 and 4 frames of `--memory-size`), plain and with
`checkpoint_activations` (which then also needs one time step's activations, about 1/20 of
the plain figure, while it recomputes); training sequences/s (forward + backward + RMSProp
step, the paper's optimiser), fp32 and bf16 autocast; and cached against naive sampling of
one frame after two context frames (frames/s and their ratio).

    python bench/vpn_throughput.py [--presets vpn-micro,vpn-mini] [--size 32] [--frames 8]
                                   [--batch 4] [--steps 3] [--sample-size 16] [--memory-size 32]

Small sizes (`--size 8 --frames 3 --batch 2 --steps 1 --sample-size 4 --memory-size 8`)
check that it runs.
"""

from __future__ import annotations

import argparse
import time

import torch

import genvid

TARGET = (16, 20, 64, 64)  # batch, frames, height, width of the memory estimate


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
        video = torch.randint(0, 256, (b, t, model.config.channels, size, size))
        return saved_bytes(model, video.to(torch.uint8))

    one = measure(1, t1)
    per_sequence_t1 = measure(2, t1) - one
    per_sequence_t2 = measure(1, t2) - (one - per_sequence_t1)
    per_frame = (per_sequence_t2 - per_sequence_t1) / (t2 - t1)
    per_sequence = per_sequence_t1 + per_frame * (TARGET[1] - t1)
    return TARGET[0] * per_sequence * (TARGET[2] * TARGET[3]) / size**2 / 2**30


def sequences_per_second(model, batch, *, precision: str, steps: int) -> float:
    optimiser = torch.optim.RMSprop(model.parameters(), lr=3e-4)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(batch)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return len(batch) * steps / (time.perf_counter() - start)


def frames_per_second(model, size: int, *, fast: bool) -> float:
    context = torch.zeros(1, 2, model.config.channels, size, size, dtype=torch.uint8)
    start = time.perf_counter()
    model.sample(context=context, steps=1, generator=torch.Generator().manual_seed(0), fast=fast)
    return 1.0 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="vpn-micro,vpn-mini", help="comma-separated")
    parser.add_argument("--size", type=int, default=32, help="frame side for training rows")
    parser.add_argument("--frames", type=int, default=8, help="frames per training sequence")
    parser.add_argument("--batch", type=int, default=4, help="sequences per training step")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per row")
    parser.add_argument("--sample-size", type=int, default=16, help="frame side for sampling")
    parser.add_argument("--memory-size", type=int, default=32, help="frame side, memory rows")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; training: batch "
        f"{args.batch}, {args.frames} frames of {args.size}x{args.size}; memory scaled to "
        f"batch {TARGET[0]}, {TARGET[1]} frames of {TARGET[2]}x{TARGET[3]}"
    )
    print(
        "| preset | params | checkpointed | saved activations (est.) | precision | "
        "sequences/s | sampling: cached frames/s | naive frames/s | cached / naive |"
    )
    print("|---|---:|---|---:|---|---:|---:|---:|---:|")
    for name in args.presets.split(","):
        torch.manual_seed(0)
        batch = torch.randint(0, 256, (args.batch, args.frames, 1, args.size, args.size))
        batch = batch.to(torch.uint8)
        for checkpointed in (False, True):
            model = genvid.create(name, checkpoint_activations=checkpointed)
            params = sum(p.numel() for p in model.parameters())
            memory = activation_gib(model, args.memory_size, (2, 4))
            sampling = ("", "", "")
            if not checkpointed:
                fast = frames_per_second(model, args.sample_size, fast=True)
                naive = frames_per_second(model, args.sample_size, fast=False)
                sampling = (f"{fast:.3f}", f"{naive:.3f}", f"{fast / naive:.1f}x")
            for precision in ("fp32", "bf16"):
                rate = sequences_per_second(model, batch, precision=precision, steps=args.steps)
                print(
                    f"| {name} | {params / 1e6:.2f}M | {checkpointed} | {memory:.1f} GiB | "
                    f"{precision} | {rate:.2f} | " + " | ".join(sampling) + " |",
                    flush=True,
                )
                sampling = ("", "", "")


if __name__ == "__main__":
    main()
