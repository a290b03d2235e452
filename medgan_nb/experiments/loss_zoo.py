r"""The loss zoo (notebook 03): six GAN losses on one DCGAN backbone, a small-data run with DiffAugment, checkerboards.

Three experiments, each a few functions the notebook calls:

1. **Which loss, at what cost.** Every registered loss family (``LOSS_ZOO``)
   is trained on the same data, with the same generator (same architecture,
   same initial weights) and the same number of generator steps. A step is
   :math:`n_{critic}` critic updates and one generator update, so the two
   Wasserstein critics (:math:`n_{critic} = 5`) do five times the critic work
   per step; the table reports both images/s and milliseconds per step so
   that cost and quality (the Fréchet distance to held-out real images) are
   read together. For a Wasserstein critic the history's
   :math:`\mathbb{E}[D(x)] - \mathbb{E}[D(G(z))]` is the estimate of the
   Wasserstein-1 distance :math:`W(p_{data}, p_G)`.

2. **Small data and DiffAugment.** On a few hundred images the discriminator
   memorises its training set. :class:`DiscriminatorMonitor` (a ``train_gan``
   callback) records, every :math:`k` steps, :math:`D`'s mean output on a
   fixed subset of *training* images and of *held-out* images; a growing gap
   :math:`\bar D_{train} - \bar D_{held-out}` is overfitting (Karras et al.
   2020, ADA, figure 1; Zhao et al. 2020, DiffAugment).

3. **Checkerboard artefacts.** A stride-2 transposed convolution builds each
   2×2 output cell from four different slices of its kernel (Odena, Dumoulin
   & Olah 2016); :func:`upsampling_response` shows the pattern on a constant
   input, and the notebook compares the generator's ``upsample="transposed"``
   and ``"resize"`` variants through the power spectrum
   (:mod:`medgan_nb.metrics.spectrum`).

This module sits on top (it trains with :mod:`medgan_nb.train`, measures with
:mod:`medgan_nb.metrics`, draws with :mod:`medgan_nb.viz`).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import viz
from ..augment import parse_policy
from ..metrics.bootstrap import bootstrap_interval, frechet_errors, frechet_se
from ..metrics.fid import features_of
from ..metrics.spectrum import high_frequency_error, radial_power_spectrum
from ..metrics.uncertainty import comparison_sentence, differs, lowest_sentence, mean_se
from ..models import build_family, get_family
from ..models.dcgan import weights_init
from ..train import TrainResult
from .families import FamilyRun, train_family

Tensor = torch.Tensor

LOSS_ZOO = ("dcgan", "lsgan", "wgan", "wgan-gp", "hinge-sn", "r1")  # the six losses on the DCGAN backbone
DIFFAUGMENT_POLICY = "color,translation,cutout"


# ----------------------------------------------------------------------------
# 1. Training the zoo
# ----------------------------------------------------------------------------

def same_generator_weights(seed: int):
    """Return a ``prepare`` hook for train_family that re-draws G's weights from ``seed``: the same G for every family."""
    def prepare(generator: nn.Module, discriminator: nn.Module) -> None:
        # Building D uses a family-dependent number of random numbers (spectral norm, batch norm or not), so G is
        # re-initialised from the seed afterwards: all six families share G's architecture and now its weights too.
        torch.manual_seed(seed)
        generator.apply(weights_init)
    return prepare


def build_models(name: str, image_size: int, width: int, seed: int, **build_options) -> tuple[nn.Module, nn.Module]:
    """Return a family's freshly built (G, D), with G's weights drawn from ``seed``: the same G for every family."""
    generator, discriminator = build_family(name, image_size=image_size, width=width, **build_options)
    same_generator_weights(seed)(generator, discriminator)
    return generator, discriminator


def train_zoo_member(name: str, images: Tensor, heldout: Tensor | None = None, *, seed: int = 0,
                     **train_options) -> FamilyRun:
    """Return train_family's run of one loss on the DCGAN backbone, G's weights shared by the zoo (no sample grids)."""
    return train_family(name, images, heldout=heldout, seed=seed, init_seed=None, prepare=same_generator_weights(seed),
                        measure_untrained=False, **{"sample_every": 0, **train_options})


