r"""Is the generator copying its training images? Nearest-neighbour checks.

A generator that reproduces training images scores well on a Fréchet
distance yet is useless (and, with patient data, a privacy leak). The simple
test: for each generated image :math:`g`, find its nearest training image,

.. math::

    d_{\text{train}}(g) = \min_{x \in \mathcal{X}_{\text{train}}} \lVert \psi(g) - \psi(x) \rVert_2 / \sqrt{D},

where :math:`\psi` is either the raw pixels (``space="pixel"``) or the kit's
features (``space="features"``) and dividing by :math:`\sqrt{D}` turns the
Euclidean distance into a root-mean-square difference per dimension (in
pixel space: per pixel value, on the [-1, 1] scale).

A distance alone means little, so compare it with real images the generator
never saw: held-out images :math:`h` give the *baseline* :math:`d_{\text{train}}(h)`,
how close a genuinely new lesion image falls to the training set. The
memorisation ratio

.. math::

    \rho = \frac{\operatorname{median}_g\, d_{\text{train}}(g)}{\operatorname{median}_h\, d_{\text{train}}(h)}

is about 1 (or above) for a generator that makes new images, and well below 1
when it copies (a ratio near 0 means near-exact copies). Look at the pairs as
well: a number never replaces the picture.

**Near-copies, one by one.** A ratio is a median: a generator that copies 2% of the
time still scores :math:`\rho \approx 1`. :func:`memorization_audit` therefore flags
every generated image closer to a training image than

.. math::

    \tau = f \cdot q_{0.05}\big(\{d_{\text{train}}(h)\}_h\big), \qquad f = \tfrac12 ,

half the distance that only the closest 5% of genuinely new real images reach, in pixel
space *and* in feature space, and reports the fraction of such near-copies (about 0 for a
generator that makes new images; a planted training image is always flagged). When
held-out images themselves sit on top of training images, the data leaks into itself:
check the splits with :mod:`medgan_nb.metrics.duplicates` before blaming the generator.

Distances are computed with ``torch.cdist`` in chunks of queries, so a few
thousand training images need no more than a few hundred MB.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .features import check_images
from .fid import features_of

Space = Literal["pixel", "features"]


def _embed(images: torch.Tensor, space: Space, extractor: nn.Module | None) -> torch.Tensor:
    """Return images as flat float vectors (N, D) in the chosen space."""
    if space == "pixel":
        return images.detach().float().cpu().flatten(1)
    if space == "features":
        return features_of(images, extractor)
    raise ValueError(f"space must be 'pixel' or 'features', got {space!r}")


def nearest_neighbours(
    queries: torch.Tensor,
    references: torch.Tensor,
    space: Space = "pixel",
    k: int = 1,
    extractor: nn.Module | None = None,
    chunk_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (indices, distances), each (N_queries, k): the k nearest references of each query, closest first."""
    check_images(queries, "queries")
    check_images(references, "references")
    if space == "pixel" and queries.shape[1:] != references.shape[1:]:
        raise ValueError(
            f"pixel-space neighbours need images of one size, got queries {tuple(queries.shape[1:])} and "
            f"references {tuple(references.shape[1:])}; resize them (F.interpolate) or use space='features'"
        )
    if not 1 <= k <= len(references):
        raise ValueError(f"k must be between 1 and the number of references ({len(references)}), got {k}")
    return nearest_vectors(_embed(queries, space, extractor), _embed(references, space, extractor), k, chunk_size)


