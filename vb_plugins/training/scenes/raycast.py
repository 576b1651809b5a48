"""Vectorised ray-primitive intersection for packed scenes, in torch (CPU or GPU).

Rays arrive as flat lists with a scene index per ray; they are laid out per scene as ``(B, 1, n)``
and tested against ``(B, P, 1)`` primitive columns, so each operation runs over contiguous rays (the
fast layout for CPU vector units) for every primitive at once, in chunks that bound memory.

Hit tests avoid comparisons and ``torch.where`` in the (ray x primitive) loops (both are slow on CPU):
a candidate hit is its distance ``t`` plus conditions that must be >= 0, folded into an int32 *key*:
the bits of ``t`` (ordered like ``t`` for t >= 0), pushed to inf or above when ``t`` is negative or
NaN or a condition is negative. The low mantissa bits then carry the primitive index, so one
``amin`` finds the nearest hit and its primitive (surfaces closer together than ~1e-5 of their
distance may rank either way). The exact ``t`` of the winner is recomputed by the same formula
afterwards, so depth keeps full float32 precision.

Every step is a plain IEEE elementwise operation (no matmul, no fused multiply-add, no transcendental
functions), so a ray's result does not depend on the batch it was traced in, and renders are
bit-for-bit reproducible on a device.
"""

from __future__ import annotations

import torch

from vb_plugins.training.scenes.pack import TYPES, SceneBatch, columns_of, take

INF_BITS = 0x7F800000  # int32 bits of +inf
CHUNK_ELEMENTS = 1 << 18  # rays x primitives x scenes per chunk


# ---------------------------------------------------------------- keys


def _negative_bits(x: torch.Tensor) -> torch.Tensor:
    """INF_BITS where x has its sign bit set (x < 0, -0.0 or a negative NaN), else 0."""
    return (x.view(torch.int32) >> 31) & INF_BITS


def hit_key(t: torch.Tensor, conditions=()) -> torch.Tensor:
    """int32 keys ordered like t for valid hits; >= INF_BITS for misses (t < 0, NaN, a condition < 0)."""
    k = t.view(torch.int32)
    k = (k & 0x7FFFFFFF) | ((k >> 31) & INF_BITS)
    for c in conditions:
        k = k | _negative_bits(c)
    return k


# ---------------------------------------------------------------- primitives
# o, d: 3-tuples of broadcastable tensors (d need not be unit length); p: primitive columns.
# Each returns candidate hits [(t, conditions)]; a hit counts where t > 0 and all conditions >= 0.


def sphere_hits(o, d, s):
    ocx, ocy, ocz = o[0] - s["x"], o[1] - s["y"], o[2] - s["z"]
    b = ocx * d[0] + ocy * d[1] + ocz * d[2]
    c = ocx * ocx + ocy * ocy + ocz * ocz - s["r2"]
    dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    inv_dd = 1.0 / dd  # per ray: a multiplication per (ray, sphere) instead of a division
    return [((-b - torch.sqrt(b * b - dd * c)) * inv_dd, ())]  # NaN where the ray misses


def box_local(x, z, cos, sin):
    """World (x, z) offsets or directions -> the box frame (rotation by -yaw about y)."""
    return cos * x - sin * z, sin * x + cos * z


def box_slabs(o, d, bx):
    """(t_near, t_far, per-axis entry distances) of the slab test in the box frame."""
    olx, olz = box_local(o[0] - bx["x"], o[2] - bx["z"], bx["cos"], bx["sin"])
    dlx, dlz = box_local(d[0], d[2], bx["cos"], bx["sin"])
    entries, t_far = [], None
    for ol, dl, h in ((olx, dlx, bx["hx"]), (o[1] - bx["y"], d[1], bx["hy"]), (olz, dlz, bx["hz"])):
        inv = 1.0 / dl  # per ray for the y slab; one division instead of two
        t1 = (-h - ol) * inv
        t2 = (h - ol) * inv
        entries.append(torch.minimum(t1, t2))  # NaN (padding) propagates
        hi = torch.maximum(t1, t2)
        t_far = hi if t_far is None else torch.minimum(t_far, hi)
    t_near = torch.maximum(torch.maximum(entries[0], entries[1]), entries[2])
    return t_near, t_far, entries


