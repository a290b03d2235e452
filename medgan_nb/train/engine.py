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
from dataclasses import dataclass
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


def _resolve_amp(amp: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
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
            # measured on an AVX2-only CPU: 1 image/s in bf16 against 158 in fp32, a silent 100x slowdown
            warnings.warn("amp='bf16' on this CPU is emulated: it has no native bfloat16 (no AVX512-BF16 or AMX "
                          "flag in /proc/cpuinfo), so training runs up to 100x slower than in full precision; "
                          "use amp='off' (or 'auto', which picks full precision on a CPU)", stacklevel=3)
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
    # --- setup: processes, device, data, models, optimisers ---------------------------
    distributed = _init_distributed()
    if distributed.world_size > 1 and torch.cuda.is_available() and config.device in (None, "cuda", "auto"):
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    else:
        device = pick_device(config.device)
    images, data_labels = _images_and_labels(data)
    check_config(config, len(images), distributed.world_size)
    total_steps = config.total_steps(len(images))
    loss_d_fn, loss_g_fn = get_loss(config.loss)
    d_output = "probability" if loss_d_fn is bce_discriminator_loss else "raw"  # sigma(D(x)) is P(real) only for BCE
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
        labels = _as_condition(labels, len(images))
        _check_class_range(labels, generator)
    augment = _resolve_augment(config.augment)
    autocast_dtype, fp16_scaling = _resolve_amp(config.amp, device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    seed_everything(config.seed + distributed.rank)  # noise z differs between processes

    # the data set moves to the device once when it fits (else batches are copied from pinned memory)
    if device.type == "cuda" and images.numel() * 4 > 0.4 * torch.cuda.mem_get_info(device)[0]:
        images = images.pin_memory()
    else:
        images = images.to(device)
    labels = labels.to(images.device) if labels is not None else None

    generator.to(device=device, memory_format=memory_format).train()
    discriminator.to(device=device, memory_format=memory_format).train()
    generator_module, critic_module = generator, discriminator  # the plain models (used outside DDP)
    if distributed.world_size > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        generator = nn.parallel.DistributedDataParallel(generator, device_ids=device_ids)
        discriminator = nn.parallel.DistributedDataParallel(discriminator, device_ids=device_ids)
    optimizer_g = make_optimizer(config, generator_module.parameters(), config.lr_g)
    optimizer_d = make_optimizer(config, critic_module.parameters(), config.lr_d)
    scaler_g = torch.amp.GradScaler(device.type, enabled=fp16_scaling)  # a no-op unless fp16
    scaler_d = torch.amp.GradScaler(device.type, enabled=fp16_scaling)
    ema = GeneratorEMA(generator_module, config.ema_decay) if config.ema_decay is not None else None

    def autocast():
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=autocast_dtype)

    batch_order = BatchOrder(len(images), config.batch_size, config.seed)
    local_batch = config.batch_size // distributed.world_size
    latent_dim = getattr(generator_module, "latent_dim", None)
    if latent_dim is None:
        raise ValueError(f"{type(generator_module).__name__} needs a .latent_dim attribute (the size of z)")
    fixed_noise = torch.randn(config.n_samples, latent_dim, generator=torch.Generator().manual_seed(config.seed))
    fixed_labels = None
    if conditional and labels.dim() == 1:  # classes: every class in turn
        n_classes = getattr(generator_module, "num_classes", None) or int(labels.max()) + 1
        fixed_labels = torch.arange(config.n_samples) % n_classes
    elif conditional:  # masks or source images: a fixed random choice from the data
        chosen = torch.randint(len(labels), (config.n_samples,), generator=torch.Generator().manual_seed(config.seed))
        fixed_labels = labels[chosen.to(labels.device)].cpu()
    history = History(d_output=d_output)
    samples: list[tuple[int, Tensor]] = []
    checkpoint_path = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    if checkpoint_path is not None and distributed.is_main:
        remove_stale_temporaries(checkpoint_path.parent)  # half-written files of killed runs
    last_checkpoint: Path | None = None
    start_step, previous_seconds = 0, 0.0

    # --- resume: weights, optimisers, random states, batch order, history --------------
    if resume is not None:
        saved = load_checkpoint(resume, generator_module, critic_module, None, optimizer_g, optimizer_d)
        start_step = int(saved["step"])
        if ema is not None and saved.get("ema_generator") is not None:
            load_module_weights("generator", ema.module, saved["architecture"]["generator"], saved["ema_generator"],
                                Path(resume))
            ema.set_updates(int(saved["ema_updates"]))
        scaler_g.load_state_dict(saved["scaler_g"])
        scaler_d.load_state_dict(saved["scaler_d"])
        batch_order.load_state_dict(saved["batch_order"])
        set_random_states(saved["random"])
        if distributed.world_size > 1:  # one saved state for all processes: give each its own noise again
            torch.manual_seed(config.seed + 1000 * distributed.rank + start_step)
        history = History(saved["history"], d_output=d_output)
        samples = [(int(s), t) for s, t in saved["samples"]]
        previous_seconds = history["seconds"][-1] if len(history) else 0.0
        last_checkpoint = Path(resume) if Path(resume).is_file() else Path(resume) / CHECKPOINT_NAME

    def next_batch() -> tuple[Tensor, Tensor | None]:
        indices = batch_order.next()[distributed.rank :: distributed.world_size]  # this process's slice
        real = images[indices.to(images.device)].to(device, non_blocking=True)
        real = real.contiguous(memory_format=memory_format)
        return real, (labels[indices.to(labels.device)].to(device) if labels is not None else None)

    def ema_generator(step: int) -> nn.Module:
        """The EMA copy with batch-norm statistics recomputed for its weights (its own random numbers)."""
        rng = torch.Generator().manual_seed(config.seed * 1_000_003 + step)  # leaves the training RNG untouched

        def draw_inputs() -> tuple[Tensor, ...]:
            z = torch.randn(local_batch, latent_dim, generator=rng).to(device)
            if labels is None:
                return (z,)
            chosen = torch.randint(len(labels), (local_batch,), generator=rng)
            return z, labels[chosen.to(labels.device)].to(device)

        return ema.refresh(draw_inputs)

    def write_checkpoint(step: int) -> Path:
        return save_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "step": step,
            "architecture": {"generator": describe(generator_module), "discriminator": describe(critic_module)},
            "generator": generator_module.state_dict(), "discriminator": critic_module.state_dict(),
            "ema_generator": ema.module.state_dict() if ema is not None else None,
            "ema_updates": ema.updates if ema is not None else 0,
            "optimizer_g": optimizer_g.state_dict(), "optimizer_d": optimizer_d.state_dict(),
            "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(),
            "batch_order": batch_order.state_dict(), "random": random_states(),
            "history": history.as_dict(), "samples": samples,
            "fixed_noise": fixed_noise, "fixed_labels": fixed_labels, "config": config.as_dict(),
        })

    def take_samples(step: int) -> None:
        model = ema_generator(step) if ema is not None else generator_module
        samples.append((step, sample_images(model, fixed_noise, fixed_labels)))

    state = TrainState(start_step, total_steps, config, generator_module, critic_module,
                       ema.module if ema is not None else None, history, samples, fixed_noise, fixed_labels,
                       device, distributed.rank, last_checkpoint)
    is_main = distributed.is_main
    if is_main and config.sample_every and start_step == 0:
        take_samples(0)
    from tqdm.auto import tqdm

    progress = tqdm(total=total_steps, initial=start_step, desc="train_gan", unit="step",
                    disable=not (config.progress and is_main), dynamic_ncols=True)
    started = last_log_time = time.perf_counter()
    images_per_step = config.batch_size * config.n_critic
    last_log_step = checkpoint_step = step = start_step
    grad_norm_g = grad_norm_d = float("nan")
    try:
        for step in range(start_step + 1, total_steps + 1):
            measure = step % config.log_every == 0 or step == total_steps
            if config.schedule is not None:  # e.g. progressive growing: resolution and fade-in for this step
                config.schedule(step, total_steps, generator_module, critic_module)

            # ---- 1. discriminator: n_critic updates on  L_D = loss_d(D(x), D(G(z))) [+ penalties]
            for critic_iteration in range(config.n_critic):
                real, real_labels = next_batch()
                z = torch.randn(local_batch, latent_dim, device=device)  # z ~ N(0, I)
                condition = (real_labels,) if conditional else ()  # fakes get the real batch's classes (or masks)
                critic_condition = condition if critic_conditional else ()
                last_iteration = critic_iteration == config.n_critic - 1
                critic_update = (step - 1) * config.n_critic + critic_iteration  # counts from 0
                lazy_r1 = config.r1_gamma > 0 and critic_update % config.r1_every == 0
                with torch.set_grad_enabled(last_iteration), autocast():  # the last G(z) is reused for G's step
                    fake = generator(z, *condition)  # G(z)
                with autocast():
                    real_seen, fake_seen = augment(real), augment(fake.detach())
                    real_logits = discriminator(real_seen, *critic_condition)  # D(x)
                    fake_logits = discriminator(fake_seen, *critic_condition)  # D(G(z)); no gradient into G
                    loss_d = loss_d_fn(real_logits, fake_logits)
                    if config.gp_weight > 0:  # + lambda E[(||grad D(x_hat)|| - 1)^2]
                        loss_d = loss_d + config.gp_weight * gradient_penalty(critic_module, real_seen, fake_seen,
                                                                              *critic_condition)
                    if lazy_r1:  # + gamma/2 E[||grad_x D(x)||^2], every r1_every-th update weighted by r1_every
                        loss_d = loss_d + config.r1_gamma / 2 * config.r1_every * r1_penalty(
                            critic_module, real_seen, *critic_condition)
                _check_finite(loss_d, "discriminator", step, last_checkpoint)
                optimizer_d.zero_grad(set_to_none=True)
                scaler_d.scale(loss_d).backward()
                if measure and last_iteration:
                    scaler_d.unscale_(optimizer_d)
                    grad_norm_d = _grad_norm(critic_module.parameters())
                scaler_d.step(optimizer_d)
                scaler_d.update()
                if config.weight_clip is not None:  # WGAN: w <- clip(w, -c, c) keeps D roughly 1-Lipschitz
                    with torch.no_grad():
                        for parameter in critic_module.parameters():
                            parameter.clamp_(-config.weight_clip, config.weight_clip)

            # ---- 2. generator: one update on  L_G = loss_g(D(G(z))) [+ extra terms]  with the last G(z)
            critic_module.requires_grad_(False)  # D's weights are constants here: half of D's backward is skipped
            extra_terms: dict[str, Tensor] = {}
            with autocast():
                loss_g = loss_g_fn(critic_module(augment(fake), *critic_condition))  # scored by the updated D
                if config.generator_loss is not None:
                    terms = config.generator_loss(GeneratorBatch(
                        fake=fake, real=real, z=z, condition=real_labels if conditional else None,
                        generator=generator_module, discriminator=critic_module, step=step))
                    extra_terms = terms if isinstance(terms, dict) else {"extra": terms}
                    for term in extra_terms.values():
                        loss_g = loss_g + term
            critic_module.requires_grad_(True)
            _check_finite(loss_g, "generator", step, last_checkpoint)
            optimizer_g.zero_grad(set_to_none=True)
            scaler_g.scale(loss_g).backward()
            if measure:
                scaler_g.unscale_(optimizer_g)
                grad_norm_g = _grad_norm(generator_module.parameters())
            scaler_g.step(optimizer_g)
            scaler_g.update()
            if ema is not None:  # G_ema <- beta_t G_ema + (1 - beta_t) G
                ema.update(generator_module)

            # ---- 3. bookkeeping: history, progress bar, samples, checkpoint, callbacks
            if measure:
                now = time.perf_counter()
                speed = (step - last_log_step) * images_per_step / max(now - last_log_time, 1e-9)
                d_real, d_fake = real_logits.detach().float(), fake_logits.detach().float()
                if d_output == "probability":
                    d_real, d_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
                history.append(step=step, loss_d=float(loss_d.detach()), loss_g=float(loss_g.detach()),
                               d_real=float(d_real.mean()), d_fake=float(d_fake.mean()),
                               grad_norm_g=grad_norm_g, grad_norm_d=grad_norm_d,
                               seconds=previous_seconds + now - started, images_per_second=speed,
                               **{f"loss_{name}": float(term.detach()) for name, term in extra_terms.items()})
                last_log_time, last_log_step = now, step
                progress.set_postfix({"loss_D": f"{history['loss_d'][-1]:.3f}", "loss_G": f"{history['loss_g'][-1]:.3f}",
                                      "D(x)": f"{history['d_real'][-1]:.2f}",
                                      "D(G(z))": f"{history['d_fake'][-1]:.2f}", "img/s": f"{speed:.0f}"},
                                     refresh=False)
            progress.update(1)
            if is_main and config.sample_every and (step % config.sample_every == 0 or step == total_steps):
                take_samples(step)
            if is_main and checkpoint_path is not None and (
                (config.checkpoint_every and step % config.checkpoint_every == 0) or step == total_steps
            ):
                last_checkpoint, checkpoint_step = write_checkpoint(step), step
            state.step, state.checkpoint = step, last_checkpoint
            if is_main:
                for callback in callbacks:
                    callback(step, state)
            if distributed.world_size > 1:  # a stop requested on rank 0 stops every process
                state.stop = _any_process(state.stop, device)
            if state.stop:  # a callback asked to end here: keep a checkpoint of this step
                if is_main and checkpoint_path is not None and checkpoint_step != step:
                    last_checkpoint, checkpoint_step = write_checkpoint(step), step
                break
    except TrainingDiverged as diverged:
        # the bad update was never applied, but D may already have taken its step of the same generator step:
        # put both live models back to the last good checkpoint so what the caller holds is that state
        if diverged.checkpoint is not None:
            load_checkpoint(diverged.checkpoint, generator_module, critic_module)
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    trained = step - start_step
    return TrainResult(
        generator=generator_module,
        discriminator=critic_module,
        ema_generator=ema_generator(step) if ema is not None else None,
        history=history,
        samples=samples,
        checkpoint=last_checkpoint if is_main else None,
        images_per_second=trained * images_per_step / seconds if trained else 0.0,
        steps=step,
        seconds=seconds,
    )
