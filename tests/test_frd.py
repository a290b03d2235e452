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
    pytest.importorskip("radiomics", reason="FRD's backend is missing: pip install pyradiomics-bhklab (make setup installs it)")
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


@pytest.mark.slow
def test_features_extracted_once_give_frd_scores_own_value(lesions, tmp_path):
    pytest.importorskip("radiomics", reason="FRD's backend is missing: pip install pyradiomics-bhklab (make setup installs it)")
    from frd_score import compute_frd

    from medgan_nb.metrics.frd import _write_pngs, frd_from_features, radiomic_features

    real, other = lesions.images[:12], lesions.images[12:24]
    noisy = (other + 0.3 * torch.randn(other.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    real_features = radiomic_features(real, num_workers=1)
    assert real_features.values.shape[0] == 12 and len(real_features.names) == real_features.values.shape[1] > 50
    real_dir, _ = _write_pngs(tmp_path / "real", real, None)
    for i, fake in enumerate((other, noisy)):
        ours = frd_from_features(real_features, radiomic_features(fake, num_workers=1))
        fake_dir, _ = _write_pngs(tmp_path / f"fake{i}", fake, None)
        theirs = compute_frd([str(real_dir), str(fake_dir)], num_workers=1)
        assert ours == pytest.approx(float(theirs), rel=1e-5, abs=1e-6)


def test_feature_sets_from_different_extractors_are_refused():
    pytest.importorskip("frd_score")
    import numpy as np

    from medgan_nb.metrics.frd import RadiomicFeatures, frd_from_features

    one = RadiomicFeatures(np.zeros((3, 2), np.float32), ["a", "b"])
    other = RadiomicFeatures(np.zeros((3, 2), np.float32), ["a", "c"])
    with pytest.raises(ValueError, match="different radiomic features"):
        frd_from_features(one, other)


@pytest.mark.slow
def test_the_evaluation_table_extracts_the_reference_once(lesions, monkeypatch):
    pytest.importorskip("radiomics", reason="FRD's backend is missing: pip install pyradiomics-bhklab (make setup installs it)")
    from types import SimpleNamespace

    from medgan_nb.experiments.evaluation import frd_column
    from medgan_nb.metrics import frd

    images = lesions.images
    reference = SimpleNamespace(images=images[:6], other_half=images[6:12])
    samples = {"copy": images[:6].clone(), "noise": torch.rand(6, 3, 64, 64) * 2 - 1}
    assert set(frd_column(reference, samples, enabled=False).values()) == {"not computed (with_frd=False)"}
    extracted = []
    original = frd.radiomic_features
    monkeypatch.setattr(frd, "radiomic_features", lambda x, *a, **k: extracted.append(len(x)) or original(x, *a, **k))
    column = frd_column(reference, samples, enabled=True, n_images=5)
    assert extracted == [5, 5, 5, 5]  # the reference once, then the floor's half and each family
    assert set(column) == {"real (floor)", "copy", "noise"}
    assert column["copy"] < column["real (floor)"] < column["noise"]
