r"""Using a generator once it exists: draw samples, describe it, and refresh its batch-norm statistics.

These helpers belong to the models, not to training: the engine, the metrics,
the figures and the widgets all draw images from a generator, and none of them
should need the training loop to do it.

* :func:`sample_images` computes :math:`G(z)` (or :math:`G(z, y)` for a
  conditional generator) in evaluation mode, in batches, without gradients,
  and restores the model's mode afterwards.
* :func:`takes_labels` tells a conditional model (``forward(x, condition)``)
  from an unconditional one (``forward(x)``).
* :func:`describe_model` lists the class and size attributes that make a
  checkpoint fit a model (``image_size``, ``latent_dim``, ``width``, ...).
* :func:`refresh_batchnorm_statistics` recomputes the running mean and
  variance of every batch-norm layer from fresh forward passes. A weight
  average (EMA) of a generator has new weights, so the statistics it inherited
  from the raw generator no longer describe its activations; in evaluation mode
  batch norm computes :math:`\hat h = (h - \mu_{run}) / \sqrt{\sigma^2_{run} + \epsilon}`
  with those stale :math:`\mu_{run}, \sigma^2_{run}`, and the samples wash out.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

Tensor = torch.Tensor

SIZE_ATTRIBUTES = ("image_size", "latent_dim", "width", "channels", "num_classes", "upsample", "spectral_norm",
                   "batch_norm", "mask_channels", "max_resolution")


def unwrap(module: nn.Module) -> nn.Module:
    """Return the model inside a DistributedDataParallel wrapper (or the model itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def takes_labels(module: nn.Module) -> bool:
    """Return True when the model's forward accepts a second argument (class labels or masks of a conditional GAN)."""
    parameters = inspect.signature(unwrap(module).forward).parameters.values()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def describe_model(module: nn.Module) -> dict[str, Any]:
    """Return the class name and size attributes (image_size, latent_dim, width, ...) of a model."""
    module = unwrap(module)
    description: dict[str, Any] = {"class": type(module).__name__}
    for key in SIZE_ATTRIBUTES:
        value = getattr(module, key, None)
        if isinstance(value, (bool, int, float, str)):
            description[key] = value
    return description


def model_device(module: nn.Module) -> torch.device:
    """Return the device of a module's first parameter or buffer (CPU if it has none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def sample_images(generator: nn.Module, noise: Tensor, labels: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """Return G(noise) (or G(noise, labels)) as a float32 CPU tensor, computed in eval mode (the model's mode is restored)."""
    generator = unwrap(generator)
    conditional = takes_labels(generator)
    if labels is not None and not conditional:
        raise ValueError(f"labels were given to {type(generator).__name__}, an unconditional generator "
                         "(its forward takes only z); drop labels=... or use a conditional model")
    if labels is None and conditional:
        raise ValueError(f"{type(generator).__name__} is conditional: pass labels=... (one class label or mask "
                         "per latent vector)")
    if labels is not None and len(labels) != len(noise):
        raise ValueError(f"{len(labels)} labels for {len(noise)} latent vectors; give one per vector")
    was_training = generator.training
    generator.eval()
    device = model_device(generator)
    try:
        chunks = []
        for start in range(0, len(noise), batch_size):
            z = noise[start : start + batch_size].to(device)
            extra = () if labels is None else (labels[start : start + batch_size].to(device),)
            chunks.append(generator(z, *extra).float().cpu())
        return torch.cat(chunks)
    finally:
        generator.train(was_training)


def has_batchnorm(module: nn.Module) -> bool:
    """Return True when the model has at least one batch-norm layer with running statistics."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in module.modules())


@torch.no_grad()
def refresh_batchnorm_statistics(generator: nn.Module, draw_inputs: Callable[[], tuple[Tensor, ...]],
                                 n_batches: int = 8) -> None:
    """Recompute every batch-norm layer's running mean/variance from ``n_batches`` forward passes of ``draw_inputs()``.

    Written here rather than with ``torch.optim.swa_utils.update_bn`` because
    that function passes only the first element of each batch to the model,
    and a conditional generator needs two inputs (z and its class or mask).
    """
    layers = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers:
        return
    momenta = {layer: layer.momentum for layer in layers}
    was_training = generator.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # None = cumulative average over all batches seen since the reset
    generator.train()
    try:
        for _ in range(n_batches):
            generator(*draw_inputs())
    finally:
        for layer, momentum in momenta.items():
            layer.momentum = momentum
        generator.train(was_training)
