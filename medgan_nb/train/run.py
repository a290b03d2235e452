"""One run of :func:`~medgan_nb.train.engine.train_gan` before its first step: the state it works on.

:class:`_Run` holds everything one call trains with (settings, data on the device, the models and their
DistributedDataParallel wrappers, optimisers, AMP scalers, EMA, batch order, fixed sample inputs, counters,
history) and knows how to draw a batch, take samples and write a checkpoint; :func:`_set_up` builds it from
``train_gan``'s arguments, checking the data, the condition, the mixed-precision setting and the augmentation
with clear errors, and :func:`_resume` carries it on from a checkpoint (weights, optimisers, random states,
batch order, history) so that a resumed run is the run that was stopped. The phases of one step live in
:mod:`~medgan_nb.train.steps`.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..losses import bce_discriminator_loss, get_loss
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
from .config import TrainConfig, check_config, make_optimizer
from .ema import GeneratorEMA
from .history import History, TrainState

Tensor = torch.Tensor


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
# Mixed precision
# ----------------------------------------------------------------------------

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


def _class_balance(config: TrainConfig, discriminator: nn.Module, labels: Tensor | None,
                   device: torch.device) -> Tensor | None:
    """Return the AC-GAN cross-entropy's class weights n / (K n_k) (scikit-learn's "balanced") on ``device``, or None.

    Medical classes are imbalanced (two thirds of HAM10000 are nevi): unweighted, the class head would learn
    the common classes and G's rare-class samples would get little signal.
    """
    if config.class_weight <= 0:
        return None
    num_classes = int(getattr(discriminator, "num_classes", int(labels.max()) + 1))
    counts = torch.bincount(labels.long().cpu(), minlength=num_classes).float()
    return torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros(())).to(device)


def _check_class_head(config: TrainConfig, discriminator: nn.Module, labels: Tensor | None) -> None:
    """Raise a ValueError naming the fix when ``class_weight`` > 0 cannot work: no class labels or no class head."""
    if config.class_weight <= 0:
        return
    if labels is None or labels.dim() != 1:
        raise ValueError(f"class_weight={config.class_weight} trains an auxiliary classifier on class labels, but this "
                         "run has " + ("none" if labels is None else "masks or images as its condition")
                         + "; set class_weight=0 or train a class-conditional model")
    if not getattr(discriminator, "class_head", False):
        raise ValueError(f"class_weight={config.class_weight} needs a discriminator with a class head, and "
                         f"{type(discriminator).__name__} has none: build it with class_head=True "
                         "(e.g. build_family('projection', class_head=True)), or set class_weight=0")


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
    class_balance: Tensor | None = None  # AC-GAN: per-class CE weights n / (K n_k), rare classes weigh more
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
    _check_class_head(config, discriminator, labels)
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
        class_balance=_class_balance(config, discriminator, labels, device),
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
