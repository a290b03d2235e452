r"""An exponential moving average (EMA) of the generator's weights, with a warm-up.

Averaging the generator's weights over the last few thousand steps smooths out
the oscillation of GAN training and usually gives better samples than the
last iterate (Karras et al. 2018; Yazıcı et al. 2019). After every generator
update,

.. math::
    \theta_{ema} \leftarrow \beta_t\,\theta_{ema} + (1 - \beta_t)\,\theta_G,
    \qquad \beta_t = \min\!\Big(\beta,\ 0.5^{\,1 / (r\,t)}\Big),

where :math:`t` counts the updates so far and :math:`r` = ``EMA_RAMPUP``. A
fixed :math:`\beta = 0.999` would keep :math:`0.999^{t}` of the *random
initial* weights in the average, 37% after 1,000 steps: the average of a short
run is mostly noise and draws grey images. The warm-up is StyleGAN2's EMA
ramp-up: the average's *half-life* (the number of updates after which an old
weight counts half) is at most a fraction :math:`r` of the updates taken so
far, so the average follows the generator closely early on and only later
averages over the long window :math:`\beta` asks for. StyleGAN2 uses
:math:`r = 0.05`; the course's runs are short (hundreds to thousands of steps)
and the generator still improves quickly at their end, so a window that long
lags behind it: with :math:`r = 0.02` the average of a 400-step DCGAN run was
as close to real data as the raw generator (Fréchet distance 0.48 vs 0.45),
with :math:`r = 0.05` it was not (0.63).

Batch normalisation: the average has new weights, so the running statistics
it would inherit no longer describe its activations. Before the average is
used (samples during training, the returned model) its statistics are
recomputed from fresh forward passes
(:func:`~medgan_nb.models.sampling.refresh_batchnorm_statistics`).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..models.sampling import has_batchnorm, refresh_batchnorm_statistics

Tensor = torch.Tensor


EMA_RAMPUP = 0.02  # r: the half-life is at most this fraction of the updates taken so far


def warmed_up_decay(decay: float, updates: int) -> float:
    """Return the decay used for the next update: min(decay, 0.5 ** (1 / (EMA_RAMPUP * updates)))."""
    if updates <= 0:
        return 0.0  # the first update copies the generator
    return min(decay, 0.5 ** (1.0 / (EMA_RAMPUP * updates)))  # half-life = EMA_RAMPUP * updates


class GeneratorEMA:
    """The EMA copy of a generator (``.module``), updated with :meth:`update` after every generator step."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.decay = decay

        def average(averaged: Tensor, current: Tensor, updates: Tensor) -> Tensor:
            beta = warmed_up_decay(decay, int(updates))  # beta_t
            return beta * averaged + (1.0 - beta) * current  # beta_t theta_ema + (1 - beta_t) theta_G

        # torch's AveragedModel keeps the copy and the update count; buffers (batch-norm statistics) are not
        # averaged but recomputed for the averaged weights by refresh()
        self.averaged = AveragedModel(generator, avg_fn=average, use_buffers=False)
        self.needs_refresh = has_batchnorm(generator)

    @property
    def module(self) -> nn.Module:
        """Return the averaged generator (a plain nn.Module of the generator's class)."""
        return self.averaged.module

    @property
    def updates(self) -> int:
        """Return the number of updates averaged so far."""
        return int(self.averaged.n_averaged)

    def set_updates(self, updates: int) -> None:
        """Continue counting from ``updates`` (when resuming from a checkpoint)."""
        self.averaged.n_averaged.fill_(int(updates))

    def update(self, generator: nn.Module) -> None:
        """Fold the generator's current weights into the average."""
        self.averaged.update_parameters(generator)

    def refresh(self, draw_inputs: Callable[[], tuple[Tensor, ...]], n_batches: int = 8) -> nn.Module:
        """Recompute the average's batch-norm statistics from ``n_batches`` of ``draw_inputs()``; return the module."""
        if self.needs_refresh:
            refresh_batchnorm_statistics(self.module, draw_inputs, n_batches)
        return self.module
