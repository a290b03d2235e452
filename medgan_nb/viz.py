"""Figures for the notebooks: image grids, loss curves, colour statistics.

Every function returns the matplotlib Figure it drew, so a notebook can show
it inline and a script can save it (``fig.savefig(...)``). Images may be given
as uint8 arrays (N, H, W, 3) or as float tensors (N, 3, H, W) in [-1, 1]; both
are converted by :func:`to_uint8_images`.
"""
from __future__ import annotations

import math
import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data.transforms import to_uint8_images
from .models.sampling import sample_images



def finish(fig):
    """Lay ``fig`` out tightly and leave room above the axes for its suptitle; return the Figure.

    ``tight_layout`` alone ignores a suptitle, which then overlaps the top row's titles; the room left is
    the suptitle's own height (its lines at its font size) plus a small gap.
    """
    top = 1.0
    title = getattr(fig, "_suptitle", None)  # matplotlib's suptitle Text (no public getter of the Text itself)
    if title is not None and title.get_text():
        needed = (title.get_text().count("\n") + 1) * title.get_fontsize() * 1.35 / 72 + 0.12  # inches
        top = max(0.5, 1 - needed / fig.get_figheight())
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def finish_log_axes(ax, xlabel: str, ylabel: str, title: str):
    """Label a log-scale axis the kit's way (labels, title, grid on major and minor ticks, small legend); return its Figure laid out."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


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


# --- dataset tour (notebook 00) ----------------------------------------------------

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


def class_counts(labels, n_classes: int) -> np.ndarray:
    """Return the number of images of each class, shape (n_classes,)."""
    return np.bincount(np.asarray(labels).astype(int).ravel(), minlength=n_classes)


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


def plot_value_histogram(tensor, title: str = "Pixel values after normalisation"):
    """Histogram of all values of a tensor/array (e.g. images in [-1, 1]); return the Figure."""
    values = tensor.detach().float().cpu().numpy().ravel() if isinstance(tensor, torch.Tensor) else np.asarray(tensor).ravel()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=64, color="tab:gray")
    ax.set_title(title)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("count")
    return fig


# ----------------------------------------------------------------------------
# Architecture tables, training progress, latent space, nearest neighbours
# ----------------------------------------------------------------------------

def layer_summary(model: torch.nn.Module, example_input: torch.Tensor):
    """Return a pandas DataFrame (layer, type, output shape, parameters) from one forward pass with hooks."""
    import pandas as pd

    rows: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) > 0:
            continue  # only leaf layers (Conv, BatchNorm, ReLU...), not the containers around them

        def record(mod, inputs, output, name=name):
            rows.append({
                "layer": name,
                "type": type(mod).__name__,
                "output shape": tuple(output.shape[1:]),  # per image: the batch dimension is left out
                "parameters": sum(p.numel() for p in mod.parameters(recurse=False)),
            })

        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()  # BatchNorm in eval mode: one example image is enough
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    table = pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])
    total = pd.DataFrame([{"layer": "total", "type": "", "output shape": "",
                           "parameters": int(table["parameters"].sum())}])
    return pd.concat([table, total], ignore_index=True)


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


def slerp(z_start: torch.Tensor, z_end: torch.Tensor, t: float) -> torch.Tensor:
    r"""Return the spherical interpolation :math:`\frac{\sin((1-t)\Omega)}{\sin\Omega} z_0 + \frac{\sin(t\Omega)}{\sin\Omega} z_1`."""
    cos_omega = torch.dot(z_start / z_start.norm(), z_end / z_end.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos_omega)  # the angle between the two latent vectors
    if omega.abs() < 1e-6:  # (almost) the same direction: plain linear interpolation is exact enough
        return (1 - t) * z_start + t * z_end
    return (torch.sin((1 - t) * omega) * z_start + torch.sin(t * omega) * z_end) / torch.sin(omega)


def interpolate_latents(z_start: torch.Tensor, z_end: torch.Tensor, n_steps: int = 8, method: str = "slerp") -> torch.Tensor:
    """Return ``n_steps`` latent vectors (n_steps, d) from z_start to z_end, by 'slerp' or 'lerp'."""
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2 (both end points), got {n_steps}")
    z_start, z_end = z_start.flatten().float(), z_end.flatten().float()
    ts = torch.linspace(0.0, 1.0, n_steps)
    if method == "lerp":
        return torch.stack([(1 - t) * z_start + t * z_end for t in ts])
    return torch.stack([slerp(z_start, z_end, float(t)) for t in ts])


def plot_latent_interpolation(generator: torch.nn.Module, z_start: torch.Tensor, z_end: torch.Tensor,
                              n_steps: int = 8, method: str = "slerp", title: str | None = None):
    """Draw G(z) along the path from z_start to z_end as one strip; return the Figure."""
    path = interpolate_latents(z_start, z_end, n_steps, method)
    images = sample_images(generator, path)
    fig, ax = plt.subplots(figsize=(1.2 * n_steps, 2.1))
    ax.imshow(image_grid(images, nrow=n_steps))
    ax.set_yticks([])
    size = images.shape[-1] + 2  # image width plus the grid padding
    ax.set_xticks([2 + size * i + size / 2 - 1 for i in range(n_steps)], [f"{t:.2f}" for t in torch.linspace(0, 1, n_steps).tolist()])
    ax.set_xlabel(f"interpolation weight t ({method}: t = 0 is z_start, t = 1 is z_end)")
    ax.set_title(title or f"Walking through the latent space ({method})")
    fig.tight_layout()
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


# ----------------------------------------------------------------------------
# Live training curves (a train_gan callback)
# ----------------------------------------------------------------------------

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


def plot_morphology_histograms(real: dict, generated: dict[str, dict], title: str = "Lesion morphology, real vs generated"):
    """Overlay per-attribute histograms (area, eccentricity, border, colours) of real and generated sets; return the Figure."""
    from .metrics.morphology import MORPHOLOGY_ATTRIBUTES

    units = {"area": "share of the image", "eccentricity": "0 = disc, 1 = line",
             "border_irregularity": "P² / (4πA), 1 = disc", "n_colours": "dermoscopic colours"}
    fig, axes = plt.subplots(1, len(MORPHOLOGY_ATTRIBUTES), figsize=(4.0 * len(MORPHOLOGY_ATTRIBUTES), 3.2))
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes, MORPHOLOGY_ATTRIBUTES):
        sets = {"real": real, **generated}
        values = {name: np.asarray(attrs[key], float) for name, attrs in sets.items()}
        pooled = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        if key == "n_colours":
            bins = np.arange(-0.5, 7.5, 1.0)
        else:
            bins = np.histogram_bin_edges(pooled, bins=20) if len(pooled) else 10
        for i, (name, v) in enumerate(values.items()):
            v = v[np.isfinite(v)]
            if len(v):
                ax.hist(v, bins=bins, density=True, histtype="stepfilled" if name == "real" else "step",
                        alpha=0.35 if name == "real" else 1.0, linewidth=1.5, color="grey" if name == "real" else cmap(i - 1),
                        label=name)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel(units[key])
        ax.set_ylabel("density")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    finish(fig)
    return fig


def plot_distance_bars(table: dict[str, dict], key: str = "fd", floor: dict | None = None,
                       ylabel: str = "Fréchet distance (feature units²)", title: str = "Distance to held-out real images"):
    """Bar chart of one distance per family with its interval (``key``_low/_high) and the real-vs-real floor band; return the Figure."""
    names = list(table)
    values = np.array([table[n][key] for n in names], float)
    low = np.array([table[n].get(f"{key}_low", table[n][key]) for n in names], float)
    high = np.array([table[n].get(f"{key}_high", table[n][key]) for n in names], float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2) + 2.5, 3.8))  # + the legend beside the axes
    errors = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
    ax.bar(names, values, yerr=errors, capsize=3, color="tab:blue", alpha=0.8, label="generated (95% bootstrap interval)")
    if floor is not None:
        ax.axhspan(floor.get(f"{key}_low", floor[key]), floor.get(f"{key}_high", floor[key]), color="tab:green", alpha=0.25)
        ax.axhline(floor[key], color="tab:green", linewidth=1.5, label="real vs real floor (band: interval)")
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("family")
    ax.set_title("\n".join(textwrap.wrap(title, 55)), fontsize=10)  # a long feature-space name must not be cut off
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the bars, never on them
    fig.tight_layout()
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
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 1.9 * rows + 0.4), squeeze=False)
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
