"""Fitting the generator-noise models of :mod:`vb_plugins.reliability.noise` without ground truth.

Fitting (:func:`fit_depth_noise`, :func:`fit_normals_noise`) needs only generated pictures. What they show
without ground truth: the colours' distance from the path or sphere (the off-path part of the noise),
how much a pixel's position along the path differs from its neighbours' (the along-path part, planes do
not count), how the off-path part correlates between neighbours, and how much larger it is next to edges.
The same statistics are measured on simulations over rendered scenes at the pictures' size and with their
compression, and the parameters are moved until the two agree (the method of simulated moments).
"""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.reliability.noise import (
    SEGMENTS,
    DepthNoise,
    GeneratorNoise,
    NormalsNoise,
    compress,
    encode_normals_scene,
)

FIT_ROUNDS = 6
MIN_PIXELS = 1000  # pixels a segment needs before its own parameters are fitted (else the pooled ones)


# -- statistics that need no ground truth -----------------------------------------------------------------
def _neighbour_mean(x: np.ndarray, size: int = 3) -> np.ndarray:
    import cv2

    total = cv2.boxFilter(x, -1, (size, size), normalize=False, borderType=cv2.BORDER_REFLECT)
    return (total - x) / np.float32(size * size - 1)


def _lag_correlation(values: np.ndarray, usable: np.ndarray) -> tuple[float, float, int]:
    """(sum of products, sum of squares, pairs) of horizontally and vertically adjacent usable values."""
    products, squares, pairs = 0.0, 0.0, 0
    for a, b, ua, ub in ((values[:, 1:], values[:, :-1], usable[:, 1:], usable[:, :-1]),
                         (values[1:], values[:-1], usable[1:], usable[:-1])):
        both = ua & ub
        products += float((a[both] * b[both]).sum())
        squares += float(0.5 * (a[both] ** 2 + b[both] ** 2).sum())
        pairs += int(both.sum())
    return products, squares, pairs


