r"""Preprocessing for dermoscopy images: geometry, value range, hair removal, colour constancy.

**Geometry.** Real dermoscopy images are rarely square (HAM10000: 600x450).
:func:`resize_and_center_crop` scales the image so that its *short* side equals
the target, then cuts the centre, so the lesion (usually centred) is kept and
nothing is stretched. Masks go through the same box with nearest-neighbour
sampling so they stay binary and aligned.

**Value range.** A generator that ends in :math:`\tanh` produces values in
:math:`[-1, 1]`, so real images are mapped the same way:

.. math::  x = \frac{v}{127.5} - 1, \qquad v = \operatorname{round}\big(127.5\,(x + 1)\big)

for an 8-bit value :math:`v \in \{0, \dots, 255\}` (:func:`to_tensor_minus1_1`,
:func:`from_tensor`).

**Hair removal (DullRazor).** Lee et al. (1997) remove hairs by a grey-level
morphological *closing* (which fills thin dark structures), a threshold on the
difference, and an interpolation of the pixels found. The difference between the
closing and the image is the *black-hat* transform

.. math::  B = (I \bullet D_r) - I ,

with :math:`D_r` a disk of radius :math:`r` wider than a hair. Pixels with
:math:`B > \tau` that form long thin components are hair; they are filled
from their surroundings (biharmonic inpainting or a median of the neighbourhood).

**Colour constancy (Shades of Grey).** Finlayson & Trezzi (2004) estimate the
colour of the illuminant per channel :math:`c` by the Minkowski :math:`p`-norm

.. math::  e_c = \Big(\frac{1}{N}\sum_{\mathbf{x}} I_c(\mathbf{x})^p\Big)^{1/p},

(:math:`p = 1` is Grey World, :math:`p \to \infty` is max-RGB; :math:`p = 6`
works best on dermoscopy, Barata et al. 2015) and correct each channel by a
von Kries gain :math:`I'_c = I_c \cdot \bar e / e_c` with :math:`\bar e` the
mean of the three estimates, so the overall brightness is kept.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
from PIL import Image

ImageLike = Union[Image.Image, np.ndarray]

__all__ = [
    "center_crop_box",
    "from_tensor",
    "hair_mask",
    "remove_hair",
    "resize_and_center_crop",
    "shades_of_grey",
    "to_tensor_minus1_1",
]


def _target_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """Return ``size`` as (width, height), checking it is positive."""
    if isinstance(size, (int, np.integer)):
        width = height = int(size)
    else:
        try:
            width, height = (int(v) for v in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or a (width, height) pair, got {size!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}; pass e.g. size=64")
    return width, height


def center_crop_box(width: int, height: int, size: int | tuple[int, int]) -> tuple[float, float, float, float]:
    """Return the (left, top, right, bottom) box of a ``width`` x ``height`` image that has the target's aspect ratio."""
    target_w, target_h = _target_size(size)
    # Scale that makes the short side (relative to the target) fit exactly: s = max(W/w, H/h).
    scale = max(target_w / width, target_h / height)
    crop_w, crop_h = target_w / scale, target_h / scale
    left, top = (width - crop_w) / 2.0, (height - crop_h) / 2.0
    return (left, top, left + crop_w, top + crop_h)


