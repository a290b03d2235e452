"""The cross-Gram form of the Fréchet distance equals the eigenvalue form (it is only faster when N < D)."""
import pytest
import torch

from medgan_nb.metrics.distances import (
    feature_statistics,
    frechet_distance_few_samples,
    frechet_distance_from_features,
    frechet_distance_from_statistics,
)


@pytest.mark.parametrize("n, m, dim", [(30, 45, 64), (12, 12, 200), (80, 50, 16)])
def test_cross_gram_form_equals_the_eigenvalue_form(n, m, dim):
    generator = torch.Generator().manual_seed(n + m + dim)
    mixing = torch.randn(dim, dim, generator=generator, dtype=torch.float64) / dim**0.5
    real = torch.randn(n, dim, generator=generator, dtype=torch.float64) @ mixing
    fake = torch.randn(m, dim, generator=generator, dtype=torch.float64) @ (1.3 * mixing) + 0.2
    expected = frechet_distance_from_statistics(*feature_statistics(real), *feature_statistics(fake))
    assert frechet_distance_few_samples(real, fake) == pytest.approx(expected, rel=1e-7)
    with pytest.warns(UserWarning, match="rank-deficient") if min(n, m) <= dim else _nothing():
        assert frechet_distance_from_features(real, fake) == pytest.approx(expected, rel=1e-7)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False
