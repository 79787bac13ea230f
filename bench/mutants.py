"""Mutation check: plant one known bug at a time and run the tests that should catch it.

A test suite that only checks "it ran and the number is finite" passes on a broken model. Each
mutant below is one small, plausible bug in a mechanism that matters (a mask, a causal shift, a
loss term, a KL weight, the groups a GAN phase steps, a sampler's cache, an evaluator, a metric,
resume, the trainer's options, a sweep's direction), with the tests chosen to catch it. The
script copies `src/` and `tests/` of the working tree into a temporary directory, checks that
the unmutated tests pass there (a failing baseline would make every mutant look killed), then
for each mutant replaces its exact original snippet (which must occur exactly once, so the list
fails loudly instead of rotting when the code changes), runs `pytest -x` on its tests with the
copy's `src` first on PYTHONPATH (checked: `genvid` is imported from the copy), and restores the
file. A mutant is killed when the tests fail, survived when they pass.

    python bench/mutants.py                # every mutant, a markdown table at the end
    python bench/mutants.py --list         # the mutants and their tests, nothing run
    python bench/mutants.py --only gan-no-gradient-penalty --only svg-kl-unweighted

Not part of the test suite (it runs the suite's tests again and again); about 15 minutes on a
2-core CPU. The exit status is 1 when a mutant survives or the baseline fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 900  # per pytest run: a mutant that hangs counts as killed, marked "timeout"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under src/genvid
    original: str  # exact text, found exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository


T_CRITIC = "tests/test_videogan.py::test_a_critic_step_noises_both_inputs_and_penalises_the_interpolated_clips"  # noqa: E501
T_PHASES = "tests/test_videogan.py::test_a_critic_step_changes_only_the_critic_and_a_generator_step_only_the_generator"  # noqa: E501
T_OPTIONS = "tests/test_train.py::test_options_reach_the_optimiser_the_activations_and_the_schedule"
T_IMAGE_NLL = (
    "tests/test_protocols.py::test_image_nll_is_the_mean_and_standard_error_of_the_closed_form"
)
T_SVG_KL = (
    "tests/test_svg.py::test_training_draws_z_from_the_posterior_and_generation_from_the_prior"
)
T_SWEEP_SSIM = "tests/test_pinned_sweep_objectives.py::test_a_frame_prediction_sweep_maximises_ssim"

MUTANTS = [
    # -- PixelCNN: masks and residual blocks
    Mutant(
        "pixelcnn-mask-a-sees-its-own-value",
        "nn/masked.py",
        'seen = in_group < out_group if mask_type == "A" else in_group <= out_group',
        'seen = in_group <= out_group if mask_type == "A" else in_group <= out_group',
        (
            "tests/test_masked.py::test_mask_centre_follows_colour_groups",
            "tests/test_pixelcnn.py::test_pixelcnn_is_causal_at_every_position_and_colour",
        ),
    ),
    Mutant(
        "pixelcnn-residual-added-twice",
        "nn/residual.py",
        "return x + self.expand(torch.relu(self.spatial(hidden)))",
        "return x + x + self.expand(torch.relu(self.spatial(hidden)))",
        ("tests/test_raster_cache.py::test_cached_parameters_equal_the_full_pass_everywhere",),
    ),
    # -- PixelRNN family: the Diagonal BiLSTM's shift, multi-scale, the cached sampler
    Mutant(
        "pixelrnn-right-to-left-not-shifted-down",
        "nn/recurrent.py",
        "return left + F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # right shifted down one row",
        "return left + right",
        (
            "tests/test_recurrent.py::test_right_to_left_direction_alone_is_causal_and_needs_its_shift",
            "tests/test_pixelrnn.py::test_pixelrnn_is_causal_at_every_position_and_colour",
        ),
    ),
    Mutant(
        "multiscale-small-image-off-the-grid",
        "models/multiscale.py",
        "small = x[:, :, ::f, ::f]",
        "small = x[:, :, 1::f, 1::f]",
        (
            "tests/test_multiscale.py::test_nll_splits_into_the_small_model_and_the_conditional_one",
            "tests/test_multiscale.py::test_probabilities_of_every_binary_4x4_image_sum_to_one",
        ),
    ),
    Mutant(
        "sampler-cache-copies-only-the-current-row",
        "autoregressive/sampling.py",
        "m, top = self.margin, max(self._last, 0) // self.width",
        "m, top = self.margin, i",
        (
            "tests/test_pixelrnn.py::test_fast_sampling_equals_naive_with_the_same_generator",
            "tests/test_raster_cache.py::test_skipped_pixels_and_rows_are_computed_before_the_next_pixel",
        ),
    ),
    # -- VPN: time shift, wavefront sampler
    Mutant(
        "vpn-frame-conditioned-on-itself",
        "models/vpn.py",
        "previous = torch.cat([zero[:, None], video[:, :-1]], dim=1)  # frame t reads frame t-1",
        "previous = video",
        ("tests/test_vpn.py::test_vpn_is_causal_in_time_rows_columns_and_colours",),
    ),
    Mutant(
        "sampler-wavefront-too-steep",
        "autoregressive/sampling.py",
        "skew = cache.margin + 1",
        "skew = max(cache.margin, 1)",
        (
            "tests/test_raster_cache.py::test_the_wavefront_draws_what_the_naive_sampler_draws_for_any_frame_shape",
        ),
    ),
    # -- SVG: the KL term and its weight
    Mutant(
        "svg-kl-unweighted",
        "models/svg.py",
        "loss = mse + self.config.beta * kl",
        "loss = mse + kl",
        ("tests/test_svg.py::test_forward_gives_scalars_and_predict_gives_uint8_frames",),
    ),
    Mutant(
        "svg-kl-mean-over-z",
        "models/svg.py",
        "kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p).sum(dim=2).mean(dim=0).sum()",
        "kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p).mean(dim=2).mean(dim=0).sum()",
        (T_SVG_KL,),
    ),
    Mutant(
        "svg-fp-prior-log-variance-1",
        "models/svg.py",
        "else (torch.zeros_like(mu_q),) * 2  # SVG-FP: N(0, I)",
        "else (torch.zeros_like(mu_q), torch.ones_like(mu_q))",
        (T_SVG_KL,),
    ),
    # -- the video GAN: the critic's loss, noise, the phases' groups, initialisation, schedule
    Mutant(
        "gan-no-gradient-penalty",  # issue 27
        "models/videogan.py",
        'out["loss"] = out["loss"] + c.gp_weight * penalty',
        'out["loss"] = out["loss"]',
        (T_CRITIC,),
    ),
    Mutant(
        "gan-generator-step-updates-critic",  # issue 27
        "models/videogan.py",
        'phases = {"critic": ("critic",), "generator": ("frame_generator", "lstm")}',
        'phases = {"critic": ("critic",), "generator": ("frame_generator", "lstm", "critic")}',
        (T_PHASES,),
    ),
    Mutant(
        "gan-instance-noise-never-added",  # issue 27
        "models/videogan.py",
        "return clips + self.config.instance_noise * noise.to(clips.dtype)",
        "return clips",
        (T_CRITIC,),
    ),
    Mutant(
        "gan-interpolation-weights-swapped",
        "models/videogan.py",
        "inputs.append((eps * real + (1 - eps) * fake).requires_grad_(True))",
        "inputs.append(((1 - eps) * real + eps * fake).requires_grad_(True))",
        (T_CRITIC,),
    ),
    Mutant(
        "gan-input-noise-never-added",
        "models/videogan.py",
        "vectors = vectors + self.config.input_noise * input_noise",
        "vectors = vectors + 0 * input_noise",
        (T_CRITIC,),
    ),
    Mutant(
        "gan-bf16-never-autocasts",
        "train/adversarial.py",
        'dtype=torch.bfloat16, enabled=config.precision == "bf16"',
        "dtype=torch.bfloat16, enabled=False",
        ("tests/test_videogan.py::test_bf16_autocasts_both_phases_of_a_gan_step",),
    ),
    Mutant(
        "gan-glorot-normal-not-uniform",
        "models/videogan.py",
        "nn.init.xavier_uniform_(param)",
        "nn.init.xavier_normal_(param)",
        (
            "tests/test_videogan.py::test_the_seed_recipe_initialises_glorot_uniform_weights_and_zero_biases",
        ),
    ),
    Mutant(
        "gan-schedule-generator-first",
        "train/adversarial.py",
        'return "generator" if position % cycle == cycle - 1 else "critic"',
        'return "generator" if position % cycle == 0 else "critic"',
        ("tests/test_videogan.py::test_critic_schedule_warms_up_then_alternates_n_critic_to_one",),
    ),
    # -- evaluators
    Mutant(
        "eval-image-nll-mean-leaves-out-the-first",  # issue 27
        "autoregressive/evaluate.py",
        "    dims = int(data[0].numel())\n    mean, stderr = _mean_and_stderr(nats)",
        "    dims = int(data[0].numel())\n    mean, stderr = _mean_and_stderr(nats[1:])",
        (
            T_IMAGE_NLL,
            "tests/test_cli.py::test_eval_prints_and_writes_a_report_named_after_its_limit",
        ),
    ),
    Mutant(
        "eval-image-nll-in-training-mode",
        "autoregressive/evaluate.py",
        "    per_example = []\n    with eval_mode(model):",
        "    per_example = []\n    with torch.no_grad():",
        (T_IMAGE_NLL,),
    ),
    Mutant(
        "eval-video-nll-summed-over-frames",
        "autoregressive/evaluate.py",
        "per_video.append(nats.sum(dim=(2, 3, 4)).mean(dim=1).cpu())",
        "per_video.append(nats.sum(dim=(1, 2, 3, 4)).cpu())",
        (
            "tests/test_video_eval.py::test_video_nll_equals_the_models_log_prob_per_frame",
            "tests/test_protocols.py::test_video_nll_reports_bits_and_paper_figures_only_where_they_apply",
        ),
    ),
    # -- the trainer's options
    Mutant(
        "train-rmsprop-builds-adam",  # issue 27
        "train/optim.py",
        '"rmsprop": torch.optim.RMSprop,',
        '"rmsprop": torch.optim.Adam,',
        (T_OPTIONS,),
    ),
    Mutant(
        "train-weight-decay-never-reaches-the-optimiser",  # issue 27
        "train/optim.py",
        "return make_optimizer(config.optimizer, params, config.lr, "
        "weight_decay=config.weight_decay)",
        "return make_optimizer(config.optimizer, params, config.lr)",
        (T_OPTIONS,),
    ),
    Mutant(
        "train-bf16-never-autocasts",
        "train/update.py",
        "with torch.autocast(batch.device.type, dtype=torch.bfloat16, "
        'enabled=precision == "bf16"):',
        "with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=False):",
        (T_OPTIONS,),
    ),
    Mutant(
        "train-channels-last-weights-ignored",
        "train/loop.py",
        "        model.to(memory_format=torch.channels_last)\n",
        "        pass\n",
        (T_OPTIONS,),
    ),
    # -- resume and checkpoints
    Mutant(
        "resume-rng-not-restored",
        "train/loop.py",
        "set_rng_state(checkpoint.rng_states[ctx.rank], ctx.device)",
        "pass",
        ("tests/test_train.py::test_resume_after_a_kill_equals_the_uninterrupted_run",),
    ),
    Mutant(
        "resume-lr-not-resynced",
        "train/loop.py",
        "            sync_lr(scheduler, start)\n",
        "            pass\n",
        ("tests/test_train.py::test_extending_a_cosine_run_follows_the_longer_schedule",),
    ),
    Mutant(
        "checkpoint-old-format-loses-moments",
        "train/checkpoint.py",
        'state["optimizers"] = {"model": state.pop("optimizer")}',
        'state["optimizers"] = {"model": {**state.pop("optimizer"), "state": {}}}',
        ("tests/test_checkpoint.py::test_a_checkpoint_of_the_single_optimiser_format_still_loads",),
    ),
    # -- metrics
    Mutant(
        "metrics-ssim-c2-from-k1",
        "metrics.py",
        "c1, c2 = 0.01**2, 0.03**2",
        "c1, c2 = 0.01**2, 0.01**2",
        ("tests/test_metrics.py::test_ssim_and_psnr_equal_scikit_image_per_frame",),
    ),
    Mutant(
        "metrics-psnr-20-log10-of-mse",
        "metrics.py",
        "return (-10.0 * torch.log10(mse)).clamp(max=PSNR_CAP_DB)",
        "return (-20.0 * torch.log10(mse)).clamp(max=PSNR_CAP_DB)",
        ("tests/test_metrics.py::test_psnr_of_a_known_mse",),
    ),
    Mutant(
        "metrics-best-of-n-by-the-last-step",
        "metrics.py",
        "mean_over_steps = scores.mean(dim=2)  # (N, B)",
        "mean_over_steps = scores[:, :, -1]  # (N, B)",
        (
            "tests/test_metrics.py::test_best_of_samples_ranks_by_the_mean_over_steps",
            "tests/test_protocols.py::test_frame_prediction_keeps_the_best_sample_by_its_mean_over_frames",
        ),
    ),
    # -- sweeps: each protocol's direction, the best trial reported
    Mutant(
        "sweep-ssim-minimised",
        "protocols/prediction.py",
        'objective: tuple[str, str] = ("ssim", "maximize")',
        'objective: tuple[str, str] = ("ssim", "minimize")',
        (T_SWEEP_SSIM,),
    ),
    Mutant(
        "sweep-fvd-maximised",
        "protocols/fvd.py",
        'objective: tuple[str, str] = ("fvd", "minimize")',
        'objective: tuple[str, str] = ("fvd", "maximize")',
        ("tests/test_pinned_sweep_objectives.py::test_a_video_gan_sweep_minimises_fvd",),
    ),
    Mutant(
        "sweep-best-line-always-the-lowest",
        "sweep/study.py",
        'pick = min if study.direction.name == "MINIMIZE" else max',
        "pick = min",
        (T_SWEEP_SSIM,),
    ),
]


def check_snippets(mutants: list[Mutant], src: Path) -> None:
    """Every original snippet occurs exactly once in its file, or stop naming the mutant."""
    for mutant in mutants:
        text = (src / "genvid" / mutant.file).read_text()
        count = text.count(mutant.original)
        if count != 1:
            sys.exit(
                f"mutant {mutant.name}: its original snippet occurs {count} times in "
                f"src/genvid/{mutant.file} (must be exactly once); update the list"
            )


def copy_tree(workdir: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, workdir / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", workdir / "pyproject.toml")


def environment(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir / "src"), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutated file never meets a stale .pyc
    env["COLUMNS"] = "300"  # pytest's summary lines keep the failure's message
    return env


def check_imported_from_copy(workdir: Path, env: dict[str, str]) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import genvid; print(genvid.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to((workdir / "src").resolve()):
        sys.exit(f"genvid is imported from {found}, not from the copy in {workdir}")


def run_tests(tests: tuple[str, ...], workdir: Path, env: dict[str, str]) -> tuple[str, float, str]:
    """("passed" | "failed" | "error N" | "timeout", seconds, the output's last lines)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - started, ""
    seconds = time.perf_counter() - started
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    outcome = {0: "passed", 1: "failed"}.get(done.returncode, f"error {done.returncode}")
    return outcome, seconds, tail


def first_failure(tail: str, width: int = 110) -> str:
    """The test and the start of the message of pytest's first FAILED/ERROR summary line."""
    for line in tail.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            line = line.split(" ", 1)[1].split("::", 1)[-1]
            text = line.replace("|", "/")
            return text if len(text) <= width else text[: width - 3] + "..."
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutant only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()

    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        sys.exit("two mutants share a name")
    chosen = MUTANTS
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            sys.exit(f"unknown mutant(s) {unknown}; see --list")
        chosen = [m for m in MUTANTS if m.name in args.only]
    check_snippets(chosen, ROOT / "src")
    if args.list:
        for m in chosen:
            print(f"{m.name}  (src/genvid/{m.file})")
            for test in m.tests:
                print(f"    {test}")
        return

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="genvid-mutants-"))
    try:
        copy_tree(workdir)
        env = environment(workdir)
        check_imported_from_copy(workdir, env)
        baseline_tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        outcome, seconds, tail = run_tests(baseline_tests, workdir, env)
        print(f"baseline (unmutated, {len(baseline_tests)} test ids): {outcome}, {seconds:.0f} s")
        if outcome != "passed":
            print(tail)
            sys.exit("the unmutated tests do not pass: every mutant would look killed")
        rows = []
        for m in chosen:
            path = workdir / "src" / "genvid" / m.file
            original = path.read_text()
            path.write_text(original.replace(m.original, m.replacement, 1))
            try:
                outcome, seconds, tail = run_tests(m.tests, workdir, env)
            finally:
                path.write_text(original)
            verdict = "survived" if outcome == "passed" else "killed"
            if outcome not in ("passed", "failed"):
                verdict += f" ({outcome})"
            rows.append((m, verdict, seconds, first_failure(tail)))
            print(f"{m.name}: {verdict} in {seconds:.0f} s", flush=True)
            if outcome == "passed":
                print("    " + tail.replace("\n", "\n    "))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("| mutant | file | tests | result | seconds | first failure |")
    print("|---|---|---|---|---:|---|")
    for m, verdict, seconds, why in rows:
        tests = "<br>".join(t.replace("tests/", "") for t in m.tests)
        print(f"| {m.name} | {m.file} | {tests} | {verdict} | {seconds:.0f} | {why} |")
    killed = sum(verdict.startswith("killed") for _, verdict, _, _ in rows)
    wall = time.perf_counter() - started
    print(f"\n{killed} of {len(rows)} killed; total wall time {wall / 60:.1f} min")
    if killed < len(rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