def resize_and_center_crop(
    image: ImageLike,
    size: int | tuple[int, int],
    resample: Image.Resampling | int = Image.Resampling.LANCZOS,
) -> ImageLike:
    """Return ``image`` scaled so its short side fits ``size`` and centre-cropped to it (same type as the input).

    ``image`` is a PIL image or a numpy array (H, W, C) / (H, W); a boolean
    array (a mask) is resampled with nearest neighbour whatever ``resample`` says
    and comes back boolean. ``size`` is an int (square) or (width, height).
    """
    target = _target_size(size)
    if isinstance(image, Image.Image):
        box = center_crop_box(image.width, image.height, target)
        if image.size == target and box == (0.0, 0.0, float(target[0]), float(target[1])):
            return image.copy()
        # PIL crops and resizes in one pass when given ``box`` (cheaper and exact).
        return image.resize(target, resample=resample, box=box)
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise ValueError(
            f"expected one image as (H, W) or (H, W, C), got shape {array.shape}; "
            "loop over a batch or pass a PIL image"
        )
    if array.dtype == bool:
        pil = Image.fromarray(array.astype(np.uint8) * 255)
        out = resize_and_center_crop(pil, target, Image.Resampling.NEAREST)
        return np.asarray(out) > 127
    if array.dtype != np.uint8:
        raise ValueError(
            f"numpy images must be uint8 (or bool masks), got {array.dtype}; "
            "convert with (x * 255).round().astype(np.uint8) first"
        )
    squeeze = array.ndim == 3 and array.shape[-1] == 1
    pil = Image.fromarray(array[..., 0] if squeeze else array)
    out = np.asarray(resize_and_center_crop(pil, target, resample))
    return out[..., None] if squeeze else out


