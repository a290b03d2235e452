r"""Notebook 07's experiment: every family of the registry, one budget, one evaluation table.

Each family of :data:`medgan_nb.models.FAMILIES` is built at the profile's width, trained by the
one engine for the same number of generator steps on the same images, and asked for as many
images as the held-out reference set holds. What a family is conditioned on decides what it is
given: nothing (unconditional), the class labels of the real training split (class-conditional;
labels drawn in the real proportions), real lesion masks (SPADE, pix2pix) or, for CycleGAN, an
*unpaired* translation from mask pictures to lesion photographs (its A domain is the mask drawn
as a black-and-white image, its B domain the real images), so that it too turns masks into lesions.

:func:`evaluate_images` then measures one set of generated images against the held-out real set
with every metric of :mod:`medgan_nb.metrics` and returns one row of the comparison table.
All feature-space metrics (Fréchet distance, KID, precision/recall/density/coverage, the
feature-space memorisation audit) use the :class:`Reference`'s ``extractor``, the one place
that holds the feature space (``make_reference(..., extractor=...)``), so switching the
space changes every column at once.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..metrics.bootstrap import bootstrap_interval, random_halves
from ..metrics.distances import frechet_distance_from_features, kid_from_features
from ..metrics.diversity import mean_pairwise_ms_ssim
from ..metrics.fid import features_of
from ..metrics.memorization import audit_from_distances, memorization_audit
from ..metrics.morphology import lesion_attributes, morphology_distance, segment_lesions
from ..metrics.prdc import prdc
from ..metrics.features import default_extractor
from ..metrics.spaces import inception_status
from ..metrics.two_sample import classifier_two_sample_test
from ..metrics.uncertainty import (NO_CLEAR_DIFFERENCE, above_chance, differs, interval_se, pick_winner, proportion_se,
                                   share_se)
from ..metrics.utility import classifier_accuracy, segmentation_dice
from ..models import FAMILIES, get_family
from ..models.sampling import sample_images
from ..models.translation import translate_a_to_b, unpaired_pairs
from .families import FamilyRun


def space_name(extractor: nn.Module) -> str:
    """Return a short name of a feature space (an extractor), for tables and prose."""
    name = getattr(extractor, "space_name", None) or type(extractor).__name__
    return f"{name} (D = {extractor.num_features})"


def inception_fid_status() -> str:
    """Return 'available' when Inception-v3 FID weights are on this machine, else why not ('unavailable offline: ...')."""
    available, reason = inception_status()
    return "available" if available else "unavailable offline"


def inception_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Return the Inception FID of two image sets in [-1, 1] through torchmetrics (its weights must be on disk)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, normalize=True)
    metric.update(((real + 1) / 2).clamp(0, 1), real=True)  # normalize=True: floats in [0, 1]
    metric.update(((fake + 1) / 2).clamp(0, 1), real=False)
    return float(metric.compute())


# ----------------------------------------------------------------------------
# Training every family with one budget
# ----------------------------------------------------------------------------

def mask_pictures(masks: torch.Tensor) -> torch.Tensor:
    """Return boolean masks (N, H, W) drawn as images (N, 3, H, W): lesion black (-1), skin white (+1)."""
    return (1 - 2 * masks.float())[:, None].repeat(1, 3, 1, 1)


def dataset_masks(dataset) -> tuple[torch.Tensor, str]:
    """Return the dataset's lesion masks (N, H, W) bool and where they come from (its own, or Otsu's threshold)."""
    if dataset.masks is not None:
        return dataset.masks.bool(), "ground-truth masks"
    return torch.from_numpy(segment_lesions(dataset.images, central=True)), "Otsu masks (the data has none)"


def training_data(name: str, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor,
                  seed: int = 0) -> tuple[Any, torch.Tensor | None]:
    """Return (data, labels) for train_family as family ``name`` is conditioned: images alone, with class labels,
    with masks (N, 1, H, W), or unpaired (mask pictures as domain A, photographs as B, shuffled independently)."""
    conditioning = get_family(name).conditioning
    if conditioning == "none":
        return images, None
    if conditioning == "class":
        return images, labels
    if conditioning == "mask":
        return images, masks[:, None].float()
    pairs = unpaired_pairs(mask_pictures(masks), images, seed=seed)
    return pairs, pairs


def generate(trained: FamilyRun | nn.Module, conditioning: str, n: int, labels: torch.Tensor, masks: torch.Tensor,
             seed: int = 0) -> torch.Tensor:
    """Return ``n`` images (n, 3, H, W) on the CPU from a family's generator, given labels or masks when it needs them."""
    generator = trained.generator if isinstance(trained, FamilyRun) else trained
    if conditioning == "unpaired":
        return translate_a_to_b(generator, mask_pictures(masks[:n]))
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    condition = {"none": None, "class": labels[:n], "mask": masks[:n, None].float()}[conditioning]
    return sample_images(generator, z, labels=condition)


