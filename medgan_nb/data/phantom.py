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

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
DISPLAY_NAMES: tuple[str, ...] = tuple(f"{name}-like" for name in CLASS_NAMES)
AKIEC, BCC, BKL, DF, MEL, NV, VASC = range(len(CLASS_NAMES))

#: Number of images per diagnosis in HAM10000 (Tschandl et al. 2018).
HAM10000_COUNTS: dict[str, int] = {
    "nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115,
}
PRIOR_NAMES = ("uniform", "ham10000")
MIN_SIZE, MAX_SIZE = 28, 256

#: Dermoscopic skin colour (RGB, 0-255) of Fitzpatrick-like types I-VI; types I-II give the HAM10000 median once lit.
SKIN_TONE_RGB = np.array(
    [
        (236, 186, 192),  # I
        (218, 170, 176),  # II
        (198, 150, 146),  # III
        (160, 112, 100),  # IV
        (122, 84, 70),    # V
        (86, 58, 48),     # VI
    ],
    dtype=np.float32,
)
#: How often each skin type is drawn (light skin dominates HAM10000, but every type appears).
SKIN_TONE_WEIGHTS = np.array([0.22, 0.38, 0.22, 0.10, 0.05, 0.03])

#: Light transmission T (fraction of the skin's R, G, B that comes back) of each painted colour.
TRANSMISSION: dict[str, tuple[float, float, float]] = {
    "light_brown": (0.84, 0.64, 0.60),
    "dark_brown": (0.58, 0.40, 0.36),
    "black": (0.28, 0.22, 0.23),
    "blue_grey": (0.56, 0.57, 0.70),
    "red": (0.86, 0.46, 0.56),
    "pink": (0.93, 0.75, 0.78),
    "purple": (0.70, 0.36, 0.56),
    "white": (1.05, 1.07, 1.08),
    "tan": (0.86, 0.72, 0.66),
}
#: The six colours of the dermoscopic ABCD rule each painted colour counts as.
DERMOSCOPIC_COLOUR = {
    "light_brown": "light_brown", "tan": "light_brown", "dark_brown": "dark_brown",
    "black": "black", "blue_grey": "blue_grey", "red": "red", "pink": "red",
    "purple": "red", "white": "white",
}
DERMOSCOPIC_COLOURS = ("light_brown", "dark_brown", "black", "blue_grey", "red", "white")

# Per-class shape: median lesion area fraction (HAM10000), spread of log(area),
# largest elongation, amplitude of low (asymmetry) and high (irregularity) harmonics,
# full width of the soft edge (fraction of the image width).
_CLASS_SHAPE = {
    #        area  log_sd  elong  low    high   edge
    AKIEC: (0.40, 0.40, 1.45, 0.09, 0.030, 0.16),
    BCC: (0.23, 0.45, 1.50, 0.09, 0.030, 0.125),
    BKL: (0.27, 0.45, 1.55, 0.07, 0.030, 0.125),
    DF: (0.26, 0.35, 1.30, 0.04, 0.015, 0.17),
    MEL: (0.33, 0.40, 1.75, 0.20, 0.070, 0.14),
    NV: (0.20, 0.45, 1.25, 0.025, 0.008, 0.13),
    VASC: (0.10, 0.45, 1.45, 0.05, 0.015, 0.15),
}
_SHAPE_TABLE = np.array([_CLASS_SHAPE[c] for c in range(len(CLASS_NAMES))], dtype=np.float64)

_N_HARMONICS = 16
_N_ANGLES = 256  # samples of the boundary r(theta)
_MAX_HAIRS, _MAX_BUBBLES, _MAX_GLINTS, _MAX_DOTS = 8, 5, 15, 24
_N_TRUNKS, _N_LEVELS = 3, 3  # arborizing vessels: 3 trunks, each forking twice
_N_SEGMENTS = _N_TRUNKS * (2**_N_LEVELS - 1)

# Layout of the per-image uniform draws U (columns), so every image consumes the same stream.
_U_LABEL, _U_TONE, _U_TONE_JITTER, _U_CENTRE, _U_ANGLE, _U_ELONG = 0, 1, 2, 3, 5, 6
_U_LIGHT, _U_GAMMA, _U_EDGE, _U_TEXTURE = 8, 11, 12, 13
_U_PHASES = 16                                   # 16 harmonic phases
_U_SWITCH = 32                                   # artefact switches and counts (16)
_U_HAIRS = 48                                    # 8 hairs x 6
_U_BUBBLES = 96                                  # 5 bubbles x 3
_U_GLINTS = 111                                  # 15 glints x 2
_U_PAINT = 141                                   # 40 class-painter values
_U_DOTS = 181                                    # 24 dots x 3
_U_VESSELS = 253                                 # trunks (3 x 2) + segments (21 x 2)
_N_UNIFORM = _U_VESSELS + 2 * _N_TRUNKS + 2 * _N_SEGMENTS
_N_NORMAL = 1 + _N_HARMONICS

# Value-noise grids (cells per side) drawn per image; upsampled to the image size.
_NOISE_GRIDS = {"skin": 5, "blotch_a": 5, "blotch_b": 6, "blotch_c": 7, "warp_u": 6, "warp_v": 6, "fine": 14,
                "edge": 4, "density": 5}
_NOISE_OFFSET: dict[str, int] = {}
_offset = 0
for _name, _cells in _NOISE_GRIDS.items():
    _NOISE_OFFSET[_name] = _offset
    _offset += _cells * _cells
