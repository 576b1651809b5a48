"""Ground-truth pixels for calibration: rendered scenes, encoded, degraded with generator noise and
compression, decoded, and scored against the truth.

:func:`degraded_pictures` draws the degradations (what a generator and an image API do to a picture);
:func:`task_samples` turns each into feature rows, outcomes (within tolerance) and errors;
:func:`fit_tables` fits one :class:`~vb_plugins.reliability.model.Calibration` per task and decode mode.
The benchmark and the tests use the same functions on held-out seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.reliability.features import (
    DEPTH_NAMES,
    NORMALS_NAMES,
    NORMALS_TOLERANCE_DEGREES,
    SEMANTIC_NAMES,
    SIGNS,
    _angle,
    depth_features,
    depth_positions,
    depth_within_tolerance,
    normals_features,
    semantic_features,
)
from vb_plugins.reliability.model import fit_calibration
from vb_plugins.reliability.noise import GeneratorNoise, add_label_noise, compress, encode_normals_scene

COMPRESSIONS = {"lossless": ("lossless", 0), "jpeg95": ("jpeg", 95), "jpeg75": ("jpeg", 75),
                "jpeg50": ("jpeg", 50), "webp80": ("webp", 80)}
MODES = ("exact", "robust")
# Close colours (the first nine Cityscapes ones, as Vision Banana is evaluated with) and far-apart ones.
LEGENDS = {
    "cityscapes": [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
                   (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35)],
    "basic": [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
              (255, 128, 0), (128, 0, 255), (255, 255, 255)],
}
TOLERANCES = {
    "depth": "|decoded - true| <= max(1 % of true depth, one colour-path step at the true depth); "
             "true inf: decoded within one step of the far end",
    "normals": f"angle to the true normal <= {NORMALS_TOLERANCE_DEGREES:g} degrees (decoded and true valid)",
    "semantic": "decoded class == true class",
}


@dataclass
class Degradation:
    """How one picture was degraded: noise amplitude (1 = the fitted generator), correlation and blur
    (pixels), compression name (a key of :data:`COMPRESSIONS`)."""

    amplitude: float
    correlation: float
    blur: float
    compression: str


def draw_degradation(rng: np.random.Generator, fitted, compression: str, amplitude=(0.1, 1.5),
                     correlation=(0.5, 3.0), blur=(0.5, 1.5)) -> Degradation:
    """A degradation around the fitted noise: amplitude log-uniform in ``amplitude`` (times the fitted
    noise), correlation log-uniform in ``correlation`` times the fitted correlation (a generator painting
    at a higher resolution correlates its noise over more pixels), blur log-uniform in ``blur`` times
    the fitted blur."""
    def log_uniform(low, high):
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))

    return Degradation(log_uniform(*amplitude), max(fitted.correlation, 0.3) * log_uniform(*correlation),
                       fitted.blur * log_uniform(*blur), compression)


def degrade(kind: str, clean: np.ndarray, noise: GeneratorNoise, how: Degradation, rng) -> np.ndarray:
    """``clean`` picture of ``kind`` ("depth", "normals", "semantic") with noise and compression."""
    options = {"amplitude": how.amplitude, "correlation": how.correlation, "blur": how.blur}
    if kind == "depth":
        noisy = noise.depth.apply(clean, rng, **options)
    elif kind == "normals":
        noisy = noise.normals.apply(clean, rng, **options)
    else:
        noisy = add_label_noise(clean, noise.normals, rng, **options)
    return compress(noisy, COMPRESSIONS[how.compression])


def legend_for(name: str) -> dict:
    from vb_plugins.training.synthetic import SEMANTIC_CLASSES

    return {cls: colour for cls, colour in zip(SEMANTIC_CLASSES, LEGENDS[name])}


def task_samples(kind: str, scene, picture: np.ndarray, mode: str, legend: str = "cityscapes"):
    """Decode ``picture`` (a degraded encoding of ``scene``) in ``mode``; returns (features, ok, error,
    decoding): ``ok`` and ``error`` are H x W arrays (error: metres for depth, inf where the true or decoded
    depth is; degrees for normals; 0/1 for labels)."""
    from vb_plugins.codecs import DepthCodec, NormalsCodec, SemanticCodec

    if kind == "depth":
        codec = DepthCodec()
        decoding = codec.decode(picture, mode=mode)
        s0, _ = depth_positions(codec, picture)
        features = depth_features(codec, picture, decoding, s0)
        ok, error = depth_within_tolerance(codec, decoding.depth, scene.depth)
    elif kind == "normals":
        codec = NormalsCodec()
        decoding = codec.decode(picture, mode=mode)
        features = normals_features(codec, picture, decoding)
        angle = _angle(decoding.normals, scene.normals)
        both = decoding.valid & scene.valid
        ok = both & (angle <= NORMALS_TOLERANCE_DEGREES)
        error = np.where(both, angle, 90.0).astype(np.float32)  # a painted normal where there is none: 90
    else:
        codec = SemanticCodec()
        classes = legend_for(legend)
        decoding = codec.decode(picture, classes, mode=mode)
        features = semantic_features(codec, picture, decoding, classes)
        ok = decoding.labels.astype(np.int32) == scene.semantic.astype(np.int32) + 1
        error = (~ok).astype(np.float32)
    return features, ok, error, decoding


def clean_picture(kind: str, scene, legend: str = "cityscapes") -> np.ndarray:
    from vb_plugins.codecs import DepthCodec, SemanticCodec

    if kind == "depth":
        return DepthCodec().encode(scene.depth)
    if kind == "normals":
        return encode_normals_scene(scene)
    picture = SemanticCodec().encode(scene.semantic.astype(np.int32) + 1, legend_for(legend))
    return _antialias(picture)


def with_thin_structures(scene, count: int = 6):
    """``scene`` with a few thin structures (1 to 4 px wide bars of a random class: poles, wires, sign
    posts) painted into its labels. Generators paint such structures, and anti-aliasing plus 4:2:0
    chroma smear them more than their width: the robust decoder may give them to their surroundings,
    which the calibration must have seen. Drawn from the scene's seed (same bars in fit and benchmark)."""
    import dataclasses

    import cv2

    from vb_plugins.training.synthetic import SEMANTIC_CLASSES

    rng = np.random.default_rng(scene.seed if scene.seed is not None else 0)
    labels = np.ascontiguousarray(scene.semantic.copy())
    height, width = labels.shape
    for _ in range(count):
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        angle = rng.uniform(0, np.pi) if rng.random() < 0.4 else np.pi / 2 * int(rng.integers(0, 2))
        length = rng.uniform(0.2, 0.8) * max(height, width)
        end = (int(start[0] + length * np.cos(angle)), int(start[1] + length * np.sin(angle)))
        cv2.line(labels, start, end, int(rng.integers(0, len(SEMANTIC_CLASSES))), int(rng.integers(1, 5)))
    return dataclasses.replace(scene, semantic=labels)


