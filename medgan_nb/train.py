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
        G_ema <- decay * G_ema + (1 - decay) * G    # optional exponential moving average

Every family of the course plugs into this one loop through its settings,
never through a copy of it: the loss name, ``n_critic`` and ``gp_weight``
(WGAN-GP), ``r1_gamma``, an ``augment`` hook (DiffAugment), and class labels,
which are passed to any model whose ``forward`` takes a second argument
(conditional GANs).

What the engine adds around the loop:

* data decoded once: the whole dataset is one tensor in [-1, 1], moved to the
  device once when it fits; batches are index lookups, reshuffled every epoch
  by a ``torch.Generator`` seeded from ``config.seed`` (no DataLoader, no
  per-epoch JPEG decoding);
* mixed precision: bf16 (or fp16 with a gradient scaler) on CUDA, bf16 on
  CPUs that have it (``amp="bf16"``), ``channels_last`` memory layout;
* a :class:`History` of losses, :math:`D(x)`, :math:`D(G(z))`, gradient norms
  and images/s; a progress bar; fixed-noise sample grids; callbacks (e.g.
  :func:`live_plot`);
* checkpoints written atomically (temporary file, then rename) that hold
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
import inspect
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from .losses import bce_discriminator_loss, get_loss, gradient_penalty, r1_penalty
from .runtime import pick_device, seed_everything

Tensor = torch.Tensor

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "medgan_nb.train/1"


# ----------------------------------------------------------------------------
# Settings, history, results
# ----------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Every knob of :func:`train_gan` in one place (a plain dataclass, as in minGPT)."""

    steps: int = 1000  # generator steps (each after n_critic discriminator steps)
    epochs: float | None = None  # if set, overrides steps: epochs passes over the data
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam, as in the DCGAN paper
    n_critic: int = 1  # discriminator steps per generator step (5 for WGAN-GP)
    loss: str = "bce"  # any name medgan_nb.losses.get_loss knows
    gp_weight: float = 0.0  # lambda of the WGAN-GP gradient penalty (10 in the paper)
    r1_gamma: float = 0.0  # gamma of the R1 penalty on real images
    ema_decay: float | None = None  # keep an exponential moving average copy of G (e.g. 0.999)
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
    augment: Callable[[Tensor], Tensor] | None = None  # x -> x', applied to real and fake before D

    def total_steps(self, n_images: int) -> int:
        """Return the number of generator steps: ``steps``, or ``ceil(epochs * n_images / (batch_size * n_critic))``."""
        if self.epochs is None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * n_images / (self.batch_size * self.n_critic)))

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (the augment function by name) for checkpoints and JSON."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        if self.augment is not None:
            values["augment"] = getattr(self.augment, "__qualname__", None) or repr(self.augment)
        return values


HISTORY_FIELDS = (
    "step", "loss_d", "loss_g", "d_real", "d_fake",
    "grad_norm_g", "grad_norm_d", "seconds", "images_per_second",
)


class History:
    """Per-step training records: step, loss_d, loss_g, d_real, d_fake, grad norms, seconds, images/s.

    ``d_real`` / ``d_fake`` are the batch means of :math:`\\sigma(D(x))` and
    :math:`\\sigma(D(G(z)))` for the cross-entropy losses (probabilities,
    ``d_output == "probability"``) and of the raw critic output otherwise
    (``d_output == "raw"``). ``seconds`` is wall time since training started.
    """

    def __init__(self, records: dict[str, list] | None = None, d_output: str = "probability") -> None:
        self.d_output = d_output
        self._columns: dict[str, list] = {name: [] for name in HISTORY_FIELDS}
        for name, values in (records or {}).items():
            if name in self._columns:
                self._columns[name] = list(values)

    def append(self, **record: float) -> None:
        """Add one record (every field of HISTORY_FIELDS)."""
        for name in HISTORY_FIELDS:
            self._columns[name].append(record[name])

    def __len__(self) -> int:
        return len(self._columns["step"])

    def __getitem__(self, name: str) -> list:
        """Return one column as a list, e.g. ``history["loss_d"]``."""
        return self._columns[name]

    def last(self) -> dict[str, float]:
        """Return the most recent record as a dict (empty if nothing was recorded)."""
        return {name: values[-1] for name, values in self._columns.items()} if len(self) else {}

    def as_dict(self) -> dict[str, list]:
        """Return a copy of the records as a dict of lists (plain Python numbers)."""
        return {name: list(values) for name, values in self._columns.items()}

    def to_dataframe(self):
        """Return the records as a pandas DataFrame, one row per recorded step."""
        import pandas as pd

        return pd.DataFrame(self.as_dict())

    def __repr__(self) -> str:
        return f"History({len(self)} records, last={self.last()})"


