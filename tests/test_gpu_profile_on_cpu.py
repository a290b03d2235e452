"""Every notebook under the ``gpu`` profile, on the CPU, with only its step and image counts made tiny.

The ``gpu`` profile's own code paths (full width, the EMA generator, larger
images and batches, mixed precision set to "auto", ...) otherwise run only on
a GPU runner. Here they execute in CI: the profile's defaults stay as they
are (image size, width, EMA, loss settings, evaluation knobs), except the
counts listed below, which bound how long the run takes: steps and epochs,
images rendered or evaluated, the families notebooks 03 and 07 compare, and the images per batch (a batch of 4 still
fills one minibatch-standard-deviation group of 4, while the full-width
networks cost about a sixteenth; several groups per batch are tested in
tests/test_stylegan.py).
Mixed precision and channels_last are CUDA-only in the engine
(``amp="auto"`` resolves to full precision on a CPU; channels_last is switched
on by the notebooks only on CUDA), so those fall back on their own.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from medgan_nb.tools.runner import execute_notebook, list_notebooks

ROOT = Path(__file__).resolve().parents[1]

# per notebook: only step counts (steps, epochs) and image counts (images, batch sizes); a new notebook adds its entry
TINY_COUNTS = {
    "00_setup_and_data": {"n_images": 140},
    "01_gan_theory": {"steps": 20, "d_star_steps": 20, "sweep_steps": 10, "gan_steps_1d": 20, "d_only_steps": 10},
    "02_dcgan_skin_lesions": {"steps": 4, "batch_size": 4, "n_images": 300, "n_eval": 40},
    # the three discriminators of the zoo: batch norm (dcgan; lsgan, wgan and r1 share it), a critic without batch
    # norm (wgan-gp) and spectral norm (hinge-sn)
    "03_loss_zoo": {"steps": 2, "batch_size": 4, "small_steps": 2, "n_images": 300, "n_eval": 40, "n_small": 100,
                    "losses": "dcgan,wgan-gp,hinge-sn"},
    "06_masks_and_translation": {"steps": 2, "batch_size": 4, "pix2pix_steps": 2, "cyclegan_steps": 2, "skin_tone_steps": 2,
                                 "n_images": 120, "n_eval": 40, "n_translation": 48, "samples_per_mask": 2},
    "04_conditional_generation": {"steps": 2, "batch_size": 4, "n_images": 300, "n_eval": 40, "n_per_class": 4, "classifier_epochs": 1},
    "05_style_and_growth": {"steps": 4, "batch_size": 4, "n_images": 300, "n_eval": 40, "noise_draws": 4,
                            "n_pairs": 4},
    "08_responsible_synthetic_data": {"steps": 4, "batch_size": 4, "n_images": 700, "n_eval": 60, "privacy_steps": 4,
                                      "train_sizes": [16, 64], "epsilons": [1.0], "dp_steps": 4, "dp_images": 64,
                                      "n_records": 300, "ctgan_epochs": 1, "n_samples": 100},
    # three of its seven families: one unconditional, one label- and one mask-conditioned, the three ways the
    # evaluation samples a family; every family's gpu width and settings also run in notebooks 02-06 above
    "07_evaluation": {"steps": 2, "batch_size": 4, "n_images": 300, "n_eval": 40, "n_utility": 60, "n_boot": 10, "n_frd": 4,
                      "c2st_epochs": 1, "utility_epochs": 1, "families": ["dcgan", "cgan", "spade"]},
    # one family, its default configuration and the planted failure; the DDPM and the cGAN partner for a few steps
    "09_choosing_a_generator": {"steps": 3, "batch_size": 4, "n_images": 300, "n_eval": 40, "families": ["dcgan"],
                                "n_configs": 1, "epochs": 0.05, "diffusion_width": 8, "timesteps": 20, "ddpm_steps": 20,
                                "ddim_steps": [4], "n_boot": 5, "c2st_epochs": 1, "utility_epochs": 1, "n_utility": 40},
}

NOTEBOOKS = list_notebooks(ROOT)


def test_every_notebook_has_tiny_counts():
    missing = [book.stem for book in NOTEBOOKS if book.stem not in TINY_COUNTS]
    assert not missing, f"add step/image-count overrides for {missing} to TINY_COUNTS in {Path(__file__).name}"


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("book", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_its_gpu_profile_on_the_cpu(book, tmp_path):
    row = execute_notebook(book, tmp_path, "gpu", {**TINY_COUNTS.get(book.stem, {}), "device": "cpu"})
    assert row["status"] == "ok", f"{book.stem} under gpu-on-cpu: {row['error']}"
    metrics = row["metrics"]
    assert metrics["profile"] == "gpu" and metrics["device"] == "cpu"
    assert all(key in metrics for key in metrics["headline"])
