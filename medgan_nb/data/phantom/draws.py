"""Per-image random draws of the DermSynth phantom: the layout of each image's random stream, and the draw.

Every image consumes the same stream, whatever its class and artefacts: a fixed number of
uniforms (the columns ``_U_*`` name what each one drives: label, skin tone, lesion centre and
shape, lighting, artefact switches, hairs, bubbles, glints, class painters, dots, vessels),
normals (log-area and boundary harmonics) and value-noise grids (``_NOISE_GRIDS``, cells per
side), drawn from ``np.random.SeedSequence([seed, index])``. The counts that size the stream
(harmonics, boundary samples, most hairs, bubbles, glints, dots and vessel segments) live here too.
"""
from __future__ import annotations

import numpy as np

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
