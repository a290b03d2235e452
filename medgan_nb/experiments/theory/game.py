"""The game on 1-D toy data: the optimal discriminator and the JSD identity, saturating vs non-saturating
generator losses, and the Dirac-GAN's non-convergence (notebook 01, sections 1-3a)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.spatial.distance import jensenshannon
from tqdm.auto import tqdm

from ...losses import get_loss, r1_penalty
from ...models.toy import GaussianGenerator, ToyDiscriminator
from ...viz import finish_log_axes
from .toy_data import GaussianMixture1D

Tensor = torch.Tensor


# ============================================================================
# 1. The game: optimal discriminator and the JSD identity
# ============================================================================

def optimal_discriminator(p_data: Tensor, p_g: Tensor) -> Tensor:
    """Return D*(x) = p_data / (p_data + p_g) (0.5 where both densities are 0)."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(1e-300), torch.full_like(total, 0.5))


def value_on_grid(d: Tensor, p_data: Tensor, p_g: Tensor, dx: float) -> float:
    """Return V(D, G) = int p_data log D + p_g log(1 - D) dx by a Riemann sum on a uniform grid."""
    eps = 1e-12  # 0 * log 0 = 0: the clamp only matters where the density weight is 0 anyway
    integrand = p_data * torch.log(d.clamp_min(eps)) + p_g * torch.log((1 - d).clamp_min(eps))
    return float(integrand.sum() * dx)


def jensen_shannon(p_data: Tensor, p_g: Tensor, dx: float) -> float:
    """Return JSD(p_data || p_g) in nats from densities on a uniform grid (via scipy)."""
    # scipy returns the Jensen-Shannon *distance* sqrt(JSD) of discrete distributions; square it.
    p = (p_data * dx).double().numpy()
    q = (p_g * dx).double().numpy()
    return float(jensenshannon(p, q, base=math.e) ** 2)


def train_discriminator_1d(
    p_data: GaussianMixture1D,
    generator: GaussianGenerator,
    steps: int = 1000,
    batch_size: int = 1024,
    hidden: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = False,
) -> ToyDiscriminator:
    """Return a discriminator trained (G frozen) with the BCE loss to approximate D* for this G."""
    d_loss, _ = get_loss("bce")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        discriminator = ToyDiscriminator(data_dim=1, hidden=hidden, depth=3)
        optimiser = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.9, 0.999))
        # cosine decay: the last steps average out the sampling noise of each minibatch
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
        for _ in tqdm(range(steps), desc="training D against a frozen G", disable=not progress, leave=False):
            real = p_data.sample(batch_size).unsqueeze(1)
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, 1))
            loss = d_loss(discriminator(real), discriminator(fake))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return discriminator.eval()


@dataclass
class OptimalDiscriminatorSnapshot:
    """One moment of 1-D training: densities, trained D and analytic D* on a grid, and the game's values."""

    step: int
    mu: float
    sigma: float
    x: np.ndarray
    p_data: np.ndarray
    p_g: np.ndarray
    d_trained: np.ndarray
    d_star: np.ndarray
    support: np.ndarray  # where (p_data + p_g) / 2 is above the support threshold
    max_abs_error: float  # max |D - D*| over the support
    value_at_d_star: float  # V(D*, G) by numerical integration
    value_at_trained_d: float  # V(D, G) for the trained D (<= V(D*, G))
    two_jsd_minus_log4: float  # 2 JSD(p_data || p_g) - log 4, computed independently


