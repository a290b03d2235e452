"""Notebook 08, fairness across skin tones: a skewed training set, its remedy, and a per-group audit.

:func:`skewed_indices` builds a light-skin-heavy training set and
:func:`rebalanced_indices` its remedy (every group resampled to the size of the
largest); :func:`train_conditional_gan` trains a class-conditional GAN with the
engine, and :func:`fairness_audit` measures its samples per skin-tone group
(generated share, coverage distance, synthetic-trained accuracy;
:mod:`medgan_nb.metrics.fairness`). :func:`before_after_table`,
:func:`fairness_verdict`, :func:`audit_metrics` and :func:`plot_before_after`
turn the audits before and after the remedy into a table, a verdict with
standard errors, flat metrics and a figure.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import viz
from ...metrics.fairness import GROUPS, check_groups_present, coverage_distance, estimate_groups, group_shares, per_group_accuracy
from ...metrics.fid import sample_generator
from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, above_chance, differs, share_se
from ...models.conditional import build_cgan
from ...train import TrainConfig, train_gan


def skewed_indices(groups: Sequence[str] | np.ndarray, dark_share: float, seed: int = 0) -> np.ndarray:
    """Return indices of a subset with every light image and dark images making up ``dark_share`` of it."""
    groups = np.asarray(groups)
    check_groups_present(groups, "the training images")
    if not 0 < dark_share < 1:
        raise ValueError(f"dark_share must lie strictly between 0 and 1, got {dark_share!r}, e.g. 0.05")
    light, dark = np.flatnonzero(groups == "light"), np.flatnonzero(groups == "dark")
    # n_dark / (n_light + n_dark) = dark_share  =>  n_dark = dark_share / (1 - dark_share) * n_light
    n_dark = int(np.clip(round(dark_share / (1 - dark_share) * len(light)), 1, len(dark)))
    chosen = np.random.default_rng(seed).choice(dark, size=n_dark, replace=False)
    return np.sort(np.concatenate([light, chosen]))


def rebalanced_indices(groups: Sequence[str] | np.ndarray, seed: int = 0) -> np.ndarray:
    """Return indices that resample every group (with replacement) to as many images as the largest group has."""
    groups = np.asarray(groups)
    check_groups_present(groups, "the training images")
    rng = np.random.default_rng(seed)
    largest = max(int((groups == name).sum()) for name in GROUPS)
    parts = [rng.choice(np.flatnonzero(groups == name), size=largest, replace=True) for name in GROUPS]
    return rng.permutation(np.concatenate(parts))


def train_conditional_gan(images: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int,
                          batch_size: int, width: int, seed: int = 0, device: str = "cpu") -> nn.Module:
    """Return the generator of a class-conditional GAN (cGAN) trained on (images, labels) with the engine."""
    generator, discriminator = build_cgan(image_size=images.shape[-1], num_classes=num_classes, width=width)
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(images)), seed=seed, device=device, amp="off",
                         log_every=max(1, steps // 50))
    return train_gan(generator, discriminator, images, config, labels=labels).best_generator


def fairness_audit(generator: nn.Module, n_samples: int, class_probabilities: torch.Tensor,
                   heldout: torch.Tensor, heldout_labels: torch.Tensor, heldout_groups: Sequence[str],
                   seed: int = 0) -> dict:
    """Return per-group shares, coverage distances and synthetic-trained accuracies of a conditional generator."""
    heldout_groups = np.asarray(heldout_groups)
    check_groups_present(heldout_groups, "the held-out images")
    rng = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(class_probabilities.float(), n_samples, replacement=True, generator=rng)
    fake = sample_generator(generator, n_samples, seed=seed, labels=labels)
    return {
        "generated_share": group_shares(estimate_groups(fake)),
        "coverage_distance": coverage_distance(fake, heldout, heldout_groups),
        "synthetic_accuracy": per_group_accuracy(fake, labels, heldout, heldout_labels, heldout_groups, seed=seed),
        "n_heldout": {group: int((heldout_groups == group).sum()) for group in GROUPS},
        "num_classes": int(class_probabilities.numel()),
        "samples": fake,
    }


AUDIT_FIGURES = ("generated_share", "coverage_distance", "synthetic_accuracy")


def before_after_table(before: dict, after: dict, training_share: dict[str, float]) -> pd.DataFrame:
    """Return a table (rows: figure and moment, columns: the skin-tone groups) of the audits before and after the remedy."""
    rows = {("training_share", "skewed set"): training_share}
    for moment, audit in (("before", before), ("after", after)):
        for figure in AUDIT_FIGURES:
            rows[(figure, moment)] = {group: audit[figure][group] for group in GROUPS}
    table = pd.DataFrame(rows).T
    table.index.names = ["figure", "moment"]
    return table


def fairness_verdict(before: dict, after: dict) -> str:
    """Return the verdict on the remedy: the dark group's share and coverage, and each group's accuracy with its error.

    An accuracy is a share of the group's held-out images, so its standard error is that of a proportion;
    a change of accuracy, and a group's accuracy against chance (1/K), are called only beyond two standard
    errors, since the dark group may have only a handful of held-out images.
    """
    share = after["generated_share"]["dark"] - before["generated_share"]["dark"]
    dark = after["coverage_distance"]["dark"] - before["coverage_distance"]["dark"]
    light = after["coverage_distance"]["light"] - before["coverage_distance"]["light"]
    lines = [f"verdict: rebalancing changed the dark group's generated share by {share:+.3f} and its coverage distance "
             f"by {dark:+.3f} ({'closer' if dark < 0 else 'not closer'}); the light group's coverage distance changed "
             f"by {light:+.3f} ({'a cost' if light > 0 else 'no cost'})"]
    chance = 1 / after.get("num_classes", 7)
    for group in GROUPS:
        n = after.get("n_heldout", {}).get(group, 0)
        a, b = before["synthetic_accuracy"][group], after["synthetic_accuracy"][group]
        if n < 1 or not (np.isfinite(a) and np.isfinite(b)):
            lines.append(f"  {group} skin: no held-out image of this group, so no accuracy")
            continue
        se_a, se_b = share_se(a, n), share_se(b, n)
        change = (f"{NO_CLEAR_DIFFERENCE} in accuracy" if not differs(a, b, se_a, se_b) else
                  "accuracy clearly higher after" if b > a else "accuracy clearly lower after")
        level = "above chance" if above_chance(b, chance, n) else f"not clearly above chance ({chance:.2f})"
        lines.append(f"  {group} skin, {n} held-out images: synthetic-trained accuracy {a:.3f} ± {2 * se_a:.3f} before, "
                     f"{b:.3f} ± {2 * se_b:.3f} after ({level}): {change}")
    lines.append(f"  (one training run before and one after: each ± covers the draw of held-out images, not the spread "
                 f"between two training runs of the same GAN, which this audit does not measure)")
    return "\n".join(lines)


def audit_metrics(audit: dict, moment: str) -> dict[str, float]:
    """Return the audit's per-group figures as flat metrics named like ``before_coverage_distance_dark``."""
    return {f"{moment}_{figure}_{group}": float(audit[figure][group])
            for figure in AUDIT_FIGURES for group in (*GROUPS, "all") if group in audit[figure]}


def plot_before_after(table: pd.DataFrame):
    """Return a figure: one panel per audit figure, bars per skin-tone group before and after the remedy."""
    import matplotlib.pyplot as plt

    units = {"generated_share": "share of images", "coverage_distance": "feature distance (RMS)",
             "synthetic_accuracy": "accuracy on real images"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, figure in zip(axes, AUDIT_FIGURES):
        values = table.loc[figure][list(GROUPS)]
        positions = np.arange(len(GROUPS))
        for offset, moment in ((-0.2, "before"), (0.2, "after")):
            axis.bar(positions + offset, values.loc[moment].to_numpy(), width=0.4, label=f"{moment} rebalancing")
        if figure == "generated_share":
            axis.scatter(positions, table.loc["training_share"][list(GROUPS)].to_numpy()[0], color="k", marker="_",
                         s=400, label="share in skewed training set", zorder=3)
        axis.set_xticks(positions, [f"{g} skin" for g in GROUPS])
        axis.set_xlabel("skin-tone group")
        axis.set_ylabel(units[figure])
        axis.set_title(figure.replace("_", " "))
    axes[0].legend(fontsize=8)
    fig.suptitle("Per-group audit of a conditional GAN before and after rebalancing the training set")
    viz.finish(fig)
    return fig
