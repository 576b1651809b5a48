"""The calibration model: features -> reliability and expected error, and how it is fitted.

Reliability is a logistic score of the features (weights sign-constrained, see
:data:`vb_plugins.reliability.features.SIGNS`) mapped through an isotonic (monotone, piecewise-linear)
table fitted to the observed share of pixels within tolerance: the score orders pixels, the table says
how often pixels with that score were right. The expected error is the mean observed error per score bin,
a log-linear model of the mean error (a Poisson-type fit of the features and the log of the task's unit
scale, e.g. metres per path step for depth) recalibrated by an isotonic table of observed mean error per
bin of its prediction. Everything is numpy; a table is a few kilobytes of JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vb_plugins.errors import InputError

RIDGE = 1e-3
NEWTON_STEPS = 30
ISOTONIC_BINS = 400
ERROR_BINS = 40


@dataclass
class Calibration:
    """One task's and decode mode's table. ``score = ((x - centre) / scale) @ weights + bias``;
    reliability = ``interp(score, iso_x, iso_y)``; with ``u`` = the log of the pixel's unit scale,
    ``log_mean = ((x - centre) / scale) @ error_weights[:-1] + error_weights[-1] * u + error_bias`` and
    expected error = ``interp(log_mean, error_x, error_y)`` in the task's units."""

    task: str
    mode: str
    names: list
    centre: list
    scale: list
    weights: list
    bias: float
    iso_x: list
    iso_y: list
    error_weights: list
    error_bias: float
    error_x: list
    error_y: list
    samples: int = 0
    tolerance: str = ""

    def check(self, names) -> None:
        if list(names) != list(self.names):
            raise InputError(f"calibration {self.task}/{self.mode}: features {list(names)} do not match the "
                             f"table's {self.names}; refit it (benchmarks/calibration.py fit)")
        sizes = {len(self.names), len(self.centre), len(self.scale), len(self.weights), len(self.error_weights) - 1}
        if len(sizes) != 1 or len(self.iso_x) != len(self.iso_y) or len(self.error_x) != len(self.error_y):
            raise InputError(f"calibration {self.task}/{self.mode}: table sizes disagree")

    def _linear(self, columns, weights, bias: float) -> np.ndarray:
        """``((x - centre) / scale) @ weights + bias`` summed column by column (no N x F matrix: faster
        on large pictures); ``columns``: equal-shaped arrays, one per feature (or ``matrix.T``)."""
        folded = np.asarray(weights, np.float64)[: len(self.scale)] / np.asarray(self.scale, np.float64)
        total = np.full(np.shape(columns[0]), bias - float(folded @ np.asarray(self.centre)), np.float32)
        for weight, column in zip(folded, columns):
            column = np.asarray(column, np.float32)
            if weight == 0.0:
                continue
            if column.size and not any(column.strides):  # one value broadcast over the picture: a constant
                total += np.float32(weight * float(column.flat[0]))
            elif column.ndim == 2 and column.flags.c_contiguous and total.ndim == 2:
                cv2.scaleAdd(column, float(weight), total, dst=total)  # one pass, no temporary
            else:
                total += np.float32(weight) * column
        return total

    def score(self, columns) -> np.ndarray:
        return self._linear(columns, self.weights, self.bias)

    def reliability(self, columns) -> np.ndarray:
        return np.interp(self.score(columns), self.iso_x, self.iso_y).astype(np.float32)

    def expected_error(self, columns, log_unit: np.ndarray) -> np.ndarray:
        log_mean = self._linear(columns, self.error_weights, self.error_bias)
        log_mean += np.float32(self.error_weights[-1]) * np.asarray(log_unit, np.float32).reshape(log_mean.shape)
        return np.interp(log_mean, self.error_x, self.error_y).astype(np.float32)


def save_calibrations(calibrations: list, path) -> None:
    from vb_plugins.reliability.noise import write_atomically

    data = {f"{c.task}/{c.mode}": _rounded(asdict(c)) for c in calibrations}
    write_atomically(path, json.dumps(data, indent=0) + "\n")