@dataclass
class TrainState:
    """What callbacks see after every step: models, history, samples and settings."""

    step: int
    total_steps: int
    config: TrainConfig
    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    history: History
    samples: list[tuple[int, Tensor]]
    fixed_noise: Tensor
    fixed_labels: Tensor | None
    device: torch.device
    rank: int = 0
    checkpoint: Path | None = None
    stop: bool = False  # a callback may set this to end training after the current step


@dataclass
class TrainResult:
    """What :func:`train_gan` returns: the trained models, history, samples, checkpoint and speed."""

    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    history: History
    samples: list[tuple[int, Tensor]]
    checkpoint: Path | None
    images_per_second: float
    steps: int = 0
    seconds: float = 0.0


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; ``.step`` names the step, ``.checkpoint`` the last good file."""

    def __init__(self, message: str, step: int, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


class CheckpointMismatchError(ValueError):
    """Raised when a checkpoint was written for a different architecture or size than the models given."""


# ----------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------

def describe_model(module: nn.Module) -> dict[str, Any]:
    """Return the class name and size attributes (image_size, latent_dim, width, ...) of a model."""
    module = _unwrap(module)
    description: dict[str, Any] = {"class": type(module).__name__}
    for key in ("image_size", "latent_dim", "width", "channels", "num_classes"):
        value = getattr(module, key, None)
        if isinstance(value, (bool, int, float, str)):
            description[key] = value
    return description


def _unwrap(module: nn.Module) -> nn.Module:
    """Return the model inside a DistributedDataParallel wrapper (or the model itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def takes_labels(module: nn.Module) -> bool:
    """Return True when the model's forward accepts a second argument (class labels of a conditional GAN)."""
    parameters = inspect.signature(_unwrap(module).forward).parameters.values()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


@torch.no_grad()
def sample_images(generator: nn.Module, noise: Tensor, labels: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """Return G(noise) as a float32 CPU tensor in [-1, 1], computed in eval mode (the model's mode is restored)."""
    generator = _unwrap(generator)
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    try:
        chunks = []
        for start in range(0, len(noise), batch_size):
            z = noise[start : start + batch_size].to(device)
            if labels is None:
                chunks.append(generator(z).float().cpu())
            else:
                chunks.append(generator(z, labels[start : start + batch_size].to(device)).float().cpu())
        return torch.cat(chunks)
    finally:
        generator.train(was_training)


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
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels)).long()
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images; give one class label per image")
    return images, labels


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
        from .runtime import cpu_supports_bf16

        if not cpu_supports_bf16():
            warnings.warn("amp='bf16' on a CPU without native bfloat16 (AVX512-BF16/AMX) is emulated and slow",
                          stacklevel=3)
    elif device.type != "cuda":
        raise ValueError(f"amp='bf16' is supported on CUDA and CPU, not on {device}; use amp='off'")
    return torch.bfloat16, False


class BatchOrder:
    """Shuffled mini-batches of indices: a new random permutation of the data each epoch.

    Written by hand instead of a DataLoader/BatchSampler so that its exact
    position (permutation, offset, generator state) can be saved in a
    checkpoint and resumed; the last incomplete batch of an epoch is dropped.
    """

    def __init__(self, n_images: int, batch_size: int, seed: int) -> None:
        self.n_images = n_images
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.permutation = torch.randperm(n_images, generator=self.generator)
        self.position = 0
        self.epoch = 0

    def next(self) -> Tensor:
        """Return the indices of the next batch (reshuffling at the end of an epoch)."""
        if self.position + self.batch_size > self.n_images:
            self.permutation = torch.randperm(self.n_images, generator=self.generator)
            self.position = 0
            self.epoch += 1
        indices = self.permutation[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return indices

    def state_dict(self) -> dict[str, Any]:
        """Return the position in the batch order as tensors and ints."""
        return {"generator": self.generator.get_state(), "permutation": self.permutation.clone(),
                "position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position."""
        if len(state["permutation"]) != self.n_images:
            raise CheckpointMismatchError(
                f"the checkpoint was trained on {len(state['permutation'])} images, this dataset has {self.n_images}; "
                "resume with the same dataset or start without resume"
            )
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].clone()
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])