def box_hits(o, d, bx):
    t_near, t_far, _ = box_slabs(o, d, bx)
    return [(t_near, (t_far - t_near,))]


def cylinder_hits(o, d, cy, one_cap: bool = False):
    """Side, top cap (seen from above) and bottom cap (seen from below) of an upright cylinder.

    ``one_cap``: the origin is shared by all rays of a scene, so only the cap it can see is tested
    (chosen once per primitive); the hits are the same.
    """
    ocx, ocz = o[0] - cy["x"], o[2] - cy["z"]
    a = d[0] * d[0] + d[2] * d[2]
    b = ocx * d[0] + ocz * d[2]
    c = ocx * ocx + ocz * ocz - cy["r2"]
    ts = (-b - torch.sqrt(b * b - a * c)) * (1.0 / a)
    ys = o[1] + ts * d[1]
    hits = [(ts, (ys - cy["y0"], cy["y1"] - ys))]
    caps = ((cy["y1"], o[1] - cy["y1"]), (cy["y0"], cy["y0"] - o[1]))
    if one_cap:  # (B, P, 1) choices: the top cap if the origin is above it, else the bottom one
        above = o[1] >= cy["y1"]
        caps = ((torch.where(above, cy["y1"], cy["y0"]), torch.where(above, caps[0][1], caps[1][1])),)
    for y_cap, outside in caps:
        tc = (y_cap - o[1]) / d[1]
        px = ocx + tc * d[0]
        pz = ocz + tc * d[2]
        hits.append((tc, (outside, cy["r2"] - (px * px + pz * pz))))
    return hits


def plane_hits(o, d, pl, disks: bool):
    nd = pl["nx"] * d[0] + pl["ny"] * d[1] + pl["nz"] * d[2]
    no = pl["nx"] * o[0] + pl["ny"] * o[1] + pl["nz"] * o[2]
    t = (pl["k"] - no) / nd
    if not disks:
        return [(t, ())]
    qx = o[0] + t * d[0] - pl["cx"]
    qy = o[1] + t * d[1] - pl["cy"]
    qz = o[2] + t * d[2] - pl["cz"]
    return [(t, (pl["R2"] - (qx * qx + qy * qy + qz * qz),))]


def candidates(kind: str, o, d, cols, disks: bool, shared_origin: bool = False):
    if kind == "sphere":
        return sphere_hits(o, d, cols)
    if kind == "box":
        return box_hits(o, d, cols)
    if kind == "cylinder":
        return cylinder_hits(o, d, cols, one_cap=shared_origin)
    return plane_hits(o, d, cols, disks)


def _type_key(kind, o, d, cols, disks, shared_origin=False):
    keys = [hit_key(t, conds) for t, conds in candidates(kind, o, d, cols, disks, shared_origin)]
    key = keys[0]
    for k in keys[1:]:
        key = torch.minimum(key, k)
    return key


# ---------------------------------------------------------------- tracing


def _per_scene_layout(bi: torch.Tensor, size: int):
    """For flat rays sorted by scene index: (rays per scene padded M, position of each ray in its row)."""
    if size == 1:
        return bi.numel(), None
    counts = torch.bincount(bi, minlength=size)
    starts = torch.cumsum(counts, 0) - counts
    return int(counts.max()), torch.arange(bi.numel(), device=bi.device) - starts[bi]


def _to_rows(x: torch.Tensor, bi, pos, size: int, width: int, fill: float = 0.0) -> torch.Tensor:
    if pos is None:
        return x[None]
    out = torch.full((size, width), fill, dtype=x.dtype, device=x.device)
    out[bi, pos] = x
    return out