def load_calibrations(path) -> dict:
    """{"task/mode": Calibration} from a JSON file written by :func:`save_calibrations`."""
    try:
        data = json.loads(Path(path).read_text())
        return {key: Calibration(**value) for key, value in data.items()}
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"calibration tables {path}: cannot read ({err})") from None


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


# -- fitting ----------------------------------------------------------------------------------------------
def fit_logistic(x: np.ndarray, y: np.ndarray, signs: np.ndarray, ridge: float = RIDGE):
    """Logistic regression of outcomes ``y`` (0/1) on standardised ``x`` by Newton's method, with weight
    ``i`` kept >= 0 where ``signs[i] > 0`` and <= 0 where ``signs[i] < 0`` (an active-set loop: a weight
    that comes out with the wrong sign is pinned at 0 and the rest refitted). Returns (weights, bias)."""
    free = np.ones(x.shape[1], bool)
    for _ in range(x.shape[1] + 1):
        weights, bias = _newton(x[:, free], y, ridge)
        full = np.zeros(x.shape[1])
        full[free] = weights
        wrong = ((signs > 0) & (full < 0)) | ((signs < 0) & (full > 0))
        if not wrong.any():
            return full, bias
        # Pin the worst offender only: pinning one can put the others right.
        free[np.argmax(np.abs(full) * wrong)] = False
    return full, bias


