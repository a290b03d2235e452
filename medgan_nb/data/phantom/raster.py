"""Pixel-level building blocks of the DermSynth phantom: soft ramps, smooth value noise and anti-aliased discs.

:func:`_smoothstep` is the soft 0 -> 1 ramp every stage uses for edges and blends;
:func:`_value_noise` upsamples each image's small random grid (drawn in :mod:`.draws`) to a
smooth noise field with a cached interpolation matrix, for a whole batch in two matrix products;
:func:`_splat` rasterises many anti-aliased discs (dots, hair and vessel samples, bubble rims,
glints) over a batch of images in one ``np.bincount``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .draws import _NOISE_GRIDS, _NOISE_OFFSET


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