def optimal_discriminator_experiment(
    p_data: GaussianMixture1D | None = None,
    gan_steps: int = 300,
    snapshot_steps: Sequence[int] = (0, 100, 300),
    d_steps: int = 1000,
    batch_size: int = 512,
    support_threshold: float = 0.02,
    seed: int = 0,
    progress: bool = True,
) -> list[OptimalDiscriminatorSnapshot]:
    """Return snapshots of a 1-D GAN (G(z) = mu + sigma z) at which a fresh D is trained to convergence and compared with D*."""
    p_data = p_data or GaussianMixture1D()
    if max(snapshot_steps) > gan_steps:
        raise ValueError(f"snapshot_steps {tuple(snapshot_steps)} go beyond gan_steps={gan_steps}; raise gan_steps")
    d_loss, g_loss = get_loss("nonsaturating")
    x = torch.linspace(-8, 8, 3201)
    dx = float(x[1] - x[0])
    density_data = p_data.density(x)
    snapshots: list[OptimalDiscriminatorSnapshot] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = GaussianGenerator(mu=-3.0, sigma=1.0)
        critic = ToyDiscriminator(data_dim=1, hidden=32, depth=2)
        opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.999))
        bar = tqdm(total=gan_steps, desc="1-D GAN with D* checks", disable=not progress, leave=False)
        for step in range(gan_steps + 1):
            if step in snapshot_steps:
                trained = train_discriminator_1d(p_data, generator, d_steps, batch_size, seed=seed + step)
                with torch.no_grad():
                    d_trained = torch.sigmoid(trained(x.unsqueeze(1)))
                density_g = generator.density(x)
                d_star = optimal_discriminator(density_data, density_g)
                support = (density_data + density_g) / 2 > support_threshold
                snapshots.append(OptimalDiscriminatorSnapshot(
                    step=step, mu=float(generator.mu.detach()), sigma=float(generator.sigma.detach()), x=x.numpy(),
                    p_data=density_data.numpy(), p_g=density_g.numpy(),
                    d_trained=d_trained.numpy(), d_star=d_star.numpy(), support=support.numpy(),
                    max_abs_error=float((d_trained - d_star).abs()[support].max()),
                    value_at_d_star=value_on_grid(d_star, density_data, density_g, dx),
                    value_at_trained_d=value_on_grid(d_trained, density_data, density_g, dx),
                    two_jsd_minus_log4=2 * jensen_shannon(density_data, density_g, dx) - math.log(4),
                ))
            if step == gan_steps:
                break
            # one ordinary GAN step: D then G, non-saturating loss
            real = p_data.sample(256).unsqueeze(1)
            fake = generator(torch.randn(256, 1))
            loss_d = d_loss(critic(real), critic(fake.detach()))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = g_loss(critic(generator(torch.randn(256, 1))))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            bar.update()
        bar.close()
    return snapshots


def plot_optimal_discriminator(snapshots: list[OptimalDiscriminatorSnapshot]):
    """Plot p_data, p_g, the trained D and the analytic D* for each snapshot; return the Figure."""
    fig, axes = plt.subplots(1, len(snapshots), figsize=(4.2 * len(snapshots), 3.4), sharey=True, squeeze=False)
    for ax, snap in zip(axes[0], snapshots):
        scale = max(snap.p_data.max(), snap.p_g.max())
        ax.fill_between(snap.x, snap.p_data / scale, alpha=0.25, color="tab:blue", label=r"$p_{data}$ (scaled)")
        ax.fill_between(snap.x, snap.p_g / scale, alpha=0.25, color="tab:orange", label=r"$p_g$ (scaled)")
        ax.plot(snap.x, snap.d_star, "k--", lw=2, label=r"analytic $D^*$")
        ax.plot(snap.x, np.where(snap.support, snap.d_trained, np.nan), color="tab:red", lw=1.5, label="trained $D$")
        ax.set_title(f"step {snap.step}: $\\mu$={snap.mu:.2f}, $\\sigma$={snap.sigma:.2f}\nmax|D-D*|={snap.max_abs_error:.3f}")
        ax.set_xlabel("x (data units)")
        ax.set_xlim(-5, 5)  # the integrals use a wider grid; outside this window both densities are ~0
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("probability / scaled density")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9)
    fig.suptitle("The trained discriminator approaches $D^* = p_{data}/(p_{data}+p_g)$")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


# ============================================================================
# 2. Saturating vs non-saturating generator loss
# ============================================================================

