"""Generator noise: what image generators add to a visualization, and how to fit it without ground truth.

A generator that paints a depth or normal visualization does not paint the exact colours: it softens
edges, desaturates, and leaves spatially correlated noise; image APIs then compress. The models here
imitate that on exact encodings of rendered scenes, so decodings can be calibrated against ground truth:

- depth (:class:`DepthNoise`, default colour path only): the clean picture is blurred (soft edges), then
  per path segment the two channels the segment holds fixed move inward by ``bias`` and scatter with
  ``across`` (levels), and the channel the segment varies scatters with ``along`` (levels). The noise is
  Gaussian, correlated over ``correlation`` pixels (sd of the Gaussian that smooths white noise).
- normals (:class:`NormalsNoise`): blurred likewise; the vector ``2 rgb - 1`` is shortened by ``shrink``,
  its length scatters with ``radial`` and its direction with ``tangential`` (vector units), same
  correlation.
- labels: the normals model applied in RGB around mid-gray (:func:`add_label_noise`): no label pictures
  of a generator were available to fit.

Fitting these models to a generator's pictures: :mod:`vb_plugins.reliability.noise_fit`.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError

SEGMENTS = 7
LOSSLESS = ("lossless", 0)


# -- compression ------------------------------------------------------------------------------------------
def compress(rgb: np.ndarray, compression) -> np.ndarray:
    """Round trip through ``compression``: ``("lossless", 0)``, ``("jpeg", quality)`` or ``("webp", quality)``."""
    kind, quality = compression
    if kind == "lossless":
        return rgb
    from PIL import Image

    buffer = io.BytesIO()
    if kind == "jpeg":
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(quality), subsampling=2)
    elif kind == "webp":
        Image.fromarray(rgb).save(buffer, format="WEBP", quality=int(quality))
    else:
        raise InputError(f"compression {kind!r}: expected lossless, jpeg or webp")
    return np.asarray(Image.open(buffer).convert("RGB"))


# IJG's standard luminance quantisation table (quality 50), in zigzag order as Pillow reports it.
_IJG_LUMA = np.array([16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49,
                      35, 37, 29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56,
                      80, 109, 81, 87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99],
                     dtype=np.float64)


def image_compression(path) -> tuple[str, int]:
    """What a picture file went through: lossless, ("jpeg", estimated quality) or ("webp", 80 assumed)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.format == "JPEG":
            table = np.asarray(image.quantization[0], dtype=np.float64)
            scale = float(np.median(np.clip((table * 100.0 - 50.0) / _IJG_LUMA, 1.0, None)))
            quality = 100 - scale / 2.0 if scale <= 100 else 5000.0 / scale
            return ("jpeg", int(np.clip(round(quality), 1, 100)))
        if image.format == "WEBP" and not getattr(image, "info", {}).get("lossless"):
            return ("webp", 80)
    return LOSSLESS


