r"""Toy GAN models for 1-D and 2-D data: the smallest networks that still show the theory.

* :class:`GaussianGenerator` — :math:`G(z) = \mu + \sigma z` with
  :math:`z\sim\mathcal N(0,1)`. Its density :math:`p_g = \mathcal N(\mu, \sigma^2)`
  is known in closed form, so the optimal discriminator
  :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))` can be computed exactly
  and compared with a trained one.
* :class:`ToyGenerator` / :class:`ToyDiscriminator` — multilayer perceptrons
  :math:`\mathbb R^{d_z}\to\mathbb R^{d}` and :math:`\mathbb R^{d}\to\mathbb R`
  (the discriminator returns a *logit*; :math:`D(x) = \sigma(\text{logit})`).
* :class:`MinibatchStd` — the minibatch standard-deviation layer of progressive
  GANs (Karras et al., 2018). It appends one feature, the average over features
  of the standard deviation over the batch,

  .. math::
      s = \frac{1}{F}\sum_{f=1}^{F}\sqrt{\operatorname{Var}_{i\in\text{group}}[h_{if}] + 10^{-8}},

  so the discriminator can see that a batch of fakes is too *uniform*: a
  collapsed generator gives a small :math:`s`, which real batches never have.
"""
from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor


class GaussianGenerator(nn.Module):
    r"""1-D generator :math:`G(z) = \mu + \sigma z` with learnable :math:`\mu` and :math:`\log\sigma`."""

    def __init__(self, mu: float = 0.0, sigma: float = 1.0) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}; pass a standard deviation > 0")
        self.mu = nn.Parameter(torch.tensor(float(mu)))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))

    @property
    def sigma(self) -> Tensor:
        """Return the standard deviation :math:`\\sigma = e^{\\log\\sigma}`."""
        return self.log_sigma.exp()

    def forward(self, z: Tensor) -> Tensor:
        """Return samples :math:`\\mu + \\sigma z` with the shape of ``z``."""
        return self.mu + self.sigma * z

    def density(self, x: Tensor) -> Tensor:
        """Return :math:`p_g(x)`, the normal density of the generator's samples at ``x``."""
        sigma = self.sigma.detach()
        return torch.exp(-0.5 * ((x - self.mu.detach()) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class MinibatchStd(nn.Module):
    """Append the mean (over features) of the per-group standard deviation as one extra feature."""

    def __init__(self, group_size: int | None = None) -> None:
        super().__init__()
        if group_size is not None and group_size < 2:
            raise ValueError(f"group_size must be >= 2 (a std needs two samples) or None for the whole batch, got {group_size}")
        self.group_size = group_size

    def forward(self, h: Tensor) -> Tensor:
        """Return ``h`` of shape (N, F) with one column appended: shape (N, F + 1)."""
        n, f = h.shape
        group = n if self.group_size is None else min(self.group_size, n)
        if n % group:
            raise ValueError(
                f"batch of {n} is not divisible by minibatch-std group_size {group}; "
                "use a batch size that is a multiple of the group size, or group_size=None"
            )
        grouped = h.reshape(group, n // group, f)  # sample i goes to group i % (n // group), as in ProGAN
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (n // group, F): std over each group
        s = std.mean(dim=1, keepdim=True)  # (n // group, 1): s, averaged over features
        return torch.cat([h, s.repeat(group, 1)], dim=1)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.LeakyReLU) -> nn.Sequential:
    """Return Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation(0.2) if activation is nn.LeakyReLU else activation())
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """MLP generator :math:`G: \\mathbb R^{d_z} \\to \\mathbb R^{d}`."""

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError(f"depth and hidden must be >= 1, got depth={depth}, hidden={hidden}")
        self.latent_dim = latent_dim
        self.net = mlp([latent_dim] + [hidden] * depth + [data_dim], nn.ReLU)

    def forward(self, z: Tensor) -> Tensor:
        """Return generated points G(z), shape (N, data_dim)."""
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """MLP discriminator (or critic) returning one logit per point; optional minibatch-std before the last layer."""

    def __init__(
        self, data_dim: int = 2, hidden: int = 128, depth: int = 3, minibatch_std: bool = False, group_size: int | None = None
    ) -> None:
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError(f"depth and hidden must be >= 1, got depth={depth}, hidden={hidden}")
        self.features = nn.Sequential(mlp([data_dim] + [hidden] * depth), nn.LeakyReLU(0.2))
        self.minibatch_std = MinibatchStd(group_size) if minibatch_std else None
        self.head = nn.Linear(hidden + (1 if minibatch_std else 0), 1)

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits D(x) before the sigmoid, shape (N,)."""
        h = self.features(x)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        return self.head(h).squeeze(-1)
