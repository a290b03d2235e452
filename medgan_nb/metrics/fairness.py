r"""Does a generator serve every skin tone? Per-group audits of generated images.

Dermatology datasets are dominated by light skin, and a generator learns the
proportions it is shown. An audit therefore splits the images into skin-tone
groups :math:`g` and asks three questions per group.

**Which group is an image in?** The phantom knows each image's Fitzpatrick-like
type; real datasets and generated images do not, so the kit estimates the tone
from the colour of the skin around the lesion with the *individual typology
angle* (Chardon, Cretois & Hourseau, 1991), the colorimetric measure used to
audit skin tone in ISIC/HAM10000 (Kinyanjui et al., 2020):

.. math:: \mathrm{ITA} = \arctan\!\Big(\frac{L^* - 50}{b^*}\Big) \cdot \frac{180^\circ}{\pi},

with :math:`L^*` (lightness) and :math:`b^*` (yellow-blue) the CIELAB medians of
a ring of skin pixels near the image border (the lesion sits in the middle).
High ITA is light skin; ``ITA_THRESHOLD`` (25 degrees) separates the phantom's
types I-III ("light") from IV-VI ("dark").

**Share.** :math:`s_g = |\{x \in \mathcal{S}: \mathrm{group}(x) = g\}| / |\mathcal{S}|`
for the generated set and for the training set: a generator that under-serves a
group draws it less often than the data it learnt from.

**Coverage distance.** For each real held-out image :math:`h` of group :math:`g`,
the distance to its nearest generated image in the kit's feature space
:math:`\phi` (:mod:`medgan_nb.metrics.memorization`),

.. math:: c_g = \operatorname{median}_{h \in g} \min_{x \in \mathcal{S}} \lVert \phi(h) - \phi(x) \rVert / \sqrt{D},

is small when the generator makes images like the real ones of that group, and
large for a group it rarely or never makes (it needs no generated image *of*
that group, so it works even when the share is zero).

**Utility.** A classifier trained on synthetic images (here a logistic
regression on the kit's fixed features; scikit-learn, so the only thing learnt
is the last layer) and tested on real images of each group: its per-group
accuracy says for whom synthetic training data is good enough.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from .features import check_images
from .fid import features_of
from .memorization import nearest_neighbours, nearest_vectors

#: ITA (degrees) between the phantom's Fitzpatrick-like types III and IV.
ITA_THRESHOLD = 25.0
#: The two skin-tone groups the audits use, and the Fitzpatrick-like types in each.
GROUPS: tuple[str, ...] = ("light", "dark")
GROUP_TYPES = {"light": (1, 2, 3), "dark": (4, 5, 6)}


def group_of_type(skin_types: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
    """Return the group name ("light" or "dark") of each Fitzpatrick-like type 1-6."""
    types = np.asarray(skin_types).astype(int)
    bad = sorted(set(types[(types < 1) | (types > 6)].tolist()))
    if bad:
        raise ValueError(f"skin types must be Fitzpatrick-like types 1-6, got {bad}; light = 1-3, dark = 4-6")
    return np.where(types <= 3, "light", "dark")


def _skin_ring(size: int) -> np.ndarray:
    """Return a boolean (size, size) mask of the ring of pixels near the border (the skin around the lesion)."""
    centre = (np.arange(size) + 0.5) / size - 0.5
    radius = np.hypot(centre[:, None], centre[None, :])
    return (radius > 0.36) & (radius < 0.5)  # inside the dermoscope's circle, outside most lesions


def individual_typology_angle(images: torch.Tensor) -> np.ndarray:
    """Return the ITA in degrees (N,) of images (N, 3, H, W) in [-1, 1], from the skin ring's CIELAB medians."""
    from skimage.color import rgb2lab  # scikit-image's sRGB -> CIELAB (D65)

    check_images(images)
    ring = _skin_ring(images.shape[-1])
    rgb = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    lab = rgb2lab(rgb[:, ring])  # (N, ring pixels, 3): only the ring is converted, a third of the image
    lightness = np.median(lab[..., 0], axis=1)  # L*
    yellow_blue = np.median(lab[..., 2], axis=1)  # b*
    # ITA = arctan((L* - 50) / b*); arctan2 keeps the sign right when b* <= 0
    return np.degrees(np.arctan2(lightness - 50.0, yellow_blue))