def run_loss_zoo(images: Tensor, heldout: Tensor, names: Sequence[str] = LOSS_ZOO, *, seed: int = 0,
                 **train_options) -> dict[str, FamilyRun]:
    """Return name -> FamilyRun for each family trained on ``images`` and scored against ``heldout``."""
    for name in names:
        get_family(name)  # an unknown name fails here, before any training, with the list of known ones
    entries: dict[str, FamilyRun] = {}
    for number, name in enumerate(names, start=1):
        entries[name] = entry = train_zoo_member(name, images, heldout, seed=seed, **train_options)
        print(f"[{number}/{len(names)}] {name:9s} Fréchet distance {entry.fd:7.3f}   {entry.images_per_second:6.0f} images/s"
              f"   {entry.seconds:5.1f} s", flush=True)
    return entries


def zoo_table(entries: dict[str, FamilyRun], fd_untrained: float, fd_floor: float,
              heldout: Tensor | None = None, seed: int = 0) -> pd.DataFrame:
    """Return one row per loss: its Fréchet distance (and share of the untrained one), speed and wall time.

    With ``heldout`` (the images each distance was measured against) the table also holds each distance's bootstrap
    standard error, ``fd se``, which :func:`zoo_verdict` needs to name a winner only beyond the noise.
    """
    fd_se = fd_errors(entries, heldout, seed) if heldout is not None else dict.fromkeys(entries, float("inf"))
    rows = []
    for name, entry in entries.items():
        result = entry.result
        rows.append({
            "loss": name, "title": get_family(name).title, "n_critic": entry.n_critic,
            "fd": entry.fd, "fd se": fd_se[name], "fd / untrained": entry.fd / fd_untrained, "fd / floor": entry.fd / fd_floor,
            "images/s": result.images_per_second,  # images D sees: batch_size x n_critic per step
            "ms / step": 1000 * result.seconds / max(result.steps, 1),  # one generator step, all its critic updates
            "train s": result.seconds,
        })
    return pd.DataFrame(rows).set_index("loss")


def zoo_verdict(table: pd.DataFrame) -> str:
    """Return the printed verdict: the loss with the lowest distance, the fastest per step, the fastest in images/s.

    The lowest distance is named a winner only when it lies beyond two standard errors (the table's ``fd se``) of
    every other loss's; otherwise the line lists the losses it cannot be told apart from. Speeds are measured
    directly and printed as they are.
    """
    quickest, busiest = table["ms / step"].idxmin(), table["images/s"].idxmax()
    reference = table["ms / step"].get("dcgan", table.loc[quickest, "ms / step"])  # cost unit: the plain DCGAN step
    reference_name = "dcgan" if "dcgan" in table.index else quickest
    costs = ", ".join(f"{name} {ms / reference:.1f}x" for name, ms in table["ms / step"].items())
    return (f"{distance_verdict(table)}\n"
            f"fastest per generator step: {quickest} ({table.loc[quickest, 'ms / step']:.0f} ms/step, "
            f"{table.loc[quickest, 'train s']:.1f} s in all)\n"
            f"most images/s through D: {busiest} ({table.loc[busiest, 'images/s']:.0f} images/s)\n"
            f"time per generator step relative to {reference_name}: {costs}")


def distance_verdict(table: pd.DataFrame) -> str:
    """Return the 'lowest distance' line of :func:`zoo_verdict`: a winner, or the losses tied with the lowest."""
    fd = table["fd"].astype(float).to_dict()
    se = (table["fd se"] if "fd se" in table else pd.Series(float("inf"), index=table.index)).astype(float).to_dict()
    notes = {name: f"{table.loc[name, 'fd / untrained']:.0%} of untrained" for name in fd}
    return lowest_sentence(fd, se, "distance", notes)


