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

import contextlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from ..losses import bce_discriminator_loss, get_loss, gradient_penalty, r1_penalty
from ..models.sampling import describe_model as describe, sample_images, takes_labels
from ..runtime import pick_device, seed_everything
from .checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    BatchOrder,
    load_checkpoint,
    load_module_weights,
    random_states,
    remove_stale_temporaries,
    save_checkpoint,
    set_random_states,
)
from .config import GeneratorBatch, TrainConfig, check_config, make_optimizer
from .ema import GeneratorEMA
from .history import History, TrainResult, TrainState

Tensor = torch.Tensor


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; ``.step`` names the step, ``.checkpoint`` the last good file."""

    def __init__(self, message: str, step: int, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


# ----------------------------------------------------------------------------
# Data and conditions
# ----------------------------------------------------------------------------

def _images_and_labels(data: Any) -> tuple[Tensor, Tensor | None]:
    """Return (images float32 N×C×H×W in [-1, 1], labels or None) from a tensor or an object with ``.images``."""
    labels = None
    if not isinstance(data, (Tensor, np.ndarray)):
        if not hasattr(data, "images"):
            raise TypeError(
                f"train_gan needs a float tensor N×C×H×W in [-1, 1] or an object with .images "
                f"(e.g. load_dataset(...)), got {type(data).__name__}"
            )
        labels = getattr(data, "labels", None)
        data = data.images
    images = torch.as_tensor(data)
    if images.dim() != 4:
        raise ValueError(
            f"training images must be a 4-D tensor (N, channels, height, width), got shape {tuple(images.shape)}; "
            "add a batch dimension or use load_dataset(...), which returns images in that layout"
        )
    if images.dtype == torch.uint8:  # 0..255 -> [-1, 1]
        images = images.float() / 127.5 - 1.0
    images = images.float()
    low, high = float(images.min()), float(images.max())
    if low < -1.001 or high > 1.001:
        raise ValueError(
            f"training images must be scaled to [-1, 1] (the range of the generator's tanh), got values in "
            f"[{low:.3g}, {high:.3g}]; rescale them (x / 127.5 - 1 for 0..255, 2 x - 1 for 0..1) or use load_dataset(...)"
        )
    return images, labels


def _as_condition(labels: Any, n_images: int) -> Tensor:
    """Return class labels as int64 (N,), or masks / source images as float32 (N, C, H, W); one per image."""
    condition = torch.as_tensor(np.asarray(labels)) if not isinstance(labels, Tensor) else labels
    if condition.dim() == 1:
        condition = condition.long()
    elif condition.dim() == 4:
        condition = condition.float()
    else:
        raise ValueError(f"a condition must be class labels of shape (N,) or masks/images of shape (N, C, H, W), "
                         f"got shape {tuple(condition.shape)}")
    if len(condition) != n_images:
        raise ValueError(f"{len(condition)} labels for {n_images} images; give one class label (or mask) per image")
    return condition


def _check_class_range(condition: Tensor, generator: nn.Module) -> None:
    """Raise a ValueError naming the first label outside 0..num_classes-1 of a class-conditional generator."""
    n_classes = getattr(generator, "num_classes", None)
    if condition.dim() != 1 or not n_classes:
        return
    bad = condition[(condition < 0) | (condition >= n_classes)]
    if len(bad):
        raise ValueError(f"label {int(bad[0])} is outside the classes of {type(generator).__name__} "
                         f"(0..{n_classes - 1}, num_classes={n_classes}); build the model with num_classes="
                         f"{int(condition.max()) + 1} or remap the labels")


def _resolve_augment(augment: Any) -> Callable[[Tensor], Tensor]:
    """Return the function applied to real and fake images before D: identity, a DiffAugment policy, or a callable."""
    if augment is None:
        return lambda x: x
    if isinstance(augment, str):
        from ..augment import DiffAugment  # the policy's names are checked there (clear error if unknown)

        return DiffAugment(augment)
    if callable(augment):
        return augment
    raise ValueError(f"augment must be None, a DiffAugment policy string (e.g. 'color,translation,cutout') "
                     f"or a function x -> x', got {type(augment).__name__}")


# ----------------------------------------------------------------------------
# Numbers: gradient norms, mixed precision, divergence
# ----------------------------------------------------------------------------

def _grad_norm(parameters: Iterable[nn.Parameter]) -> float:
    """Return the L2 norm of all gradients together (what clip_grad_norm_ would measure)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return float("nan")
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))