def _antialias(rgb: np.ndarray) -> np.ndarray:
    """Generators paint label edges anti-aliased: a light blur (0.6 px) before the generator's own."""
    import cv2

    return np.clip(np.rint(cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 0.6)), 0, 255).astype(np.uint8)


def collect(kind: str, scenes, noise: GeneratorNoise, compressions, seed: int, pixels: int | None,
            degradation=None, modes=MODES):
    """Feature rows, outcomes and errors per decode mode over ``scenes`` x ``compressions``.

    ``degradation``: None draws one per picture around the fitted noise (:func:`draw_degradation`), or a
    function (rng, compression) -> Degradation. ``pixels``: a random subsample per picture (None: all).
    Returns {mode: (matrix, ok, error, usable, unit scale)} with one row per pixel kept."""
    rng = np.random.default_rng(seed)
    fitted = noise.depth if kind == "depth" else noise.normals
    rows = {mode: ([], [], [], [], []) for mode in modes}
    for i, scene in enumerate(scenes):
        legend = list(LEGENDS)[i % len(LEGENDS)]
        scene = with_thin_structures(scene) if kind == "semantic" else scene
        clean = clean_picture(kind, scene, legend)
        for compression in compressions:
            how = degradation(rng, compression) if degradation else draw_degradation(rng, fitted, compression)
            picture = degrade(kind, clean, noise, how, rng)
            for mode in modes:
                features, ok, error, _ = task_samples(kind, scene, picture, mode, legend)
                pick = slice(None) if pixels is None else rng.choice(ok.size, min(pixels, ok.size), replace=False)
                for store, value in zip(rows[mode], (features.matrix, ok.ravel(), error.ravel(),
                                                     features.usable.ravel(), features.scale.ravel())):
                    store.append(value[pick])
    return {mode: tuple(np.concatenate(part) for part in parts) for mode, parts in rows.items()}


FEATURE_NAMES = {"depth": DEPTH_NAMES, "normals": NORMALS_NAMES, "semantic": SEMANTIC_NAMES}
ERROR_CAPS = {"depth": 1000.0, "normals": 180.0, "semantic": 1.0}


def fit_tables(kind: str, samples: dict) -> list:
    """One calibration per decode mode from :func:`collect` output (usable pixels only)."""
    tables = []
    feature_names = FEATURE_NAMES[kind]
    for mode, (matrix, ok, error, usable, scale) in samples.items():
        with np.errstate(divide="ignore"):
            log_unit = np.log(scale[usable])
        tables.append(fit_calibration(kind, mode, feature_names, matrix[usable], ok[usable], error[usable],
                                      SIGNS[kind], TOLERANCES[kind], ERROR_CAPS[kind], log_unit))
    return tables