_N_NOISE = _offset
#: Gaussian point-spread function of the dermoscope's optics: sigma as a fraction of the image width.
OPTICAL_BLUR = 0.013
_CHUNK = 64  # images rendered together: big enough to vectorise, small enough to stay in cache


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of the DermSynth phantom: class priors, skin tones and artefacts (each switchable)."""

    class_priors: str | tuple[float, ...] = "uniform"  # "uniform", "ham10000" or 7 weights in label order
    skin_tones: tuple[int, int] = (1, 6)  # smallest and largest Fitzpatrick-like type drawn
    hairs: bool = True
    ruler: bool = True
    bubbles: bool = True
    vignette: bool = True
    glints: bool = True
    hair_probability: float = 0.35
    ruler_probability: float = 0.08
    bubble_probability: float = 0.10
    vignette_probability: float = 0.13
    glint_probability: float = 0.15

    def __post_init__(self) -> None:
        priors = self.class_priors
        if isinstance(priors, str):
            if priors not in PRIOR_NAMES:
                raise ValueError(
                    f"unknown class_priors {priors!r}; use 'uniform', 'ham10000' "
                    f"or {len(CLASS_NAMES)} non-negative weights in the order {CLASS_NAMES}"
                )
        else:
            weights = np.asarray(priors, dtype=float)
            if weights.shape != (len(CLASS_NAMES),) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(
                    f"class_priors must be 'uniform', 'ham10000' or {len(CLASS_NAMES)} non-negative "
                    f"weights (not all zero) in the order {CLASS_NAMES}; got {priors!r}"
                )
            object.__setattr__(self, "class_priors", tuple(float(w) for w in weights))
        low, high = self.skin_tones
        if not (1 <= low <= high <= 6) or int(low) != low or int(high) != high:
            raise ValueError(
                f"skin_tones must be two whole numbers 1 <= low <= high <= 6 (Fitzpatrick-like types); "
                f"got {self.skin_tones!r}, e.g. use (1, 6) for all tones"
            )
        for field in dataclasses.fields(self):
            if field.name.endswith("_probability"):
                value = getattr(self, field.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{field.name} must be a probability in [0, 1]; got {value!r}")

    @classmethod
    def clean(cls, **overrides) -> "PhantomConfig":
        """Return a config with every artefact switched off (other fields may be overridden)."""
        off = dict(hairs=False, ruler=False, bubbles=False, vignette=False, glints=False)
        off.update(overrides)
        return cls(**off)

    @property
    def artefacts(self) -> bool:
        """Return True when at least one artefact is switched on."""
        return self.hairs or self.ruler or self.bubbles or self.vignette or self.glints

    def priors(self) -> np.ndarray:
        """Return the class probabilities (7, summing to 1) in label order."""
        if self.class_priors == "uniform":
            weights = np.ones(len(CLASS_NAMES))
        elif self.class_priors == "ham10000":
            weights = np.array([HAM10000_COUNTS[name] for name in CLASS_NAMES], dtype=float)
        else:
            weights = np.asarray(self.class_priors, dtype=float)
        return weights / weights.sum()


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
# Building blocks
# --------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Return 3x^2 - 2x^3 of x clipped to [0, 1] (a soft 0 -> 1 ramp), overwriting ``x`` if ``in_place``."""
    x = np.clip(x, 0.0, 1.0, out=x if in_place else None)
    slope = x * -2.0
    slope += 3.0
    x *= x
    x *= slope
    return x


@lru_cache(maxsize=64)
def _interpolation_matrix(cells: int, size: int) -> np.ndarray:
    """Return the (size, cells) matrix that smoothly interpolates a grid of ``cells`` values onto ``size`` pixels."""
    # Hand-written because a separable matrix product upsamples a whole batch of grids in
    # two matmuls, much faster than calling skimage.transform.resize image by image.
    position = (np.arange(size) + 0.5) / size * (cells - 1)
    left = np.clip(np.floor(position).astype(int), 0, cells - 2)
    frac = _smoothstep(position - left)
    matrix = np.zeros((size, cells), dtype=np.float32)
    matrix[np.arange(size), left] = 1.0 - frac
    matrix[np.arange(size), left + 1] = frac
    return matrix


def _value_noise(grids: np.ndarray, name: str, size: int) -> np.ndarray:
    """Return smooth noise images (n, size, size) in about [-1, 1] from the per-image grid ``name``."""
    cells = _NOISE_GRIDS[name]
    offset = _NOISE_OFFSET[name]
    grid = grids[:, offset:offset + cells * cells].reshape(-1, cells, cells) * 2.0 - 1.0
    matrix = _interpolation_matrix(cells, size)
    return matrix @ grid.astype(np.float32) @ matrix.T


@lru_cache(maxsize=16)
def _texture_tile(size: int) -> np.ndarray:
    """Return a fixed (2*size, 2*size) skin-texture tile (zero mean, unit std); images use random crops of it."""
    # Cropping one cached tile at a per-image random offset is ~50x cheaper than drawing
    # size*size fresh normals per image, and stays deterministic per image.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(20_240_101)
    white = rng.standard_normal((2 * size, 2 * size))
    # pores about size/96 px across, seen through the same optics as the lesion (OPTICAL_BLUR)
    pore_sigma = max(0.6, size / 96)
    tile = gaussian_filter(white, sigma=np.hypot(pore_sigma, OPTICAL_BLUR * size), mode="wrap")
    return ((tile - tile.mean()) / tile.std()).astype(np.float32)


@lru_cache(maxsize=16)
def _blur_blocks(size: int) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """Return the optics' 1-D Gaussian blur (sigma = OPTICAL_BLUR * size) as band blocks (start, stop, lo, hi, B[start:stop, lo:hi])."""
    # The blur is the matrix B that scipy's gaussian_filter1d applies (its response to each unit
    # impulse, reflecting at the edges), used as matrix products B X B^T: BLAS runs a whole batch
    # far faster than filtering image by image. B is banded (zero beyond 4 sigma), so it is cut into
    # blocks of rows that each only touch the columns lo:hi, which skips the zeros.
    from scipy.ndimage import gaussian_filter1d

    matrix = gaussian_filter1d(np.eye(size, dtype=np.float32), OPTICAL_BLUR * size, axis=0, mode="reflect")
    rows, columns = np.nonzero(matrix)
    reach = int(np.abs(rows - columns).max())
    width = max(16, 2 * reach)
    blocks = []
    for start in range(0, size, width):
        stop = min(start + width, size)
        lo, hi = max(0, start - reach), min(size, stop + reach)
        blocks.append((start, stop, lo, hi, np.ascontiguousarray(matrix[start:stop, lo:hi])))
    return tuple(blocks)


def _optical_blur(layers: np.ndarray) -> np.ndarray:
    """Blur ``layers`` (C, n, S, S) in place by the optics' Gaussian point-spread function; return them."""
    # One matrix product per image (stacked matmul), so each image's result is the same whatever the
    # batch; results go back into ``layers`` through one scratch buffer, because fresh large arrays
    # (page faults) cost more here than the arithmetic.
    blocks = _blur_blocks(layers.shape[-1])
    scratch = np.empty_like(layers[0])
    for layer in layers:
        for start, stop, lo, hi, band in blocks:                               # along x: X B^T
            np.matmul(layer[..., lo:hi], band.T, out=scratch[..., start:stop])
        for start, stop, lo, hi, band in blocks:                               # along y: B (X B^T)
            np.matmul(band, scratch[:, lo:hi, :], out=layer[:, start:stop, :])
    return layers


