r"""Notebook 05, StyleGAN latent walks: the same two end points walked in z and in w.

:func:`latent_walks` draws a slerp in :math:`z` (each frame then mapped to
:math:`w`) and a straight line between :math:`f(z_0)` and :math:`f(z_1)` in
:math:`w`, with one shared noise; :func:`frame_jumps` is the RMS pixel difference
between neighbouring frames, and :func:`walk_smoothness` / :func:`walk_verdict`
compare how even the two walks are (largest jump over mean jump, 1 = perfectly
even), the idea behind StyleGAN's perceptual path length measured in pixels.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, differs, mean_se
from ...models.sampling import model_device
from ... import viz
from ...viz import image_grid, interpolate_latents
from .mixing import shared_noise

Tensor = torch.Tensor


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
    ratios = {}
    for space, values in jumps.items():
        stack = torch.stack(values)  # (pairs, n_steps - 1)
        mean = stack.mean(dim=1)
        ratios[space] = (stack.max(dim=1).values / mean.clamp_min(1e-12)).numpy()  # one per pair of end points
        summary[space] = {"mean_jump": float(mean.mean()), "max_over_mean": float(ratios[space].mean()),
                          "max_over_mean_se": mean_se(ratios[space])}
    summary["difference_se"] = mean_se(ratios["z"] - ratios["w"])  # paired: both walks join the same end points
    return summary


def walk_verdict(smoothness: dict[str, dict[str, float]]) -> str:
    """Return a printed line: which walk is more even (lower largest-jump / mean-jump ratio), named only when the
    paired difference over the walks exceeds two standard errors."""
    z, w = smoothness["z"]["max_over_mean"], smoothness["w"]["max_over_mean"]
    numbers = (f"largest frame jump / mean jump: z walk {z:.2f} ± {2 * smoothness['z']['max_over_mean_se']:.2f}, "
               f"w walk {w:.2f} ± {2 * smoothness['w']['max_over_mean_se']:.2f} (1 = perfectly even)")
    if not differs(z - w, 0.0, smoothness["difference_se"]):
        return f"{numbers}: {NO_CLEAR_DIFFERENCE} between the two walks"
    return f"{numbers}: the {'w' if w < z else 'z'} walk is clearly the more even one"


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
