"""A 2-D toy GAN on a ring of Gaussians: mode coverage, the trainer, vanishing gradients and the
hyperparameter sweep (notebook 01, sections 3b-3e)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from ...losses import get_loss, gradient_penalty, r1_penalty
from ...models.toy import ToyDiscriminator, ToyGenerator
from ...viz import finish
from .game import parameter_gradient_norm
from .toy_data import ring_centres, sample_ring

Tensor = torch.Tensor


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
    from ...viz import plot_curves

    fig, ax = plt.subplots(figsize=(7, 3.5))
    plot_curves({name: h[key] for name, h in histories.items()}, title=f"{key.replace('_', ' ')} during training (running mean of {smooth})",
                xlabel="generator step", ylabel=f"{key.replace('_', ' ')} (nats)", smooth=smooth, ax=ax)
    fig.tight_layout()
    return fig
