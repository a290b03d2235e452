r"""How sure is a distance? Bootstrap intervals and the real-vs-real floor.

A distance between two finite samples is itself a random number. Two checks say what it is worth:

* **Bootstrap interval** (Efron & Tibshirani 1993, "An Introduction to the Bootstrap"). Redraw
  both sets with replacement :math:`B` times, recompute the metric
  :math:`\hat\theta^*_b = f(\text{real}^*_b, \text{fake}^*_b)` and read the spread of
  :math:`\hat\theta^*`. Distances like the Fréchet distance are biased by the sample size,
  and a resample holds only about 63% distinct points, so :math:`\hat\theta^*` sits *above*
  :math:`\hat\theta` (for two samples of one distribution about twice as high). We therefore
  report the bias-corrected percentile interval

  .. math::

      \big[\, q_{\alpha/2}(\hat\theta^*) - b,\; q_{1-\alpha/2}(\hat\theta^*) - b \,\big],
      \qquad b = \overline{\hat\theta^*} - \hat\theta ,

  the percentile interval moved back by the bootstrap's estimate of its own bias :math:`b`.
* **Real-vs-real floor**: the same metric between two *random* disjoint halves of the real set.
  It is what a perfect generator would score at that sample size; a model is only "better"
  than another by more than the floor's interval. The halves must be random (a split sorted by
  class puts different classes in each half and inflates the floor), and a model must be
  measured with the same number of images as one half for the two numbers to be comparable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .checks import as_features
from .distances import frechet_distance_from_features
from .fid import features_of


@dataclass
class Interval:
    """A point estimate with its bootstrap interval (and the bootstrap values themselves)."""

    estimate: float
    low: float
    high: float
    level: float
    bootstrap: np.ndarray = field(repr=False)

    def __contains__(self, value: float) -> bool:
        """Return True if ``value`` lies within [low, high]."""
        return self.low <= value <= self.high

    def __str__(self) -> str:
        """Return the interval as 'estimate [low, high] (level%)'."""
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] ({self.level:.0%})"


def _check_level(level: float, n_boot: int) -> None:
    """Raise a ValueError unless 0 < level < 1 and n_boot >= 2."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    if not (isinstance(n_boot, int) and n_boot >= 2):
        raise ValueError(f"n_boot must be an integer >= 2 (e.g. 200), got {n_boot!r}")


def bootstrap_interval(metric_fn: Callable[[torch.Tensor, torch.Tensor], float], real, fake,
                       n_boot: int = 200, seed: int = 0, level: float = 0.95) -> Interval:
    """Return ``metric_fn(real, fake)`` with its bias-corrected bootstrap interval over resamples of both sets."""
    _check_level(level, n_boot)
    estimate = float(metric_fn(real, fake))
    rng = np.random.default_rng(seed)  # own generator: reproducible, global state untouched
    values = np.empty(n_boot)
    for b in range(n_boot):
        real_idx = torch.from_numpy(rng.integers(0, len(real), len(real)))  # draw with replacement
        fake_idx = torch.from_numpy(rng.integers(0, len(fake), len(fake)))
        values[b] = float(metric_fn(real[real_idx], fake[fake_idx]))
    bias = values.mean() - estimate  # b = mean(theta*) - theta_hat
    alpha = 1 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2]) - bias
    return Interval(estimate, float(low), float(high), level, values)


def random_halves(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return two disjoint random index sets of size n // 2 each from range(n)."""
    if n < 4:
        raise ValueError(f"a real-vs-real floor needs at least 4 items (two per half), got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    half = n // 2
    return order[:half], order[half : 2 * half]


def real_vs_real_floor(real_feats_or_images, metric_fn: Callable = frechet_distance_from_features,
                       extractor: nn.Module | None = None, n_boot: int = 200, seed: int = 0,
                       level: float = 0.95) -> Interval:
    """Return the metric between two random disjoint halves of the real set, with its bootstrap interval.

    Images (N, 3, H, W) are turned into features with ``extractor`` (default: the kit's) first;
    features (N, D) are used as they are. Compare a model measured with N // 2 generated images.
    """
    data = real_feats_or_images
    if isinstance(data, torch.Tensor) and data.ndim == 4:
        data = features_of(data, extractor)
    data = as_features(data, "real_feats_or_images")
    first, second = random_halves(len(data), seed)
    return bootstrap_interval(metric_fn, data[first], data[second], n_boot=n_boot, seed=seed + 1, level=level)


def frechet_interval(real_features: torch.Tensor, images: torch.Tensor, extractor: nn.Module | None = None,
                     n_boot: int = 100, seed: int = 0, level: float = 0.95) -> Interval:
    """Return the Fréchet distance of ``images`` to real images given by their features, with its bootstrap interval."""
    return bootstrap_interval(frechet_distance_from_features, real_features, features_of(images, extractor=extractor),
                              n_boot=n_boot, seed=seed, level=level)


def frechet_intervals(real, sets: dict[str, torch.Tensor], extractor: nn.Module | None = None, n_boot: int = 100,
                      seed: int = 0, level: float = 0.95) -> dict[str, Interval]:
    """Return, per named set of images, its Fréchet distance to ``real`` with its bootstrap interval.

    The features of ``real`` are computed once with ``extractor`` (default: the kit's) and every set is resampled
    with the same seed, so the intervals of two generators compare like with like.
    """
    real_features = features_of(real, extractor=extractor)
    return {name: frechet_interval(real_features, images, extractor, n_boot=n_boot, seed=seed, level=level)
            for name, images in sets.items()}


def frechet_se(real_features: torch.Tensor, images: torch.Tensor, n_boot: int = 50, seed: int = 0,
               extractor: nn.Module | None = None) -> float:
    """Return the bootstrap standard deviation of the Fréchet distance of ``images`` to real images given by their
    features: the standard error a two-standard-error verdict needs (resamples of both sets, ``n_boot`` of them)."""
    import warnings

    with warnings.catch_warnings():  # resamples repeat images: rank-deficient covariances are expected here
        warnings.simplefilter("ignore")
        interval = frechet_interval(real_features, images, extractor, n_boot=n_boot, seed=seed)
    return float(np.std(interval.bootstrap))


def frechet_errors(real: torch.Tensor, sets: dict[str, torch.Tensor], n_boot: int = 50, seed: int = 0,
                   extractor: nn.Module | None = None) -> dict[str, float]:
    """Return, per named set of images, :func:`frechet_se` of its distance to ``real`` (real features extracted once,
    every set resampled with the same seed)."""
    real_features = features_of(real, extractor=extractor)
    return {name: frechet_se(real_features, images, n_boot, seed, extractor) for name, images in sets.items()}


def interval_comparison(intervals: dict[str, Interval], first: str, second: str, what: str = "Fréchet distance") -> str:
    """Return the verdict on two named intervals (lower is better): a winner only beyond two standard errors."""
    from .uncertainty import comparison_sentence, interval_se

    a, b = intervals[first], intervals[second]
    return comparison_sentence(first, a.estimate, interval_se(a.low, a.high, a.level), second, b.estimate,
                               interval_se(b.low, b.high, b.level), what)
