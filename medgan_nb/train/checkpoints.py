"""Checkpoints that let training continue *exactly*: atomic files, every random state, the batch order.

A checkpoint holds everything the next step depends on: weights, optimiser
states, the step, the torch / NumPy / Python random states, the position in
the shuffled batch order, the history and the fixed-noise samples. It is
written atomically (a temporary file, then a rename: a reader sees the old
file or the new one, never half of one) and read with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary Python
objects. A process killed while writing leaves only its temporary file, which
:func:`remove_stale_temporaries` deletes when the next run starts there.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.sampling import describe_model, unwrap
from ..runtime import atomic_write

Tensor = torch.Tensor

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "medgan_nb.train/1"


class CheckpointMismatchError(ValueError):
    """Raised when a checkpoint was written for a different architecture or size than the models given."""


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


def random_states() -> dict[str, Any]:
    """Return the torch (CPU and CUDA), NumPy and Python random states as tensors and primitives."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def set_random_states(states: dict[str, Any]) -> None:
    """Restore the states saved by :func:`random_states`."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers only) atomically to ``path`` and return the path."""
    return atomic_write(path, lambda temporary: torch.save(state, temporary))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
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
    keys = [k for k in description if k != "class"]
    return ", ".join(f"{k} {description[k]}" for k in keys) or "unknown size"


def load_module_weights(role: str, module: nn.Module, saved_description: dict[str, Any], weights: dict, path: Path) -> None:
    """Load ``weights`` into ``module`` after checking it is the same architecture and size (clear error if not)."""
    module = unwrap(module)
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
    state = read_checkpoint(path)
    architecture = state["architecture"]
    load_module_weights("generator", generator, architecture["generator"], state["generator"], path)
    if discriminator is not None:
        load_module_weights("discriminator", discriminator, architecture["discriminator"], state["discriminator"], path)
    if ema_generator is not None and state.get("ema_generator") is not None:
        load_module_weights("generator", ema_generator, architecture["generator"], state["ema_generator"], path)
    if optimizer_g is not None:
        optimizer_g.load_state_dict(state["optimizer_g"])
    if optimizer_d is not None:
        optimizer_d.load_state_dict(state["optimizer_d"])
    return state


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def _process_alive(pid: int) -> bool:
    """Return True when a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to someone else
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete ``.<name>.<pid>.tmp`` files left in ``folder`` by processes that died while writing; return them."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and int(match["pid"]) != os.getpid() and not _process_alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
