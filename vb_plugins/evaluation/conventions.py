"""How predictions number their labels, and the warnings for a numbering that looks wrong.

``vb predict`` (and :class:`vb_plugins.predict.Prediction`) store semantic class ``i`` as label ``i + 1``
and ``0`` for unlabeled, and the ``STEM.json`` record beside a prediction file says so. Other models'
label maps (Cityscapes trainIds, ...) are usually 0-based: read as ``vb predict`` labels, every class
would be shifted by one and the most frequent class (label 0) would count as unlabeled. So:

- a file with a ``vb predict`` record, or a ``Prediction`` object, is read as ``vb predict`` labels;
- a file without a record is read the same way unless ``--pred-first-label`` says otherwise, with a
  warning when label 0 covers more than :data:`ZERO_SHARE_WARNING` of the pixels on average;
- an array given to :func:`vb_plugins.evaluation.evaluate_pairs` holds 0-based class indices unless
  ``pred_first_label`` says otherwise, with a warning when it holds the label ``N`` (the number of
  classes), which 0-based labels never reach but ``vb predict`` labels do.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

VB_PREDICT_FIRST_LABEL = 1  # class i is label i + 1; 0 = unlabeled
ZERO_SHARE_WARNING = 0.05  # mean share of label-0 pixels above which files without a record are suspect


class EvalWarning(UserWarning):
    """The predictions may be read with the wrong convention: the numbers may be wrong."""


def warn(message: str) -> None:
    warnings.warn(message, EvalWarning, stacklevel=3)


def is_vb_semantic_record(record: dict | None) -> bool:
    """Whether a ``STEM.json`` record is the one ``vb predict`` writes beside a semantic prediction."""
    if not isinstance(record, dict):
        return False
    spec = record.get("spec")
    task = spec.get("task") if isinstance(spec, dict) else record.get("task")
    return task == "semantic"


def as_prediction(value):
    """``value`` if it is a :class:`vb_plugins.predict.Prediction`, else None (without importing the
    predictor: if its module was never imported, nothing can be one)."""
    module = sys.modules.get("vb_plugins.predict")
    return value if module is not None and isinstance(value, module.Prediction) else None


def shift_labels(pred, first_label: int) -> np.ndarray:
    """Labels minus ``first_label`` (class indices from 0), in a signed type so 0 - 1 stays -1."""
    array = np.asarray(pred)
    if not first_label:
        return array
    if array.dtype.kind in "biu":
        array = array.astype(np.int64)
    return array - first_label


def zero_share_warning(shares: list[float]) -> str | None:
    """The warning for files without a record whose label 0 is frequent, or None."""
    if not shares or float(np.mean(shares)) <= ZERO_SHARE_WARNING:
        return None
    return (f"label 0 covers {np.mean(shares):.0%} of the pixels of the {len(shares)} prediction(s) without a "
            "vb predict record and is read as 'unlabeled' (class i = label i + 1); for 0-based predictions "
            "such as trainIds pass --pred-first-label 0 (pred_first_label=0 in Python)")


def one_past_warning(classes: int) -> str:
    return (f"semantic predictions hold label {classes}, the number of classes, which 0-based class indices never "
            "reach: if these are vb predict labels (class i = label i + 1, 0 = unlabeled) pass the Prediction "
            "objects themselves or pred_first_label=1")
