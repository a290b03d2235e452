"""Notebook 04 (conditional generation) under the smoke profile, and the helpers of medgan_nb.experiments.conditional."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from medgan_nb.experiments import conditional as cond
from medgan_nb.models import build_family

from conftest import assert_within_baselines

STEM = "04_conditional_generation"
MODELS = ("cgan", "projection", "biggan")
CLASSES = 7


@pytest.fixture(scope="module")
def metrics(notebook_runs) -> dict:
    return notebook_runs(STEM)


@pytest.mark.notebook
def test_every_model_gets_closer_to_real_images(metrics):
    for name in MODELS:
        entry = metrics["models"][name]
        assert math.isfinite(entry["fd"]) and math.isfinite(entry["fd_untrained"]), (name, entry)
        assert metrics[f"fd_{name}"] == entry["fd"] and metrics[f"fd_untrained_{name}"] == entry["fd_untrained"]
        assert entry["images_per_second"] > 0 and entry["train_seconds"] > 0
    assert_within_baselines(metrics, STEM, *(f"fd_{name}" for name in MODELS))  # below k x untrained, above the floor
    assert metrics["best_model"] in MODELS
    assert metrics["best_fd"] == min(metrics["models"][name]["fd"] for name in MODELS)


@pytest.mark.notebook
def test_classifier_recognises_real_held_out_images_well_above_chance(metrics):
    chance = 1 / CLASSES
    assert metrics["chance_accuracy"] == pytest.approx(chance)
    # a judge that cannot tell real classes apart says nothing about the generators
    assert metrics["classifier_real_accuracy_mean"] > 1.5 * chance, metrics["classifier_real_accuracy_per_class"]
    real = metrics["classifier_real_accuracy_per_class"]
    counts = metrics["classifier_real_counts"]
    assert len(real) == CLASSES and len(counts) == CLASSES
    for name, value in real.items():  # a class without held-out images has no accuracy; every other one does
        assert (value is None) == (counts[name] == 0), (name, value, counts[name])
        assert value is None or 0.0 <= value <= 1.0


@pytest.mark.notebook
def test_per_class_accuracy_on_samples_is_reported_for_every_class(metrics):
    for name in MODELS:
        per_class = metrics["models"][name]["classifier_accuracy_per_class"]
        assert len(per_class) == CLASSES, (name, per_class)
        assert all(value is not None and 0.0 <= value <= 1.0 for value in per_class.values()), (name, per_class)
        assert metrics["models"][name]["classifier_accuracy_mean"] == pytest.approx(np.mean(list(per_class.values())))


@pytest.mark.notebook
def test_the_printed_label_verdicts_follow_the_two_standard_error_rule(metrics):
    margin = cond.chance_margin(CLASSES, metrics["n_per_class"])
    for name in MODELS:
        mean = metrics["models"][name]["classifier_accuracy_mean"]
        assert metrics["samples_above_chance"][name] == (mean > 1 / CLASSES + margin), (name, mean, margin)


@pytest.mark.notebook
def test_truncation_shrinks_diversity(metrics):
    t, diversity, fidelity = metrics["truncation_t"], metrics["truncation_diversity"], metrics["truncation_fidelity"]
    assert t == sorted(t) and len(t) == len(diversity) == len(fidelity) >= 3
    assert all(math.isfinite(v) and v >= 0 for v in diversity + fidelity)
    # the smallest threshold keeps z near 0: samples much more alike than at the largest one
    assert diversity[0] < 0.7 * diversity[-1], diversity


@pytest.mark.notebook
def test_class_counts_rebalancing_and_figures(metrics):
    counts = metrics["class_counts_train"]
    assert len(counts) == CLASSES and sum(counts.values()) > 0
    assert max(counts, key=counts.get).startswith("nv")  # HAM10000 priors: nevi dominate
    synthetic = metrics["synthetic_to_balance"]
    largest = max(counts.values())
    assert all(counts[name] + synthetic[name] == largest for name in counts)
    out = Path(metrics["_output_dir"])
    figures = ["class_balance.png", "truncation_tradeoff.png", "rebalancing.png", "classifier_accuracy.png",
               *(f"class_grid_{name}.png" for name in MODELS), *(f"training_curves_{name}.png" for name in MODELS)]
    missing = [name for name in figures if not (out / name).is_file()]
    assert not missing, missing


# ----------------------------------------------------------------------------
# The helpers, without training
# ----------------------------------------------------------------------------

def test_class_labels_and_rebalancing_plan():
    assert cond.class_labels(3, 2).tolist() == [0, 0, 1, 1, 2, 2]
    assert cond.rebalancing_plan([5, 1, 3]).tolist() == [0, 4, 2]
    assert cond.rebalancing_plan([5, 1, 3], target=2).tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="target must be a non-negative number of images per class, got -1"):
        cond.rebalancing_plan([5, 1], target=-1)
    with pytest.raises(ValueError, match="num_classes and n_per_class must be >= 1, got 3 and 0"):
        cond.class_labels(3, 0)


def test_truncation_curve_on_an_untrained_biggan_has_less_diversity_at_small_t():
    torch.manual_seed(0)
    generator, _ = build_family("biggan", image_size=32, budget="smoke", num_classes=3)
    real = torch.rand(24, 3, 32, 32) * 2 - 1
    curve = cond.truncation_curve(generator, real, num_classes=3, n_per_class=6, truncations=[2.0, 0.05], seed=0)
    assert [point["truncation"] for point in curve] == [0.05, 2.0]  # sorted by t
    assert curve[0]["diversity_pairwise_distance"] < curve[1]["diversity_pairwise_distance"]
    assert "falls" in cond.truncation_verdict(curve).split("nearest")[0]


def test_class_grid_uses_one_row_per_class():
    torch.manual_seed(0)
    generator, _ = build_family("cgan", image_size=32, budget="smoke", num_classes=3)
    fig = cond.plot_class_grid(generator, 3, 4, ["a", "b", "c"], seed=0)
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]


def test_chance_margin_and_label_verdict():
    # two standard errors of a mean of K*n Bernoulli(1/K) outcomes: K=4, n=25 -> 2 sqrt(0.25 * 0.75 / 100)
    assert cond.chance_margin(4, 25) == pytest.approx(2 * math.sqrt(0.1875 / 100))
    above, line = cond.label_verdict("cgan", 0.60, 0.70, num_classes=4, n_per_class=25)
    assert above and "cgan: mean per-class accuracy on samples 0.60" in line and "chance 0.25" in line
    above, line = cond.label_verdict("cgan", 0.30, 0.70, num_classes=4, n_per_class=25)
    assert not above and "NOT recognised above chance" in line  # 0.30 < 0.25 + 0.087
    with pytest.raises(ValueError, match="need num_classes >= 2 and n_per_class >= 1, got 1 and 5"):
        cond.chance_margin(1, 5)


def test_train_family_builds_the_models_for_the_datasets_own_classes():
    """A data set with 3 classes (not the phantom's 7) gets 3-class models; its labels reach both networks."""
    from medgan_nb.data import LesionDataset
    from medgan_nb.experiments.families import train_family

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(24, 3, 32, 32, generator=generator) * 2 - 1
    labels = torch.arange(24) % 3
    data = LesionDataset(images, labels, class_names=["benign", "malignant", "other"], name="three")
    trained = train_family("cgan", data, heldout=images[:12], heldout_labels=labels[:12], budget="smoke", steps=2,
                           batch_size=8)
    assert trained.generator.num_classes == 3 and len(trained.result.history) == 2
    assert math.isfinite(trained.fd) and math.isfinite(trained.fd_untrained)
    with pytest.raises(ValueError, match=r"label\(s\) \[3\] outside the valid range 0..2"):
        cond.sample_classes(trained.generator, num_classes=4, n_per_class=1)
    with pytest.raises(ValueError, match=r"unknown GAN family 'bigan'; known families: .*biggan"):
        train_family("bigan", data, heldout=images[:12], heldout_labels=labels[:12], budget="smoke", steps=2,
                     batch_size=8)


def test_the_exercises_have_solution_and_check_cells_and_an_open_question():
    import nbformat

    book = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / f"{STEM}.ipynb", as_version=4)
    graded = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in book.cells if "nbgrader" in cell.metadata}
    solutions = [gid for gid in graded if gid.endswith("-solution")]
    assert len(solutions) >= 2, solutions
    for gid in solutions:
        assert "### BEGIN SOLUTION" in graded[gid].source and "### END SOLUTION" in graded[gid].source
        check = graded[gid.replace("-solution", "-check")]  # every code exercise has its check cell
        assert check.metadata["nbgrader"]["grade"] and check.metadata["nbgrader"]["locked"]
        assert "attempt(" in check.source and "passed(" in check.source
    answers = [cell for gid, cell in graded.items() if gid.endswith("-answer")]
    assert answers and all(cell.cell_type == "markdown" for cell in answers)
