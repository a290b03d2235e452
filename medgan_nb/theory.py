r"""GAN theory you can watch: toy data, small experiments and their plots (notebook 01).

**The game** (Goodfellow et al., 2014). A generator :math:`G` maps noise
:math:`z\sim p_z` to samples with density :math:`p_g`; a discriminator
:math:`D(x)\in(0,1)` says how likely :math:`x` is real:

.. math::
    \min_G \max_D V(D, G) = \mathbb E_{x\sim p_{data}}[\log D(x)]
                          + \mathbb E_{z\sim p_z}[\log(1 - D(G(z)))].

For a fixed :math:`G` the integrand :math:`p_{data}\log D + p_g\log(1-D)` is
maximised pointwise by

.. math::
    D^*(x) = \frac{p_{data}(x)}{p_{data}(x) + p_g(x)},

and plugging :math:`D^*` back in gives
:math:`V(D^*, G) = 2\,\mathrm{JSD}(p_{data}\,\Vert\,p_g) - \log 4`, minimal
(:math:`-\log 4`) exactly when :math:`p_g = p_{data}`.

**Generator losses.** With :math:`\ell = \text{logit}` and :math:`D=\sigma(\ell)`,
the *saturating* loss :math:`\log(1-D)` has :math:`|\partial/\partial\ell| = D`,
which vanishes when D confidently rejects fakes (:math:`D\to 0`); the
*non-saturating* loss :math:`-\log D` has :math:`|\partial/\partial\ell| = 1-D`,
largest exactly then.

**Dirac-GAN** (Mescheder et al., 2018): :math:`p_{data}=\delta_0`,
:math:`G=\delta_\theta`, :math:`D_\psi(x)=\psi x`. The only equilibrium is
:math:`(\theta,\psi)=(0,0)`; the Jacobian of the gradient field there has purely
imaginary eigenvalues, so simultaneous gradient steps spiral *outwards*,
alternating steps circle, and an R1 penalty :math:`\tfrac\gamma2\psi^2` adds
damping that makes the iterates converge.

**Mode collapse** is measured on a ring of :math:`K` Gaussians with standard
deviation :math:`s`: a sample is *high quality* when it lies within
:math:`3s` of a mode centre, and a mode is *covered* when it receives a fair
share of the high-quality samples (Srivastava et al., 2017, VEEGAN).

All losses come from :mod:`medgan_nb.losses`, the same ones the image notebooks use.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.spatial.distance import jensenshannon
from tqdm.auto import tqdm

from .losses import get_loss, gradient_penalty, r1_penalty
from .viz import finish
from .models.toy import GaussianGenerator, ToyDiscriminator, ToyGenerator

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
    ax.set_xlabel("D(G(z)), the discriminator's probability that a fake is real")
    ax.set_ylabel("|gradient w.r.t. the logit| (log scale)")
    ax.set_title("Generator gradient vs how confidently D rejects the fake")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


# ============================================================================
# 3b. Mode collapse on a ring of Gaussians: metric, trainer, plots
# ============================================================================

@dataclass
class ModeCoverage:
    """How well samples cover a mixture: modes covered, fraction of high-quality samples, per-mode counts."""

    modes_covered: int
    high_quality: float
    counts: np.ndarray  # high-quality samples assigned to each mode


def mode_coverage(samples: Tensor | np.ndarray, centres: Tensor | np.ndarray, std: float, min_share: float = 0.2) -> ModeCoverage:
    """Return modes covered and the high-quality fraction (samples within 3 std of their nearest mode).

    A mode counts as covered when it receives at least ``min_share`` of its fair
    share ``N / K`` of the samples as high-quality samples, so a few stray points
    do not count as "covering" a mode.
    """
    samples_t = torch.as_tensor(np.asarray(samples), dtype=torch.float32)
    centres_t = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
    if samples_t.ndim != 2 or centres_t.ndim != 2 or samples_t.shape[1] != centres_t.shape[1]:
        raise ValueError(f"samples {tuple(samples_t.shape)} and centres {tuple(centres_t.shape)} must both be (N, d) with the same d")
    if len(samples_t) == 0:
        raise ValueError("no samples given; pass at least one sample")
    distance, nearest = torch.cdist(samples_t, centres_t).min(dim=1)  # distance to nearest centre
    good = torch.isfinite(distance) & (distance < 3 * std)  # "high quality": within 3 std
    counts = torch.bincount(nearest[good], minlength=len(centres_t)).numpy()
    threshold = min_share * len(samples_t) / len(centres_t)
    return ModeCoverage(int((counts >= max(threshold, 1)).sum()), float(good.float().mean()), counts)


@dataclass
class ToyGANConfig:
    """Settings of one 2-D toy GAN run on a ring of Gaussians (steps count generator updates)."""

    loss: str = "nonsaturating"  # any name medgan_nb.losses.get_loss knows
    steps: int = 1000
    batch_size: int = 256
    lr_generator: float = 1e-3
    lr_discriminator: float = 1e-3
    n_critic: int = 1  # discriminator steps per generator step
    hidden: int = 128
    depth: int = 3
    latent_dim: int = 2
    gp_weight: float = 0.0  # lambda of the WGAN-GP gradient penalty (0 = off)
    r1_gamma: float = 0.0  # gamma of the R1 penalty (0 = off)
    minibatch_std: bool = False
    adam_betas: tuple[float, float] = (0.5, 0.999)
    n_modes: int = 8
    radius: float = 2.0
    mode_std: float = 0.05
    n_snapshots: int = 4
    eval_samples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        get_loss(self.loss)  # raises a ValueError listing the known losses
        for name in ("steps", "batch_size", "n_critic", "hidden", "depth", "latent_dim", "n_modes", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr_generator <= 0 or self.lr_discriminator <= 0:
            raise ValueError("learning rates must be > 0")


@dataclass
class ToyGANResult:
    """What a toy run leaves behind: models, loss history, sample snapshots and the final mode coverage."""

    config: ToyGANConfig
    generator: ToyGenerator
    discriminator: ToyDiscriminator
    history: dict[str, list[float]]
    snapshots: list[tuple[int, np.ndarray]]
    coverage: ModeCoverage
    samples: np.ndarray


def sample_generator(generator: ToyGenerator, n: int, seed: int = 12345) -> np.ndarray:
    """Return n generated points (n, 2) as a numpy array, from a fixed noise seed."""
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        return generator(z).cpu().numpy()


def train_toy_gan(
    config: ToyGANConfig,
    device: str | torch.device = "cpu",
    progress: bool = True,
    callback: Callable[[int, np.ndarray, dict[str, list[float]]], None] | None = None,
    callback_every: int = 100,
) -> ToyGANResult:
    """Train a 2-D GAN on the ring of Gaussians and return its :class:`ToyGANResult`.

    Each generator step follows ``n_critic`` discriminator steps. ``callback(step,
    samples, history)`` is called every ``callback_every`` steps (the playground
    redraws its plot there).
    """
    device = torch.device(device)
    d_loss, g_loss = get_loss(config.loss)
    centres = ring_centres(config.n_modes, config.radius)
    data_rng = torch.Generator().manual_seed(config.seed + 1)
    snapshot_at = set(np.linspace(0, config.steps, config.n_snapshots).round().astype(int).tolist()) if config.n_snapshots else set()
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    snapshots: list[tuple[int, np.ndarray]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = ToyGenerator(config.latent_dim, 2, config.hidden, config.depth).to(device)
        discriminator = ToyDiscriminator(2, config.hidden, config.depth, minibatch_std=config.minibatch_std).to(device)
        opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.adam_betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_discriminator, betas=config.adam_betas)

        def noise() -> Tensor:
            return torch.randn(config.batch_size, config.latent_dim).to(device)

        for step in tqdm(range(config.steps + 1), desc=f"toy GAN ({config.loss})", disable=not progress, leave=False):
            if step in snapshot_at:
                snapshots.append((step, sample_generator(generator, 1000)))
            if callback is not None and (step % callback_every == 0 or step == config.steps):
                callback(step, sample_generator(generator, 1000), history)
            if step == config.steps:
                break
            for _ in range(config.n_critic):  # discriminator / critic steps
                real = sample_ring(config.batch_size, config.n_modes, config.radius, config.mode_std, data_rng).to(device)
                with torch.no_grad():
                    fake = generator(noise())
                loss_d = d_loss(discriminator(real), discriminator(fake))
                if config.gp_weight > 0:
                    loss_d = loss_d + config.gp_weight * gradient_penalty(discriminator, real, fake)
                if config.r1_gamma > 0:
                    loss_d = loss_d + config.r1_gamma / 2 * r1_penalty(discriminator, real)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            loss_g = g_loss(discriminator(generator(noise())))  # generator step
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            history["d_loss"].append(float(loss_d.detach()))
            history["g_loss"].append(float(loss_g.detach()))
    samples = sample_generator(generator, config.eval_samples)
    coverage = mode_coverage(samples, centres, config.mode_std)
    return ToyGANResult(config, generator.eval(), discriminator.eval(), history, snapshots, coverage, samples)


def plot_ring_runs(results: dict[str, ToyGANResult], max_columns: int = 4):
    """Plot generated samples over training (columns) for each named run (rows) against the ring's modes; return the Figure."""
    n_rows = len(results)
    n_cols = min(max_columns, max(len(r.snapshots) for r in results.values()))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.7 * n_cols, 2.8 * n_rows), squeeze=False)
    for row, (name, result) in zip(axes, results.items()):
        cfg = result.config
        centres = ring_centres(cfg.n_modes, cfg.radius).numpy()
        picks = np.linspace(0, len(result.snapshots) - 1, n_cols).round().astype(int)
        for ax, index in zip(row, picks):
            step, samples = result.snapshots[index]
            ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue")
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", s=40, color="tab:red")
            lim = cfg.radius * 1.6
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
            ax.set_title(f"{name}: step {step}", fontsize=9)
        cov = result.coverage
        row[-1].set_title(f"{name}: step {result.snapshots[picks[-1]][0]}\n{cov.modes_covered}/{cfg.n_modes} modes, "
                          f"{100 * cov.high_quality:.0f}% high quality", fontsize=9)
    fig.suptitle("Generated samples (blue) and the modes of the data (red x)")
    finish(fig)
    return fig