def _splat(count: int, size: int, image: np.ndarray, y: np.ndarray, x: np.ndarray,
           radius: np.ndarray | float) -> np.ndarray:
    """Return coverage (count, size, size) in [0, 1] of anti-aliased discs at pixel positions (y, x)."""
    # Hand-written splatting: skimage.draw works one shape and one image at a time, while
    # this draws every dot, hair sample and vessel of a whole batch in one np.bincount.
    y, x = np.ravel(y).astype(np.float32), np.ravel(x).astype(np.float32)
    image = np.broadcast_to(np.asarray(image), np.shape(y)).ravel() if np.ndim(image) == 0 else np.ravel(image)
    radius = np.asarray(radius, dtype=np.float32)
    radius = np.full(y.shape, float(radius), np.float32) if radius.ndim == 0 else radius.ravel()
    reach = float(radius.max()) + 0.5 if y.size else 0.0
    near = (y > -reach - 1) & (y < size + reach) & (x > -reach - 1) & (x < size + reach)
    if not near.any():
        return np.zeros((count, size, size), np.float32)
    y, x, image, radius = y[near], x[near], image[near], radius[near]   # discs that can touch the image
    # pixel iy is reached when |iy - y| <= r + 1/2, i.e. floor(y) + step for step in [-(r+1/2), r+3/2]
    step = np.arange(int(np.ceil(-reach)), int(np.floor(reach + 1.0)) + 1, dtype=np.int32)
    dy, dx = (grid.ravel()[None] for grid in np.meshgrid(step, step, indexing="ij"))
    floor_y, floor_x = np.floor(y), np.floor(x)
    offset_y = (floor_y - y)[:, None] + dy.astype(np.float32)           # candidate pixel centre - disc centre
    offset_x = (floor_x - x)[:, None] + dx.astype(np.float32)
    offset_y *= offset_y
    offset_y += offset_x * offset_x
    weight = radius[:, None] + 0.5 - np.sqrt(offset_y, out=offset_y)      # coverage of the pixel, before clipping
    np.clip(weight, 0.0, 1.0, out=weight)
    row = floor_y.astype(np.int32)[:, None] + dy
    column = floor_x.astype(np.int32)[:, None] + dx
    on_image = (row.view(np.uint32) < size) & (column.view(np.uint32) < size)   # negatives wrap to huge
    weight *= on_image                          # off-image pixels add nothing ...
    flat = (image.astype(np.int32)[:, None] * size + row) * size + column
    flat *= on_image                            # ... and are sent to index 0 instead of out of range
    coverage = np.bincount(flat.ravel(), weight.ravel(), minlength=count * size * size)
    return np.minimum(coverage, 1.0).astype(np.float32).reshape(count, size, size)


def _colour(name: str, gamma: np.ndarray) -> np.ndarray:
    """Return per-image transmissions (n, 3) of colour ``name``, darkened/lightened by exponent ``gamma``."""
    return np.asarray(TRANSMISSION[name], dtype=np.float32)[None, :] ** gamma[:, None]


# --------------------------------------------------------------------------------------
# Per-image random draws
# --------------------------------------------------------------------------------------


