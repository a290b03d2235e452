r"""Notebook 05's experiments: what StyleGAN's styles and noise do, and how progressive growing fades in.

**StyleGAN** (Karras et al., 2019; 2020). A mapping network turns
:math:`z \sim \mathcal N(0, I)` into :math:`w = f(z)`; every synthesis layer
:math:`\ell` gets its own copy :math:`w_\ell` and a fresh noise map
:math:`n_\ell`. So three probes separate three sources of variation:

* *style mixing*: :math:`w_\ell = w_A` for :math:`\ell < c` and
  :math:`w_\ell = w_B` for :math:`\ell \ge c`; the crossover :math:`c` decides
  whether :math:`A` keeps the coarse layout (small :math:`c`: only the 4-8 px
  layers) or everything but the finest detail (large :math:`c`). As a number,
  the *share of A* in the mixed image,
  :math:`\frac{d(x_{mix}, x_B)}{d(x_{mix}, x_A) + d(x_{mix}, x_B)}` with
  :math:`d` the root-mean-square pixel difference: 0 when the mix is
  :math:`B`, 1 when it is :math:`A`;
* *noise*: one :math:`w`, many draws of :math:`n_\ell`; the per-pixel standard
  deviation over the draws, :math:`\sigma(x, y) = \operatorname{std}_n G(w, n)(x, y)`,
  shows where the noise acts (all layers at once, or only the layers of one
  resolution);
* *truncation*: :math:`w' = \bar w + \psi (w - \bar w)`; the *diversity* of a
  set of samples is the mean over pixels of the per-pixel standard deviation
  over samples, computed with one shared noise map, so that
  :math:`\psi = 0` (every :math:`w' = \bar w`) gives exactly 0.

A latent walk interpolates either :math:`z` (slerp, then map) or :math:`w`
(a straight line between :math:`f(z_0)` and :math:`f(z_1)`); the jump between
neighbouring frames, :math:`d(x_{t_k}, x_{t_{k+1}})`, measures how even the
walk is (the idea behind StyleGAN's perceptual path length, here in pixels).

**Progressive growing** (Karras et al., 2018). The schedule
:math:`(r, \alpha)(t)` of :func:`medgan_nb.models.progressive.progressive_schedule`
walks the resolution :math:`r` from 4 to the image size and fades every new
block in, :math:`G_\alpha = (1-\alpha)\,\mathrm{up}(\mathrm{toRGB}_r) + \alpha\,\mathrm{toRGB}_{2r}`.
:class:`StageRecorder` is a ``train_gan`` callback that keeps the generator's
samples of a fixed :math:`z` together with :math:`(r, \alpha)` at every stage
change and at fixed steps. Whether a new stage keeps the layout of the last
one is measured on the samples of the same :math:`z` average-pooled to
:math:`4\times4`: the RMS change of one :math:`z` from stage to stage against
the RMS difference between two different :math:`z` (:func:`layout_kept`).

This module sits on top (``medgan_nb.experiments``): it trains with the engine,
measures with :mod:`medgan_nb.metrics` and draws with :mod:`medgan_nb.viz`.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ..metrics.morphology import segment_lesions
from ..models.sampling import model_device, sample_images
from ..runtime import pick_device
from .families import FamilyRun, train_family
from .. import viz
from ..viz import image_grid, interpolate_latents

Tensor = torch.Tensor
FAMILY_ORDER = ("dcgan", "stylegan", "progressive")  # DCGAN first: the reference


# ----------------------------------------------------------------------------
# Training the three families the same way
# ----------------------------------------------------------------------------

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


def closest_family(runs: dict[str, FamilyRun]) -> str:
    """Return a printed verdict: which family's samples are closest to the held-out images, and by how much."""
    ranked = sorted(runs.values(), key=lambda run: run.fd)
    best, others = ranked[0], ranked[1:]
    text = ", ".join(f"{run.name} {run.fd:.3f}" for run in others)
    return f"closest to the held-out real images: {best.name} (distance {best.fd:.3f}; then {text})"


def cost_verdict(runs: dict[str, FamilyRun], reference: str = "dcgan") -> str:
    """Return a printed line: each family's training speed and forward MFLOPs as multiples of the reference family's."""
    base, base_flops = runs[reference].result.images_per_second, runs[reference].extras["mflops_per_image"]
    parts = [f"{run.name} trains at {run.result.images_per_second / base:.2f} x {reference}'s images/s "
             f"with {run.extras['mflops_per_image'] / base_flops:.2f} x its MFLOPs per image"
             for run in runs.values() if run.name != reference]
    return "; ".join(parts)


