r"""Pigment of the DermSynth phantom: the colours' light transmissions and the tools the class painters share.

Pigment lets a fraction :math:`T \in (0, 1]^3` of the skin's light through (Beer-Lambert-like);
``TRANSMISSION`` gives :math:`T` of each painted colour and ``DERMOSCOPIC_COLOUR`` the ABCD-rule
colour it counts as. :func:`_colour` darkens or lightens a colour per image; :class:`_Lesion`
holds the geometry and draws of one class's images in a chunk (cached noise fields, lesion-frame
to pixel coordinates, dots and globules); :func:`_network` draws the honeycomb pigment network
from three plane waves 60 degrees apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .draws import _MAX_DOTS, _N_ANGLES, _U_DOTS
from .raster import _smoothstep, _splat, _value_noise

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


def _colour(name: str, gamma: np.ndarray) -> np.ndarray:
    """Return per-image transmissions (n, 3) of colour ``name``, darkened/lightened by exponent ``gamma``."""
    return np.asarray(TRANSMISSION[name], dtype=np.float32)[None, :] ** gamma[:, None]


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
