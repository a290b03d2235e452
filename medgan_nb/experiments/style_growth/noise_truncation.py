r"""Notebook 05, StyleGAN noise and truncation: where the per-layer noise acts, and what psi does to variety.

:func:`noise_std_maps` keeps :math:`w = f(z)` fixed and redraws the noise maps
(of all layers, or of chosen ones; :func:`noise_std_by_resolution` one resolution
at a time), returning the per-pixel standard deviation over the draws;
:func:`noise_concentration` and :func:`noise_verdict` say whether it sits on the
lesion or the skin. :func:`truncation_strip` draws each :math:`z` at every
:math:`\psi` of :math:`w' = \bar w + \psi (w - \bar w)` with one shared noise,
and :func:`truncation_diversity` measures the mean per-pixel standard deviation
over samples per :math:`\psi` (0 at :math:`\psi = 0`).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from torch import nn

from ...metrics.morphology import segment_lesions
from ...models.sampling import model_device
from ...viz import image_grid
from .mixing import shared_noise

Tensor = torch.Tensor


@torch.no_grad()
def noise_std_maps(generator: nn.Module, z: Tensor, n_draws: int = 16, seed: int = 0,
                   layers: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
    """Return (mean images (N, C, H, W), per-pixel std over noise draws (N, H, W)) for fixed w = f(z).

    ``layers`` lists the layers whose noise is redrawn (None: all); the other layers keep draw 0's noise.
    """
    if n_draws < 2:
        raise ValueError(f"n_draws must be >= 2 (a standard deviation needs two draws), got {n_draws}; "
                         "try 8 or 16")
    bad = [layer for layer in (layers or []) if not 0 <= layer < generator.num_layers]
    if bad:
        raise ValueError(f"noise layers {bad} are out of range: this generator has {generator.num_layers} layers, "
                         f"valid indices are 0..{generator.num_layers - 1} (resolutions {list(generator.resolutions)})")
    generator = generator.eval()
    z = z.to(model_device(generator))
    base = generator.make_noise(len(z), seed)
    redraw = set(range(generator.num_layers)) if layers is None else set(layers)
    draws = []
    for k in range(n_draws):
        fresh = generator.make_noise(len(z), seed + 1 + k)
        noise = [fresh[i] if i in redraw else base[i] for i in range(generator.num_layers)]
        draws.append(generator.generate(z, noise=noise).float().cpu())
    stack = torch.stack(draws)  # (draws, N, C, H, W)
    return stack.mean(dim=0), stack.std(dim=0).mean(dim=1)  # sigma(x, y), averaged over the colour channels


def noise_std_by_resolution(generator: nn.Module, z: Tensor, n_draws: int = 16, seed: int = 0) -> dict[int, Tensor]:
    """Return resolution -> per-pixel std maps (N, H, W) when only that resolution's layers get fresh noise."""
    maps = {}
    for resolution in sorted(set(generator.resolutions)):
        layers = [i for i, r in enumerate(generator.resolutions) if r == resolution]
        maps[resolution] = noise_std_maps(generator, z, n_draws, seed, layers)[1]
    return maps


def noise_concentration(mean_images: Tensor, std_maps: Tensor) -> dict[str, float]:
    """Return the mean noise std inside the lesion (Otsu on each mean image), outside it, and their ratio."""
    masks = torch.from_numpy(segment_lesions(mean_images))
    lesion = torch.stack([s[m].mean() if m.any() else s.new_tensor(float("nan")) for s, m in zip(std_maps, masks)])
    background = torch.stack([s[~m].mean() if (~m).any() else s.new_tensor(float("nan")) for s, m in zip(std_maps, masks)])
    lesion_std, background_std = float(lesion.nanmean()), float(background.nanmean())
    return {"lesion_std": lesion_std, "background_std": background_std,
            "lesion_to_background": lesion_std / max(background_std, 1e-12),
            "lesion_area_fraction": float(masks.float().mean()), "mean_std": float(std_maps.mean())}


def noise_verdict(concentration: dict[str, float]) -> str:
    """Return a printed line: where the per-pixel noise std concentrates, lesion or background."""
    ratio = concentration["lesion_to_background"]
    where = ("more inside the lesion than on the skin" if ratio > 1.1 else
             "more on the skin than inside the lesion" if ratio < 1 / 1.1 else "about evenly on lesion and skin")
    return (f"noise std: lesion {concentration['lesion_std']:.4f}, background {concentration['background_std']:.4f} "
            f"(ratio {ratio:.2f}): the noise changes pixels {where}")


