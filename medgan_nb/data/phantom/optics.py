"""The dermoscope's optics in the DermSynth phantom: the Gaussian blur every layer is seen through.

``OPTICAL_BLUR`` is the PSF's sigma as a fraction of the image width, so images look equally
sharp at every size. :func:`_optical_blur` applies it in place to stacked layers (the lesion's
absorbance, hairs, ruler, bubbles, glints) as banded matrix products built once per size by
:func:`_blur_blocks` from scipy's ``gaussian_filter1d``; the skin texture tile in :mod:`.skin`
is blurred with the same sigma.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Gaussian point-spread function of the dermoscope's optics: sigma as a fraction of the image width.
OPTICAL_BLUR = 0.013


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
