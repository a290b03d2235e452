r"""DermSynth: procedural dermoscopy-like skin lesions with masks, labels and known attributes.

Why a phantom?
    The kit must train and be tested with no network and no licence to accept,
    and evaluating a generator needs *ground truth*: for every DermSynth image we
    know the lesion mask, its class and the attributes that dermatologists read
    (ABCD rule: Asymmetry, Border, Colours, Diameter). Measuring the same
    attributes on generated images and comparing distributions is then possible,
    which no real dataset offers.

What an image is made of (all procedural, vectorised numpy, deterministic by seed)
    * **Skin** of a Fitzpatrick-like tone I-VI (weighted towards light skin as in
      HAM10000, but all present), with blotchy redness, fine texture and an
      illumination fall-off :math:`L(x) = 1 - k\,\lVert x - x_\ell \rVert^2`.
    * **Lesion shape**: a Fourier-perturbed ellipse. In the ellipse-normalised
      polar frame :math:`(\rho, \theta)` the boundary is

      .. math:: r(\theta) = 1 + \sum_{k=1}^{3} a_k \cos(k\theta + \phi_k)
                              + \sum_{k=4}^{16} b_k \cos(k\theta + \psi_k),

      low harmonics :math:`a_k` make the lesion lopsided (asymmetry), high
      harmonics :math:`b_k` make the border ragged (irregularity). The mask is
      :math:`d = \rho / r(\theta) < 1`.
    * **Soft border**: real lesion borders fade over about 5 px at 64 px. The
      lesion's opacity is a smoothstep of the signed distance to the boundary,
      :math:`s \approx (d - 1)\, r(\theta)\, R` (:math:`R` the equivalent radius),

      .. math:: \alpha = \operatorname{smoothstep}\!\big(\tfrac12 - s / w\big),

      so :math:`\alpha = 1/2` exactly where the mask ends (the mask is the lesion as
      a dermatologist would outline it, at the middle of the fade). The width
      :math:`w` is a fraction of the image width (per class, per image, and varying
      smoothly by +-40% around the lesion), so borders look the same at every size.
    * **Colour** follows a Beer-Lambert-like model: pigment lets a fraction
      :math:`T \in (0, 1]^3` of the skin's light through, so a pixel is

      .. math:: I = S \cdot L \cdot (1 - A), \qquad
                A = G_\sigma * \big[\alpha\, \delta\, (1 - T)\big],

      with :math:`S` the skin colour, :math:`\delta` a smoothly varying pigment density
      (+-25%, finely mottled) and :math:`G_\sigma` the optics' Gaussian point-spread
      function, :math:`\sigma` = ``OPTICAL_BLUR`` (1.3%) of the image width. A lesion is
      therefore darker than the skin on any skin tone, mainly in green and blue, as
      in real dermoscopy. :math:`T` is painted from the dermoscopic colours light
      brown, dark brown, black, blue-grey, red and white, as blotches and gradients
      with soft edges (e.g. nv-like pigment fades from a dark centre outwards); the
      blur then softens every painted structure as a lens would. The skin's pores are
      seen through the same optics, and so are the artefacts (hairs, ruler, bubbles, glints).
    * **Structures**: honeycomb pigment network (three plane waves 60 degrees apart), dots/globules, regression areas, lacunae,
      arborizing vessels, scale, milia-like cysts.
    * **Artefacts** (each switchable in :class:`PhantomConfig`): hairs, ruler
      marks, air bubbles, specular glints and the dark circular edge of the
      dermoscope (vignette, in about 13% of images as in HAM10000).

The seven classes use the DermaMNIST / HAM10000 label indices. They are named
"-like" because they are phantoms that borrow the look of a diagnosis, not
diagnoses:

=====  ============  =====================================================================
label  name          what it looks like here
=====  ============  =====================================================================
0      akiec-like    large, pink-red, scaly (white flakes), diffuse border
1      bcc-like      pinkish translucent, branching red vessels, blue-grey ovoid nests
2      bkl-like      waxy light brown, mottled, cerebriform fissures, milia-like cysts
3      df-like       small-medium brown ring with a delicate network and a pale centre
4      mel-like      larger, asymmetric, irregular border, 3-4 colours incl. black and blue-grey
5      nv-like       small, round, regular border, one or two browns, regular network/globules
6      vasc-like     small, red/purple lacunae separated by lighter septa
=====  ============  =====================================================================

Colours, lesion-area medians and artefact frequencies are calibrated on
published HAM10000 figures (skin pinkish with R > B > G; per-class median lesion
area fraction from 0.10 for vascular to 0.40 for actinic lesions; about 18% of
lesions touch the image border). Texture is calibrated on HAM10000 at 64 px
(:mod:`medgan_nb.metrics.texture`): power-spectrum slope about -3, border 10-90%
width about 5 px, low grey-level co-occurrence contrast inside the lesion; each
within 20% of the real medians over all classes (``benchmarks/bench_texture.py``).

Attributes (per image, in ``PhantomBatch.attributes``)
    ``area_fraction``  fraction of the image covered by the mask;
    ``asymmetry``      mirror asymmetry of the full lesion shape about its two
                       principal axes, :math:`|M \triangle M'| / (2|M|)` averaged
                       over both axes (0 = symmetric);
    ``border_irregularity``  compactness index :math:`P^2 / (4\pi A)` of the
                       continuous boundary (1 for a circle);
    ``n_colours``      how many of the six dermoscopic colours cover at least 5%
                       of the lesion;
    ``skin_tone``      Fitzpatrick-like type 1-6;
    ``has_hair``, ``has_ruler``, ``has_bubbles``, ``has_vignette``, ``has_glints``
                       whether the artefact is visible in the image;
    ``touches_border`` whether the mask reaches the image edge.

Determinism: image ``i`` of ``render_phantoms(n, seed=s, start=k)`` draws all its
random numbers from ``np.random.SeedSequence([s, k + i])``, so the same images
come out whatever the chunking (``render_phantoms(100)`` equals four calls of 25
with ``start=0, 25, 50, 75``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# The stages, and every top-level public name of the former phantom.py (constants included), importable from here.
from .artefacts import _add_bubbles, _add_glints, _add_hairs, _add_ruler, _add_vignette
from .config import (
    AKIEC,
    BCC,
    BKL,
    CLASS_NAMES,
    DF,
    DISPLAY_NAMES,
    HAM10000_COUNTS,
    MAX_SIZE,
    MEL,
    MIN_SIZE,
    NV,
    PRIOR_NAMES,
    VASC,
    PhantomConfig,
)
from .draws import _U_LABEL, _U_SWITCH, _draw
from .geometry import _geometry, _shape_attributes
from .optics import OPTICAL_BLUR, _optical_blur
from .painters import _paint
from .pigment import DERMOSCOPIC_COLOUR, DERMOSCOPIC_COLOURS, TRANSMISSION
from .raster import _value_noise
from .skin import SKIN_TONE_RGB, SKIN_TONE_WEIGHTS, _skin

__all__ = [
    "AKIEC", "BCC", "BKL", "CLASS_NAMES", "DERMOSCOPIC_COLOUR", "DERMOSCOPIC_COLOURS", "DF", "DISPLAY_NAMES",
    "HAM10000_COUNTS", "MAX_SIZE", "MEL", "MIN_SIZE", "NV", "OPTICAL_BLUR", "PRIOR_NAMES", "SKIN_TONE_RGB",
    "SKIN_TONE_WEIGHTS", "TRANSMISSION", "VASC", "PhantomBatch", "PhantomConfig", "render_phantoms",
]

_CHUNK = 64  # images rendered together: big enough to vectorise, small enough to stay in cache


@dataclass
class PhantomBatch:
    """Rendered phantoms: uint8 images (N,H,W,3), bool masks (N,H,W), int64 labels and attributes."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    attributes: dict[str, np.ndarray]

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.images)

    def to_tensor(self):
        """Return the images as a float32 torch tensor (N, 3, H, W) in [-1, 1]."""
        import torch

        return torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def render_phantoms(
    n: int,
    size: int = 64,
    seed: int = 0,
    config: PhantomConfig | None = None,
    start: int = 0,
    labels: Sequence[int] | np.ndarray | None = None,
) -> PhantomBatch:
    """Return a PhantomBatch of ``n`` DermSynth images (``size`` x ``size``), images ``start`` ... ``start+n-1`` of ``seed``.

    ``labels`` (optional, length ``n``) forces the class of each image instead of drawing
    it from ``config.class_priors``; everything else is still drawn from the image's seed.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a whole number >= 0 (how many images to render); got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}; got {size!r} "
            f"(render at a supported size and resize afterwards if you need another one)"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0; got {seed!r}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a whole number >= 0 (index of the first image); got {start!r}")
    config = PhantomConfig() if config is None else config
    if not isinstance(config, PhantomConfig):
        raise ValueError(f"config must be a PhantomConfig (or None for defaults); got {type(config).__name__}")
    forced = None
    if labels is not None:
        forced = np.asarray(labels)
        if forced.shape != (n,) or not np.issubdtype(forced.dtype, np.integer) or forced.size and (
            forced.min() < 0 or forced.max() >= len(CLASS_NAMES)
        ):
            raise ValueError(
                f"labels must be {n} whole numbers in 0..{len(CLASS_NAMES) - 1} ({', '.join(CLASS_NAMES)}); "
                f"got shape {forced.shape}"
            )
    size, n = int(size), int(n)
    images = np.empty((n, size, size, 3), np.uint8)            # chunks are written straight into these
    masks = np.empty((n, size, size), bool)
    parts = []
    for first in range(0, max(n, 1), _CHUNK):
        last = min(first + _CHUNK, n)
        parts.append(_render_chunk(np.arange(first, last) + start, size, int(seed), config,
                                   None if forced is None else forced[first:last],
                                   images[first:last], masks[first:last]))
    label_array = np.concatenate([p[0] for p in parts]).astype(np.int64)
    attributes = {key: np.concatenate([p[1][key] for p in parts]) for key in parts[0][1]}
    return PhantomBatch(images, masks, label_array, DISPLAY_NAMES, attributes)


# --------------------------------------------------------------------------------------
# Rendering one chunk. Images are held planar, (3, n, S, S), so that per-channel
# operations run over contiguous memory; they are transposed to (n, S, S, 3) at the end.
# --------------------------------------------------------------------------------------


def _render_chunk(indices: np.ndarray, size: int, seed: int, config: PhantomConfig,
                  forced_labels: np.ndarray | None, images: np.ndarray, masks: np.ndarray):
    """Render the images with global ``indices`` into ``images`` (n, S, S, 3) and ``masks``; return (labels, attributes)."""
    n = len(indices)
    uniforms, normals, grids = _draw(indices, seed)
    if forced_labels is not None:
        labels = np.asarray(forced_labels, dtype=np.int64)
    else:
        labels = np.searchsorted(np.cumsum(config.priors()), uniforms[:, _U_LABEL] * (1 - 1e-12), side="right")
        labels = np.minimum(labels, len(CLASS_NAMES) - 1).astype(np.int64)
    # Render the chunk sorted by class, so that each class painter works on a contiguous slice (views,
    # no copies); every image is computed on its own, so the order changes no pixel. Undone at the end.
    order = np.argsort(labels, kind="stable")
    uniforms, normals, grids, labels = uniforms[order], normals[order], grids[order], labels[order]
    u = uniforms.astype(np.float32)

    skin, tone = _skin(u, grids, size, config)
    shape = _geometry(labels, u, uniforms, normals, grids, size)
    transmission, n_colours = _paint(labels, shape, u, grids, size)
    # I = S L (1 - A), A = G_sigma * [alpha (1 - T)]: the lesion absorbs a fraction A of the skin's light,
    # seen through optics that blur it with a Gaussian G_sigma whose width scales with the image size
    absorbed = np.subtract(1.0, transmission, out=transmission)
    # pigment density varies smoothly (+-25%) and is finely mottled (+-8%)
    density = _value_noise(grids, "density", size)
    density *= 0.25
    density += 1.0
    density += 0.08 * _value_noise(grids, "fine", size)
    density *= shape.alpha
    absorbed *= density[None]
    absorbed = _optical_blur(absorbed)
    image = skin
    image *= np.subtract(1.0, absorbed, out=absorbed)

    switch = u[:, _U_SWITCH:_U_SWITCH + 16]
    everyone = np.arange(n)
    has_hair = np.zeros(n, bool)
    wants = {
        "hair": config.hairs & (switch[:, 0] < config.hair_probability),
        "ruler": config.ruler & (switch[:, 2] < config.ruler_probability),
        "bubbles": config.bubbles & (switch[:, 6] < config.bubble_probability),
        "glints": config.glints & (switch[:, 8] < config.glint_probability),
        "vignette": config.vignette & (switch[:, 10] < config.vignette_probability),
    }
    if wants["hair"].any():
        has_hair[everyone[wants["hair"]]] = _add_hairs(image, everyone[wants["hair"]], u, switch)
    if wants["ruler"].any():
        _add_ruler(image, everyone[wants["ruler"]], switch)
    if wants["bubbles"].any():
        _add_bubbles(image, everyone[wants["bubbles"]], u, switch)
    if wants["glints"].any():
        _add_glints(image, everyone[wants["glints"]], u, switch, shape)
    if wants["vignette"].any():
        _add_vignette(image, everyone[wants["vignette"]], switch)

    np.clip(image, 0.0, 255.0, out=image)
    image += 0.5                                                              # round when truncating
    images[order] = image.transpose(1, 2, 3, 0)                              # float -> uint8 truncates
    masks[order] = shape.masks
    masks = shape.masks
    asymmetry, irregularity = _shape_attributes(shape.axes, shape.angle, shape.boundary)
    edge_pixels = np.concatenate([masks[:, 0, :], masks[:, -1, :], masks[:, :, 0], masks[:, :, -1]], axis=1)
    attributes = {
        "area_fraction": masks.mean(axis=(1, 2)).astype(np.float32),
        "asymmetry": asymmetry.astype(np.float32),
        "border_irregularity": irregularity.astype(np.float32),
        "n_colours": n_colours.astype(np.int64),
        "skin_tone": tone.astype(np.int64),
        "has_hair": has_hair,
        "has_ruler": wants["ruler"].astype(bool),
        "has_bubbles": wants["bubbles"].astype(bool),
        "has_vignette": wants["vignette"].astype(bool),
        "has_glints": wants["glints"].astype(bool),
        "touches_border": edge_pixels.any(axis=1),
    }
    unsorted = np.argsort(order)                                              # back to the chunk's order
    return labels[unsorted], {key: value[unsorted] for key, value in attributes.items()}
