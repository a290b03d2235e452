r"""Lesion shapes of the DermSynth phantom: Fourier-perturbed ellipses, soft borders, shape attributes.

Each class has a median area, spread, elongation, asymmetry and irregularity and border width
(``_CLASS_SHAPE``). :func:`_boundary` sums low (lopsided) and high (ragged) harmonics into
:math:`r(\theta)`; :func:`_geometry` places the ellipse, computes the normalised radius
:math:`d = \rho / r(\theta)`, the mask :math:`d < 1` and the soft opacity (a smoothstep of the signed
distance to the boundary over a width that varies around the lesion); :func:`_shape_attributes`
measures mirror asymmetry and the compactness index of the continuous boundary polygon.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import AKIEC, BCC, BKL, CLASS_NAMES, DF, MEL, NV, VASC
from .draws import _N_ANGLES, _N_HARMONICS, _U_ANGLE, _U_CENTRE, _U_EDGE, _U_ELONG, _U_PHASES
from .raster import _smoothstep, _value_noise

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
