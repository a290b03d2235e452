"""Figures for the notebooks: image grids, loss curves, colour statistics.

Every function returns the matplotlib Figure it drew, so a notebook can show
it inline and a script can save it (``fig.savefig(...)``). Images may be given
as uint8 arrays (N, H, W, 3) or as float tensors (N, 3, H, W) in [-1, 1]; both
are converted by :func:`to_uint8_images`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_uint8_images(images) -> np.ndarray:
    """Return images as a uint8 array (N, H, W, 3) from uint8 NHWC or float NCHW in [-1, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype == np.uint8:
        return images if images.shape[-1] in (1, 3) else images.transpose(0, 2, 3, 1)
    if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    images = (np.clip(images, -1.0, 1.0) + 1.0) * 127.5
    out = np.round(images).astype(np.uint8)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out


def image_grid(images, nrow: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Return one uint8 image (H, W, 3) tiling ``images`` in rows of ``nrow``."""
    imgs = to_uint8_images(images)
    n, h, w, c = imgs.shape
    ncol = min(nrow, n)
    nrows = int(np.ceil(n / ncol))
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, np.uint8)
    for i, img in enumerate(imgs):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = img
    return grid


def show_images(images, nrow: int = 8, title: str | None = None, ax=None, figsize_per_image: float = 1.0):
    """Draw an image grid and return the Figure."""
    grid = image_grid(images, nrow=nrow)
    if ax is None:
        n = len(to_uint8_images(images))
        cols = min(nrow, n)
        rows = int(np.ceil(n / cols))
        fig, ax = plt.subplots(figsize=(max(3.0, cols * figsize_per_image), max(2.0, rows * figsize_per_image)))
    else:
        fig = ax.figure
    ax.imshow(grid)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_curves(
    series: dict[str, Sequence[float]],
    title: str = "Training curves",
    xlabel: str = "step",
    ylabel: str = "value",
    smooth: int = 1,
    ax=None,
):
    """Plot named curves (optionally smoothed by a running mean of ``smooth`` points); return the Figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    for name, values in series.items():
        y = np.asarray(values, dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(y)) + (smooth - 1 if smooth > 1 else 0), y, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def channel_means(images) -> np.ndarray:
    """Return the mean R, G, B value (0-255) of each image, shape (N, 3)."""
    return to_uint8_images(images).reshape(len(to_uint8_images(images)), -1, 3).mean(axis=1)


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
