"""What every FiftyOne storage form shares: the :class:`Storage` interface and fast PNG / .npy writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError

UINT16_MAX = 65535


def _save_npy(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


def _write_png(path: Path, array: np.ndarray) -> None:
    """Fast PNG write (OpenCV, light compression); RGB arrays are given in RGB order. Encoding in
    memory and writing the bytes at once is several times faster than ``cv2.imwrite`` on small maps."""
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InputError(f"{path}: cannot encode PNG")
    try:
        path.write_bytes(encoded.tobytes())
    except OSError as error:
        raise InputError(f"{path}: cannot write PNG ({error.strerror or error})") from None


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """float -> uint16 PNG units: round(values * scale) clipped to 0..65535; non-finite -> 0."""
    values = np.asarray(values, dtype=np.float32)
    out = np.where(np.isfinite(values), values * np.float32(scale), 0.0)
    return np.clip(np.rint(out), 0, UINT16_MAX).astype(np.uint16)


class Storage:
    """How values of one storage form (:attr:`vb_plugins.kinds.ValueKind.stored_as`) land on a sample and
    are read back: the main field's FiftyOne type, whether it holds a path, the files written."""

    field_type = "str"
    path_valued = False

    def main(self, writer, prediction, sample_id: str, values: dict):
        """Write the main value's files; returns the main field's value (``values``: side fields to add to)."""
        raise NotImplementedError

    def read(self, label, scale=None) -> np.ndarray:
        """The values back from a stored label."""
        raise InputError(f"cannot read values back from a {type(label).__name__}")

    def mask_targets(self, spec) -> dict[int, str] | None:
        return None

    def mask_colours(self, spec) -> list[dict] | None:
        return None

    def side_fields(self, writer) -> dict[str, str]:
        """Further fields this form writes beside the main one: ``{field: FiftyOne label type}``."""
        return {}

    def side_mask_targets(self, writer) -> dict[str, dict[int, str]]:
        """The dataset's ``mask_targets`` of those further fields."""
        return {}

    def field_descriptions(self, writer) -> dict[str, str]:
        """``{field: description}`` set on the dataset's fields (what the values mean, their units)."""
        return {}


def _read_media(label, path_field: str, read):
    """``read()`` of a label whose array may live in a file (``map_path``, ``mask_path``): a missing or
    unreadable file is an :class:`InputError` naming the label and the file (FiftyOne raises OSError)."""
    path = label[path_field] if _has(label, path_field) else None
    name = type(label).__name__.lower()
    if path and not Path(path).is_file():
        raise InputError(f"{name} {label.id}: {path_field} {path}: no such file")
    try:
        return read()
    except (OSError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"{name} {label.id}: cannot read {path or 'its array'} ({reason})") from None


def _has(label, name: str) -> bool:
    try:
        return label.has_field(name) and label[name] is not None
    except Exception:  # labels of other types
        return False
