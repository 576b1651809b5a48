"""Scene descriptions: primitives, materials, camera and lighting, in world coordinates.

World frame: metres, y up, the ground/floor is the plane y = 0. A camera's ``rotation`` is the
world-from-camera rotation whose columns are the camera's right, up and back axes (the camera looks
down its -z axis), so camera-frame vectors are x right, y up, z towards the camera: the convention of
the normals codec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from vb_plugins.errors import InputError

#: Semantic class ids are positions in this tuple; they are stable (append new classes at the end).
#: 0 "sky" also covers any pixel whose ray hits nothing.
SEMANTIC_CLASSES: tuple[str, ...] = (
    "sky",       # 0: nothing hit (outdoor sky); never occurs in rooms
    "floor",     # 1: room floor
    "wall",      # 2: room walls
    "ceiling",   # 3: room ceiling
    "ground",    # 4: outdoor ground
    "box",       # 5: boxes (furniture, crates, buildings)
    "sphere",    # 6: spheres (balls, boulders, bushes, tree crowns)
    "cylinder",  # 7: upright cylinders (pillars, cans, tree trunks, poles, tanks)
    "panel",     # 8: thin boxes on room walls (pictures, doors)
)

#: Classes that are "stuff": their pixels have instance id 0.
STUFF_CLASSES: tuple[str, ...] = ("sky", "floor", "wall", "ceiling", "ground")

#: Procedural textures; ids are positions in this tuple.
TEXTURES: tuple[str, ...] = ("solid", "checker", "stripes", "noise", "wood")

SCENE_KINDS: tuple[str, ...] = ("room", "outdoor")

Vec3 = tuple[float, float, float]


def class_id(name: str) -> int:
    """The semantic id of a class name in :data:`SEMANTIC_CLASSES`."""
    try:
        return SEMANTIC_CLASSES.index(name)
    except ValueError:
        raise InputError(f"semantic class {name!r} is not one of {', '.join(SEMANTIC_CLASSES)}") from None


def _positive(value, name: str) -> None:
    if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive finite number of metres, got {value!r}")


def _labels(prim) -> None:
    if not (isinstance(prim.semantic, (int, np.integer)) and 0 <= prim.semantic < 256):
        raise InputError(f"{type(prim).__name__} semantic must be a class id in [0, 255], got {prim.semantic!r}")
    if not (isinstance(prim.instance, (int, np.integer)) and 0 <= prim.instance < 2 ** 31):
        raise InputError(f"{type(prim).__name__} instance must be an integer >= 0, got {prim.instance!r}")


def _vec3(value, name: str) -> Vec3:
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be 3 finite numbers, got {value!r}") from None
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
        raise InputError(f"{name} must be 3 finite numbers, got {value!r}")
    return (x, y, z)


@dataclass(frozen=True)
class Material:
    """A procedural surface: ``base`` and ``alt`` are linear-RGB albedos in [0, 1].

    The texture mixes ``base`` and ``alt`` by a pattern of period ``scale`` metres evaluated in the
    object's own frame shifted by ``offset`` metres; ``axis`` is the stripe direction; ``specular``
    scales a Blinn-Phong highlight (0 = matte).
    """

    base: Vec3
    alt: Vec3 = (0.0, 0.0, 0.0)
    texture: str = "solid"
    scale: float = 0.5
    axis: Vec3 = (1.0, 0.0, 0.0)
    offset: Vec3 = (0.0, 0.0, 0.0)
    specular: float = 0.0

    def __post_init__(self):
        if self.texture not in TEXTURES:
            raise InputError(f"material texture {self.texture!r} is not one of {', '.join(TEXTURES)}")
        if not self.scale > 0:
            raise InputError(f"material scale must be > 0 metres, got {self.scale!r}")


@dataclass(frozen=True)
class Sphere:
    center: Vec3
    radius: float
    material: Material
    semantic: int = SEMANTIC_CLASSES.index("sphere")
    instance: int = 0

    def __post_init__(self):
        _vec3(self.center, "sphere center")
        _positive(self.radius, "sphere radius")
        _labels(self)


@dataclass(frozen=True)
class Box:
    """An oriented box: ``half_size`` along its own axes, turned by ``yaw`` radians about +y."""

    center: Vec3
    half_size: Vec3
    material: Material
    yaw: float = 0.0
    semantic: int = SEMANTIC_CLASSES.index("box")
    instance: int = 0

    def __post_init__(self):
        _vec3(self.center, "box center")
        for h in _vec3(self.half_size, "box half_size"):
            _positive(h, "box half_size")
        _labels(self)


@dataclass(frozen=True)
class Cylinder:
    """An upright capped cylinder: axis parallel to y from ``base`` (x, y0, z) up by ``height``."""

    base: Vec3
    radius: float
    height: float
    material: Material
    semantic: int = SEMANTIC_CLASSES.index("cylinder")
    instance: int = 0

    def __post_init__(self):
        _vec3(self.base, "cylinder base")
        _positive(self.radius, "cylinder radius")
        _positive(self.height, "cylinder height")
        _labels(self)


@dataclass(frozen=True)
class Plane:
    """Points x with ``dot(normal, x) == offset``; two-sided. A finite ``radius`` keeps only the disk
    of that radius around ``center`` (an outdoor ground that ends at the horizon haze)."""

    normal: Vec3
    offset: float
    material: Material
    semantic: int = SEMANTIC_CLASSES.index("floor")
    instance: int = 0
    radius: float = math.inf
    center: Vec3 = (0.0, 0.0, 0.0)

    def __post_init__(self):
        if np.linalg.norm(_vec3(self.normal, "plane normal")) == 0:
            raise InputError("plane normal must not be the zero vector")
        if not math.isfinite(self.offset):
            raise InputError(f"plane offset must be finite, got {self.offset!r}")
        if not self.radius > 0:
            raise InputError(f"plane radius must be > 0 metres (inf = unbounded), got {self.radius!r}")
        _labels(self)


Primitive = Union[Sphere, Box, Cylinder, Plane]


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with square pixels and the principal point at the image centre."""

    position: Vec3
    rotation: tuple[Vec3, Vec3, Vec3]  # rows of the 3x3 world-from-camera matrix
    fov_x_deg: float

    @classmethod
    def look_at(cls, position, target, fov_x_deg: float, up=(0.0, 1.0, 0.0)) -> "Camera":
        """A camera at ``position`` looking at ``target`` with ``up`` roughly up in the image."""
        pos, tgt, upv = (np.asarray(_vec3(v, n)) for v, n in ((position, "position"), (target, "target"), (up, "up")))
        back = pos - tgt
        if np.linalg.norm(back) == 0:
            raise InputError("camera target must differ from its position")
        back /= np.linalg.norm(back)
        right = np.cross(upv, back)
        if np.linalg.norm(right) < 1e-9:
            raise InputError("camera up vector must not be parallel to the viewing direction")
        right /= np.linalg.norm(right)
        true_up = np.cross(back, right)
        rot = np.stack([right, true_up, back], axis=1)
        return cls(tuple(map(float, pos)), tuple(tuple(map(float, row)) for row in rot), float(fov_x_deg))

    def __post_init__(self):
        if not 1.0 <= self.fov_x_deg <= 170.0:
            raise InputError(f"camera fov_x_deg must be in [1, 170] degrees, got {self.fov_x_deg!r}")

    @property
    def matrix(self) -> np.ndarray:
        """3x3 world-from-camera rotation (columns: right, up, back)."""
        return np.asarray(self.rotation, dtype=np.float64)

    def focal_px(self, width: int) -> float:
        """Focal length in pixels: the horizontal field of view spans the full image width."""
        return (width / 2.0) / math.tan(math.radians(self.fov_x_deg) / 2.0)

    def intrinsics(self, height: int, width: int) -> np.ndarray:
        """3x3 K in the OpenCV pixel convention: u = column, v = row, pixel centres at integers."""
        f = self.focal_px(width)
        return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])

    def fov_y_deg(self, height: int, width: int) -> float:
        return math.degrees(2.0 * math.atan((height / 2.0) / self.focal_px(width)))

    def camera_to_world(self) -> np.ndarray:
        """4x4 pose: camera-frame (x right, y up, z back) points to world points."""
        pose = np.eye(4)
        pose[:3, :3] = self.matrix
        pose[:3, 3] = self.position
        return pose


@dataclass(frozen=True)
class Lighting:
    """One light plus ambient light, in linear RGB.

    ``light`` is a position (``point_light=True``, falling off as 1 / (1 + (d/falloff)^2)) or a
    direction towards the light (a sun). ``sky_zenith``/``sky_horizon`` give a sky gradient for rays
    that hit nothing (black when None); ``haze`` is the distance in metres at which half of a
    surface's colour has faded to the horizon colour (inf = no haze).
    """

    ambient: Vec3
    light: Vec3
    light_color: Vec3
    point_light: bool = False
    falloff: float = math.inf
    shadows: bool = True
    sky_zenith: Vec3 | None = None
    sky_horizon: Vec3 | None = None
    haze: float = math.inf


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render one scene; ``seed`` records where a sampled scene came from."""

    kind: str
    camera: Camera
    primitives: tuple[Primitive, ...]
    lighting: Lighting
    seed: int | None = None

    def instance_classes(self) -> dict[int, int]:
        """Instance id -> semantic id for every object instance in the scene (visible or not)."""
        out: dict[int, int] = {}
        for prim in self.primitives:
            if prim.instance:
                out.setdefault(prim.instance, prim.semantic)
        return out
