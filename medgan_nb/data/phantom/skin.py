r"""The skin background of the DermSynth phantom: Fitzpatrick-like tone, lighting, pores and redness.

Each image draws a skin type I-VI (weighted towards light skin as in HAM10000, within the
config's ``skin_tones``) and a colour jittered within the type, lit with a quadratic
illumination fall-off :math:`L = 1 - k\,\lVert x - x_\ell \rVert^2`, textured with a random
crop of a fixed pore tile (seen through the optics' blur) and blotched with smooth erythema
that lowers green and blue. The result is held planar, (3, n, S, S).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .config import PhantomConfig
from .draws import _U_LIGHT, _U_TEXTURE, _U_TONE, _U_TONE_JITTER
from .optics import OPTICAL_BLUR
from .raster import _value_noise

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
