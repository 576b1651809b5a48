"""Colour schemes: how a scalar f in [0, 1] becomes a colour, and back.

A scheme here is a polyline through RGB space walked at constant speed in f (each segment spans the same
range of f). The Vision Banana depth path is the 7-edge walk on the RGB cube; matplotlib colormaps are
polylines through their listed colours; gray is the black-white diagonal. Decoding projects each colour
onto the nearest point of the polyline and reports the distance to it (the residual, in 8-bit levels).
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from vb_plugins.codecs._arrays import to_float
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl

# The published Vision Banana walk: black, red, yellow, green, cyan, blue, magenta, white.
VB_CUBE_PATH = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64
)

_BRUTE_FORCE_MAX_SEGMENTS = 16
# Building the exact 2**24-entry table costs about as much as decoding ~15 MP directly; build it once
# a process has decoded this many pixels along the walk.
LUT_AFTER_PIXELS = 8_000_000
_CHUNK = 1 << 18  # pixels per chunk in float projections: bounded memory, cache-friendly


class ColorScheme:
    """Base class of colour schemes. Subclasses implement :meth:`encode` and :meth:`decode`."""

    name: str = ""
    description: str = ""

    def encode(self, f: np.ndarray) -> np.ndarray:
        """f (any shape, values in [0, 1]) -> float64 RGB in [0, 1], shape ``f.shape + (3,)``."""
        raise NotImplementedError

    def decode(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB (HxWx3 uint8 or float32 0..1) -> (f float64 HxW in [0, 1], residual float32 HxW in 8-bit levels)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class PolylineScheme(ColorScheme):
    """f walks the polyline ``vertices`` (N+1 x 3, RGB 0..1) in N equal steps of f."""

    def __init__(self, name: str, vertices, description: str = ""):
        vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 2:
            raise InputError(f"colour scheme {name!r}: vertices must be an (N+1) x 3 array with N >= 1")
        if vertices.min() < 0 or vertices.max() > 1:
            raise InputError(f"colour scheme {name!r}: vertex colours must lie in 0..1")
        if np.any(np.linalg.norm(np.diff(vertices, axis=0), axis=1) == 0):
            raise InputError(f"colour scheme {name!r}: consecutive vertices must differ")
        self.name = name
        self.description = description
        self.vertices = vertices
        self.segments = len(vertices) - 1
        self._lut_lock = threading.Lock()
        self._lut: np.ndarray | None = None
        self._pixels_decoded = 0

    # -- encode ---------------------------------------------------------------------------------------
    def encode(self, f: np.ndarray) -> np.ndarray:
        s = np.clip(np.asarray(f, dtype=np.float64), 0.0, 1.0) * self.segments
        k = np.minimum(np.floor(s).astype(np.int64), self.segments - 1)
        t = (s - k)[..., None]
        return self.vertices[k] * (1.0 - t) + self.vertices[k + 1] * t

    # -- decode ---------------------------------------------------------------------------------------
    @property
    def is_cube_walk(self) -> bool:
        """True when every vertex is a cube corner and every segment a cube edge: exact integer decoding."""
        corners = np.all((self.vertices == 0) | (self.vertices == 1))
        steps = np.abs(np.diff(self.vertices, axis=0)).sum(axis=1)
        return bool(corners and np.all(steps == 1) and self.segments <= 16)

    def decode(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if rgb.dtype == np.uint8 and self.is_cube_walk:
            return self._decode_cube_lut(rgb)
        if rgb.dtype == np.uint8 and self.segments > _BRUTE_FORCE_MAX_SEGMENTS:
            return self._decode_unique(rgb)
        s, dist = self.project(to_float(rgb).reshape(-1, 3))
        shape = rgb.shape[:2]
        return (s / self.segments).reshape(shape), (dist * 255.0).astype(np.float32).reshape(shape)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point on the polyline for each of ``points`` (N x 3, 0..1):
        (position in segment units 0..N as float64, Euclidean distance as float32)."""
        points = np.asarray(points, dtype=np.float32)
        position = np.empty(len(points), dtype=np.float64)
        distance = np.empty(len(points), dtype=np.float32)
        project_chunk = self._project_brute if self.segments <= _BRUTE_FORCE_MAX_SEGMENTS else self._project_kd
        for start in range(0, len(points), _CHUNK):
            stop = start + _CHUNK
            position[start:stop], distance[start:stop] = project_chunk(points[start:stop])
        return position, distance

    def _project_brute(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best_d2 = np.full(len(points), np.inf, dtype=np.float32)
        best_s = np.zeros(len(points), dtype=np.float64)
        starts = self.vertices[:-1].astype(np.float32)
        edges = np.diff(self.vertices, axis=0).astype(np.float32)
        for k in range(self.segments):
            rel = points - starts[k]
            t = np.clip(rel @ edges[k] / float(edges[k] @ edges[k]), 0.0, 1.0)
            d2 = np.einsum("ij,ij->i", rel - t[:, None] * edges[k], rel - t[:, None] * edges[k])
            better = d2 < best_d2  # strict: ties go to the earlier segment, as an argmin would
            best_d2[better] = d2[better]
            best_s[better] = k + t[better]
        return best_s, np.sqrt(best_d2)

    @functools.cached_property
    def _kdtree(self):
        from scipy.spatial import cKDTree

        samples_per_segment = 8
        t = np.arange(samples_per_segment) / samples_per_segment
        k = np.repeat(np.arange(self.segments), samples_per_segment)
        tt = np.tile(t, self.segments)
        samples = self.vertices[k] * (1 - tt[:, None]) + self.vertices[k + 1] * tt[:, None]
        return cKDTree(samples), k

    def _project_kd(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Long polylines (colormaps): only the segments near the closest samples can hold the nearest point.
        tree, sample_segment = self._kdtree
        _, nearest = tree.query(points, k=4)
        candidates = sample_segment[nearest]
        candidates = np.concatenate([candidates - 1, candidates, candidates + 1], axis=1)
        candidates = np.clip(candidates, 0, self.segments - 1)
        starts = self.vertices[candidates].astype(np.float32)
        edges = (self.vertices[candidates + 1] - self.vertices[candidates]).astype(np.float32)
        rel = points[:, None, :] - starts
        t = np.clip(np.einsum("ncj,ncj->nc", rel, edges) / np.einsum("ncj,ncj->nc", edges, edges), 0.0, 1.0)
        diff = rel - t[..., None] * edges
        d2 = np.einsum("ncj,ncj->nc", diff, diff)
        pick = np.argmin(d2, axis=1)
        rows = np.arange(len(points))
        return candidates[rows, pick] + t[rows, pick], np.sqrt(d2[rows, pick])

    def _decode_unique(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Generated images hold far fewer distinct colours than pixels: project each colour once.
        packed = pack_rgb(rgb)
        colours, inverse = np.unique(packed.ravel(), return_inverse=True)
        points = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1) / 255.0
        s, dist = self.project(points)
        shape = rgb.shape[:2]
        return (s[inverse] / self.segments).reshape(shape), (dist[inverse] * 255.0).reshape(shape)

    # -- exact lookup for cube walks ------------------------------------------------------------------
    def _decode_cube_lut(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        code, d2 = self.cube_codes(rgb)
        return code / (255.0 * self.segments), np.sqrt(d2.astype(np.float32))

    def cube_codes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact decoding of 8-bit colours on a cube walk: (position code 0..255*segments, int squared
        distance to the path in 8-bit levels). Table lookup once the table pays for itself."""
        self._pixels_decoded += rgb.shape[0] * rgb.shape[1]
        if self._lut is None and self._pixels_decoded < LUT_AFTER_PIXELS:
            return cube_walk_codes(rgb, self.vertices)
        entry = self.cube_lut()[pack_rgb(rgb)]
        return entry & 0xFFF, entry >> 12

    def cube_lut(self) -> np.ndarray:
        """uint32 table over all 2**24 colours: low 12 bits = position code (255 per segment, exact for
        8-bit colours), high bits = squared distance to the path in 8-bit levels. Built once, ~64 MB."""
        with self._lut_lock:
            if self._lut is None:
                self._lut = build_cube_walk_lut(self.vertices)
            return self._lut


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> int32 HxW index ``r << 16 | g << 8 | b``."""
    packed = rgb[..., 0].astype(np.int32) << 16
    packed |= rgb[..., 1].astype(np.int32) << 8
    packed |= rgb[..., 2]
    return packed


def _cube_edges(vertices: np.ndarray):
    """Per segment: (varying channel, per-channel squared-offset tables, step code table).

    On a cube edge only one channel varies, so the projection of an 8-bit colour lands on an 8-bit step
    and the squared distance is the sum of the two fixed channels' squared offsets: all integers.
    """
    levels = np.arange(256, dtype=np.int32)
    for k in range(len(vertices) - 1):
        start, end = vertices[k].astype(int), vertices[k + 1].astype(int)
        axis = int(np.flatnonzero(start != end)[0])
        squares = [np.zeros(256, np.int32) if c == axis else (levels - 255 * start[c]) ** 2 for c in range(3)]
        code = 255 * k + (levels if end[axis] > start[axis] else 255 - levels)
        yield axis, squares, code


def cube_walk_codes(rgb: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact cube-walk projection of uint8 pixels without the table (same result, ties to the earlier
    segment): (code int32 H x W, squared distance int32 H x W)."""
    low = [rgb[..., c].astype(np.int32) for c in range(3)]  # offset from channel value 0
    high = [255 - x for x in low]  # offset from channel value 255
    squares = [(x * x, y * y) for x, y in zip(low, high)]
    best_d2 = np.full(rgb.shape[:2], np.iinfo(np.int32).max, dtype=np.int32)
    best_code = np.zeros(rgb.shape[:2], dtype=np.int32)
    for k in range(len(vertices) - 1):
        start, end = vertices[k].astype(int), vertices[k + 1].astype(int)
        axis = int(np.flatnonzero(start != end)[0])
        fixed = [c for c in range(3) if c != axis]
        d2 = squares[fixed[0]][start[fixed[0]]] + squares[fixed[1]][start[fixed[1]]]
        better = d2 < best_d2
        np.copyto(best_d2, d2, where=better)
        step = low[axis] if end[axis] > start[axis] else high[axis]
        np.copyto(best_code, step + 255 * k, where=better)
    return best_code, best_d2


def build_cube_walk_lut(vertices: np.ndarray) -> np.ndarray:
    """Exact nearest-segment table over all 2**24 colours (see :meth:`PolylineScheme.cube_lut`)."""
    best_d2 = np.full((256, 256, 256), np.iinfo(np.int32).max, dtype=np.int32)
    best_code = np.zeros((256, 256, 256), dtype=np.int32)
    d2 = np.empty_like(best_d2)
    better = np.empty(best_d2.shape, dtype=bool)
    for axis, squares, code in _cube_edges(vertices):  # buffers reused: the table is 16 M entries
        np.add(squares[0][:, None, None] + squares[1][None, :, None], squares[2][None, None, :], out=d2)
        shape = [1, 1, 1]
        shape[axis] = 256
        np.less(d2, best_d2, out=better)
        np.copyto(best_d2, d2, where=better)
        np.copyto(best_code, np.broadcast_to(code.reshape(shape), best_code.shape), where=better)
    del d2, better
    np.left_shift(best_d2, 12, out=best_d2)  # max 3 * 255**2 << 12 < 2**31: fits int32
    best_d2 |= best_code
    return best_d2.view(np.uint32).ravel()


def colormap_scheme(name: str, cmap_name: str | None = None, samples: int = 256) -> PolylineScheme:
    """A scheme from a matplotlib colormap, interpolated linearly between its listed colours."""
    import matplotlib

    cmap = matplotlib.colormaps[cmap_name or name]
    colours = cmap(np.linspace(0.0, 1.0, samples))[:, :3]
    keep = np.concatenate([[True], np.any(np.diff(colours, axis=0) != 0, axis=1)])
    return PolylineScheme(name, colours[keep], description=f"matplotlib colormap '{cmap_name or name}' applied to f")


def builtin_schemes() -> list[ColorScheme]:
    """The colour schemes that ship with vb-plugins (registered through the plugin hooks)."""
    return [
        PolylineScheme(
            "vision-banana",
            VB_CUBE_PATH,
            description="published Vision Banana path: black-red-yellow-green-cyan-blue-magenta-white",
        ),
        colormap_scheme("plasma"),
        colormap_scheme("inferno"),
        colormap_scheme("viridis"),
        PolylineScheme("gray", [[0, 0, 0], [1, 1, 1]], description="black to white"),
    ]


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_colour_schemes():
    return builtin_schemes()
