"""Fréchet and kernel distances on feature vectors agree with closed forms, scipy and torchmetrics; bad input fails clearly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from medgan_nb.metrics.distances import (
    feature_statistics,
    frechet_distance_from_features,
    frechet_distance_from_statistics,
    kernel_distance,
    kid_from_features,
    torchmetrics_frechet_distance,
)
from medgan_nb.metrics.features import LesionFeatureExtractor
from medgan_nb.metrics.fid import features_of, frechet_distance


def diagonal_gaussians(dim: int = 6):
    """Two diagonal Gaussians with different means and standard deviations, and their closed-form distance."""
    generator = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(dim, generator=generator, dtype=torch.float64), torch.randn(dim, generator=generator, dtype=torch.float64)
    std1, std2 = 0.5 + torch.rand(dim, generator=generator, dtype=torch.float64), 0.5 + torch.rand(dim, generator=generator, dtype=torch.float64)
    closed_form = float((mu1 - mu2).square().sum() + (std1 - std2).square().sum())  # ||mu1-mu2||^2 + sum (s1-s2)^2
    return mu1, std1, mu2, std2, closed_form


def test_frechet_distance_of_exact_statistics_is_the_closed_form():
    mu1, std1, mu2, std2, closed_form = diagonal_gaussians()
    value = frechet_distance_from_statistics(mu1, torch.diag(std1**2), mu2, torch.diag(std2**2))
    assert value == pytest.approx(closed_form, abs=1e-6)
    assert frechet_distance_from_statistics(mu1, torch.diag(std1**2), mu1, torch.diag(std1**2)) == pytest.approx(0, abs=1e-9)
    # A full (non-diagonal) covariance: rotate both Gaussians by the same orthogonal matrix, the distance is unchanged.
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    rotated = frechet_distance_from_statistics(rotation @ mu1, rotation @ torch.diag(std1**2) @ rotation.T,
                                               rotation @ mu2, rotation @ torch.diag(std2**2) @ rotation.T)
    assert rotated == pytest.approx(closed_form, abs=1e-6)


def test_frechet_distance_of_large_samples_approaches_the_closed_form():
    mu1, std1, mu2, std2, closed_form = diagonal_gaussians()
    generator = torch.Generator().manual_seed(2)
    n = 200_000
    real = mu1 + std1 * torch.randn(n, 6, generator=generator, dtype=torch.float64)
    fake = mu2 + std2 * torch.randn(n, 6, generator=generator, dtype=torch.float64)
    assert frechet_distance_from_features(real, fake) == pytest.approx(closed_form, rel=0.01)


def test_frechet_distance_matches_scipy_sqrtm_and_torchmetrics():
    images = torch.rand(300, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    real, fake = images[:150], (images[150:] * 0.7).clamp(-1, 1)
    extractor = LesionFeatureExtractor(widths=(8, 16, 16))  # D = 112 < 150 images: full-rank covariances
    phi_r, phi_g = features_of(real, extractor).double(), features_of(fake, extractor).double()
    ours = frechet_distance_from_features(phi_r, phi_g)
    mu_r, sigma_r = phi_r.mean(0).numpy(), np.cov(phi_r.numpy(), rowvar=False)
    mu_g, sigma_g = phi_g.mean(0).numpy(), np.cov(phi_g.numpy(), rowvar=False)
    reference = ((mu_r - mu_g) ** 2).sum() + np.trace(sigma_r + sigma_g - 2 * linalg.sqrtm(sigma_r @ sigma_g).real)
    assert ours == pytest.approx(reference, rel=1e-3)
    assert torchmetrics_frechet_distance(real, fake, extractor) == pytest.approx(ours, rel=1e-3)
    assert frechet_distance(real, fake, extractor) == pytest.approx(ours, rel=1e-3)
    mu, sigma = feature_statistics(phi_r)
    assert torch.allclose(sigma, torch.from_numpy(sigma_r)) and torch.allclose(mu, torch.from_numpy(mu_r))


def test_kid_is_zero_for_one_distribution_positive_for_a_shift_and_matches_torchmetrics():
    generator = torch.Generator().manual_seed(4)
    real, same = torch.randn(600, 16, generator=generator), torch.randn(600, 16, generator=generator)
    shifted = torch.randn(600, 16, generator=generator) + 0.5
    null = kid_from_features(real, same, subsets=20, subset_size=300)
    moved = kid_from_features(real, shifted, subsets=20, subset_size=300)
    assert abs(null.mean) < 3 * null.std + 1e-3, null
    assert moved.mean > 10 * max(null.std, abs(null.mean)) and moved.mean > 0, (null, moved)
    assert kid_from_features(real, shifted, subsets=5, subset_size=300, seed=7) == kid_from_features(
        real, shifted, subsets=5, subset_size=300, seed=7)

    images = torch.rand(200, 3, 32, 32, generator=generator) * 2 - 1
    real_images, fake_images = images[:100], (images[100:] * 0.6 + 0.2).clamp(-1, 1)
    extractor = LesionFeatureExtractor(widths=(8, 16, 16))
    ours = kid_from_features(features_of(real_images, extractor), features_of(fake_images, extractor),
                             subsets=10, subset_size=50, seed=5)
    theirs = kernel_distance(real_images, fake_images, extractor, subsets=10, subset_size=50, seed=5)
    assert ours.mean > 0
    assert theirs.mean == pytest.approx(ours.mean, rel=1e-3) and theirs.std == pytest.approx(ours.std, rel=1e-2)


def test_bad_features_get_clear_errors():
    feats = torch.randn(50, 8)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance_from_features(feats, torch.full((50, 8), float("nan")))
    with pytest.raises(ValueError, match="NaN"):
        kid_from_features(feats, torch.where(torch.arange(8) == 3, float("nan"), feats), subset_size=10)
    with pytest.raises(ValueError, match="at least 2.*kid_from_features"):
        frechet_distance_from_features(feats, feats[:1])
    with pytest.warns(UserWarning, match="more than 8 images"):
        frechet_distance_from_features(feats[:5], feats[5:10])
    with pytest.raises(ValueError, match="same feature extractor"):
        frechet_distance_from_features(feats, torch.randn(50, 9))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet_distance_from_features(feats, torch.randn(50, 2, 4))
    with pytest.raises(ValueError, match="subset_size=50"):
        kid_from_features(feats, feats, subset_size=1000)


def test_bad_images_get_clear_errors():
    images = torch.rand(20, 3, 32, 32) * 2 - 1
    with pytest.raises(ValueError, match=r"\[0, 255\].*127.5"):
        frechet_distance(images, (images + 1) * 127.5)
    with pytest.raises(ValueError, match=r"\[0, 1\].*\* 2 - 1"):
        kernel_distance(images, (images + 1) / 2, subset_size=10)
    with pytest.raises(ValueError, match="same size.*interpolate"):
        torchmetrics_frechet_distance(images, torch.rand(20, 3, 64, 64) * 2 - 1)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(images, images.clone().index_fill_(0, torch.tensor([3]), float("nan")))
    with pytest.raises(ValueError, match="NaN"):
        features_of(torch.full((2, 3, 16, 16), float("nan")))
