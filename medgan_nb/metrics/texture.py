r"""Texture, border softness and frequency content of lesion images, as measured on real dermoscopy.

Colour and size say little about whether an image *looks* like dermoscopy; texture does. Six figures
per image, each a median over many images, compare a set of lesion images with real HAM10000
(Tschandl et al. 2018) at 64 px (the course's image size). Grey is scikit-image's ``rgb2gray``
(:math:`Y = 0.2125R + 0.7154G + 0.0721B`, in 0..1).

* ``psd_slope``: the slope :math:`\beta` of the radially averaged power spectrum on log-log axes,

  .. math:: \log P(k) = \beta \log k + c, \qquad
            P(k) = \operatorname{mean}_{k \le |f| < k+1} \lvert \mathcal{F}[Y - \bar Y](f) \rvert^2,
            \quad k = 2, \dots, 24 \text{ cycles per image}.

  White noise has :math:`\beta = 0`, a Brownian (1/f^2) field :math:`\beta = -2`; more negative means
  smoother, less fine detail. Real dermoscopy at 64 px: about -3.1.
* ``border_width``: how many pixels the grey level takes to rise from 10% to 90% of the way from the
  lesion to the skin. Pixels are grouped into rings of equal signed distance :math:`s` to the mask edge
  (:math:`s = \pm(\mathrm{EDT} - \tfrac12)`, negative inside, rings 1 px wide centred on
  :math:`s = -5.5, \dots, +5.5`), the ring means form the profile :math:`g(s)`, and with
  :math:`t(s) = (g(s) - g_{in}) / (g_{out} - g_{in})` made non-decreasing,
  :math:`w = s(t{=}0.9) - s(t{=}0.1)`. A hard edge gives 0.8 px; real lesions about 5 px.
* ``glcm_contrast`` :math:`\sum_{ij} P_{ij}(i-j)^2` and ``glcm_homog``
  :math:`\sum_{ij} P_{ij} / (1 + (i-j)^2)` of the grey-level co-occurrence matrix :math:`P`
  (Haralick et al. 1973; 32 levels, distance 1, angles 0, 45, 90, 135 degrees, averaged) inside the
  lesion's bounding box: how much neighbouring pixels differ.
* ``grad_lesion``, ``grad_skin``: mean Sobel gradient magnitude inside the lesion and inside the skin,
  each mask eroded by 2 px so the border itself is left out; ``std_lesion``, ``std_skin``: standard
  deviation of grey in the same regions.

:data:`HAM10000_TEXTURE` holds the real medians (150 HAM10000 images per class, centre-cropped to a
square and resized to 64 x 64 bilinear; masks nearest neighbour), so any set of images can be put beside
them with :func:`texture_table` and :func:`compare_with_ham10000`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.feature import graycomatrix, graycoprops
from skimage.filters import sobel

#: The figures :func:`texture_figures` returns, in display order.
TEXTURE_FIGURES: tuple[str, ...] = (
    "psd_slope", "border_width", "glcm_contrast", "glcm_homog", "grad_lesion", "std_lesion", "grad_skin", "std_skin",
)

#: Medians measured on real HAM10000 at 64 px, per diagnosis and for all (skin figures for all only).
HAM10000_TEXTURE: dict[str, dict[str, float]] = {
    "akiec": dict(psd_slope=-2.97, border_width=4.6, glcm_contrast=1.16, glcm_homog=0.69, grad_lesion=0.036, std_lesion=0.073),
    "bcc": dict(psd_slope=-2.95, border_width=5.1, glcm_contrast=1.09, glcm_homog=0.70, grad_lesion=0.037, std_lesion=0.071),
    "bkl": dict(psd_slope=-2.99, border_width=4.7, glcm_contrast=1.14, glcm_homog=0.68, grad_lesion=0.036, std_lesion=0.072),
    "df": dict(psd_slope=-2.93, border_width=6.6, glcm_contrast=0.77, glcm_homog=0.72, grad_lesion=0.030, std_lesion=0.061),
    "mel": dict(psd_slope=-3.30, border_width=4.7, glcm_contrast=1.77, glcm_homog=0.63, grad_lesion=0.048, std_lesion=0.097),
    "nv": dict(psd_slope=-3.26, border_width=5.8, glcm_contrast=1.13, glcm_homog=0.68, grad_lesion=0.041, std_lesion=0.084),
    "vasc": dict(psd_slope=-3.39, border_width=5.5, glcm_contrast=2.28, glcm_homog=0.60, grad_lesion=0.047, std_lesion=0.071),
    "all": dict(psd_slope=-3.09, border_width=5.2, glcm_contrast=1.25, glcm_homog=0.67, grad_lesion=0.040, std_lesion=0.076,
                grad_skin=0.016, std_skin=0.039),
}

PSD_BAND = (2, 24)      # cycles per image fitted by psd_slope
BORDER_REACH = 5.5      # border profile runs from 5.5 px inside to 5.5 px outside the mask edge
GLCM_LEVELS = 32
ERODE_PX = 2            # regions for gradient and std leave out 2 px next to the border
_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def _grey(image: np.ndarray) -> np.ndarray:
    """Return the grey image (H, W) in 0..1 of an RGB image (uint8 0..255 or float 0..1), or a grey one unchanged."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        return rgb2gray(image)
    if image.ndim == 2:
        return image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
    raise ValueError(f"expected an RGB image (H, W, 3) or a grey image (H, W); got shape {image.shape}")