def plot_noise_effect(mean_images: Tensor, std_all: Tensor, std_by_resolution: dict[int, Tensor]):
    """Draw, per row (one w): the mean image, the std heat map of all layers' noise and of each resolution's; return the Figure."""
    columns = [("all layers", std_all)] + [(f"only {r} px layers", maps) for r, maps in std_by_resolution.items()]
    vmax = float(max(maps.max() for _, maps in columns)) or 1.0  # one colour scale for every heat map
    n = len(mean_images)
    fig, axes = plt.subplots(n, len(columns) + 1, figsize=(1.7 * (len(columns) + 1) + 0.8, 1.7 * n + 0.9),
                             squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(image_grid(mean_images[i : i + 1], nrow=1, pad=0))
        for k, (_, maps) in enumerate(columns, start=1):
            shown = axes[i, k].imshow(maps[i].numpy(), cmap="magma", vmin=0, vmax=vmax)
        axes[i, 0].set_ylabel(f"w {i}")
    for k, (label, _) in enumerate([("mean over draws", None)] + columns):
        axes[0, k].set_title(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes, shrink=0.8, label="per-pixel std over noise draws (pixel units, [-1, 1] scale)")
    fig.suptitle("Same w, redrawn noise: where the noise changes the image")
    return fig


@torch.no_grad()
def truncation_verdict(psis: Sequence[float], diversity: Sequence[float]) -> str:
    """Return a printed line: whether the diversity rises with psi at every step of the strip, and its range."""
    rises = all(later > earlier for earlier, later in zip(diversity, diversity[1:]))
    return (f"diversity {'rises' if rises else 'does NOT rise'} with psi at every step: "
            f"{diversity[0]:.4f} at psi = {psis[0]:g} to {diversity[-1]:.4f} at psi = {psis[-1]:g}")


@torch.no_grad()
def truncation_strip(generator: nn.Module, z: Tensor, psis: Sequence[float], noise_seed: int = 0) -> Tensor:
    """Return images (len(z), len(psis), C, H, W): each z drawn with every truncation psi, one shared noise."""
    generator = generator.eval()
    z = z.to(model_device(generator))
    noise = shared_noise(generator, len(z), noise_seed)
    return torch.stack([generator.generate(z, psi=float(psi), noise=noise).float().cpu() for psi in psis], dim=1)


@torch.no_grad()
def truncation_diversity(generator: nn.Module, psis: Sequence[float], n: int = 64, seed: int = 0) -> list[float]:
    """Return, per psi, the diversity of n samples: mean over pixels of the per-pixel std over samples (shared noise)."""
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    images = truncation_strip(generator, z, psis, noise_seed=seed)  # (n, psis, C, H, W)
    return [float(images[:, k].std(dim=0).mean()) for k in range(len(psis))]


def plot_truncation(strip: Tensor, psis: Sequence[float], diversity: Sequence[float]):
    """Draw the truncation strip (rows: z, columns: psi) beside the diversity curve; return the Figure."""
    n_z, n_psi = strip.shape[:2]
    fig, (ax_img, ax_curve) = plt.subplots(1, 2, figsize=(1.1 * n_psi + 4.5, 1.1 * n_z + 1.0),
                                           gridspec_kw={"width_ratios": [n_psi, 3.5]})
    ax_img.imshow(image_grid(strip.reshape(-1, *strip.shape[2:]), nrow=n_psi))
    size = strip.shape[-1] + 2
    ax_img.set_xticks([2 + size * k + size / 2 - 1 for k in range(n_psi)], [f"{p:g}" for p in psis])
    ax_img.set_yticks([])
    ax_img.set_xlabel("truncation psi")
    ax_img.set_ylabel("one z per row")
    ax_img.set_title("w' = w_avg + psi (w - w_avg)", fontsize=10)
    ax_curve.plot(psis, diversity, marker="o")
    ax_curve.set_xlabel("truncation psi")
    ax_curve.set_ylabel("diversity (mean per-pixel std over samples)")
    ax_curve.set_title("Variety against psi", fontsize=10)
    ax_curve.grid(alpha=0.3)
    fig.tight_layout()
    return fig
