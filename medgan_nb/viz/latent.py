"""Walks through a generator's latent space: spherical interpolation between two latent vectors
(:func:`slerp`), a path of latent vectors by slerp or lerp (:func:`interpolate_latents`), and the strip
of images G(z) drawn along that path (:func:`plot_latent_interpolation`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..models.sampling import sample_images
from .images import image_grid


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
