"""Figures of training progress: named curves, a GAN run's losses and discriminator outputs from its
History, samples of fixed z over training, and :func:`live_plot`, the train_gan callback that redraws the
history in place inside a notebook (a no-op elsewhere). The engine only reports; drawing happens here.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .images import image_grid
from .layout import finish


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


def plot_gan_history(history, smooth: int = 1):
    """Two panels from a training History (or its dict of lists): losses, and D(x) / D(G(z)) per step; return the Figure."""
    columns = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    kind = getattr(history, "d_output", "probability")
    steps = np.asarray(columns["step"], dtype=float)
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(11, 3.5))

    def running_mean(values):
        y = np.asarray(values, dtype=float)
        if smooth > 1 and len(y) >= smooth:
            return steps[smooth - 1 :], np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        return steps, y

    for name, label in (("loss_d", "discriminator loss L_D"), ("loss_g", "generator loss L_G")):
        ax_loss.plot(*running_mean(columns[name]), label=label)
    ax_loss.set_title("Losses")
    ax_loss.set_xlabel("generator step")
    ax_loss.set_ylabel("loss (nats)" if kind == "probability" else "loss (critic units)")
    for name, label in (("d_real", "D(x), real"), ("d_fake", "D(G(z)), fake")):
        ax_d.plot(*running_mean(columns[name]), label=label)
    if kind == "probability":
        ax_d.axhline(0.5, color="grey", linestyle=":", label="0.5 = cannot tell")
        ax_d.set_ylim(-0.02, 1.02)
    ax_d.set_title("Discriminator outputs (batch means)")
    ax_d.set_xlabel("generator step")
    ax_d.set_ylabel("probability of 'real'" if kind == "probability" else "critic output (raw)")
    for ax in (ax_loss, ax_d):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_samples_over_training(samples: Sequence, n_show: int = 8, title: str = "Samples over training (each column keeps its z)"):
    """Draw one row of ``n_show`` images per (step, images) pair, earliest at the top; return the Figure."""
    if not samples:
        raise ValueError("samples is empty; train with sample_every > 0 so the engine keeps snapshots")
    rows = len(samples)
    fig, axes = plt.subplots(rows, 1, figsize=(1.1 * n_show, 1.25 * rows + 0.6), squeeze=False)
    for ax, (step, images) in zip(axes[:, 0], samples):
        ax.imshow(image_grid(images[:n_show], nrow=n_show))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"step {step}", rotation=0, ha="right", va="center")
    fig.suptitle(title)
    finish(fig)
    return fig


def _in_notebook() -> bool:
    """Return True inside a Jupyter kernel (notebook, JupyterLab, Colab, papermill)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab


def live_plot(every: int = 50, smooth: int = 1):
    """Return a train_gan callback that redraws loss curves and D outputs every ``every`` steps in a notebook (no-op elsewhere).

    The engine only reports (``state.history``, ``state.total_steps``); drawing is this module's job.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1 step, got {every}")
    handle: dict = {}

    def callback(step: int, state) -> None:
        if (step % every and step != state.total_steps) or not len(state.history) or not _in_notebook():
            return
        from IPython.display import display

        figure = plot_gan_history(state.history, smooth=smooth)
        # one display slot updated in place (clear_output would also wipe the progress bar)
        if "display" not in handle:
            handle["display"] = display(figure, display_id=True)
        else:
            handle["display"].update(figure)
        plt.close(figure)

    return callback
