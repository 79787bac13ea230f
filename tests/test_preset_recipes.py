"""Each preset's training recipe: where it comes from, and what `genvid train` then uses."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from genvid.cli import cli
from genvid.presets import get_preset, presets, recipe_summary
from genvid.train import TrainConfig


@pytest.mark.parametrize("name", presets())
def test_every_recipe_is_a_valid_train_config_with_a_source(name):
    preset = get_preset(name)
    TrainConfig(**preset.train)
    assert preset.recipe and recipe_summary(name).endswith(preset.recipe)


def test_svg_presets_train_with_the_papers_code_defaults():
    """The paper-sized SVG presets; the CPU-sized `-small` ones keep its optimiser and no
    clipping but train at batch 16 with half its lr, decayed."""
    svg = [name for name in presets() if name.startswith("svg-")]
    for name in svg:
        config = TrainConfig(**get_preset(name).train)
        assert config.optimizer == "adam" and config.grad_clip is None and config.channels_last
        if name.endswith("-small"):
            assert (config.lr, config.batch_size, config.lr_schedule) == (1e-3, 16, "cosine")
        else:
            assert (config.lr, config.batch_size, config.lr_schedule) == (2e-3, 100, "constant")
    assert sum(name.endswith("-small") for name in svg) == 3


def test_pixelrnn_paper_sizes_train_with_rmsprop_at_the_papers_batch():
    for name in ("row-lstm-mnist", "diagonal-bilstm-mnist", "pixelcnn-cifar10"):
        config = TrainConfig(**get_preset(name).train)
        assert (config.optimizer, config.batch_size) == ("rmsprop", 16)
    # genvid's own PixelCNN size keeps the demo's recipe (91.50 nats)
    assert TrainConfig(**get_preset("pixelcnn-mnist").train) == TrainConfig()


def test_info_prints_each_presets_recipe():
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert sum(line.lstrip().startswith("recipe: ") for line in lines) == len(presets())
    assert (
        "recipe: adam lr 0.002, batch 100, no clipping, constant lr, channels_last: SVG's code"
        in result.output
    )


def test_a_cpu_hours_recipe_shows_its_steps_and_precision():
    summary = recipe_summary("svg-lp-srvp-small")
    assert ", 200 warm-up steps, 16,000 steps, bf16, channels_last: " in summary
    assert "steps" not in recipe_summary("pixelcnn-mnist")  # the demo's preset sets none


def test_an_adversarial_recipe_names_each_groups_optimiser_not_the_unused_train_lr():
    summary = recipe_summary("videogan-mmnist")  # WGAN-GP: Adam lr 1e-4 for every group
    assert summary.startswith("critic adam lr 0.0001, frame_generator adam lr 0.0001, lstm adam")
    assert "lr 0.001" not in summary
