"""Random rooms and outdoor layouts, drawn reproducibly from an integer seed (numpy PCG64).

Rooms: an axis-aligned box room (floor, ceiling, four walls; ~3-8 m x 3.5-9 m x 2.4-3.4 m) with
furniture-like boxes, balls, cans and pillars on the floor, pictures and doors on the walls, one point
light under the ceiling; the camera stands near one wall looking across. Depths ~0.3-12 m.

Outdoor: a ground disk reaching 80 m from the camera, buildings, crates, boulders, poles, tanks and
trees (trunk + crown), a sun with hard shadows (soft light, no shadows when overcast), a sky gradient
and distance haze. Sky pixels have no depth.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import replace

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.training.scenes.spec import (
    SCENE_KINDS,
    Box,
    Camera,
    Cylinder,
    Lighting,
    Material,
    Plane,
    SceneSpec,
    Sphere,
    class_id,
)

OUTDOOR_RANGE_M = 80.0  # farthest ground point from the camera


def _linear(rgb):
    """Display-space colour -> linear albedo (gamma 2, matching the renderer's display transform)."""
    return tuple(float(c) ** 2 for c in rgb)


def _hsv(rng, h, s, v):
    """A linear colour with hue, saturation and value drawn uniformly from the given ranges."""
    hue = rng.uniform(*h) % 1.0
    return _linear(colorsys.hsv_to_rgb(hue, rng.uniform(*s), rng.uniform(*v)))


def _shade_of(rng, base, lo=0.45, hi=0.8):
    """A darker (or lighter) variant of a linear colour for the second texture colour."""
    f = rng.uniform(lo, hi) if rng.random() < 0.7 else rng.uniform(1.2, 1.6)
    return tuple(float(min(1.0, c * f * f)) for c in base)


def _pick(rng, options, weights):
    """One of ``options`` with probability proportional to ``weights``."""
    r = rng.random() * sum(weights)
    for option, w in zip(options, weights):
        r -= w
        if r < 0:
            return option
    return options[-1]


_AXES = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _material(rng, base, textures, weights, scale, alt=None, specular=(0.0, 0.3)) -> Material:
    return Material(
        base=base,
        alt=alt if alt is not None else _shade_of(rng, base),
        texture=_pick(rng, textures, weights),
        scale=float(rng.uniform(*scale)),
        axis=_pick(rng, _AXES, (0.4, 0.4, 0.2)),
        offset=tuple(float(v) for v in rng.uniform(0.0, 50.0, 3)),
        specular=float(rng.uniform(*specular)),
    )


def _object_material(rng) -> Material:
    base = _hsv(rng, (0.0, 1.0), (0.15, 0.9), (0.3, 0.95))
    return _material(rng, base, ("solid", "checker", "stripes", "noise", "wood"), (3, 1.5, 1.5, 2, 1.5),
                     (0.06, 0.4), specular=(0.0, 0.6))


def _fits(xz, radius, placed, min_gap=0.05) -> bool:
    return all(math.hypot(xz[0] - x, xz[1] - z) >= radius + r + min_gap for x, z, r in placed)


def _look(position, heading, pitch):
    """Camera target one metre away: heading is the angle from -z towards -x (radians), pitch up."""
    fwd = np.array([-math.sin(heading) * math.cos(pitch), math.sin(pitch), -math.cos(heading) * math.cos(pitch)])
    return np.asarray(position) + fwd


def sample_room(rng: np.random.Generator, seed: int | None = None) -> SceneSpec:
    width, length, height = rng.uniform(3.0, 8.0), rng.uniform(3.5, 9.0), rng.uniform(2.4, 3.4)
    hw, hl = width / 2, length / 2

    floor = _material(rng, _hsv(rng, (0.04, 0.11), (0.3, 0.7), (0.3, 0.75)),
                      ("wood", "checker", "noise", "solid", "stripes"), (4, 2, 2, 1, 1), (0.15, 0.6))
    wall_base = _hsv(rng, (0.0, 1.0), (0.0, 0.3), (0.6, 0.95))
    walls = _material(rng, wall_base, ("solid", "stripes", "noise"), (4, 2, 2), (0.1, 0.5),
                      alt=_shade_of(rng, wall_base, 0.8, 0.95), specular=(0.0, 0.05))
    ceiling = _material(rng, _hsv(rng, (0.0, 1.0), (0.0, 0.08), (0.8, 0.98)), ("solid", "noise"), (3, 1),
                        (0.2, 1.0), specular=(0.0, 0.0))
    wall = class_id("wall")
    prims: list = [
        Plane((0, 1, 0), 0.0, floor, class_id("floor")),
        Plane((0, -1, 0), -height, ceiling, class_id("ceiling")),
        Plane((1, 0, 0), -hw, walls, wall),
        Plane((-1, 0, 0), -hw, walls, wall),
        Plane((0, 0, 1), -hl, walls, wall),
        Plane((0, 0, -1), -hl, walls if rng.random() < 0.7 else _object_material(rng), wall),
    ]

    # The camera stands near the +z wall and looks across the room.
    cam_pos = np.array([rng.uniform(-hw + 0.6, hw - 0.6), rng.uniform(1.0, min(1.8, height - 0.4)),
                        rng.uniform(hl - 1.4, hl - 0.5)])
    heading, pitch = math.radians(rng.uniform(-30, 30)), math.radians(rng.uniform(-30, 5))
    camera = Camera.look_at(cam_pos, _look(cam_pos, heading, pitch), float(rng.uniform(55, 90)))

    placed = [(cam_pos[0], cam_pos[2], 0.9)]  # keep clear of the camera
    objects: list = []
    tops: list = []  # (x, z, top y, free radius) of boxes that can carry something
    for _ in range(int(rng.integers(3, 10))):
        kind = _pick(rng, ("box", "sphere", "cylinder"), (0.45, 0.25, 0.3))
        mat = _object_material(rng)
        if kind == "box":
            half = (rng.uniform(0.15, 0.7), rng.uniform(0.1, 1.0), rng.uniform(0.15, 0.6))
            foot = math.hypot(half[0], half[2])
        elif kind == "sphere":
            radius = rng.uniform(0.1, 0.5)
            foot = radius
        else:
            radius = rng.uniform(0.08, 0.45)
            pillar = rng.random() < 0.15
            foot = radius
        if kind != "box" and tops and rng.random() < 0.3:
            x, z, top, free = tops[int(rng.integers(len(tops)))]
            if foot <= free:
                y0 = top
                xz = (x, z)
            else:
                continue
        else:
            for _ in range(30):
                xz = (rng.uniform(-hw + foot + 0.05, hw - foot - 0.05),
                      rng.uniform(-hl + foot + 0.05, hl - foot - 0.05))
                if _fits(xz, foot, placed):
                    break
            else:
                continue
            placed.append((*xz, foot))
            y0 = 0.0
        if kind == "box":
            yaw = 0.0 if rng.random() < 0.5 else float(rng.uniform(0, math.pi / 2))
            objects.append(Box((xz[0], y0 + half[1], xz[1]), half, mat, yaw, class_id("box")))
            tops.append((xz[0], xz[1], y0 + 2 * half[1], min(half[0], half[2])))
        elif kind == "sphere":
            y = y0 + radius if y0 > 0 or rng.random() < 0.8 else rng.uniform(radius + 0.3, height - radius - 0.3)
            objects.append(Sphere((xz[0], y, xz[1]), radius, mat, class_id("sphere")))
        else:
            tall = height if (pillar and y0 == 0.0) else rng.uniform(0.2, 1.4)
            objects.append(Cylinder((xz[0], y0, xz[1]), radius, min(tall, height - y0), mat, class_id("cylinder")))

    # Pictures and doors: thin boxes against the walls.
    for _ in range(int(rng.integers(0, 4))):
        side = int(rng.integers(4))
        along = hl if side < 2 else hw
        door = rng.random() < 0.3
        if door:
            w, h = rng.uniform(0.8, 1.0), min(2.1, height - 0.2)
        else:
            w, h = rng.uniform(0.4, 1.4), rng.uniform(0.3, 1.0)
        if w > 2 * along - 0.4:
            continue
        c = rng.uniform(-along + w / 2 + 0.2, along - w / 2 - 0.2)
        yc = h / 2 if door else rng.uniform(max(1.0, h / 2 + 0.3), max(1.0, height - h / 2 - 0.3))
        th = 0.03
        mat = _object_material(rng)
        if side < 2:  # walls x = -hw / +hw
            x = (-hw + th) if side == 0 else (hw - th)
            objects.append(Box((x, yc, c), (th, h / 2, w / 2), mat, 0.0, class_id("panel")))
        else:  # walls z = -hl / +hl
            z = (-hl + th) if side == 2 else (hl - th)
            objects.append(Box((c, yc, z), (w / 2, h / 2, th), mat, 0.0, class_id("panel")))

    prims += [_with_instance(p, i + 1) for i, p in enumerate(objects)]

    # A point light under the ceiling, outside every object.
    for _ in range(20):
        light = np.array([rng.uniform(-hw + 0.4, hw - 0.4), height - rng.uniform(0.15, 0.5),
                          rng.uniform(-hl + 0.4, hl - 0.4)])
        if not any(_contains(p, light) for p in objects):
            break
    warmth = rng.uniform(0.0, 0.25)
    power = rng.uniform(1.4, 2.6)
    lighting = Lighting(
        ambient=tuple(float(a) * rng.uniform(0.1, 0.25) for a in (1.0, 1.0 - warmth / 3, 1.0 - warmth / 2)),
        light=tuple(light),
        light_color=(power, power * (1 - warmth / 2), power * (1 - warmth)),
        point_light=True,
        falloff=float(rng.uniform(2.5, 5.0)),
        shadows=True,
    )
    return SceneSpec("room", camera, tuple(prims), lighting, seed)


def _with_instance(prim, instance: int):
    return replace(prim, instance=instance)


def _contains(prim, point, margin=0.05) -> bool:
    x, y, z = point
    if isinstance(prim, Sphere):
        return math.dist(prim.center, point) < prim.radius + margin
    if isinstance(prim, Cylinder):
        bx, by, bz = prim.base
        return math.hypot(x - bx, z - bz) < prim.radius + margin and by - margin < y < by + prim.height + margin
    if isinstance(prim, Box):
        c, s = math.cos(prim.yaw), math.sin(prim.yaw)
        dx, dy, dz = x - prim.center[0], y - prim.center[1], z - prim.center[2]
        local = (c * dx - s * dz, dy, s * dx + c * dz)
        return all(abs(v) < h + margin for v, h in zip(local, prim.half_size))
    return False


def sample_outdoor(rng: np.random.Generator, seed: int | None = None) -> SceneSpec:
    high = rng.random() < 0.15
    cam_h = rng.uniform(4.0, 12.0) if high else rng.uniform(1.2, 2.5)
    cam_pos = np.array([0.0, cam_h, 0.0])
    heading = rng.uniform(0, 2 * math.pi)
    pitch = math.radians(rng.uniform(-30, -10) if high else rng.uniform(-12, 4))
    fov = float(rng.uniform(45, 80))
    camera = Camera.look_at(cam_pos, _look(cam_pos, heading, pitch), fov)

    ground_kind = _pick(rng, ("grass", "asphalt", "sand", "plaza", "field"), (0.35, 0.2, 0.15, 0.15, 0.15))
    if ground_kind == "grass":
        ground = _material(rng, _hsv(rng, (0.18, 0.32), (0.4, 0.8), (0.3, 0.6)), ("noise",), (1,), (0.3, 2.0))
    elif ground_kind == "asphalt":
        ground = _material(rng, _hsv(rng, (0.0, 1.0), (0.0, 0.1), (0.25, 0.45)), ("noise",), (1,), (0.05, 0.5))
    elif ground_kind == "sand":
        ground = _material(rng, _hsv(rng, (0.09, 0.14), (0.25, 0.5), (0.6, 0.85)), ("noise",), (1,), (0.2, 3.0))
    elif ground_kind == "plaza":
        ground = _material(rng, _hsv(rng, (0.0, 1.0), (0.0, 0.25), (0.45, 0.8)), ("checker",), (1,), (0.5, 2.0))
    else:
        ground = _material(rng, _hsv(rng, (0.08, 0.3), (0.3, 0.7), (0.3, 0.6)), ("stripes",), (1,), (0.6, 2.0))
    radius = math.sqrt(OUTDOOR_RANGE_M ** 2 - cam_h ** 2)
    prims: list = [Plane((0, 1, 0), 0.0, ground, class_id("ground"), radius=radius, center=(0.0, 0.0, 0.0))]

    fov_rad = math.radians(fov)
    placed = [(0.0, 0.0, 2.0)]
    objects: list = []
    for _ in range(int(rng.integers(5, 16))):
        kind = _pick(rng, ("building", "crate", "boulder", "pole", "tank", "tree"), (0.25, 0.15, 0.15, 0.15, 0.1, 0.2))
        mat = _object_material(rng)
        if kind == "building":
            half = (rng.uniform(2, 10), rng.uniform(1.5, 12.5), rng.uniform(2, 10))
            foot, dist = math.hypot(half[0], half[2]), (15, 65)
            base = _hsv(rng, (0.0, 0.15), (0.0, 0.5), (0.35, 0.9))
            mat = _material(rng, base, ("checker", "stripes", "noise", "solid"), (2, 2, 1, 1), (0.8, 3.0),
                            specular=(0.0, 0.2))
        elif kind == "crate":
            half = tuple(rng.uniform(0.2, 1.0, 3))
            foot, dist = math.hypot(half[0], half[2]), (3, 25)
        elif kind == "boulder":
            r = rng.uniform(0.3, 2.0)
            foot, dist = r, (4, 40)
        elif kind == "pole":
            r, h = rng.uniform(0.05, 0.4), rng.uniform(2, 10)
            foot, dist = r, (4, 50)
        elif kind == "tank":
            r, h = rng.uniform(1.5, 5.0), rng.uniform(3, 15)
            foot, dist = r, (15, 60)
        else:
            r, h, crown = rng.uniform(0.1, 0.35), rng.uniform(1.5, 4.0), rng.uniform(1.0, 3.0)
            foot, dist = crown, (5, 50)
        for _ in range(30):
            in_view = rng.random() < 0.85
            angle = heading + (rng.uniform(-0.75, 0.75) * fov_rad if in_view else rng.uniform(0, 2 * math.pi))
            rho = rng.uniform(*dist)
            rho = min(rho, OUTDOOR_RANGE_M - 5 - foot)
            xz = (-math.sin(angle) * rho, -math.cos(angle) * rho)
            if _fits(xz, foot, placed, 0.3):
                break
        else:
            continue
        placed.append((*xz, foot))
        x, z = xz
        if kind in ("building", "crate"):
            objects.append(Box((x, half[1], z), half, mat, float(rng.uniform(0, math.pi / 2)), class_id("box")))
        elif kind == "boulder":
            objects.append(Sphere((x, rng.uniform(0.3, 1.0) * r, z), r, mat, class_id("sphere")))
        elif kind in ("pole", "tank"):
            objects.append(Cylinder((x, 0.0, z), r, h, mat, class_id("cylinder")))
        else:
            bark_colour = _hsv(rng, (0.05, 0.1), (0.4, 0.7), (0.2, 0.45))
            bark = _material(rng, bark_colour, ("wood", "noise"), (1, 1), (0.05, 0.2))
            leaves = _material(rng, _hsv(rng, (0.2, 0.38), (0.4, 0.85), (0.25, 0.6)), ("noise",), (1,), (0.1, 0.5))
            objects.append(Cylinder((x, 0.0, z), r, h + crown * 0.5, bark, class_id("cylinder")))
            objects.append(Sphere((x, h + crown, z), crown, leaves, class_id("sphere")))
    prims += [_with_instance(p, i + 1) for i, p in enumerate(objects)]

    overcast = rng.random() < 0.2
    elevation, azimuth = math.radians(rng.uniform(15, 65)), rng.uniform(0, 2 * math.pi)
    sun = (math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth))
    if overcast:
        grey = rng.uniform(0.55, 0.85)
        zenith = _linear((grey * 0.9, grey * 0.92, grey))
        horizon = _linear((min(1.0, grey + 0.1),) * 3)
        sun_power, ambient_power = rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9)
    else:
        zenith = _hsv(rng, (0.55, 0.63), (0.35, 0.75), (0.6, 0.9))
        horizon = _hsv(rng, (0.55, 0.62), (0.05, 0.25), (0.85, 0.98))
        sun_power, ambient_power = rng.uniform(1.0, 1.5), rng.uniform(0.25, 0.45)
    warmth = rng.uniform(0.0, 0.2)
    lighting = Lighting(
        ambient=(ambient_power * 0.85, ambient_power * 0.92, ambient_power),
        light=sun,
        light_color=(sun_power, sun_power * (1 - warmth / 2), sun_power * (1 - warmth)),
        point_light=False,
        shadows=not overcast,
        sky_zenith=zenith,
        sky_horizon=horizon,
        haze=float(rng.uniform(150, 500)),
    )
    return SceneSpec("outdoor", camera, tuple(prims), lighting, seed)


def sample_scene(seed: int, kind: str | None = None) -> SceneSpec:
    """The scene of ``seed``: the kind is drawn from the seed unless given (the rest does not change)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if kind is not None and kind not in SCENE_KINDS:
        raise InputError(f"scene kind {kind!r} is not one of {', '.join(SCENE_KINDS)} (or None)")
    rng = np.random.default_rng(int(seed))
    drawn = SCENE_KINDS[int(rng.integers(len(SCENE_KINDS)))]
    kind = kind or drawn
    return sample_room(rng, int(seed)) if kind == "room" else sample_outdoor(rng, int(seed))
