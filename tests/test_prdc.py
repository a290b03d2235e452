"""Precision, recall, density and coverage equal the authors' reference package and behave at the extremes."""
from __future__ import annotations

import contextlib
import io

import pytest
import torch

from medgan_nb.metrics.prdc import prdc


def test_prdc_equals_the_reference_package():
    reference = pytest.importorskip("prdc", reason="the prdc package (test dependency) is not installed")
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(300, 10, generator=generator, dtype=torch.float64)
    fake = 1.3 * torch.randn(250, 10, generator=generator, dtype=torch.float64) + 0.4  # wider and shifted
    for k in (3, 5):
        ours = prdc(real, fake, k=k, chunk_size=64)  # small chunks: the chunking must not change the result
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
            theirs = reference.compute_prdc(real.numpy(), fake.numpy(), nearest_k=k)
        for name in ("precision", "recall", "density", "coverage"):
            assert ours[name] == pytest.approx(float(theirs[name]), abs=1e-9), (k, name, ours, theirs)
    assert 0.1 < ours["precision"] < 0.95 and 0.1 < ours["recall"] < 0.99  # a partial overlap, not an extreme


def test_identical_sets_score_one_and_far_sets_zero():
    real = torch.randn(200, 6, generator=torch.Generator().manual_seed(1))
    same = prdc(real, real.clone(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["density"] >= 1.0  # each point sits in its own ball and in those of its neighbours
    far = prdc(real, real + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_bad_input_gets_clear_errors():
    real = torch.randn(20, 4)
    with pytest.raises(ValueError, match="from 1 to 9"):
        prdc(real, real[:10], k=10)
    with pytest.raises(ValueError, match="NaN"):
        prdc(real, torch.full((20, 4), float("nan")))