def to_tensor_minus1_1(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return uint8 images (N, H, W, C) as a float32 tensor (N, C, H, W) in [-1, 1]."""
    array = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected uint8 images shaped (N, H, W, C) with C in (1, 3), got {array.dtype} {array.shape}; "
            "add a batch axis with images[None] or convert to uint8 first"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)
    return tensor.float().div_(127.5).sub_(1.0).contiguous()  # x = v / 127.5 - 1


def from_tensor(images: torch.Tensor) -> np.ndarray:
    """Return float images (N, C, H, W) in [-1, 1] as uint8 numpy images (N, H, W, C); the inverse of :func:`to_tensor_minus1_1`."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(
            f"expected a tensor shaped (N, C, H, W), got {type(images).__name__} "
            f"{tuple(getattr(images, 'shape', ()))}; add a batch axis with x[None]"
        )
    values = (images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5  # v = 127.5 (x + 1)
    return values.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _check_rgb_uint8(image: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{what} expects one RGB image shaped (H, W, 3), got {array.shape}; loop over a batch")
    if array.dtype != np.uint8:
        raise ValueError(f"{what} expects uint8 pixels, got {array.dtype}; use from_tensor() on [-1, 1] tensors first")
    return array


def hair_mask(
    image: np.ndarray,
    radius: int | None = None,
    threshold: float = 0.06,
    min_length: float | None = None,
) -> np.ndarray:
    """Return a bool (H, W) mask of the thin dark hairs in the RGB uint8 ``image`` (DullRazor's detection step).

    Black-hat :math:`B = (I \\bullet D_r) - I` on the grey image with a disk of
    radius ``radius`` (default: 1/25 of the short side, at least 2 px); pixels
    with ``B > threshold`` (grey in [0, 1]) are kept when they belong to a
    component at least ``min_length`` px long (default: 1/8 of the short side,
    at least 6 px; this drops the dots of a pigment network), then grown by 1 px
    to cover each hair's soft edge.
    """
    from skimage.color import rgb2gray
    from skimage.measure import label, regionprops
    from skimage.morphology import black_tophat, dilation, disk

    rgb = _check_rgb_uint8(image, "hair_mask")
    radius, min_length = _hair_scales(rgb, radius, min_length)
    grey = rgb2gray(rgb)                                       # I in [0, 1]
    black_hat = black_tophat(grey, footprint=disk(radius))      # B = closing(I, D_r) - I
    candidates = label(black_hat > threshold)                   # B > tau
    long_enough = np.zeros(candidates.max() + 1, dtype=bool)    # keep long thin components only
    for region in regionprops(candidates):
        long_enough[region.label] = region.axis_major_length >= min_length
    return dilation(long_enough[candidates], disk(1))           # cover the soft edge of each hair


def _hair_scales(rgb: np.ndarray, radius: int | None, min_length: float | None) -> tuple[int, float]:
    short_side = min(rgb.shape[:2])
    radius = int(radius) if radius is not None else max(2, round(short_side / 25))
    min_length = float(min_length) if min_length is not None else max(6.0, short_side / 8)
    if radius < 1:
        raise ValueError(f"radius must be at least 1 pixel, got {radius}")
    return radius, min_length


def remove_hair(
    image: np.ndarray,
    radius: int | None = None,
    threshold: float = 0.06,
    min_length: float | None = None,
    method: str = "median",
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Return a copy of the RGB uint8 ``image`` with thin dark hairs filled in (and the hair mask if ``return_mask``).

    Hairs are found by :func:`hair_mask` (``radius``, ``threshold``,
    ``min_length`` are passed on) and filled by ``method``: ``"median"``
    (median of the non-hair neighbourhood, robust) or ``"biharmonic"``
    (:func:`skimage.restoration.inpaint_biharmonic`, smoother).
    """
    rgb = _check_rgb_uint8(image, "remove_hair")
    if method not in ("median", "biharmonic"):
        raise ValueError(f"method must be 'median' or 'biharmonic', got {method!r}")
    hair = hair_mask(rgb, radius, threshold, min_length)
    radius, _ = _hair_scales(rgb, radius, min_length)
    if not hair.any():
        cleaned = rgb.copy()
    elif method == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        filled = inpaint_biharmonic(rgb.astype(np.float64) / 255.0, hair, channel_axis=-1)
        cleaned = np.clip(np.round(filled * 255.0), 0, 255).astype(np.uint8)
    else:
        cleaned = _median_fill(rgb, hair, radius)
    return (cleaned, hair) if return_mask else cleaned


def _median_fill(rgb: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """Return ``rgb`` with pixels under ``hole`` replaced by the median of the non-hole pixels around them."""
    from skimage.filters.rank import median
    from skimage.morphology import disk

    out = rgb.copy()
    footprint = disk(radius + 2)
    for channel in range(3):
        # ``mask`` leaves the hair pixels out of every neighbourhood, so the dark hair is not pulled back in.
        filled = median(rgb[..., channel], footprint=footprint, mask=~hole)
        out[..., channel][hole] = filled[hole]
    return out


def shades_of_grey(image: np.ndarray, p: float = 6.0) -> np.ndarray:
    """Return ``image`` (..., H, W, 3) colour-corrected by Shades of Grey with Minkowski norm ``p`` (same dtype).

    uint8 images use 0..255, float images are taken to be in [0, 1]; a batch
    (N, H, W, 3) is corrected image by image.
    """
    array = np.asarray(image)
    if array.ndim < 3 or array.shape[-1] != 3:
        raise ValueError(f"shades_of_grey expects RGB images shaped (..., H, W, 3), got {array.shape}")
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (1 = Grey World, inf = max-RGB), got {p!r}")
    is_uint8 = array.dtype == np.uint8
    values = array.astype(np.float64) / (255.0 if is_uint8 else 1.0)
    if np.isinf(p):
        estimate = values.max(axis=(-3, -2))                                   # e_c = max_x I_c(x)
    else:
        estimate = np.mean(values**p, axis=(-3, -2)) ** (1.0 / p)              # e_c = (mean I_c^p)^(1/p)
    estimate = np.maximum(estimate, 1e-6)
    gain = estimate.mean(axis=-1, keepdims=True) / estimate                   # von Kries: e_bar / e_c
    corrected = values * gain[..., None, None, :]
    if is_uint8:
        return np.clip(np.round(corrected * 255.0), 0, 255).astype(np.uint8)
    return np.clip(corrected, 0.0, 1.0).astype(array.dtype) if array.dtype.kind == "f" else corrected


def to_uint8_images(images) -> np.ndarray:
    """Return images as a uint8 array (N, H, W, 3) from uint8 NHWC or float NCHW in [-1, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype == np.uint8:
        return images if images.shape[-1] in (1, 3) else images.transpose(0, 2, 3, 1)
    if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    images = (np.clip(images, -1.0, 1.0) + 1.0) * 127.5
    out = np.round(images).astype(np.uint8)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out
