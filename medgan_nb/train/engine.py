r"""One training engine for every GAN in the course: :func:`train_gan`.

A GAN is a two-player game between a generator :math:`G` and a discriminator
(or *critic*) :math:`D`. Training alternates stochastic gradient steps on

.. math::
    \min_D \; L_D = \ell_D\big(D(x),\, D(G(z))\big) + \lambda_{GP}\,\mathrm{GP} + \tfrac{\gamma}{2}\,\mathrm{R1},
    \qquad
    \min_G \; L_G = \ell_G\big(D(G(z))\big),

with real images :math:`x \sim p_{data}`, noise :math:`z \sim \mathcal N(0, I)`
and a loss pair :math:`(\ell_D, \ell_G)` taken from :mod:`medgan_nb.losses`
by name (``"bce"``, ``"lsgan"``, ``"wasserstein"``, ``"hinge"``, ...). One
*step* of the engine is :math:`n_{critic}` discriminator updates followed by
one generator update::

    for step in 1..steps:
        repeat n_critic times:                       # discriminator (critic)
            x = next batch of real images;  z ~ N(0, I)
            L_D = loss_d(D(aug(x)), D(aug(G(z))))  [+ gp_weight * GP + r1_gamma / 2 * R1]
            L_D.backward();  optimizer_D.step()
        L_G = loss_g(D(aug(G(z))))                   # generator
        L_G.backward();  optimizer_G.step()
        L_G += generator_loss(batch)                # optional extra term (pix2pix L1, CycleGAN cycle)
        G_ema <- beta_t * G_ema + (1 - beta_t) * G  # optional moving average, warmed up (see ema.py)

Every family of the course plugs into this one loop through its settings and
hooks (:mod:`medgan_nb.train.config`), never through a copy of it: the loss
name, ``n_critic`` and ``gp_weight`` (WGAN-GP), ``weight_clip`` (WGAN),
``r1_gamma`` / ``r1_every`` (R1, lazy R1), ``augment`` (DiffAugment),
``generator_loss`` (an extra generator term), ``schedule`` (progressive
growing), and a *condition* — class labels, masks or source images — passed
as the second argument of any model whose ``forward`` takes one (conditional
GANs, SPADE, pix2pix).

What the engine adds around the loop:

* data decoded once: the whole dataset is one tensor in [-1, 1], moved to the
  device once when it fits; batches are index lookups, reshuffled every epoch
  by a ``torch.Generator`` seeded from ``config.seed`` (no DataLoader, no
  per-epoch JPEG decoding);
* mixed precision: bf16 (or fp16 with a gradient scaler) on CUDA, bf16 on
  CPUs that have it (``amp="bf16"``), ``channels_last`` memory layout;
* a :class:`History` of losses, :math:`D(x)`, :math:`D(G(z))`, gradient norms
  and images/s; a progress bar; fixed-noise sample grids; callbacks (e.g.
  :func:`medgan_nb.viz.live_plot`, which draws what the engine reports);
* checkpoints (:mod:`medgan_nb.train.checkpoints`) written atomically (temporary file, then rename) that hold
  everything needed to continue *exactly* (weights, optimisers, step, every
  random state, the batch order, history), loaded with
  ``torch.load(weights_only=True)``;
* a divergence guard: a NaN or infinite loss raises :class:`TrainingDiverged`
  before the bad update is applied, leaving the last checkpoint intact;
* several GPUs: launched by ``torchrun``, the same call wraps the models in
  ``DistributedDataParallel``, gives each process a disjoint slice of every
  batch, and lets rank 0 alone log, sample and write checkpoints.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

from torch import nn

from .checkpoints import load_checkpoint
from .config import TrainConfig
from .history import TrainResult, TrainState
from .run import _resolve_amp, _resume, _set_up  # noqa: F401  (_resolve_amp: imported from here by the tests)
from .steps import (
    TrainingDiverged,
    _critic_update,
    _end_step,
    _generator_update,
    _record,
    _result,
)

# ----------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------

def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: Any,
    config: TrainConfig | None = None,
    callbacks: Iterable[Callable[[int, TrainState], None]] = (),
    resume: str | Path | None = None,
    labels: Any = None,
) -> TrainResult:
    """Train ``generator`` against ``discriminator`` on ``data``; return a TrainResult (models, history, samples).

    ``data`` is a float tensor N×C×H×W in [-1, 1] or an object with ``.images``
    (and optionally ``.labels``), e.g. ``load_dataset("phantom", size=64)``.
    A conditional generator (``forward(z, condition)``) gets ``labels`` — class
    labels (N,) or masks / source images (N, C, H, W) — or, when not given,
    ``data.labels``; the discriminator gets them too when its ``forward`` takes
    a second argument. ``callbacks`` are called as ``callback(step, state)``
    after every step on rank 0. ``resume`` is a checkpoint file (or its folder)
    to continue from.
    """
    config = config or TrainConfig()
    run = _set_up(generator, discriminator, data, config, labels)
    if resume is not None:
        _resume(run, resume)
    state = run.train_state()
    if run.is_main and config.sample_every and run.start_step == 0:
        run.take_samples(0)
    from tqdm.auto import tqdm

    progress = tqdm(total=run.total_steps, initial=run.start_step, desc="train_gan", unit="step",
                    disable=not (config.progress and run.is_main), dynamic_ncols=True)
    run.started = run.last_log_time = time.perf_counter()
    run.last_log_step = run.checkpoint_step = step = run.start_step
    try:
        for step in range(run.start_step + 1, run.total_steps + 1):
            measure = step % config.log_every == 0 or step == run.total_steps  # a history record at this step
            if config.schedule is not None:  # e.g. progressive growing: resolution and fade-in for this step
                config.schedule(step, run.total_steps, run.generator_module, run.critic_module)
            for critic_iteration in range(config.n_critic):  # 1. the discriminator (critic)
                batch = _critic_update(run, step, critic_iteration, measure)
            _generator_update(run, batch, measure)  # 2. the generator, with the last critic update's G(z)
            if measure:  # 3. bookkeeping: history and progress bar, then samples, checkpoint, callbacks
                _record(run, batch, progress)
            progress.update(1)
            if _end_step(run, step, state, callbacks):
                break
    except TrainingDiverged as diverged:
        # the bad update was never applied, but D may already have taken its step of the same generator step:
        # put both live models back to the last good checkpoint so what the caller holds is that state
        if diverged.checkpoint is not None:
            load_checkpoint(diverged.checkpoint, run.generator_module, run.critic_module)
        raise
    finally:
        progress.close()
    return _result(run, step)
