"""The memorisation audit flags planted training copies and nothing else; the pHash finds planted split leaks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.metrics.duplicates import hamming_distances, near_duplicates, perceptual_hash, split_leaks
from medgan_nb.metrics.memorization import memorization_audit, memorization_summary


@pytest.fixture(scope="module")
def phantoms():
    images = load_dataset("phantom", size=32, split="all", n=400, seed=3, progress=False, cache=False).images
    train, heldout, new = images[:250], images[250:330], images[330:370]  # new: a "perfect" generator's samples
    planted = torch.tensor([5, 17, 23, 36])  # where training images are slipped into the generated set
    generated = new.clone()
    generated[planted[:2]] = train[[10, 20]]  # exact copies
    noise = 0.03 * torch.randn(2, *train.shape[1:], generator=torch.Generator().manual_seed(0))
    generated[planted[2:]] = (train[[30, 40]] + noise).clamp(-1, 1)  # copies with a little noise
    return train, heldout, new, generated, planted


@pytest.mark.parametrize("space", ["pixel", "features"])
def test_audit_flags_exactly_the_planted_copies(phantoms, space):
    train, heldout, new, generated, planted = phantoms
    audit = memorization_audit(generated, train, heldout, space=space)
    assert sorted(audit.flagged.tolist()) == planted.tolist()
    assert audit.nearest_train[planted].tolist() == [10, 20, 30, 40]
    assert audit.near_copy_fraction == pytest.approx(4 / 40)
    clean = memorization_audit(new, train, heldout, space=space)  # new real images: nothing to flag
    assert clean.near_copy_fraction <= 0.05 and 0.7 < clean.memorization_ratio < 1.4


def test_audit_agrees_with_the_summary_nb02_uses(phantoms):
    train, heldout, _, generated, _ = phantoms
    audit, summary = memorization_audit(generated, train, heldout), memorization_summary(generated, train, heldout)
    assert audit.memorization_ratio == pytest.approx(summary["memorization_ratio"])


def test_audit_bad_input_and_a_leaking_holdout_warns(phantoms):
    train, heldout, _, generated, _ = phantoms
    with pytest.raises(ValueError, match=r"copy_factor must be in \(0, 1\]"):
        memorization_audit(generated, train, heldout, copy_factor=2)
    with pytest.raises(ValueError, match="heldout has 1 image"):
        memorization_audit(generated, train, heldout[:1])
    with pytest.warns(UserWarning, match="the data leaks into itself"):
        memorization_audit(generated, train, train[:40])  # "held-out" images that are training images


def test_phash_survives_small_changes_and_separates_different_lesions(phantoms):
    train = phantoms[0][:100]
    tinted = (train + 0.05 + 0.01 * torch.randn_like(train)).clamp(-1, 1)
    same = hamming_distances(perceptual_hash(train), perceptual_hash(tinted)).diagonal()
    others = hamming_distances(perceptual_hash(train), perceptual_hash(train))
    np.fill_diagonal(others, 64)
    assert same.max() <= 5 < others.min(), (same.max(), others.min())
    assert perceptual_hash(train).shape == (100, 64) and perceptual_hash(train, hash_size=4).shape == (100, 16)


def _write_dermamnist(folder, images, splits, seed=0):
    """Write images into a MedMNIST-format dermamnist.npz (28 px, uint8 NHWC, labels (N, 1))."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in ("train", "val", "test"):
        chosen = images[splits == name]
        arrays[f"{name}_images"] = chosen
        arrays[f"{name}_labels"] = rng.integers(0, 7, (len(chosen), 1)).astype(np.uint8)
    np.savez(folder / "dermamnist.npz", **arrays)


def test_split_leaks_finds_the_twins_planted_in_a_dermamnist_file(tmp_path):
    from medgan_nb.data.transforms import to_uint8_images

    images = to_uint8_images(load_dataset("phantom", size=28, split="all", n=90, seed=5, progress=False,
                                          cache=False).images)
    splits = np.array(["train"] * 60 + ["val"] * 10 + ["test"] * 20)
    twins = {62: 3, 75: 8, 80: 12, 88: 40}  # val/test image -> the training image it repeats (slightly brightened)
    for copy, original in twins.items():
        images[copy] = np.clip(images[original].astype(int) + 3, 0, 255).astype(np.uint8)
    _write_dermamnist(tmp_path, images, splits)
    data = load_dataset("dermamnist", root=tmp_path, size=28, split="all", download=False, cache=False, progress=False)
    report = split_leaks(data.images, data.metadata["split"])
    assert report["train-test"]["test_images_with_a_twin"] == 3 and report["train-test"]["test_images"] == 20
    assert report["train-val"]["val_images_with_a_twin"] == 1
    assert report["val-test"]["pairs"] == 0
    pairs = near_duplicates(data.images[:60], data.images[70:])  # the train and test images of the file
    assert sorted((i, j + 70) for i, j, _ in pairs) == [(8, 75), (12, 80), (40, 88)]


def test_duplicate_bad_input_names_the_fix(phantoms):
    images = phantoms[0][:4]
    with pytest.raises(ValueError, match="hash_size must be an integer from 2 to 16"):
        perceptual_hash(images, hash_size=40)
    with pytest.raises(ValueError, match="same number of bits"):
        hamming_distances(perceptual_hash(images), perceptual_hash(images, hash_size=4))
    with pytest.raises(ValueError, match="max_distance must be an integer from 0 to 63"):
        near_duplicates(images, images, max_distance=64)
    with pytest.raises(ValueError, match="splits has 3 entries for 4 images"):
        split_leaks(images, ["train", "test", "test"])
    with pytest.raises(ValueError, match="use images / 127.5 - 1"):
        perceptual_hash(images * 0 + 200.0)


def test_memorization_verdict_does_not_call_noise_new_images():
    from medgan_nb.metrics.memorization import memorization_verdict

    noise = memorization_verdict({"memorization_ratio": 1.8, "copy_fraction": 0.0})
    assert "off the data" in noise and "new real images (ratio" not in noise
    fresh = memorization_verdict({"memorization_ratio": 1.0, "copy_fraction": 0.0})
    assert fresh.startswith("no near-copies: the samples are about as far")
    closer = memorization_verdict({"memorization_ratio": 0.6, "copy_fraction": 0.0})
    assert "check for copying" in closer
    copies = memorization_verdict({"memorization_ratio": 0.95, "copy_fraction": 0.1})
    assert copies.startswith("10% of the samples are near-copies")
    # five of eight samples with one nearest training image: said, as look-alikes rather than copies
    alike = memorization_verdict({"memorization_ratio": 1.0, "copy_fraction": 0.0}, torch.tensor([3, 3, 3, 3, 3, 1, 2, 4]))
    assert "5 of the 8 samples shown have the same nearest training image (#3)" in alike
    varied = memorization_verdict({"memorization_ratio": 1.0, "copy_fraction": 0.0}, torch.arange(8))
    assert "same nearest" not in varied


def test_summary_and_audit_share_one_definition_of_a_copy():
    from medgan_nb.metrics.memorization import memorization_audit, memorization_summary

    generator = torch.Generator().manual_seed(0)
    train = torch.rand(40, 3, 8, 8, generator=generator) * 2 - 1
    heldout = torch.rand(40, 3, 8, 8, generator=generator) * 2 - 1
    generated = torch.cat([train[:5], torch.rand(35, 3, 8, 8, generator=generator) * 2 - 1])
    summary = memorization_summary(generated, train, heldout)
    audit = memorization_audit(generated, train, heldout)
    assert summary["copy_fraction"] == audit.near_copy_fraction == 5 / 40
