r"""Notebook 05, StyleGAN style mixing: which layers' styles decide what, and the share of A in a mix.

:func:`style_mixing_grid` draws every pair of two latent sets with the layers
before a crossover :math:`c` styled by :math:`w_A` and the rest by :math:`w_B`
(:func:`crossover_layers` names a coarse and a fine :math:`c`), and
:func:`share_of_a` measures, for every :math:`c`, how much of :math:`A` the mixed
image keeps, :math:`\frac{d(x_{mix}, x_B)}{d(x_{mix}, x_A) + d(x_{mix}, x_B)}`.
Every image of one comparison gets the same noise maps (:func:`shared_noise`,
also used by the noise, truncation and walk probes), so only the styles differ.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from torch import nn

from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, differs, mean_se
from ...models.sampling import model_device
from ...viz import image_grid

Tensor = torch.Tensor


def shared_noise(generator: nn.Module, n: int, seed: int) -> list[Tensor]:
    """Return one set of noise maps (from make_noise(1, seed)) repeated for n images: every image gets the same noise."""
    return [noise.expand(n, -1, -1, -1) for noise in generator.make_noise(1, seed)]


def crossover_layers(generator: nn.Module) -> dict[str, int]:
    """Return the coarse and fine crossover layers: the first layer at 16 px, and the first at the output size."""
    resolutions = list(generator.resolutions)
    return {"coarse": resolutions.index(min(16, generator.image_size)),
            "fine": resolutions.index(generator.image_size)}


@torch.no_grad()
def style_mixing_grid(generator: nn.Module, z_a: Tensor, z_b: Tensor, mix_layer: int, noise_seed: int = 0) -> Tensor:
    """Return images (len(z_a), len(z_b), C, H, W): cell (i, j) takes layers < mix_layer from z_a[i], the rest from z_b[j]."""
    generator = generator.eval()
    device = model_device(generator)
    n_a, n_b = len(z_a), len(z_b)
    z_rows = z_a.to(device).repeat_interleave(n_b, dim=0)  # A_0 A_0 ... A_1 A_1 ...
    z_cols = z_b.to(device).repeat(n_a, 1)  # B_0 B_1 ... B_0 B_1 ...
    noise = shared_noise(generator, n_a * n_b, noise_seed)
    mixed = generator.generate(z_rows, mix_z=z_cols, mix_layer=mix_layer, noise=noise)
    return mixed.float().cpu().view(n_a, n_b, *mixed.shape[1:])


@torch.no_grad()
def share_of_a_per_pair(generator: nn.Module, z_a: Tensor, z_b: Tensor, noise_seed: int = 0,
                        layout_size: int | None = None) -> Tensor:
    """Return the share of A (L + 1, N): row c holds, for every pair (z_a[i], z_b[i]), the share of A at crossover c.

    With ``layout_size`` the distances are taken between the images average-pooled to that size (the layout),
    otherwise between the full images.
    """
    if z_a.shape != z_b.shape:
        raise ValueError(f"z_a and z_b pair up one to one and need the same shape, got {tuple(z_a.shape)} and "
                         f"{tuple(z_b.shape)}; draw both with torch.randn(N, latent_dim)")
    generator = generator.eval()
    device = model_device(generator)
    z_a, z_b = z_a.to(device), z_b.to(device)
    noise = shared_noise(generator, len(z_a), noise_seed)
    view = (lambda x: nn.functional.adaptive_avg_pool2d(x.float(), layout_size)) if layout_size else (lambda x: x)
    image_a, image_b = view(generator.generate(z_a, noise=noise)), view(generator.generate(z_b, noise=noise))
    shares = []
    for crossover in range(generator.num_layers + 1):
        mixed = image_a if crossover == generator.num_layers else view(generator.generate(
            z_a, mix_z=z_b, mix_layer=crossover, noise=noise))
        to_a = (mixed - image_a).square().mean(dim=(1, 2, 3)).sqrt()  # d(x_mix, x_A)
        to_b = (mixed - image_b).square().mean(dim=(1, 2, 3)).sqrt()  # d(x_mix, x_B)
        shares.append((to_b / (to_a + to_b).clamp_min(1e-12)).float().cpu())
    return torch.stack(shares)


def share_of_a(generator: nn.Module, z_a: Tensor, z_b: Tensor, noise_seed: int = 0) -> list[float]:
    """Return, for crossover c = 0 .. num_layers, the mean share of A in the mixes of pairs (z_a[i], z_b[i]) (0: B, 1: A)."""
    return [float(row.mean()) for row in share_of_a_per_pair(generator, z_a, z_b, noise_seed)]


def layer_groups_decide(per_pair: Tensor, crossovers: dict[str, int]) -> dict[str, dict[str, float]]:
    """Return how much of the image the coarse and the fine layers decide, mean and standard error over the pairs.

    The coarse layers (those before the coarse crossover) decide the share of A that survives when only they come
    from A, ``share(coarse)``; the fine layers (from the fine crossover on) decide what B changes when only they
    come from B, ``1 - share(fine)``.
    """
    coarse, fine = per_pair[crossovers["coarse"]], 1 - per_pair[crossovers["fine"]]
    return {"coarse": {"mean": float(coarse.mean()), "se": mean_se(coarse.numpy())},
            "fine": {"mean": float(fine.mean()), "se": mean_se(fine.numpy())},
            "gap": {"mean": float((coarse - fine).mean()), "se": mean_se((coarse - fine).numpy())}}


def mixing_verdict(decided: dict[str, dict[str, float]], what: str, coarse_label: str, fine_label: str) -> str:
    """Return a printed line: whether the coarse layers decide clearly more of ``what`` than the fine ones (2 SE)."""
    coarse, fine, gap = decided["coarse"], decided["fine"], decided["gap"]
    numbers = (f"the {coarse_label} layers decide {coarse['mean']:.0%} ± {2 * coarse['se']:.0%} of {what}, the "
               f"{fine_label} layers {fine['mean']:.0%} ± {2 * fine['se']:.0%}")
    if not differs(gap["mean"], 0.0, gap["se"]):
        return f"{numbers}: {NO_CLEAR_DIFFERENCE}"
    return f"{numbers}: the {'coarse' if gap['mean'] > 0 else 'fine'} layers decide clearly more"


def plot_style_mixing(generator: nn.Module, z_a: Tensor, z_b: Tensor, mix_layer: int, noise_seed: int = 0,
                      title: str | None = None):
    """Draw the mixing grid of z_a (rows) and z_b (columns) at one crossover, sources on the edges; return (Figure, grid)."""
    grid = style_mixing_grid(generator, z_a, z_b, mix_layer, noise_seed)
    n_a, n_b = grid.shape[:2]
    with torch.no_grad():
        sources_a = generator.generate(z_a.to(model_device(generator)), noise=shared_noise(generator, n_a, noise_seed))
        sources_b = generator.generate(z_b.to(model_device(generator)), noise=shared_noise(generator, n_b, noise_seed))
    sources_a, sources_b = sources_a.float().cpu(), sources_b.float().cpu()
    blank = torch.ones_like(sources_b[:1])  # white corner
    rows = [torch.cat([blank, sources_b])] + [torch.cat([sources_a[i : i + 1], grid[i]]) for i in range(n_a)]
    fig, ax = plt.subplots(figsize=(1.1 * (n_b + 1) + 0.8, 1.1 * (n_a + 1) + 0.9))
    ax.imshow(image_grid(torch.cat(rows), nrow=n_b + 1))
    size = grid.shape[-1] + 2  # image plus padding, in pixels of the drawn grid
    ax.set_xticks([2 + size * k + size / 2 - 1 for k in range(n_b + 1)], ["", *[f"B{j}" for j in range(n_b)]])
    ax.set_yticks([2 + size * k + size / 2 - 1 for k in range(n_a + 1)], ["", *[f"A{i}" for i in range(n_a)]])
    ax.set_xlabel("source B (top row): styles from the crossover layer on", fontsize=9)
    ax.set_ylabel("source A (left column): styles before it", fontsize=9)
    resolution = generator.resolutions[mix_layer]
    ax.set_title(title or f"Style mixing, crossover at layer {mix_layer} ({resolution} px)", fontsize=10)
    fig.tight_layout()
    return fig, grid


def plot_share_of_a(shares: Sequence[float], resolutions: Sequence[int]):
    """Draw the share of A in the mixed image against the crossover layer; return the Figure."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(range(len(shares)), shares, marker="o")
    labels = [f"{c}\n({resolutions[c]} px)" if c < len(resolutions) else f"{c}\n(none)" for c in range(len(shares))]
    ax.set_xticks(range(len(shares)), labels, fontsize=8)
    ax.set_xlabel("crossover layer c (its resolution): layers < c from A, the rest from B")
    ax.set_ylabel("share of A in the mix (0 = B, 1 = A)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("How much of source A survives, by crossover layer")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