def nearest_vectors(query_vectors: torch.Tensor, reference_vectors: torch.Tensor, k: int = 1,
                    chunk_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (indices, RMS distances), each (N_queries, k), of the k nearest reference vectors of each query vector
    (N, D): :func:`nearest_neighbours` on vectors already embedded, so that one set can be embedded once."""
    scale = query_vectors.shape[1] ** 0.5  # ||a - b|| / sqrt(D) = root-mean-square difference
    all_indices, all_distances = [], []
    for start in range(0, len(query_vectors), chunk_size):
        distances = torch.cdist(query_vectors[start : start + chunk_size], reference_vectors)
        nearest = distances.topk(k, dim=1, largest=False)  # sorted: closest first
        all_indices.append(nearest.indices)
        all_distances.append(nearest.values / scale)
    return torch.cat(all_indices), torch.cat(all_distances)


def memorization_summary(
    generated: torch.Tensor,
    train: torch.Tensor,
    heldout: torch.Tensor,
    space: Space = "pixel",
    extractor: nn.Module | None = None,
) -> dict[str, float]:
    r"""Return median nearest-train distances of generated and held-out images, their ratio :math:`\rho`, and the copy fraction.

    ``copy_fraction`` is the audit's near-copy fraction: the share of generated images at or below
    :math:`\tau` (:func:`near_copy_threshold`), the one definition of a copy in the kit.
    """
    audit = memorization_audit(generated, train, heldout, space, extractor)
    return {
        "generated_median_distance": float(audit.generated_distances.median()),
        "heldout_median_distance": float(audit.heldout_distances.median()),
        "memorization_ratio": audit.memorization_ratio,
        "copy_fraction": audit.near_copy_fraction,
    }


def memorization_verdict(summary: dict[str, float], nearest_train: torch.Tensor | None = None,
                         near: float = 0.9, far: float = 1.1) -> str:
    r"""Return what the numbers allow one to say: copies, samples closer to the training set, off the data, or new.

    A ratio :math:`\rho` near 1 says the samples are as far from the training set as new real images
    are; well above 1 (``far``) they are *off* the data (noise is far from every training image, so a
    high ratio is no proof of new realistic images); below ``near`` they sit closer to the training
    images than new real images do. When ``nearest_train`` (the nearest training index of each sample
    shown) repeats one image for half of the samples or more, the line says so: the samples look alike.
    """
    ratio, copies = summary["memorization_ratio"], summary["copy_fraction"]
    if copies > 0:
        verdict = f"{copies:.0%} of the samples are near-copies of a training image (at or below the threshold)"
    elif ratio < near:
        verdict = (f"the samples sit closer to the training images than held-out real images do (ratio {ratio:.2f}): "
                   "check for copying")
    elif ratio > far:
        verdict = (f"no near-copies, and the samples are farther from the training images than new real images are "
                   f"(ratio {ratio:.2f}): they are still off the data, not yet realistic new images")
    else:
        verdict = f"no near-copies: the samples are about as far from the training set as new real images (ratio {ratio:.2f})"
    if nearest_train is not None and len(nearest_train):
        values, counts = torch.unique(nearest_train.flatten(), return_counts=True)
        top = int(counts.max())
        if top >= max(2, (len(nearest_train) + 1) // 2):
            verdict += (f"; {top} of the {len(nearest_train)} samples shown have the same nearest training image "
                        f"(#{int(values[counts.argmax()])}): they look alike, a sign of mode collapse rather than copying")
    return verdict


COPY_FACTOR = 0.5  # f: near-copy = closer than half the 5%-quantile of held-out nearest-train distances


@dataclass
class MemorizationAudit:
    """Per-sample nearest-train distances in one space, the near-copy threshold and the flagged samples."""

    space: str
    generated_distances: torch.Tensor  # (N_gen,) d_train(g)
    nearest_train: torch.Tensor  # (N_gen,) index of the nearest training image
    heldout_distances: torch.Tensor  # (N_held,) d_train(h), the baseline
    threshold: float  # tau
    flagged: torch.Tensor  # indices of generated images below tau, closest first

    @property
    def near_copy_fraction(self) -> float:
        """Return the share of generated images flagged as near-copies."""
        return len(self.flagged) / max(len(self.generated_distances), 1)

    @property
    def memorization_ratio(self) -> float:
        """Return rho = median d_train(generated) / median d_train(held-out)."""
        return float(self.generated_distances.median()) / max(float(self.heldout_distances.median()), 1e-12)

    def summary(self) -> dict[str, float]:
        """Return the audit's numbers as a flat dict (for tables and metrics.json)."""
        return {"space": self.space, "memorization_ratio": self.memorization_ratio,
                "near_copy_fraction": self.near_copy_fraction, "n_flagged": len(self.flagged),
                "threshold": self.threshold, "generated_median_distance": float(self.generated_distances.median()),
                "heldout_median_distance": float(self.heldout_distances.median())}


def memorization_audit(
    generated: torch.Tensor,
    train: torch.Tensor,
    heldout: torch.Tensor,
    space: Space = "pixel",
    extractor: nn.Module | None = None,
    copy_factor: float = COPY_FACTOR,
) -> MemorizationAudit:
    r"""Return a :class:`MemorizationAudit`: which generated images sit closer to a training image than :math:`\tau`."""
    if len(heldout) < 2:
        raise ValueError(f"heldout has {len(heldout)} image(s); the baseline needs at least 2 real images the "
                         "generator never saw (e.g. 100 from the test split)")
    nearest, generated_distances = nearest_neighbours(generated, train, space, 1, extractor)
    _, heldout_distances = nearest_neighbours(heldout, train, space, 1, extractor)
    return audit_from_distances(generated_distances[:, 0], nearest[:, 0], heldout_distances[:, 0], space, copy_factor)


def near_copy_threshold(heldout_distances: torch.Tensor, copy_factor: float = COPY_FACTOR) -> float:
    r"""Return :math:`\tau = f\,q_{0.05}` of the held-out nearest-train distances: a sample at or below it is a near-copy."""
    return copy_factor * float(torch.quantile(heldout_distances.flatten().float(), 0.05))


def audit_from_distances(generated_distances: torch.Tensor, nearest_train: torch.Tensor,
                         heldout_distances: torch.Tensor, space: str = "pixel",
                         copy_factor: float = COPY_FACTOR) -> MemorizationAudit:
    r"""Return a :class:`MemorizationAudit` from nearest-train distances already computed (e.g. on cached features)."""
    if not 0 < copy_factor <= 1:
        raise ValueError(f"copy_factor must be in (0, 1] (the share of the held-out 5% quantile), got {copy_factor!r}; "
                         "0.5 is the default")
    threshold = near_copy_threshold(heldout_distances, copy_factor)
    if threshold == 0:
        warnings.warn("the closest 5% of held-out images are exact copies of training images, so the near-copy "
                      "threshold is 0: the data leaks into itself; check the splits with "
                      "medgan_nb.metrics.duplicates.split_leaks and hold out images without twins", UserWarning, stacklevel=3)
    below = torch.nonzero(generated_distances <= threshold).flatten()
    flagged = below[generated_distances[below].argsort()]
    return MemorizationAudit(space, generated_distances, nearest_train, heldout_distances, threshold, flagged)
