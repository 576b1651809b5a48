"""Scene specs packed into padded torch tables, one row per scene, for the ray caster."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vb_plugins.errors import InputError
from vb_plugins.training.scenes.spec import TEXTURES, Box, Cylinder, Plane, SceneSpec, Sphere

TYPES = ("sphere", "box", "cylinder", "plane")
COLUMNS = {
    "sphere": ("x", "y", "z", "r2"),
    "box": ("x", "y", "z", "hx", "hy", "hz", "cos", "sin"),
    "cylinder": ("x", "z", "y0", "y1", "r2"),
    "plane": ("nx", "ny", "nz", "k", "cx", "cy", "cz", "R2", "t1x", "t1y", "t1z", "t2x", "t2y", "t2z"),
}
# Per-primitive material attributes, shared by all types.
ATTRS = ("br", "bg", "bb", "ar", "ag", "ab", "tex", "inv_scale", "axx", "axy", "axz", "ox", "oy", "oz", "spec")
LIGHT = ("ar", "ag", "ab", "lx", "ly", "lz", "lr", "lg", "lb", "point", "inv_falloff2", "shadows",
         "zr", "zg", "zb", "hr", "hg", "hb", "haze")
CAMERA = ("px", "py", "pz", "rx", "ry", "rz", "ux", "uy", "uz", "bx", "by", "bz", "f", "cx", "cy")
TEXTURE_ID = {name: float(i) for i, name in enumerate(TEXTURES)}
MAX_PRIMITIVES = 1024  # per scene: the primitive index lives in the low bits of a float's mantissa


@dataclass
class SceneBatch:
    """Padded per-type primitive tables on one device.

    Padding rows are NaN: every hit test on them fails, so no per-primitive "active" flag is needed.
    Primitive ``i`` of type ``T`` has the global index ``offsets[T] + i`` in ``attrs``/``semantic``/
    ``instance``.
    """

    size: int
    device: torch.device
    camera: torch.Tensor  # (B, len(CAMERA))
    light: torch.Tensor  # (B, len(LIGHT))
    tables: dict  # type -> (B, P, len(COLUMNS[type]))
    columns: dict  # type -> {column: (B, P, 1) contiguous}
    offsets: dict  # type -> first global index
    attrs: torch.Tensor  # (B, P_all, len(ATTRS))
    semantic: torch.Tensor  # (B, P_all) uint8
    instance: torch.Tensor  # (B, P_all) int32
    index_bits: int  # low mantissa bits that carry the global primitive index in hit keys
    has_disks: bool  # some plane is a finite disk
    has_shadows: bool
    max_per_type: int


def _row(prim) -> tuple[str, list[float]]:
    if isinstance(prim, Sphere):
        return "sphere", [*prim.center, float(prim.radius) ** 2]
    if isinstance(prim, Box):
        return "box", [*prim.center, *prim.half_size, math.cos(prim.yaw), math.sin(prim.yaw)]
    if isinstance(prim, Cylinder):
        x, y0, z = prim.base
        return "cylinder", [x, z, y0, y0 + prim.height, float(prim.radius) ** 2]
    if isinstance(prim, Plane):
        n = np.asarray(prim.normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        helper = np.array([0.0, 0.0, 1.0]) if abs(n[1]) > 0.9 else np.array([0.0, 1.0, 0.0])
        t1 = np.cross(helper, n)
        t1 /= np.linalg.norm(t1)
        t2 = np.cross(n, t1)
        radius2 = prim.radius ** 2 if math.isfinite(prim.radius) else math.inf
        return "plane", [*n, float(prim.offset), *prim.center, radius2, *t1, *t2]
    raise InputError(f"not a scene primitive: {type(prim).__name__}")


def _attr_row(prim) -> list[float]:
    m = prim.material
    return [*m.base, *m.alt, TEXTURE_ID[m.texture], 1.0 / m.scale, *m.axis, *m.offset, m.specular]


def _light_row(spec: SceneSpec) -> list[float]:
    L = spec.lighting
    vec = np.asarray(L.light, dtype=np.float64)
    if not L.point_light:
        vec = vec / np.linalg.norm(vec)
    zenith = L.sky_zenith if L.sky_zenith is not None else (0.0, 0.0, 0.0)
    horizon = L.sky_horizon if L.sky_horizon is not None else (0.0, 0.0, 0.0)
    inv_falloff2 = 1.0 / L.falloff ** 2 if (L.point_light and math.isfinite(L.falloff)) else 0.0
    return [*L.ambient, *vec, *L.light_color, float(L.point_light), inv_falloff2, float(L.shadows),
            *zenith, *horizon, L.haze]


def _camera_row(spec: SceneSpec, height: int, width: int) -> list[float]:
    cam = spec.camera
    rot = cam.matrix
    K = cam.intrinsics(height, width)
    return [*cam.position, *rot[:, 0], *rot[:, 1], *rot[:, 2], K[0, 0], K[0, 2], K[1, 2]]


def pack(specs: list[SceneSpec], height: int, width: int, device: torch.device) -> SceneBatch:
    B = len(specs)
    rows = {t: [[] for _ in specs] for t in TYPES}
    for b, spec in enumerate(specs):
        if len(spec.primitives) > MAX_PRIMITIVES:
            raise InputError(f"scene {b} has {len(spec.primitives)} primitives; at most {MAX_PRIMITIVES} are supported")
        for prim in spec.primitives:
            kind, row = _row(prim)
            rows[kind][b].append((row, _attr_row(prim), prim.semantic, prim.instance))
    counts = {t: max(len(r) for r in rows[t]) for t in TYPES}
    total = sum(counts.values())

    attrs = np.zeros((B, max(total, 1), len(ATTRS)), dtype=np.float32)
    attrs[..., ATTRS.index("inv_scale")] = 1.0
    semantic = np.zeros(attrs.shape[:2], dtype=np.uint8)
    instance = np.zeros(attrs.shape[:2], dtype=np.int32)
    tables, columns, offsets = {}, {}, {}
    start = 0
    for t in TYPES:
        offsets[t] = start
        if counts[t] == 0:
            continue
        table = np.full((B, counts[t], len(COLUMNS[t])), np.nan, dtype=np.float64)
        for b in range(B):
            for i, (row, arow, sem, inst) in enumerate(rows[t][b]):
                table[b, i] = row
                attrs[b, start + i] = arow
                semantic[b, start + i] = sem
                instance[b, start + i] = inst
        tables[t] = torch.as_tensor(table.astype(np.float32), device=device)
        columns[t] = {name: tables[t][:, :, j:j + 1].contiguous() for j, name in enumerate(COLUMNS[t])}
        start += counts[t]

    light = torch.tensor([_light_row(s) for s in specs], dtype=torch.float32, device=device)
    disks = "plane" in tables and bool(torch.isfinite(tables["plane"][..., COLUMNS["plane"].index("R2")]).any())
    return SceneBatch(
        size=B,
        device=device,
        camera=torch.tensor([_camera_row(s, height, width) for s in specs], dtype=torch.float32, device=device),
        light=light,
        tables=tables,
        columns=columns,
        offsets=offsets,
        attrs=torch.as_tensor(attrs, device=device),
        semantic=torch.as_tensor(semantic, device=device),
        instance=torch.as_tensor(instance, device=device),
        index_bits=max(1, math.ceil(math.log2(max(total, 2)))),
        has_disks=disks,
        has_shadows=any(s.lighting.shadows for s in specs),
        max_per_type=max(1, max(counts.values())),
    )


def per_ray(batch: SceneBatch, table: torch.Tensor, bi: torch.Tensor, names) -> dict:
    """Per-scene table rows for flat rays with scene indices ``bi``: {name: (m,) tensor}, or 0-d
    tensors that broadcast when the batch holds one scene (no gather)."""
    rows = table[0] if batch.size == 1 else table[bi]
    return dict(zip(names, rows.unbind(-1)))


def take(x: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    """``x[sel]`` for per-ray tensors; broadcast (0-d) values pass through."""
    return x if x.dim() == 0 else x[sel]


def columns_of(table_rows: torch.Tensor, kind: str) -> dict:
    """Gathered table rows (..., k) -> {column: (...)}."""
    return dict(zip(COLUMNS[kind], table_rows.unbind(-1)))