def power_spectrum_slope(grey: np.ndarray, band: tuple[int, int] = PSD_BAND) -> float:
    """Return the log-log slope of the radially averaged power spectrum of ``grey`` over ``band`` cycles per image."""
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or grey.shape[0] != grey.shape[1]:
        raise ValueError(f"power_spectrum_slope needs a square grey image (H, H); got shape {grey.shape}")
    size = grey.shape[0]
    low, high = band
    if not 1 <= low < high < size // 2:
        raise ValueError(
            f"band {band!r} must satisfy 1 <= low < high < size/2 = {size // 2} (Nyquist) for a {size} px image; "
            f"use a larger image or a narrower band"
        )
    power = np.abs(np.fft.fft2(grey - grey.mean())) ** 2                   # |F[Y - mean Y](f)|^2
    frequency = np.fft.fftfreq(size) * size                                 # cycles per image
    ring = np.hypot(frequency[:, None], frequency[None, :]).astype(int)     # k <= |f| < k + 1
    mean_power = np.bincount(ring.ravel(), power.ravel()) / np.bincount(ring.ravel())
    k = np.arange(low, high + 1)
    return float(np.polyfit(np.log(k), np.log(mean_power[k]), 1)[0])       # beta in log P = beta log k + c


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Return each pixel's distance to the mask edge (pixels), negative inside: +-(EDT - 1/2)."""
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return np.where(mask, 0.5 - inside, outside - 0.5)


def border_profile(grey: np.ndarray, mask: np.ndarray, reach: float = BORDER_REACH) -> tuple[np.ndarray, np.ndarray]:
    """Return (ring centres s, mean grey g(s)) across the mask edge, NaN where a ring is empty."""
    grey, mask = np.asarray(grey, dtype=np.float64), np.asarray(mask, dtype=bool)
    if grey.shape != mask.shape:
        raise ValueError(f"grey {grey.shape} and mask {mask.shape} must have the same shape")
    centres = np.arange(-reach, reach + 0.5, 1.0)
    ring = np.floor(_signed_distance(mask) - centres[0] + 0.5).astype(int)  # ring 0 is centred on s = -reach
    keep = (ring >= 0) & (ring < len(centres))
    total = np.bincount(ring[keep], grey[keep], minlength=len(centres))
    count = np.bincount(ring[keep], minlength=len(centres))
    with np.errstate(invalid="ignore", divide="ignore"):
        return centres, total / count


