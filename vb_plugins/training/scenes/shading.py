"""Procedural textures and shading of flat ray lists (linear RGB).

Lambert + ambient (a little stronger from above) + a Blinn-Phong highlight, one point light or sun
with hard shadows, haze towards the horizon colour, and a sky gradient with a glow around the sun.
Only exactly rounded operations are used (no exp/sin/pow), so colours do not depend on the batch.
"""

from __future__ import annotations

import torch

from vb_plugins.training.scenes.pack import ATTRS, LIGHT, TEXTURE_ID, SceneBatch, per_ray, take
from vb_plugins.training.scenes.raycast import occluded

SPECULAR_SQUARINGS = 5  # highlight exponent 2**5 = 32, by repeated squaring
FAR = 1e30  # "no limit" for shadow rays towards the sun (finite, so arithmetic stays NaN-free)


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _pow2k(x, k: int):
    for _ in range(k):
        x = x * x
    return x


def _light_rows(batch: SceneBatch, bi: torch.Tensor) -> dict:
    return per_ray(batch, batch.light, bi, LIGHT)


# ---------------------------------------------------------------- textures


def _hash01(ix, iy, iz):
    """Integer lattice -> uniform [0, 1) floats (int64 arithmetic, identical on every device)."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791)
    h = h & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    h = ((h ^ (h >> 12)) * 0x297A2D39) & 0xFFFFFFFF
    h = h ^ (h >> 15)
    return (h & 0xFFFFFF).to(torch.float32) * (1.0 / 16777216.0)


def value_noise(x, y, z):
    """Smooth 3D value noise in [0, 1): trilinear interpolation of lattice hashes, smoothstep-faded."""
    fx, fy, fz = torch.floor(x), torch.floor(y), torch.floor(z)
    sx, sy, sz = x - fx, y - fy, z - fz
    sx = sx * sx * (3.0 - 2.0 * sx)
    sy = sy * sy * (3.0 - 2.0 * sy)
    sz = sz * sz * (3.0 - 2.0 * sz)
    ix, iy, iz = fx.long(), fy.long(), fz.long()

    def lerp(a, b, s):
        return a + (b - a) * s

    corners = [[_hash01(ix + a, iy + b, iz + c) for c in (0, 1)] for a in (0, 1) for b in (0, 1)]
    # corners[2a + b][c]
    x00 = lerp(corners[0][0], corners[2][0], sx)
    x10 = lerp(corners[1][0], corners[3][0], sx)
    x01 = lerp(corners[0][1], corners[2][1], sx)
    x11 = lerp(corners[1][1], corners[3][1], sx)
    return lerp(lerp(x00, x10, sy), lerp(x01, x11, sy), sz)


def _fbm(x, y, z):
    fine = value_noise(x * 2.03 + 17.0, y * 2.03 + 5.0, z * 2.03 + 11.0)
    return value_noise(x, y, z) * 0.65 + fine * 0.35


def albedo(a: dict, q):
    """Linear-RGB albedo per ray from material attributes ``a`` and texture coordinates ``q`` (metres)."""
    inv = a["inv_scale"]
    u = [(q[0] + a["ox"]) * inv, (q[1] + a["oy"]) * inv, (q[2] + a["oz"]) * inv]
    tex = a["tex"]
    checker = torch.floor(u[0]) + torch.floor(u[1]) + torch.floor(u[2])
    checker = checker - 2.0 * torch.floor(checker * 0.5)
    stripe = _dot(u, (a["axx"], a["axy"], a["axz"]))
    stripe = torch.where(stripe - torch.floor(stripe) < 0.5, 1.0, 0.0)
    mix = torch.where(tex == TEXTURE_ID["checker"], checker, torch.where(tex == TEXTURE_ID["stripes"], stripe, 0.0))

    # Noise-based textures only where used.
    noisy = ((tex == TEXTURE_ID["noise"]) | (tex == TEXTURE_ID["wood"])).nonzero().squeeze(1)
    if noisy.numel():
        x, y, z = (c[noisy] for c in u)
        wood = tex[noisy] == TEXTURE_ID["wood"]
        # Wood: rings around the local y axis, distorted by noise stretched along the grain.
        noise = _fbm(torch.where(wood, x * 1.5, x), torch.where(wood, y * 0.15, y), torch.where(wood, z * 1.5, z))
        ring = torch.sqrt(x * x + z * z) + noise * 0.8
        ring = ring - torch.floor(ring)
        mix[noisy] = torch.where(wood, ring * ring, torch.clamp((noise - 0.5) * 2.2 + 0.5, 0.0, 1.0))
    base = (a["br"], a["bg"], a["bb"])
    alt = (a["ar"], a["ag"], a["ab"])
    return [base[i] + (alt[i] - base[i]) * mix for i in range(3)], a["spec"]


# ---------------------------------------------------------------- shading


def shade_hits(batch: SceneBatch, bi, o, d, t, p, n, q, prim):
    """Linear RGB of flat rays that hit a surface (all inputs (m,) or 3-lists of (m,))."""
    L = _light_rows(batch, bi)
    rgb, spec = albedo(dict(zip(ATTRS, batch.attrs[bi, prim].unbind(-1))), q)

    # Towards the light: a point light (falloff 1/(1 + (d/falloff)^2)) or the sun (point = 0).
    to_l = [L[k] - p[i] * L["point"] for i, k in enumerate(("lx", "ly", "lz"))]
    dist2 = _dot(to_l, to_l)
    dist = torch.sqrt(dist2)
    lvec = [x / dist for x in to_l]
    atten = 1.0 / (1.0 + dist2 * L["inv_falloff2"])
    ndl = torch.clamp(_dot(n, lvec), min=0.0)

    # Hard shadows: one ray per lit pixel towards the light, from just off the surface.
    vis = torch.ones_like(ndl)
    if batch.has_shadows:
        sel = ((ndl > 0) & (L["shadows"] > 0.5)).nonzero().squeeze(1)
        if sel.numel():
            eps = 1e-3 + 1e-4 * t[sel]
            origin = [p[i][sel] + n[i][sel] * eps for i in range(3)]
            point = take(L["point"], sel)
            t_max = dist[sel] * point + FAR * (1.0 - point) - eps
            blocked = occluded(batch, bi[sel], origin, [x[sel] for x in lvec], t_max)
            vis[sel] = torch.where(blocked, 0.0, 1.0)

    inv_dlen = 1.0 / torch.sqrt(_dot(d, d))
    view = [-x * inv_dlen for x in d]
    half = [lvec[i] + view[i] for i in range(3)]
    half_len = torch.sqrt(_dot(half, half))
    ndh = torch.clamp(_dot(n, half) / torch.clamp(half_len, min=1e-12), min=0.0)
    direct = ndl * atten * vis
    highlight = spec * _pow2k(ndh, SPECULAR_SQUARINGS) * direct
    from_above = 0.8 + 0.2 * n[1]
    light = (L["lr"], L["lg"], L["lb"])
    ambient = (L["ar"], L["ag"], L["ab"])
    colour = [rgb[i] * (ambient[i] * from_above + light[i] * direct) + light[i] * highlight for i in range(3)]

    # Haze towards the horizon colour: half faded at `haze` metres (inf: none).
    range_m = t / inv_dlen
    fade = range_m / (range_m + L["haze"])
    horizon = (L["hr"], L["hg"], L["hb"])
    return [colour[i] + (horizon[i] - colour[i]) * fade for i in range(3)]


def sky(batch: SceneBatch, bi, d):
    """Linear RGB of flat rays that hit nothing: a horizon-to-zenith gradient and a sun glow (black
    for scenes without a sky)."""
    L = _light_rows(batch, bi)
    inv_len = 1.0 / torch.sqrt(_dot(d, d))
    unit = [x * inv_len for x in d]
    grad = torch.sqrt(torch.clamp(unit[1], min=0.0))
    sun = (L["lx"], L["ly"], L["lz"])
    to_sun = torch.clamp(_dot(unit, sun), min=0.0) * (1.0 - L["point"])
    glow = _pow2k(to_sun, 8) * 4.0 + _pow2k(to_sun, 4) * 0.15
    horizon = (L["hr"], L["hg"], L["hb"])
    zenith = (L["zr"], L["zg"], L["zb"])
    has_sky = torch.clamp((horizon[0] + horizon[1] + horizon[2]) * 1e6, max=1.0)
    light = (L["lr"], L["lg"], L["lb"])
    return [horizon[i] + (zenith[i] - horizon[i]) * grad + light[i] * glow * has_sky for i in range(3)]
