r"""Fréchet distance between two sets of images, in a fixed feature space.

Fit a Gaussian to the features :math:`\phi(x)` of each set, real
:math:`\mathcal{N}(\mu_r, \Sigma_r)` and generated :math:`\mathcal{N}(\mu_g, \Sigma_g)`;
the Fréchet (2-Wasserstein) distance between the two Gaussians is

.. math::

    d^2 = \lVert \mu_r - \mu_g \rVert_2^2
          + \operatorname{Tr}\!\big(\Sigma_r + \Sigma_g - 2\,(\Sigma_r \Sigma_g)^{1/2}\big).

The first term says "the average image is off" (e.g. wrong colour), the
second "the spread is off" (e.g. mode collapse: all samples alike). Lower is
better; two samples of the same distribution give a small positive value,
not zero, because :math:`\mu` and :math:`\Sigma` are estimated from finitely
many images.

We do not re-implement the formula: torchmetrics'
``FrechetInceptionDistance`` accepts any ``nn.Module`` as its feature
extractor (``feature=``); it calls the module on each batch we pass to
``update`` (float images in [-1, 1], unchanged, since the module is custom)
and reads the feature size from its ``num_features`` attribute. The module is
the ``extractor`` passed in (a space from :func:`medgan_nb.metrics.spaces.feature_space`),
by default the kit's fixed :class:`~medgan_nb.metrics.features.LesionFeatureExtractor`
(random conv + colour statistics, no download). There is no session-wide
setting: a distance measured in another space says so at its call. The value
is a *Fréchet distance in the kit's feature space*, not an Inception FID.

Sample sizes: :math:`\Sigma` is a :math:`D \times D` matrix estimated from
:math:`N` images, so it has rank at most :math:`N - 1`. With :math:`N < D`
(here D = 256) the distance is still defined, but it is biased upwards and
noisier; use the same N for every model you compare, and ideally N > D
(thousands for publishable numbers). Two images per set is the bare minimum.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from ..models.sampling import model_device, sample_images
from .checks import check_finite_images, check_image_pair
from .features import check_images
from .features import default_extractor

MIN_SAMPLES = 2  # a covariance needs at least two points


def features_of(
    images: torch.Tensor,
    extractor: nn.Module | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Return the features (N, D) on the CPU of images (N, 3, H, W) in [-1, 1], computed in batches."""
    extractor = extractor or default_extractor()
    check_images(images)
    if len(images):
        check_finite_images(images)  # NaNs or a [0, 255] range would give meaningless features
    device = model_device(extractor)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device)
            chunks.append(extractor(batch).float().cpu())
    if not chunks:
        raise ValueError("images is empty (N = 0); pass at least one image")
    return torch.cat(chunks)


def frechet_distance(
    real_images: torch.Tensor,
    fake_images: torch.Tensor,
    extractor: nn.Module | None = None,
    batch_size: int = 256,
) -> float:
    r"""Return the Fréchet distance :math:`d^2` between the feature Gaussians of two image sets (lower = closer)."""
    extractor = extractor or default_extractor()
    for name, images in (("real_images", real_images), ("fake_images", fake_images)):
        check_images(images, name)
        if len(images) < MIN_SAMPLES:
            raise ValueError(
                f"{name} has {len(images)} image(s); a Fréchet distance needs at least {MIN_SAMPLES} per set "
                "(and preferably more than the feature size D) - generate or load more images"
            )
    check_image_pair(real_images, fake_images)  # same size, same [-1, 1] range, no NaNs
    device = model_device(extractor)
    # torchmetrics keeps the running sums in float64 and computes
    # ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2}) from them.
    metric = FrechetInceptionDistance(feature=extractor, normalize=True, reset_real_features=True).to(device)
    for real, images in ((True, real_images), (False, fake_images)):
        for start in range(0, len(images), batch_size):
            metric.update(images[start : start + batch_size].to(device).float(), real=real)
    value = float(metric.compute())
    # Round-off in the matrix square root can make d^2 a hair below zero for identical sets.
    return max(value, 0.0) if math.isfinite(value) else value


def sample_generator(
    generator: nn.Module,
    n: int,
    seed: int = 0,
    batch_size: int = 256,
    latent_dim: int | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return ``n`` images (n, 3, H, W) on the CPU drawn from ``generator`` with z ~ N(0, I) from a fixed seed.

    A conditional generator needs ``labels`` (n class labels or masks), one per image.
    """
    latent_dim = latent_dim or getattr(generator, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("the generator has no .latent_dim attribute; pass latent_dim=... explicitly")
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))  # same seed -> same z
    return sample_images(generator, z, labels=labels, batch_size=batch_size)
