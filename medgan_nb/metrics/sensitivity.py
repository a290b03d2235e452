r"""Sensitivity checks: does each metric move the expected way when real images are spoilt on purpose?

A metric earns trust by reacting to known flaws. Take held-out real images and split them at random
into a reference set :math:`R` and a comparison set :math:`B` (the real-vs-real floor,
:math:`d(R, B)`), then replace :math:`B` by a corrupted version :math:`c(B)` and measure
:math:`d(R, c(B))`. The corruptions, each a flaw generators really show:

=============  ====================================================  =============================
corruption     what is done                                          a distance should
=============  ====================================================  =============================
blur           Gaussian blur, :math:`\sigma` = 2 px                  rise above the floor
noise          :math:`+\,\mathcal{N}(0, 0.1^2)` per pixel              rise
colour shift   a fixed offset per channel (a colour cast)            rise
checkerboard   :math:`+\,a\,(-1)^{i+j}`, the transposed-conv artefact    rise
mode drop      only the 2 most common classes (from the training     rise; recall and coverage fall
               split)
copies         training images instead of new ones                  stay near the floor (copying
                                                                     is the memorisation check's
                                                                     job, not a distance's)
=============  ====================================================  =============================

The table (metric × corruption) holds the raw values; :attr:`SensitivityTable.effect` gives each
distance as a multiple of its real-vs-real floor, :math:`d(R, c(B)) / d(R, B)` (KID as a z-score,
:math:`(k_{c} - k_{\text{floor}}) / s_{\text{floor}}`, since it is about 0 at the floor), and
:attr:`SensitivityTable.passed` says whether each expectation held (a Fréchet distance "rises" above
1.5 times its floor). The space whose Fréchet distance passes the most checks, ties broken by the
largest *weakest* effect :math:`\min_{c} d(R, c(B)) / d(R, B)`, is the one the kit recommends.

Measured on the phantom (64 px, ``n=4000`` rendered, 300 held-out images per set, median of 3 random
splits; ``tests/test_sensitivity.py`` checks the directions), each Fréchet distance as a multiple of its floor:

==========  =====  =====  ============  ============  =========  ======
space       blur   noise  colour shift  checkerboard  mode drop  copies
==========  =====  =====  ============  ============  =========  ======
random      4.8    16.9   62            12.1          3.4        0.96
domain      2.3    9.3    218           22.5          40         2.2
multilayer  1.9    6.1    74            13.2          17         1.3
==========  =====  =====  ============  ============  =========  ======

Every space sees every image flaw. The pooled domain space sees a dropped mode best (40x) but also
moves for copies of training images (2.2x): its encoder has seen those images and places them apart
from new ones, so it would score a generator by how much it resembles the training split. The
multi-layer statistics pass every check; the random stand-in passes every check with the largest
weakest effect (mode drop, 3.4x), so on the phantom it stays the kit's default
(``RECOMMENDED_SPACE``). The verdict depends on the data: :meth:`SensitivityTable.recommended_space`
recomputes it for any dataset, and notebook 07 draws the table as a heat map.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd
import torch
import torchvision.transforms.functional as TF
from torch import nn

from ..data.sources import LesionDataset
from .distances import frechet_distance_from_features, kid_from_features
from .fid import features_of
from .prdc import prdc

CORRUPTIONS = ("blur", "noise", "colour shift", "checkerboard", "mode drop", "copies")
#: Expected direction per (metric, corruption): "+" rises, "-" falls, "0" stays near the floor; absent = no claim.
EXPECTED = {
    "FD": {"blur": "+", "noise": "+", "colour shift": "+", "checkerboard": "+", "mode drop": "+", "copies": "0"},
    "KID": {"blur": "+", "noise": "+", "colour shift": "+", "checkerboard": "+", "mode drop": "+", "copies": "0"},
    "precision": {"copies": "0"},
    "recall": {"mode drop": "-", "copies": "0"},
    "density": {"copies": "0"},
    "coverage": {"mode drop": "-", "copies": "0"},
}
RISE_FACTOR = 1.5  # a Fréchet distance "rises" above 1.5x its floor and "stays" below it
KID_Z = 3.0  # KID rises when it exceeds the floor by 3 floor standard deviations
PRDC_STEP = 0.05  # precision/recall/density/coverage move when they change by more than 0.05


def checkerboard(images: torch.Tensor, amplitude: float = 0.06) -> torch.Tensor:
    """Return images + amplitude * (-1)^(i+j), the period-2 pattern of transposed convolutions, clamped to [-1, 1]."""
    rows = torch.arange(images.shape[-2])[:, None]
    cols = torch.arange(images.shape[-1])[None, :]
    pattern = 1.0 - 2.0 * ((rows + cols) % 2).float()  # +1, -1, +1, ... in both directions
    return (images + amplitude * pattern).clamp(-1, 1)


def corrupt(images: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """Return a corrupted copy of images (N, 3, H, W) in [-1, 1]: 'blur', 'noise', 'colour shift' or 'checkerboard'."""
    if kind == "blur":
        return TF.gaussian_blur(images, kernel_size=9, sigma=2.0)
    if kind == "noise":
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
        return (images + 0.1 * noise).clamp(-1, 1)
    if kind == "colour shift":
        return (images + torch.tensor([0.08, -0.04, -0.08])[:, None, None]).clamp(-1, 1)  # a warm cast
    if kind == "checkerboard":
        return checkerboard(images)
    raise ValueError(f"unknown image corruption {kind!r}; choose one of blur, noise, colour shift, checkerboard "
                     "(mode drop and copies need the training split: see corrupted_sets)")


def corrupted_sets(heldout: LesionDataset, train_set: LesionDataset, n: int | None = None, keep_classes: int = 2,
                   seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the reference images R and {'clean': B, corruption: c(B), ...}, every set of the same size n."""
    n_max = len(heldout) // 2
    n = n_max if n is None else n
    if not 2 <= n <= n_max:
        raise ValueError(f"n = {n} images per set must be from 2 to half the held-out set ({n_max}); "
                         "pass a smaller n or a larger held-out split")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(heldout), generator=generator)  # random halves, never the first n of a sorted split
    reference, clean = heldout.images[order[:n]], heldout.images[order[n : 2 * n]]
    sets = {"clean": clean}
    for kind in ("blur", "noise", "colour shift", "checkerboard"):
        sets[kind] = corrupt(clean, kind, seed)
    # Mode drop: real images of only the most common classes, as a collapsed generator would make.
    common = torch.bincount(train_set.labels).argsort(descending=True)[:keep_classes]
    kept = torch.isin(train_set.labels, common).nonzero().flatten()
    if len(kept) < n:
        raise ValueError(f"the {keep_classes} most common classes have {len(kept)} training images, fewer than "
                         f"n = {n}; pass a smaller n or keep_classes > {keep_classes}")
    sets["mode drop"] = train_set.images[kept[torch.randperm(len(kept), generator=generator)[:n]]]
    sets["copies"] = train_set.images[torch.randperm(len(train_set), generator=generator)[:n]]
    return reference, sets


