"""Downstream utility on constructed data whose answer is known: right labels help, wrong ones hurt."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan_nb.metrics.utility import (
    balanced_accuracy,
    classifier_accuracy,
    segmentation_dice,
    train_synthetic_test_real,
)


def _discs(n, size=16, seed=0):
    """Images with one dark disc at a random place; class 1 = large disc, class 0 = small disc; masks = the disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.full((n, 3, size, size), 0.6, np.float32)
    masks = np.zeros((n, size, size), bool)
    labels = rng.integers(0, 2, n)
    for i in range(n):
        radius = (5.0 if labels[i] else 2.5) + rng.uniform(-0.3, 0.3)
        cy, cx = rng.uniform(radius, size - radius, 2)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    images[np.repeat(masks[:, None], 3, axis=1)] = -0.6
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    return torch.from_numpy(images).clamp(-1, 1), torch.from_numpy(labels), torch.from_numpy(masks)


def test_balanced_accuracy_weighs_classes_equally():
    truth = torch.tensor([0] * 9 + [1])
    assert balanced_accuracy(torch.zeros(10, dtype=torch.long), truth) == pytest.approx(0.5)  # plain accuracy: 0.9
    assert balanced_accuracy(truth, truth) == 1.0


def test_tstr_is_high_with_right_labels_and_low_with_swapped_ones():
    train, train_y, _ = _discs(160, seed=1)
    test, test_y, _ = _discs(80, seed=2)
    good = train_synthetic_test_real(train, train_y, train, train_y, test, test_y, epochs=6, progress=False)
    assert good.trtr > 0.9 and good.tstr > 0.9 and good.real_plus_synthetic > 0.9
    swapped = classifier_accuracy(train, 1 - train_y, test, test_y, epochs=6, progress=False)
    assert swapped < 0.2  # a generator that draws the wrong class for its label is worse than useless


def test_unet_dice_is_high_on_true_pairs_and_low_on_mismatched_ones():
    train, _, train_masks = _discs(160, seed=3)
    test, _, test_masks = _discs(48, seed=4)
    right = segmentation_dice(train, train_masks, test, test_masks, epochs=8, progress=False)
    # masks from other images: what a mask-conditioned generator that ignores its mask would give
    wrong = segmentation_dice(train, train_masks.roll(1, dims=0), test, test_masks, epochs=8, progress=False)
    assert right > 0.8 and wrong < 0.6 * right, (right, wrong)


def test_utility_bad_input_names_the_fix():
    images, labels, masks = _discs(8)
    with pytest.raises(ValueError, match=r"training labels must be integers of shape \(8,\)"):
        classifier_accuracy(images, labels[:5], images, labels)
    with pytest.raises(ValueError, match=r"training labels must be integers"):
        classifier_accuracy(images, labels.float(), images, labels)
    with pytest.raises(ValueError, match=r"resize one set"):
        classifier_accuracy(images, labels, images[:, :, :8, :8], labels)
    with pytest.raises(ValueError, match=r"test masks must have shape \(8, 16, 16\)"):
        segmentation_dice(images, masks, images, masks[:, :8])
    with pytest.raises(ValueError, match="divisible by 4"):
        segmentation_dice(images[:, :, :14, :14], masks[:, :14, :14], images[:, :, :14, :14], masks[:, :14, :14])
    with pytest.raises(ValueError, match=r"outside the expected range \[-1, 1\]"):
        classifier_accuracy(images * 200, labels, images, labels)
