"""Bootstrap intervals and the real-vs-real floor: small for one distribution, reproducible, containing the estimate."""
from __future__ import annotations

import warnings

import pytest
import torch

from medgan_nb.metrics.bootstrap import bootstrap_interval, random_halves, real_vs_real_floor
from medgan_nb.metrics.distances import frechet_distance_from_features


@pytest.fixture(scope="module")
def samples() -> dict[str, torch.Tensor]:
    """A Gaussian sample (N = 400, D = 8) and a shifted sample of the same size."""
    generator = torch.Generator().manual_seed(0)
    return {"real": torch.randn(400, 8, generator=generator, dtype=torch.float64),
            "shifted": torch.randn(400, 8, generator=generator, dtype=torch.float64) + 0.5}


def test_floor_is_small_and_below_a_shifted_sample(samples):
    real, shifted = samples["real"], samples["shifted"]
    floor = real_vs_real_floor(real, n_boot=50, seed=1)
    # A shift of 0.5 in each of 8 dimensions: true distance 8 * 0.25 = 2, at 200 vs 200 vectors.
    first, second = random_halves(len(real), seed=1)
    shifted_half = bootstrap_interval(frechet_distance_from_features, real[first], shifted[second], n_boot=50, seed=2)
    # The floor is the finite-sample bias alone (~0.25 here for D = 8 at 200 vs 200), far below the shift.
    assert 0 < floor.estimate < 0.15 * shifted_half.estimate and floor.high < shifted_half.low, (floor, shifted_half)
    assert floor.estimate in floor and shifted_half.estimate in shifted_half
    assert floor.low < floor.high
    assert shifted_half.estimate == pytest.approx(2.0, rel=0.3)


def test_floor_and_interval_are_reproducible_and_use_random_halves(samples):
    real = samples["real"]
    a, b = real_vs_real_floor(real, n_boot=20, seed=3), real_vs_real_floor(real, n_boot=20, seed=3)
    assert (a.estimate, a.low, a.high) == (b.estimate, b.low, b.high)
    assert real_vs_real_floor(real, n_boot=20, seed=4).estimate != a.estimate
    first, second = random_halves(10, seed=0)
    assert set(first.tolist()).isdisjoint(second.tolist()) and len(first) == len(second) == 5
    assert first.tolist() != [0, 1, 2, 3, 4], "the halves must be random, not the first N"
    # Sorted by class, a split into first and second half would put different classes on each side:
    labels = torch.arange(400) // 200
    classes = samples["real"] + 3.0 * labels[:, None]
    mixed = real_vs_real_floor(classes, n_boot=5, seed=5)
    assert mixed.estimate < 0.1 * frechet_distance_from_features(classes[:200], classes[200:])


def test_floor_from_images_uses_the_default_extractor():
    images = torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 12 images per half < D = 256: the N < D warning
        floor = real_vs_real_floor(images, n_boot=5, seed=0)
    assert floor.estimate > 0 and len(floor.bootstrap) == 5


def test_bad_settings_get_clear_errors(samples):
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        bootstrap_interval(frechet_distance_from_features, samples["real"], samples["shifted"], n_boot=5, level=95)
    with pytest.raises(ValueError, match="at least 4"):
        real_vs_real_floor(samples["real"][:3])


def test_frechet_intervals_resample_every_set_alike_and_the_comparison_needs_two_standard_errors():
    from medgan_nb.metrics.bootstrap import frechet_intervals, interval_comparison

    g = torch.Generator().manual_seed(0)
    real = torch.rand(60, 3, 16, 16, generator=g) * 2 - 1
    close = (real[torch.randperm(60, generator=g)] + 0.05 * torch.randn(60, 3, 16, 16, generator=g)).clamp(-1, 1)
    far = torch.zeros(60, 3, 16, 16) + 0.1 * torch.randn(60, 3, 16, 16, generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 60 images per set: fewer than the features, biased (known)
        fds = frechet_intervals(real, {"close": close, "far": far, "close again": close.clone()}, n_boot=30, seed=1)
    assert fds["close"].low <= fds["close"].estimate <= fds["close"].high < fds["far"].low
    assert fds["close again"].estimate == fds["close"].estimate and fds["close again"].low == fds["close"].low
    assert interval_comparison(fds, "close", "far").startswith("close is clearly lower in Fréchet distance")
    assert interval_comparison(fds, "close", "close again").startswith("no clear difference at this budget")
