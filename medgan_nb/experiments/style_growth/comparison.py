"""Notebook 05, section 1: DCGAN, StyleGAN and the progressive GAN trained the same way and compared.

:func:`train_families` trains every family of ``FAMILY_ORDER`` through
:func:`medgan_nb.experiments.families.train_family` with one budget, counting each
pair's forward MFLOPs per image on the way (:func:`count_flops`,
:func:`forward_mflops`); :func:`family_row` turns a run into a row of the
comparison table, :func:`plot_family_samples` draws the samples side by side and
:func:`training_verdict`, :func:`closest_family` and :func:`cost_verdict` print
what the table says about training, distance to held-out images and cost.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import nn

from ...models.sampling import model_device
from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, pick_winner
from ...runtime import pick_device
from ..families import FamilyRun, train_family
from ... import viz
from ...viz import image_grid

Tensor = torch.Tensor


FAMILY_ORDER = ("dcgan", "stylegan", "progressive")  # DCGAN first: the reference


def family_row(run: FamilyRun) -> dict[str, Any]:
    """Return a run's figures as one row of the comparison table (its FLOPs measured by :func:`count_flops`)."""
    return {"family": run.name, "width": run.width, "G parameters": run.parameters_g,
            "D parameters": run.parameters_d, "MFLOPs / image (G+D forward)": round(run.extras["mflops_per_image"], 2),
            "steps": run.result.steps, "train seconds": round(run.result.seconds, 1),
            "images / s": round(run.result.images_per_second, 1), "fd untrained": round(run.fd_untrained, 3),
            "fd trained": round(run.fd, 3), "trained / untrained": round(run.fd / run.fd_untrained, 3)}


def forward_mflops(generator: nn.Module, discriminator: nn.Module) -> float:
    """Return the MFLOPs of G(z) then D(G(z)) for one image (counted by torch's FlopCounterMode on a batch of 4)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = model_device(generator)
    z = torch.randn(4, generator.latent_dim, device=device)
    modes = generator.training, discriminator.training
    generator.eval(), discriminator.eval()  # eval: no w_avg update, no style mixing
    try:
        with FlopCounterMode(display=False) as counter:  # (its module tracker needs autograd on)
            discriminator(generator(z))
    finally:
        generator.train(modes[0]), discriminator.train(modes[1])
    return counter.get_total_flops() / 4 / 1e6


def count_flops(device: str | None):
    """Return a ``prepare`` hook for train_family: move the built models to ``device`` and count their forward MFLOPs."""
    def prepare(generator: nn.Module, discriminator: nn.Module) -> dict[str, float]:
        generator.to(pick_device(device))
        discriminator.to(pick_device(device))
        return {"mflops_per_image": forward_mflops(generator, discriminator)}
    return prepare


def train_families(images: Tensor, heldout: Tensor, *, budget: str, width: int | None, steps: int, batch_size: int,
                   seed: int = 0, device: str | None = None, recorder: Any = None) -> dict[str, FamilyRun]:
    """Return name -> FamilyRun for FAMILY_ORDER, each trained by train_family (the recorder watches the progressive GAN)."""
    runs = {}
    for name in FAMILY_ORDER:
        print(f"training {name} for {steps} steps ...", flush=True)
        runs[name] = done = train_family(
            name, images, heldout=heldout, budget=budget, width=None if name == "dcgan" else width, steps=steps,
            batch_size=batch_size, seed=seed, device=device, prepare=count_flops(device),
            callbacks=[recorder] if name == "progressive" and recorder is not None else [])
        print(f"  {name}: {done.seconds:.0f} s, {done.images_per_second:.0f} images/s, Fréchet distance "
              f"{done.fd:.3f} (untrained {done.fd_untrained:.3f}, {done.fd / done.fd_untrained:.0%} of it)")
    return runs


def plot_family_samples(runs: dict[str, FamilyRun], n_show: int = 16):
    """Draw n_show samples of every family side by side, each titled with its distance; return the Figure."""
    fig, axes = plt.subplots(1, len(runs), figsize=(3.3 * len(runs), 3.7), squeeze=False)
    for ax, run in zip(axes[0], runs.values()):
        ax.imshow(image_grid(run.samples[:n_show], nrow=4))
        ax.set_axis_off()
        ax.set_title(f"{run.name} (width {run.width})\nFréchet distance {run.fd:.3f}", fontsize=10)
    fig.suptitle(f"Samples after {next(iter(runs.values())).result.steps} steps each (same z seed)")
    viz.finish(fig)
    return fig


def training_verdict(runs: dict[str, FamilyRun], bar: float = 0.8) -> str:
    """Return a printed line: which families cut their distance below ``bar`` x the untrained one, and which did not."""
    ratios = {run.name: run.fd / run.fd_untrained for run in runs.values()}
    below = [f"{name} ({ratio:.0%})" for name, ratio in ratios.items() if ratio < bar]
    above = [f"{name} ({ratio:.0%})" for name, ratio in ratios.items() if ratio >= bar]
    return (f"trained distance below {bar:.0%} of the untrained one: {', '.join(below) or 'none'}"
            + (f"; not below it: {', '.join(above)}" if above else ""))


def closest_family(runs: dict[str, FamilyRun], fd_se: dict[str, float] | None = None) -> str:
    """Return a printed verdict: which family's samples are closest to the held-out images, and by how much.

    A family is named closest only when its distance lies more than two standard errors (``fd_se``, e.g. from
    :func:`medgan_nb.metrics.bootstrap.frechet_errors`) below every other family's; without errors, never.
    """
    fd = {run.name: run.fd for run in runs.values()}
    se = {name: (fd_se or {}).get(name, float("inf")) for name in fd}
    ranked = sorted(fd, key=fd.get)
    text = ", ".join(f"{name} {fd[name]:.3f} ± {2 * se[name]:.3f}" for name in ranked)
    if pick_winner(fd, se) is not None:
        return f"closest to the held-out real images: {ranked[0]}, clearly ({text})"
    return f"closest to the held-out real images: {NO_CLEAR_DIFFERENCE} ({text})"


def cost_verdict(runs: dict[str, FamilyRun], reference: str = "dcgan") -> str:
    """Return a printed line: each family's training speed and forward MFLOPs as multiples of the reference family's."""
    base, base_flops = runs[reference].result.images_per_second, runs[reference].extras["mflops_per_image"]
    parts = [f"{run.name} trains at {run.result.images_per_second / base:.2f} x {reference}'s images/s "
             f"with {run.extras['mflops_per_image'] / base_flops:.2f} x its MFLOPs per image"
             for run in runs.values() if run.name != reference]
    return "; ".join(parts)
