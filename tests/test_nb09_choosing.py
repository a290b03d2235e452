"""Notebook 09 (hyperparameter sensitivity per family, a DDPM beside the GANs) under the smoke profile."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

STEM = "09_choosing_a_generator"
COLUMNS = ("fd", "fd_low", "fd_high", "kid", "precision", "recall", "density", "coverage", "c2st", "ms_ssim",
           "near_copies_pixel", "tstr")


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


@pytest.mark.notebook
def test_every_configuration_is_recorded_with_its_settings_and_result(metrics):
    rows = metrics["configurations"]
    searched = [row for row in rows if row["label"] != "planted"]
    assert len(searched) == metrics["n_configs"] * len(metrics["families"])
    for row in rows:
        assert row["status"] in ("ok", "diverged", "collapsed"), row
        assert row["settings"] and row["steps"] >= 1
        if row["status"] == "ok":
            assert row["fd_low"] <= row["fd"] <= row["fd_high"] or math.isclose(row["fd_low"], row["fd_high"])
        else:
            assert row["why"], f"a failed configuration says why: {row}"
    for name in metrics["families"]:
        summary = metrics["summary"][name]
        own = [row for row in searched if row["family"] == name]
        assert summary["configurations"] == len(own)
        assert summary["failed"] == sum(row["status"] != "ok" for row in own), "no failure is hidden"


@pytest.mark.notebook
def test_the_planted_failure_is_reported_as_failed(metrics):
    assert len(metrics["planted"]) == 1
    assert metrics["planted"][0]["status"] in ("diverged", "collapsed"), metrics["planted"][0]


@pytest.mark.notebook
def test_the_ddpm_learns_and_costs_more_per_image_than_the_gan(metrics):
    assert metrics["ddpm_loss_end"] < 0.95 * metrics["ddpm_loss_start"], "training lowers the ε-prediction loss"
    by_sampler = {row["sampler"]: row for row in metrics["sampling"]}
    gan = by_sampler[metrics["gan_row"]]
    assert gan["network_passes"] == 1
    for name, row in by_sampler.items():
        if name != metrics["gan_row"]:
            # tens of U-Net passes against one generator pass: an order of magnitude at least
            assert row["network_passes"] >= 5 and row["seconds_per_image"] > 5 * gan["seconds_per_image"], name


@pytest.mark.notebook
def test_the_table_scores_the_gans_and_the_ddpm_with_the_whole_suite(metrics):
    table = metrics["table"]
    floor = table["real (floor)"]
    assert len(table) == 5  # the floor, the best GAN, the cGAN, the DDPM and DDIM
    for name, row in table.items():
        missing = [column for column in COLUMNS if column not in row]
        assert not missing, f"{name} lacks {missing}"
        if name != "real (floor)":
            assert row["fd"] > floor["fd_high"], (name, row["fd"], floor["fd_high"])
            assert 0 <= row["coverage"] <= 1 and 0 <= row["c2st"] <= 1
    conditional = [name for name, row in table.items() if name != "real (floor)" and row["tstr"] is not None]
    assert len(conditional) == 2 and metrics["gan_row"] not in conditional
    assert set(metrics["verdicts"]) == {"fidelity", "realism", "coverage", "utility", "cost", "skingenbench"}


@pytest.mark.notebook
def test_figures_are_saved(metrics):
    folder = Path(metrics["_output_dir"])
    for figure in ("sensitivity.png", "reverse_process.png", "sampling_cost.png", "samples.png"):
        assert (folder / figure).is_file(), figure
