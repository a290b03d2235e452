r"""Fréchet Radiomic Distance (FRD): the Fréchet distance on interpretable radiomic features.

Konz, Osuala et al. (Medical Image Analysis 2026, "Fréchet Radiomic Distance") replace the learned
features of FID by *radiomic* features :math:`\rho(x)`: first-order intensity statistics, texture
matrices (GLCM, GLRLM, GLSZM, ...) and the same on filtered images (wavelet, Laplacian of
Gaussian), computed by ``pyradiomics`` inside a region of interest — here the lesion mask when the
data has one, else the whole image. After z-scoring every feature with the real set's mean and
standard deviation,

.. math::

    \mathrm{FRD} = \log\Big( \lVert \mu_r - \mu_g \rVert^2
        + \operatorname{Tr}\big(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\big) \Big)

(the ``frd-score`` package's v1 convention). We do not re-implement the feature extraction: the
reference package ``frd-score`` does it from image files, so this wrapper writes the images (grey,
uint8 PNG, as radiomics works on one channel) and their masks to a temporary folder and calls it.
:func:`radiomic_features` extracts a set once; :func:`frd_from_features` compares two extracted sets
(with frd-score's own normalisation and distance), so a reference set is not re-extracted per model.
Radiomic extraction costs a fraction of a second per image on a CPU: a few hundred images take
a minute or more, which is why notebooks compute FRD on a subset.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checks import check_image_pair
from .spaces import FeatureSpaceUnavailable


def frd_status() -> tuple[bool, str]:
    """Return (available, reason): whether the frd-score package and pyradiomics can run here, and the fix if not."""
    try:
        import frd_score  # noqa: F401
        import radiomics  # noqa: F401
    except ImportError as error:
        return False, (f"FRD is unavailable: {error.name} is not installed; install it with "
                       "pip install frd-score pyradiomics-bhklab (or the kit's extra: pip install 'medgan-nb[frd]'); "
                       "pyradiomics-bhklab is the maintained fork of pyradiomics and builds on Python 3.11 and 3.12")
    return True, "frd-score and pyradiomics are installed"


def _write_pngs(folder: Path, images: torch.Tensor, masks: torch.Tensor | None) -> tuple[Path, Path | None]:
    """Write images as grey uint8 PNGs (and masks as 0/255 PNGs) into folder/images and folder/masks."""
    image_dir, mask_dir = folder / "images", folder / "masks"
    image_dir.mkdir(parents=True)
    # ITU-R BT.601 luma, the usual grey conversion; [-1, 1] -> [0, 255].
    grey = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    pixels = ((grey.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(image_dir / f"{index:06d}.png")
    if masks is None:
        return image_dir, None
    mask_dir.mkdir()
    for index, mask in enumerate(masks.bool().numpy()):
        Image.fromarray(mask.astype(np.uint8) * 255).save(mask_dir / f"{index:06d}.png")
    return image_dir, mask_dir


@dataclass
class RadiomicFeatures:
    """The raw radiomic features of one image set, as frd-score v1 extracts them (rows with a NaN dropped)."""

    values: np.ndarray  # (N, F) float32
    names: list[str]

    def __len__(self) -> int:
        return len(self.values)


def _check_masks(images: torch.Tensor, masks: torch.Tensor | None, name: str) -> None:
    if masks is not None and tuple(masks.shape) != (len(images), *images.shape[2:]):
        raise ValueError(f"{name} has shape {tuple(masks.shape)}, expected {(len(images), *images.shape[2:])} "
                         "(one H x W mask per image)")


def radiomic_features(images: torch.Tensor, masks: torch.Tensor | None = None,
                      num_workers: int | None = None) -> RadiomicFeatures:
    """Return the radiomic features of ``images`` (N, 3, H, W) in [-1, 1], inside ``masks`` (N, H, W) if given.

    Compute them once per image set and pass them to :func:`frd_from_features` for every comparison:
    a reference set compared with ten generators is then extracted once, not ten times. ``num_workers``
    processes extract in parallel (default: frd-score's, all cores but two).
    """
    available, reason = frd_status()
    if not available:
        raise FeatureSpaceUnavailable(reason)
    if images.dim() != 4 or images.shape[1] != 3 or len(images) < 2:
        raise ValueError(f"images must have shape (N >= 2, 3, H, W), got {tuple(images.shape)}")
    _check_masks(images, masks, "masks")
    from frd_score import frd as reference

    reference._ensure_radiomics()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    reference.setVerbosity(60)
    extractor = reference.get_feature_extractor(frd_version="v1", image_dim=2)
    with tempfile.TemporaryDirectory(prefix="medgan_frd_") as folder:
        image_dir, mask_dir = _write_pngs(Path(folder), images, masks)
        files = sorted(image_dir.glob("*.png"))
        mask_files = sorted(mask_dir.glob("*.png")) if mask_dir is not None else None
        values, dicts, _ = reference.compute_features(files, extractor, masks=mask_files, num_workers=num_workers,
                                                      frd_version="v1")
    # frd-score v1's own preprocessing (calculate_feature_statistics): drop images with a NaN feature, float32
    values = values[~np.isnan(values).any(axis=1)].astype(np.float32)
    return RadiomicFeatures(values, list(dicts[0].keys()))


def frd_from_features(real: RadiomicFeatures, fake: RadiomicFeatures) -> float:
    """Return the FRD (frd-score v1: z-scores w.r.t. the real set, log of the squared Fréchet distance).

    This is frd-score's ``calculate_feature_statistics`` and ``compute_frd`` for two sets whose features
    are already extracted: the same library functions in the same order (tests compare the two).
    """
    from frd_score import frd as reference

    if real.names != fake.names:
        raise ValueError("the two feature sets were extracted with different radiomic features; extract both "
                         "with medgan_nb.metrics.frd.radiomic_features")
    low, high = reference.V1_DEFAULT_NORM_RANGE
    normalized = [reference.z_score_normalize(features.values, new_min=low, new_max=high, feature_names=real.names,
                                              base_distribution=real.values, replace_nan=False,
                                              handle_std_zero=False)
                  for features in (real, fake)]
    # v1 drops every feature column with a NaN or Inf after normalisation in either set
    keep = ~np.logical_or.reduce([~np.isfinite(values).all(axis=0) for values in normalized])
    normalized = [values[:, keep] for values in normalized]
    distance = reference.calculate_frechet_distance(normalized[0].mean(axis=0), np.cov(normalized[0], rowvar=False),
                                                    normalized[1].mean(axis=0), np.cov(normalized[1], rowvar=False))
    return float(np.log(distance)) if distance > 0 else float("-inf")


def frechet_radiomic_distance(real_images: torch.Tensor, fake_images: torch.Tensor,
                              real_masks: torch.Tensor | None = None, fake_masks: torch.Tensor | None = None,
                              num_workers: int | None = None) -> float:
    """Return the FRD (frd-score v1, log scale; lower = closer) of two image sets, inside the lesion masks if given."""
    available, reason = frd_status()
    if not available:
        raise FeatureSpaceUnavailable(reason)
    check_image_pair(real_images, fake_images)
    if (real_masks is None) != (fake_masks is None):
        raise ValueError("pass masks for both sets or for neither: FRD inside the lesion on one side and over the "
                         "whole image on the other compares different regions (segment the generated images with "
                         "medgan_nb.metrics.morphology.segment_lesion, or use a mask-conditioned generator's masks)")
    _check_masks(real_images, real_masks, "real_masks")
    _check_masks(fake_images, fake_masks, "fake_masks")
    return frd_from_features(radiomic_features(real_images, real_masks, num_workers),
                             radiomic_features(fake_images, fake_masks, num_workers))