def _resolve_amp(amp: str, device: torch.device, stacklevel: int = 3) -> tuple[torch.dtype | None, bool]:
    """Return (autocast dtype or None for full precision, whether fp16 gradient scaling is needed)."""
    amp = (amp or "off").lower()
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ValueError(f"amp must be 'auto', 'off', 'bf16' or 'fp16', got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None, False
    if amp == "auto":  # CUDA: bf16 where the GPU supports it (no scaler needed), else fp16 + GradScaler
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError(f"amp='fp16' needs a CUDA device, this run uses {device}; use amp='bf16' or 'off'")
        return torch.float16, True
    if device.type == "cpu":
        from ..runtime import cpu_supports_bf16

        if not cpu_supports_bf16():
            # measured on an AVX2-only CPU: 1 image/s in bf16 against 158 in fp32, a silent 100x slowdown;
            # the warning names the line ``stacklevel`` frames up: the user's call of train_gan
            warnings.warn("amp='bf16' on this CPU is emulated: it has no native bfloat16 (no AVX512-BF16 or AMX "
                          "flag in /proc/cpuinfo), so training runs up to 100x slower than in full precision; "
                          "use amp='off' (or 'auto', which picks full precision on a CPU)", stacklevel=stacklevel)
    elif device.type != "cuda":
        raise ValueError(f"amp='bf16' is supported on CUDA and CPU, not on {device}; use amp='off'")
    return torch.bfloat16, False


def _check_finite(loss: Tensor, name: str, step: int, checkpoint: Path | None) -> None:
    """Raise TrainingDiverged when a loss is NaN or infinite (before its update is applied)."""
    if not bool(torch.isfinite(loss)):
        where = (f"the last good checkpoint {checkpoint} is intact and the models were restored to it"
                 if checkpoint is not None
                 else "no checkpoint was written (set TrainConfig.checkpoint_dir to keep one)")
        raise TrainingDiverged(
            f"training diverged at step {step}: the {name} loss is {float(loss.detach())}; {where}. "
            "Try a smaller learning rate (lr_d/lr_g), amp='off', a gradient penalty (gp_weight) or R1 (r1_gamma)",
            step=step, checkpoint=checkpoint,
        )


# ----------------------------------------------------------------------------
# Several processes (torchrun)
# ----------------------------------------------------------------------------

@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Distributed:
    """Join the process group started by torchrun (nccl on CUDA, gloo on CPU); single process otherwise."""
    import torch.distributed as dist

    if not dist.is_available():
        return _Distributed()
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return _Distributed()
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    return _Distributed(rank, world_size, int(os.environ.get("LOCAL_RANK", rank)))


def _any_process(flag: bool, device: torch.device) -> bool:
    """Return True on every process when ``flag`` is True on at least one of them."""
    import torch.distributed as dist

    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


# ----------------------------------------------------------------------------
# Set-up: one run's state, built once, then advanced by the phases below
# ----------------------------------------------------------------------------

def _run_device(config: TrainConfig, distributed: _Distributed) -> torch.device:
    """Return this process's device: its own GPU under torchrun, else ``config.device`` (None: cuda > mps > cpu)."""
    if distributed.world_size > 1 and torch.cuda.is_available() and config.device in (None, "cuda", "auto"):
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
        return device
    return pick_device(config.device)


def _condition(generator: nn.Module, discriminator: nn.Module, labels: Any, data_labels: Any,
               n_images: int) -> tuple[Tensor | None, bool, bool]:
    """Return (the condition of every image or None, whether G takes one, whether D does); clear errors otherwise."""
    conditional, critic_conditional = takes_labels(generator), takes_labels(discriminator)
    if labels is not None and not conditional:
        raise ValueError(f"labels were given to {type(generator).__name__}, an unconditional generator (its forward "
                         "takes only z); drop labels=... or use a conditional model (e.g. medgan_nb.models.conditional)")
    if critic_conditional and not conditional:
        raise ValueError(f"{type(discriminator).__name__} takes a condition but {type(generator).__name__} does not; "
                         "pair a conditional discriminator with a conditional generator")
    labels = labels if labels is not None else (data_labels if conditional else None)
    if conditional and labels is None:
        raise ValueError(f"{type(generator).__name__}.forward takes class labels (or masks) but none were given; "
                         "pass a dataset with .labels (e.g. load_dataset(...)), labels=..., or an unconditional generator")
    if labels is not None:
        labels = _as_condition(labels, n_images)
        _check_class_range(labels, generator)
    return labels, conditional, critic_conditional


def _place_data(images: Tensor, labels: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Return (images, labels) moved to the device once when they fit, else pinned in memory, copied batch by batch."""
    if device.type == "cuda" and images.numel() * 4 > 0.4 * torch.cuda.mem_get_info(device)[0]:
        images = images.pin_memory()
    else:
        images = images.to(device)
    return images, (labels.to(images.device) if labels is not None else None)


def _place_models(generator: nn.Module, discriminator: nn.Module, device: torch.device,
                  memory_format: torch.memory_format, distributed: _Distributed) -> tuple[nn.Module, nn.Module]:
    """Return (G, D) as the forward passes call them: on the device, training, in DDP across several processes."""
    generator.to(device=device, memory_format=memory_format).train()
    discriminator.to(device=device, memory_format=memory_format).train()
    if distributed.world_size == 1:
        return generator, discriminator
    device_ids = [device.index] if device.type == "cuda" else None
    return (nn.parallel.DistributedDataParallel(generator, device_ids=device_ids),
            nn.parallel.DistributedDataParallel(discriminator, device_ids=device_ids))


def _fixed_inputs(config: TrainConfig, generator: nn.Module, labels: Tensor | None,
                  latent_dim: int) -> tuple[Tensor, Tensor | None]:
    """Return the noise (and conditions) of every sample grid, drawn from their own seeded generators."""
    fixed_noise = torch.randn(config.n_samples, latent_dim, generator=torch.Generator().manual_seed(config.seed))
    if labels is None:
        return fixed_noise, None
    if labels.dim() == 1:  # classes: every class in turn
        n_classes = getattr(generator, "num_classes", None) or int(labels.max()) + 1
        return fixed_noise, torch.arange(config.n_samples) % n_classes
    # masks or source images: a fixed random choice from the data
    chosen = torch.randint(len(labels), (config.n_samples,), generator=torch.Generator().manual_seed(config.seed))
    return fixed_noise, labels[chosen.to(labels.device)].cpu()


@dataclass
class _Run:
    """Everything one call of train_gan works on: settings, data, models, optimisers, counters and history."""

    config: TrainConfig
    distributed: _Distributed
    device: torch.device
    total_steps: int
    images: Tensor  # the whole data set, on the device when it fits
    labels: Tensor | None  # the condition of every image (class labels, masks or source images), or None
    conditional: bool  # G's forward takes the condition
    critic_conditional: bool  # D's does too
    loss_d_fn: Callable[[Tensor, Tensor], Tensor]
    loss_g_fn: Callable[[Tensor], Tensor]
    d_output: str  # "probability" (sigma(D(x)) is P(real): BCE) or "raw"
    augment: Callable[[Tensor], Tensor]
    autocast_dtype: torch.dtype | None  # None: full precision
    memory_format: torch.memory_format
    generator: nn.Module  # what the forward passes call: the model, or its DistributedDataParallel wrapper
    discriminator: nn.Module
    generator_module: nn.Module  # the plain models: their parameters, hooks and checkpoints
    critic_module: nn.Module
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler  # a no-op unless fp16
    scaler_d: torch.amp.GradScaler
    ema: GeneratorEMA | None
    batch_order: BatchOrder
    latent_dim: int
    fixed_noise: Tensor
    fixed_labels: Tensor | None
    history: History
    checkpoint_path: Path | None
    samples: list[tuple[int, Tensor]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    start_step: int = 0
    previous_seconds: float = 0.0  # the training time of the run this one resumes
    checkpoint_step: int = 0  # the step of the last checkpoint written
    started: float = 0.0  # time.perf_counter() when the loop began
    last_log_time: float = 0.0
    last_log_step: int = 0

    @property
    def is_main(self) -> bool:
        """Return whether this process logs, samples and writes checkpoints (rank 0)."""
        return self.distributed.is_main

    @property
    def local_batch(self) -> int:
        """Return this process's share of a batch."""
        return self.config.batch_size // self.distributed.world_size

    @property
    def images_per_step(self) -> int:
        """Return the real images one generator step reads, over all processes."""
        return self.config.batch_size * self.config.n_critic

    def autocast(self) -> contextlib.AbstractContextManager:
        """Return the mixed-precision context of the forward passes (a no-op in full precision)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def next_batch(self) -> tuple[Tensor, Tensor | None]:
        """Return this process's slice of the next batch: real images and their conditions (or None)."""
        indices = self.batch_order.next()[self.distributed.rank :: self.distributed.world_size]
        real = self.images[indices.to(self.images.device)].to(self.device, non_blocking=True)
        real = real.contiguous(memory_format=self.memory_format)
        return real, (self.labels[indices.to(self.labels.device)].to(self.device) if self.labels is not None else None)

    def ema_generator(self, step: int) -> nn.Module:
        """Return the EMA copy with batch-norm statistics recomputed for its weights (its own random numbers)."""
        rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)  # leaves the training RNG untouched

        def draw_inputs() -> tuple[Tensor, ...]:
            z = torch.randn(self.local_batch, self.latent_dim, generator=rng).to(self.device)
            if self.labels is None:
                return (z,)
            chosen = torch.randint(len(self.labels), (self.local_batch,), generator=rng)
            return z, self.labels[chosen.to(self.labels.device)].to(self.device)

        return self.ema.refresh(draw_inputs)

    def take_samples(self, step: int) -> None:
        """Keep a grid of the fixed noise drawn by the EMA copy (by G when there is none)."""
        model = self.ema_generator(step) if self.ema is not None else self.generator_module
        self.samples.append((step, sample_images(model, self.fixed_noise, self.fixed_labels)))

    def write_checkpoint(self, step: int) -> None:
        """Save (atomically) everything an exact resume needs, and remember the file and its step."""
        self.last_checkpoint = save_checkpoint(self.checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "step": step,
            "architecture": {"generator": describe(self.generator_module), "discriminator": describe(self.critic_module)},
            "generator": self.generator_module.state_dict(), "discriminator": self.critic_module.state_dict(),
            "ema_generator": self.ema.module.state_dict() if self.ema is not None else None,
            "ema_updates": self.ema.updates if self.ema is not None else 0,
            "optimizer_g": self.optimizer_g.state_dict(), "optimizer_d": self.optimizer_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
            "batch_order": self.batch_order.state_dict(), "random": random_states(),
            "history": self.history.as_dict(), "samples": self.samples,
            "fixed_noise": self.fixed_noise, "fixed_labels": self.fixed_labels, "config": self.config.as_dict(),
        })
        self.checkpoint_step = step

    def train_state(self) -> TrainState:
        """Return what callbacks see: it shares this run's history and samples; the loop sets its step."""
        return TrainState(self.start_step, self.total_steps, self.config, self.generator_module, self.critic_module,
                          self.ema.module if self.ema is not None else None, self.history, self.samples,
                          self.fixed_noise, self.fixed_labels, self.device, self.distributed.rank, self.last_checkpoint)


