"""Notebook 03 (the loss zoo) under the smoke profile, and the experiment code it calls."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medgan_nb.experiments import loss_zoo
from medgan_nb.experiments.loss_zoo import (
    LOSS_ZOO,
    DiscriminatorMonitor,
    discriminator_output,
    run_loss_zoo,
    upsampling_response,
    zoo_table,
    zoo_verdict,
)
from medgan_nb.models import build_family

from conftest import assert_within_baselines

STEM = "03_loss_zoo"
FIGURES = ("real_images.png", "zoo_samples.png", "zoo_losses.png", "wasserstein_estimates.png",
           "cost_and_quality.png", "discriminator_overfitting.png", "small_data_samples.png",
           "upsampling_patterns.png", "upsampling_samples.png", "power_spectra.png")


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


# ----------------------------------------------------------------------------
# The notebook's results
# ----------------------------------------------------------------------------

@pytest.mark.notebook
def test_training_lowers_the_distance_for_every_loss(metrics):
    assert set(metrics["losses"]) == set(LOSS_ZOO)
    untrained = metrics["fd_untrained"]
    assert untrained > 0
    for name, entry in metrics["losses"].items():
        assert entry["fd_untrained"] == untrained  # one shared baseline: every family starts from the same G
        assert metrics[f"fd_{name}"] == entry["fd"]
    assert_within_baselines(metrics, STEM, *(f"fd_{name}" for name in metrics["losses"]))  # trained < k x untrained


@pytest.mark.notebook
def test_real_vs_real_floor_lies_below_every_trained_distance(metrics):
    floor = metrics["fd_real_vs_real"]
    assert 0 <= floor
    for name, entry in metrics["losses"].items():
        assert floor < entry["fd"], (name, floor, entry["fd"])
    assert floor < metrics["fd_small_plain"] and floor < metrics["fd_small_diffaugment"]
    assert floor < metrics["fd_resize"]


@pytest.mark.notebook
def test_cost_numbers_are_finite_and_the_critics_pay_for_n_critic(metrics):
    losses = metrics["losses"]
    for name, entry in losses.items():
        for key in ("fd", "images_per_second", "train_seconds"):
            assert math.isfinite(entry[key]) and entry[key] > 0, (name, key, entry[key])
    assert losses["wgan"]["n_critic"] == losses["wgan-gp"]["n_critic"] == 5 and losses["dcgan"]["n_critic"] == 1
    # five critic updates (and a gradient penalty) per generator step take longer than one
    assert losses["wgan-gp"]["train_seconds"] > losses["dcgan"]["train_seconds"]
    assert metrics["best_loss"] == min(losses, key=lambda name: losses[name]["fd"])
    assert metrics["fd_best"] == losses[metrics["best_loss"]]["fd"]


@pytest.mark.notebook
def test_wasserstein_estimates_are_recorded_for_both_critics(metrics):
    estimates = metrics["wasserstein_estimates"]
    assert set(estimates) == {"wgan", "wgan-gp"}
    assert all(math.isfinite(value) for value in estimates.values())
    # clipping every weight to 0.01 keeps the clipped critic's outputs on a far smaller scale
    assert abs(estimates["wgan"]) < abs(estimates["wgan-gp"])


@pytest.mark.notebook
def test_diffaugment_and_checkerboard_experiments_are_recorded(metrics):
    for key in ("fd_small_plain", "fd_small_diffaugment", "fd_transposed", "fd_resize",
                "spectrum_error_transposed", "spectrum_error_resize", "spectrum_error_real_vs_real"):
        assert math.isfinite(metrics[key]) and metrics[key] >= 0, (key, metrics[key])
    for key in ("d_gap_plain", "d_gap_diffaugment"):  # recorded; their ordering is tested in test_augment.py
        assert math.isfinite(metrics[key]), (key, metrics[key])
    assert metrics["fd_transposed"] == metrics["fd_dcgan"]  # the zoo's DCGAN is the transposed-convolution side
    # two real sets are spectrally closer than either generator is to the real images
    floor = metrics["spectrum_error_real_vs_real"]
    assert floor < metrics["spectrum_error_transposed"] and floor < metrics["spectrum_error_resize"]


@pytest.mark.notebook
def test_figures_are_written(metrics):
    folder = Path(metrics["_output_dir"])
    missing = [name for name in FIGURES if not (folder / name).is_file()]
    assert not missing, missing


# ----------------------------------------------------------------------------
# The experiment code, on tiny models
# ----------------------------------------------------------------------------

def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


TINY = dict(width=4, steps=3, batch_size=8, progress=False)


def test_every_family_starts_from_the_same_generator_weights():
    generators = [loss_zoo.build_models(name, 32, 4, seed=5)[0] for name in ("dcgan", "wgan-gp", "hinge-sn")]
    z = torch.randn(2, 100)
    outputs = [generator.eval()(z) for generator in generators]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])


def test_run_loss_zoo_trains_scores_and_tabulates(capsys):
    images, heldout = _images(32), _images(16, seed=1)
    zoo = run_loss_zoo(images, heldout, ["dcgan", "wgan"], seed=0, **TINY)
    assert list(zoo) == ["dcgan", "wgan"] and "[2/2] wgan" in capsys.readouterr().out
    assert zoo["wgan"].n_critic == 5 and zoo["wgan"].is_wasserstein and not zoo["dcgan"].is_wasserstein
    table = zoo_table(zoo, fd_untrained=2 * max(e.fd for e in zoo.values()), fd_floor=0.01, heldout=heldout)
    assert list(table.index) == ["dcgan", "wgan"]
    assert table.loc["wgan", "ms / step"] > 0 and math.isclose(table.loc["dcgan", "fd"], zoo["dcgan"].fd)
    assert (table["fd se"] > 0).all() and np.isfinite(table["fd se"]).all()
    best = min(zoo, key=lambda name: zoo[name].fd)
    assert best in zoo_verdict(table).splitlines()[0]
    without_errors = zoo_table(zoo, fd_untrained=1.0, fd_floor=0.01)  # no held-out images: no error, no winner
    assert zoo_verdict(without_errors).startswith("lowest distance: no clear difference at this budget between")
    assert set(loss_zoo.final_wasserstein_estimates(zoo)) == {"wgan"}
    with pytest.raises(ValueError, match="dcgan does not train a Wasserstein critic"):
        loss_zoo.wasserstein_estimate(zoo["dcgan"])


def test_an_unknown_family_fails_before_any_training():
    with pytest.raises(ValueError, match="unknown GAN family 'wgan_clip'; known families: dcgan"):
        run_loss_zoo(_images(16), _images(8), ["dcgan", "wgan_clip"], **{**TINY, "steps": 10_000})


def test_discriminator_output_is_a_probability_for_bce_and_leaves_d_untouched():
    _, discriminator = build_family("dcgan", 32, width=4)
    before = {key: value.clone() for key, value in discriminator.state_dict().items()}
    probability = discriminator_output(discriminator, _images(10), probability=True, batch_size=4)
    raw = discriminator_output(discriminator, _images(10), probability=False, batch_size=4)
    assert 0 < probability < 1 and math.isfinite(raw)
    after = discriminator.state_dict()  # batch-norm running statistics included
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_monitor_records_train_and_heldout_outputs_every_k_steps():
    images, heldout = _images(24), _images(12, seed=2)
    monitor = DiscriminatorMonitor(images[:12], heldout, every=2)
    loss_zoo.train_zoo_member("dcgan", images, callbacks=[monitor], **{**TINY, "steps": 5})
    assert monitor.records["step"] == [2, 4, 5]  # every 2 steps and the last one
    assert all(0 < value < 1 for value in monitor.records["train"] + monitor.records["heldout"])
    assert monitor.final_gap == monitor.records["train"][-1] - monitor.records["heldout"][-1]
    with pytest.raises(ValueError, match="every must be >= 1 step, got 0"):
        DiscriminatorMonitor(images, heldout, every=0)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        DiscriminatorMonitor(images, heldout).final_gap


@pytest.mark.parametrize("policy", ["colour", "color,flip"])
def test_an_unknown_augmentation_policy_fails_before_any_training(policy):
    with pytest.raises(ValueError, match=r"unknown DiffAugment policy '(colour|flip)'.*valid choices: color, translation, cutout"):
        loss_zoo.run_small_data_experiment(_images(20), _images(8), n_images=16, n_monitor=8, every=1, policy=policy,
                                           **{**TINY, "steps": 10_000})


def test_an_unknown_family_in_the_small_data_experiment_fails_before_any_training():
    with pytest.raises(ValueError, match="unknown GAN family 'dcgann'; known families: dcgan"):
        loss_zoo.run_small_data_experiment(_images(20), _images(8), n_images=16, n_monitor=8, every=1, family="dcgann",
                                           **{**TINY, "steps": 10_000})


def test_small_data_experiment_refuses_more_images_than_it_has():
    with pytest.raises(ValueError, match="n_images=50 is more than the 20 training images; lower n_images"):
        loss_zoo.run_small_data_experiment(_images(20), _images(8), n_images=50, n_monitor=8, every=1, **TINY)


def test_transposed_convolution_overlap_patterns():
    uneven = upsampling_response("transposed", kernel_size=3, weights="ones", size=8)
    assert uneven.shape == (16, 16)
    assert set(uneven[:-1, :-1].unique().tolist()) == {1.0, 2.0, 4.0}  # kernel 3, stride 2: uneven overlap
    even = upsampling_response("transposed", kernel_size=4, weights="ones", size=8)
    assert torch.all(even[1:-1, 1:-1] == 4) and even[0, 0] == 1  # kernel 4: even inside, uneven at the border
    random = upsampling_response("transposed", kernel_size=4, weights="random", size=8)[2:-2, 2:-2]
    assert torch.allclose(random[::2, ::2], random[0, 0]) and not torch.allclose(random[0, 0], random[0, 1])
    resize = upsampling_response("resize", kernel_size=3, weights="random", size=8)[1:-1, 1:-1]
    assert torch.allclose(resize, resize[0, 0])  # one kernel for every pixel: a constant stays constant
    with pytest.raises(ValueError, match="kind must be 'transposed'.*or 'resize'.*got 'bilinear'"):
        upsampling_response("bilinear")
    with pytest.raises(ValueError, match="weights must be 'ones'.*or 'random'.*got 'zeros'"):
        upsampling_response(weights="zeros")


def _planted_table(fd: dict[str, float], se: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"fd": fd, "fd se": se, "fd / untrained": {k: v / 10 for k, v in fd.items()},
                         "ms / step": dict.fromkeys(fd, 5.0), "images/s": dict.fromkeys(fd, 100.0),
                         "train s": dict.fromkeys(fd, 1.0)})


def test_the_lowest_distance_is_a_winner_only_beyond_two_standard_errors():
    clear = loss_zoo.distance_verdict(_planted_table({"dcgan": 1.0, "wgan": 2.0, "r1": 2.5},
                                                     {"dcgan": 0.1, "wgan": 0.1, "r1": 0.1}))
    assert clear.startswith("lowest distance: dcgan (1.000 ± 0.200") and clear.endswith("clearly below every other")
    tied = loss_zoo.distance_verdict(_planted_table({"dcgan": 1.0, "wgan": 1.2, "r1": 2.5},
                                                    {"dcgan": 0.1, "wgan": 0.1, "r1": 0.1}))  # 0.2 < 2 * 0.14
    assert tied.startswith("lowest distance: no clear difference at this budget between dcgan")
    assert "wgan (1.200" in tied and "r1" not in tied  # r1 lies clearly above the lowest


def test_the_checkerboard_verdict_names_a_side_only_beyond_its_errors():
    spectrum, fd = {"transposed": 0.30, "resize": 0.10}, {"transposed": 1.0, "resize": 1.05}
    verdict = loss_zoo.checkerboard_verdict(fd, {"transposed": 0.1, "resize": 0.1}, spectrum,
                                            {"transposed": 0.02, "resize": 0.02}).splitlines()
    assert verdict[0].startswith("resize is clearly lower in high-frequency spectrum gap")
    assert verdict[1].startswith("no clear difference at this budget in Fréchet distance")


def test_the_spectrum_error_has_a_bootstrap_error_that_shrinks_with_more_images():
    small = loss_zoo.spectrum_error_se(_images(16), _images(16, seed=1), seed=0)
    large = loss_zoo.spectrum_error_se(_images(256), _images(256, seed=1), seed=0)
    assert 0 < large < small
