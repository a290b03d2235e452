r"""Notebook 04's experiments: train three class-conditional GANs alike, then probe what their labels do.

A conditional GAN learns :math:`p(x \mid y)`; both players see the class
:math:`y` and the game becomes

.. math::
    \min_G \max_D \; \mathbb{E}_{x, y \sim p_{data}}[\log D(x, y)]
    + \mathbb{E}_{z \sim p_z,\, y \sim p_{data}(y)}[\log(1 - D(G(z, y), y))].

This module runs the notebook's sections on the kit's pieces:

* the notebook trains each registered family (``cgan``, ``projection``,
  ``biggan``; :mod:`medgan_nb.models.conditional`) with the kit's one training
  run, :func:`medgan_nb.experiments.families.train_family`, which measures its
  Fréchet distance to held-out images *with the same class mix* (samples drawn
  with the held-out labels), before and after training;
* :func:`plot_class_grid` draws one row per class, several :math:`z` per row;
* :func:`truncation_curve` sweeps the truncation threshold :math:`t`
  (:math:`z` from a normal truncated to :math:`[-t, t]`) and measures, in the
  kit's fixed feature space standardised on real images, *fidelity* as the
  mean distance of each sample to its nearest real image,
  :math:`\frac{1}{M}\sum_j \min_i \lVert \phi(g_j) - \phi(r_i) \rVert`
  (low = samples sit on the real data, a precision-like number), and
  *diversity* as the mean pairwise distance between samples,
  :math:`\frac{2}{M(M-1)}\sum_{j<k} \lVert \phi(g_j) - \phi(g_k) \rVert`;
* :func:`rebalancing_plan` counts the synthetic images that would make every
  class as frequent as the largest (or a target);
* :func:`label_verdict` says whether a classifier trained on real images
  recognises a model's class-conditioned samples above chance: the mean
  per-class accuracy :math:`\bar a` of :math:`K` classes with :math:`n`
  samples each must exceed chance :math:`p = 1/K` by two standard errors,
  :math:`\bar a > p + 2\sqrt{p(1-p)/(Kn)}`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import viz
from ..metrics.fid import features_of
from ..metrics.uncertainty import NO_CLEAR_DIFFERENCE, Z, above_chance, pick_winner, proportion_se, share_se
from ..models.conditional import truncated_noise
from ..models.sampling import sample_images
from .families import FamilyRun

CONDITIONAL_FAMILIES = ("cgan", "projection", "biggan")


def class_labels(num_classes: int, n_per_class: int) -> torch.Tensor:
    """Return labels 0,..,0, 1,..,1, ..., K-1 (n_per_class of each), int64 (num_classes * n_per_class,)."""
    if num_classes < 1 or n_per_class < 1:
        raise ValueError(f"num_classes and n_per_class must be >= 1, got {num_classes} and {n_per_class}")
    return torch.arange(num_classes).repeat_interleave(n_per_class)


def sample_classes(generator: nn.Module, num_classes: int, n_per_class: int, seed: int = 0,
                   truncation: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images, labels): n_per_class samples of every class, z ~ N(0, I) or truncated to [-t, t]."""
    labels = class_labels(num_classes, n_per_class)
    if truncation is None:
        z = torch.randn(len(labels), generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    else:
        z = truncated_noise(len(labels), generator.latent_dim, truncation, seed=seed)
    return sample_images(generator, z, labels), labels


def comparison_table(runs: dict[str, FamilyRun], fd_real_vs_real: float) -> pd.DataFrame:
    """Return one row per model: Fréchet distance trained / untrained, images/s, training seconds."""
    rows = [{"model": run.name, "what": run.title, "steps": run.result.steps, "FD trained": run.fd,
             "FD untrained": run.fd_untrained, "FD / real-vs-real": run.fd / fd_real_vs_real,
             "images/s": run.images_per_second, "train s": run.seconds} for run in runs.values()]
    return pd.DataFrame(rows).set_index("model").round(3)


def plot_class_grid(generator: nn.Module, num_classes: int, n_per_class: int, class_names: Sequence[str],
                    seed: int = 0, truncation: float | None = None, title: str | None = None):
    """Grid of samples, one row per class and n_per_class z per row (the same z in every row); return the Figure."""
    labels = class_labels(num_classes, n_per_class)
    z = (torch.randn(n_per_class, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
         if truncation is None else truncated_noise(n_per_class, generator.latent_dim, truncation, seed=seed))
    images = sample_images(generator, z.repeat(num_classes, 1), labels)  # column j keeps z_j in every class
    grid = viz.image_grid(images, nrow=n_per_class)
    fig, ax = plt.subplots(figsize=(1.0 * n_per_class + 1.6, 1.0 * num_classes + 0.6))
    ax.imshow(grid)
    rows = np.arange(num_classes) * (grid.shape[0] / num_classes) + grid.shape[0] / num_classes / 2
    ax.set_yticks(rows, list(class_names))
    ax.set_xticks([])
    ax.set_xlabel(f"{n_per_class} latent vectors z (one per column, shared by all rows)")
    ax.set_title(title or "One row per class")
    fig.tight_layout()
    return fig


def _standardised_features(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    # Each feature divided by its spread on real images, so colour and texture features weigh alike.
    return (features_of(images) - mean) / std


def truncation_curve(generator: nn.Module, real_images: torch.Tensor, num_classes: int, n_per_class: int,
                     truncations: Sequence[float], seed: int = 0) -> list[dict[str, float]]:
    """Return one dict per threshold t (sorted): truncation, fidelity (mean nearest-real distance), diversity."""
    real_raw = features_of(real_images)
    std = real_raw.std(0)
    # A feature that hardly varies on real images (e.g. a corner's colour) would blow up when divided by its
    # tiny spread; its divisor is floored at a tenth of the median feature's spread.
    mean, std = real_raw.mean(0), std.clamp(min=0.1 * float(std.median()) + 1e-8)
    real = (real_raw - mean) / std
    points = []
    for t in sorted(truncations):
        fake_images, _ = sample_classes(generator, num_classes, n_per_class, seed=seed, truncation=t)
        fake = _standardised_features(fake_images, mean, std)
        nearest_real = torch.cdist(fake, real).min(dim=1).values  # min_i ||phi(g_j) - phi(r_i)||
        pairwise = torch.pdist(fake)  # ||phi(g_j) - phi(g_k)||, j < k
        points.append({"truncation": float(t), "fidelity_nn_distance": float(nearest_real.mean()),
                       "diversity_pairwise_distance": float(pairwise.mean())})
    return points


def plot_truncation_tradeoff(curve: list[dict[str, float]], generator: nn.Module, class_index: int,
                             class_name: str, strip_truncations: Sequence[float], n_strip: int = 8, seed: int = 0):
    """Line plot of fidelity and diversity against t, with a sample strip of one class at a few t; return the Figure."""
    t = [p["truncation"] for p in curve]
    fig = plt.figure(figsize=(8, 3.2 + 0.85 * len(strip_truncations)))
    grid = fig.add_gridspec(1 + len(strip_truncations), 1, height_ratios=[3.2] + [0.85] * len(strip_truncations))
    ax = fig.add_subplot(grid[0])
    ax.plot(t, [p["fidelity_nn_distance"] for p in curve], "o-", color="tab:red",
            label="fidelity: mean distance to nearest real image (lower = more real-like)")
    ax.set_xlabel("truncation threshold t (z kept in [-t, t])")
    ax.set_ylabel("nearest-real distance\n(standardised features)", color="tab:red")
    other = ax.twinx()
    other.plot(t, [p["diversity_pairwise_distance"] for p in curve], "s--", color="tab:blue",
               label="diversity: mean pairwise distance between samples")
    other.set_ylabel("pairwise distance\n(standardised features)", color="tab:blue")
    lines = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="lower right")
    ax.set_title("The truncation trick: fidelity vs diversity")
    labels = torch.full((n_strip,), class_index, dtype=torch.long)
    for row, threshold in enumerate(strip_truncations):
        z = truncated_noise(n_strip, generator.latent_dim, threshold, seed=seed)
        strip_ax = fig.add_subplot(grid[row + 1])
        strip_ax.imshow(viz.image_grid(sample_images(generator, z, labels), nrow=n_strip))
        strip_ax.set_xticks([])
        strip_ax.set_yticks([])
        strip_ax.set_ylabel(f"t = {threshold:g}", rotation=0, ha="right", va="center")
        if row == 0:
            strip_ax.set_title(f"{class_name} samples at a few t (same seed)", fontsize=9)
    fig.tight_layout()
    return fig


def truncation_verdict(curve: list[dict[str, float]]) -> str:
    """Return a sentence saying how fidelity and diversity move from the largest to the smallest t."""
    low, high = curve[0], curve[-1]  # sorted by t
    diversity = low["diversity_pairwise_distance"] / high["diversity_pairwise_distance"]
    fidelity = low["fidelity_nn_distance"] / high["fidelity_nn_distance"]
    return (f"from t = {high['truncation']:g} down to t = {low['truncation']:g}: diversity "
            f"{'falls' if diversity < 1 else 'rises'} to {diversity:.0%} of its value, the nearest-real distance "
            f"{'falls' if fidelity < 1 else 'rises'} to {fidelity:.0%} "
            f"({'samples move closer to real images' if fidelity < 1 else 'samples do not get closer to real images'})")


def rebalancing_plan(counts: Sequence[int], target: int | None = None) -> np.ndarray:
    """Return the synthetic images per class that bring every class up to ``target`` (default: the largest class)."""
    counts = np.asarray(counts, dtype=int)
    target = int(counts.max()) if target is None else int(target)
    if target < 0:
        raise ValueError(f"target must be a non-negative number of images per class, got {target}")
    return np.maximum(target - counts, 0)


def plot_rebalancing(counts: Sequence[int], synthetic: Sequence[int], class_names: Sequence[str],
                     title: str = "Rebalancing with generated images"):
    """Stacked bars: real images per class and the synthetic images added on top; return the Figure."""
    x = np.arange(len(class_names))
    fig, ax = plt.subplots(figsize=(9.5, 3.5))
    ax.bar(x, counts, color="tab:gray", label="real training images")
    ax.bar(x, synthetic, bottom=counts, color="tab:orange", alpha=0.8, label="generated to fill up")
    for xi, (real, fake) in enumerate(zip(counts, synthetic)):
        share = fake / max(real + fake, 1)
        ax.text(xi, real + fake, f"{share:.0%}\nsynthetic", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, list(class_names), rotation=30)
    ax.set_ylabel("images")
    ax.set_ylim(0, 1.25 * max(np.add(counts, synthetic).max(), 1))
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the bars
    fig.tight_layout()
    return fig


def plot_classifier_accuracy(per_class: dict[str, Sequence[float]], class_names: Sequence[str],
                             title: str = "Classifier trained on real images: per-class accuracy"):
    """Grouped bars: per-class accuracy of one classifier on several image sets (NaN = no images); return the Figure."""
    fig, ax = plt.subplots(figsize=(10.5, 3.5))
    width = 0.8 / max(1, len(per_class))
    for i, (name, values) in enumerate(per_class.items()):
        x = np.arange(len(class_names)) + (i - (len(per_class) - 1) / 2) * width
        ax.bar(x, np.nan_to_num(np.asarray(values, dtype=float), nan=0.0), width, label=name)
    ax.axhline(1 / len(class_names), color="k", linestyle=":", linewidth=1, label="chance (1 / classes)")
    ax.set_xticks(range(len(class_names)), list(class_names), rotation=30)
    ax.set_ylabel("accuracy on the class's images")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the bars
    fig.tight_layout()
    return fig


def chance_margin(num_classes: int, n_per_class: int) -> float:
    """Return two standard errors of a mean per-class accuracy at chance, 2 sqrt(p (1 - p) / (K n)) with p = 1/K."""
    if num_classes < 2 or n_per_class < 1:
        raise ValueError(f"need num_classes >= 2 and n_per_class >= 1, got {num_classes} and {n_per_class}")
    return Z * proportion_se(1 / num_classes, num_classes * n_per_class)


def label_verdict(name: str, sample_accuracy: float, real_accuracy: float, num_classes: int,
                  n_per_class: int) -> tuple[bool, str]:
    """Return (above chance?, a sentence comparing a model's sample accuracy with chance and with real images)."""
    chance = 1 / num_classes
    threshold = chance + chance_margin(num_classes, n_per_class)  # p + 2 standard errors
    above = sample_accuracy > threshold
    verdict = ("labels recognised above chance" if above else
               "labels NOT recognised above chance: the samples do not yet show their classes to this judge")
    return above, (f"{name}: mean per-class accuracy on samples {sample_accuracy:.2f} (real held-out images "
                   f"{real_accuracy:.2f}, chance {chance:.2f}, above chance needs > {threshold:.2f}): {verdict}")


def best_recognised(sample_accuracy: dict[str, float], num_classes: int, n_per_class: int) -> tuple[str | None, str]:
    """Return (the model whose samples the judge recognises best, or None for a tie, and the sentence saying so).

    A model is named only when its mean per-class accuracy is above chance (:func:`label_verdict`'s rule)
    and ahead of every other model by more than two standard errors of the two accuracies, each a share
    of ``num_classes * n_per_class`` samples.
    """
    n = num_classes * n_per_class
    errors = {name: share_se(acc, n) for name, acc in sample_accuracy.items()}
    winner = pick_winner(sample_accuracy, errors, lower_is_better=False)
    listing = ", ".join(f"{name} {acc:.2f}" for name, acc in sample_accuracy.items())
    if winner is not None and above_chance(sample_accuracy[winner], 1 / num_classes, n):
        return winner, f"best recognised: {winner} ({listing}; ± {2 * errors[winner]:.2f})"
    return None, (f"best recognised: {NO_CLEAR_DIFFERENCE} ({listing}; chance {1 / num_classes:.2f}, "
                  f"{n_per_class} samples per class)")



def notebook_reference(dataset: str, image_size: int, class_names: Sequence[str], name: str = "projection_ac"
                       ) -> tuple[nn.Module | None, dict | None, str]:
    """Return (the reference generator, its model card, a line saying what was loaded) or (None, its card, why not).

    The reference (:mod:`medgan_nb.weights`) was trained on the phantom at one image size and with one list of
    classes: it stands for a long run only on the same data, so on real data, another size or other classes the
    notebook says so instead of loading it.
    """
    from ..weights import reference_card, reference_for_run

    card = reference_card(name)
    classes = card["build"]["num_classes"]
    if len(class_names) != classes:
        return None, card, (f"no reference for this run: {name} was trained with {classes} classes and this run has "
                            f"{len(class_names)}; the notebook's own short runs are all there is to judge")
    return reference_for_run(name, dataset, image_size, what=f"{card['family']} with an auxiliary classifier")


def within_class_distance(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Return the variety within classes: the mean over classes of the mean pixel distance between two images of it.

    The distance is the L2 norm of the difference of two images in [-1, 1] (all pixels and channels); a class with
    fewer than two images is left out. A generator that draws one image per class scores 0, real images their own
    spread: the number to set beside a judge's accuracy, since sharper classes can come at the cost of variety.
    """
    spreads = [torch.pdist(images[labels == k].flatten(1).float()).mean().item()
               for k in range(num_classes) if int((labels == k).sum()) > 1]
    if not spreads:
        raise ValueError("within_class_distance needs at least two images of one class")
    return float(np.mean(spreads))


def judge_reference(reference: nn.Module, judge: nn.Module, short_run: nn.Module, real_images: torch.Tensor,
                    real_labels: torch.Tensor, num_classes: int, n_per_class: int, seed: int = 0):
    """Return (the judge's ClassifierReport on the reference's samples, the variety within a class of each set).

    ``n_per_class`` samples of every class are drawn from the reference and from the ``short_run`` generator with
    the same seed; the variety (:func:`within_class_distance`) of the real images, the short run's samples and
    the reference's is returned as a dict, for :func:`variety_line`.
    """
    from ..metrics.classifier import evaluate_classifier

    samples, labels = sample_classes(reference, num_classes, n_per_class, seed=seed)
    short_samples, short_labels = sample_classes(short_run, num_classes, n_per_class, seed=seed)
    spread = {"real held-out": within_class_distance(real_images, real_labels, num_classes),
              "short-run projection": within_class_distance(short_samples, short_labels, num_classes),
              "reference": within_class_distance(samples, labels, num_classes)}
    return evaluate_classifier(judge, samples, labels, num_classes), spread


def variety_line(spread: dict[str, float]) -> str:
    """Return the printed line comparing the variety within a class of real images, the short run and the reference."""
    values = ", ".join(f"{name} {value:.2f}" for name, value in spread.items())
    return (f"variety within a class (mean pixel distance between two images of one class): {values}; the reference's "
            f"is {spread['reference'] / spread['real held-out']:.0%} of the real images'")