def generator_gradient_vs_d(probabilities: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """Return |d loss_G / d logit| at each D(G(z)) value for the saturating and non-saturating losses (by autograd)."""
    p = torch.as_tensor(np.asarray(probabilities, dtype=np.float64)).clamp(1e-12, 1 - 1e-12)
    curves = {}
    for name in ("saturating", "nonsaturating"):
        _, g_loss = get_loss(name)
        logits = torch.log(p / (1 - p)).requires_grad_(True)  # l = sigma^{-1}(D(G(z)))
        # sum of per-sample losses: each gradient entry is then d loss(l_i) / d l_i
        (grad,) = torch.autograd.grad(g_loss(logits) * len(logits), logits)
        curves[name] = grad.abs().numpy()
    return curves


def plot_generator_gradients(probabilities: np.ndarray, curves: dict[str, np.ndarray]):
    """Plot the generator's gradient magnitude against D(G(z)) on a log scale; return the Figure."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    styles = {"saturating": ("tab:red", r"saturating: $\log(1-D)$, $|\partial/\partial\ell| = D$"),
              "nonsaturating": ("tab:green", r"non-saturating: $-\log D$, $|\partial/\partial\ell| = 1-D$")}
    for name, values in curves.items():
        colour, label = styles[name]
        ax.plot(probabilities, values, color=colour, lw=2, label=label)
    ax.set_yscale("log")
    ax.axvspan(0, 0.1, color="grey", alpha=0.15, label="early training: D rejects fakes")
    return finish_log_axes(ax, "D(G(z)), the discriminator's probability that a fake is real",
                           "|gradient w.r.t. the logit| (log scale)", "Generator gradient vs how confidently D rejects the fake")


def parameter_gradient_norm(parameters: Sequence[torch.nn.Parameter]) -> float:
    """Return the L2 norm of the gradients currently stored on ``parameters``."""
    grads = [p.grad.flatten() for p in parameters if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


def saturation_experiment(
    steps: int = 300,
    d_pretrain_steps: int = 300,
    lr: float = 1e-2,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, dict[str, list[float]]]:
    """Return, per generator loss, mu and |grad_theta L_G| over a 1-D run that starts against a strong D.

    Data: N(2, 0.5^2). Generator: G(z) = mu + sigma z, starting at mu = -2.
    The discriminator is first trained to convergence against this G (a strong D),
    then both losses continue from identical copies with the same optimiser settings.
    """
    p_data = GaussianMixture1D(means=(2.0,), stds=(0.5,), weights=(1.0,))
    d_loss, _ = get_loss("bce")
    start_g = GaussianGenerator(mu=-2.0, sigma=0.5)
    start_d = train_discriminator_1d(p_data, start_g, steps=d_pretrain_steps, batch_size=512, hidden=32, seed=seed)
    results: dict[str, dict[str, list[float]]] = {}
    for name in ("saturating", "nonsaturating"):
        _, g_loss = get_loss(name)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = GaussianGenerator(mu=-2.0, sigma=0.5)
            discriminator = ToyDiscriminator(data_dim=1, hidden=32, depth=3)
            discriminator.load_state_dict(start_d.state_dict())
            # plain SGD for G: the step is then proportional to the gradient, as in the theory
            # (Adam divides by a running gradient scale, which hides a vanishing gradient's size)
            opt_g = torch.optim.SGD(generator.parameters(), lr=lr)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.999))
            history: dict[str, list[float]] = {"mu": [float(generator.mu.detach())], "grad_norm": [], "d_fake": []}
            for _ in tqdm(range(steps), desc=f"{name} generator loss", disable=not progress, leave=False):
                fake_logits = discriminator(generator(torch.randn(batch_size, 1)).unsqueeze(1))
                loss_g = g_loss(fake_logits)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                history["grad_norm"].append(parameter_gradient_norm(list(generator.parameters())))
                history["d_fake"].append(float(torch.sigmoid(fake_logits.detach()).mean()))
                opt_g.step()
                real = p_data.sample(batch_size).unsqueeze(1)
                with torch.no_grad():
                    fake = generator(torch.randn(batch_size, 1)).unsqueeze(1)
                loss_d = d_loss(discriminator(real), discriminator(fake))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                history["mu"].append(float(generator.mu.detach()))
        results[name] = history
    return results


def plot_saturation(results: dict[str, dict[str, list[float]]], target_mean: float = 2.0):
    """Plot the generator mean and gradient norm over training for each loss; return the Figure."""
    fig, (ax_mu, ax_grad) = plt.subplots(1, 2, figsize=(10, 3.5))
    colours = {"saturating": "tab:red", "nonsaturating": "tab:green"}
    for name, history in results.items():
        ax_mu.plot(history["mu"], color=colours.get(name), lw=2, label=name)
        ax_grad.plot(history["grad_norm"], color=colours.get(name), lw=1.5, label=name)
    ax_mu.axhline(target_mean, color="k", ls="--", label=r"data mean")
    ax_mu.set(title=r"Generator mean $\mu$ during training", xlabel="generator step", ylabel=r"$\mu$ (data units)")
    ax_grad.set_yscale("log")
    ax_grad.set(title=r"$\Vert\nabla_\theta L_G\Vert$ during training", xlabel="generator step", ylabel="gradient norm (log scale)")
    for ax in (ax_mu, ax_grad):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================
# 3a. Non-convergence: the Dirac-GAN
# ============================================================================

def dirac_gan(
    method: str = "simultaneous",
    steps: int = 300,
    lr: float = 0.2,
    r1_gamma: float = 0.0,
    theta: float = 1.0,
    psi: float = 1.0,
    loss: str = "saturating",
) -> np.ndarray:
    """Return the (steps + 1, 2) trajectory of (theta, psi) for the Dirac-GAN under gradient steps.

    ``method`` is ``"simultaneous"`` (both players step from the same point) or
    ``"alternating"`` (D steps, then G steps against the new D). ``r1_gamma > 0``
    adds the R1 penalty gamma/2 E[||grad_x D(x)||^2] on the real point x = 0.
    """
    if method not in ("simultaneous", "alternating"):
        raise ValueError(f"method must be 'simultaneous' or 'alternating', got {method!r}")
    d_loss, g_loss = get_loss(loss)
    theta_t = torch.tensor([float(theta)], requires_grad=True)  # the generator: G = delta_theta
    psi_t = torch.tensor([float(psi)], requires_grad=True)  # the discriminator: D(x) = psi x
    real = torch.zeros(1, 1)  # p_data = delta_0

    def critic(x: Tensor) -> Tensor:
        return (psi_t * x).squeeze(-1)

    def discriminator_loss() -> Tensor:
        loss_d = d_loss(critic(real), critic(theta_t.view(1, 1).detach()))
        if r1_gamma > 0:
            loss_d = loss_d + r1_gamma / 2 * r1_penalty(critic, real)
        return loss_d

    def generator_loss() -> Tensor:
        return g_loss(critic(theta_t.view(1, 1)))

    path = [(theta, psi)]
    for _ in range(steps):
        (grad_psi,) = torch.autograd.grad(discriminator_loss(), psi_t)
        if method == "alternating":
            with torch.no_grad():
                psi_t -= lr * grad_psi
        (grad_theta,) = torch.autograd.grad(generator_loss(), theta_t)
        with torch.no_grad():
            if method == "simultaneous":
                psi_t -= lr * grad_psi
            theta_t -= lr * grad_theta
        path.append((float(theta_t.detach()), float(psi_t.detach())))
    return np.asarray(path)


def plot_dirac_trajectories(paths: dict[str, np.ndarray]):
    """Plot Dirac-GAN trajectories in the (theta, psi) plane and their distance to equilibrium; return the Figure."""
    fig, (ax_plane, ax_dist) = plt.subplots(1, 2, figsize=(10, 4))
    for name, path in paths.items():
        line, = ax_plane.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
        ax_plane.plot(path[0, 0], path[0, 1], "o", color=line.get_color())
        ax_dist.plot(np.linalg.norm(path, axis=1), color=line.get_color(), lw=2, label=name)
    ax_plane.plot(0, 0, "k*", ms=14, label="equilibrium (0, 0)")
    ax_plane.set(title="Dirac-GAN trajectories", xlabel=r"generator $\theta$ (position of the fake point)",
                 ylabel=r"discriminator $\psi$ (slope of $D(x)=\psi x$)")
    ax_plane.set_aspect("equal", adjustable="datalim")
    ax_dist.set(title="Distance from equilibrium", xlabel="gradient step", ylabel=r"$\sqrt{\theta^2+\psi^2}$")
    for ax in (ax_plane, ax_dist):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
