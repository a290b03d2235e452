"""Fréchet Radiomic Distance through frd-score: it rises for a spoilt set, and bad input fails clearly."""
from __future__ import annotations

import sys

import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.metrics.frd import frd_status, frechet_radiomic_distance
from medgan_nb.metrics.spaces import FeatureSpaceUnavailable


@pytest.fixture(scope="module")
def lesions():
    # 64 px: radiomic texture features need a lesion of some hundreds of pixels (at 32 px, 12 images, FRD is noise)
    return load_dataset("phantom", size=64, split="test", n=600, seed=0, progress=False)


@pytest.mark.slow
def test_frd_inside_the_lesion_masks_rises_for_noisy_images(lesions):
    pytest.importorskip("radiomics", reason="pyradiomics builds from source: pip install --no-build-isolation pyradiomics==3.0.1")
    real, other = lesions.images[:16], lesions.images[16:32]
    real_masks, other_masks = lesions.masks[:16], lesions.masks[16:32]
    noisy = (other + 0.3 * torch.randn(other.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    floor = frechet_radiomic_distance(real, other, real_masks, other_masks)
    spoilt = frechet_radiomic_distance(real, noisy, real_masks, other_masks)
    assert spoilt > floor, (floor, spoilt)


def test_frd_bad_input_and_missing_package_get_clear_errors(lesions, monkeypatch):
    images, masks = lesions.images[:4], lesions.masks[:4]
    if frd_status()[0]:
        with pytest.raises(ValueError, match="masks for both sets or for neither"):
            frechet_radiomic_distance(images, images, masks, None)
        with pytest.raises(ValueError, match=r"fake_masks has shape \(4, 32, 32\)"):
            frechet_radiomic_distance(images, images, masks, masks[:, :32, :32])
    monkeypatch.setitem(sys.modules, "radiomics", None)  # as if pyradiomics were not installed
    available, reason = frd_status()
    assert not available and "pip install" in reason
    with pytest.raises(FeatureSpaceUnavailable, match="FRD is unavailable.*pyradiomics"):
        frechet_radiomic_distance(images, images)
