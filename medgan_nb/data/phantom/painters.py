"""Class painters of the DermSynth phantom: each class's dermoscopic structures, and the painting of a chunk.

Each painter returns the lesion's base colour and its painted components
``[(colour name, transmission (n, 3), weight (n, S, S)), ...]`` in painting order: browns, a
darker centre, network or globules (nv), black, blue-grey veil, regression and irregular dots
(mel), fissures and milia-like cysts (bkl), erythema and scale (akiec), arborizing vessels and
ovoid nests (bcc), a ring around a pale centre (df), lacunae (vasc). :func:`_paint` paints the
chunk class by class into the transmission :math:`T` and counts the visible dermoscopic colours.
"""
from __future__ import annotations

import numpy as np

from .config import AKIEC, BCC, BKL, DF, MEL, NV, VASC
from .draws import _N_LEVELS, _N_SEGMENTS, _N_TRUNKS, _U_GAMMA, _U_PAINT, _U_VESSELS
from .geometry import _Geometry
from .pigment import DERMOSCOPIC_COLOUR, DERMOSCOPIC_COLOURS, _colour, _Lesion, _network
from .raster import _smoothstep, _splat


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