# -- noise fields -----------------------------------------------------------------------------------------
def correlated_noise(shape, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` (H x W or H x W x C), smoothed over ``correlation`` pixels."""
    import cv2

    white = rng.standard_normal(shape).astype(np.float32)
    if correlation < 0.3:
        return white
    size = 2 * int(np.ceil(3 * correlation)) + 1
    kernel = cv2.getGaussianKernel(size, correlation).ravel()
    smooth = cv2.GaussianBlur(white, (size, size), correlation, borderType=cv2.BORDER_REFLECT)
    return smooth / np.float32((kernel**2).sum())


REGION_PX = 4.0  # correlation length of the regional amplitude field


def amplitude_field(shape, variability: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth positive field with mean 1 and log-sd ``variability`` (1 everywhere when 0)."""
    if variability <= 0:
        return np.ones(shape, np.float32)
    g = correlated_noise(tuple(shape), REGION_PX, rng)
    return np.exp(np.float32(variability) * g - np.float32(variability**2 / 2)).astype(np.float32)


def soften(rgb: np.ndarray, blur: float) -> np.ndarray:
    """Float copy of ``rgb`` (levels) blurred with a Gaussian of sd ``blur`` pixels (soft edges)."""
    import cv2

    x = rgb.astype(np.float32)
    return cv2.GaussianBlur(x, (0, 0), blur, borderType=cv2.BORDER_REFLECT) if blur >= 0.2 else x


def _depth_segments(rgb: np.ndarray) -> np.ndarray:
    from vb_plugins.codecs.schemes import VB_CUBE_PATH, PolylineScheme

    code, _ = PolylineScheme("_cube", VB_CUBE_PATH).cube_codes(rgb)
    return np.minimum(code // 255, SEGMENTS - 1).astype(np.int8)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# -- models -----------------------------------------------------------------------------------------------
@dataclass
class DepthNoise:
    """Depth-picture noise on the 7-segment cube path (levels, pixels); see the module docstring."""

    bias: list = field(default_factory=lambda: [0.0] * SEGMENTS)
    across: list = field(default_factory=lambda: [1.0] * SEGMENTS)
    along: list = field(default_factory=lambda: [1.0] * SEGMENTS)
    correlation: float = 1.0
    blur: float = 0.5
    variability: float = 0.0  # log-sd of a smooth field that scales bias and spreads (cleaner/noisier regions)
    fitted: list = field(default_factory=lambda: [False] * SEGMENTS)  # segment had pixels of its own

    def apply(self, rgb: np.ndarray, rng: np.random.Generator, amplitude: float = 1.0,
              correlation: float | None = None, blur: float | None = None) -> np.ndarray:
        """Noisy uint8 copy of an exact depth encoding ``rgb`` (H x W x 3 uint8, default colour path).

        ``amplitude`` scales bias and spreads; ``correlation`` and ``blur`` override the fitted pixels."""
        from vb_plugins.codecs.schemes import VB_CUBE_PATH

        x = soften(rgb, self.blur if blur is None else blur)
        noise = correlated_noise(rgb.shape, self.correlation if correlation is None else correlation, rng)
        regional = amplitude_field(rgb.shape[:2], self.variability, rng)
        noise *= regional[..., None]
        segment = _depth_segments(rgb)
        for k in range(SEGMENTS):
            inside = segment == k
            if not inside.any():
                continue
            start, end = VB_CUBE_PATH[k], VB_CUBE_PATH[k + 1]
            varying = int(np.argmax(np.abs(end - start)))
            x[..., varying][inside] += amplitude * self.along[k] * noise[..., varying][inside]
            for channel in range(3):
                if channel != varying:
                    inward = 1.0 if start[channel] == 0 else -1.0
                    shift = self.bias[k] * regional[inside] + self.across[k] * noise[..., channel][inside]
                    x[..., channel][inside] += np.float32(inward * amplitude) * shift
        return _to_uint8(x)


@dataclass
class NormalsNoise:
    """Normal-picture noise in vector units of ``2 rgb - 1`` (and pixels); see the module docstring."""

    shrink: float = 0.0
    radial: float = 0.01
    tangential: float = 0.01
    correlation: float = 1.0
    blur: float = 0.5
    variability: float = 0.0

    def apply(self, rgb: np.ndarray, rng: np.random.Generator, amplitude: float = 1.0,
              correlation: float | None = None, blur: float | None = None) -> np.ndarray:
        """Noisy uint8 copy of a normals encoding ``rgb`` (H x W x 3 uint8)."""
        x = soften(rgb, self.blur if blur is None else blur)
        vector = x / np.float32(127.5) - np.float32(1.0)
        length = np.linalg.norm(vector, axis=2, keepdims=True)
        unit = vector / np.maximum(length, np.float32(1e-6))
        noise = correlated_noise(rgb.shape, self.correlation if correlation is None else correlation, rng)
        regional = amplitude_field(rgb.shape[:2], self.variability, rng)[..., None]
        noise *= regional
        radial = (noise * unit).sum(axis=2, keepdims=True)
        tangent = noise - radial * unit
        scale = length * (1.0 - amplitude * self.shrink * regional) + amplitude * self.radial * radial
        vector = unit * scale + np.float32(amplitude * self.tangential) * tangent
        return _to_uint8((vector + 1.0) * 127.5)


def add_label_noise(rgb: np.ndarray, noise: NormalsNoise, rng: np.random.Generator, amplitude: float = 1.0,
                    correlation: float | None = None, blur: float | None = None) -> np.ndarray:
    """Noisy copy of a label picture: colours pulled towards mid-gray by ``shrink`` and scattered by the
    normals' spreads (in RGB, 127.5 levels per vector unit), after the same blur."""
    x = soften(rgb, noise.blur if blur is None else blur)
    spread = 127.5 * 0.5 * (noise.radial + noise.tangential)
    field_ = correlated_noise(rgb.shape, noise.correlation if correlation is None else correlation, rng)
    x = 127.5 + (x - 127.5) * np.float32(1.0 - amplitude * noise.shrink) + np.float32(amplitude * spread) * field_
    return _to_uint8(x)


@dataclass
class GeneratorNoise:
    """The fitted noise of one generator (or a set of pictures) for depth and normal pictures."""

    depth: DepthNoise = field(default_factory=DepthNoise)
    normals: NormalsNoise = field(default_factory=NormalsNoise)
    source: str = ""
    notes: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"source": self.source, "depth": asdict(self.depth), "normals": asdict(self.normals),
                "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict) -> "GeneratorNoise":
        try:
            return cls(DepthNoise(**data["depth"]), NormalsNoise(**data["normals"]), data.get("source", ""),
                       data.get("notes", {}))
        except (KeyError, TypeError) as err:
            raise InputError(f"generator noise: malformed parameters ({err})") from None

    def save(self, path) -> None:
        write_atomically(path, json.dumps(self.to_json(), indent=1) + "\n")


def write_atomically(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failed write leaves no half file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)


SHIPPED_NOISE = Path(__file__).with_name("generator_noise.json")


def load_noise(path=None) -> GeneratorNoise:
    """The noise model at ``path`` (default: the one shipped with the package)."""
    path = Path(path) if path is not None else SHIPPED_NOISE
    try:
        return GeneratorNoise.from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise InputError(f"generator noise {path}: cannot read ({err})") from None


def encode_normals_scene(scene) -> np.ndarray:
    """Exact normals picture of a rendered scene; where nothing was hit (sky) black, as generators paint it."""
    from vb_plugins.codecs import NormalsCodec

    rgb = NormalsCodec().encode(np.where(scene.valid[..., None], scene.normals, [0.0, 0.0, 1.0]))
    rgb[~scene.valid] = 0
    return rgb
