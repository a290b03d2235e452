"""Figures and numbers of what a set of images holds: mean R, G, B per image, per class and per named
group (with a real-vs-generated verdict), images per class, histograms of ground-truth attributes per
class and of raw pixel values: the dataset tour of notebook 00 and the colour check of notebook 02.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.transforms import to_uint8_images
from .layout import finish


def channel_means(images) -> np.ndarray:
    """Return the mean R, G, B value (0-255) of each image, shape (N, 3)."""
    imgs = to_uint8_images(images)
    return imgs.reshape(len(imgs), -1, 3).mean(axis=1)


def compare_channel_means(real, generated) -> tuple[dict[str, dict[str, float]], str]:
    """Return per-channel real vs generated mean colour (0-255) and a one-line verdict computed from them.

    For each of R, G, B: the mean over images of each set, the real images' spread
    (standard deviation of the per-image means: the whisker of
    :func:`plot_channel_means`), the difference in percent of the real mean and in
    units of that spread. The verdict names the channel that differs most and says
    whether every difference stays within the real images' spread.
    """
    real_means, generated_means = channel_means(real), channel_means(generated)
    table: dict[str, dict[str, float]] = {}
    for c, name in enumerate(("red", "green", "blue")):
        mu_real, sd_real, mu_gen = real_means[:, c].mean(), real_means[:, c].std(), generated_means[:, c].mean()
        table[name] = {"real": float(mu_real), "generated": float(mu_gen), "real_std": float(sd_real),
                       "percent": float(100 * (mu_gen - mu_real) / max(mu_real, 1e-9)),
                       "in_std": float((mu_gen - mu_real) / max(sd_real, 1e-9))}
    worst = max(table, key=lambda k: abs(table[k]["in_std"]))
    within = all(abs(row["in_std"]) <= 1.0 for row in table.values())
    verdict = (f"largest difference: {worst} mean {table[worst]['percent']:+.0f}% "
               f"({table[worst]['in_std']:+.2f} real standard deviations); "
               + ("every channel is within the spread of real images (the whiskers)" if within else
                  "at least one channel is outside the spread of real images: the colours do not match yet"))
    return table, verdict


def plot_channel_means(groups: dict[str, object], title: str = "Mean intensity per channel"):
    """Bar chart of mean R, G, B (0-255, with std error bars) for each named image group; return the Figure."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(groups)
    width = 0.8 / max(1, len(names))
    colours = ["tab:red", "tab:green", "tab:blue"]
    for i, name in enumerate(names):
        means = channel_means(groups[name])
        mu, sd = means.mean(axis=0), means.std(axis=0)
        x = np.arange(3) + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(x, mu, width, yerr=sd, capsize=3, label=name, alpha=0.85,
                      color=colours, edgecolor="black", hatch=["", "//", "..", "xx"][i % 4])
        bars.set_label(name)
    ax.set_xticks(range(3), ["red", "green", "blue"])
    ax.set_ylabel("mean pixel value (0-255)")
    ax.set_ylim(0, 255)
    ax.set_title(title)
    ax.legend()
    return fig


def plot_class_channel_means(images, labels, class_names: Sequence[str], title: str = "Mean R, G, B per class"):
    """Grouped bars: mean red, green and blue value (0-255) of each class; return (Figure, means array C×3)."""
    means = channel_means(images)
    labels = np.asarray(labels)
    table = np.array([means[labels == c].mean(axis=0) if np.any(labels == c) else np.full(3, np.nan)
                      for c in range(len(class_names))])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(class_names))
    for k, (channel, colour) in enumerate(zip(("red", "green", "blue"), ("tab:red", "tab:green", "tab:blue"))):
        ax.bar(x + (k - 1) * 0.27, table[:, k], 0.27, color=colour, label=channel)
    ax.set_xticks(x, class_names, rotation=30)
    ax.set_ylabel("mean pixel value (0-255)")
    ax.set_ylim(0, 255)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig, table


def class_counts(labels, n_classes: int) -> np.ndarray:
    """Return the number of images of each class, shape (n_classes,)."""
    return np.bincount(np.asarray(labels).astype(int).ravel(), minlength=n_classes)


def plot_class_balance(counts: dict[str, Sequence[int]], class_names: Sequence[str], title: str = "Class balance"):
    """Bar chart of images per class for one or more named label sets; return the Figure."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(counts))
    for i, (name, values) in enumerate(counts.items()):
        x = np.arange(len(class_names)) + (i - (len(counts) - 1) / 2) * width
        ax.bar(x, values, width, label=name)
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_attribute_histograms(attributes: dict, labels, class_names: Sequence[str], keys: Sequence[str] | None = None):
    """Histogram each numeric attribute per class (one panel per attribute); return the Figure."""
    labels = np.asarray(labels)
    keys = list(keys or [k for k, v in attributes.items() if np.asarray(v).dtype.kind in "fiu"])
    cols = min(3, len(keys))
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes.flat, keys):
        values = np.asarray(attributes[key], dtype=float)
        bins = np.histogram_bin_edges(values, bins=min(20, max(5, len(np.unique(values)))))
        for c, name in enumerate(class_names):
            sel = values[labels == c]
            if len(sel):
                ax.hist(sel, bins=bins, histtype="step", linewidth=1.5, color=cmap(c), label=name)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel(key)
        ax.set_ylabel("images")
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Ground-truth attributes per class")
    finish(fig)
    return fig


def plot_value_histogram(tensor, title: str = "Pixel values after normalisation"):
    """Histogram of all values of a tensor/array (e.g. images in [-1, 1]); return the Figure."""
    values = tensor.detach().float().cpu().numpy().ravel() if isinstance(tensor, torch.Tensor) else np.asarray(tensor).ravel()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=64, color="tab:gray")
    ax.set_title(title)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("count")
    return fig
