r"""Notebook 05, progressive growing: the schedule, samples per stage, and whether a new stage keeps the layout.

:func:`stage_list` and :func:`plot_schedule` show the resolution :math:`r` and
fade-in :math:`\alpha` of a progressive schedule step by step;
:class:`StageRecorder`, a ``train_gan`` callback, keeps samples of a fixed
:math:`z` with :math:`(r, \alpha)` at every stage change and every few steps, and
:func:`plot_stage_samples` draws them. :func:`layout_kept` compares the samples
average-pooled to :math:`4\times4` from stage to stage (the same :math:`z` against
itself and against the other :math:`z`), and :func:`layout_verdict` says at which
stage changes the layout was kept.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ...models.sampling import sample_images
from ... import viz
from ...viz import image_grid


def stage_list(schedule, total_steps: int) -> list[dict[str, Any]]:
    """Return one entry per resolution of the schedule: resolution, first and last step, fade-in steps."""
    stages: list[dict[str, Any]] = []
    for step in range(1, total_steps + 1):
        resolution, alpha = schedule.stage_at(step, total_steps)
        if not stages or stages[-1]["resolution"] != resolution:
            stages.append({"resolution": resolution, "first_step": step, "last_step": step, "fade_steps": 0})
        stages[-1]["last_step"] = step
        stages[-1]["fade_steps"] += int(alpha < 1.0)
    return stages


def plot_schedule(schedule, total_steps: int):
    """Draw the resolution (left axis) and fade-in alpha (right axis) over the steps of a run; return the Figure."""
    steps = np.arange(1, total_steps + 1)
    stages = [schedule.stage_at(int(s), total_steps) for s in steps]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.step(steps, [r for r, _ in stages], where="post", color="tab:blue", label="resolution")
    ax.set_yscale("log", base=2)
    resolutions = sorted({r for r, _ in stages})
    ax.set_yticks(resolutions, [str(r) for r in resolutions])
    ax.set_xlabel("training step")
    ax.set_ylabel("resolution (px)", color="tab:blue")
    twin = ax.twinx()
    twin.plot(steps, [a for _, a in stages], color="tab:orange", label="alpha")
    twin.set_ylabel("fade-in alpha", color="tab:orange")
    twin.set_ylim(-0.05, 1.05)
    ax.set_title("Progressive schedule: resolution and fade-in alpha per step")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


class StageRecorder:
    """A train_gan callback keeping samples of fixed z with (step, resolution, alpha) at stage changes and every ``every`` steps."""

    def __init__(self, every: int, n_images: int = 6, seed: int = 0) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1 step, got {every}")
        self.every, self.n_images, self.seed = every, n_images, seed
        self.records: list[dict[str, Any]] = []  # {"step", "resolution", "alpha", "images"}

    def __call__(self, step: int, state) -> None:
        generator = state.generator
        stage = (generator.resolution, round(generator.alpha, 4))
        changed = not self.records or self.records[-1]["resolution"] != stage[0]
        if not (changed or step % self.every == 0 or step == state.total_steps):
            return
        z = torch.randn(self.n_images, generator.latent_dim, generator=torch.Generator().manual_seed(self.seed))
        self.records.append({"step": step, "resolution": stage[0], "alpha": stage[1],
                             "images": sample_images(generator, z)})

    def fade_records(self, resolution: int) -> list[dict[str, Any]]:
        """Return the records taken while ``resolution`` faded in, plus the first one at alpha = 1 after it."""
        at = [r for r in self.records if r["resolution"] == resolution]
        fading = [r for r in at if r["alpha"] < 1.0]
        after = [r for r in at if r["alpha"] >= 1.0][:1]
        return fading + after

    def last_fade(self) -> list[dict[str, Any]]:
        """Return :meth:`fade_records` of the largest resolution that was recorded while fading in (none: [])."""
        faded = [r["resolution"] for r in self.records if r["alpha"] < 1.0]
        return self.fade_records(max(faded)) if faded else []

    def last_per_stage(self) -> list[dict[str, Any]]:
        """Return the last record of every resolution (the end of each stage)."""
        last: dict[int, dict[str, Any]] = {}
        for record in self.records:
            last[record["resolution"]] = record
        return [last[r] for r in sorted(last)]


def layout_kept(records: Sequence[dict[str, Any]], size: int = 4) -> list[dict[str, Any]]:
    """Return, per pair of consecutive stage records, the RMS difference of size x size average-pooled images.

    ``same_z``: each z against itself at the next stage (the layout drifts); ``other_z``: against the
    other z's at the next stage (how different two layouts are). same_z well below other_z means the
    next stage kept the layout of the previous one.
    """
    pairs = []
    for before, after in zip(records, records[1:]):
        coarse_before = nn.functional.adaptive_avg_pool2d(before["images"].float(), size)
        coarse_after = nn.functional.adaptive_avg_pool2d(after["images"].float(), size)
        distances = torch.cdist(coarse_before.flatten(1), coarse_after.flatten(1)) / coarse_before[0].numel() ** 0.5
        same = distances.diagonal()
        other = distances[~torch.eye(len(distances), dtype=torch.bool)]
        pairs.append({"from": before["resolution"], "to": after["resolution"],
                      "same_z": float(same.mean()), "other_z": float(other.mean())})
    return pairs


def layout_verdict(pairs: Sequence[dict[str, Any]], bar: float = 0.5) -> str:
    """Return a printed line: at which stage changes the layout (same z) moved less than ``bar`` x the other-z distance."""
    ratios = {f"{p['from']}->{p['to']} px": p["same_z"] / max(p["other_z"], 1e-12) for p in pairs}
    kept = [change for change, ratio in ratios.items() if ratio < bar]
    moved = [change for change, ratio in ratios.items() if ratio >= bar]
    listed = ", ".join(f"{change} {ratio:.2f}" for change, ratio in ratios.items())
    return (f"same-z change / other-z difference of the 4x4 layout: {listed}; layout kept (< {bar:g}): "
            f"{', '.join(kept) or 'none'}" + (f"; layout changed: {', '.join(moved)}" if moved else ""))


def plot_stage_samples(records: Sequence[dict[str, Any]], title: str):
    """Draw one row per record (label: step, resolution, alpha), the same z in every column; return the Figure."""
    if not records:
        raise ValueError("no records to draw; train with a StageRecorder callback first")
    n_show = len(records[0]["images"])
    fig, axes = plt.subplots(len(records), 1, figsize=(1.1 * n_show + 1.6, 1.15 * len(records) + 0.7), squeeze=False)
    for ax, record in zip(axes[:, 0], records):
        ax.imshow(image_grid(record["images"], nrow=n_show))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"step {record['step']}\n{record['resolution']} px, a={record['alpha']:.2f}",
                      rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{title}\n(rows: training step, resolution, fade-in alpha a; columns: fixed z)", fontsize=10)
    viz.finish(fig)
    return fig