def _random_states() -> dict[str, Any]:
    """Return the torch (CPU and CUDA), NumPy and Python random states as tensors and primitives."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def _set_random_states(states: dict[str, Any]) -> None:
    """Restore the states saved by :func:`_random_states`."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


# ----------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------

def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers only) atomically to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _load_state(path: str | Path) -> dict[str, Any]:
    """Return the raw dict of a checkpoint file (FileNotFoundError / ValueError with the fix)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; pass the checkpoint.pt written by train_gan "
            "(TrainConfig.checkpoint_dir) or resume=None to start from scratch"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"{path} is not a readable train_gan checkpoint ({type(exc).__name__}: {exc}); "
                         "delete it or point to another checkpoint") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} was not written by medgan_nb.train.train_gan; point to a checkpoint.pt it wrote")
    return state


def _size_text(description: dict[str, Any]) -> str:
    keys = [k for k in ("image_size", "width", "latent_dim", "channels", "num_classes") if k in description]
    return ", ".join(f"{k} {description[k]}" for k in keys) or "unknown size"


def _load_module(role: str, module: nn.Module, saved_description: dict[str, Any], weights: dict, path: Path) -> None:
    """Load ``weights`` into ``module`` after checking it is the same architecture and size (clear error if not)."""
    module = _unwrap(module)
    current = describe_model(module)
    fix = "build the model with the same class and image_size/width/latent_dim, or start without resume"
    if saved_description.get("class") != current["class"]:
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for a {saved_description.get('class')} {role}, "
            f"this {role} is a {current['class']} — {fix}"
        )
    differing = [k for k in saved_description if k != "class" and k in current and saved_description[k] != current[k]]
    if differing:
        saved = ", ".join(f"{k} {saved_description[k]}" for k in differing)
        given = ", ".join(f"{k} {current[k]}" for k in differing)
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for a {current['class']} at {saved}, this {role} is {given} — {fix}"
        )
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:  # same class and sizes but different layers: report torch's list of mismatches
        raise CheckpointMismatchError(
            f"checkpoint {path} does not fit this {current['class']} ({_size_text(current)}): "
            f"{str(exc).splitlines()[0]} … — {fix}"
        ) from exc


def load_checkpoint(
    path: str | Path,
    generator: nn.Module,
    discriminator: nn.Module | None = None,
    ema_generator: nn.Module | None = None,
    optimizer_g: torch.optim.Optimizer | None = None,
    optimizer_d: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load weights (and optimiser states) from a train_gan checkpoint into the given models; return the raw state.

    The models must have the architecture and size the checkpoint was written
    for; otherwise a :class:`CheckpointMismatchError` says what differs. The
    returned dict holds ``step``, ``history``, ``config``, ``samples``, ...
    """
    path = Path(path)
    state = _load_state(path)
    architecture = state["architecture"]
    _load_module("generator", generator, architecture["generator"], state["generator"], path)
    if discriminator is not None:
        _load_module("discriminator", discriminator, architecture["discriminator"], state["discriminator"], path)
    if ema_generator is not None and state.get("ema_generator") is not None:
        _load_module("generator", ema_generator, architecture["generator"], state["ema_generator"], path)
    if optimizer_g is not None:
        optimizer_g.load_state_dict(state["optimizer_g"])
    if optimizer_d is not None:
        optimizer_d.load_state_dict(state["optimizer_d"])
    return state


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

