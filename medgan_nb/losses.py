r"""GAN losses and gradient regularisers, one definition for every notebook.

All losses take the discriminator's (critic's) raw outputs, the *logits*
:math:`D(x)` before any sigmoid, so that the numerically stable
``binary_cross_entropy_with_logits`` can be used.

The original minimax game (Goodfellow et al., 2014):

.. math::
    V(D, G) = \mathbb{E}_{x\sim p_{data}}[\log \sigma(D(x))]
            + \mathbb{E}_{z\sim p_z}[\log (1 - \sigma(D(G(z))))]

* **saturating** generator loss: minimise :math:`\mathbb{E}[\log(1-\sigma(D(G(z))))]`
  (the literal minimax; its gradient vanishes when D confidently rejects fakes);
* **non-saturating** generator loss: minimise :math:`-\mathbb{E}[\log \sigma(D(G(z)))]`
  (same fixed point, strong gradient early on);
* **LSGAN** (Mao et al., 2017): :math:`\tfrac12\mathbb{E}[(D(x)-1)^2] + \tfrac12\mathbb{E}[D(G(z))^2]`;
* **Wasserstein** (Arjovsky et al., 2017): critic maximises
  :math:`\mathbb{E}[D(x)] - \mathbb{E}[D(G(z))]`;
* **hinge** (Lim & Ye 2017; Miyato et al. 2018):
  :math:`\mathbb{E}[\max(0, 1-D(x))] + \mathbb{E}[\max(0, 1+D(G(z)))]`.

Regularisers:

* **gradient penalty** (WGAN-GP, Gulrajani et al., 2017):
  :math:`\lambda\,\mathbb{E}_{\hat x}[(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - 1)^2]`
  with :math:`\hat x = \epsilon x + (1-\epsilon) G(z)`;
* **R1** (Mescheder et al., 2018): :math:`\tfrac{\gamma}{2}\mathbb{E}_{x\sim p_{data}}[\lVert\nabla_x D(x)\rVert_2^2]`.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# --- discriminator losses: (real_logits, fake_logits) -> scalar ---------------

def bce_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Return -E[log sigma(D(x))] - E[log(1 - sigma(D(G(z))))], the discriminator side of the minimax game."""
    real_term = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))  # -log sigma(D(x))
    fake_term = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))  # -log(1 - sigma(D(G(z))))
    return real_term + fake_term


def lsgan_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Return 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2] (least squares, targets b=1, a=0)."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def wasserstein_critic_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Return E[D(G(z))] - E[D(x)]: minimising it maximises the critic's Wasserstein estimate."""
    return fake.mean() - real.mean()


def hinge_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Return E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


# --- generator losses: fake_logits -> scalar -----------------------------------

def saturating_generator_loss(fake: Tensor) -> Tensor:
    """Return E[log(1 - sigma(D(G(z))))], the literal minimax generator loss (to be minimised)."""
    # log(1 - sigmoid(l)) = -softplus(l), computed stably
    return -F.softplus(fake).mean()


def nonsaturating_generator_loss(fake: Tensor) -> Tensor:
    """Return -E[log sigma(D(G(z)))], the non-saturating generator loss."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def lsgan_generator_loss(fake: Tensor) -> Tensor:
    """Return 1/2 E[(D(G(z)) - 1)^2] (generator target c=1)."""
    return 0.5 * ((fake - 1) ** 2).mean()


def wasserstein_generator_loss(fake: Tensor) -> Tensor:
    """Return -E[D(G(z))]; the hinge GAN uses the same generator loss."""
    return -fake.mean()


# --- registry -------------------------------------------------------------------

LOSSES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "bce": (bce_discriminator_loss, nonsaturating_generator_loss),
    "nonsaturating": (bce_discriminator_loss, nonsaturating_generator_loss),
    "saturating": (bce_discriminator_loss, saturating_generator_loss),
    "lsgan": (lsgan_discriminator_loss, lsgan_generator_loss),
    "wasserstein": (wasserstein_critic_loss, wasserstein_generator_loss),
    "hinge": (hinge_discriminator_loss, wasserstein_generator_loss),
}


def get_loss(name: str) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """Return ``(discriminator_loss, generator_loss)`` for a loss name; ValueError lists the known names."""
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"ns": "nonsaturating", "minimax": "saturating", "wgan": "wasserstein", "ls": "lsgan"}
    key = aliases.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; known losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[key]


# --- gradient regularisers ------------------------------------------------------

def gradient_penalty(critic: Callable[..., Tensor], real: Tensor, fake: Tensor, *critic_args, **critic_kwargs) -> Tensor:
    """Return E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates x_hat (multiply by gp_weight yourself)."""
    fake = fake.detach()
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype)  # epsilon ~ U[0, 1]
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)  # x_hat = eps x + (1 - eps) G(z)
    out = critic(x_hat, *critic_args, **critic_kwargs)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)  # grad_{x_hat} D(x_hat)
    grad_norm = grad.flatten(1).norm(2, dim=1)  # ||.||_2 per sample
    return ((grad_norm - 1) ** 2).mean()  # (||.|| - 1)^2


def r1_penalty(critic: Callable[..., Tensor], real: Tensor, *critic_args, **critic_kwargs) -> Tensor:
    """Return E[||grad_x D(x)||_2^2] on real data (multiply by gamma / 2 yourself)."""
    real = real.detach().requires_grad_(True)
    out = critic(real, *critic_args, **critic_kwargs)
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)  # grad_x D(x)
    return grad.flatten(1).pow(2).sum(1).mean()  # ||.||_2^2