def _draw(indices: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the uniforms (n, U), normals (n, Z) and noise grids (n, G) of images ``indices``."""
    uniforms = np.empty((len(indices), _N_UNIFORM))
    normals = np.empty((len(indices), _N_NORMAL))
    grids = np.empty((len(indices), _N_NOISE), dtype=np.float32)
    for row, index in enumerate(indices):
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(index)]))
        uniforms[row] = rng.random(_N_UNIFORM)
        normals[row] = rng.standard_normal(_N_NORMAL)
        grids[row] = rng.random(_N_NOISE)
    return uniforms, normals, grids


# --------------------------------------------------------------------------------------
# Class painters: each returns the lesion's base colour and painted components
# [(colour name, transmission (n, 3), weight (n, S, S)), ...] in painting order.
# --------------------------------------------------------------------------------------


@dataclass
class _Lesion:
    """Geometry and random draws of the images of one class inside a chunk."""

    d: np.ndarray          # (n, S, S) normalised radius: 0 at the centre, 1 on the boundary
    along: np.ndarray      # (n, S, S) offset along the lesion's long axis (image widths)
    across: np.ndarray     # (n, S, S) offset across it (image widths)
    radius: np.ndarray     # (n,) equivalent radius (image widths)
    centre: np.ndarray     # (n, 2) centre (x, y) in image widths, 0 = image centre
    angle: np.ndarray      # (n,) orientation of the long axis (radians)
    axes: np.ndarray       # (n, 2) semi-axes (image widths)
    boundary: np.ndarray   # (n, _N_ANGLES) r(theta)
    u: np.ndarray          # (n, _N_UNIFORM) uniforms
    grids: np.ndarray      # (n, _N_NOISE) noise grids
    gamma: np.ndarray      # (n,) colour exponent (darker > 1 > lighter)
    size: int

    def noise(self, name: str) -> np.ndarray:
        """Return the smooth noise field ``name`` (n, S, S) in about [-1, 1] (computed once per lesion group)."""
        cache = self.__dict__.setdefault("_noise", {})
        if name not in cache:
            cache[name] = _value_noise(self.grids, name, self.size)
        return cache[name]

    def points(self, d: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return pixel coordinates (y, x) of lesion points at normalised radius d and angle theta (n, k)."""
        bins = (np.mod(theta, 2 * np.pi) / (2 * np.pi) * _N_ANGLES).astype(int) % _N_ANGLES
        r = np.take_along_axis(self.boundary, bins, axis=1) * d
        return self.to_pixels(self.axes[:, :1] * r * np.cos(theta), self.axes[:, 1:] * r * np.sin(theta))

    def to_pixels(self, along: np.ndarray, across: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return pixel coordinates (y, x) of lesion-frame offsets (image widths) of shape (n, k)."""
        cos, sin = np.cos(self.angle)[:, None], np.sin(self.angle)[:, None]
        x = self.centre[:, :1] + along * cos - across * sin
        y = self.centre[:, 1:] + along * sin + across * cos
        return (y + 0.5) * self.size - 0.5, (x + 0.5) * self.size - 0.5

    def dots(self, first: int, count: np.ndarray, d_low: float, d_high: float,
             radius_px: tuple[float, float]) -> np.ndarray:
        """Return coverage (n, S, S) of up to ``_MAX_DOTS`` dots between normalised radii d_low and d_high."""
        n = len(self.d)
        u = self.u[:, _U_DOTS:_U_DOTS + 3 * _MAX_DOTS].reshape(n, _MAX_DOTS, 3)
        d = d_low + (d_high - d_low) * np.sqrt(u[..., 0])
        theta = 2 * np.pi * u[..., 1] + first
        y, x = self.points(d, theta)
        scale = self.size / 64
        radius = np.maximum(0.45, (radius_px[0] + (radius_px[1] - radius_px[0]) * u[..., 2]) * scale)
        active = np.arange(_MAX_DOTS)[None] < count[:, None]
        image = np.broadcast_to(np.arange(n)[:, None], active.shape)
        return _splat(n, self.size, image[active], y[active], x[active], radius[active])


def _network(lesion: _Lesion, spacing: np.ndarray, warp: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Return a honeycomb-like pigment-network pattern (n, S, S) in [0, 1]: 1 on the lines."""
    # Three plane waves 60 degrees apart sum to a hexagonal lattice of bright holes,
    # p = sum_j cos(2 pi e_j . x / spacing) in [-1.5, 3]; the low valleys between holes
    # form a connected web, the pigment network. Smooth noise warps x so it is not a perfect lattice.
    spacing = np.maximum(spacing, 3.0 / lesion.size)[:, None, None]
    warp = warp[:, None, None]
    a = (lesion.along + warp * 0.03 * lesion.noise("warp_u")) * (2 * np.pi / spacing)
    b = (lesion.across + warp * 0.03 * lesion.noise("warp_v")) * (2 * np.pi / spacing)
    half = np.cos(0.5 * a)   # cos(a) + cos(a/2 + 0.866 b) + cos(a/2 - 0.866 b) = 2h^2 - 1 + 2h cos(0.866 b)
    lattice = 2.0 * half * (half + np.cos(0.866 * b)) - 1.0
    width = np.reshape(np.asarray(width, np.float32), (-1, 1, 1))
    return _smoothstep((0.2 - lattice) / (4.0 * width))


def _paint_nv(lesion: _Lesion):
    """nv-like: one or two browns, darker centre, regular network or globules."""
    u = lesion.u[:, _U_PAINT:]
    base = np.where((u[:, 0] < 0.5)[:, None], _colour("light_brown", lesion.gamma * 0.8),
                    _colour("light_brown", lesion.gamma * 1.05))
    components = []
    # pigment fades from a dark centre to a light periphery
    strength = np.where(u[:, 1] < 0.6, 1.0, 0.7)[:, None, None]
    centre_radius = (0.4 + 0.3 * u[:, 2])[:, None, None]
    centre = _smoothstep((centre_radius - lesion.d + 0.15 * lesion.noise("blotch_a")) / 0.7 + 0.5)
    components.append(("dark_brown", _colour("dark_brown", lesion.gamma * 1.2), strength * centre))
    with_network = u[:, 3] < 0.6
    spacing = lesion.radius * (0.3 + 0.08 * u[:, 4])
    net = _network(lesion, spacing, 0.2 * np.ones(len(u)), 0.3) * _smoothstep((1.0 - lesion.d) / 0.35)
    components.append(("dark_brown", _colour("dark_brown", lesion.gamma), 0.8 * net * with_network[:, None, None]))
    count = np.where(with_network, 0, 10 + (12 * u[:, 5]).astype(int))
    globules = lesion.dots(0, count, 0.1, 0.85, (1.0, 1.6))
    components.append(("dark_brown", _colour("dark_brown", lesion.gamma * 1.1), 0.85 * globules))
    return "light_brown", base, components


def _paint_mel(lesion: _Lesion):
    """mel-like: browns plus black, blue-grey, white regression and red; atypical network; irregular dots."""
    u = lesion.u[:, _U_PAINT:]
    n = len(u)
    base = _colour("light_brown", lesion.gamma * (0.9 + 0.4 * u[:, 0]))
    # an eccentric direction makes the dark blotches lopsided
    eccentric = ((np.cos(2 * np.pi * u[:, 1]))[:, None, None] * lesion.along
                 + np.sin(2 * np.pi * u[:, 1])[:, None, None] * lesion.across) / lesion.radius[:, None, None]
    blotch_a, blotch_b, blotch_c = lesion.noise("blotch_a"), lesion.noise("blotch_b"), lesion.noise("blotch_c")
    components = []
    dark = _smoothstep((blotch_a + 0.45 * eccentric - (-0.15 + 0.3 * u[:, 2])[:, None, None]) / 0.4)
    components.append(("dark_brown", _colour("dark_brown", lesion.gamma), dark))
    net = _network(lesion, lesion.radius * (0.16 + 0.08 * u[:, 3]), 0.8 + 0.8 * u[:, 4], 0.22 + 0.15 * u[:, 5])
    components.append(("dark_brown", _colour("dark_brown", lesion.gamma), 0.6 * net * (u[:, 6] < 0.5)[:, None, None]))
    extras = {"black": u[:, 7] < 0.85, "blue_grey": u[:, 8] < 0.8, "white": u[:, 9] < 0.45, "red": u[:, 10] < 0.2}
    # make sure at least two extra colours: the rarest two missing ones are switched on
    too_few = sum(v.astype(int) for v in extras.values()) < 2
    extras["black"] = extras["black"] | too_few
    extras["blue_grey"] = extras["blue_grey"] | too_few
    black = _smoothstep((blotch_b + 0.6 * eccentric - 0.25) / 0.35) * _smoothstep((0.95 - lesion.d) / 0.3)
    components.append(("black", _colour("black", lesion.gamma), black * extras["black"][:, None, None]))
    veil = _smoothstep((blotch_c - 0.3 * eccentric - 0.0) / 0.35) * _smoothstep((0.9 - lesion.d) / 0.3)
    components.append(("blue_grey", _colour("blue_grey", lesion.gamma), 0.9 * veil * extras["blue_grey"][:, None, None]))
    regression = _smoothstep((-blotch_a - 0.2 - 0.4 * eccentric) / 0.3) * _smoothstep((0.85 - lesion.d) / 0.3)
    components.append(("white", _colour("white", np.ones(n, np.float32)), 0.85 * regression * extras["white"][:, None, None]))
    red = _smoothstep((-blotch_b - 0.2) / 0.2)
    components.append(("red", _colour("red", lesion.gamma), 0.8 * red * extras["red"][:, None, None]))
    count = 8 + (16 * u[:, 11]).astype(int)
    dots = lesion.dots(1, count, 0.45, 1.0, (0.5, 1.4))
    components.append(("black", _colour("black", lesion.gamma), 0.7 * dots))
    return "light_brown", base, components


def _paint_bkl(lesion: _Lesion):
    """bkl-like: waxy tan, cerebriform fissures, milia-like cysts (white) and comedo-like openings (dark)."""
    u = lesion.u[:, _U_PAINT:]
    base = _colour("tan", lesion.gamma * (0.75 + 0.5 * u[:, 0]))
    spacing = (lesion.radius * (0.28 + 0.1 * u[:, 1]))[:, None, None]
    warp = lesion.noise("warp_u")
    ridges = np.abs(np.sin(np.pi * (lesion.along + 0.6 * lesion.across * warp + 0.05 * warp) / spacing))
    fissures = _smoothstep((0.35 - ridges) / 0.3) * _smoothstep((0.95 - lesion.d) / 0.2)
    mottle = _smoothstep((lesion.noise("blotch_a") - 0.1) / 0.6)
    components = [
        ("tan", _colour("tan", lesion.gamma * 2.6), 0.9 * mottle),
        ("dark_brown", _colour("dark_brown", lesion.gamma * 0.9), 0.65 * fissures),
    ]
    milia = lesion.dots(2, 3 + (6 * u[:, 2]).astype(int), 0.1, 0.8, (0.7, 1.3))
    components.append(("white", _colour("white", np.ones(len(u), np.float32)), 0.9 * milia))
    return "light_brown", base, components


def _paint_akiec(lesion: _Lesion):
    """akiec-like: pink-red erythema, white scale flakes, follicle openings."""
    u = lesion.u[:, _U_PAINT:]
    base = _colour("pink", lesion.gamma * (0.9 + 0.4 * u[:, 0]))
    red = _smoothstep((lesion.noise("blotch_a") + 0.1) / 0.4)
    fine = lesion.noise("fine") + 0.6 * lesion.noise("warp_v")   # two grids: no blocky flakes
    scale = _smoothstep((fine - 0.35 + 0.2 * u[:, 1][:, None, None]) / 0.3) * _smoothstep((0.95 - lesion.d) / 0.3)
    components = [
        ("red", _colour("red", lesion.gamma), 0.8 * red),
        ("white", _colour("white", np.ones(len(u), np.float32)), 0.75 * scale),
    ]
    follicles = lesion.dots(3, 6 + (14 * u[:, 2]).astype(int), 0.0, 0.9, (0.6, 1.0))
    components.append(("white", _colour("white", np.ones(len(u), np.float32)), 0.7 * follicles))
    return "red", base, components


def _paint_bcc(lesion: _Lesion):
    """bcc-like: pinkish translucent base, arborizing vessels, blue-grey ovoid nests."""
    u = lesion.u[:, _U_PAINT:]
    n, size = len(u), lesion.size
    base = _colour("pink", lesion.gamma * (0.8 + 0.4 * u[:, 0]))
    components = []
    nests = lesion.dots(4, np.where(u[:, 1] < 0.8, 1 + (4 * u[:, 2]).astype(int), 0), 0.0, 0.7, (1.8, 3.2))
    components.append(("blue_grey", _colour("blue_grey", lesion.gamma), 0.9 * nests))
    # arborizing vessels: trunks start inside the lesion and fork twice, getting thinner
    v = lesion.u[:, _U_VESSELS:]
    start_d = 0.2 + 0.6 * v[:, 0:_N_TRUNKS]
    start_theta = 2 * np.pi * v[:, _N_TRUNKS:2 * _N_TRUNKS]
    y0, x0 = lesion.points(start_d, start_theta)
    seg = v[:, 2 * _N_TRUNKS:].reshape(n, _N_SEGMENTS, 2)
    ys, xs, widths = [], [], []
    heads = [(y0, x0, 2 * np.pi * seg[:, :_N_TRUNKS, 0])]
    length = lesion.radius[:, None] * size * (0.55 + 0.3 * seg[:, :_N_TRUNKS, 1])
    used = _N_TRUNKS
    samples = np.linspace(0.0, 1.0, max(6, int(0.4 * size)))
    for level in range(_N_LEVELS):
        next_heads = []
        for y, x, theta in heads:
            k = y.shape[1]
            y1 = y + length[:, :k] * np.sin(theta)
            x1 = x + length[:, :k] * np.cos(theta)
            ys.append(y[..., None] + (y1 - y)[..., None] * samples)
            xs.append(x[..., None] + (x1 - x)[..., None] * samples)
            widths.append(np.full(ys[-1].shape, max(0.45, (1.0 - 0.25 * level) * size / 64), np.float32))
            if level + 1 < _N_LEVELS:
                fork = seg[:, used:used + 2 * k, :]
                used += 2 * k
                spread = 0.35 + 0.5 * fork[..., 0]
                theta2 = np.concatenate([theta - spread[:, :k], theta + spread[:, k:]], axis=1)
                next_heads.append((np.concatenate([y1, y1], 1), np.concatenate([x1, x1], 1), theta2))
                length = np.concatenate([length, length], axis=1) * (0.5 + 0.2 * fork[:, :, 1])
        heads = next_heads
    y = np.concatenate([a.reshape(n, -1) for a in ys], axis=1)
    x = np.concatenate([a.reshape(n, -1) for a in xs], axis=1)
    w = np.concatenate([a.reshape(n, -1) for a in widths], axis=1)
    image = np.broadcast_to(np.arange(n)[:, None], y.shape)
    vessels = _splat(n, size, image, y, x, w) * _smoothstep((1.05 - lesion.d) / 0.2)
    components.append(("red", np.array([[0.78, 0.26, 0.38]], np.float32) ** lesion.gamma[:, None], 0.8 * vessels))
    return "red", base, components


def _paint_df(lesion: _Lesion):
    """df-like: light-brown ring with a delicate peripheral network around a pale scar-like centre."""
    u = lesion.u[:, _U_PAINT:]
    base = _colour("light_brown", lesion.gamma * (0.85 + 0.3 * u[:, 0]))
    net = _network(lesion, lesion.radius * (0.2 + 0.05 * u[:, 1]), 0.3 * np.ones(len(u)), 0.25)
    centre_radius = (0.32 + 0.18 * u[:, 2])[:, None, None]
    centre = _smoothstep((centre_radius - lesion.d + 0.1 * lesion.noise("blotch_a")) / 0.15)
    components = [
        ("dark_brown", _colour("dark_brown", lesion.gamma * 0.8), 0.45 * net * _smoothstep((lesion.d - 0.3) / 0.2)),
        ("white", np.array([[0.99, 0.95, 0.95]], np.float32) + 0.0 * lesion.gamma[:, None], 0.95 * centre),
    ]
    return "light_brown", base, components


def _paint_vasc(lesion: _Lesion):
    """vasc-like: red/purple lacunae separated by lighter septa."""
    u = lesion.u[:, _U_PAINT:]
    base = _colour("pink", lesion.gamma * (1.5 + 0.4 * u[:, 0]))
    spacing = (lesion.radius * (0.55 + 0.25 * u[:, 1]))[:, None, None]
    warp_u, warp_v = lesion.noise("warp_u"), lesion.noise("warp_v")
    a = (lesion.along + 0.25 * spacing * warp_u) / spacing
    b = (lesion.across + 0.25 * spacing * warp_v) / spacing
    cells = np.cos(np.pi * a) * np.cos(np.pi * b)
    lacunae = _smoothstep((np.abs(cells) - 0.25) / 0.4)
    dark = _smoothstep((lesion.noise("blotch_a") + 0.2) / 0.4)
    purple = np.where((u[:, 2] < 0.5)[:, None], _colour("purple", lesion.gamma), _colour("red", lesion.gamma * 1.3))
    components = [
        ("red", purple, lacunae),
        ("purple", _colour("purple", lesion.gamma * 1.6), 0.9 * lacunae * dark),
    ]
    return "red", base, components


_PAINTERS = {AKIEC: _paint_akiec, BCC: _paint_bcc, BKL: _paint_bkl, DF: _paint_df,
             MEL: _paint_mel, NV: _paint_nv, VASC: _paint_vasc}


# --------------------------------------------------------------------------------------
# Shape and attributes
# --------------------------------------------------------------------------------------


def _boundary(labels: np.ndarray, uniforms: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Return the boundary radii r(theta) (n, _N_ANGLES), normalised to mean square 1."""
    k = np.arange(1, _N_HARMONICS + 1)
    low, high = _SHAPE_TABLE[labels, 3], _SHAPE_TABLE[labels, 4]
    amplitude = np.where(k[None] <= 3, low[:, None] / np.sqrt(k), high[:, None] * 4.0 / k) * normals[:, 1:]
    phase = 2 * np.pi * uniforms[:, _U_PHASES:_U_PHASES + _N_HARMONICS]
    theta = np.linspace(0, 2 * np.pi, _N_ANGLES, endpoint=False)
    # a cos(k theta + phi) = (a cos phi) cos(k theta) - (a sin phi) sin(k theta); summed harmonic by
    # harmonic rather than by a matrix product so each row is computed the same way whatever the batch
    cos_k, sin_k = np.cos(np.outer(k, theta)), np.sin(np.outer(k, theta))
    a_cos, a_sin = amplitude * np.cos(phase), amplitude * np.sin(phase)
    r = np.ones((len(labels), _N_ANGLES))
    for harmonic in range(_N_HARMONICS):
        r += a_cos[:, harmonic, None] * cos_k[harmonic]
        r -= a_sin[:, harmonic, None] * sin_k[harmonic]
    r = np.clip(r, 0.45, 1.8)
    return r / np.sqrt((r * r).mean(axis=1, keepdims=True))


def _periodic_interp(query: np.ndarray, angle: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Return value(angle) linearly interpolated at ``query`` angles, row by row, with period 2 pi."""
    # np.interp works on one row at a time; offsetting each row by 8*row turns the whole
    # batch into one sorted array, so a single searchsorted serves every image.
    n, k = angle.shape
    angle = np.mod(angle + np.pi, 2 * np.pi) - np.pi
    order = np.argsort(angle, axis=1)
    angle, value = np.take_along_axis(angle, order, 1), np.take_along_axis(value, order, 1)
    angle = np.concatenate([angle[:, -1:] - 2 * np.pi, angle, angle[:, :1] + 2 * np.pi], axis=1)
    value = np.concatenate([value[:, -1:], value, value[:, :1]], axis=1)
    offset = 8.0 * np.arange(n)[:, None]
    query = np.mod(query + np.pi, 2 * np.pi) - np.pi + offset
    flat = (angle + offset).ravel()
    right = np.clip(np.searchsorted(flat, query.ravel()).reshape(query.shape), 1, flat.size - 1)
    left = right - 1
    x0, x1 = flat[left], flat[right]
    v = value.ravel()
    weight = (query - x0) / np.maximum(x1 - x0, 1e-12)
    return v[left] + weight * (v[right] - v[left])


def _shape_attributes(axes: np.ndarray, angle: np.ndarray, boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (asymmetry, border_irregularity) of the continuous boundary polygons."""
    boundary = boundary[:, ::2].astype(np.float64)   # 128 vertices are plenty for area, perimeter, moments
    theta = np.linspace(0, 2 * np.pi, boundary.shape[1], endpoint=False)
    along, across = axes[:, :1] * boundary * np.cos(theta), axes[:, 1:] * boundary * np.sin(theta)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y = along * cos - across * sin, along * sin + across * cos
    x_next, y_next = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1)
    cross = x * y_next - x_next * y                      # shoelace terms
    area = 0.5 * cross.sum(axis=1)
    perimeter = np.hypot(x_next - x, y_next - y).sum(axis=1)
    irregularity = perimeter**2 / (4 * np.pi * area)
    # centroid and principal axes of the lesion (from the boundary points)
    cx = ((x + x_next) * cross).sum(axis=1, keepdims=True) / (6 * area[:, None])
    cy = ((y + y_next) * cross).sum(axis=1, keepdims=True) / (6 * area[:, None])
    px, py = x - cx, y - cy
    axis = 0.5 * np.arctan2(2 * (px * py).mean(axis=1), (px * px).mean(axis=1) - (py * py).mean(axis=1))
    psi, rho2 = np.arctan2(py, px), px * px + py * py
    grid = np.linspace(-np.pi, np.pi, 2 * boundary.shape[1], endpoint=False)[None, :]
    # rho^2 on the grid and at the grid's mirror images about both axes, in one interpolation
    queries = [np.broadcast_to(grid, (len(x), grid.shape[1]))]
    queries += [2 * mirror[:, None] - grid for mirror in (axis, axis + np.pi / 2)]
    rho2_grid, *reflections = np.split(_periodic_interp(np.concatenate(queries, axis=1), psi, rho2), 3, axis=1)
    parts = []
    for reflected in reflections:
        # in polar form |M xor M'| = 1/2 integral |rho^2 - rho'^2| dpsi and |M| = 1/2 integral rho^2 dpsi
        parts.append(np.abs(rho2_grid - reflected).sum(axis=1) / (2 * rho2_grid.sum(axis=1)))
    asymmetry = 0.5 * (parts[0] + parts[1])
    return asymmetry, irregularity


# --------------------------------------------------------------------------------------
# Rendering one chunk. Images are held planar, (3, n, S, S), so that per-channel
# operations run over contiguous memory; they are transposed to (n, S, S, 3) at the end.
# --------------------------------------------------------------------------------------


def _skin(u: np.ndarray, grids: np.ndarray, size: int, config: PhantomConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return the lit skin background (3, n, S, S) and the Fitzpatrick-like type (n,) of each image."""
    low, high = config.skin_tones
    tone_weights = SKIN_TONE_WEIGHTS[low - 1:high] / SKIN_TONE_WEIGHTS[low - 1:high].sum()
    tone = low + np.minimum(np.searchsorted(np.cumsum(tone_weights), u[:, _U_TONE], side="right"), high - low)
    position = np.clip(tone - 1 + (u[:, _U_TONE_JITTER] - 0.5) * 0.8, 0, 5)   # continuous within the type
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, 5)
    skin_rgb = SKIN_TONE_RGB[lower] + (position - lower)[:, None] * (SKIN_TONE_RGB[upper] - SKIN_TONE_RGB[lower])

    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    light = u[:, _U_LIGHT:_U_LIGHT + 3]
    # illumination fall-off L = 1 - k |x - x_light|^2, separable in x and y
    k = (0.1 + 0.3 * light[:, 2])[:, None, None]
    fall_x = (coords[None, None, :] - (light[:, 0, None, None] - 0.5) * 0.4) ** 2
    fall_y = (coords[None, :, None] - (light[:, 1, None, None] - 0.5) * 0.4) ** 2
    crops = [_texture_tile(size)[oy:oy + size, ox:ox + size]
             for oy, ox in (u[:, _U_TEXTURE:_U_TEXTURE + 2] * size).astype(int)]
    shade = np.stack(crops) if crops else np.zeros((0, size, size), np.float32)  # texture
    shade *= 0.025
    shade += 1.0
    shade *= 1.0 - k * fall_x - k * fall_y                                      # (n, S, S)
    skin = np.multiply(skin_rgb.T.astype(np.float32)[:, :, None, None], shade[None])
    redness = _value_noise(grids, "skin", size)                                 # blotchy erythema r
    redness *= -0.05
    redness += 1.0
    skin[1] *= redness                                                          # green * (1 - 0.05 r)
    redness -= 1.0
    redness *= 0.6
    redness += 1.0
    skin[2] *= redness                                                          # blue * (1 - 0.03 r)
    return skin, tone


@dataclass
class _Geometry:
    """Lesion shape of every image in a chunk."""

    d: np.ndarray          # (n, S, S) normalised radius rho / r(theta)
    along: np.ndarray      # (n, S, S) offset along the long axis (image widths)
    across: np.ndarray     # (n, S, S) offset across it
    radius: np.ndarray     # (n,) equivalent radius sqrt(area / pi)
    axes: np.ndarray       # (n, 2) semi-axes
    angle: np.ndarray      # (n,) orientation
    centre: np.ndarray     # (n, 2) centre (x, y), 0 = image centre
    boundary: np.ndarray   # (n, _N_ANGLES) r(theta)
    masks: np.ndarray      # (n, S, S) bool, d < 1
    alpha: np.ndarray      # (n, S, S) soft lesion opacity, 1/2 on the boundary


def _geometry(labels: np.ndarray, u: np.ndarray, uniforms: np.ndarray, normals: np.ndarray,
              grids: np.ndarray, size: int) -> _Geometry:
    """Return the Fourier-perturbed ellipse of each image: normalised radius, mask and soft edge."""
    n = len(labels)
    shape = _SHAPE_TABLE[labels]
    area = np.clip(shape[:, 0] * np.exp(shape[:, 1] * normals[:, 0]), 0.02, 0.75)  # log-normal target area
    radius = np.sqrt(area / np.pi).astype(np.float32)
    elongation = 1.0 + (shape[:, 2] - 1.0) * uniforms[:, _U_ELONG]
    axes = np.stack([radius * np.sqrt(elongation), radius / np.sqrt(elongation)], axis=1).astype(np.float32)
    angle = (np.pi * u[:, _U_ANGLE]).astype(np.float32)
    centre = np.clip((u[:, _U_CENTRE:_U_CENTRE + 2] - 0.5) * 0.3, -0.25, 0.25)
    boundary = _boundary(labels, uniforms, normals).astype(np.float32)

    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    dx = coords[None, None, :] - centre[:, 0, None, None]
    dy = coords[None, :, None] - centre[:, 1, None, None]
    along = dx * cos + dy * sin
    across = dy * cos - dx * sin
    # Below, arrays are updated in place (out=) where they can be: at this size fresh arrays cost
    # more (page faults) than the arithmetic on them.
    nu, nv = along / axes[:, 0, None, None], across / axes[:, 1, None, None]   # ellipse-normalised frame
    theta_bin = np.arctan2(nv, nu)
    theta_bin += np.pi
    theta_bin *= _N_ANGLES / (2 * np.pi)
    bins = theta_bin.astype(np.int32)
    np.minimum(bins, _N_ANGLES - 1, out=bins)
    bins += (np.arange(n, dtype=np.int32) * _N_ANGLES)[:, None, None]       # index into the flattened table
    r_theta = np.take(boundary.ravel(), bins, out=theta_bin, mode="clip")     # r(theta) in theta's memory
    rho = np.multiply(nu, nu, out=nu)                                         # rho = sqrt(nu^2 + nv^2)
    rho += np.multiply(nv, nv, out=nv)
    np.sqrt(rho, out=rho)
    d = np.divide(rho, r_theta, out=rho)                                      # d < 1 inside the lesion
    # soft edge alpha = smoothstep(1/2 - s / w) with s ~ (d - 1) r(theta) R the signed distance to the
    # boundary (R the equivalent radius; negative inside) and w the edge's full width, a fraction of the
    # image width per class and image, varying around the lesion by +-40%. alpha = 1/2 where the mask ends.
    width = shape[:, 5] * (0.75 + 0.5 * u[:, _U_EDGE])
    steep = _value_noise(grids, "edge", size)                                 # 1 / w varies smoothly
    steep *= -0.4
    steep += 1.0
    steep *= (radius / width).astype(np.float32)[:, None, None]              # R / w
    steep *= r_theta                                                          # r(theta) R / w
    alpha = np.subtract(d, 1.0, out=r_theta)                                  # reuse r(theta)'s memory
    alpha *= steep                                                            # s / w = (d - 1) r(theta) R / w
    np.subtract(0.5, alpha, out=alpha)
    return _Geometry(d, along, across, radius, axes, angle, centre, boundary, d < 1.0, _smoothstep(alpha, True))


def _paint(labels: np.ndarray, shape: _Geometry, u: np.ndarray, grids: np.ndarray,
           size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the lesion transmission T (3, n, S, S) painted class by class, and the colour count (n,).

    ``labels`` must be sorted (the chunk is rendered class by class).
    """
    n = len(labels)
    gamma = (0.75 + 0.4 * u[:, _U_GAMMA]).astype(np.float32)                 # darker or lighter pigment
    transmission = np.empty((3, n, size, size), np.float32)
    colour_cover = np.zeros((n, len(DERMOSCOPIC_COLOURS)))
    lesion_pixels = np.maximum(shape.masks.sum(axis=(1, 2)), 1)
    for label, painter in _PAINTERS.items():
        rows = slice(*np.searchsorted(labels, [label, label + 1]))          # labels are sorted
        if rows.start == rows.stop:
            continue
        lesion = _Lesion(shape.d[rows], shape.along[rows], shape.across[rows], shape.radius[rows],
                         shape.centre[rows], shape.angle[rows], shape.axes[rows], shape.boundary[rows],
                         u[rows], grids[rows], gamma[rows], size)
        base_name, base, components = painter(lesion)
        T = transmission[:, rows]                                             # a view: painted in place
        T[:] = base.T[:, :, None, None]
        keep, added = np.empty_like(T[0]), np.empty_like(T[0])      # buffers reused by every component
        for _, colour, weight in components:        # paint in order: T <- (1 - w) T + w T_c
            np.subtract(1.0, weight, out=keep)
            for channel in range(3):
                T[channel] *= keep
                T[channel] += np.multiply(weight, colour[:, channel, None, None], out=added)
        # visible share of each colour inside the mask: later components cover earlier ones
        inside = shape.masks[rows]
        remaining = inside.astype(np.float32)
        for name, _, weight in reversed(components):
            covered = np.multiply(weight, remaining, out=added)
            remaining -= covered                                # remaining <- (1 - w) remaining
            colour_cover[rows, DERMOSCOPIC_COLOURS.index(DERMOSCOPIC_COLOUR[name])] += covered.sum(axis=(1, 2))
        colour_cover[rows, DERMOSCOPIC_COLOURS.index(DERMOSCOPIC_COLOUR[base_name])] += remaining.sum(axis=(1, 2))
    n_colours = (colour_cover / lesion_pixels[:, None] >= 0.05).sum(axis=1)
    return transmission, n_colours


def _add_hairs(image: np.ndarray, rows: np.ndarray, u: np.ndarray, switch: np.ndarray) -> np.ndarray:
    """Darken thin curved hairs (quadratic curves) into ``image`` rows; return which rows show a hair."""
    size, m = image.shape[-1], len(rows)
    h = u[rows, _U_HAIRS:_U_HAIRS + 6 * _MAX_HAIRS].reshape(m, _MAX_HAIRS, 6)
    count = 1 + (switch[rows, 1] * _MAX_HAIRS).astype(int)
    t = np.linspace(0, 1, int(1.5 * size), dtype=np.float32)[None, None, :]
    start_xy = (h[..., :2, None] - 0.5) * 1.4 + 0.5                           # may start outside the frame
    theta = 2 * np.pi * h[..., 2, None]
    length = 0.4 + 0.8 * h[..., 3, None]
    bend = (h[..., 4, None] - 0.5) * 0.5 * length * 4 * t * (1 - t)        # sideways bow of the curve
    x = start_xy[..., 0, :] + t * length * np.cos(theta) - bend * np.sin(theta)
    y = start_xy[..., 1, :] + t * length * np.sin(theta) + bend * np.cos(theta)
    width = np.maximum(0.4, (0.35 + 0.5 * h[..., 5, None]) * size / 64) * np.ones_like(t)
    active = np.broadcast_to((np.arange(_MAX_HAIRS)[None, :] < count[:, None])[..., None], x.shape)
    image_index = np.broadcast_to(np.arange(m)[:, None, None], x.shape)
    cover = _splat(m, size, image_index[active], (y * size - 0.5)[active], (x * size - 0.5)[active], width[active])
    visible = cover.reshape(m, -1).max(axis=1) > 0.5
    cover = _optical_blur(cover[None])[0]                                     # seen through the same optics
    darkness = (0.15 + 0.2 * switch[rows, 15])[:, None, None]
    image[:, rows] *= 1.0 - cover * (1.0 - darkness)
    return visible


def _add_ruler(image: np.ndarray, rows: np.ndarray, switch: np.ndarray) -> None:
    """Draw a line of ruler ticks (every ~1 mm, long every 5th) along one image edge of ``image`` rows."""
    size, m = image.shape[-1], len(rows)
    spacing = (0.045 + 0.02 * switch[rows, 4]) * size
    tick = np.arange(int(np.ceil(size / spacing.min())) + 1)[None, :]
    position = spacing[:, None] * (tick + switch[rows, 5, None])
    tick_length = np.where(tick % 5 == 0, 0.11, 0.06) * size
    depth = np.linspace(0, 1, max(4, int(0.12 * size)))[None, None, :] * tick_length[..., None]
    along_edge, depth = np.broadcast_arrays(position[..., None], depth)
    base_line = np.linspace(0, size - 1, 2 * size)[None, :].repeat(m, 0)
    s = np.concatenate([along_edge.reshape(m, -1), base_line], axis=1)       # position along the edge
    t = np.concatenate([depth.reshape(m, -1), np.zeros_like(base_line)], axis=1) + 0.5  # depth into the image
    edge_id = (switch[rows, 3] * 4).astype(int)[:, None]                      # bottom, top, left, right
    y = np.select([edge_id == 0, edge_id == 1, edge_id == 2], [size - 1 - t, t, s], s)
    x = np.select([edge_id == 0, edge_id == 1, edge_id == 2], [s, s, t], size - 1 - t)
    cover = _splat(m, size, np.broadcast_to(np.arange(m)[:, None], y.shape), y, x, max(0.45, 0.5 * size / 64))
    image[:, rows] *= 1.0 - 0.85 * _optical_blur(cover[None])[0]


def _add_bubbles(image: np.ndarray, rows: np.ndarray, u: np.ndarray, switch: np.ndarray) -> None:
    """Draw air bubbles (bright rim with a faint dark outline) into ``image`` rows."""
    size, m = image.shape[-1], len(rows)
    b = u[rows, _U_BUBBLES:_U_BUBBLES + 3 * _MAX_BUBBLES].reshape(m, _MAX_BUBBLES, 3)
    count = 1 + (switch[rows, 7] * _MAX_BUBBLES).astype(int)
    ring = np.linspace(0, 2 * np.pi, int(2 * size), endpoint=False)[None, None, :]
    r = (0.03 + 0.09 * b[..., 2, None]) * size
    cy, cx = b[..., 1, None] * size, b[..., 0, None] * size
    active = np.broadcast_to((np.arange(_MAX_BUBBLES)[None, :] < count[:, None])[..., None], (m, _MAX_BUBBLES, ring.size))
    image_index = np.broadcast_to(np.arange(m)[:, None, None], active.shape)
    scale = size / 64
    rim = _splat(m, size, image_index[active], (cy + r * np.sin(ring))[active],
                 (cx + r * np.cos(ring))[active], max(0.45, 0.45 * scale))
    outer = _splat(m, size, image_index[active], (cy + (r + scale) * np.sin(ring))[active],
                   (cx + (r + scale) * np.cos(ring))[active], max(0.4, 0.35 * scale))
    rim, outer = _optical_blur(np.stack([rim, outer]))
    image[:, rows] *= 1.0 - 0.3 * outer
    image[:, rows] += 0.75 * rim * (250.0 - image[:, rows])


def _add_glints(image: np.ndarray, rows: np.ndarray, u: np.ndarray, switch: np.ndarray, shape: _Geometry) -> None:
    """Add specular glints (small white specks) scattered over the lesion surface of ``image`` rows."""
    size, m = image.shape[-1], len(rows)
    g = u[rows, _U_GLINTS:_U_GLINTS + 2 * _MAX_GLINTS].reshape(m, _MAX_GLINTS, 2)
    count = 3 + (switch[rows, 9] * (_MAX_GLINTS - 2)).astype(int)
    spread = shape.radius[rows, None] * 0.9
    gx = (shape.centre[rows, 0, None] + (g[..., 0] - 0.5) * 2 * spread + 0.5) * size
    gy = (shape.centre[rows, 1, None] + (g[..., 1] - 0.5) * 2 * spread + 0.5) * size
    active = np.arange(_MAX_GLINTS)[None, :] < count[:, None]
    image_index = np.broadcast_to(np.arange(m)[:, None], active.shape)
    cover = _splat(m, size, image_index[active], gy[active], gx[active],
                   max(0.45, 0.7 * size / 64) * (0.5 + g[..., 0][active]))
    image[:, rows] += 0.9 * _optical_blur(cover[None])[0] * (255.0 - image[:, rows])


def _add_vignette(image: np.ndarray, rows: np.ndarray, switch: np.ndarray) -> None:
    """Darken everything outside the dermoscope's circular field of view in ``image`` rows."""
    size = image.shape[-1]
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    ring_radius = (0.5 + 0.17 * switch[rows, 11])[:, None, None]              # 0.5 touches the edges
    cx = ((switch[rows, 12] - 0.5) * 0.06)[:, None, None]
    cy = ((switch[rows, 13] - 0.5) * 0.06)[:, None, None]
    distance = np.sqrt((coords[None, None, :] - cx) ** 2 + (coords[None, :, None] - cy) ** 2)
    outside = _smoothstep((distance - ring_radius) / 0.035 + 0.5)
    image[:, rows] *= 1.0 - 0.88 * outside


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
