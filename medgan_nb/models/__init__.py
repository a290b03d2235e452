"""GAN architectures, one file per family, and the registry that builds any of them by name.

``toy`` (MLPs for the theory notebook), ``dcgan``, ``conditional`` (cGAN,
projection discriminator, BigGAN-style), ``stylegan``, ``progressive``,
``spade``, ``translation`` (pix2pix, CycleGAN); ``sampling`` (drawing images from a
generator); ``registry`` (:data:`FAMILIES`, :func:`build_family`,
:func:`family_settings`).
"""
from .registry import FAMILIES, Family, build_family, family_settings, get_family

__all__ = ["FAMILIES", "Family", "build_family", "family_settings", "get_family"]
