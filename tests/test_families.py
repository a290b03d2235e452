"""train_family, the one training run every notebook shares: seeded, measured before and after, hooks honoured."""
from __future__ import annotations

import math

import pytest
import torch

from medgan_nb.experiments.families import train_family
from medgan_nb.models.dcgan import weights_init

TINY = dict(width=4, steps=2, batch_size=8, progress=False)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _weights(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    images, heldout = _images(24), _images(12, seed=1)
    first = train_family("dcgan", images, heldout=heldout, seed=3, **TINY)
    torch.manual_seed(99)  # the session's random state does not matter: the weights are drawn from the seed
    again = train_family("dcgan", images, heldout=heldout, seed=3, **TINY)
    other = train_family("dcgan", images, heldout=heldout, seed=4, **TINY)
    assert torch.equal(_weights(first.generator), _weights(again.generator))
    assert first.fd == again.fd and first.fd_untrained == again.fd_untrained
    assert not torch.equal(_weights(first.generator), _weights(other.generator))
    assert math.isfinite(first.fd) and first.samples.shape == heldout.shape
    assert first.steps == 2 and first.width == 4 and first.parameters_g > 0 and first.parameters_d > 0


def test_without_an_init_seed_the_weights_come_from_the_session_state():
    images = _images(16)
    torch.manual_seed(1)
    one = train_family("dcgan", images, init_seed=None, **TINY)
    torch.manual_seed(2)
    two = train_family("dcgan", images, init_seed=None, **TINY)
    assert not torch.equal(_weights(one.generator), _weights(two.generator))


def test_prepare_runs_on_the_built_models_before_the_untrained_measure_and_its_dict_is_kept():
    images, heldout = _images(16), _images(8, seed=1)
    seen = []

    def prepare(generator, discriminator):
        seen.append((generator.training, sum(p.numel() for p in discriminator.parameters())))
        torch.manual_seed(123)  # other initial weights than the run's seed gives
        generator.apply(weights_init)
        return {"marked": 1.0}

    run = train_family("dcgan", images, heldout=heldout, prepare=prepare, **TINY)
    assert len(seen) == 1 and run.extras == {"marked": 1.0}
    plain = train_family("dcgan", images, heldout=heldout, **TINY)
    assert run.fd_untrained != plain.fd_untrained  # the re-initialised G was the one measured


def test_what_is_measured_follows_what_is_given():
    images, heldout = _images(16), _images(8, seed=1)
    bare = train_family("dcgan", images, **TINY)
    assert math.isnan(bare.fd) and math.isnan(bare.fd_untrained) and bare.samples is None
    trained_only = train_family("dcgan", images, heldout=heldout, measure_untrained=False, **TINY)
    assert math.isnan(trained_only.fd_untrained) and math.isfinite(trained_only.fd)
    assert set(bare.final_losses) == {"loss_d", "loss_g"} and bare.n_critic == 1 and not bare.is_wasserstein


def test_an_unknown_family_fails_before_anything_is_built():
    with pytest.raises(ValueError, match=r"unknown GAN family 'dcgam'; known families: .*dcgan"):
        train_family("dcgam", _images(8), **TINY)


def test_an_image_size_other_than_the_datas_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"image size from the data \(32 px here\); resize the images \(load_dataset\(\.\.\., size=64\)\)"):
        train_family("dcgan", _images(8), image_size=64, **TINY)
