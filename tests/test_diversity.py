"""Mean pairwise MS-SSIM: 1 for identical images, low for independent noise, scales chosen for small images."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.metrics.diversity import WANG_BETAS, mean_pairwise_ms_ssim, ms_ssim_settings, pairwise_ms_ssim


def test_identical_images_score_one_and_noise_scores_low():
    generator = torch.Generator().manual_seed(0)
    one = torch.rand(1, 3, 32, 32, generator=generator) * 2 - 1
    assert mean_pairwise_ms_ssim(one.repeat(10, 1, 1, 1), n_pairs=20) == pytest.approx(1.0, abs=1e-4)
    noise = torch.rand(40, 3, 32, 32, generator=generator) * 2 - 1
    assert mean_pairwise_ms_ssim(noise, n_pairs=50) < 0.1
    # A half-collapsed set (half the images are one image) sits in between.
    collapsed = torch.cat([one.repeat(20, 1, 1, 1), noise[:20]])
    assert 0.1 < mean_pairwise_ms_ssim(collapsed, n_pairs=200) < 0.9


def test_pairs_are_distinct_and_seeded():
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    values = pairwise_ms_ssim(images, n_pairs=8, seed=3)
    assert values.shape == (8,) and (values < 0.5).all(), "two different images must never be paired with themselves"
    assert torch.equal(values, pairwise_ms_ssim(images, n_pairs=8, seed=3))


def test_scales_fit_small_images():
    assert ms_ssim_settings(28)[1] == pytest.approx(tuple(b / sum(WANG_BETAS[:3]) for b in WANG_BETAS[:3]))
    assert len(ms_ssim_settings(32)[1]) == 3 and len(ms_ssim_settings(64)[1]) == 4
    assert sum(ms_ssim_settings(64)[1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 14 px"):
        ms_ssim_settings(8)
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_ms_ssim(torch.zeros(1, 3, 32, 32))