@dataclass
class SensitivityTable:
    """Raw values (metric × condition, 'clean' = the real-vs-real floor) of a sensitivity check."""

    values: pd.DataFrame
    kid_std: pd.Series  # the KID's std over subsets at the floor, per space

    @property
    def effect(self) -> pd.DataFrame:
        """Return metric × corruption: distances as multiples of the floor (KID as a z-score), PRDC as differences."""
        rows = {}
        for metric, row in self.values.iterrows():
            family, space = _split(metric)
            clean = row["clean"]
            corrupted = row[list(CORRUPTIONS)]
            if family == "FD":
                rows[metric] = corrupted / max(clean, 1e-12)  # d(R, c(B)) / d(R, B)
            elif family == "KID":
                rows[metric] = (corrupted - clean) / max(self.kid_std[space], 1e-12)
            else:
                rows[metric] = corrupted - clean
        return pd.DataFrame(rows).T

    @property
    def passed(self) -> pd.DataFrame:
        """Return metric × corruption: True/False where a direction is expected (see EXPECTED), else None."""
        effect = self.effect
        table = pd.DataFrame(None, index=effect.index, columns=list(CORRUPTIONS), dtype=object)
        for metric in effect.index:
            family, _ = _split(metric)
            for corruption, direction in EXPECTED[family].items():
                value = effect.loc[metric, corruption]
                if family == "FD":
                    ok = value > RISE_FACTOR if direction == "+" else value < RISE_FACTOR
                elif family == "KID":
                    ok = value > KID_Z if direction == "+" else value < KID_Z
                else:
                    ok = {"+": value > PRDC_STEP, "-": value < -PRDC_STEP, "0": abs(value) <= PRDC_STEP}[direction]
                table.loc[metric, corruption] = bool(ok)
        return table

    def recommended_space(self) -> str:
        """Return the space whose FD passes the most checks, ties broken by the largest weakest effect."""
        effect, passed = self.effect, self.passed
        rising = [c for c, direction in EXPECTED["FD"].items() if direction == "+"]
        scores = {}
        for metric in effect.index:
            family, space = _split(metric)
            if family == "FD":
                n_passed = sum(bool(passed.loc[metric, c]) for c in EXPECTED["FD"])
                scores[space] = (n_passed, float(effect.loc[metric, rising].min()))  # weakest link
        return max(scores, key=scores.get)


