r"""Diversity of generated images: mean MS-SSIM between random pairs (higher = less diverse).

MS-SSIM (Wang, Simoncelli & Bovik 2003, "Multiscale structural similarity for image quality
assessment") compares two images :math:`x, y` at :math:`S` scales (each half the size of the
previous one) through luminance :math:`l`, contrast :math:`c` and structure :math:`s` terms,

.. math::

    \mathrm{MS\text{-}SSIM}(x, y) = l_S(x, y)^{\beta_S} \prod_{j=1}^{S} \big(c_j(x, y)\, s_j(x, y)\big)^{\beta_j},

1 for identical images and near 0 for unrelated ones. Used on *pairs of generated images*
(Odena et al. 2017), the mean over random pairs measures diversity: a collapsed generator
draws near-identical images and scores close to 1; real data sets the level to aim for.

Scales for small images. The default five scales with an 11-pixel Gaussian window need
images of at least :math:`11 \cdot 2^4 = 176` px (torchmetrics asks for more than 160), since
the coarsest scale must still hold one window. The kit's images are 28–64 px, so
:func:`ms_ssim_settings` uses a 7-pixel window (:math:`\sigma = 1`, i.e. :math:`\pm 3\sigma`)
and as many scales as keep the coarsest one at least a window wide (3 scales at 28–55 px, 4 at
56–111 px), with the first :math:`S` of Wang et al.'s weights
:math:`\beta = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)` renormalised to sum to 1.
The values are comparable only between sets of the same image size.
"""
from __future__ import annotations

import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from .checks import check_finite_images

WANG_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # the five scale weights of Wang et al. (2003)
KERNEL_SIZE = 7  # Gaussian window in pixels, small enough for 28-64 px images
KERNEL_SIGMA = 1.0


def ms_ssim_settings(size: int, kernel_size: int = KERNEL_SIZE) -> tuple[int, tuple[float, ...]]:
    """Return (kernel_size, betas) for square images of ``size`` px: the most scales whose coarsest holds a window."""
    scales = 0
    for candidate in range(1, len(WANG_BETAS) + 1):
        coarsest = size / 2 ** (candidate - 1)
        # torchmetrics' own condition on the image size for len(betas) scales:
        torchmetrics_ok = size >= 2**candidate and size // max(1, candidate - 1) ** 2 > kernel_size - 1
        if coarsest >= kernel_size and torchmetrics_ok:
            scales = candidate
    if scales < 2:
        raise ValueError(f"images of {size} px are too small for multi-scale SSIM with a {kernel_size}-px window; "
                         f"use images of at least {2 * kernel_size} px (resize with torch.nn.functional.interpolate)")
    betas = WANG_BETAS[:scales]
    return kernel_size, tuple(b / sum(betas) for b in betas)


def pairwise_ms_ssim(images: torch.Tensor, n_pairs: int = 500, seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """Return (n_pairs,) MS-SSIM values between random pairs of distinct images from ``images`` (N, 3, H, W)."""
    check_finite_images(images, "images")
    if len(images) < 2:
        raise ValueError(f"images has {len(images)} image(s); pairs need at least 2")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square for the scale choice, got {tuple(images.shape[-2:])}; crop them first")
    kernel_size, betas = ms_ssim_settings(images.shape[-1])
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, len(images), (n_pairs,), generator=generator)
    # Adding 1..N-1 (mod N) to the first index gives a second image that is never the same one.
    second = (first + torch.randint(1, len(images), (n_pairs,), generator=generator)) % len(images)
    values = []
    for start in range(0, n_pairs, batch_size):
        a = (images[first[start : start + batch_size]].float() + 1) / 2  # [-1, 1] -> [0, 1]
        b = (images[second[start : start + batch_size]].float() + 1) / 2
        values.append(multiscale_structural_similarity_index_measure(
            a, b, gaussian_kernel=True, kernel_size=kernel_size, sigma=KERNEL_SIGMA, data_range=1.0,
            betas=betas, reduction="none", normalize="relu"))  # relu: negative c*s (anti-correlated) count as 0
    return torch.cat(values)


def mean_pairwise_ms_ssim(images: torch.Tensor, n_pairs: int = 500, seed: int = 0) -> float:
    """Return the mean MS-SSIM over random pairs of ``images`` (1 = all alike, near 0 = unrelated images)."""
    return float(pairwise_ms_ssim(images, n_pairs, seed).mean())