def _from_rows(rows: torch.Tensor, bi, pos) -> torch.Tensor:
    return rows[0] if pos is None else rows[bi, pos]


def _chunks(batch: SceneBatch, width: int):
    step = max(1024, CHUNK_ELEMENTS // (batch.size * batch.max_per_type))
    return range(0, width, step), step


def closest_hit(batch: SceneBatch, bi: torch.Tensor, origin, direction, origin_per_scene: bool):
    """Nearest primitive along each flat ray: (hit mask (m,), global primitive index (m,) int64).

    ``origin``: three (B,) tensors (one origin per scene, ``origin_per_scene``) or three (m,) tensors.
    """
    if not batch.tables:
        return torch.zeros_like(bi, dtype=torch.bool), torch.zeros_like(bi)
    low = (1 << batch.index_bits) - 1
    width, pos = _per_scene_layout(bi, batch.size)
    B = batch.size
    d_rows = [_to_rows(x, bi, pos, B, width) for x in direction]
    o_rows = [x.view(B, 1) for x in origin] if origin_per_scene else [_to_rows(x, bi, pos, B, width) for x in origin]
    index = {k: (torch.arange(batch.tables[k].shape[1], dtype=torch.int32, device=batch.device) + batch.offsets[k])
             .view(1, -1, 1) for k in batch.tables}
    starts, step = _chunks(batch, width)
    best_rows = []
    for s in starts:
        d3 = [x[:, None, s:s + step] for x in d_rows]
        o3 = [x[:, None] if origin_per_scene else x[:, None, s:s + step] for x in o_rows]
        best = None
        for kind in TYPES:
            if kind not in batch.tables:
                continue
            key = _type_key(kind, o3, d3, batch.columns[kind], batch.has_disks, origin_per_scene)
            key = torch.amin((key & ~low) | index[kind], dim=1)
            best = key if best is None else torch.minimum(best, key)
        best_rows.append(best)
    best = _from_rows(torch.cat(best_rows, 1), bi, pos)
    return (best & ~low) < INF_BITS, (best & low).long()


def occluded(batch: SceneBatch, bi: torch.Tensor, origin, direction, t_max: torch.Tensor) -> torch.Tensor:
    """Whether an object (planes never cast shadows here) lies on each flat ray with 0 < t < t_max."""
    width, pos = _per_scene_layout(bi, batch.size)
    B = batch.size
    o_rows = [_to_rows(x, bi, pos, B, width) for x in origin]
    d_rows = [_to_rows(x, bi, pos, B, width) for x in direction]
    limit = hit_key(_to_rows(t_max, bi, pos, B, width))  # padding: t_max = 0, never blocked
    starts, step = _chunks(batch, width)
    blocked_rows = []
    for s in starts:
        o3 = [x[:, None, s:s + step] for x in o_rows]
        d3 = [x[:, None, s:s + step] for x in d_rows]
        best = None
        for kind in ("sphere", "box", "cylinder"):
            if kind not in batch.tables:
                continue
            key = torch.amin(_type_key(kind, o3, d3, batch.columns[kind], False), dim=1)
            best = key if best is None else torch.minimum(best, key)
        if best is None:
            best = torch.full_like(limit[:, s:s + step], INF_BITS)
        blocked_rows.append(best < limit[:, s:s + step])
    return _from_rows(torch.cat(blocked_rows, 1), bi, pos)


# ---------------------------------------------------------------- surfaces


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _sphere_surface(o, d, c, disks):
    t = sphere_hits(o, d, c)[0][0]
    p = [o[i] + t * d[i] for i in range(3)]
    rel = [p[0] - c["x"], p[1] - c["y"], p[2] - c["z"]]
    return t, p, rel, rel


def _box_surface(o, d, c, disks):
    t, _, entries = box_slabs(o, d, c)
    p = [o[i] + t * d[i] for i in range(3)]
    on_x = t == entries[0]  # the slab that was entered last is the face that was hit
    on_y = ~on_x & (t == entries[1])
    on_z = ~on_x & ~on_y
    one, zero = torch.ones_like(t), torch.zeros_like(t)
    nlx, nly, nlz = torch.where(on_x, one, zero), torch.where(on_y, one, zero), torch.where(on_z, one, zero)
    cos, sin = c["cos"], c["sin"]
    normal = [cos * nlx + sin * nlz, nly, cos * nlz - sin * nlx]  # back to world (rotation by +yaw)
    lx, lz = box_local(p[0] - c["x"], p[2] - c["z"], cos, sin)
    ly = p[1] - c["y"]
    q = [torch.where(on_x, zero, lx), torch.where(on_y, zero, ly), torch.where(on_z, zero, lz)]
    return t, p, normal, q


def _cylinder_surface(o, d, c, disks):
    (ts, side), (tt, top), (tb, bottom) = cylinder_hits(o, d, c)
    ks, kt, kb = hit_key(ts, side), hit_key(tt, top), hit_key(tb, bottom)
    on_top = kt < torch.minimum(ks, kb)
    on_bottom = ~on_top & (kb < ks)
    t = torch.where(on_top, tt, torch.where(on_bottom, tb, ts))
    cap = on_top | on_bottom
    p = [o[i] + t * d[i] for i in range(3)]
    rx, rz = p[0] - c["x"], p[2] - c["z"]
    zero = torch.zeros_like(t)
    normal = [torch.where(cap, zero, rx), torch.where(cap, zero + 1.0, zero), torch.where(cap, zero, rz)]
    return t, p, normal, [rx, p[1] - c["y0"], rz]


def _plane_surface(o, d, c, disks):
    t = plane_hits(o, d, c, False)[0][0]
    p = [o[i] + t * d[i] for i in range(3)]
    q = [_dot(p, (c["t1x"], c["t1y"], c["t1z"])), _dot(p, (c["t2x"], c["t2y"], c["t2z"])), torch.zeros_like(t)]
    return t, p, [c["nx"], c["ny"], c["nz"]], q


_SURFACES = {"sphere": _sphere_surface, "box": _box_surface, "cylinder": _cylinder_surface, "plane": _plane_surface}


def surface(batch: SceneBatch, bi, origin, direction, prim):
    """Exact hits for flat rays that hit ``prim`` (global index): t (the ray parameter), points,
    unit world normals facing the ray, and texture coordinates in the primitive's frame.
    ``origin`` holds (m,) tensors or 0-d tensors shared by all rays."""
    m = prim.numel()
    t = torch.empty(m, device=batch.device)
    p = [torch.empty_like(t) for _ in range(3)]
    n = [torch.empty_like(t) for _ in range(3)]
    q = [torch.empty_like(t) for _ in range(3)]
    for kind in TYPES:
        if kind not in batch.tables:
            continue
        first = batch.offsets[kind]
        sel = ((prim >= first) & (prim < first + batch.tables[kind].shape[1])).nonzero().squeeze(1)
        if not sel.numel():
            continue
        cols = columns_of(batch.tables[kind][bi[sel], prim[sel] - first], kind)
        tk, pk, nk, qk = _SURFACES[kind]([take(x, sel) for x in origin], [x[sel] for x in direction], cols,
                                         batch.has_disks)
        t[sel] = tk
        for i in range(3):
            p[i][sel] = pk[i]
            n[i][sel] = nk[i]
            q[i][sel] = qk[i]
    inv_len = 1.0 / torch.sqrt(_dot(n, n))
    flip = torch.where(_dot(n, direction) > 0, -inv_len, inv_len)  # two-sided: face the ray
    return t, p, [x * flip for x in n], q
