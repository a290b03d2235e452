r"""Notebook 05, progressive growing: the schedule, samples per stage, and whether a new stage keeps the layout.

:func:`stage_list` and :func:`plot_schedule` show the resolution :math:`r` and
fade-in :math:`\alpha` of a progressive schedule step by step;
:class:`StageRecorder`, a ``train_gan`` callback, keeps samples of a fixed
:math:`z` with :math:`(r, \alpha)` at every stage change and every few steps, and
:func:`plot_stage_samples` draws them. :func:`layout_kept` compares the samples
average-pooled to :math:`4\times4` from stage to stage (the same :math:`z` against
itself and against the other :math:`z`), with a bootstrap interval over the
:math:`z`, and :func:`layout_verdict` says at which stage changes the layout was
kept, partly kept or redrawn. :class:`StageSnapshots` keeps a run's generator at
the end of every stage, so a finished (or shipped) run can be asked the same
question from many :math:`z` (:func:`stage_generators`, :func:`stage_records`).
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ...models.progressive import stage_generators  # noqa: F401  (re-exported: notebook 05's stage tools)
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


class StageSnapshots:
    """A train_gan callback keeping the weights of the generator one samples (the EMA copy when the run keeps one)
    as they stand at the end of every stage of a progressive run, in ``states[resolution]``.

    With them a finished run can be drawn again at every stage it passed, from any number of z: load a state into a
    generator of the same build and ``set_stage(resolution, 1.0)`` (:func:`stage_generators` does both;
    :func:`stage_records` draws them).
    """

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, step: int, state) -> None:
        source = state.ema_generator if state.ema_generator is not None else state.generator
        # overwritten every step, so each resolution keeps its last step's weights (a small model: cheap copies)
        self.states[state.generator.resolution] = {k: v.detach().clone() for k, v in source.state_dict().items()}


def stage_records(generators: Sequence[nn.Module], n_images: int, seed: int = 0) -> list[dict[str, Any]]:
    """Return one record per stage generator (coarse to fine, each set to its stage): the samples of the same z."""
    if not generators:
        raise ValueError("no stage generators to draw; pass the generators of a progressive run's stages")
    z = torch.randn(n_images, generators[0].latent_dim, generator=torch.Generator().manual_seed(seed))
    return [{"step": None, "resolution": g.resolution, "alpha": g.alpha, "images": sample_images(g, z)}
            for g in generators]


def layout_kept(records: Sequence[dict[str, Any]], size: int = 4, level: float = 0.95, n_boot: int = 1000,
                seed: int = 0) -> list[dict[str, Any]]:
    """Return, per pair of consecutive stage records, how far the size x size layout of each z moved, with an interval.

    Each record's images are average-pooled to ``size`` x ``size``. ``same_z``: the mean RMS change of each z
    against itself at the next stage (the layout drifts); ``other_z``: the mean RMS difference against the other
    z's at the next stage (how different two layouts are). ``ratio`` = same_z / other_z is 0 when every z kept its
    layout and about 1 when the next stage drew layouts unrelated to the last; ``ratio_low``/``ratio_high`` are its
    percentile bootstrap interval at ``level`` over the z (resampled with replacement, ``scipy.stats.bootstrap``).
    """
    from scipy.stats import bootstrap

    pairs = []
    for before, after in zip(records, records[1:]):
        coarse_before = nn.functional.adaptive_avg_pool2d(before["images"].float(), size)
        coarse_after = nn.functional.adaptive_avg_pool2d(after["images"].float(), size)
        distances = torch.cdist(coarse_before.flatten(1), coarse_after.flatten(1)) / coarse_before[0].numel() ** 0.5
        n = len(distances)
        if n < 2:
            raise ValueError(f"layout_kept needs at least 2 z per record to compare a z with the others, got {n}")
        same = distances.diagonal().numpy()
        other = ((distances.sum(1) - distances.diagonal()) / (n - 1)).numpy()  # each z against the other z's
        ratio = float(same.mean() / other.mean())
        interval = bootstrap((same, other), lambda s, o: s.mean() / o.mean(), paired=True, vectorized=False,
                             n_resamples=n_boot, confidence_level=level, method="percentile",
                             random_state=np.random.default_rng(seed)).confidence_interval
        pairs.append({"from": before["resolution"], "to": after["resolution"], "same_z": float(same.mean()),
                      "other_z": float(other.mean()), "ratio": ratio, "ratio_low": float(interval.low),
                      "ratio_high": float(interval.high), "n_z": n})
    return pairs


def layout_verdict(pairs: Sequence[dict[str, Any]], bar: float = 0.5) -> str:
    """Return a printed line: per stage change, whether the layout was kept, partly kept or redrawn, by its interval.

    kept: the whole interval of the ratio lies below ``bar``; partly kept: it lies below 1 (the layouts are
    related) but not wholly below ``bar``; redrawn: the interval reaches 1 (no sign of the last stage's layout).
    """
    groups: dict[str, list[str]] = {"kept": [], "partly kept": [], "redrawn": []}
    listed = []
    for p in pairs:
        change = f"{p['from']}->{p['to']} px"
        listed.append(f"{change} {p['ratio']:.2f} [{p['ratio_low']:.2f}, {p['ratio_high']:.2f}]")
        kind = "kept" if p["ratio_high"] < bar else "partly kept" if p["ratio_high"] < 1.0 else "redrawn"
        groups[kind].append(change)
    return (f"same-z change / other-z difference of the 4x4 layout (0 = kept, 1 = unrelated; 95% interval over "
            f"{pairs[0]['n_z'] if pairs else 0} z): {'; '.join(listed)}. Layout kept (< {bar:g}): "
            f"{', '.join(groups['kept']) or 'none'}; partly kept (below 1): {', '.join(groups['partly kept']) or 'none'}; "
            f"redrawn: {', '.join(groups['redrawn']) or 'none'}")


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
        label = (f"step {record['step']}\n{record['resolution']} px, a={record['alpha']:.2f}" if record["step"] is not None
                 else f"end of the\n{record['resolution']} px stage")  # a stage snapshot (stage_records)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    rows = ("training step, resolution, fade-in alpha a" if records[0]["step"] is not None
            else "the generator at the end of each stage")
    fig.suptitle(f"{title}\n(rows: {rows}; columns: fixed z)", fontsize=10)
    viz.finish(fig)
    return fig