def _set_up(generator: nn.Module, discriminator: nn.Module, data: Any, config: TrainConfig, labels: Any) -> _Run:
    """Return a run ready to train: devices, checked data and condition, models, optimisers, EMA, AMP scalers."""
    distributed = _init_distributed()
    device = _run_device(config, distributed)
    images, data_labels = _images_and_labels(data)
    check_config(config, len(images), distributed.world_size)
    total_steps = config.total_steps(len(images))
    loss_d_fn, loss_g_fn = get_loss(config.loss)
    d_output = "probability" if loss_d_fn is bce_discriminator_loss else "raw"  # sigma(D(x)) is P(real) only for BCE
    labels, conditional, critic_conditional = _condition(generator, discriminator, labels, data_labels, len(images))
    augment = _resolve_augment(config.augment)
    autocast_dtype, fp16_scaling = _resolve_amp(config.amp, device, stacklevel=4)  # warns at train_gan's caller
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    seed_everything(config.seed + distributed.rank)  # noise z differs between processes
    images, labels = _place_data(images, labels, device)
    wrapped_g, wrapped_d = _place_models(generator, discriminator, device, memory_format, distributed)
    optimizer_g = make_optimizer(config, generator.parameters(), config.lr_g)
    optimizer_d = make_optimizer(config, discriminator.parameters(), config.lr_d)
    scaler_g = torch.amp.GradScaler(device.type, enabled=fp16_scaling)  # a no-op unless fp16
    scaler_d = torch.amp.GradScaler(device.type, enabled=fp16_scaling)
    ema = GeneratorEMA(generator, config.ema_decay) if config.ema_decay is not None else None
    batch_order = BatchOrder(len(images), config.batch_size, config.seed)
    latent_dim = getattr(generator, "latent_dim", None)
    if latent_dim is None:
        raise ValueError(f"{type(generator).__name__} needs a .latent_dim attribute (the size of z)")
    fixed_noise, fixed_labels = _fixed_inputs(config, generator, labels, latent_dim)
    checkpoint_path = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    if checkpoint_path is not None and distributed.is_main:
        remove_stale_temporaries(checkpoint_path.parent)  # half-written files of killed runs
    return _Run(
        config=config, distributed=distributed, device=device, total_steps=total_steps, images=images,
        labels=labels, conditional=conditional, critic_conditional=critic_conditional, loss_d_fn=loss_d_fn,
        loss_g_fn=loss_g_fn, d_output=d_output, augment=augment, autocast_dtype=autocast_dtype,
        memory_format=memory_format, generator=wrapped_g, discriminator=wrapped_d, generator_module=generator,
        critic_module=discriminator, optimizer_g=optimizer_g, optimizer_d=optimizer_d, scaler_g=scaler_g,
        scaler_d=scaler_d, ema=ema, batch_order=batch_order, latent_dim=latent_dim, fixed_noise=fixed_noise,
        fixed_labels=fixed_labels, history=History(d_output=d_output), checkpoint_path=checkpoint_path,
    )


