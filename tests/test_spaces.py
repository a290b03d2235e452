"""Feature spaces: the domain encoder learns, is cached by content, the spaces agree with scipy; bad input fails clearly."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from scipy import linalg

from medgan_nb.data import load_dataset
from medgan_nb.metrics import spaces
from medgan_nb.metrics.distances import kernel_distance, kid_from_features, torchmetrics_frechet_distance
from medgan_nb.metrics.fid import features_of, frechet_distance
from medgan_nb.metrics.spaces import (
    EncoderSettings,
    FeatureSpaceUnavailable,
    MultiLayerFeatures,
    PooledFeatures,
    encoder_accuracy,
    describe_space,
    encoder_cache_path,
    feature_space,
    inception_status,
    train_domain_encoder,
)

QUICK = EncoderSettings(widths=(8, 16, 16), steps=150, batch_size=32)  # seconds, enough to learn something


@pytest.fixture(scope="module")
def splits():
    train = load_dataset("phantom", size=32, split="train", n=600, seed=0, progress=False)
    test = load_dataset("phantom", size=32, split="test", n=600, seed=0, progress=False)
    return train, test


def test_domain_encoder_learns_the_labels_and_is_cached_by_content(splits):
    train, test = splits
    path = encoder_cache_path(train, QUICK)
    assert not path.exists()
    encoder = train_domain_encoder(train, QUICK, progress=False)
    assert path.is_file(), "the trained encoder must be written to the cache"
    chance = float(torch.bincount(test.labels).max()) / len(test)
    assert encoder_accuracy(encoder, test) > chance + 0.1, "the encoder must beat the majority class on held-out images"
    reloaded = train_domain_encoder(train, QUICK, progress=False)  # read back, not retrained
    images = test.images[:16]
    assert torch.equal(PooledFeatures(encoder)(images), PooledFeatures(reloaded)(images))
    # The key changes with the images, the labels and the settings.
    relabelled = load_dataset("phantom", size=32, split="train", n=600, seed=0, progress=False)
    relabelled.labels = relabelled.labels.roll(1)
    assert encoder_cache_path(relabelled, QUICK) != path
    assert encoder_cache_path(train, EncoderSettings(widths=(8, 16, 16), steps=151, batch_size=32)) != path
    other = load_dataset("phantom", size=32, split="train", n=600, seed=1, progress=False)
    assert encoder_cache_path(other, QUICK) != path


def test_multilayer_space_has_mean_and_std_of_every_block(splits):
    train, test = splits
    encoder = train_domain_encoder(train, QUICK, progress=False)
    space = MultiLayerFeatures(encoder)
    phi = space(test.images[:10])
    assert phi.shape == (10, 2 * sum(QUICK.widths)) == (10, space.num_features)
    first_block = encoder.block_outputs(test.images[:10])[0].flatten(2)
    assert torch.allclose(phi[:, :8], first_block.mean(2)) and torch.allclose(phi[:, 8:16], first_block.std(2))


def test_torchmetrics_fid_and_kid_in_the_encoder_space_equal_a_scipy_reference(splits):
    train, test = splits
    space = PooledFeatures(train_domain_encoder(train, QUICK, progress=False))  # D = 16 < 45 images
    real, fake = test.images[:45], (test.images[45:90] * 0.8 + 0.1).clamp(-1, 1)
    phi_r, phi_g = features_of(real, space).double().numpy(), features_of(fake, space).double().numpy()
    mu_r, mu_g, s_r, s_g = phi_r.mean(0), phi_g.mean(0), np.cov(phi_r, rowvar=False), np.cov(phi_g, rowvar=False)
    reference = float(np.sum((mu_r - mu_g) ** 2) + np.trace(s_r + s_g - 2 * linalg.sqrtm(s_r @ s_g).real))
    assert reference > 0
    assert torchmetrics_frechet_distance(real, fake, space) == pytest.approx(reference, rel=1e-3)
    assert frechet_distance(real, fake, space) == pytest.approx(reference, rel=1e-3)
    ours = kid_from_features(phi_r, phi_g, subsets=10, subset_size=30, seed=3)
    theirs = kernel_distance(real, fake, space, subsets=10, subset_size=30, seed=3)
    assert theirs.mean == pytest.approx(ours.mean, rel=1e-3)


def test_a_space_is_used_where_it_is_passed_and_never_becomes_a_session_default(splits):
    """Two evaluations in one kernel cannot share a space by accident: building one changes no default."""
    train, test = splits
    real, fake = test.images[:40], test.images[40:80]
    before = frechet_distance(real, fake)
    space = feature_space("domain", train, progress=False)
    assert space.space_name == "domain" and describe_space(space).startswith("feature space 'domain'")
    assert frechet_distance(real, fake, space) != pytest.approx(before, rel=1e-3)  # the space changes the number
    assert frechet_distance(real, fake) == pytest.approx(before, rel=1e-9)  # and the default did not move
    assert not hasattr(spaces, "use_feature_space") and not hasattr(spaces, "_EVALUATION_SPACE")


def test_missing_inception_weights_are_reported_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # as if not installed
    available, reason = inception_status()
    assert not available and "pip install" in reason
    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))  # installed ...
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # ... but no weights downloaded
    available, reason = inception_status()
    assert not available and "unavailable offline" in reason and spaces.INCEPTION_WEIGHTS in reason
    with pytest.raises(FeatureSpaceUnavailable, match="unavailable offline.*multilayer"):
        feature_space("inception")


def test_bad_space_requests_get_clear_errors(splits):
    train, test = splits
    with pytest.raises(ValueError, match="unknown feature space 'imagenet'.*domain, multilayer, random, inception"):
        feature_space("imagenet", train)
    with pytest.raises(ValueError, match="pass the training split"):
        feature_space("domain")
    with pytest.raises(ValueError, match="'test' split.*split='train'"):
        feature_space("multilayer", test)
    with pytest.raises(ValueError, match="must be a LesionDataset"):
        feature_space("domain", train.images)
