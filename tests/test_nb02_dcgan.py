"""Notebook 02 (DCGAN on skin lesions) under the smoke profile: it trains, it improves, it saves."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from medgan_nb.models.dcgan import build_dcgan

STEM = "02_dcgan_skin_lesions"


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


@pytest.mark.notebook
def test_training_brings_generated_images_closer_to_real_ones(metrics):
    assert metrics["fd_untrained"] > 0 and metrics["fd_trained"] > 0
    assert metrics["fd_trained"] < 0.8 * metrics["fd_untrained"], (metrics["fd_trained"], metrics["fd_untrained"])
    # two real samples are the floor no generator beats by much
    assert metrics["fd_real_vs_real"] < metrics["fd_trained"]


@pytest.mark.notebook
def test_training_record_is_sane(metrics):
    for key in ("final_loss_d", "final_loss_g", "final_d_real", "final_d_fake"):
        assert math.isfinite(metrics[key]), f"{key} = {metrics[key]}"
    assert 0 <= metrics["final_d_fake"] <= 1 and 0 <= metrics["final_d_real"] <= 1  # probabilities for BCE
    assert metrics["images_per_second"] > 0 and metrics["steps"] > 0
    # a smoke-sized GAN makes new (bad) images, it does not copy: ratio of nearest-train distances near 1
    assert metrics["memorization_ratio"] > 0.5


@pytest.mark.notebook
def test_generator_is_saved_and_reloads_identically(metrics):
    assert metrics["reload_identical"] is True
    path = Path(metrics["_output_dir"]) / metrics["generator_file"]
    assert path.is_file()
    saved = torch.load(path, map_location="cpu", weights_only=True)
    generator, _ = build_dcgan(image_size=saved["image_size"], latent_dim=saved["latent_dim"], width=saved["width"])
    generator.load_state_dict(saved["generator"])  # raises if the file does not fit the architecture
    assert not list(path.parent.glob("*.tmp")), "a temporary file was left behind"
    for figure in ("samples_over_training.png", "nearest_neighbours.png", "training_curves.png"):
        assert (path.parent / figure).is_file(), figure


@pytest.mark.notebook
def test_smoke_does_not_load_the_reference_and_says_why(metrics):
    """Smoke runs at 32 px: the dcgan_64 reference (64 px, width 32) does not fit and is not loaded."""
    assert metrics["reference_loaded"] is False and "fd_reference" not in metrics


@pytest.mark.notebook
@pytest.mark.slow
def test_at_the_cpu_size_the_notebook_loads_the_reference_and_it_beats_a_short_run(tmp_path):
    """The cpu profile's network (64 px, width 32) with smoke-sized counts: section 6b loads dcgan_64, and a generator
    trained for 6,000 steps is clearly closer to the held-out images than one trained for 20 (its bootstrap interval
    lies below the short run's), which the printed verdict says."""
    from medgan_nb.tools.runner import execute_notebook

    root = Path(__file__).resolve().parents[1]
    row = execute_notebook(root / "notebooks" / f"{STEM}.ipynb", tmp_path, "smoke",
                           {"image_size": 64, "width": 32, "steps": 20, "n_images": 400, "n_eval": 120})
    assert row["status"] == "ok", row.get("traceback_tail")
    metrics = row["metrics"]
    assert metrics["reference_loaded"] is True
    assert metrics["fd_reference_interval"][1] < metrics["fd_own_interval"][0], metrics
    from verdict_rules import printed_lines

    verdicts = [line for line in printed_lines(tmp_path / f"{STEM}.ipynb") if "Fréchet distance (your run" in line]
    assert verdicts and verdicts[0].startswith("verdict: the reference is clearly lower in Fréchet distance"), verdicts
