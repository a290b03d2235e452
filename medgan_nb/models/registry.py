"""The family registry: one place that builds every GAN family of the course and knows its recommended settings.

A notebook that compares families (the loss zoo, the conditional notebook, the
evaluation notebook) should not need to know how each is built. It asks::

    from medgan_nb.models import FAMILIES, build_family, family_settings
    generator, discriminator = build_family("wgan-gp", image_size=64, budget="cpu")
    config = TrainConfig(**family_settings("wgan-gp"), steps=2000)   # or medgan_nb.train.family_config(...)

``budget`` ("smoke", "cpu", "gpu") picks the networks' width, so that every
family trains with a comparable cost at each profile. The settings are plain
:class:`~medgan_nb.train.TrainConfig` fields (loss, learning rates, betas,
n_critic, penalties, ...): the registry lives with the models, below the
engine, and never imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from ..runtime import PROFILES  # the one list of profiles; a family's width is chosen per profile
from .conditional import build_biggan, build_cgan, build_projection_gan
from .dcgan import build_dcgan
from .progressive import build_progressive, progressive_schedule
from .spade import build_spade
from .stylegan import build_stylegan
from .translation import build_cyclegan, build_pix2pix, cycle_loss, pix2pix_l1_loss

CONDITIONING = ("none", "class", "mask", "unpaired")


@dataclass(frozen=True)
class Family:
    """One GAN family: how to build its (G, D), what it is conditioned on, and its recommended TrainConfig fields."""

    name: str
    title: str  # one line for tables
    paper: str  # where it comes from
    conditioning: str  # "none", "class" (labels), "mask" (masks), "unpaired" (two domains)
    builder: Callable[..., tuple[nn.Module, nn.Module]]
    settings: dict[str, Any] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=lambda: {"smoke": 8, "cpu": 32, "gpu": 64})
    build_options: dict[str, Any] = field(default_factory=dict)  # fixed keyword arguments of the builder
    hooks: Callable[[int], dict[str, Any]] | None = None  # image_size -> engine hooks (schedule, generator_loss)


def _dcgan(**options):
    def build(image_size: int, width: int, latent_dim: int = 100, **overrides):
        return build_dcgan(image_size=image_size, latent_dim=latent_dim, width=width, **{**options, **overrides})
    return build


def _sized(builder, **options):
    def build(image_size: int, width: int, **overrides):
        return builder(image_size=image_size, width=width, **{**options, **overrides})
    return build


def _class_conditional(builder):
    def build(image_size: int, width: int, num_classes: int = 7, **overrides):
        return builder(image_size=image_size, num_classes=num_classes, width=width, **overrides)
    return build


TTUR = {"lr_g": 1e-4, "lr_d": 4e-4, "betas": (0.0, 0.9)}  # two time-scale update rule (Heusel et al. 2017)

FAMILIES: dict[str, Family] = {family.name: family for family in [
    Family("dcgan", "DCGAN, non-saturating loss", "Radford et al. 2016; Goodfellow et al. 2014", "none",
           _dcgan(), {"loss": "bce", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}),
    Family("lsgan", "LSGAN, least-squares loss", "Mao et al. 2017", "none",
           _dcgan(), {"loss": "lsgan", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}),
    Family("wgan", "WGAN, weight clipping", "Arjovsky et al. 2017", "none",
           _dcgan(), {"loss": "wasserstein", "n_critic": 5, "weight_clip": 0.01, "optimizer": "rmsprop",
                      "lr_g": 1e-4, "lr_d": 1e-4}),
    Family("wgan-gp", "WGAN-GP, gradient penalty", "Gulrajani et al. 2017", "none",
           _dcgan(batch_norm=False), {"loss": "wasserstein", "n_critic": 5, "gp_weight": 10.0,
                                      "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9)}),
    Family("hinge-sn", "hinge loss, spectral norm, TTUR", "Miyato et al. 2018; Heusel et al. 2017", "none",
           _dcgan(spectral_norm=True), {"loss": "hinge", **TTUR}),
    Family("r1", "non-saturating loss + R1 penalty", "Mescheder et al. 2018", "none",
           _dcgan(), {"loss": "bce", "r1_gamma": 1.0, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}),
    Family("cgan", "conditional GAN (label embedding)", "Mirza & Osindero 2014", "class",
           _class_conditional(build_cgan), {"loss": "bce", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}),
    Family("projection", "projection discriminator", "Miyato & Koyama 2018", "class",
           _class_conditional(build_projection_gan), {"loss": "hinge", **TTUR}),
    Family("biggan", "BigGAN-style (conditional BN, hinge, SN, orthogonal init)", "Brock et al. 2019", "class",
           _class_conditional(build_biggan), {"loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "betas": (0.0, 0.999),
                                              "ema_decay": 0.999},
           widths={"smoke": 8, "cpu": 24, "gpu": 48}),
    Family("stylegan", "StyleGAN2-style (mapping net, modulated convs, noise, mixing)", "Karras et al. 2020",
           "none", _sized(build_stylegan), {"loss": "bce", "lr_g": 2e-3, "lr_d": 2e-3, "betas": (0.0, 0.99),
                                            "r1_gamma": 0.1, "r1_every": 4, "ema_decay": 0.999},
           widths={"smoke": 8, "cpu": 8, "gpu": 32}),
    Family("progressive", "progressive growing (fade-in, minibatch std, equalised lr)", "Karras et al. 2018",
           "none", _sized(build_progressive), {"loss": "lsgan", "lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.0, 0.99)},
           widths={"smoke": 8, "cpu": 8, "gpu": 32},
           hooks=lambda image_size: {"schedule": progressive_schedule(image_size)}),
    Family("spade", "SPADE: mask-to-image with spatially-adaptive normalisation", "Park et al. 2019", "mask",
           _sized(build_spade), {"loss": "lsgan", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)},
           widths={"smoke": 8, "cpu": 16, "gpu": 64}),
    Family("pix2pix", "pix2pix: U-Net + PatchGAN + L1, mask to lesion", "Isola et al. 2017", "mask",
           _sized(build_pix2pix, source_channels=1), {"loss": "lsgan", "lr_g": 2e-4, "lr_d": 2e-4,
                                                      "betas": (0.5, 0.999)},
           widths={"smoke": 8, "cpu": 16, "gpu": 64},
           hooks=lambda image_size: {"generator_loss": pix2pix_l1_loss(100.0)}),
    Family("cyclegan", "CycleGAN: unpaired translation with cycle consistency", "Zhu et al. 2017", "unpaired",
           _sized(build_cyclegan), {"loss": "lsgan", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)},
           widths={"smoke": 8, "cpu": 16, "gpu": 64},
           hooks=lambda image_size: {"generator_loss": cycle_loss(10.0, 5.0)}),
]}


def get_family(name: str) -> Family:
    """Return the registered family called ``name`` (ValueError listing the known names)."""
    key = name.lower().replace("_", "-")
    if key not in FAMILIES:
        raise ValueError(f"unknown GAN family {name!r}; known families: {', '.join(FAMILIES)}")
    return FAMILIES[key]


def build_family(name: str, image_size: int = 64, budget: str = "cpu", width: int | None = None,
                 **overrides: Any) -> tuple[nn.Module, nn.Module]:
    """Return a freshly built (generator, discriminator) of a family for ``image_size`` at a budget's width."""
    family = get_family(name)
    if budget not in PROFILES:
        raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(PROFILES)} (it picks the width)")
    return family.builder(image_size=image_size, width=width or family.widths[budget],
                          **{**family.build_options, **overrides})


def family_settings(name: str, image_size: int = 64) -> dict[str, Any]:
    """Return a copy of the family's recommended TrainConfig fields (loss, learning rates, penalties, hooks, ...)."""
    family = get_family(name)
    return {**family.settings, **(family.hooks(image_size) if family.hooks else {})}