def _newton(x: np.ndarray, y: np.ndarray, ridge: float):
    n, f = x.shape
    design = np.concatenate([x, np.ones((n, 1), x.dtype)], axis=1).astype(np.float64)
    beta = np.zeros(f + 1)
    penalty = np.full(f + 1, ridge * n)
    penalty[-1] = 0.0
    for _ in range(NEWTON_STEPS):
        z = np.clip(design @ beta, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        gradient = design.T @ (y - p) - penalty * beta
        w = np.maximum(p * (1 - p), 1e-6)
        hessian = (design * w[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max() < 1e-6:
            break
    return beta[:-1], float(beta[-1])


def fit_log_mean(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE):
    """``E[y] = exp(x @ w + b)`` for non-negative ``y`` by Newton's method on the Poisson likelihood (which
    needs no distribution of ``y``, only its mean). Returns (weights, bias)."""
    n, f = x.shape
    design = np.concatenate([x, np.ones((n, 1), x.dtype)], axis=1).astype(np.float64)
    beta = np.zeros(f + 1)
    beta[-1] = np.log(max(float(y.mean()), 1e-9))
    penalty = np.full(f + 1, ridge * n)
    penalty[-1] = 0.0
    for _ in range(NEWTON_STEPS):
        mu = np.exp(np.clip(design @ beta, -30, 30))
        gradient = design.T @ (y - mu) - penalty * beta
        hessian = (design * mu[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(f + 1)
        step = np.linalg.solve(hessian, gradient)
        largest = np.abs(step).max()
        beta += step if largest < 2.0 else step * (2.0 / largest)  # damped: exp() punishes overshoot
        if largest < 1e-6:
            break
    return beta[:-1], float(beta[-1])


def isotonic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, increasing: bool = True):
    """Pool-adjacent-violators fit of ``y`` over sorted ``x``: returns the fitted values (same order)."""
    values = list(np.asarray(y, np.float64) if increasing else -np.asarray(y, np.float64))
    weights = list(np.asarray(weight, np.float64))
    blocks = []  # [value, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            total = w1 + w2
            blocks.append([(v1 * w1 + v2 * w2) / max(total, 1e-12), total, c1 + c2])
    fitted = np.concatenate([np.full(c, v) for v, _, c in blocks])
    return fitted if increasing else -fitted


def binned(score: np.ndarray, values: np.ndarray, bins: int):
    """(mean score, mean value, count) over ``bins`` quantile bins of ``score`` (empty bins dropped)."""
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, max(len(edges) - 2, 0))
    count = np.bincount(index, minlength=len(edges))
    keep = count > 0
    mean_score = np.bincount(index, weights=score, minlength=len(edges))[keep] / count[keep]
    mean_value = np.bincount(index, weights=values, minlength=len(edges))[keep] / count[keep]
    return mean_score, mean_value, count[keep]


def fit_calibration(task: str, mode: str, names, matrix: np.ndarray, ok: np.ndarray, error: np.ndarray,
                    signs: dict, tolerance: str = "", error_cap: float = np.inf, log_unit=None) -> Calibration:
    """Fit one table from feature rows, outcomes (within tolerance) and errors (task units) of the same
    pixels; ``log_unit``: per-row log of the unit scale (None: 0). Rows whose error or unit scale is not
    finite take no part in the error model."""
    matrix = np.asarray(matrix, np.float64)
    centre = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale < 1e-6] = 1.0
    standard = (matrix - centre) / scale
    sign = np.array([signs.get(name, 0) for name in names], float)
    weights, bias = fit_logistic(standard, np.asarray(ok, np.float64), sign)
    score = standard @ weights + bias
    x, y, count = binned(score, np.asarray(ok, np.float64), ISOTONIC_BINS)
    iso = np.clip(isotonic(x, y, count), 0.0, 1.0)
    iso_x, iso_y = _knots(x, iso)
    log_unit = np.zeros(len(ok)) if log_unit is None else np.asarray(log_unit, np.float64)
    error = np.asarray(error, np.float64)
    finite = np.isfinite(error) & np.isfinite(log_unit)
    design = np.concatenate([standard[finite], log_unit[finite, None]], axis=1)
    target = np.minimum(error[finite], error_cap)
    error_weights, error_bias = fit_log_mean(design, target)
    log_mean = design @ error_weights + error_bias
    ex, ey, ecount = binned(log_mean, target, ERROR_BINS)
    ey = np.maximum(isotonic(ex, ey, ecount), 0.0)
    return Calibration(task, mode, list(names), centre.tolist(), scale.tolist(), weights.tolist(), bias,
                       iso_x, iso_y, error_weights.tolist(), error_bias, ex.tolist(), ey.tolist(), int(len(ok)),
                       tolerance)


def _knots(x: np.ndarray, y: np.ndarray):
    """Piecewise-linear knots of an isotonic step function: the middle of each flat run (and both ends),
    so interpolation is monotone and smooth between runs."""
    xs, ys = [float(x[0])], [float(y[0])]
    start = 0
    for i in range(1, len(x) + 1):
        if i == len(x) or y[i] != y[start]:
            xs.append(float(0.5 * (x[start] + x[i - 1])))
            ys.append(float(y[start]))
            start = i
    xs.append(float(x[-1]))
    ys.append(float(y[-1]))
    order = np.argsort(xs, kind="stable")
    xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
    keep = np.concatenate([[True], np.diff(xs) > 1e-9])
    return xs[keep].tolist(), np.maximum.accumulate(ys[keep]).tolist()


def expected_calibration_error(predicted: np.ndarray, observed: np.ndarray, bins: int = 10):
    """ECE over ``bins`` equal-width bins of predicted probability, weighted by pixel counts; also returns
    the per-bin (mean predicted, observed share, count) for a reliability diagram."""
    predicted = np.asarray(predicted, np.float64).ravel()
    observed = np.asarray(observed, np.float64).ravel()
    index = np.minimum((predicted * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    keep = count > 0
    mean_p = np.bincount(index, weights=predicted, minlength=bins)[keep] / count[keep]
    mean_o = np.bincount(index, weights=observed, minlength=bins)[keep] / count[keep]
    ece = float((np.abs(mean_p - mean_o) * count[keep]).sum() / max(count.sum(), 1))
    return ece, {"predicted": mean_p.tolist(), "observed": mean_o.tolist(), "count": count[keep].tolist(),
                 "bin": np.flatnonzero(keep).tolist()}
