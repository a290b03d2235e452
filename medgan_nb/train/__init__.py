"""The course's one training engine, split by concern so each file reads in one sitting.

* :mod:`~medgan_nb.train.engine` — the loop, :func:`train_gan`;
* :mod:`~medgan_nb.train.run` — one run's state, its set-up and its resume from a checkpoint;
* :mod:`~medgan_nb.train.steps` — the phases of one step: critic and generator updates, recording;
* :mod:`~medgan_nb.train.config` — :class:`TrainConfig` and the hooks a family plugs in;
* :mod:`~medgan_nb.train.ema` — the generator's moving average, with its warm-up;
* :mod:`~medgan_nb.train.checkpoints` — exact resume: atomic files, random states, batch order;
* :mod:`~medgan_nb.train.history` — what training reports: History, TrainState, TrainResult;
* :mod:`~medgan_nb.train.diffusion` — the DDPM's own short loop, :func:`train_ddpm` (not adversarial, so not
  :func:`train_gan`; it does not import ``diffusers``).
"""
from ..models.sampling import describe_model, sample_images, takes_labels
from .checkpoints import (
    CHECKPOINT_NAME,
    BatchOrder,
    CheckpointMismatchError,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from .config import GeneratorBatch, TrainConfig
from .diffusion import DiffusionResult, train_ddpm
from .ema import GeneratorEMA, warmed_up_decay
from .engine import TrainingDiverged, train_gan
from .history import HISTORY_FIELDS, History, TrainResult, TrainState

__all__ = [
    "BatchOrder", "CHECKPOINT_NAME", "CheckpointMismatchError", "DiffusionResult", "GeneratorBatch", "GeneratorEMA",
    "HISTORY_FIELDS", "History", "TrainConfig", "TrainResult", "TrainState", "TrainingDiverged", "describe_model",
    "family_config", "load_checkpoint", "remove_stale_temporaries", "sample_images", "save_checkpoint", "takes_labels",
    "train_ddpm", "train_gan", "warmed_up_decay",
]


def family_config(name: str, image_size: int = 64, **overrides) -> TrainConfig:
    """Return a TrainConfig with a registered family's recommended settings, then ``overrides`` (steps, seed, ...)."""
    from ..models.registry import family_settings

    return TrainConfig(**{**family_settings(name, image_size), **overrides})