# ============================================================================
# 3c. Vanishing gradients when D is much stronger than G
# ============================================================================

def vanishing_gradient_experiment(
    d_steps: int = 400,
    check_every: int = 25,
    batch_size: int = 256,
    hidden: int = 128,
    gp_weight: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Return ||grad_theta L_G|| while D alone is trained against a frozen G (Arjovsky & Bottou, 2017, Fig. 2).

    Keys: ``d_steps`` (x axis), ``saturating`` and ``nonsaturating`` (both from the
    same BCE-trained D) and ``wgan_gp`` (from a critic trained with the
    Wasserstein loss and gradient penalty).
    """
    out: dict[str, list[float]] = {"d_steps": [], "saturating": [], "nonsaturating": [], "wgan_gp": []}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = ToyGenerator(2, 2, hidden)
        z_check = torch.randn(1024, 2)
        data_rng = torch.Generator().manual_seed(seed + 1)
        for critic_kind in ("bce", "wgan_gp"):
            critic = ToyDiscriminator(2, hidden)
            optimiser = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.999))
            d_loss, _ = get_loss("bce" if critic_kind == "bce" else "wasserstein")
            for step in tqdm(range(d_steps + 1), desc=f"training D only ({critic_kind})", disable=not progress, leave=False):
                if step % check_every == 0:
                    names = ("saturating", "nonsaturating") if critic_kind == "bce" else ("wasserstein",)
                    for name in names:
                        generator.zero_grad(set_to_none=True)
                        get_loss(name)[1](critic(generator(z_check))).backward()
                        out["wgan_gp" if name == "wasserstein" else name].append(parameter_gradient_norm(list(generator.parameters())))
                    if critic_kind == "bce":
                        out["d_steps"].append(step)
                if step == d_steps:
                    break
                real = sample_ring(batch_size, generator=data_rng)
                with torch.no_grad():
                    fake = generator(torch.randn(batch_size, 2))
                loss = d_loss(critic(real), critic(fake))
                if critic_kind == "wgan_gp":
                    loss = loss + gp_weight * gradient_penalty(critic, real, fake)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
    return out


def plot_vanishing_gradients(curves: dict[str, list[float]]):
    """Plot the generator's gradient norm against the number of D-only steps (log scale); return the Figure."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    styles = {"saturating": ("tab:red", "saturating loss, BCE discriminator"),
              "nonsaturating": ("tab:green", "non-saturating loss, BCE discriminator"),
              "wgan_gp": ("tab:purple", "Wasserstein loss, critic with gradient penalty")}
    for key, (colour, label) in styles.items():
        ax.plot(curves["d_steps"], curves[key], color=colour, lw=2, label=label)
    ax.set_yscale("log")
    ax.set(title="Generator gradient as the discriminator gets stronger (G frozen)",
           xlabel="discriminator-only training steps", ylabel=r"$\Vert\nabla_\theta L_G\Vert$ (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================
# 3d-e. Instability and hyperparameter sensitivity
# ============================================================================

def loss_oscillation(history: dict[str, list[float]], key: str = "d_loss") -> float:
    """Return the standard deviation of a loss over the second half of training (how much it swings)."""
    values = np.asarray(history[key][len(history[key]) // 2 :], dtype=float)
    return float(values.std()) if len(values) else float("nan")


@dataclass
class SweepResult:
    """A learning-rate x discriminator-steps sweep: modes covered per cell and every run's result."""

    learning_rates: list[float]
    n_critics: list[int]
    modes_covered: np.ndarray  # shape (len(learning_rates), len(n_critics))
    high_quality: np.ndarray
    runs: dict[tuple[float, int], ToyGANResult] = field(default_factory=dict)


def sensitivity_sweep(
    base: ToyGANConfig, learning_rates: Sequence[float], n_critics: Sequence[int], device: str | torch.device = "cpu", progress: bool = True
) -> SweepResult:
    """Train one toy GAN per (learning rate, discriminator steps) pair and return the grid of final mode coverage."""
    modes = np.zeros((len(learning_rates), len(n_critics)), dtype=int)
    quality = np.zeros_like(modes, dtype=float)
    runs = {}
    cells = [(i, j) for i in range(len(learning_rates)) for j in range(len(n_critics))]
    for i, j in tqdm(cells, desc="sweep lr x n_critic", disable=not progress):
        lr, n_critic = float(learning_rates[i]), int(n_critics[j])
        config = replace(base, lr_generator=lr, lr_discriminator=lr, n_critic=n_critic)
        result = train_toy_gan(config, device=device, progress=False)
        modes[i, j], quality[i, j] = result.coverage.modes_covered, result.coverage.high_quality
        runs[(lr, n_critic)] = result
    return SweepResult([float(v) for v in learning_rates], [int(v) for v in n_critics], modes, quality, runs)


def plot_sweep_heatmap(sweep: SweepResult, n_modes: int = 8):
    """Draw the sweep as a heat map of modes covered (annotated with high-quality %); return the Figure."""
    fig, ax = plt.subplots(figsize=(1.6 * len(sweep.n_critics) + 2.5, 0.8 * len(sweep.learning_rates) + 2))
    image = ax.imshow(sweep.modes_covered, cmap="viridis", vmin=0, vmax=n_modes, aspect="auto")
    for i in range(len(sweep.learning_rates)):
        for j in range(len(sweep.n_critics)):
            colour = "black" if sweep.modes_covered[i, j] > n_modes / 2 else "white"
            ax.text(j, i, f"{sweep.modes_covered[i, j]}\n({100 * sweep.high_quality[i, j]:.0f}% HQ)", ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(len(sweep.n_critics)), [str(n) for n in sweep.n_critics])
    ax.set_yticks(range(len(sweep.learning_rates)), [f"{lr:.0e}" for lr in sweep.learning_rates])
    ax.set(xlabel="discriminator steps per generator step (n_critic)", ylabel="learning rate (G and D)",
           title="Final modes covered: one run per cell, same seed")
    fig.colorbar(image, ax=ax, label=f"modes covered (of {n_modes})")
    fig.tight_layout()
    return fig


def plot_loss_histories(histories: dict[str, dict[str, list[float]]], key: str = "d_loss", smooth: int = 5):
    """Plot one loss (``d_loss`` or ``g_loss``) of several runs over training; return the Figure."""
    from .viz import plot_curves

    fig, ax = plt.subplots(figsize=(7, 3.5))
    plot_curves({name: h[key] for name, h in histories.items()}, title=f"{key.replace('_', ' ')} during training (running mean of {smooth})",
                xlabel="generator step", ylabel=f"{key.replace('_', ' ')} (nats)", smooth=smooth, ax=ax)
    fig.tight_layout()
    return fig