def class_labels_like(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Return ``n`` class labels drawn with the proportions of ``labels`` (what a class-conditional family is asked for)."""
    generator = torch.Generator().manual_seed(seed)
    return labels[torch.randint(0, len(labels), (n,), generator=generator)]


# ----------------------------------------------------------------------------
# One row of the table
# ----------------------------------------------------------------------------

@dataclass
class Reference:
    """The real images a generated set is compared with, and what is computed from them once."""

    images: torch.Tensor  # held-out half A: the reference every family (and the floor) is measured against
    other_half: torch.Tensor  # held-out half B: the floor's "generated" set
    train_images: torch.Tensor
    extractor: nn.Module  # the feature space of every feature-space metric of the table
    features: torch.Tensor  # of half A
    other_features: torch.Tensor  # of half B
    train_features: torch.Tensor
    attributes: dict[str, np.ndarray]
    n_boot: int
    c2st_epochs: int
    seed: int = 0


def make_reference(heldout: torch.Tensor, train_images: torch.Tensor, n_boot: int = 100, c2st_epochs: int = 6,
                   seed: int = 0, extractor: nn.Module | None = None) -> Reference:
    """Return a :class:`Reference`: held-out images split into two random halves, features and attributes of half A.

    ``extractor`` is the feature space of the whole table (default: the kit's fixed random space)."""
    first, second = random_halves(len(heldout), seed)
    extractor = extractor or default_extractor()
    images, other = heldout[first], heldout[second]
    return Reference(images, other, train_images, extractor, features_of(images, extractor), features_of(other, extractor),
                     features_of(train_images, extractor), lesion_attributes(images), n_boot, c2st_epochs, seed)


def _nearest_train(features: torch.Tensor, train_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (indices, distances / sqrt(D)) of each row's nearest training feature vector, as nearest_neighbours does."""
    distances = torch.cdist(features.float(), train_features.float()) / features.shape[1] ** 0.5
    values, indices = distances.min(dim=1)
    return indices, values


def evaluate_images(reference: Reference, fake: torch.Tensor, n_pairs: int = 100) -> dict[str, Any]:
    """Return one table row: every metric of ``fake`` against the reference (distances, PRDC, C2ST, MS-SSIM, morphology, copies)."""
    extractor = reference.extractor
    fake = fake[: len(reference.images)]
    fake_features = features_of(fake, extractor)
    with warnings.catch_warnings():  # N <= D: every Fréchet distance here is biased the same way (said in the notebook)
        warnings.filterwarnings("ignore", message=".*rank-deficient.*")
        warnings.filterwarnings("ignore", message=".*leaks into itself.*")
        fd = bootstrap_interval(frechet_distance_from_features, reference.features, fake_features,
                                n_boot=reference.n_boot, seed=reference.seed)
    kid = kid_from_features(reference.features, fake_features, subsets=20,
                            subset_size=min(100, len(fake_features), len(reference.features)), seed=reference.seed)
    manifold = prdc(reference.features, fake_features, k=5)
    c2st = classifier_two_sample_test(reference.images, fake, epochs=reference.c2st_epochs, seed=reference.seed,
                                      progress=False)
    attributes = lesion_attributes(fake)
    try:
        morphology = morphology_distance(reference.attributes, attributes)["mean_scaled"]
    except ValueError:  # fewer than two generated images with a measurable lesion
        morphology = float("nan")
    copies = {"pixel": memorization_audit(fake, reference.train_images, reference.other_half, space="pixel")}
    nearest, generated_distances = _nearest_train(fake_features, reference.train_features)  # cached train features
    _, heldout_distances = _nearest_train(reference.other_features, reference.train_features)
    copies["features"] = audit_from_distances(generated_distances, nearest, heldout_distances, "features")
    return {
        "fd": fd.estimate, "fd_low": fd.low, "fd_high": fd.high,
        "kid": kid.mean, "kid_std": kid.std, **manifold,
        "c2st": c2st.accuracy, "c2st_p": c2st.p_value, "c2st_n": c2st.n_test, "n_images": len(fake),
        "ms_ssim": mean_pairwise_ms_ssim(fake, n_pairs=n_pairs, seed=reference.seed),
        "morphology": morphology, "lesion_found": float(np.isfinite(attributes["area"]).mean()),
        "near_copies_pixel": copies["pixel"].near_copy_fraction,
        "near_copies_features": copies["features"].near_copy_fraction,
        "memorization_ratio": copies["pixel"].memorization_ratio,
    }


def floor_row(reference: Reference) -> dict[str, Any]:
    """Return the table row of real vs real: the held-out half B measured like a generator (the floor)."""
    return evaluate_images(reference, reference.other_half)


def utility_columns(conditioning: str, generator: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                    train_masks: torch.Tensor, test_images: torch.Tensor, test_labels: torch.Tensor,
                    test_masks: torch.Tensor, epochs: int, seed: int = 0) -> dict[str, float | None]:
    """Return TSTR and real+synthetic accuracy (class families) or U-Net Dice from generated pairs (mask families)."""
    columns: dict[str, float | None] = {"tstr": None, "real_plus_synthetic": None, "seg_dice": None}
    n = len(train_images)
    if conditioning == "class":
        labels = class_labels_like(train_labels, n, seed)
        synthetic = generate(generator, "class", n, labels, train_masks, seed)
        kwargs = dict(num_classes=int(train_labels.max()) + 1, epochs=epochs, seed=seed, progress=False)
        columns["tstr"] = classifier_accuracy(synthetic, labels, test_images, test_labels, **kwargs)
        columns["real_plus_synthetic"] = classifier_accuracy(torch.cat([train_images, synthetic]),
                                                             torch.cat([train_labels, labels]),
                                                             test_images, test_labels, **kwargs)
    elif conditioning in ("mask", "unpaired"):
        synthetic = generate(generator, conditioning, n, train_labels, train_masks, seed)
        columns["seg_dice"] = segmentation_dice(synthetic, train_masks, test_images, test_masks, epochs=epochs,
                                                seed=seed, progress=False)
    return columns


def real_utility(train_images: torch.Tensor, train_labels: torch.Tensor, train_masks: torch.Tensor,
                 test_images: torch.Tensor, test_labels: torch.Tensor, test_masks: torch.Tensor, epochs: int,
                 seed: int = 0) -> dict[str, float]:
    """Return the references: the classifier's balanced accuracy and the U-Net's Dice when trained on real data."""
    return {"trtr": classifier_accuracy(train_images, train_labels, test_images, test_labels,
                                        num_classes=int(train_labels.max()) + 1, epochs=epochs, seed=seed,
                                        progress=False),
            "seg_dice_real": segmentation_dice(train_images, train_masks, test_images, test_masks, epochs=epochs,
                                               seed=seed, progress=False)}


# ----------------------------------------------------------------------------
# Reading the table
# ----------------------------------------------------------------------------

#: columns where lower is better; the others (precision, recall, density, coverage, utility) are higher-better,
#: and C2ST is best at 0.5
LOWER_IS_BETTER = ("fd", "kid", "morphology", "ms_ssim", "near_copies_pixel", "near_copies_features")


def rank_agreement(table: dict[str, dict[str, Any]], first: str, second: str) -> float:
    """Return Spearman's rank correlation of two columns over the families (sign-aligned: +1 = they rank alike)."""
    from scipy.stats import spearmanr

    names = [n for n in table if _finite(table[n].get(first)) and _finite(table[n].get(second))]
    if len(names) < 3:
        return float("nan")
    a = [table[n][first] * (1 if first in LOWER_IS_BETTER else -1) for n in names]
    b = [table[n][second] * (1 if second in LOWER_IS_BETTER else -1) for n in names]
    if first == "c2st":
        a = [abs(table[n]["c2st"] - 0.5) for n in names]
    if second == "c2st":
        b = [abs(table[n]["c2st"] - 0.5) for n in names]
    if len(set(a)) < 2 or len(set(b)) < 2:  # a metric that ties every family ranks nothing
        return float("nan")
    return float(spearmanr(a, b)[0])


def metric_errors(row: dict[str, Any], metric: str) -> float:
    """Return the standard error of one table cell: from its interval, its spread, or as a proportion of n images.

    The Fréchet distance has a bootstrap interval and the KID the spread of its subsets; precision, recall,
    density, coverage and C2ST are shares of ``n_images`` (C2ST: of its held-out images), so their error is
    that of a proportion. The morphology distance and MS-SSIM have none here: they never decide a winner.
    """
    if metric == "fd":
        return interval_se(row["fd_low"], row["fd_high"])
    if metric == "kid":
        return float(row.get("kid_std", float("inf")))
    if metric == "c2st":
        return proportion_se(0.5, int(row["c2st_n"]))
    if metric in ("precision", "recall", "coverage"):
        return share_se(row[metric], int(row["n_images"]))
    return float("inf")


#: the metrics the "best family per metric" line reads (C2ST: closest to 0.5)
BEST_OF = ("fd", "kid", "precision", "coverage", "c2st")


def best_per_metric(table: dict[str, dict[str, Any]], families: list[str]) -> dict[str, str | None]:
    """Return, per metric of :data:`BEST_OF`, the family clearly ahead of every other one, or None for a tie."""
    best: dict[str, str | None] = {}
    for metric in BEST_OF:
        if metric == "c2st":
            values = {n: abs(table[n]["c2st"] - 0.5) for n in families}
        else:
            values = {n: table[n][metric] for n in families}
        errors = {n: metric_errors(table[n], metric) for n in families}
        best[metric] = pick_winner(values, errors, lower_is_better=metric in LOWER_IS_BETTER or metric == "c2st")
    return best


def best_family_verdict(best: dict[str, str | None]) -> str:
    """Return whether one family is clearly best on every metric, the best changes between metrics, or none is clear."""
    named = {metric: name for metric, name in best.items() if name is not None}
    if not named:
        return f"no metric separates the families clearly: {NO_CLEAR_DIFFERENCE}"
    winners = set(named.values())
    ties = [metric for metric, name in best.items() if name is None]
    tie_note = f"; tied on {', '.join(ties)}" if ties else ""
    if len(winners) == 1:
        (winner,) = winners
        scope = "every metric" if not ties else ", ".join(named)
        return f"the same family, {winner}, is clearly best on {scope}{tie_note}"
    return ("the best family changes from metric to metric: "
            + ", ".join(f"{metric} {name}" for metric, name in named.items()) + tie_note)


def checkerboard_verdict(checker: dict[str, Any], floor: dict[str, Any], fd_ratio_near_floor: float = 2.0) -> str:
    """Return what the C2ST and the distance say of the checkerboard, the C2ST decided by its p-value.

    Under "same distribution" a C2ST's held-out accuracy is Binomial(n, 1/2) / n, so the classifier "sees"
    the pattern when its one-sided binomial p-value is below 0.05 and its accuracy lies above the
    real-vs-real floor's (which estimates the same chance level with the same classifier); the distance
    places it near the floor when it is within ``fd_ratio_near_floor`` times the floor's distance.
    """
    sees = checker["c2st_p"] < 0.05 and checker["c2st"] > floor["c2st"]
    near = checker["fd"] / floor["fd"] < fd_ratio_near_floor
    numbers = f"C2ST {checker['c2st']:.2f} vs floor {floor['c2st']:.2f}, p = {checker['c2st_p']:.1g}"
    if sees and near:
        return f"C2ST separates what the distance places near its floor ({numbers})"
    if sees:
        return f"here both metrics see the checkerboard ({numbers})"
    return (f"{NO_CLEAR_DIFFERENCE}: the classifier did not tell the sets apart ({numbers}); more images or "
            f"epochs (n_eval, c2st_epochs) give it the chance")


def utility_verdicts(table: dict[str, dict[str, Any]], families: list[str], trtr: float, seg_dice_real: float,
                     num_classes: int, n_test: int) -> list[str]:
    """Return one line per family with a utility column: TSTR against TRTR (when TRTR itself beats chance), or Dice.

    A TSTR percentage of TRTR means something only when the reference classifier trained on real images
    is clearly above chance (1/K on ``n_test`` balanced test images); otherwise the line says so.
    "Helps" and "does not help" are said only when real + synthetic differs from TRTR by more than two
    standard errors of the two accuracies.
    """
    lines = []
    chance = 1 / num_classes
    trtr_meaningful = above_chance(trtr, chance, n_test)
    se_trtr = share_se(trtr, n_test)
    for name in families:
        row = table[name]
        if row.get("tstr") is not None:
            if not trtr_meaningful:
                lines.append(f"{name:12s} TSTR {row['tstr']:.3f}; TRTR {trtr:.3f} is itself not clearly above chance "
                             f"({chance:.3f} on {n_test} images), so there is nothing to compare TSTR with at this budget")
                continue
            rps = row["real_plus_synthetic"]
            se_rps = share_se(rps, n_test)
            effect = (NO_CLEAR_DIFFERENCE if not differs(rps, trtr, se_rps, se_trtr) else
                      "helps" if rps > trtr else "hurts")
            lines.append(f"{name:12s} TSTR {row['tstr']:.3f} ({row['tstr'] / trtr:.0%} of TRTR {trtr:.3f}); "
                         f"real + synthetic {rps:.3f}: {effect}")
        if row.get("seg_dice") is not None:
            lines.append(f"{name:12s} U-Net Dice from generated pairs {row['seg_dice']:.3f} "
                         f"({row['seg_dice'] / max(seg_dice_real, 1e-9):.0%} of real pairs, {seg_dice_real:.3f})")
    return lines


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and np.isfinite(value)


def families_in_order() -> list[str]:
    """Return the registered family names in registry order."""
    return list(FAMILIES)


def elapsed(start: float) -> str:
    """Return the seconds since ``start`` as '12 s'."""
    return f"{time.perf_counter() - start:.0f} s"


def add_checkerboard(images: torch.Tensor, amplitude: float, period: int = 2) -> torch.Tensor:
    """Return images plus a ±amplitude checkerboard of ``period``-pixel squares: the transposed-convolution artefact."""
    height, width = images.shape[-2:]
    rows = (torch.arange(height) // (period // 2 or 1)) % 2
    cols = (torch.arange(width) // (period // 2 or 1)) % 2
    pattern = (rows[:, None] ^ cols[None, :]).float() * 2 - 1  # +1 / -1 squares
    return (images + amplitude * pattern).clamp(-1, 1)


def frd_column(reference: Reference, samples: dict[str, torch.Tensor], enabled: bool,
               n_images: int | None = None) -> dict[str, float | str]:
    """Return the FRD of the floor and of every family's samples against the reference, or why it was not computed.

    Radiomic features cost a fraction of a second per image, so ``n_images`` (default: all) caps the images per
    set, and the reference's features are extracted once for every row.
    """
    if not enabled:
        return {name: "not computed (with_frd=False)" for name in ["real (floor)", *samples]}
    from ..metrics.frd import frd_from_features, frd_status, radiomic_features

    available, reason = frd_status()
    if not available:  # the same reason for every row
        return {name: "unavailable: " + reason.split(";")[0] for name in ["real (floor)", *samples]}
    n = len(reference.images) if n_images is None else min(n_images, len(reference.images))
    real = radiomic_features(reference.images[:n])
    sets = {"real (floor)": reference.other_half[:n], **{name: images[:n] for name, images in samples.items()}}
    return {name: frd_from_features(real, radiomic_features(images))
            for name, images in tqdm(sets.items(), desc="FRD", leave=False)}
