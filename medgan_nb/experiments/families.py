"""Train one registered family through the engine and measure it: the training run every notebook shares.

:func:`train_family` is the one path from a family's name to a trained, measured generator:
build it from the registry (:func:`medgan_nb.models.build_family`), optionally measure the untrained
generator, train it with its recommended settings (:func:`medgan_nb.train.family_config`, then
:func:`medgan_nb.train.train_gan`), and measure the trained one. It returns a :class:`FamilyRun`; the
notebooks' experiments (loss zoo, conditional, style and growth, evaluation) build their tables and
figures from it.

The distance is the Fréchet distance to the held-out images (:func:`medgan_nb.metrics.fid.frechet_distance`),
measured on samples from a fixed seed (``seed + 1``) before and after training, so a rerun draws the
same z and the two numbers compare like with like.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..metrics.fid import frechet_distance, sample_generator
from ..models import build_family, family_settings, get_family
from ..train import TrainConfig, TrainResult, family_config, train_gan

Tensor = torch.Tensor
FROM_SEED = "seed"  # init_seed's default: the weights are drawn after torch.manual_seed(seed)


@dataclass
class FamilyRun:
    """One family trained through the engine: the run, its generator, and its distances before and after."""

    name: str
    title: str
    conditioning: str  # "none", "class", "mask" or "unpaired" (the registry's)
    result: TrainResult
    generator: nn.Module  # the generator to sample: the EMA copy when the family keeps one
    width: int
    config: TrainConfig
    fd_untrained: float = math.nan  # NaN when no held-out images were given
    fd: float = math.nan
    samples: Tensor | None = None  # the trained generator's samples the distance used (seed + 1)
    extras: dict[str, Any] = field(default_factory=dict)  # what the caller's ``prepare`` measured

    @property
    def seconds(self) -> float:
        """Return the training wall time in seconds."""
        return self.result.seconds

    @property
    def images_per_second(self) -> float:
        """Return the training throughput in real images per second (images D sees)."""
        return self.result.images_per_second

    @property
    def steps(self) -> int:
        """Return the number of generator steps trained."""
        return self.result.steps

    @property
    def parameters_g(self) -> int:
        """Return the generator's number of trainable parameters."""
        return sum(p.numel() for p in self.result.generator.parameters() if p.requires_grad)

    @property
    def parameters_d(self) -> int:
        """Return the discriminator's number of trainable parameters."""
        return sum(p.numel() for p in self.result.discriminator.parameters() if p.requires_grad)

    @property
    def n_critic(self) -> int:
        """Return the number of critic updates per generator step."""
        return int(family_settings(self.name).get("n_critic", 1))

    @property
    def is_wasserstein(self) -> bool:
        """Return True when the critic is trained on the Wasserstein loss (then d_real - d_fake estimates W)."""
        return family_settings(self.name)["loss"] == "wasserstein"

    @property
    def final_losses(self) -> dict[str, float]:
        """Return the last recorded discriminator and generator losses."""
        last = self.result.history.last()
        return {"loss_d": float(last["loss_d"]), "loss_g": float(last["loss_g"])}


def _distance(generator: nn.Module, heldout: Tensor, seed: int, labels: Tensor | None) -> tuple[Tensor, float]:
    samples = sample_generator(generator, len(heldout), seed=seed, labels=labels)
    return samples, frechet_distance(heldout, samples)


def train_family(name: str, data: Any, *, steps: int, batch_size: int, budget: str = "cpu", width: int | None = None,
                 seed: int = 0, device: str | None = None, amp: str = "off", labels: Tensor | None = None,
                 heldout: Tensor | None = None, heldout_labels: Tensor | None = None, callbacks: Sequence = (),
                 build_options: dict | None = None, init_seed: int | str | None = FROM_SEED,
                 prepare: Callable[[nn.Module, nn.Module], dict | None] | None = None, measure_untrained: bool = True,
                 log_points: int = 200, **config_overrides) -> FamilyRun:
    """Return a :class:`FamilyRun`: family ``name`` built, measured untrained, trained for ``steps``, measured again.

    ``data`` is an image tensor (N, 3, H, W), a LesionDataset (its labels, and its number of classes, come
    along for a class-conditional family) or a paired dataset; the image size is the data's. ``labels`` are
    passed to the engine for a conditional family. With ``heldout`` images the Fréchet distance is measured
    before and after training (conditional samples drawn for ``heldout_labels``; ``measure_untrained=False``
    skips the first). ``width`` overrides the width ``budget`` picks. ``init_seed`` is what the weights are
    drawn from: the run's ``seed`` (default), another seed, or None for the session's random state.
    ``prepare(generator, discriminator)`` runs on the built models before anything is measured (e.g. to
    re-initialise them or count their FLOPs); a dict it returns lands in ``FamilyRun.extras``. The engine
    records about ``log_points`` points per loss curve; ``config_overrides`` go to the family's TrainConfig.
    """
    family = get_family(name)  # an unknown name fails here, with the list of known ones
    images = data.images if hasattr(data, "images") else data
    image_size = int(images.shape[-1])
    if "image_size" in config_overrides:
        raise ValueError(f"train_family takes the image size from the data ({image_size} px here); resize the images "
                         f"(load_dataset(..., size={config_overrides['image_size']})) instead of passing image_size")
    if init_seed is not None:
        torch.manual_seed(seed if init_seed == FROM_SEED else int(init_seed))  # the same initial weights on every rerun
    build_options = dict(build_options or {})
    if family.conditioning == "class" and hasattr(data, "class_names"):  # a dataset: as many classes as it has
        build_options.setdefault("num_classes", len(data.class_names))
    generator, discriminator = build_family(name, image_size=image_size, budget=budget, width=width, **build_options)
    if hasattr(generator, "set_stage"):  # a progressive G drawn at full resolution, untrained as trained
        generator.set_stage(image_size, 1.0)
        discriminator.set_stage(image_size, 1.0)
    extras = (prepare(generator, discriminator) or {}) if prepare is not None else {}
    fd_untrained = math.nan
    if heldout is not None and measure_untrained:
        fd_untrained = _distance(generator, heldout, seed + 1, heldout_labels)[1]
    config = family_config(name, image_size, steps=steps, batch_size=batch_size, seed=seed, device=device, amp=amp,
                           **{"log_every": max(1, steps // log_points), **config_overrides})
    result = train_gan(generator, discriminator, data, config, labels=labels, callbacks=list(callbacks))
    run = FamilyRun(name, family.title, family.conditioning, result, result.best_generator,
                    width or family.widths[budget], config, fd_untrained, extras=extras)
    if heldout is not None:
        run.samples, run.fd = _distance(run.generator, heldout, seed + 1, heldout_labels)
    return run
