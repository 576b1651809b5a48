"""Merging accumulators: what lets images be scored in parallel and still give the sequential numbers.

Each image is added to a fresh accumulator of its own (on any process or machine); :func:`merge_image`
then adds those one-image accumulators to the run's, in the images' order. Counts are integers, and
every floating-point total grows by the same per-image amounts in the same order as when the images are
added one by one (a fresh total is ``0.0 + x``, which is ``x`` exactly), so the report is identical to the
sequential one, bit for bit.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.evaluation.depth import DepthAccumulator
from vb_plugins.evaluation.instance import InstanceAccumulator
from vb_plugins.evaluation.normals import NormalsAccumulator
from vb_plugins.evaluation.segmentation import ReferringAccumulator, SemanticAccumulator

LISTS = ("records", "skipped")
# The totals each accumulator keeps beside its per-image records; everything else is configuration.
TOTALS = {
    DepthAccumulator: ("_bin_pixels", "_bin_abs_rel"),
    NormalsAccumulator: ("_histogram", "_count", "_sum", "_sum_squares", "_below", "_invalid_predictions"),
    SemanticAccumulator: ("matrix",),
    ReferringAccumulator: ("_intersection", "_union"),
    InstanceAccumulator: ("tp", "fn", "fp_positive", "fp_all", "outcomes"),
}
SPECIAL = {NormalsAccumulator: ("_errors",)}  # the exact pooled median's pixels, kept up to a limit


def merge_image(target, part) -> None:
    """Add ``part`` (an accumulator of the same class and configuration that holds the images after
    those already in ``target``) to ``target``. Raises ``TypeError`` for state this module does not
    know how to merge (a new accumulator attribute must be listed in :data:`TOTALS`)."""
    kind = type(target)
    if type(part) is not kind or kind not in TOTALS:
        raise TypeError(f"cannot merge {type(part).__name__} into {kind.__name__}")
    totals, special = TOTALS[kind], SPECIAL.get(kind, ())
    for name, value in vars(part).items():
        mine = getattr(target, name)
        if name in LISTS:
            mine.extend(value)
        elif name in totals:
            setattr(target, name, _add(mine, value))
        elif name not in special and not _same(mine, value):
            raise TypeError(f"{kind.__name__}.{name} differs between the parts and is not a known total")
    if kind is NormalsAccumulator:
        # as NormalsAccumulator._pool: pixels are kept while the running count stays within the limit
        if target._errors is not None and part._errors is not None and target._count <= target.exact_median_limit:
            target._errors.extend(part._errors)
        else:
            target._errors = None


def _add(mine, value):
    if isinstance(mine, np.ndarray):
        mine += value  # in place, as the accumulator's own ``+=``
        return mine
    if isinstance(mine, dict):
        return {key: mine[key] + value.get(key, 0) for key in mine}
    return mine + value


def _same(mine, value) -> bool:
    if isinstance(mine, np.ndarray) or isinstance(value, np.ndarray):
        return np.array_equal(np.asarray(mine), np.asarray(value))
    try:
        return bool(mine == value)
    except ValueError:  # objects whose comparison is element-wise
        return False
