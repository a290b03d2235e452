r"""Precision, recall, density and coverage: fidelity and diversity as separate numbers.

A single distance mixes two failures: generated images that look wrong (low *fidelity*) and a
generator that covers only part of the real variety (low *diversity*, e.g. mode collapse).
Manifold-based metrics separate them. Around each real feature vector :math:`r_i` put a ball
whose radius is the distance to its :math:`k`-th nearest real neighbour,
:math:`B(r_i, \mathrm{NND}_k(r_i))`; likewise around each generated :math:`g_j`.
With :math:`n` real and :math:`m` generated vectors and :math:`\mathbb{1}[\cdot]` the indicator:

* **precision** (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
  Generative Models"): the share of generated samples inside the real manifold,
  :math:`\frac{1}{m}\sum_j \mathbb{1}\big[g_j \in \bigcup_i B(r_i, \mathrm{NND}_k(r_i))\big]`;
* **recall** (same paper): the share of real samples inside the generated manifold,
  :math:`\frac{1}{n}\sum_i \mathbb{1}\big[r_i \in \bigcup_j B(g_j, \mathrm{NND}_k(g_j))\big]`;
* **density** (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models"): how many real balls hold each generated sample, on average, over :math:`k`,
  :math:`\frac{1}{km}\sum_j \sum_i \mathbb{1}\big[g_j \in B(r_i, \mathrm{NND}_k(r_i))\big]`
  (about 1 for matching distributions, robust to real outliers; can exceed 1);
* **coverage** (same paper): the share of real balls that hold at least one generated sample,
  :math:`\frac{1}{n}\sum_i \mathbb{1}\big[\exists j: g_j \in B(r_i, \mathrm{NND}_k(r_i))\big]`.

"Inside" means a distance strictly below the radius, as in the authors' reference code (the
``prdc`` package). Distances are Euclidean, computed with ``torch.cdist`` in float64 and in
chunks of generated rows so that 10,000 x 10,000 sets never hold a full distance matrix.
"""
from __future__ import annotations

import torch

from .checks import check_feature_pair


def kth_neighbour_radii(features: torch.Tensor, k: int, chunk_size: int = 1024) -> torch.Tensor:
    """Return (N,) the distance of each row to its k-th nearest other row (the row itself excluded)."""
    radii = []
    for start in range(0, len(features), chunk_size):
        distances = torch.cdist(features[start : start + chunk_size], features)
        # The k+1-th smallest: the smallest is the row's zero distance to itself.
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def prdc(real_feats, fake_feats, k: int = 5, chunk_size: int = 1024) -> dict[str, float]:
    """Return precision, recall, density and coverage of fake_feats against real_feats (both (N, D)) with k neighbours."""
    real, fake = check_feature_pair(real_feats, fake_feats)
    smallest = min(len(real), len(fake))
    if not (isinstance(k, int) and 1 <= k < smallest):
        raise ValueError(f"k = {k!r} nearest neighbours needs an integer from 1 to {smallest - 1} "
                         f"(fewer than the smaller set's {smallest} vectors); the papers use k = 5")
    real_radii = kth_neighbour_radii(real, k, chunk_size)  # NND_k(r_i)
    fake_radii = kth_neighbour_radii(fake, k, chunk_size)  # NND_k(g_j)
    in_real_balls = torch.zeros(len(fake), dtype=torch.float64)  # per g_j: how many B(r_i) hold it
    real_in_fake_manifold = torch.zeros(len(real), dtype=torch.bool)  # per r_i: inside some B(g_j)?
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)  # per r_i: min_j ||r_i - g_j||
    for start in range(0, len(fake), chunk_size):
        stop = start + chunk_size
        distances = torch.cdist(real, fake[start:stop])  # (n, chunk): ||r_i - g_j||
        in_real_balls[start:stop] = (distances < real_radii[:, None]).sum(dim=0).double()
        real_in_fake_manifold |= (distances < fake_radii[None, start:stop]).any(dim=1)
        nearest_fake = torch.minimum(nearest_fake, distances.min(dim=1).values)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(real_in_fake_manifold.double().mean()),
        "density": float(in_real_balls.mean() / k),
        "coverage": float((nearest_fake < real_radii).double().mean()),
    }
