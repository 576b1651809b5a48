"""Finding prediction and ground-truth files and reading them, with one-line errors that name the file.

Predictions (one directory, not recursive): ``STEM.TASK.npy`` as ``vb predict`` writes them; if a
directory has none, every ``STEM.npy`` / ``STEM.png`` in it (files ``vb predict`` writes beside its values
— ``*.generated*.png``, ``*.confidence.npy``, ``*.uncertainty.npy``, ``*.json`` — are never taken as
predictions). ``STEM.json`` beside a prediction is read when present (normal convention, class list).

Ground truth (a directory, searched recursively): the first of the task's file-name patterns that exists,
``{key}`` (or ``{stem}``) standing for the prediction's stem after the prefixes and suffixes to strip are
removed (``rgb_00000`` with ``--strip-prefix rgb_`` -> ``00000``): first directly under the directory (a
pattern may name a sub-directory), then anywhere below it by file name (a name found twice is an error).
A pattern with shell wildcards (``*``, ``?``, ``[...]``) is matched against the file names below the
directory, or against their paths relative to it when the pattern has a ``/``; it must match one file
for a key (none: no ground truth; several: an error naming two of them).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import re
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.io import load_npy, read_image
from vb_plugins.label_files import palette_indices

GT_PATTERNS = {
    "depth": ("{stem}.npy", "{stem}.png", "{stem}.depth.npy", "{stem}.depth.png", "{stem}_depth.npy"),
    "normals": ("{stem}.npy", "{stem}.normals.npy", "{stem}_normal.npy", "{stem}_normals.npy"),
    "semantic": ("{stem}.png", "{stem}.npy", "{stem}.semantic.png", "{stem}.semantic.npy"),
    "referring": ("{stem}.png", "{stem}.npy", "{stem}.referring.png", "{stem}.referring.npy"),
    "instance": ("{stem}.png", "{stem}.npy", "{stem}.instance.png", "{stem}.instance.npy"),
}
VALUE_SUFFIXES = (".npy", ".png")
KEY_PLACEHOLDERS = ("{key}", "{stem}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_NOT_VALUES = re.compile(r"(\.generated(-\d+)?\.png|\.confidence\.npy|\.uncertainty\.npy|\.json)$")


def find_predictions(directory, task: str) -> dict[str, Path]:
    """Prediction stem -> file, sorted by stem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: prediction directory does not exist")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    tagged_suffix = f".{task}.npy"
    tagged = {p.name[:-len(tagged_suffix)]: p for p in files if p.name.endswith(tagged_suffix)}
    if tagged:
        return dict(sorted(tagged.items()))
    found: dict[str, Path] = {}
    for path in files:
        if _NOT_VALUES.search(path.name) or path.suffix.lower() not in VALUE_SUFFIXES:
            continue
        stem = path.name[:-len(path.suffix)]
        if stem in found:
            raise InputError(f"{directory}: two predictions for {stem!r} ({found[stem].name}, {path.name}); "
                             "keep one per stem")
        found[stem] = path
    if not found:
        raise InputError(f"{directory}: no {task} predictions (STEM.{task}.npy from vb predict, or .npy/.png files)")
    return dict(sorted(found.items()))


def read_record(prediction: Path, stem: str) -> dict | None:
    """The ``STEM.json`` record ``vb predict`` writes beside a prediction, if there is one."""
    path = prediction.parent / f"{stem}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a readable prediction record ({error})") from None
    return record if isinstance(record, dict) else None


def pairing_key(stem: str, prefixes=(), suffixes=()) -> str:
    """The prediction stem without the first matching prefix and suffix: the ``{key}`` of file patterns."""
    for prefix in prefixes:
        if prefix and stem.startswith(prefix) and len(stem) > len(prefix):
            stem = stem[len(prefix):]
            break
    for suffix in suffixes:
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[:-len(suffix)]
    return stem


def check_patterns(patterns, option: str) -> None:
    """Each pattern names the key once or more and no other placeholder (else it would pair every
    prediction with the same file, or look for a literal ``{name}``)."""
    for pattern in patterns:
        unknown = [p for p in _PLACEHOLDER.findall(pattern) if p not in KEY_PLACEHOLDERS]
        if unknown:
            raise InputError(f"{option} {pattern!r}: unknown placeholder {unknown[0]} (use {{key}}, the prediction "
                             "stem after --strip-prefix / --strip-suffix)")
        if not any(p in pattern for p in KEY_PLACEHOLDERS):
            raise InputError(f"{option} {pattern!r}: no {{key}} in it, so every prediction would pair with the same "
                             "file (write e.g. 'sync_depth_{key}.png')")


