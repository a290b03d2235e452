"""Notebook 06 (SPADE, pix2pix, CycleGAN) under the smoke profile: the generators learn to use their masks, the
synthetic pairs are saved aligned, and CycleGAN's hair removal is scored against the truth beside DullRazor."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_within_baselines

STEM = "06_masks_and_translation"
FAMILIES = ("spade", "pix2pix")


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


@pytest.mark.notebook
@pytest.mark.parametrize("family", FAMILIES)
def test_training_brings_mask_to_image_samples_closer_to_real_images(metrics, family):
    assert 0 < metrics[f"{family}_fd"] and 0 < metrics[f"{family}_fd_untrained"]
    assert_within_baselines(metrics, STEM, f"{family}_fd")  # below k x untrained, above two real samples' floor


@pytest.mark.notebook
@pytest.mark.parametrize("family", FAMILIES)
def test_generated_lesions_follow_their_masks(metrics, family):
    dice, before = metrics[f"{family}_mask_dice"], metrics[f"{family}_mask_dice_untrained"]
    assert 0 <= before <= 1 and 0 <= dice <= 1
    assert dice > before + 0.05, f"{family}: trained mask Dice {dice:.3f} is not above the untrained {before:.3f}"
    assert dice > 0.3, f"{family}: mask Dice {dice:.3f}; the lesion ignores its mask"
    # Otsu segments real phantom lesions well: the real pairs' Dice is the reference the verdicts compare with
    assert metrics["real_mask_dice"] > 0.5


@pytest.mark.notebook
def test_pix2pix_l1_falls_and_its_only_noise_is_dropout(metrics):
    assert metrics["pix2pix_l1_last"] < 0.9 * metrics["pix2pix_l1_first"]
    assert metrics["pix2pix_diversity"] == 0.0  # evaluation mode: one image per mask
    assert metrics["pix2pix_dropout_diversity"] > 0.0
    assert metrics["spade_diversity"] > metrics["pix2pix_dropout_diversity"]  # z varies SPADE's lesions more


@pytest.mark.notebook
def test_synthetic_pairs_are_saved_aligned_with_their_masks(metrics):
    folder = Path(metrics["_output_dir"])
    for family in FAMILIES:
        with np.load(folder / f"{family}_pairs.npz") as stored:
            images, masks = stored["images"], stored["masks"]
        assert images.dtype == np.uint8 and masks.dtype == bool
        assert images.shape == (metrics["n_train_masks"], metrics["image_size"], metrics["image_size"], 3)
        assert masks.shape == images.shape[:3] and masks.any(axis=(1, 2)).mean() > 0.9  # (nearly) every mask has a lesion
    assert metrics["pairs_count"] == metrics["n_train_masks"]
    assert not list(folder.glob("*.tmp")), "a temporary file was left behind"
    # re-scored after loading, the pairs keep the trained generator's Dice, not the untrained one's
    assert abs(metrics["pairs_mask_dice"] - metrics["spade_mask_dice"]) < 0.15
    assert metrics["pairs_mask_dice"] > metrics["spade_mask_dice_untrained"]


@pytest.mark.notebook
def test_cyclegan_hair_removal_improves_with_training_and_is_scored_beside_dullrazor(metrics):
    for key in ("cyclegan_psnr", "dullrazor_psnr", "identity_psnr", "cyclegan_untrained_psnr"):
        assert math.isfinite(metrics[key]) and 5 < metrics[key] < 100, (key, metrics[key])
    assert metrics["cyclegan_psnr"] > metrics["cyclegan_untrained_psnr"] + 1.0
    assert metrics["cyclegan_ssim"] > metrics["cyclegan_untrained_ssim"]
    assert metrics["cycle_loss_last"] < metrics["cycle_loss_first"]
    # the baseline works: DullRazor brings the hairy image closer to the true hair-free one
    assert metrics["dullrazor_psnr"] > metrics["identity_psnr"] + 1.0
    assert metrics["dullrazor_ssim"] > metrics["identity_ssim"]
    # exercise 3: repainting only the detected hairs keeps every other pixel exact
    assert metrics["hair_only_psnr"] >= min(metrics["cyclegan_psnr"], metrics["identity_psnr"])


@pytest.mark.notebook
def test_the_shipped_hair_reference_beats_doing_nothing_and_its_attention_finds_the_hairs(metrics):
    """Smoke runs at 32 px, the reference's size, so section 8 loads it and scores it on the notebook's own held-out
    lesions: a PSNR gain over the hairy input of at least 2 dB and four standard errors, attention on the hairs."""
    assert metrics["hair_reference_loaded"] is True
    gain, se = metrics["cyclegan_reference_psnr_gain"], metrics["cyclegan_reference_psnr_gain_se"]
    assert gain > max(2.0, 4 * se), (gain, se)
    assert metrics["cyclegan_reference_psnr"] > metrics["cyclegan_psnr"]  # ten times the steps of the smoke run
    assert metrics["cyclegan_reference_attention_on_hair"] > metrics["cyclegan_reference_attention_elsewhere"] + 0.3
    for key in ("cyclegan_attention_on_hair", "cyclegan_attention_elsewhere"):  # the short run's map is measured too
        assert 0 <= metrics[key] <= 1, key


@pytest.mark.notebook
def test_skin_tone_translation_is_measured_against_the_true_mask(metrics):
    assert metrics["skin_tone_dice_before"] > 0.7 and metrics["skin_tone_dice_true_dark"] > 0.7
    assert 0 <= metrics["skin_tone_dice_after"] <= 1
    # the shipped reference (loaded at 32 px, the smoke size) keeps the lesion; the untrained generator does not
    assert metrics["skin_tone_dice_reference"] > 0.85 * metrics["skin_tone_dice_before"]
    assert metrics["skin_tone_dice_untrained"] < 0.85 * metrics["skin_tone_dice_before"]
    assert metrics["skin_tone_cycle_last"] < metrics["skin_tone_cycle_first"]


@pytest.mark.notebook
def test_figures_are_saved(metrics):
    folder = Path(metrics["_output_dir"])
    for figure in ("real_images_with_masks.png", "one_mask_several_lesions.png", "mask_dice.png",
                   "mask_outlines.png", "hair_removal_examples.png", "hair_removal_scores.png",
                   "skin_tone_translation.png", "reconstruction_terms.png", "hair_attention.png"):
        assert (folder / figure).is_file(), figure