# ----------------------------------------------------------------------------
# Resume from a checkpoint
# ----------------------------------------------------------------------------

def _resume(run: _Run, resume: str | Path) -> None:
    """Continue ``run`` from a checkpoint: weights, optimisers, EMA, scalers, batch order, random states, history."""
    saved = load_checkpoint(resume, run.generator_module, run.critic_module, None, run.optimizer_g, run.optimizer_d)
    run.start_step = int(saved["step"])
    if run.ema is not None and saved.get("ema_generator") is not None:
        load_module_weights("generator", run.ema.module, saved["architecture"]["generator"], saved["ema_generator"],
                            Path(resume))
        run.ema.set_updates(int(saved["ema_updates"]))
    run.scaler_g.load_state_dict(saved["scaler_g"])
    run.scaler_d.load_state_dict(saved["scaler_d"])
    run.batch_order.load_state_dict(saved["batch_order"])
    set_random_states(saved["random"])
    if run.distributed.world_size > 1:  # one saved state for all processes: give each its own noise again
        torch.manual_seed(run.config.seed + 1000 * run.distributed.rank + run.start_step)
    run.history = History(saved["history"], d_output=run.d_output)
    run.samples = [(int(s), t) for s, t in saved["samples"]]
    run.previous_seconds = run.history["seconds"][-1] if len(run.history) else 0.0
    run.last_checkpoint = Path(resume) if Path(resume).is_file() else Path(resume) / CHECKPOINT_NAME


