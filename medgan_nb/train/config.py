"""Every knob of :func:`~medgan_nb.train.train_gan` in one dataclass, and the hooks a GAN family may plug in.

A family (DCGAN, WGAN, pix2pix, CycleGAN, progressive growing, ...) never
carries its own training loop. What the loop cannot guess, it gets here:

* settings: the loss name, ``n_critic``, ``gp_weight``, ``r1_gamma`` (and
  ``r1_every`` for StyleGAN2's *lazy* R1), ``ema_decay``, ``augment``;
* ``weight_clip``: after every critic update, clamp the critic's weights to
  :math:`[-c, c]` (the original WGAN's crude way to keep :math:`D` 1-Lipschitz);
* ``generator_loss``: an extra term added to the generator's loss, computed from
  a :class:`GeneratorBatch` (pix2pix's :math:`\\lambda\\lVert y - G(x)\\rVert_1`,
  CycleGAN's cycle-consistency and identity terms). It returns a tensor, or a
  dict of named tensors, each of which is added and recorded in the History as
  ``loss_<name>``;
* ``schedule``: called at the start of every step on every process with
  ``(step, total_steps, generator, discriminator)``, e.g. to set the
  resolution and fade-in :math:`\\alpha` of progressive growing.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Union

import torch
from torch import nn

from ..losses import get_loss

Tensor = torch.Tensor


@dataclass
class GeneratorBatch:
    """What a ``generator_loss`` hook receives at every generator update."""

    fake: Tensor  # G(z, condition) of this step, with gradients into G
    real: Tensor  # the real images of the same batch (paired with ``condition`` for pix2pix)
    z: Tensor  # the latent vectors
    condition: Tensor | None  # class labels, masks or source images (None for an unconditional G)
    generator: nn.Module  # the plain generator (outside DistributedDataParallel)
    discriminator: nn.Module
    step: int


OPTIMIZERS = ("adam", "rmsprop")

GeneratorLossHook = Callable[[GeneratorBatch], Union[Tensor, "dict[str, Tensor]"]]
ScheduleHook = Callable[[int, int, nn.Module, nn.Module], None]


@dataclass
class TrainConfig:
    """Every knob of :func:`train_gan` in one place (a plain dataclass, as in minGPT)."""

    steps: int = 1000  # generator steps (each after n_critic discriminator steps)
    epochs: float | None = None  # if set, overrides steps: epochs passes over the data
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4  # TTUR (two time-scale update rule): a higher lr_d than lr_g
    betas: tuple[float, float] = (0.5, 0.999)  # Adam, as in the DCGAN paper
    optimizer: str = "adam"  # "adam", or "rmsprop" (the original WGAN: momentum-free updates suit weight clipping)
    n_critic: int = 1  # discriminator steps per generator step (5 for WGAN and WGAN-GP)
    loss: str = "bce"  # any name medgan_nb.losses.get_loss knows
    gp_weight: float = 0.0  # lambda of the WGAN-GP gradient penalty (10 in the paper)
    r1_gamma: float = 0.0  # gamma of the R1 penalty on real images
    r1_every: int = 1  # lazy R1 (StyleGAN2): compute it every k critic steps, weighted by k
    weight_clip: float | None = None  # original WGAN: clamp the critic's weights to [-c, c] (c = 0.01)
    # AC-GAN: lambda of the auxiliary classifier (a D built with class_head=True): D adds lambda CE(C(x), y) on
    # real images, G adds lambda CE(C(G(z, y)), y); 0 = off. Class labels only (not masks)
    class_weight: float = 0.0
    ema_decay: float | None = None  # keep an exponential moving average copy of G (e.g. 0.999, warmed up)
    amp: str = "auto"  # "auto" (bf16/fp16 on CUDA, off on CPU), "off", "bf16", "fp16"
    channels_last: bool = False  # NHWC memory layout (faster convolutions on recent CPUs/GPUs)
    seed: int = 0
    device: str | None = None  # None: cuda > mps > cpu
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0  # steps; 0 = only at the end (if checkpoint_dir)
    sample_every: int = 0  # steps; fixed-noise sample grids kept in result.samples
    n_samples: int = 64
    log_every: int = 1  # history record every this many steps
    progress: bool = True
    # x -> x', applied to real and fake images before D; or a DiffAugment policy such as "color,translation,cutout"
    augment: Callable[[Tensor], Tensor] | str | None = None
    generator_loss: GeneratorLossHook | None = None  # extra generator term (pix2pix L1, CycleGAN cycle)
    schedule: ScheduleHook | None = None  # per-step schedule (progressive growing)

    def total_steps(self, n_images: int) -> int:
        """Return the number of generator steps: ``steps``, or ``ceil(epochs * n_images / (batch_size * n_critic))``."""
        if self.epochs is None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * n_images / (self.batch_size * self.n_critic)))

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (functions by name) for checkpoints and JSON."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        for key in ("augment", "generator_loss", "schedule"):
            hook = getattr(self, key)
            if hook is not None and not isinstance(hook, str):
                values[key] = getattr(hook, "__qualname__", None) or type(hook).__name__
        return values


def make_optimizer(config: TrainConfig, parameters, lr: float) -> torch.optim.Optimizer:
    """Return the optimiser the config names for these parameters (Adam with ``betas``, or RMSprop)."""
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    return torch.optim.Adam(parameters, lr=lr, betas=tuple(config.betas))


def check_config(config: TrainConfig, n_images: int, world_size: int) -> None:
    """Raise a ValueError naming the setting to change when the config cannot work."""
    get_loss(config.loss)  # unknown loss names list the known ones
    checks = [
        (config.batch_size >= 1, f"batch_size must be >= 1, got {config.batch_size}"),
        (config.batch_size <= n_images,
         f"batch_size {config.batch_size} is larger than the dataset ({n_images} images); lower batch_size"),
        (config.batch_size % world_size == 0,
         f"batch_size {config.batch_size} must be divisible by the {world_size} processes; pick a multiple"),
        (config.n_critic >= 1, f"n_critic must be >= 1, got {config.n_critic}"),
        (config.epochs is not None or config.steps >= 0, f"steps must be >= 0, got {config.steps}"),
        (config.epochs is None or config.epochs > 0, f"epochs must be > 0 (or None to use steps), got {config.epochs}"),
        (config.ema_decay is None or 0.0 < config.ema_decay < 1.0,
         f"ema_decay must be in (0, 1) (e.g. 0.999) or None, got {config.ema_decay}"),
        (config.log_every >= 1, f"log_every must be >= 1, got {config.log_every}"),
        (config.gp_weight >= 0 and config.r1_gamma >= 0, "gp_weight and r1_gamma must be >= 0"),
        (config.class_weight >= 0, f"class_weight must be >= 0 (0 = no auxiliary classifier), got {config.class_weight}"),
        (config.optimizer in OPTIMIZERS,
         f"unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"),
        (config.r1_every >= 1, f"r1_every must be >= 1 (1 = R1 at every critic step), got {config.r1_every}"),
        (config.weight_clip is None or config.weight_clip > 0,
         f"weight_clip must be a positive number (0.01 in the WGAN paper) or None, got {config.weight_clip}"),
        (config.generator_loss is None or callable(config.generator_loss),
         "generator_loss must be a function GeneratorBatch -> tensor (or dict of tensors), or None"),
        (config.schedule is None or callable(config.schedule),
         "schedule must be a function (step, total_steps, generator, discriminator) -> None, or None"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
