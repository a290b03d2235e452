"""The family registry builds every family by name with its recommended settings; bad names say the choices."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.models import FAMILIES, build_family, family_settings, get_family
from medgan_nb.runtime import PROFILES
from medgan_nb.train import TrainConfig, family_config


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_builds_a_matching_pair_with_valid_settings(name):
    family = get_family(name)
    generator, discriminator = build_family(name, image_size=32, budget="smoke")
    z = torch.randn(3, generator.latent_dim)
    condition = {"class": (torch.tensor([0, 3, 6]),), "mask": ((torch.rand(3, 1, 32, 32) > 0.5).float(),),
                 "unpaired": (torch.rand(3, 6, 32, 32) * 2 - 1,), "none": ()}[family.conditioning]
    images = generator(z, *condition)
    channels = 6 if family.conditioning == "unpaired" else 3  # CycleGAN: the (A, B) stack
    assert images.shape == (3, channels, 32, 32) and images.min() >= -1 and images.max() <= 1
    critic_condition = condition if family.conditioning in ("class", "mask") else ()
    assert discriminator(images, *critic_condition).shape[0] == len(images)  # logits (or patch maps) per image
    config = family_config(name, image_size=32, steps=5)
    assert isinstance(config, TrainConfig) and config.steps == 5
    assert set(family_settings(name)) <= set(TrainConfig.__dataclass_fields__)


def test_budgets_pick_the_width_and_overrides_win():
    small, _ = build_family("dcgan", image_size=32, budget="smoke")
    large, _ = build_family("dcgan", image_size=32, budget="gpu")
    assert small.width == FAMILIES["dcgan"].widths["smoke"] < large.width == FAMILIES["dcgan"].widths["gpu"]
    resized, _ = build_family("dcgan", image_size=32, budget="smoke", upsample="resize", width=12)
    assert resized.upsample == "resize" and resized.width == 12
    assert family_config("wgan-gp", steps=1, n_critic=2).n_critic == 2  # overrides win over the recommendation


def test_settings_are_copies():
    family_settings("dcgan")["loss"] = "changed"
    assert family_settings("dcgan")["loss"] == "bce"


def test_unknown_family_and_budget_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown GAN family 'stylegan3'; known families: dcgan, lsgan"):
        get_family("stylegan3")
    with pytest.raises(ValueError, match=r"unknown budget 'tpu'; choose one of " + ", ".join(PROFILES)):
        build_family("dcgan", budget="tpu")


def test_unknown_optimizer_names_the_choices():
    from medgan_nb.train import train_gan

    generator, discriminator = build_family("dcgan", image_size=32, budget="smoke")
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'; choose one of adam, rmsprop"):
        train_gan(generator, discriminator, torch.zeros(8, 3, 32, 32), TrainConfig(steps=1, batch_size=4,
                                                                                   optimizer="sgd", progress=False))
