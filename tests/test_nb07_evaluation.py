"""Notebook 07 (the evaluation suite on every family) under the smoke profile: a complete, sane comparison table."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from medgan_nb.models import FAMILIES

STEM = "07_evaluation"
COLUMNS = ("fd", "fd_low", "fd_high", "kid", "frd", "precision", "recall", "density", "coverage", "c2st", "ms_ssim",
           "morphology", "near_copies_pixel", "near_copies_features", "tstr", "real_plus_synthetic", "seg_dice")


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


@pytest.mark.notebook
def test_the_table_has_every_family_and_every_column(metrics):
    table = metrics["table"]
    assert set(metrics["families"]) <= set(FAMILIES) and len(metrics["families"]) >= 3
    assert set(table) == {"real (floor)", *metrics["families"]}
    for name, row in table.items():
        missing = [column for column in COLUMNS if column not in row]
        assert not missing, f"{name} lacks {missing}"
        for column in ("precision", "recall", "coverage", "c2st", "near_copies_pixel"):
            assert 0 <= row[column] <= 1, (name, column, row[column])
        assert row["fd_low"] <= row["fd"] <= row["fd_high"] or math.isclose(row["fd_low"], row["fd_high"]), name
    assert metrics["inception_fid"] in ("available", "unavailable offline")


@pytest.mark.notebook
def test_every_family_is_further_from_real_images_than_the_floor(metrics):
    table, floor = metrics["table"], metrics["table"]["real (floor)"]
    for name in metrics["families"]:
        # a few dozen steps cannot reach the floor: the floor's whole interval lies below each family's estimate
        assert table[name]["fd"] > floor["fd_high"], (name, table[name]["fd"], floor["fd_high"])
        assert table[name]["kid"] > floor["kid"], name
    # two halves of real images are hard to tell apart; under-trained samples are easy
    assert floor["c2st"] <= 0.8
    assert max(table[name]["c2st"] for name in metrics["families"]) >= 0.8


@pytest.mark.notebook
def test_utility_columns_follow_the_conditioning(metrics):
    table = metrics["table"]
    for name in metrics["families"]:
        conditioning = FAMILIES[name].conditioning
        assert (table[name]["tstr"] is not None) == (conditioning == "class"), name
        assert (table[name]["seg_dice"] is not None) == (conditioning in ("mask", "unpaired")), name
        if conditioning in ("mask", "unpaired"):
            assert 0 <= table[name]["seg_dice"] <= 1
    assert 0 < metrics["trtr"] <= 1 and 0 < metrics["seg_dice_real"] <= 1
    # a U-Net trained on real (image, mask) pairs segments real lesions far better than chance
    assert metrics["seg_dice_real"] > 0.5


@pytest.mark.notebook
def test_checkerboard_copies_and_leaks(metrics):
    checker = metrics["checkerboard"]
    # the checkerboard on real images: the classifier separates it clearly beyond its real-vs-real floor
    assert checker["c2st"] >= metrics["floor_c2st"] + 0.2, (checker, metrics["floor_c2st"])
    assert metrics["planted_copies_flagged"] is True
    phantom = metrics["split_leaks"].get("phantom")
    if phantom is not None:  # the rendered phantom never repeats an image across splits
        assert phantom["train-test"]["test_images_with_a_twin"] == 0


@pytest.mark.notebook
def test_figures_are_saved(metrics):
    folder = Path(metrics["_output_dir"])
    for figure in ("distances.png", "samples_by_family.png", "morphology.png"):
        assert (folder / figure).is_file(), figure
