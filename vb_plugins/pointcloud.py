"""Metric depth -> coloured 3D point cloud (PLY).

Pinhole camera with pixel (u, v) (column, row) centred at (u, v); without intrinsics the principal point
is the image centre ((W - 1) / 2, (H - 1) / 2) and the focal length follows from an assumed horizontal
field of view, which is stated in the output. Points are written in the camera frame of the normals codec
(x right, y up, z towards the camera), so points in front of the camera have negative z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.io import atomic_path

DEFAULT_FOV_DEGREES = 60.0


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    assumed: bool = False  # True when derived from an assumed field of view

    @staticmethod
    def check_fov(fov_degrees: float) -> float:
        """A horizontal field of view must be a finite angle between 1 and 179 degrees."""
        if not (math.isfinite(fov_degrees) and 1.0 < fov_degrees < 179.0):
            raise InputError(f"field of view {fov_degrees} degrees: must lie between 1 and 179")
        return float(fov_degrees)

    @classmethod
    def from_fov(cls, height: int, width: int, fov_degrees: float = DEFAULT_FOV_DEGREES) -> Intrinsics:
        """Square pixels, principal point at the centre, horizontal field of view ``fov_degrees``."""
        cls.check_fov(fov_degrees)
        focal = (width / 2.0) / math.tan(math.radians(fov_degrees) / 2.0)
        return cls(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0, assumed=True)

    @classmethod
    def parse(cls, text: str) -> Intrinsics:
        """``"fx,fy,cx,cy"`` in pixels: four finite numbers, positive focal lengths."""
        try:
            fx, fy, cx, cy = (float(v) for v in text.split(","))
        except ValueError:
            raise InputError(f"intrinsics {text!r}: expected four numbers fx,fy,cx,cy (pixels)") from None
        if not all(math.isfinite(v) for v in (fx, fy, cx, cy)):
            raise InputError(f"intrinsics {text!r}: NaN or infinite values; expected four finite numbers")
        if fx <= 0 or fy <= 0:
            raise InputError(f"intrinsics {text!r}: focal lengths must be positive")
        return cls(fx, fy, cx, cy)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def describe(self) -> str:
        source = "assumed from the field of view" if self.assumed else "given"
        return f"fx={self.fx:.2f} fy={self.fy:.2f} cx={self.cx:.2f} cy={self.cy:.2f} ({source})"


def check_depth(depth, name: str = "depth") -> np.ndarray:
    """A depth map as unprojected: H x W real numbers (float or integer). Complex, boolean, text and
    object arrays are refused rather than cast (a cast would drop imaginary parts or read True as 1 m)."""
    depth = np.asarray(depth)
    if depth.dtype.kind not in "fiu":
        raise InputError(f"{name}: expected real numbers (metres), got dtype {depth.dtype}")
    if depth.ndim != 2:
        raise InputError(f"{name}: expected an H x W depth map, got shape {depth.shape}")
    if depth.size == 0:
        raise InputError(f"{name}: the depth map is empty (shape {depth.shape})")
    return depth


def unproject(depth: np.ndarray, intrinsics: Intrinsics, colours: np.ndarray | None = None,
              max_depth: float | None = None, reliability: np.ndarray | None = None,
              min_reliability: float = 0.5) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth (H x W metres along the optical axis) -> (N x 3 float32 points, N x 3 uint8 colours or None).

    Pixels with non-finite, non-positive or (with ``max_depth``) too distant depth are left out, and with
    ``reliability`` (H x W, the decoding's) those below ``min_reliability``.
    """
    depth = check_depth(depth).astype(np.float64, copy=False)
    if colours is not None and np.asarray(colours).shape[:2] != depth.shape:
        raise InputError(f"colours: shape {np.asarray(colours).shape[:2]} differs from the depth's {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    if reliability is not None:
        reliability = np.asarray(reliability)
        if reliability.shape != depth.shape:
            raise InputError(f"reliability: shape {reliability.shape} differs from the depth's {depth.shape}")
        if not 0.0 <= min_reliability <= 1.0:
            raise InputError(f"min_reliability={min_reliability!r}: must be a number from 0 to 1")
        valid &= reliability >= min_reliability
    v, u = np.nonzero(valid)
    z = depth[v, u]
    x = (u - intrinsics.cx) / intrinsics.fx * z
    y = (v - intrinsics.cy) / intrinsics.fy * z
    # OpenCV camera (x right, y down, z forward) -> the project's camera frame (x right, y up, z back).
    points = np.stack([x, -y, -z], axis=1).astype(np.float32)
    picked = None if colours is None else np.asarray(colours)[v, u, :3].astype(np.uint8)
    return points, picked


def write_ply(path, points: np.ndarray, colours: np.ndarray | None = None, comments=(), overwrite: bool = True) -> Path:
    """Binary little-endian PLY with float xyz and optional uchar rgb, written atomically."""
    points = np.asarray(points, dtype="<f4")
    header = ["ply", "format binary_little_endian 1.0", *[f"comment {c}" for c in comments],
              f"element vertex {len(points)}", "property float x", "property float y", "property float z"]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colours is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    header.append("end_header")
    records = np.empty(len(points), dtype=fields)
    records["x"], records["y"], records["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colours is not None:
        records["red"], records["green"], records["blue"] = colours[:, 0], colours[:, 1], colours[:, 2]
    with atomic_path(path, overwrite) as temp:
        with open(temp, "wb") as handle:
            handle.write(("\n".join(header) + "\n").encode("ascii"))
            handle.write(records.tobytes())
    return Path(path)


def read_ply(path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a PLY written by :func:`write_ply` -> (points, colours or None, comments)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    has_colour = any(line.endswith(" red") for line in header)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("red", "u1"), ("green", "u1"), ("blue", "u1")]
                                                           if has_colour else [])
    records = np.frombuffer(data[end:], dtype=fields, count=count)
    points = np.stack([records["x"], records["y"], records["z"]], axis=1)
    colours = np.stack([records["red"], records["green"], records["blue"]], axis=1) if has_colour else None
    return points, colours, [line[8:] for line in header if line.startswith("comment ")]