# ----------------------------------------------------------------------------
# One step: n_critic discriminator updates, one generator update, bookkeeping
# ----------------------------------------------------------------------------

@dataclass
class _Step:
    """The tensors of one generator step: the last critic update's batch and outputs, then the generator's loss."""

    step: int
    real: Tensor
    real_labels: Tensor | None
    z: Tensor
    fake: Tensor  # G(z) of the last critic update, with gradients into G: reused by the generator update
    critic_condition: tuple[Tensor, ...]  # (labels,) when D takes them, else ()
    real_logits: Tensor
    fake_logits: Tensor
    loss_d: Tensor
    grad_norm_d: float = float("nan")  # measured on logged steps only
    loss_g: Tensor | None = None
    extra_terms: dict[str, Tensor] = field(default_factory=dict)
    grad_norm_g: float = float("nan")


def _backward_and_step(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                       module: nn.Module, measure: bool) -> float:
    """Back-propagate ``loss`` and step ``optimizer``; return the gradient norm when ``measure``, else NaN."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    grad_norm = float("nan")
    if measure:
        scaler.unscale_(optimizer)  # the norm of the true gradients, not of the fp16-scaled ones
        grad_norm = _grad_norm(module.parameters())
    scaler.step(optimizer)
    scaler.update()
    return grad_norm


def _critic_loss(run: _Run, step: int, critic_iteration: int, real: Tensor, fake: Tensor,
                 critic_condition: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """Return (D(x), D(G(z)), L_D = loss_d(D(x), D(G(z))) [+ gradient penalty] [+ lazy R1]) under autocast."""
    config = run.config
    critic_update = (step - 1) * config.n_critic + critic_iteration  # counts from 0
    with run.autocast():
        real_seen, fake_seen = run.augment(real), run.augment(fake.detach())
        real_logits = run.discriminator(real_seen, *critic_condition)  # D(x)
        fake_logits = run.discriminator(fake_seen, *critic_condition)  # D(G(z)); no gradient into G
        loss_d = run.loss_d_fn(real_logits, fake_logits)
        if config.gp_weight > 0:  # + lambda E[(||grad D(x_hat)|| - 1)^2]
            loss_d = loss_d + config.gp_weight * gradient_penalty(run.critic_module, real_seen, fake_seen,
                                                                  *critic_condition)
        if config.r1_gamma > 0 and critic_update % config.r1_every == 0:
            # + gamma/2 E[||grad_x D(x)||^2], every r1_every-th update weighted by r1_every (lazy R1)
            loss_d = loss_d + config.r1_gamma / 2 * config.r1_every * r1_penalty(
                run.critic_module, real_seen, *critic_condition)
    return real_logits, fake_logits, loss_d


def _critic_update(run: _Run, step: int, critic_iteration: int, measure: bool) -> _Step:
    """Take one discriminator update on a fresh batch and fresh z; return the batch, G(z) and D's outputs."""
    config = run.config
    real, real_labels = run.next_batch()
    z = torch.randn(run.local_batch, run.latent_dim, device=run.device)  # z ~ N(0, I)
    condition = (real_labels,) if run.conditional else ()  # fakes get the real batch's classes (or masks)
    critic_condition = condition if run.critic_conditional else ()
    last_iteration = critic_iteration == config.n_critic - 1
    with torch.set_grad_enabled(last_iteration), run.autocast():  # the last G(z) is reused for G's step
        fake = run.generator(z, *condition)  # G(z)
    real_logits, fake_logits, loss_d = _critic_loss(run, step, critic_iteration, real, fake, critic_condition)
    _check_finite(loss_d, "discriminator", step, run.last_checkpoint)
    grad_norm_d = _backward_and_step(loss_d, run.optimizer_d, run.scaler_d, run.critic_module,
                                     measure and last_iteration)
    if config.weight_clip is not None:  # WGAN: w <- clip(w, -c, c) keeps D roughly 1-Lipschitz
        with torch.no_grad():
            for parameter in run.critic_module.parameters():
                parameter.clamp_(-config.weight_clip, config.weight_clip)
    return _Step(step, real, real_labels, z, fake, critic_condition, real_logits, fake_logits, loss_d, grad_norm_d)


