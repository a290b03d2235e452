"""Figures that compare generator families with real images in the evaluation notebook: one distance
per family with its bootstrap interval against the real-vs-real floor, and lesion-morphology histograms
(area, eccentricity, border, colours) of real and generated sets overlaid.
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from .layout import finish


def plot_morphology_histograms(real: dict, generated: dict[str, dict], title: str = "Lesion morphology, real vs generated"):
    """Overlay per-attribute histograms (area, eccentricity, border, colours) of real and generated sets; return the Figure."""
    from ..metrics.morphology import MORPHOLOGY_ATTRIBUTES

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
