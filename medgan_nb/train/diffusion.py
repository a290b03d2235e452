r"""The DDPM's own short training loop: :func:`train_ddpm`.

Why not :func:`~medgan_nb.train.engine.train_gan`: a DDPM is not adversarial. There is one network
(the U-Net :math:`\varepsilon_\theta`), one regression loss (:func:`~medgan_nb.models.diffusion.epsilon_loss`)
and no discriminator, so the engine's alternating critic and generator updates, its GAN losses, penalties
and DiffAugment have nothing to act on. Each step here is plain supervised learning:

1. draw a minibatch of real images :math:`x_0` (a seeded ``torch.Generator`` picks them);
2. draw :math:`t \sim \mathcal U\{0,\dots,T-1\}` and :math:`\varepsilon \sim \mathcal N(0, I)` per image,
   form :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`;
3. take one Adam step on :math:`\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2`;
4. optionally fold the weights into an exponential moving average (Ho et al. use decay 0.9999).

The loss is checked before every update: a NaN or infinite one raises
:class:`~medgan_nb.train.steps.TrainingDiverged`, as in the GAN engine.

This module does not import ``diffusers``: it only calls the scheduler object it is given.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from ..models.diffusion import _check_labels, epsilon_loss
from ..runtime import pick_device
from .ema import GeneratorEMA
from .steps import TrainingDiverged

Tensor = torch.Tensor


@dataclass
class DiffusionResult:
    """What :func:`train_ddpm` returns."""

    unet: nn.Module  # the U-Net to sample with: the EMA copy when ema_decay was set, else raw_unet
    raw_unet: nn.Module  # the U-Net the optimiser trained (the caller's module, trained in place)
    losses: list[float]  # the epsilon-prediction loss at each logged step
    logged_steps: list[int]  # the steps (1..steps) those losses belong to
    steps: int
    batch_size: int
    seconds: float  # wall time of the whole loop

    @property
    def images_per_second(self) -> float:
        """Return the training throughput: images seen per second of wall time."""
        return self.steps * self.batch_size / self.seconds if self.seconds > 0 else float("nan")


def train_ddpm(unet: nn.Module, scheduler, images: Tensor, labels: Tensor | None = None, *, steps: int,
               batch_size: int = 32, lr: float = 2e-4, seed: int = 0, device: str | None = None,
               ema_decay: float | None = None, log_every: int = 1, progress: bool = True) -> DiffusionResult:
    r"""Train ``unet`` in place to predict the noise on ``images``; return a :class:`DiffusionResult`.

    Args:
        unet: :math:`\varepsilon_\theta` from :func:`~medgan_nb.models.diffusion.build_unet`.
        scheduler: its DDPM (or DDIM) scheduler: the :math:`\beta` schedule and :math:`T`.
        images: real images (N, 3, S, S) in [-1, 1], with S the U-Net's ``image_size``.
        labels: class labels (N,) for a class-conditional U-Net; None for an unconditional one.
        steps: optimiser steps (one minibatch each).
        batch_size: images per step, drawn without replacement within a step.
        lr: Adam's learning rate (2e-4 as in Ho et al.'s CIFAR-10 run).
        seed: seeds the minibatches, timesteps and noise: the same seed (and the same initial U-Net)
            gives the same losses.
        device: where to train; None picks cuda > mps > cpu.
        ema_decay: None, or the decay :math:`\beta` of an exponential moving average of the weights
            (with the kit's warm-up, :mod:`~medgan_nb.train.ema`); the average is then ``result.unet``.
        log_every: record the loss every this many steps (and at the last step).
        progress: show a progress bar.
    """
    from tqdm.auto import tqdm

    labels = _check_training_arguments(unet, images, labels, steps, batch_size, log_every, ema_decay)
    device = pick_device(device)
    unet.to(device)
    images = images.to(device)
    labels = None if labels is None else labels.to(device)
    generator = torch.Generator().manual_seed(seed)  # CPU: the same draws on every device
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    # The kit's EMA fits any nn.Module (torch's AveragedModel around a copy); the U-Net has GroupNorm, not
    # BatchNorm, so there are no running statistics to refresh. Its warm-up keeps a short run's average
    # from being mostly the random initial weights.
    ema = GeneratorEMA(unet, ema_decay) if ema_decay is not None else None
    losses, logged_steps = [], []
    was_training = unet.training
    unet.train()
    bar = tqdm(range(1, steps + 1), desc="train_ddpm", unit="step", disable=not progress, leave=False)
    start = time.perf_counter()
    try:
        for step in bar:
            batch = torch.randperm(len(images), generator=generator)[:batch_size].to(device)
            loss = epsilon_loss(unet, scheduler, images[batch], None if labels is None else labels[batch],
                                generator=generator)
            _check_finite(loss, step, lr)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update(unet)
            if step % log_every == 0 or step == steps:
                losses.append(float(loss.detach()))
                logged_steps.append(step)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
    finally:
        bar.close()
        unet.train(was_training)
    seconds = time.perf_counter() - start
    trained = unet if ema is None else ema.module.train(was_training)
    return DiffusionResult(unet=trained, raw_unet=unet, losses=losses, logged_steps=logged_steps, steps=steps,
                           batch_size=batch_size, seconds=seconds)


def _check_finite(loss: Tensor, step: int, lr: float) -> None:
    """Raise TrainingDiverged when the loss is NaN or infinite (before its update is applied)."""
    if not bool(torch.isfinite(loss)):
        raise TrainingDiverged(
            f"DDPM training diverged at step {step}: the noise-prediction loss is {float(loss.detach())}. "
            f"Try a smaller learning rate (lr={lr:g} now; 1e-4 to 2e-4 is usual), check that the images are "
            "finite and in [-1, 1], and rebuild the U-Net if its weights hold NaN or inf",
            step=step,
        )


def _check_training_arguments(unet: nn.Module, images: Tensor, labels: Tensor | None, steps: int, batch_size: int,
                              log_every: int, ema_decay: float | None) -> Tensor | None:
    """Check train_ddpm's arguments; return the labels as a long tensor (or None)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the optimiser steps to take), got {steps!r}")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be a positive integer (1 records every step), got {log_every!r}")
    if ema_decay is not None and not 0.0 < ema_decay < 1.0:
        raise ValueError(f"ema_decay must be None or in (0, 1) (0.999 for short runs, 0.9999 in Ho et al.), "
                         f"got {ema_decay!r}")
    size = getattr(unet, "image_size", None)
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3 \
            or (size is not None and tuple(images.shape[2:]) != (size, size)):
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, 3, {size}, {size}) (RGB at the U-Net's image_size), got "
                         f"{shape}; resize the images, or build the U-Net with build_unet(image_size=...) "
                         "for the size you have")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be an integer from 1 to the number of images ({len(images)}), got "
                         f"{batch_size!r}; use batch_size <= {len(images)}, or give more images")
    return _check_labels(unet, labels, len(images))