def depth_edges(s0: np.ndarray, path, noise: float) -> np.ndarray:
    """Pixels within 2 px of a depth discontinuity: where the median-filtered position departs from the
    mean of its neighbours in inverse depth (zero on planes) by more than the noise explains."""
    import cv2

    smooth = cv2.medianBlur(s0.astype(np.float32), 5)
    q = path.to_q(smooth)
    bend = np.abs(smooth - path.to_s(_neighbour_mean(q)))
    return cv2.dilate((bend > max(6.0, 1.5 * noise)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def depth_statistics(images) -> dict:
    """What depth pictures show without ground truth (see the module docstring), pooled over ``images``."""
    from vb_plugins.codecs import DepthCodec
    from vb_plugins.codecs._robust import _Path, noise_sigma
    from vb_plugins.codecs.schemes import VB_CUBE_PATH

    codec = DepthCodec()
    path = _Path(codec)
    pools = {"inward": [[] for _ in range(SEGMENTS)], "along": [[] for _ in range(SEGMENTS)],
             "residual": {(k, e): [] for k in range(SEGMENTS) for e in (0, 1)}}
    corr = np.zeros(3)
    for rgb in images:
        code, d2 = codec.scheme.cube_codes(rgb)
        s0 = code.astype(np.float32)
        residual = np.sqrt(d2.astype(np.float32))
        q0 = path.to_q(s0)
        edges = depth_edges(s0, path, noise_sigma(path, q0, s0))
        segment = np.minimum(code // 255, SEGMENTS - 1)
        along = np.abs(s0 - path.to_s(_neighbour_mean(q0)))
        x = rgb.astype(np.float32)
        centred = np.zeros(s0.shape, np.float32)
        usable = np.zeros(s0.shape, bool)
        # The ends of the path (black, white sky) clip the noise: they would bias the spreads.
        inner = (s0 > 8) & (s0 < path.steps - 8)
        for k in range(SEGMENTS):
            flat = (segment == k) & ~edges
            for e, where in ((0, flat), (1, (segment == k) & edges)):
                pools["residual"][(k, e)].append(residual[where])
            flat &= inner
            if not flat.any():
                continue
            start, end = VB_CUBE_PATH[k], VB_CUBE_PATH[k + 1]
            varying = int(np.argmax(np.abs(end - start)))
            inward = [x[..., c] if start[c] == 0 else 255.0 - x[..., c] for c in range(3) if c != varying]
            pools["inward"][k].append(np.concatenate([a[flat] for a in inward]))
            pools["along"][k].append(along[flat])
            deviation = inward[0] - np.median(inward[0][flat])
            centred[flat] = deviation[flat]
            usable |= flat
        corr += _lag_correlation(centred, usable)
    stats = {"segments": []}
    for k in range(SEGMENTS):
        inward = np.concatenate(pools["inward"][k]) if pools["inward"][k] else np.zeros(0)
        along = np.concatenate(pools["along"][k]) if pools["along"][k] else np.zeros(0)
        flat = np.concatenate(pools["residual"][(k, 0)]) if pools["residual"][(k, 0)] else np.zeros(0)
        q25, q50, q75 = np.percentile(flat, [25, 50, 75]) if len(flat) else (0.0, 0.0, 0.0)
        stats["segments"].append({"pixels": int(len(along)), "residual_median": float(q50),
                                  "residual_spread": float(q75 - q25) / 1.349,
                                  "inward_median": float(np.median(inward)) if len(inward) else 0.0,
                                  "along": 1.4826 * float(np.median(along)) if len(along) else 0.0})
    stats["correlation"] = corr[0] / corr[1] if corr[1] > 0 else 0.0
    stats["residual"] = {f"{k}/{'edge' if e else 'flat'}": _quantiles(np.concatenate(v))
                         for (k, e), v in pools["residual"].items() if sum(len(a) for a in v)}
    flat = np.concatenate([np.concatenate(v) for (k, e), v in pools["residual"].items() if e == 0] + [np.zeros(0)])
    edge = np.concatenate([np.concatenate(v) for (k, e), v in pools["residual"].items() if e == 1] + [np.zeros(0)])
    stats["edge_excess"] = float(np.median(edge) - np.median(flat)) if len(edge) and len(flat) else 0.0
    stats["tail"] = _tail(flat)
    stats["edge_share"] = float(len(edge) / max(len(edge) + len(flat), 1))
    return stats


def _tail(values: np.ndarray) -> float:
    """log(q90 / q50): how heavy the upper tail of a residual distribution is."""
    if len(values) < 10:
        return 0.0
    q50, q90 = np.percentile(values, [50, 90])
    return float(np.log(max(q90, 1e-6) / max(q50, 1e-6)))


def _quantiles(values: np.ndarray) -> dict:
    if not len(values):
        return {"pixels": 0}
    q = np.percentile(values, [25, 50, 75, 90, 99])
    return {"pixels": int(len(values)), **{f"q{p}": round(float(v), 3) for p, v in zip((25, 50, 75, 90, 99), q)}}


def normals_edges(unit: np.ndarray, valid: np.ndarray, noise_degrees: float) -> np.ndarray:
    """Pixels within 2 px of a crease or a boundary of the valid region."""
    import cv2

    smooth = np.stack([cv2.medianBlur(np.ascontiguousarray(unit[..., c]), 5) for c in range(3)], axis=2)
    mean = np.stack([_neighbour_mean(smooth[..., c]) for c in range(3)], axis=2)
    mean /= np.maximum(np.linalg.norm(mean, axis=2, keepdims=True), 1e-6)
    bend = np.degrees(np.arccos(np.clip((mean * smooth).sum(axis=2) / np.maximum(
        np.linalg.norm(smooth, axis=2), 1e-6), -1.0, 1.0)))
    edge = (bend > max(2.0, 1.5 * noise_degrees)) | ~valid
    return cv2.dilate(edge.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def _angle_to_neighbours(unit: np.ndarray) -> np.ndarray:
    mean = np.stack([_neighbour_mean(np.ascontiguousarray(unit[..., c])) for c in range(3)], axis=2)
    mean /= np.maximum(np.linalg.norm(mean, axis=2, keepdims=True), 1e-6)
    return np.degrees(np.arccos(np.clip((mean * unit).sum(axis=2), -1.0, 1.0)))


def normals_statistics(images) -> dict:
    """What normal pictures show without ground truth, pooled over ``images``."""
    from vb_plugins.codecs.normals import DEFAULT_LENGTH_TOLERANCE

    lengths, angles, edge_lengths = [], [], []
    corr = np.zeros(3)
    for rgb in images:
        vector = rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        length = np.linalg.norm(vector, axis=2)
        valid = np.abs(length - 1.0) <= DEFAULT_LENGTH_TOLERANCE
        unit = np.where(valid[..., None], vector / np.maximum(length, 1e-6)[..., None], 0.0).astype(np.float32)
        angle = _angle_to_neighbours(unit)
        edges = normals_edges(unit, valid, float(np.median(angle[valid])) if valid.any() else 0.0)
        flat = valid & ~edges
        lengths.append(length[flat])
        angles.append(angle[flat])
        edge_lengths.append(length[valid & edges])
        centred = np.where(flat, length - (np.median(length[flat]) if flat.any() else 0.0), 0.0)
        corr += _lag_correlation(centred.astype(np.float32), flat)
    length, angle, edge = (np.concatenate(a) for a in (lengths, angles, edge_lengths))
    if not len(length):
        raise InputError("normal pictures: no pixel is a normal colour away from edges")
    q25, q50, q75 = np.percentile(length, [25, 50, 75])
    return {"pixels": int(len(length)), "shrink": float(1.0 - q50), "radial": float(q75 - q25) / 1.349,
            "tangential": float(np.median(angle)), "correlation": corr[0] / corr[1] if corr[1] > 0 else 0.0,
            "edge_excess": float(np.median(1.0 - edge) - (1.0 - q50)) if len(edge) else 0.0,
            "tail": _tail(np.abs(length - 1.0)),
            "edge_share": float(len(edge) / max(len(edge) + len(length), 1)),
            "residual": {"flat": _quantiles(np.abs(length - 1.0)), "edge": _quantiles(np.abs(edge - 1.0))}}


# -- fitting ----------------------------------------------------------------------------------------------
def _implied_length(rho: float) -> float:
    """Correlation length (px) of Gaussian-smoothed noise whose neighbours correlate by ``rho``."""
    rho = float(np.clip(rho, 1e-3, 0.995))
    return float(np.sqrt(-1.0 / (4.0 * np.log(rho))))


def _ratio(observed: float, simulated: float, damping: float = 0.8) -> float:
    if simulated <= 1e-9 or observed <= 1e-9:
        return 1.0 if simulated <= 1e-9 and observed <= 1e-9 else (0.5 if observed <= 1e-9 else 2.0)
    return float(np.clip(observed / simulated, 0.25, 4.0) ** damping)


def simulation_scenes(count: int, height: int, width: int, seed: int):
    """Rendered scenes to simulate on (the fit's stand-in for what generators paint)."""
    from vb_plugins.training.synthetic import render_scene

    return [render_scene(seed + i, height, width) for i in range(count)]


def fit_depth_noise(images, compressions, scenes, rounds: int = FIT_ROUNDS, seed: int = 0, log=None):
    """Fit :class:`DepthNoise` to generated depth ``images`` (uint8 RGB), which went through
    ``compressions`` (one per image), by simulating on rendered ``scenes``. Returns (noise, report)."""
    from vb_plugins.codecs import DepthCodec

    observed = depth_statistics(images)
    pooled = _pooled(observed["segments"])
    noise = DepthNoise(fitted=[s["pixels"] >= MIN_PIXELS for s in observed["segments"]])
    for k, s in enumerate(observed["segments"]):
        own = s if noise.fitted[k] else pooled
        noise.bias[k], noise.across[k] = own["inward_median"], max(own["residual_spread"], 0.3)
        noise.along[k] = max(own["along"], 0.3)
    noise.correlation = _implied_length(observed["correlation"])
    codec = DepthCodec()
    clean = [codec.encode(scene.depth) for scene in scenes]
    for round_ in range(rounds):
        simulated = depth_statistics(_simulate(noise, clean, compressions, seed + round_))
        sim_pooled = _pooled(simulated["segments"])
        for k in range(SEGMENTS):
            obs = observed["segments"][k] if noise.fitted[k] else pooled
            sim = simulated["segments"][k] if simulated["segments"][k]["pixels"] >= MIN_PIXELS else sim_pooled
            noise.bias[k] = max(0.0, noise.bias[k] + 0.6 * (obs["residual_median"] - sim["residual_median"]))
            noise.across[k] *= _ratio(obs["residual_spread"], sim["residual_spread"])
            noise.along[k] *= _ratio(obs["along"], sim["along"])
        _keep_near_pooled(noise, observed["segments"])
        noise.correlation = float(np.clip(noise.correlation * _ratio(
            _implied_length(observed["correlation"]), _implied_length(simulated["correlation"])), 0.0, 8.0))
        noise.blur = float(np.clip(noise.blur * _ratio(max(observed["edge_excess"], 0.05),
                                                        max(simulated["edge_excess"], 0.05)), 0.0, 6.0))
        noise.variability = float(np.clip(noise.variability + observed["tail"] - simulated["tail"], 0.0, 1.2))
        if log:
            log(f"depth round {round_ + 1}: along {np.round(noise.along, 2).tolist()} bias "
                f"{np.round(noise.bias, 2).tolist()} correlation {noise.correlation:.2f} blur {noise.blur:.2f} "
                f"variability {noise.variability:.2f}")
    noise.bias, noise.across, noise.along = ([round(float(v), 3) for v in a]
                                             for a in (noise.bias, noise.across, noise.along))
    noise.correlation, noise.blur = round(noise.correlation, 3), round(noise.blur, 3)
    noise.variability = round(noise.variability, 3)
    return noise, observed


def _keep_near_pooled(noise: DepthNoise, segments: list, factor: float = 2.0) -> None:
    """Keep each segment's parameters within ``factor`` of the pixel-weighted mean over the fitted
    segments: a segment with few pixels, or whose pixels drift to neighbouring segments as its noise grows,
    cannot run away."""
    weights = np.array([s["pixels"] if fitted else 0 for s, fitted in zip(segments, noise.fitted)], float)
    if weights.sum() == 0:
        return
    for name in ("bias", "across", "along"):
        values = np.asarray(getattr(noise, name), dtype=np.float64)
        pooled = float(np.average(values, weights=weights))
        low, high = pooled / factor, pooled * factor
        setattr(noise, name, [float(np.clip(v, low, high)) if fitted else pooled
                              for v, fitted in zip(values, noise.fitted)])


def _pooled(segments: list) -> dict:
    weights = np.array([s["pixels"] for s in segments], dtype=np.float64)
    if weights.sum() == 0:
        raise InputError("depth pictures: no pixel lies near the colour path away from edges")
    pooled = {key: float(np.average([s[key] for s in segments], weights=weights))
              for key in ("residual_median", "residual_spread", "inward_median", "along")}
    return pooled | {"pixels": int(weights.sum())}


def _simulate(noise, clean, compressions, seed: int, **overrides) -> list:
    rng = np.random.default_rng(seed)
    return [compress(noise.apply(rgb, rng, **overrides), compressions[i % len(compressions)])
            for i, rgb in enumerate(clean)]


def fit_normals_noise(images, compressions, scenes, rounds: int = FIT_ROUNDS, seed: int = 0, log=None):
    """Fit :class:`NormalsNoise` to generated normal ``images``; see :func:`fit_depth_noise`."""
    observed = normals_statistics(images)
    noise = NormalsNoise(shrink=max(observed["shrink"], 0.0), radial=max(observed["radial"], 0.002),
                         tangential=max(np.radians(observed["tangential"]), 0.002),
                         correlation=_implied_length(observed["correlation"]))
    clean = [encode_normals_scene(scene) for scene in scenes]
    for round_ in range(rounds):
        simulated = normals_statistics(_simulate(noise, clean, compressions, seed + round_))
        noise.shrink = float(np.clip(noise.shrink + 0.8 * (observed["shrink"] - simulated["shrink"]), 0.0, 0.5))
        noise.radial *= _ratio(observed["radial"], simulated["radial"])
        noise.tangential *= _ratio(observed["tangential"], simulated["tangential"])
        noise.correlation = float(np.clip(noise.correlation * _ratio(
            _implied_length(observed["correlation"]), _implied_length(simulated["correlation"])), 0.0, 8.0))
        noise.blur = float(np.clip(noise.blur * _ratio(max(observed["edge_excess"], 1e-3),
                                                        max(simulated["edge_excess"], 1e-3)), 0.0, 6.0))
        noise.variability = float(np.clip(noise.variability + observed["tail"] - simulated["tail"], 0.0, 1.2))
        if log:
            log(f"normals round {round_ + 1}: shrink {noise.shrink:.3f} radial {noise.radial:.4f} tangential "
                f"{noise.tangential:.4f} correlation {noise.correlation:.2f} blur {noise.blur:.2f} "
                f"variability {noise.variability:.2f}")
    for name in ("shrink", "radial", "tangential", "correlation", "blur", "variability"):
        setattr(noise, name, round(float(getattr(noise, name)), 4))
    return noise, observed


def check_fit(noise: GeneratorNoise, depth_images, normal_images, compressions, scenes, seed: int = 1) -> dict:
    """Residual quantiles of the pictures next to those of the fitted noise simulated on other (held-back)
    rendered ``scenes``: per path segment and near/away from edges for depth, near/away for normals."""
    from vb_plugins.codecs import DepthCodec

    report = {}
    if depth_images:
        clean = [DepthCodec().encode(scene.depth) for scene in scenes]
        sim = depth_statistics(_simulate(noise.depth, clean, compressions["depth"], seed))
        real = depth_statistics(depth_images)
        report["depth"] = {key: {"pictures": real["residual"][key], "simulated": sim["residual"].get(key)}
                           for key in real["residual"]}
        report["depth_moments"] = {key: {"pictures": real[key], "simulated": sim[key]}
                                   for key in ("edge_share", "edge_excess", "tail", "correlation")}
    if normal_images:
        clean = [encode_normals_scene(scene) for scene in scenes]
        sim = normals_statistics(_simulate(noise.normals, clean, compressions["normals"], seed))
        real = normals_statistics(normal_images)
        report["normals"] = {key: {"pictures": real["residual"][key], "simulated": sim["residual"][key]}
                             for key in ("flat", "edge")}
        moments = ("shrink", "radial", "tangential", "correlation", "edge_excess", "tail")
        report["normals_moments"] = {key: {"pictures": real[key], "simulated": sim[key]} for key in moments}
    return report