def border_width(grey: np.ndarray, mask: np.ndarray, reach: float = BORDER_REACH) -> float:
    """Return the 10-90% rise distance (pixels) of grey across the mask edge; NaN if there is no edge or no rise."""
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return float("nan")
    centres, profile = border_profile(grey, mask, reach)
    filled = ~np.isnan(profile)
    if filled.sum() < 4:
        return float("nan")
    centres, profile = centres[filled], profile[filled]
    g_in, g_out = profile[0], profile[-1]
    if g_out <= g_in:                        # no rise from lesion to skin: the width is undefined
        return float("nan")
    rise = np.maximum.accumulate((profile - g_in) / (g_out - g_in))  # t(s), made non-decreasing
    return float(np.interp(0.9, rise, centres) - np.interp(0.1, rise, centres))


def cooccurrence_figures(grey: np.ndarray, mask: np.ndarray, levels: int = GLCM_LEVELS) -> tuple[float, float]:
    """Return (GLCM contrast, GLCM homogeneity) of ``grey`` inside the bounding box of ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return float("nan"), float("nan")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.asarray(grey)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    quantised = np.rint(np.clip(box, 0.0, 1.0) * (levels - 1)).astype(np.uint8)   # grey 0..1 -> levels 0..L-1
    matrix = graycomatrix(quantised, [1], _ANGLES, levels=levels, symmetric=True, normed=True)
    return float(graycoprops(matrix, "contrast").mean()), float(graycoprops(matrix, "homogeneity").mean())


def texture_figures(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Return the eight figures of :data:`TEXTURE_FIGURES` for one RGB image and its lesion mask."""
    grey = _grey(image)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grey.shape:
        raise ValueError(f"mask shape {mask.shape} must match the image's height and width {grey.shape}")
    contrast, homogeneity = cooccurrence_figures(grey, mask)
    gradient = sobel(grey)                                   # sqrt((G_x^2 + G_y^2) / 2)
    figures = {"psd_slope": power_spectrum_slope(grey), "border_width": border_width(grey, mask),
               "glcm_contrast": contrast, "glcm_homog": homogeneity}
    for name, region in (("lesion", mask), ("skin", ~mask)):
        core = ndimage.binary_erosion(region, iterations=ERODE_PX)   # the image edge counts as outside
        figures[f"grad_{name}"] = float(gradient[core].mean()) if core.any() else float("nan")
        figures[f"std_{name}"] = float(grey[core].std()) if core.any() else float("nan")
    return figures


def texture_table(images: np.ndarray, masks: np.ndarray, labels: Sequence[int] | np.ndarray,
                  class_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Return the median of every texture figure per class (keyed by ``class_names``) and over all images ("all")."""
    images, masks, labels = np.asarray(images), np.asarray(masks, dtype=bool), np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3 or masks.shape != images.shape[:3] or labels.shape != images.shape[:1]:
        raise ValueError(
            f"texture_table needs images (N, H, W, 3), masks (N, H, W) and labels (N,); got {images.shape}, "
            f"{masks.shape} and {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must lie in 0..{len(class_names) - 1} ({', '.join(class_names)}); "
                         f"got {labels.min()}..{labels.max()}")
    per_image = [texture_figures(image, mask) for image, mask in zip(images, masks)]
    values = {name: np.array([row[name] for row in per_image], dtype=np.float64) for name in TEXTURE_FIGURES}
    groups = {name: labels == label for label, name in enumerate(class_names)}
    groups["all"] = np.ones(len(labels), dtype=bool)
    table = {}
    for group, chosen in groups.items():
        table[group] = {name: (float(np.nanmedian(column[chosen])) if np.isfinite(column[chosen]).any()
                               else float("nan")) for name, column in values.items()}
    return table


def compare_with_ham10000(table: dict[str, dict[str, float]]) -> list[dict[str, float | str]]:
    """Return rows (group, figure, measured, real, ratio measured/real) for every figure HAM10000 has a median of."""
    rows = []
    for group, real in HAM10000_TEXTURE.items():
        if group not in table:
            continue
        for name, real_value in real.items():
            measured = table[group][name]
            rows.append({"group": group, "figure": name, "measured": measured, "real": real_value,
                         "ratio": measured / real_value})
    return rows