def _generator_update(run: _Run, batch: _Step, measure: bool) -> None:
    """Take one generator update on L_G = loss_g(D(G(z))) [+ extra terms] with the last critic update's G(z)."""
    config = run.config
    run.critic_module.requires_grad_(False)  # D's weights are constants here: half of D's backward is skipped
    with run.autocast():
        loss_g = run.loss_g_fn(run.critic_module(run.augment(batch.fake), *batch.critic_condition))  # the updated D
        if config.generator_loss is not None:
            terms = config.generator_loss(GeneratorBatch(
                fake=batch.fake, real=batch.real, z=batch.z, condition=batch.real_labels if run.conditional else None,
                generator=run.generator_module, discriminator=run.critic_module, step=batch.step))
            batch.extra_terms = terms if isinstance(terms, dict) else {"extra": terms}
            for term in batch.extra_terms.values():
                loss_g = loss_g + term
    run.critic_module.requires_grad_(True)
    _check_finite(loss_g, "generator", batch.step, run.last_checkpoint)
    batch.loss_g = loss_g
    batch.grad_norm_g = _backward_and_step(loss_g, run.optimizer_g, run.scaler_g, run.generator_module, measure)
    if run.ema is not None:  # G_ema <- beta_t G_ema + (1 - beta_t) G
        run.ema.update(run.generator_module)


