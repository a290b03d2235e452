"""Toy data for notebook 01: a ring and a grid of 2-D Gaussians, and a 1-D Gaussian mixture with its density."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


Tensor = torch.Tensor


# ============================================================================
# Toy data
# ============================================================================

def ring_centres(n_modes: int = 8, radius: float = 2.0) -> Tensor:
    """Return the (n_modes, 2) centres of a ring of Gaussians, evenly spaced on a circle."""
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}")
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def sample_ring(
    n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.05, generator: torch.Generator | None = None
) -> Tensor:
    """Return n points (n, 2) from an equal-weight mixture of n_modes Gaussians on a ring."""
    if n < 1 or std <= 0:
        raise ValueError(f"need n >= 1 and std > 0, got n={n}, std={std}")
    centres = ring_centres(n_modes, radius)
    which = torch.randint(0, n_modes, (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)


def sample_grid(
    n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05, generator: torch.Generator | None = None
) -> Tensor:
    """Return n points (n, 2) from a side x side grid of Gaussians (the '25 Gaussians' benchmark)."""
    centres = grid_centres(side, spacing)
    which = torch.randint(0, len(centres), (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)


def grid_centres(side: int = 5, spacing: float = 2.0) -> Tensor:
    """Return the (side*side, 2) centres of a square grid of Gaussians centred on the origin."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(ticks, ticks)


@dataclass(frozen=True)
class GaussianMixture1D:
    """A 1-D mixture of Gaussians with known density: p(x) = sum_k w_k N(x; m_k, s_k^2)."""

    means: tuple[float, ...] = (-1.5, 1.5)
    stds: tuple[float, ...] = (0.5, 0.5)
    weights: tuple[float, ...] = (0.5, 0.5)

    def __post_init__(self) -> None:
        if not (len(self.means) == len(self.stds) == len(self.weights)) or not self.means:
            raise ValueError("means, stds and weights must be non-empty and of equal length")
        if min(self.stds) <= 0 or min(self.weights) < 0 or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-6):
            raise ValueError("stds must be > 0 and weights must be >= 0 and sum to 1")

    def density(self, x: Tensor) -> Tensor:
        """Return p_data(x) at every point of ``x``."""
        out = torch.zeros_like(x)
        for m, s, w in zip(self.means, self.stds, self.weights):
            out = out + w * torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return out

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Return n samples, shape (n,)."""
        which = torch.multinomial(torch.tensor(self.weights), n, replacement=True, generator=generator)
        means, stds = torch.tensor(self.means)[which], torch.tensor(self.stds)[which]
        return means + stds * torch.randn(n, generator=generator)
