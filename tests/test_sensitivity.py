"""Sensitivity checks: on spoilt real images the domain encoder's Fréchet distance moves the expected way.

Set sizes as in the measurement of medgan_nb.metrics.sensitivity: 300 held-out images per set (with 150 a sigma-2
blur is within the floor's noise), median of 3 random splits.
"""
from __future__ import annotations

import pytest
import torch

from conftest import computed_once

from medgan_nb.data import load_dataset
from medgan_nb.metrics.sensitivity import CORRUPTIONS, EXPECTED, checkerboard, corrupt, sensitivity_table
from medgan_nb.metrics.spaces import EncoderSettings, PooledFeatures, feature_space, train_domain_encoder


@pytest.fixture(scope="module")
def table(tmp_path_factory, request):
    return computed_once(tmp_path_factory, request, "sensitivity_table", _sensitivity_table)


def _sensitivity_table():
    train = load_dataset("phantom", size=64, split="train", n=4000, seed=0, progress=False)
    heldout = load_dataset("phantom", size=64, split="test", n=4000, seed=0, progress=False)
    encoder = train_domain_encoder(train, EncoderSettings(), progress=False)
    return sensitivity_table(heldout, train, {"domain": PooledFeatures(encoder), "random": feature_space("random")},
                             repeats=3, kid_subsets=20)


def test_domain_fd_rises_for_every_flaw(table):
    effect = table.effect.loc["FD (domain)"]
    for corruption, direction in EXPECTED["FD"].items():
        if direction == "+":
            assert effect[corruption] > 1.5, (corruption, effect.to_dict())  # 1.5x the real-vs-real floor
    assert table.values.loc["FD (domain)", "clean"] > 0


def test_mode_drop_lowers_recall_and_coverage_and_the_table_has_every_cell(table):
    assert list(table.effect.columns) == list(CORRUPTIONS)
    assert len(table.values) == 2 * len(EXPECTED) and not table.values.isna().any().any()
    for metric in ("recall (domain)", "coverage (domain)"):
        assert table.effect.loc[metric, "mode drop"] < -0.05, table.effect.loc[metric].to_dict()
    assert table.recommended_space() in ("domain", "random")
    assert table.passed.loc["FD (random)", "copies"] is True  # copies are real images: the random FD stays


def test_corruptions_are_what_they_say():
    images = torch.zeros(2, 3, 8, 8)
    pattern = checkerboard(images, amplitude=0.1)
    assert pattern[0, 0, 0, 0] == pytest.approx(0.1) and pattern[0, 0, 0, 1] == pytest.approx(-0.1)
    assert torch.equal(corrupt(images, "noise", seed=1), corrupt(images, "noise", seed=1))
    with pytest.raises(ValueError, match="unknown image corruption 'rain'.*blur, noise"):
        corrupt(images, "rain")