def _record(run: _Run, batch: _Step, progress: Any) -> None:
    """Append the step's losses, D outputs, gradient norms and speed to the history; show them on the progress bar."""
    now = time.perf_counter()
    speed = (batch.step - run.last_log_step) * run.images_per_step / max(now - run.last_log_time, 1e-9)
    d_real, d_fake = batch.real_logits.detach().float(), batch.fake_logits.detach().float()
    if run.d_output == "probability":
        d_real, d_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    history = run.history
    history.append(step=batch.step, loss_d=float(batch.loss_d.detach()), loss_g=float(batch.loss_g.detach()),
                   d_real=float(d_real.mean()), d_fake=float(d_fake.mean()),
                   grad_norm_g=batch.grad_norm_g, grad_norm_d=batch.grad_norm_d,
                   seconds=run.previous_seconds + now - run.started, images_per_second=speed,
                   **{f"loss_{name}": float(term.detach()) for name, term in batch.extra_terms.items()})
    run.last_log_time, run.last_log_step = now, batch.step
    progress.set_postfix({"loss_D": f"{history['loss_d'][-1]:.3f}", "loss_G": f"{history['loss_g'][-1]:.3f}",
                          "D(x)": f"{history['d_real'][-1]:.2f}",
                          "D(G(z))": f"{history['d_fake'][-1]:.2f}", "img/s": f"{speed:.0f}"},
                         refresh=False)


def _end_step(run: _Run, step: int, state: TrainState, callbacks: Iterable[Callable[[int, TrainState], None]]) -> bool:
    """Take samples and write a checkpoint when due, call the callbacks; return whether training stops here."""
    config, is_main = run.config, run.is_main
    if is_main and config.sample_every and (step % config.sample_every == 0 or step == run.total_steps):
        run.take_samples(step)
    if is_main and run.checkpoint_path is not None and (
        (config.checkpoint_every and step % config.checkpoint_every == 0) or step == run.total_steps
    ):
        run.write_checkpoint(step)
    state.step, state.checkpoint = step, run.last_checkpoint
    if is_main:
        for callback in callbacks:
            callback(step, state)
    if run.distributed.world_size > 1:  # a stop requested on rank 0 stops every process
        state.stop = _any_process(state.stop, run.device)
    if state.stop and is_main and run.checkpoint_path is not None and run.checkpoint_step != step:
        run.write_checkpoint(step)  # a callback asked to end here: keep a checkpoint of this step
    return state.stop


def _result(run: _Run, step: int) -> TrainResult:
    """Return what train_gan hands back after ``step``: models, EMA copy, history, samples, checkpoint and speed."""
    seconds = time.perf_counter() - run.started
    trained = step - run.start_step
    return TrainResult(
        generator=run.generator_module,
        discriminator=run.critic_module,
        ema_generator=run.ema_generator(step) if run.ema is not None else None,
        history=run.history,
        samples=run.samples,
        checkpoint=run.last_checkpoint if run.is_main else None,
        images_per_second=trained * run.images_per_step / seconds if trained else 0.0,
        steps=step,
        seconds=seconds,
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
