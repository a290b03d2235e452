r"""DiffAugment: differentiable augmentation for data-efficient GAN training.

With few training images (a few hundred lesions is common in medical imaging)
the discriminator memorises them: :math:`D(x)` on the training set runs away
from :math:`D` on anything else, its feedback to :math:`G` becomes
meaningless and training collapses. Augmenting only the real images does not
help: :math:`D` then learns that augmented images are real and :math:`G` is
taught to *produce* the augmentations (cut-out squares, colour shifts).

DiffAugment (Zhao, Liu, Lin, Zhu & Han, 2020, "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS) applies the *same kind* of random
transform :math:`T` to real and fake images every time :math:`D` sees them,
in the discriminator's and in the generator's step:

.. math::
    L_D = \ell_D\big(D(T(x)),\, D(T(G(z)))\big), \qquad
    L_G = \ell_G\big(D(T(G(z)))\big).

Because both sides are augmented, :math:`D` cannot tell real from fake by the
augmentation, so :math:`G` has no reason to learn it; because :math:`T` is
differentiable, :math:`\nabla_\theta L_G` flows through :math:`T` back into
:math:`G`. Every image of a batch gets its own random parameters.

The three policies of the paper (its reference code, ``DiffAugment_pytorch.py``),
for images in :math:`[-1, 1]` with per-image random numbers
:math:`u \sim \mathcal U[0, 1)` drawn independently for every transform:

* ``color``: brightness :math:`x + (u - \tfrac12)`; saturation
  :math:`\bar x_c + 2u\,(x - \bar x_c)` with :math:`\bar x_c` the mean over
  channels (per pixel); contrast :math:`\bar x + (u + \tfrac12)(x - \bar x)`
  with :math:`\bar x` the mean over the whole image;
* ``translation``: shift by integers :math:`(\delta_y, \delta_x)` drawn
  uniformly from :math:`[-S/8, S/8]`, filling the uncovered border with zeros;
* ``cutout``: zero a square of side :math:`S/2` whose centre is uniform over
  the image (the square is clipped where it leaves the image).

Usage: ``TrainConfig(augment=DiffAugment("color,translation,cutout"))``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor

# Written by hand rather than with kornia.augmentation: kornia is not among the
# kit's dependencies, and these transforms are the paper's own few lines of
# tensor arithmetic (no resampling, so no interpolation), already batched with
# independent parameters per image and differentiable as they stand.


def _uniform(x: Tensor) -> Tensor:
    """Return one U[0, 1) number per image, shaped (N, 1, 1, 1) to broadcast over C, H, W."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def random_brightness(x: Tensor) -> Tensor:
    """Return x + (u - 1/2): each image made brighter or darker by up to half a unit."""
    return x + (_uniform(x) - 0.5)


def random_saturation(x: Tensor) -> Tensor:
    """Return mean_c + 2u (x - mean_c): each image's colours scaled away from or towards its grey level."""
    grey = x.mean(dim=1, keepdim=True)  # \bar x_c: mean over channels, per pixel
    return grey + (x - grey) * (2 * _uniform(x))


def random_contrast(x: Tensor) -> Tensor:
    """Return mean + (u + 1/2)(x - mean): each image's contrast scaled by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # \bar x: mean over the whole image
    return mean + (x - mean) * (_uniform(x) + 0.5)


def random_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Return x shifted by up to ratio * size pixels in each direction, per image, with zeros shifted in."""
    n, channels, height, width = x.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)  # delta_y per image
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)  # delta_x per image
    # output pixel (i, j) reads input pixel (i - dy, j - dx); indices are into the image padded by one
    # zero row/column on each side, and any index that falls outside is clamped onto that zero border
    rows = (torch.arange(height, device=x.device)[:, None] - dy + 1).clamp(0, height + 1)  # (N, H, 1)
    cols = (torch.arange(width, device=x.device)[None, :] - dx + 1).clamp(0, width + 1)  # (N, 1, W)
    source = (rows * (width + 2) + cols).flatten(1)  # (N, H*W): flat index into the padded image
    padded = F.pad(x, (1, 1, 1, 1)).flatten(2)  # (N, C, (H + 2)(W + 2)), zeros around
    return padded.gather(2, source[:, None].expand(n, channels, height * width)).view(n, channels, height, width)


def random_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Return x with a square of side ratio * size set to 0 at a random centre in every image."""
    n, _, height, width = x.shape
    side_y, side_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_y = torch.randint(0, height + (1 - side_y % 2), (n, 1), device=x.device)  # as in the reference code
    centre_x = torch.randint(0, width + (1 - side_x % 2), (n, 1), device=x.device)
    top, left = centre_y - side_y // 2, centre_x - side_x // 2
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    inside_y = (rows >= top) & (rows < top + side_y)  # (N, H)
    inside_x = (cols >= left) & (cols < left + side_x)  # (N, W)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])  # (N, H, W): False inside the square
    return x * keep[:, None].to(x.dtype)


POLICIES: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "color": (random_brightness, random_saturation, random_contrast),
    "translation": (random_translation,),
    "cutout": (random_cutout,),
}


def parse_policy(policy: str) -> list[str]:
    """Return the policy names in a comma-separated string ("" -> []); ValueError names an unknown one."""
    if not isinstance(policy, str):
        raise ValueError(f"a DiffAugment policy is a comma-separated string such as 'color,translation,cutout', "
                         f"got {policy!r}")
    names = [name.strip().lower() for name in policy.split(",") if name.strip()]
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r} in {policy!r}; valid choices: "
                             f"{', '.join(POLICIES)} (comma-separated, e.g. 'color,translation,cutout'; '' for none)")
    return names


def diff_augment(x: Tensor, policy: str = "color,translation,cutout") -> Tensor:
    """Return T(x): the batch x with every transform of the policy applied, random per image, differentiable."""
    for name in parse_policy(policy):
        for transform in POLICIES[name]:
            x = transform(x)
    return x


class DiffAugment(nn.Module):
    """The callable x -> T(x) for ``TrainConfig(augment=...)``: :func:`diff_augment` with a fixed policy."""

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        super().__init__()
        self.names = parse_policy(policy)  # checked once, here
        self.policy = ",".join(self.names)

    def forward(self, x: Tensor) -> Tensor:
        """Return T(x) (x itself for the empty policy)."""
        for name in self.names:
            for transform in POLICIES[name]:
                x = transform(x)
        return x

    def extra_repr(self) -> str:
        return f"policy={self.policy!r}"