def _check_config(config: TrainConfig, n_images: int, world_size: int) -> None:
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
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _check_finite(loss: Tensor, name: str, step: int, checkpoint: Path | None) -> None:
    """Raise TrainingDiverged when a loss is NaN or infinite (before its update is applied)."""
    if not bool(torch.isfinite(loss)):
        where = (f"the last good checkpoint {checkpoint} is intact" if checkpoint is not None
                 else "no checkpoint was written (set TrainConfig.checkpoint_dir to keep one)")
        raise TrainingDiverged(
            f"training diverged at step {step}: the {name} loss is {float(loss.detach())}; {where}. "
            "Try a smaller learning rate (lr_d/lr_g), amp='off', a gradient penalty (gp_weight) or R1 (r1_gamma)",
            step=step, checkpoint=checkpoint,
        )


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: Any,
    config: TrainConfig | None = None,
    callbacks: Iterable[Callable[[int, TrainState], None]] = (),
    resume: str | Path | None = None,
) -> TrainResult:
    """Train ``generator`` against ``discriminator`` on ``data``; return a TrainResult (models, history, samples).

    ``data`` is a float tensor N×C×H×W in [-1, 1] or an object with ``.images``
    (and optionally ``.labels``), e.g. ``load_dataset("phantom", size=64)``.
    ``callbacks`` are called as ``callback(step, state)`` after every step on
    rank 0. ``resume`` is a checkpoint file (or its folder) to continue from.
    """
    config = config or TrainConfig()
    # --- setup: processes, device, data, models, optimisers ---------------------------
    distributed = _init_distributed()
    if distributed.world_size > 1 and torch.cuda.is_available() and config.device in (None, "cuda", "auto"):
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    else:
        device = pick_device(config.device)
    images, labels = _images_and_labels(data)
    _check_config(config, len(images), distributed.world_size)
    total_steps = config.total_steps(len(images))
    loss_d_fn, loss_g_fn = get_loss(config.loss)
    d_output = "probability" if loss_d_fn is bce_discriminator_loss else "raw"  # sigma(D(x)) is P(real) only for BCE
    conditional = takes_labels(generator)
    if conditional and labels is None:
        raise ValueError(f"{type(generator).__name__}.forward takes class labels but the data has none; "
                         "pass a dataset with .labels (e.g. load_dataset(...)) or an unconditional generator")
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
    optimizer_g = torch.optim.Adam(generator_module.parameters(), lr=config.lr_g, betas=tuple(config.betas))
    optimizer_d = torch.optim.Adam(critic_module.parameters(), lr=config.lr_d, betas=tuple(config.betas))
    scaler_g = torch.amp.GradScaler(device.type, enabled=fp16_scaling)  # a no-op unless fp16
    scaler_d = torch.amp.GradScaler(device.type, enabled=fp16_scaling)
    ema = None
    if config.ema_decay is not None:
        ema = torch.optim.swa_utils.AveragedModel(
            generator_module, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay),
            use_buffers=True)

    def autocast():
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=autocast_dtype)

    augment = config.augment or (lambda x: x)
    batch_order = BatchOrder(len(images), config.batch_size, config.seed)
    local_batch = config.batch_size // distributed.world_size
    latent_dim = getattr(generator_module, "latent_dim", None)
    if latent_dim is None:
        raise ValueError(f"{type(generator_module).__name__} needs a .latent_dim attribute (the size of z)")
    fixed_noise = torch.randn(config.n_samples, latent_dim, generator=torch.Generator().manual_seed(config.seed))
    fixed_labels = None
    if conditional:
        n_classes = getattr(generator_module, "num_classes", None) or int(labels.max()) + 1
        fixed_labels = torch.arange(config.n_samples) % n_classes
    history = History(d_output=d_output)
    samples: list[tuple[int, Tensor]] = []
    checkpoint_path = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    last_checkpoint: Path | None = None
    start_step, previous_seconds = 0, 0.0

    # --- resume: weights, optimisers, random states, batch order, history --------------
    if resume is not None:
        saved = load_checkpoint(resume, generator_module, critic_module, None, optimizer_g, optimizer_d)
        start_step = int(saved["step"])
        if ema is not None and saved.get("ema_generator") is not None:
            _load_module("generator", ema.module, saved["architecture"]["generator"], saved["ema_generator"], Path(resume))
            ema.n_averaged.fill_(int(saved["ema_updates"]))
        scaler_g.load_state_dict(saved["scaler_g"])
        scaler_d.load_state_dict(saved["scaler_d"])
        batch_order.load_state_dict(saved["batch_order"])
        _set_random_states(saved["random"])
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

    def write_checkpoint(step: int) -> Path:
        return save_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "step": step,
            "architecture": {"generator": describe_model(generator_module),
                             "discriminator": describe_model(critic_module)},
            "generator": generator_module.state_dict(), "discriminator": critic_module.state_dict(),
            "ema_generator": ema.module.state_dict() if ema is not None else None,
            "ema_updates": int(ema.n_averaged) if ema is not None else 0,
            "optimizer_g": optimizer_g.state_dict(), "optimizer_d": optimizer_d.state_dict(),
            "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(),
            "batch_order": batch_order.state_dict(), "random": _random_states(),
            "history": history.as_dict(), "samples": samples,
            "fixed_noise": fixed_noise, "fixed_labels": fixed_labels, "config": config.as_dict(),
        })

    def take_samples(step: int) -> None:
        model = ema.module if ema is not None else generator_module
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

            # ---- 1. discriminator: n_critic updates on  L_D = loss_d(D(x), D(G(z))) [+ penalties]
            for critic_iteration in range(config.n_critic):
                real, real_labels = next_batch()
                z = torch.randn(local_batch, latent_dim, device=device)  # z ~ N(0, I)
                condition = (real_labels,) if conditional else ()  # fakes get the real batch's classes
                last_iteration = critic_iteration == config.n_critic - 1
                with torch.set_grad_enabled(last_iteration), autocast():  # the last G(z) is reused for G's step
                    fake = generator(z, *condition)  # G(z)
                with autocast():
                    real_seen, fake_seen = augment(real), augment(fake.detach())
                    real_logits = discriminator(real_seen, *condition)  # D(x)
                    fake_logits = discriminator(fake_seen, *condition)  # D(G(z)); no gradient into G
                    loss_d = loss_d_fn(real_logits, fake_logits)
                    if config.gp_weight > 0:  # + lambda E[(||grad D(x_hat)|| - 1)^2]
                        loss_d = loss_d + config.gp_weight * gradient_penalty(critic_module, real_seen, fake_seen, *condition)
                    if config.r1_gamma > 0:  # + gamma/2 E[||grad_x D(x)||^2]
                        loss_d = loss_d + config.r1_gamma / 2 * r1_penalty(critic_module, real_seen, *condition)
                _check_finite(loss_d, "discriminator", step, last_checkpoint)
                optimizer_d.zero_grad(set_to_none=True)
                scaler_d.scale(loss_d).backward()
                if measure and last_iteration:
                    scaler_d.unscale_(optimizer_d)
                    grad_norm_d = _grad_norm(critic_module.parameters())
                scaler_d.step(optimizer_d)
                scaler_d.update()

            # ---- 2. generator: one update on  L_G = loss_g(D(G(z)))  with the G(z) of the last critic step
            critic_module.requires_grad_(False)  # D's weights are constants here: half of D's backward is skipped
            with autocast():
                loss_g = loss_g_fn(critic_module(augment(fake), *condition))  # scored by the updated D
            critic_module.requires_grad_(True)
            _check_finite(loss_g, "generator", step, last_checkpoint)
            optimizer_g.zero_grad(set_to_none=True)
            scaler_g.scale(loss_g).backward()
            if measure:
                scaler_g.unscale_(optimizer_g)
                grad_norm_g = _grad_norm(generator_module.parameters())
            scaler_g.step(optimizer_g)
            scaler_g.update()
            if ema is not None:  # G_ema <- decay G_ema + (1 - decay) G
                ema.update_parameters(generator_module)

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
                               seconds=previous_seconds + now - started, images_per_second=speed)
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
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    trained = step - start_step
    return TrainResult(
        generator=generator_module,
        discriminator=critic_module,
        ema_generator=ema.module if ema is not None else None,
        history=history,
        samples=samples,
        checkpoint=last_checkpoint if is_main else None,
        images_per_second=trained * images_per_step / seconds if trained else 0.0,
        steps=step,
        seconds=seconds,
    )


# ----------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------

def _in_notebook() -> bool:
    """Return True inside a Jupyter kernel (notebook, JupyterLab, Colab, papermill)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab


def live_plot(every: int = 50, smooth: int = 1) -> Callable[[int, TrainState], None]:
    """Return a callback that redraws loss curves and D outputs every ``every`` steps in a notebook (no-op elsewhere)."""
    if every < 1:
        raise ValueError(f"every must be >= 1 step, got {every}")
    handle: dict[str, Any] = {}

    def callback(step: int, state: TrainState) -> None:
        if (step % every and step != state.total_steps) or not len(state.history) or not _in_notebook():
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .viz import plot_gan_history

        figure = plot_gan_history(state.history, smooth=smooth)
        # one display slot updated in place (clear_output would also wipe the progress bar)
        if "display" not in handle:
            handle["display"] = display(figure, display_id=True)
        else:
            handle["display"].update(figure)
        plt.close(figure)

    return callback
