"""Synthetic scenes with exact ground truth: photo-like renders of procedural rooms and outdoor layouts.

    >>> from vb_plugins.training.synthetic import render_scene, render_scenes
    >>> scene = render_scene(7, height=256, width=256)          # kind drawn from the seed
    >>> scene.image, scene.depth, scene.normals, scene.semantic, scene.instance, scene.intrinsics
    >>> batch = render_scenes(range(16), height=128, width=128)  # one vectorised pass

Conventions (all per pixel, ground truth exact at the pixel centre):

- ``depth``: float32 metres, z-depth along the optical axis (not the ray length); ``inf`` where the
  ray hits nothing (outdoor sky). Rooms have no ``inf``.
- ``normals``: float32 unit vectors in the camera frame x right, y up, z towards the camera (the
  convention of the normals codec; the camera looks down -z as in OpenGL); zero where ``valid`` is
  False (sky).
- ``intrinsics`` K: OpenCV pixel convention (u = column, v = row, pixel centres at integer
  coordinates, cx = (W - 1)/2, cy = (H - 1)/2, fx = fy). With ``z = depth[v, u]`` the point is
  ``((u - cx) z / fx, (v - cy) z / fy, z)`` in the OpenCV camera frame (x right, y down, z forward),
  i.e. ``(x, -y, -z)`` in the normals' frame; :func:`unproject` does this.
- ``semantic``: uint8 ids into :data:`SEMANTIC_CLASSES`; ``instance``: int32, 0 for stuff (sky, floor,
  wall, ceiling, ground), 1..N for objects; every instance id has one semantic class
  (``instance_classes``).
- ``image``: uint8 RGB, Lambert + ambient + highlights, hard shadows, sky and haze outdoors; pixels at
  colour or object edges are supersampled (anti-aliased), the ground truth never is.

The same seed gives the same arrays, bit for bit, on the same device, whether rendered alone or in a
batch. Rendering runs in torch on CPU by default or on any device passed as ``device``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from vb_plugins.errors import InputError
from vb_plugins.training.scenes.render import render_batch
from vb_plugins.training.scenes.sampling import OUTDOOR_RANGE_M, sample_scene
from vb_plugins.training.scenes.spec import SCENE_KINDS, SEMANTIC_CLASSES, TEXTURES, SceneSpec

__all__ = [
    "SEMANTIC_CLASSES", "SCENE_KINDS", "TEXTURES", "OUTDOOR_RANGE_M", "SyntheticScene", "render_scene",
    "render_scenes", "render_specs", "sample_scene", "unproject",
]

MAX_SIDE = 4096


@dataclass
class SyntheticScene:
    """One rendered scene and its ground truth (numpy arrays; see the module docstring)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, z-depth; inf = nothing hit
    normals: np.ndarray  # (H, W, 3) float32 camera frame x right, y up, z towards the camera
    valid: np.ndarray  # (H, W) bool: a surface was hit
    semantic: np.ndarray  # (H, W) uint8 ids into SEMANTIC_CLASSES
    instance: np.ndarray  # (H, W) int32, 0 = no instance
    intrinsics: np.ndarray  # (3, 3) float64 K, OpenCV pixel convention
    fov_x_deg: float  # horizontal field of view across the full image width
    fov_y_deg: float
    camera_to_world: np.ndarray  # (4, 4) float64: camera frame (x right, y up, z back) -> world (y up)
    instance_classes: dict  # instance id -> semantic id, for every object in the scene
    seed: int | None
    kind: str  # "room" | "outdoor" (or the kind of a hand-built spec)

    @property
    def points(self) -> np.ndarray:
        """(H, W, 3) float32 camera-frame points (x right, y up, z towards the camera); NaN where invalid."""
        return unproject(self.depth, self.intrinsics)


def unproject(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Depth (H, W, z-depth metres) and K -> camera-frame points (H, W, 3): x right, y up, z towards the
    camera, so a visible point has z = -depth (the frame of the normals); NaN where depth is not finite."""
    depth = np.asarray(depth, dtype=np.float64)
    K = np.asarray(intrinsics, dtype=np.float64)
    if depth.ndim != 2 or K.shape != (3, 3):
        raise InputError(f"unproject needs an (H, W) depth and a 3x3 K, got {depth.shape} and {K.shape}")
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]].astype(np.float64)
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    points = np.stack([x, -y, -depth], axis=-1)
    points[~np.isfinite(depth)] = np.nan
    return points.astype(np.float32)


def _check_size(height, width):
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 2 <= value <= MAX_SIDE:
            raise InputError(f"{name} must be an integer in [2, {MAX_SIDE}] pixels, got {value!r}")


def _device(device) -> torch.device:
    try:
        return torch.device(device if device is not None else "cpu")
    except (RuntimeError, TypeError) as err:
        raise InputError(f"device {device!r} is not a torch device: {err}") from None


def render_specs(specs: Sequence[SceneSpec], height: int = 256, width: int = 256, device=None,
                 supersample: int = 2, group: int | None = None) -> list[SyntheticScene]:
    """Render scene descriptions (sampled or hand-built) in one batched pass.

    ``supersample``: rays per pixel side on colour/object edges of the image (1 = no anti-aliasing).
    ``group``: scenes per vectorised pass; default 1 on CPU (fastest there), all of them on a GPU.
    The arrays do not depend on it.
    """
    _check_size(height, width)
    if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or not 1 <= supersample <= 8:
        raise InputError(f"supersample must be an integer in [1, 8], got {supersample!r}")
    if group is not None and (isinstance(group, bool) or not isinstance(group, (int, np.integer)) or group < 1):
        raise InputError(f"group must be a positive integer or None, got {group!r}")
    specs = list(specs)
    if not specs:
        return []
    for i, spec in enumerate(specs):
        if not isinstance(spec, SceneSpec):
            raise InputError(f"specs[{i}] is not a SceneSpec: {type(spec).__name__}")
    dev = _device(device)
    with torch.inference_mode():
        out = render_batch(specs, int(height), int(width), dev, int(supersample), group=group)
        arrays = {k: v.cpu().numpy() for k, v in out.items()}
    scenes = []
    for b, spec in enumerate(specs):
        cam = spec.camera
        scenes.append(SyntheticScene(
            image=arrays["image"][b],
            depth=arrays["depth"][b],
            normals=arrays["normals"][b],
            valid=arrays["valid"][b],
            semantic=arrays["semantic"][b],
            instance=arrays["instance"][b],
            intrinsics=cam.intrinsics(height, width),
            fov_x_deg=float(cam.fov_x_deg),
            fov_y_deg=cam.fov_y_deg(height, width),
            camera_to_world=cam.camera_to_world(),
            instance_classes=spec.instance_classes(),
            seed=spec.seed,
            kind=spec.kind,
        ))
    return scenes


def render_scenes(seeds: Iterable[int], height: int = 256, width: int = 256, kind: str | None = None,
                  device=None, supersample: int = 2, group: int | None = None) -> list[SyntheticScene]:
    """Render the scenes of several seeds in one batched pass (same arrays as one by one)."""
    return render_specs([sample_scene(s, kind) for s in seeds], height, width, device, supersample, group)


def render_scene(seed: int, height: int = 256, width: int = 256, kind: str | None = None, device=None,
                 supersample: int = 2) -> SyntheticScene:
    """Render the scene of ``seed``; ``kind`` "room" or "outdoor" (None: drawn from the seed)."""
    return render_scenes([seed], height, width, kind, device, supersample)[0]
