"""Notebook 01 under the smoke profile: each effect it teaches must really happen in its metrics.json."""
from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def metrics(notebook_runs):
    return notebook_runs("01_gan_theory")


def test_remedy_covers_more_modes_than_the_collapsing_baseline(metrics):
    assert metrics["ring_baseline_modes"] <= 2, "the baseline should collapse onto at most a couple of modes"
    assert metrics["ring_remedy_modes"] >= metrics["ring_baseline_modes"] + 3
    assert metrics["ring_remedy_hq"] > metrics["ring_baseline_hq"]
    assert 0.0 <= metrics["ring_baseline_hq"] <= 1.0 and 0.0 <= metrics["ring_remedy_hq"] <= 1.0


def test_trained_discriminator_matches_d_star_within_the_stated_tolerance(metrics):
    tolerance = metrics["d_star_tolerance"]
    assert tolerance <= 0.15, "the notebook promises |D - D*| < 0.15; do not loosen it silently"
    assert 0.0 <= metrics["max_abs_d_minus_dstar"] < tolerance


def test_value_at_d_star_is_two_jsd_minus_log4_and_bounds_the_trained_d(metrics):
    for at_star, identity, trained in zip(metrics["value_at_dstar"], metrics["two_jsd_minus_log4"], metrics["value_at_trained_d"]):
        assert at_star == pytest.approx(identity, abs=1e-3)
        assert -math.log(4) <= identity <= 0.0  # JSD lies in [0, log 2]
        assert trained <= at_star + 1e-4  # D* is the maximiser of V(., G)
    assert metrics["value_at_dstar"][-1] < metrics["value_at_dstar"][0], "training should bring V(D*, G) down towards -log 4"


def test_saturating_generator_gradient_is_smaller_at_the_start(metrics):
    assert metrics["grad_saturating_start"] < 1e-2 * metrics["grad_nonsaturating_start"]
    # the saturating generator stalls near its start (mu = -2); the non-saturating one reaches the data (mean 2)
    assert abs(metrics["saturating_final_mu"] - (-2.0)) < 0.5
    assert abs(metrics["nonsaturating_final_mu"] - 2.0) < 1.5


def test_dirac_gan_simultaneous_diverges_while_r1_converges(metrics):
    start = metrics["dirac_initial_distance"]
    path = metrics["dirac_simultaneous_distance"]
    assert path[-1] > 1.5 * start and path[-1] > path[len(path) // 2] >= path[0]
    assert metrics["dirac_remedy_final_distance"] < 1e-2 * start
    assert metrics["dirac_alternating_final_distance"] > 0.5 * start  # circles, does not converge


def test_vanishing_gradient_and_sweep_are_reported(metrics):
    start, end = metrics["vanishing_grad_saturating"]
    assert end < 0.2 * start, "the saturating gradient should shrink as D trains alone"
    grid = metrics["sweep_modes_covered"]
    assert len(grid) == len(metrics["sweep_learning_rates"]) and all(len(row) == len(metrics["sweep_n_critics"]) for row in grid)
    assert all(0 <= cell <= 8 for row in grid for cell in row)
    assert set(metrics["headline"]) <= set(metrics)