def _split(metric: str) -> tuple[str, str]:
    """Return ('FD', 'multilayer') from 'FD (multilayer)'."""
    family, _, space = metric.partition(" (")
    return family, space.rstrip(")")


def sensitivity_table(heldout: LesionDataset, train_set: LesionDataset, spaces: dict[str, nn.Module],
                      n: int | None = None, seed: int = 0, repeats: int = 3, kid_subsets: int = 50) -> SensitivityTable:
    """Return the SensitivityTable of FD, KID and PRDC in each of ``spaces`` ({name: extractor}), median over repeats."""
    if not spaces:
        raise ValueError("spaces is empty; pass e.g. {'multilayer': feature_space('multilayer', train_set)}")
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}; e.g. 3")
    tables, kid_stds = [], []
    # The floor of a finite sample is noisy (one random split can sit low or high), so every value is
    # the median over ``repeats`` random splits of the held-out images.
    for repeat in range(repeats):
        reference, sets = corrupted_sets(heldout, train_set, n=n, seed=seed + repeat)
        rows, kid_std = {}, {}
        for space, extractor in spaces.items():
            rows.update(_rows_for_space(space, extractor, reference, sets, seed + repeat, kid_subsets, kid_std))
        tables.append(pd.DataFrame(rows).T[["clean", *CORRUPTIONS]])
        kid_stds.append(pd.Series(kid_std))
    values = pd.concat(tables).groupby(level=0, sort=False).median()
    return SensitivityTable(values, pd.concat(kid_stds, axis=1).median(axis=1))


def _rows_for_space(space: str, extractor: nn.Module, reference: torch.Tensor, sets: dict[str, torch.Tensor],
                    seed: int, kid_subsets: int, kid_std: dict) -> dict[str, dict[str, float]]:
    """Return {'FD (space)': {condition: value}, 'KID (space)': ..., 'precision (space)': ...} for one split."""
    phi_reference = features_of(reference, extractor)
    rows = {f"{family} ({space})": {} for family in EXPECTED}
    for condition, images in sets.items():
        phi = features_of(images, extractor)
        with warnings.catch_warnings():  # N <= D biases every condition alike; the ratios stay comparable
            warnings.filterwarnings("ignore", message="Fréchet distance from")
            rows[f"FD ({space})"][condition] = frechet_distance_from_features(phi_reference, phi)
        # Subsets of half the set, so that the spread over subsets (the z-score's scale) is not zero.
        kid = kid_from_features(phi_reference, phi, subsets=kid_subsets, subset_size=len(phi) // 2, seed=seed)
        rows[f"KID ({space})"][condition] = kid.mean
        if condition == "clean":
            kid_std[space] = kid.std
        for key, value in prdc(phi_reference, phi).items():
            rows[f"{key} ({space})"][condition] = value
    return rows
