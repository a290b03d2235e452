"""Unit tests for the toy models and the theory experiments behind notebook 01."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medgan_nb.experiments import theory
from medgan_nb.models.toy import GaussianGenerator, MinibatchStd, ToyDiscriminator, ToyGenerator


# --- toy data -------------------------------------------------------------------

def test_ring_sampler_puts_points_near_the_ring_and_uses_every_mode():
    points = theory.sample_ring(4000, n_modes=8, radius=2.0, std=0.05, generator=torch.Generator().manual_seed(0))
    assert points.shape == (4000, 2)
    radii = points.norm(dim=1)
    assert (radii - 2.0).abs().max() < 6 * 0.05 * math.sqrt(2)  # chi with 2 dof: far beyond any 6-sigma point
    nearest = torch.cdist(points, theory.ring_centres(8, 2.0)).argmin(dim=1)
    share = torch.bincount(nearest, minlength=8).float() / len(points)
    assert share.min() > 0.125 * 0.8 and share.max() < 0.125 * 1.2  # equal weights up to sampling noise


def test_ring_centres_lie_on_the_circle_evenly_spaced():
    centres = theory.ring_centres(6, 3.0)
    assert torch.allclose(centres.norm(dim=1), torch.full((6,), 3.0), atol=1e-5)
    gaps = (centres - centres.roll(1, dims=0)).norm(dim=1)
    assert torch.allclose(gaps, torch.full((6,), 3.0), atol=1e-4)  # hexagon: side = radius


def test_bad_ring_arguments_raise():
    with pytest.raises(ValueError, match="n_modes"):
        theory.ring_centres(0)
    with pytest.raises(ValueError, match="std"):
        theory.sample_ring(10, std=0.0)


def test_mixture_density_integrates_to_one_and_matches_samples():
    mixture = theory.GaussianMixture1D(means=(-1.0, 2.0), stds=(0.3, 0.6), weights=(0.25, 0.75))
    x = torch.linspace(-6, 8, 20001)
    assert abs(float(mixture.density(x).sum() * (x[1] - x[0])) - 1.0) < 1e-3
    samples = mixture.sample(20000, generator=torch.Generator().manual_seed(0))
    assert abs(float(samples.mean()) - (0.25 * -1 + 0.75 * 2)) < 0.05


def test_mixture_rejects_weights_that_do_not_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        theory.GaussianMixture1D(means=(0.0, 1.0), stds=(1.0, 1.0), weights=(0.5, 0.6))


# --- mode coverage ----------------------------------------------------------------

def test_mode_coverage_on_hand_made_samples():
    centres = theory.ring_centres(8, 2.0)
    std = 0.05
    # 100 points exactly on each of modes 0, 1, 2; 50 points far away (the origin); 3 points on mode 5
    on_modes = torch.cat([centres[k].repeat(100, 1) for k in (0, 1, 2)])
    strays = torch.zeros(50, 2)
    few = centres[5].repeat(3, 1) + 0.01
    coverage = theory.mode_coverage(torch.cat([on_modes, strays, few]), centres, std)
    assert coverage.modes_covered == 3  # the 3 points on mode 5 are below the fair-share threshold
    assert coverage.high_quality == pytest.approx(303 / 353)
    assert coverage.counts.tolist() == [100, 100, 100, 0, 0, 3, 0, 0]


def test_mode_coverage_of_true_samples_is_complete():
    centres = theory.ring_centres(8, 2.0)
    samples = theory.sample_ring(2000, std=0.05, generator=torch.Generator().manual_seed(1))
    coverage = theory.mode_coverage(samples, centres, 0.05)
    assert coverage.modes_covered == 8
    assert coverage.high_quality > 0.97  # P(|N(0, s^2 I_2)| < 3s) = 1 - exp(-4.5) ~ 0.989


def test_mode_coverage_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same d"):
        theory.mode_coverage(np.zeros((5, 3)), theory.ring_centres(), 0.05)


# --- the game: D* and the JSD identity ------------------------------------------

def test_optimal_discriminator_formula():
    p_data = torch.tensor([0.0, 1.0, 2.0, 0.0, 3.0])
    p_g = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    d_star = theory.optimal_discriminator(p_data, p_g)
    assert torch.allclose(d_star, torch.tensor([0.0, 0.5, 1.0, 0.5, 0.75]))


def test_value_at_d_star_equals_two_jsd_minus_log4():
    x = torch.linspace(-8, 8, 8001)
    dx = float(x[1] - x[0])
    p_data = theory.GaussianMixture1D().density(x)
    p_g = GaussianGenerator(mu=0.7, sigma=1.3).density(x)
    d_star = theory.optimal_discriminator(p_data, p_g)
    value = theory.value_on_grid(d_star, p_data, p_g, dx)
    identity = 2 * theory.jensen_shannon(p_data, p_g, dx) - math.log(4)
    assert value == pytest.approx(identity, abs=1e-4)
    assert -math.log(4) < value < 0  # JSD is strictly between 0 and log 2 for different, overlapping densities
    # D* is the maximiser: any other discriminator gives a smaller value
    for other in (torch.full_like(x, 0.5), (d_star + 0.1).clamp(0, 1), torch.sigmoid(x)):
        assert theory.value_on_grid(other, p_data, p_g, dx) < value


def test_value_is_minus_log4_when_generator_matches_data():
    x = torch.linspace(-8, 8, 4001)
    p = GaussianGenerator(0.0, 1.0).density(x)
    d_star = theory.optimal_discriminator(p, p)
    assert torch.allclose(d_star, torch.full_like(x, 0.5))
    assert theory.value_on_grid(d_star, p, p, float(x[1] - x[0])) == pytest.approx(-math.log(4), abs=1e-3)


# --- generator losses ---------------------------------------------------------------

def test_generator_gradient_magnitudes_are_d_and_one_minus_d():
    p = np.array([1e-4, 0.1, 0.5, 0.9])
    curves = theory.generator_gradient_vs_d(p)
    assert np.allclose(curves["saturating"], p, rtol=1e-6)
    assert np.allclose(curves["nonsaturating"], 1 - p, rtol=1e-6)


# --- Dirac-GAN ---------------------------------------------------------------------

def test_dirac_gan_simultaneous_diverges_and_r1_converges():
    start = math.hypot(1.0, 1.0)
    simultaneous = np.linalg.norm(theory.dirac_gan("simultaneous", steps=200), axis=1)
    alternating = np.linalg.norm(theory.dirac_gan("alternating", steps=200), axis=1)
    regularised = np.linalg.norm(theory.dirac_gan("simultaneous", steps=200, r1_gamma=1.0), axis=1)
    assert simultaneous[-1] > 1.3 * start
    assert 0.7 * start < alternating[-1] < 1.3 * start  # circles: neither escapes nor converges
    assert regularised[-1] < 0.01 * start


def test_dirac_gan_rejects_unknown_method():
    with pytest.raises(ValueError, match="simultaneous"):
        theory.dirac_gan("leapfrog")


# --- models ------------------------------------------------------------------------

def test_minibatch_std_layer_shape_and_value():
    h = torch.randn(16, 5)
    out = MinibatchStd()(h)
    assert out.shape == (16, 6)
    assert torch.allclose(out[:, :5], h)
    expected = h.std(dim=0, unbiased=False).mean()
    assert torch.allclose(out[:, 5], expected.expand(16), atol=1e-4)
    grouped = MinibatchStd(group_size=4)(h)
    assert grouped.shape == (16, 6)
    assert len(torch.unique(grouped[:, 5])) == 4  # one statistic per group of 4


def test_minibatch_std_sees_a_collapsed_batch():
    collapsed = torch.ones(8, 3)
    assert float(MinibatchStd()(collapsed)[0, 3]) < 1e-3
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStd(group_size=4)(torch.randn(6, 3))


def test_toy_networks_shapes():
    generator = ToyGenerator(latent_dim=3, data_dim=2, hidden=16)
    assert generator(torch.randn(7, 3)).shape == (7, 2)
    for mbstd in (False, True):
        assert ToyDiscriminator(2, 16, minibatch_std=mbstd)(torch.randn(7, 2)).shape == (7,)


def test_gaussian_generator_density_matches_its_samples():
    generator = GaussianGenerator(mu=1.0, sigma=0.5)
    samples = generator(torch.randn(20000, generator=torch.Generator().manual_seed(0))).detach()
    assert abs(float(samples.mean()) - 1.0) < 0.02 and abs(float(samples.std()) - 0.5) < 0.02
    x = torch.linspace(-3, 5, 8001)
    assert abs(float(generator.density(x).sum() * (x[1] - x[0])) - 1.0) < 1e-3
    with pytest.raises(ValueError, match="sigma"):
        GaussianGenerator(sigma=0.0)


# --- a trained discriminator approaches D* --------------------------------------------

def test_trained_discriminator_is_close_to_d_star():
    p_data = theory.GaussianMixture1D()
    generator = GaussianGenerator(mu=0.0, sigma=1.0)
    discriminator = theory.train_discriminator_1d(p_data, generator, steps=300, batch_size=512)
    x = torch.linspace(-3, 3, 601)
    with torch.no_grad():
        d = torch.sigmoid(discriminator(x.unsqueeze(1)))
    p_g = generator.density(x)
    d_star = theory.optimal_discriminator(p_data.density(x), p_g)
    support = (p_data.density(x) + p_g) / 2 > 0.02  # the same support rule as the notebook's check
    assert support.sum() > 400
    assert float((d - d_star).abs()[support].max()) < 0.1


def test_toy_gan_config_rejects_unknown_loss():
    with pytest.raises(ValueError, match="known losses"):
        theory.ToyGANConfig(loss="nonsense")
