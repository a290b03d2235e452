r"""Fréchet Radiomic Distance (FRD): the Fréchet distance on interpretable radiomic features.

Konz, Osuala et al. (Medical Image Analysis 2026, "Fréchet Radiomic Distance") replace the learned
features of FID by *radiomic* features :math:`\rho(x)`: first-order intensity statistics, texture
matrices (GLCM, GLRLM, GLSZM, ...) and the same on filtered images (wavelet, Laplacian of
Gaussian), computed by ``pyradiomics`` inside a region of interest — here the lesion mask when the
data has one, else the whole image. After a joint min-max normalisation of every feature,

.. math::

    \mathrm{FRD} = \log\Big( \lVert \mu_r - \mu_g \rVert^2
        + \operatorname{Tr}\big(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\big) \Big)

(the ``frd-score`` package's v1 convention). We do not re-implement the feature extraction: the
reference package ``frd-score`` does it from image files, so this wrapper writes the images (grey,
uint8 PNG, as radiomics works on one channel) and their masks to a temporary folder and calls it.
Radiomic extraction costs a fraction of a second per image on a CPU: a few hundred images take
a minute or more, which is why notebooks compute FRD on a subset.
"""
from __future__ import annotations

import tempfile
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
                       "pip install frd-score pyradiomics (pyradiomics 3.0.1 builds from source: "
                       "pip install --no-build-isolation pyradiomics==3.0.1 after numpy is installed)")
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


def frechet_radiomic_distance(real_images: torch.Tensor, fake_images: torch.Tensor,
                              real_masks: torch.Tensor | None = None, fake_masks: torch.Tensor | None = None,
                              num_workers: int = 1) -> float:
    """Return the FRD (frd-score v1, log scale; lower = closer) of two image sets, inside the lesion masks if given."""
    available, reason = frd_status()
    if not available:
        raise FeatureSpaceUnavailable(reason)
    check_image_pair(real_images, fake_images)
    if (real_masks is None) != (fake_masks is None):
        raise ValueError("pass masks for both sets or for neither: FRD inside the lesion on one side and over the "
                         "whole image on the other compares different regions (segment the generated images with "
                         "medgan_nb.metrics.morphology.segment_lesion, or use a mask-conditioned generator's masks)")
    for images, masks, name in ((real_images, real_masks, "real_masks"), (fake_images, fake_masks, "fake_masks")):
        if masks is not None and tuple(masks.shape) != (len(images), *images.shape[2:]):
            raise ValueError(f"{name} has shape {tuple(masks.shape)}, expected {(len(images), *images.shape[2:])} "
                             "(one H x W mask per image)")
    from frd_score import compute_frd

    with tempfile.TemporaryDirectory(prefix="medgan_frd_") as folder:
        real_dir, real_mask_dir = _write_pngs(Path(folder) / "real", real_images, real_masks)
        fake_dir, fake_mask_dir = _write_pngs(Path(folder) / "fake", fake_images, fake_masks)
        masks = [str(real_mask_dir), str(fake_mask_dir)] if real_mask_dir is not None else None
        value = compute_frd([str(real_dir), str(fake_dir)], paths_masks=masks, num_workers=num_workers)
    return float(value)
