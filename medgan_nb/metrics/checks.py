r"""Input checks shared by the evaluation metrics: a wrong input must fail loudly, not give a number.

A distance between two image sets is only meaningful when both sets are on the same footing:
the same image size (a 32 px set against a 64 px set measures the resize, not the generator),
the same value range (the kit's images are float in :math:`[-1, 1]`; a set in :math:`[0, 255]`
or :math:`[0, 1]` shifts every feature) and no NaNs (one NaN makes a mean, a covariance and
therefore the whole distance NaN). Feature matrices must be 2-D :math:`(N, D)`, finite, with the
same :math:`D` on both sides. Each check raises a ``ValueError`` naming the bad value and the fix.
"""
from __future__ import annotations

import numpy as np
import torch

from .features import check_images

#: Images may overshoot [-1, 1] by this much (resampling, interpolation) before we call them out of range.
RANGE_TOLERANCE = 0.05


def check_finite_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Return ``images`` if it is a float (N, 3, H, W) tensor in [-1, 1] without NaN/inf; else raise a ValueError."""
    check_images(images, name)
    if len(images) == 0:
        raise ValueError(f"{name} is empty (N = 0); pass at least two images")
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).flatten(1).any(1).sum())
        raise ValueError(f"{name} contains NaN or inf values in {bad} of {len(images)} images; "
                         "drop them (images[torch.isfinite(images).flatten(1).all(1)]) or fix the generator "
                         "(a NaN output usually means training diverged)")
    low, high = float(images.min()), float(images.max())
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        hint = ("it looks like [0, 255]: use images / 127.5 - 1" if high > 2 and low >= 0
                else "rescale to [-1, 1] (e.g. images.clamp(-1, 1), or x * 2 - 1 for [0, 1] images)")
        raise ValueError(f"{name} has values in [{low:.3g}, {high:.3g}], outside the expected range [-1, 1]; {hint}")
    return images


def check_image_pair(real: torch.Tensor, fake: torch.Tensor,
                     names: tuple[str, str] = ("real_images", "fake_images")) -> None:
    """Return None if two image sets have the same size, range [-1, 1] and no NaNs; else raise a ValueError."""
    check_finite_images(real, names[0])
    check_finite_images(fake, names[1])
    if real.shape[-2:] != fake.shape[-2:]:
        raise ValueError(f"{names[0]} are {tuple(real.shape[-2:])} pixels but {names[1]} are {tuple(fake.shape[-2:])}; "
                         "compare sets of the same size: resize one with "
                         "torch.nn.functional.interpolate(images, size=..., mode='bilinear', antialias=True)")
    # A set in [0, 1] passes the range check on its own; next to a set that uses [-1, 0) it stands out.
    for this, other, this_name in ((real, fake, names[0]), (fake, real, names[1])):
        if float(this.min()) >= 0 and float(other.min()) < -0.5:
            raise ValueError(f"{this_name} has no negative values (range [{float(this.min()):.3g}, {float(this.max()):.3g}]) "
                             "while the other set uses [-1, 1]; it looks like [0, 1]: use images * 2 - 1")


def as_features(features, name: str = "features") -> torch.Tensor:
    """Return ``features`` as a float64 tensor (N, D) after checking it is 2-D and finite; else raise a ValueError."""
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array (N, D), got {type(features).__name__}")
    if features.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D) (one feature vector per row), got {tuple(features.shape)}; "
                         "flatten with features.flatten(1) or compute them with medgan_nb.metrics.features_of(images)")
    features = features.detach().to("cpu", torch.float64)
    finite = torch.isfinite(features)
    if not bool(finite.all()):
        bad = int((~finite).any(1).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} of {len(features)} rows; check the images "
                         "(NaN images give NaN features) or drop those rows: features[torch.isfinite(features).all(1)]")
    return features


def check_feature_pair(real, fake, names: tuple[str, str] = ("real_feats", "fake_feats")) -> tuple[torch.Tensor, torch.Tensor]:
    """Return both feature sets as float64 (N, D) tensors after checking they match in D; else raise a ValueError."""
    real, fake = as_features(real, names[0]), as_features(fake, names[1])
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{names[0]} has D = {real.shape[1]} features per row but {names[1]} has D = {fake.shape[1]}; "
                         "compute both with the same feature extractor")
    return real, fake
