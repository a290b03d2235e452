"""Artefacts of the DermSynth phantom: hairs, ruler marks, air bubbles, specular glints and the vignette.

Each is drawn into the planar image (3, n, S, S) only for the rows whose switch turned it on:
hairs are thin quadratic curves darkening the skin, the ruler a line of ticks along one edge,
bubbles a bright rim with a faint dark outline, glints small white specks over the lesion, all
rasterised by :func:`_splat` and seen through the optics' blur; the vignette darkens everything
outside the dermoscope's circular field of view.
"""
from __future__ import annotations

import numpy as np

from .draws import _MAX_BUBBLES, _MAX_GLINTS, _MAX_HAIRS, _U_BUBBLES, _U_GLINTS, _U_HAIRS
from .geometry import _Geometry
from .optics import _optical_blur
from .raster import _smoothstep, _splat


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
