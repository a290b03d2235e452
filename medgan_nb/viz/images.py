"""Figures of images: a tiled grid as one array (:func:`image_grid`) and drawn (:func:`show_images`),
panels of grids, one-row strips per named set or family, the dataset tour's lesion gallery with mask
outlines, before/after pairs and generated images beside their nearest training images.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.transforms import to_uint8_images
from .layout import finish


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
    imgs = to_uint8_images(images)
    grid = image_grid(imgs, nrow=nrow)
    if ax is None:
        n = len(imgs)
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


def plot_lesion_gallery(images, masks, labels, class_names: Sequence[str], per_class: int = 6, outline: bool = True):
    """Draw ``per_class`` images of every class in one row each, lesion masks outlined; return the Figure."""
    from skimage.segmentation import find_boundaries

    imgs = to_uint8_images(images)
    labels = np.asarray(labels)
    masks = None if masks is None else np.asarray(masks, dtype=bool)
    n_classes = len(class_names)
    fig, axes = plt.subplots(n_classes, per_class, figsize=(per_class * 1.25, n_classes * 1.3), squeeze=False)
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(idx):
                img = imgs[idx[j]].copy()
                if outline and masks is not None:
                    edge = find_boundaries(masks[idx[j]], mode="inner")
                    img[edge] = (0, 255, 0)  # green outline = the ground-truth mask
                ax.imshow(img)
            else:
                ax.set_axis_off()
            if j == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("One row per class" + (" (green: lesion mask outline)" if outline and masks is not None else ""))
    finish(fig)
    return fig


def plot_before_after(before, after, titles: tuple[str, str] = ("before", "after"), suptitle: str | None = None):
    """Show image pairs: top row ``before``, bottom row ``after``; return the Figure."""
    b, a = to_uint8_images(before), to_uint8_images(after)
    n = len(b)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.5), squeeze=False)
    for j in range(n):
        for row, (imgs, label) in enumerate(((b, titles[0]), (a, titles[1]))):
            axes[row, j].imshow(imgs[j])
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
            if j == 0:
                axes[row, j].set_ylabel(label)
    if suptitle:
        fig.suptitle(suptitle)
    finish(fig)
    return fig


def plot_nearest_neighbours(queries, references, indices, distances,
                            title: str = "Generated image (top) and its nearest training image (bottom)",
                            distance_label: str = "root-mean-square pixel difference, pixels in [-1, 1]"):
    """Draw each query above its nearest reference, labelled with their distance; return the Figure."""
    query_images = to_uint8_images(queries)
    nearest_images = to_uint8_images(references[torch.as_tensor(indices).reshape(len(query_images), -1)[:, 0]])
    distances = torch.as_tensor(distances).reshape(len(query_images), -1)[:, 0]
    n = len(query_images)
    fig, axes = plt.subplots(2, n, figsize=(1.45 * n, 3.4), squeeze=False)
    for j in range(n):
        for row, images in enumerate((query_images, nearest_images)):
            axes[row, j].imshow(images[j])
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
        axes[1, j].set_xlabel(f"d = {float(distances[j]):.3f}")
    axes[0, 0].set_ylabel("generated")
    axes[1, 0].set_ylabel("nearest\ntraining")
    fig.suptitle(f"{title}\n(d: {distance_label})", fontsize=10)
    finish(fig)
    return fig


def plot_family_samples(samples: dict[str, object], captions: dict[str, str] | None = None, n: int = 8,
                        title: str = "Samples of every family beside its numbers"):
    """One row of ``n`` images per family (first row usually real), each captioned with its numbers; return the Figure."""
    captions = captions or {}
    fig, axes = plt.subplots(len(samples), 1, figsize=(1.1 * n + 3.5, 1.25 * len(samples)), squeeze=False)
    for ax, (name, images) in zip(axes[:, 0], samples.items()):
        ax.imshow(image_grid(to_uint8_images(images)[:n], nrow=n))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_title(captions.get(name, ""), fontsize=8, loc="left")
    fig.suptitle(title)
    finish(fig)
    return fig


def plot_sample_grids(groups: dict[str, torch.Tensor], n_show: int = 16, nrow: int = 8, columns: int = 2,
                      title: str = "Samples (same z in every panel)"):
    """Draw one sample grid per named image set, ``columns`` panels per row; return the Figure."""
    names = list(groups)
    rows = math.ceil(len(names) / columns)
    grid_rows = math.ceil(min(n_show, max(len(images) for images in groups.values())) / nrow)
    panel_height = 6 * grid_rows / nrow + 0.6  # the grid at its aspect in a 6-inch-wide panel, plus its title
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, panel_height * rows + 0.5), squeeze=False)
    for ax, name in zip(axes.flat, names):
        show_images(groups[name][:n_show], nrow=nrow, ax=ax, title=name)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    fig.suptitle(title)
    finish(fig)
    return fig


def plot_image_rows(rows: dict[str, torch.Tensor], n: int = 8, title: str = "", outline_masks: torch.Tensor | None = None):
    """Return a figure with one row of ``n`` images per entry of ``rows`` (the row names on the left)."""
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows) + 0.6), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        pictures = to_uint8_images(images[:n])
        for i in range(n):
            axes[r, i].imshow(pictures[i])
            if outline_masks is not None:
                axes[r, i].contour(outline_masks[i].float().numpy(), levels=[0.5], colors="lime", linewidths=0.8)
            axes[r, i].set_xticks([]), axes[r, i].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title)
    finish(fig)
    return fig