def _running_mean(steps: Sequence[float], values: Sequence[float], smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (steps, values) smoothed by a running mean over ``smooth`` records (unchanged when smooth <= 1)."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if smooth > 1 and len(values) >= smooth:
        return steps[smooth - 1:], np.convolve(values, np.ones(smooth) / smooth, mode="valid")
    return steps, values


def plot_zoo_losses(entries: dict[str, FamilyRun], smooth: int = 1):
    """Draw L_D and L_G over training, one panel per loss (each in its own units); return the Figure."""
    names = list(entries)
    columns = math.ceil(len(names) / 2)
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 6.4), squeeze=False)
    for ax, name in zip(axes.flat, names):
        history = entries[name].result.history
        for column, label in (("loss_d", "L_D (discriminator / critic)"), ("loss_g", "L_G (generator)")):
            ax.plot(*_running_mean(history["step"], history[column], smooth), label=label)
        ax.set_title(name)
        ax.set_xlabel("generator step")
        ax.set_ylabel("loss (this loss's units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    fig.suptitle("Loss curves (every loss has its own scale: compare shapes, not values across panels)")
    viz.finish(fig)
    return fig


def wasserstein_estimate(entry: FamilyRun) -> tuple[np.ndarray, np.ndarray]:
    """Return (steps, E[D(x)] - E[D(G(z))] per recorded step) of a Wasserstein critic's history."""
    if not entry.is_wasserstein:
        raise ValueError(f"{entry.name} does not train a Wasserstein critic, so d_real - d_fake estimates nothing; "
                         "use 'wgan' or 'wgan-gp'")
    history = entry.result.history
    return np.asarray(history["step"], dtype=float), np.asarray(history["d_real"]) - np.asarray(history["d_fake"])


def plot_wasserstein_estimates(entries: dict[str, FamilyRun], smooth: int = 1):
    """Draw E[D(x)] - E[D(G(z))] over training for the Wasserstein critics, one panel each; return the Figure."""
    critics = {name: entry for name, entry in entries.items() if entry.is_wasserstein}
    if not critics:
        raise ValueError(f"none of {list(entries)} trains a Wasserstein critic; include 'wgan' or 'wgan-gp'")
    fig, axes = plt.subplots(1, len(critics), figsize=(5.5 * len(critics), 3.5), squeeze=False)
    for ax, (name, entry) in zip(axes.flat, critics.items()):
        ax.plot(*_running_mean(*wasserstein_estimate(entry), smooth), color="tab:purple")  # W ~ E[D(x)] - E[D(G(z))]
        ax.set_title(f"{name}: Wasserstein estimate")
        ax.set_xlabel("generator step")
        ax.set_ylabel("E[D(x)] - E[D(G(z))] (critic units)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def final_wasserstein_estimates(entries: dict[str, FamilyRun], fraction: float = 0.1) -> dict[str, float]:
    """Return name -> mean Wasserstein estimate over the last ``fraction`` of the records, for each Wasserstein critic."""
    finals = {}
    for name, entry in entries.items():
        if entry.is_wasserstein:
            _, estimate = wasserstein_estimate(entry)
            finals[name] = float(estimate[-max(1, int(len(estimate) * fraction)):].mean())
    return finals


def wasserstein_trends(entries: dict[str, FamilyRun], fraction: float = 0.2) -> dict[str, str]:
    """Return name -> 'falls', 'rises' or 'no clear trend': the critic's estimate in its first vs last ``fraction``.

    The two windows' means are compared with the two-standard-error rule (each window's error from the
    spread of its records), so noise alone does not make a curve "fall".
    """
    trends = {}
    for name, entry in entries.items():
        if not entry.is_wasserstein:
            continue
        _, estimate = wasserstein_estimate(entry)
        width = max(2, int(len(estimate) * fraction))
        first, last = np.asarray(estimate[:width], float), np.asarray(estimate[-width:], float)
        if len(estimate) < 2 * width:
            trends[name] = "no clear trend (too few records)"
            continue
        if not differs(last.mean(), first.mean(), mean_se(last), mean_se(first)):
            trends[name] = f"no clear trend ({first.mean():.3g} -> {last.mean():.3g})"
        else:
            trends[name] = f"{'falls' if last.mean() < first.mean() else 'rises'} ({first.mean():.3g} -> {last.mean():.3g})"
    return trends


def plot_cost_and_quality(table: pd.DataFrame, fd_untrained: float, fd_floor: float):
    """Draw three bar panels per loss: distance to real data (with reference lines), images/s, wall time; return the Figure."""
    fig, (ax_fd, ax_speed, ax_time) = plt.subplots(1, 3, figsize=(14, 3.8))
    names, x = list(table.index), np.arange(len(table))
    errors = 2 * table["fd se"] if "fd se" in table and np.isfinite(table["fd se"]).all() else None
    ax_fd.bar(x, table["fd"], yerr=errors, capsize=3, color="tab:blue")  # whiskers: ±2 bootstrap standard errors
    ax_fd.axhline(fd_untrained, color="tab:red", linestyle="--", label=f"untrained G ({fd_untrained:.2f})")
    ax_fd.axhline(fd_floor, color="tab:green", linestyle=":", label=f"real vs real floor ({fd_floor:.2f})")
    ax_fd.set_ylabel("Fréchet distance (kit features)")
    ax_fd.set_title("Distance to held-out real images (lower = better)" + ("\nwhiskers: ±2 SE" if errors is not None else ""))
    ax_fd.legend(fontsize=8)
    ax_speed.bar(x, table["images/s"], color="tab:orange")
    ax_speed.set_ylabel("images per second through D")
    ax_speed.set_title("Training throughput (higher = faster)")
    ax_time.bar(x, table["train s"], color="tab:grey")
    ax_time.set_ylabel("wall time (s)")
    ax_time.set_title("Wall time for the same number of G steps")
    for ax in (ax_fd, ax_speed, ax_time):
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_xlabel("loss")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# 2. Small data: does D memorise its training images?
# ----------------------------------------------------------------------------

def discriminator_outputs(discriminator: nn.Module, images: Tensor, probability: bool, batch_size: int = 64) -> Tensor:
    """Return D's output per image: sigma(D(x)) if ``probability`` (BCE), else the raw D(x); shape (N,)."""
    # A copy, in training mode: batch norm then normalises with the batch's own statistics, exactly as D does while
    # it trains (its running averages mix real-only and fake-only batches and are never used in training), and the
    # copy's bookkeeping (running averages, spectral norm's power iteration) cannot disturb the real D.
    critic = copy.deepcopy(discriminator).train()
    device = next(critic.parameters()).device
    with torch.no_grad():
        logits = torch.cat([critic(images[start:start + batch_size].to(device)).float().cpu().reshape(-1)
                            for start in range(0, len(images), batch_size)])
    return torch.sigmoid(logits) if probability else logits


def discriminator_output(discriminator: nn.Module, images: Tensor, probability: bool, batch_size: int = 64) -> float:
    """Return D's mean output on ``images``: the mean of sigma(D(x)) if ``probability`` (BCE), else of the raw D(x)."""
    return float(discriminator_outputs(discriminator, images, probability, batch_size).mean())


@dataclass
class DiscriminatorMonitor:
    """A train_gan callback: every ``every`` steps, D's mean output on fixed training and held-out real images."""

    train_images: Tensor
    heldout_images: Tensor
    every: int = 50
    records: dict[str, list] = field(default_factory=lambda: {"step": [], "train": [], "heldout": [],
                                                               "train_se": [], "heldout_se": []})

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1 step, got {self.every}")

    def __call__(self, step: int, state) -> None:
        if step % self.every and step != state.total_steps:
            return
        probability = state.history.d_output == "probability"  # sigma(D(x)) for BCE, raw critic values otherwise
        batch = state.config.batch_size  # the batch size D trains with, so its batch norm sees the same statistics
        self.records["step"].append(step)
        for key, images in (("train", self.train_images), ("heldout", self.heldout_images)):
            outputs = discriminator_outputs(state.discriminator, images, probability, batch)
            self.records[key].append(float(outputs.mean()))
            self.records[f"{key}_se"].append(mean_se(outputs.numpy()))  # standard error of that mean

    @property
    def final_gap(self) -> float:
        """Return the last recorded D(train) - D(held-out): > 0 means D rates its own training images as more real."""
        if not self.records["step"]:
            raise ValueError("nothing recorded yet; pass the monitor to train_gan(callbacks=[monitor])")
        return self.records["train"][-1] - self.records["heldout"][-1]

    @property
    def final_gap_se(self) -> float:
        """Return the standard error of :attr:`final_gap` (the two means' errors combined; the image sets differ)."""
        if not self.records["step"]:
            raise ValueError("nothing recorded yet; pass the monitor to train_gan(callbacks=[monitor])")
        return math.hypot(self.records["train_se"][-1], self.records["heldout_se"][-1])


@dataclass
class SmallDataRun:
    """One run of the small-data experiment: with or without DiffAugment."""

    label: str
    result: TrainResult
    monitor: DiscriminatorMonitor
    samples: Tensor  # the trained generator's samples the distance used
    fd: float
    fd_se: float = float("inf")  # the bootstrap's standard deviation of ``fd``


def run_small_data_experiment(images: Tensor, heldout: Tensor, *, n_images: int, n_monitor: int, every: int,
                              seed: int = 0, family: str = "dcgan", policy: str = DIFFAUGMENT_POLICY,
                              **train_options) -> dict[str, SmallDataRun]:
    """Return {"plain": run, "DiffAugment": run}: the same family trained on ``n_images`` images without and with augmentation."""
    if n_images > len(images):
        raise ValueError(f"n_images={n_images} is more than the {len(images)} training images; lower n_images")
    get_family(family)  # an unknown family or policy fails here, before the first of the two runs trains
    parse_policy(policy)
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n_images]
    small = images[chosen]  # a random subset: real datasets list the images of one lesion together
    n_monitor = min(n_monitor, n_images, len(heldout))
    runs: dict[str, SmallDataRun] = {}
    heldout_features = features_of(heldout)  # once: both runs are scored against the same held-out images
    for label, augment in (("plain", None), ("DiffAugment", policy)):
        monitor = DiscriminatorMonitor(small[:n_monitor], heldout[:n_monitor], every=every)
        trained = train_zoo_member(family, small, heldout, seed=seed, augment=augment, callbacks=[monitor],
                                   **train_options)
        fd = trained.fd
        runs[label] = SmallDataRun(label, trained.result, monitor, trained.samples, fd,
                                   frechet_se(heldout_features, trained.samples, seed=seed))
        print(f"{label:12s} {n_images} images: Fréchet distance {fd:.3f}, final D(train) - D(held-out) "
              f"{monitor.final_gap:+.3f}", flush=True)
    return runs


def plot_discriminator_overfitting(runs: dict[str, SmallDataRun]):
    """Draw D's mean output on training vs held-out images over training, one panel per run; return the Figure."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, (label, run) in zip(axes.flat, runs.items()):
        records = run.monitor.records
        ax.plot(records["step"], records["train"], marker="o", markersize=3, label="training images")
        ax.plot(records["step"], records["heldout"], marker="s", markersize=3, label="held-out images")
        ax.set_title(f"{label}: final gap {run.monitor.final_gap:+.3f}")
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    probability = next(iter(runs.values())).result.history.d_output == "probability"
    axes.flat[0].set_ylabel("mean sigma(D(x)) (probability 'real')" if probability else "mean D(x) (critic units)")
    fig.suptitle("Does D memorise its training images? D's output on real training vs held-out images")
    viz.finish(fig)
    return fig


def fd_errors(entries: dict[str, FamilyRun], heldout: Tensor, seed: int = 0) -> dict[str, float]:
    """Return name -> the bootstrap standard error of each run's Fréchet distance to ``heldout`` (features once)."""
    return frechet_errors(heldout, {name: entry.samples for name, entry in entries.items()}, seed=seed)


def small_data_verdict(runs: dict[str, SmallDataRun]) -> str:
    """Return the printed verdict: whose D overfits more (final gap), whose samples are closer to real data (FD).

    Each comparison names a run only when the difference exceeds two standard errors (the gap's from the
    spread of D's outputs over the monitored images, the distance's from a bootstrap); otherwise it says
    there is no clear difference at this budget.
    """
    (a, run_a), (b, run_b) = list(runs.items())[:2]
    gap = comparison_sentence(a, run_a.monitor.final_gap, run_a.monitor.final_gap_se,
                              b, run_b.monitor.final_gap, run_b.monitor.final_gap_se,
                              "D's final gap D(train) - D(held-out) (lower: D overfits less)", fmt="+.3f")
    distance = comparison_sentence(a, run_a.fd, run_a.fd_se, b, run_b.fd, run_b.fd_se,
                                   "Fréchet distance to held-out images (lower: closer to real data)")
    return f"{gap}\n{distance}"


# ----------------------------------------------------------------------------
# 3. Checkerboard artefacts
# ----------------------------------------------------------------------------

def upsampling_response(kind: str = "transposed", kernel_size: int = 4, weights: str = "ones", size: int = 8,
                        seed: int = 0) -> Tensor:
    """Return the (2*size) x (2*size) output of one x2 up-sampling layer (1 channel) applied to a constant input."""
    if kind not in ("transposed", "resize"):
        raise ValueError(f"kind must be 'transposed' (ConvTranspose2d, stride 2) or 'resize' (nearest x2 + conv), got {kind!r}")
    if weights not in ("ones", "random"):
        raise ValueError(f"weights must be 'ones' (count the overlaps) or 'random' (a trained-like kernel), got {weights!r}")
    if kind == "transposed":  # output size 2*size needs padding (k - 2) / 2 for stride 2
        if kernel_size % 2:
            layer = nn.ConvTranspose2d(1, 1, kernel_size, stride=2, padding=(kernel_size - 1) // 2, output_padding=1,
                                       bias=False)
        else:
            layer = nn.ConvTranspose2d(1, 1, kernel_size, stride=2, padding=(kernel_size - 2) // 2, bias=False)
    else:
        layer = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                              nn.Conv2d(1, 1, kernel_size, padding=kernel_size // 2, bias=False))
    conv = layer if kind == "transposed" else layer[1]
    with torch.no_grad():
        if weights == "ones":
            conv.weight.fill_(1.0)
        else:
            conv.weight.copy_(torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(seed)))
        return layer(torch.ones(1, 1, size, size))[0, 0, : 2 * size, : 2 * size]


def plot_upsampling_patterns(size: int = 8, seed: int = 0):
    """Draw four up-sampling layers applied to a constant image: where checkerboards come from; return the Figure."""
    panels = [
        ("ConvTranspose2d k=3, s=2, all-ones kernel:\nuneven overlap (k not divisible by s)", ("transposed", 3, "ones")),
        ("ConvTranspose2d k=4, s=2, all-ones kernel:\neven inside, uneven at the border", ("transposed", 4, "ones")),
        ("ConvTranspose2d k=4, s=2, random kernel:\nfour 2x2 slices, four gains", ("transposed", 4, "random")),
        ("nearest x2 + Conv2d k=3, random kernel:\none kernel for every pixel", ("resize", 3, "random")),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    for ax, (title, (kind, kernel_size, weights)) in zip(axes, panels):
        response = upsampling_response(kind, kernel_size, weights, size=size, seed=seed).numpy()
        image = ax.imshow(response, cmap="viridis")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="output value")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("output column (pixel)")
        ax.set_ylabel("output row (pixel)")
    fig.suptitle(f"One x2 up-sampling layer applied to a constant {size}x{size} input of ones")
    viz.finish(fig)
    return fig


def plot_power_spectra(groups: dict[str, Tensor]):
    """Draw the azimuthally averaged power spectrum (log scale) of each named image set; return the Figure."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for (name, images), style in zip(groups.items(), ("-", "--", "-.", ":")):
        frequencies, power = radial_power_spectrum(images)
        ax.semilogy(frequencies[1:], power[1:], style, label=name, linewidth=2)  # f = 0 is the removed mean
    ax.axvline(0.5, color="grey", linestyle=":", label="Nyquist along an axis (0.5)")
    ax.axvspan(0.25, float(frequencies[-1]), color="grey", alpha=0.08, label="high-frequency band")
    return viz.finish_log_axes(ax, "spatial frequency (cycles per pixel)", "mean power (log scale)",
                               "Azimuthally averaged power spectrum of grey images")


def spectrum_error_se(real: Tensor, fake: Tensor, n_boot: int = 50, seed: int = 0) -> float:
    """Return the bootstrap standard deviation of :func:`high_frequency_error` over resamples of both image sets."""
    interval = bootstrap_interval(high_frequency_error, real, fake, n_boot=n_boot, seed=seed)
    return float(np.std(interval.bootstrap))


def checkerboard_verdict(fd: dict[str, float], fd_se: dict[str, float], spectrum_error: dict[str, float],
                         spectrum_se: dict[str, float]) -> str:
    """Return the printed verdict: which up-sampling is closer to the real spectrum and to the real images.

    Each line names one only when the two differ by more than two standard errors (bootstraps over the images).
    """
    (a, b) = list(spectrum_error)[:2]
    spectral = comparison_sentence(a, spectrum_error[a], spectrum_se[a], b, spectrum_error[b], spectrum_se[b],
                                   "high-frequency spectrum gap to real images (mean |log10 power gap|, lower: closer)")
    distance = comparison_sentence(a, fd[a], fd_se[a], b, fd[b], fd_se[b],
                                   "Fréchet distance to held-out images (lower: closer to real data)")
    return f"{spectral}\n{distance}"