# ----------------------------------------------------------------------------
# StyleGAN: style mixing
# ----------------------------------------------------------------------------

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
def share_of_a(generator: nn.Module, z_a: Tensor, z_b: Tensor, noise_seed: int = 0) -> list[float]:
    """Return, for crossover c = 0 .. num_layers, the mean share of A in the mixes of pairs (z_a[i], z_b[i]) (0: B, 1: A)."""
    if z_a.shape != z_b.shape:
        raise ValueError(f"z_a and z_b pair up one to one and need the same shape, got {tuple(z_a.shape)} and "
                         f"{tuple(z_b.shape)}; draw both with torch.randn(N, latent_dim)")
    generator = generator.eval()
    device = model_device(generator)
    z_a, z_b = z_a.to(device), z_b.to(device)
    noise = shared_noise(generator, len(z_a), noise_seed)
    image_a, image_b = generator.generate(z_a, noise=noise), generator.generate(z_b, noise=noise)
    shares = []
    for crossover in range(generator.num_layers + 1):
        mixed = image_a if crossover == generator.num_layers else generator.generate(
            z_a, mix_z=z_b, mix_layer=crossover, noise=noise)
        to_a = (mixed - image_a).square().mean(dim=(1, 2, 3)).sqrt()  # d(x_mix, x_A)
        to_b = (mixed - image_b).square().mean(dim=(1, 2, 3)).sqrt()  # d(x_mix, x_B)
        shares.append(float((to_b / (to_a + to_b).clamp_min(1e-12)).mean()))
    return shares


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


# ----------------------------------------------------------------------------
# StyleGAN: noise
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# StyleGAN: truncation
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# StyleGAN: walking in z and in w
# ----------------------------------------------------------------------------

@torch.no_grad()
def latent_walks(generator: nn.Module, z_start: Tensor, z_end: Tensor, n_steps: int = 8,
                 noise_seed: int = 0) -> dict[str, Tensor]:
    """Return {"z": images along the slerp in z, "w": images along the straight line in w}, one shared noise."""
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2 (the two end points at least), got {n_steps}; try 8")
    generator = generator.eval()
    device = model_device(generator)
    path_z = interpolate_latents(z_start, z_end, n_steps, "slerp").to(device)
    noise = shared_noise(generator, n_steps, noise_seed)
    walk_z = generator.generate(path_z, noise=noise)
    w_ends = generator.map(torch.stack([z_start, z_end]).to(device))
    t = torch.linspace(0, 1, n_steps, device=device)[:, None]
    path_w = (1 - t) * w_ends[0] + t * w_ends[1]  # w_t = (1 - t) f(z_0) + t f(z_1)
    walk_w = generator.synthesis(path_w[:, None].repeat(1, generator.num_layers, 1), noise)
    return {"z": walk_z.float().cpu(), "w": walk_w.float().cpu()}


def frame_jumps(frames: Tensor) -> Tensor:
    """Return the root-mean-square pixel difference between neighbouring frames (n_steps - 1,)."""
    return (frames[1:] - frames[:-1]).square().mean(dim=(1, 2, 3)).sqrt()


def walk_smoothness(generator: nn.Module, n_pairs: int = 8, n_steps: int = 16, seed: int = 0) -> dict[str, dict[str, float]]:
    """Return per space ("z", "w") the mean frame jump and the largest jump / mean jump, over n_pairs random walks."""
    rng = torch.Generator().manual_seed(seed)
    jumps: dict[str, list[Tensor]] = {"z": [], "w": []}
    for _ in range(n_pairs):
        z_start, z_end = torch.randn(2, generator.latent_dim, generator=rng)
        for space, frames in latent_walks(generator, z_start, z_end, n_steps, noise_seed=seed).items():
            jumps[space].append(frame_jumps(frames))
    summary = {}
    for space, values in jumps.items():
        stack = torch.stack(values)  # (pairs, n_steps - 1)
        mean = stack.mean(dim=1)
        summary[space] = {"mean_jump": float(mean.mean()),
                          "max_over_mean": float((stack.max(dim=1).values / mean.clamp_min(1e-12)).mean())}
    return summary


def walk_verdict(smoothness: dict[str, dict[str, float]]) -> str:
    """Return a printed line: which walk is more even (lower largest-jump / mean-jump ratio)."""
    z, w = smoothness["z"]["max_over_mean"], smoothness["w"]["max_over_mean"]
    evener = "w" if w < z else "z"
    return (f"largest frame jump / mean jump: z walk {z:.2f}, w walk {w:.2f} (1 = perfectly even); "
            f"the {evener} walk is the more even one in this run")


def plot_latent_walks(walks: dict[str, Tensor]):
    """Draw the z-space walk above the w-space walk, each frame labelled with t; return the Figure."""
    n_steps = len(walks["z"])
    fig, axes = plt.subplots(2, 1, figsize=(1.2 * n_steps, 4.2))
    ts = torch.linspace(0, 1, n_steps).tolist()
    for ax, (space, label) in zip(axes, (("z", "slerp in z, then w = f(z)"), ("w", "straight line in w"))):
        ax.imshow(image_grid(walks[space], nrow=n_steps))
        size = walks[space].shape[-1] + 2
        ax.set_xticks([2 + size * k + size / 2 - 1 for k in range(n_steps)], [f"{t:.2f}" for t in ts])
        ax.set_yticks([])
        ax.set_ylabel(space, rotation=0, labelpad=12)
        ax.set_title(label, fontsize=10)
    axes[-1].set_xlabel("interpolation weight t (0: start, 1: end)")
    fig.suptitle("The same two end points, walked in z and in w")
    viz.finish(fig)
    return fig


# ----------------------------------------------------------------------------
# Progressive growing: the schedule and samples per stage
# ----------------------------------------------------------------------------

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