def estimate_groups(images: torch.Tensor, threshold: float = ITA_THRESHOLD) -> np.ndarray:
    """Return the estimated skin-tone group ("light"/"dark") of each image, from its ITA."""
    return np.where(individual_typology_angle(images) > threshold, "light", "dark")


def estimate_agreement_on_phantom(size: int, n: int = 200, seed: int = 0) -> float:
    """Return the share of ``n`` rendered phantom images (all six skin types) whose estimated group is their true one.

    A real dataset records no skin type, so the ITA estimate cannot be checked on it; this is the check
    that can be made: the same estimate on images whose type is known, at the same image size.
    """
    from ..data.phantom import render_phantoms

    phantoms = render_phantoms(n, size=size, seed=seed)
    images = phantoms.to_tensor()
    return float((estimate_groups(images) == group_of_type(phantoms.attributes["skin_tone"])).mean())


def check_groups_present(groups: Sequence[str] | np.ndarray, where: str, needed: Sequence[str] = GROUPS) -> None:
    """Return None when every group in ``needed`` has at least one image in ``groups``, else raise ValueError."""
    groups = np.asarray(groups)
    unknown = sorted(set(groups.tolist()) - set(GROUPS))
    if unknown:
        raise ValueError(f"{where}: unknown skin-tone group(s) {unknown}; the groups are {list(GROUPS)}")
    absent = [name for name in needed if not (groups == name).any()]
    if absent:
        raise ValueError(
            f"{where} has no image of the skin-tone group(s) {absent} (counts: "
            f"{ {name: int((groups == name).sum()) for name in GROUPS} }); a per-group audit needs every group. "
            "Use more images (n_images), a dataset that includes that group, or a phantom config whose "
            "skin_tones range covers it"
        )


def group_shares(groups: Sequence[str] | np.ndarray) -> dict[str, float]:
    """Return the share of images in each skin-tone group (a dict that sums to 1)."""
    groups = np.asarray(groups)
    if len(groups) == 0:
        raise ValueError("no images to count; pass at least one group label")
    return {name: float((groups == name).mean()) for name in GROUPS}


def coverage_distance(
    generated: torch.Tensor,
    real: torch.Tensor,
    real_groups: Sequence[str] | np.ndarray,
    extractor: nn.Module | None = None,
    real_features: torch.Tensor | None = None,
) -> dict[str, float]:
    r"""Return :math:`c_g` per group: the median feature distance from real images of g to their nearest generated image.

    ``real_features`` (``features_of(real, extractor)``) spares recomputing them when one real set is compared with
    several generated ones."""
    real_groups = np.asarray(real_groups)
    check_groups_present(real_groups, "the real images")
    if real_features is None:
        _, distances = nearest_neighbours(real, generated, space="features", k=1, extractor=extractor)
    else:
        _, distances = nearest_vectors(real_features, features_of(generated, extractor))
    distances = distances.flatten().numpy()
    return {name: float(np.median(distances[real_groups == name])) for name in GROUPS}


def per_group_accuracy(
    train_images: torch.Tensor,
    train_labels: torch.Tensor | np.ndarray,
    test_images: torch.Tensor,
    test_labels: torch.Tensor | np.ndarray,
    test_groups: Sequence[str] | np.ndarray,
    extractor: nn.Module | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Return the accuracy per skin-tone group (and "all") of a classifier trained on one set, tested on another."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    test_groups = np.asarray(test_groups)
    check_groups_present(test_groups, "the test images")
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if len(np.unique(train_labels)) < 2:
        raise ValueError(f"the training images hold one class only ({np.unique(train_labels).tolist()}); "
                         "a classifier needs at least two")
    # a linear read-out of fixed features: the same classifier for every training set, cheap and deterministic
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.5, random_state=seed))
    classifier.fit(features_of(train_images, extractor).numpy(), train_labels)
    correct = classifier.predict(features_of(test_images, extractor).numpy()) == test_labels
    scores = {name: float(correct[test_groups == name].mean()) for name in GROUPS}
    scores["all"] = float(correct.mean())
    return scores


def fairness_gap(per_group: dict[str, float]) -> float:
    """Return the largest minus the smallest value over the skin-tone groups (0 = every group served alike)."""
    values = [per_group[name] for name in GROUPS]
    return float(max(values) - min(values))