def _has_wildcard(pattern: str) -> bool:
    return glob.has_magic(_PLACEHOLDER.sub("", pattern))


def _fill(pattern: str, key: str, wildcard: bool) -> str:
    value = glob.escape(key) if wildcard else key  # a key's own '[' or '*' matches literally
    for placeholder in KEY_PLACEHOLDERS:
        pattern = pattern.replace(placeholder, value)
    return pattern


class FileIndex:
    """Looks files up under a root directory by ``{stem}`` patterns (see the module docstring)."""

    def __init__(self, root, what: str = "ground-truth"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: {what} directory does not exist")
        self._by_name: dict[str, list[Path]] | None = None

    def _names(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = {}
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    self._by_name.setdefault(path.name, []).append(path)
        return self._by_name

    def find(self, patterns, key: str) -> Path | None:
        """The file the first matching pattern names for ``key`` (see the module docstring), or None."""
        plain = [_fill(pattern, key, False) for pattern in patterns if not _has_wildcard(pattern)]
        for name in plain:
            if (self.root / name).is_file():
                return self.root / name
        for pattern in patterns:
            if _has_wildcard(pattern):
                hits = self._glob(_fill(pattern, key, True))
                what = f"pattern {pattern!r} matches {len(hits)} files for {key!r}"
            else:
                name = Path(_fill(pattern, key, False)).name
                hits = self._names().get(name, [])
                what = f"{len(hits)} files are named {name}"
            if len(hits) > 1:
                raise InputError(f"{self.root}: {what} ({hits[0]}, {hits[1]}); give each a unique name or a "
                                 "more specific pattern")
            if hits:
                return hits[0]
        return None

    def _glob(self, pattern: str) -> list[Path]:
        by_path = "/" in pattern
        return [path for name, paths in self._names().items() for path in paths
                if fnmatch.fnmatchcase(path.relative_to(self.root).as_posix() if by_path else name, pattern)]


def load_values(path: Path) -> np.ndarray:
    """A ``.npy`` array (no pickles) or an image as stored (uint8 / uint16, gray or colour)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return load_npy(path)
    return read_image(path)


def _single_channel(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        return array[..., 0]
    if array.ndim == 3 and array.shape[2] in (3, 4):
        gray = array[..., 0]
        if np.array_equal(gray, array[..., 1]) and np.array_equal(gray, array[..., 2]):
            return gray
        raise InputError(f"{path}: expected a single-channel {what}, got colour channels")
    if array.ndim != 2:
        raise InputError(f"{path}: expected a single-channel {what}, got shape {array.shape}")
    return array


def load_depth(path: Path, depth_scale: float | None, what: str = "depth",
               option: str = "--depth-scale") -> np.ndarray:
    """Depth in metres: ``.npy`` as stored (H x W or H x W x 1); a PNG divided by ``depth_scale``."""
    array = load_values(path)
    if path.suffix.lower() == ".npy":
        if array.dtype.kind not in "fiu":
            raise InputError(f"{path}: expected {what} values, got dtype {array.dtype}")
        return _single_channel(array, path, f"{what} map").astype(np.float64)
    array = _single_channel(array, path, f"{what} PNG")
    if depth_scale is None:
        raise InputError(f"{path}: a {what} PNG needs a scale ({option}: PNG units per metre, "
                         "e.g. 1000 for millimetres, 256 for KITTI)")
    return array.astype(np.float64) / depth_scale


def load_normals(path: Path) -> np.ndarray:
    if path.suffix.lower() != ".npy":
        raise InputError(f"{path}: normals are read from .npy (H x W x 3); decode a normal-map image "
                         "with `vb decode normals` first")
    array = load_values(path)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype.kind not in "fiu":
        raise InputError(f"{path}: expected H x W x 3 normals, got shape {array.shape} dtype {array.dtype}")
    return array


def load_labels(path: Path, what: str = "label map") -> np.ndarray:
    """Integer H x W labels / ids / mask values from a PNG (8 or 16 bit; a palette PNG gives its indices, as
    `vb decode semantic` writes them) or ``.npy``."""
    indices = palette_indices(path) if Path(path).suffix.lower() != ".npy" and Path(path).is_file() else None
    array = _single_channel(load_values(path) if indices is None else indices, path, what)
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(f"{path}: a {what} must hold whole numbers")
    elif array.dtype.kind not in "iu":
        raise InputError(f"{path}: expected a {what}, got dtype {array.dtype}")
    return array.astype(np.int64)
