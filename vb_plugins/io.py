"""Reading and writing files: clear one-line errors, and never a half-written output."""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format
from PIL import Image, ImageOps, UnidentifiedImageError

from vb_plugins.errors import InputError, OutputError
from vb_plugins.os_errors import describe_os_error

# Pillow modes -> words for messages (a decoder that needs colour names what it was given).
_MODE_WORDS = {
    "1": "1-bit black-and-white", "L": "8-bit gray", "LA": "gray with alpha", "La": "gray with alpha",
    "I;16": "16-bit gray", "I;16B": "16-bit gray", "I;16L": "16-bit gray", "I": "32-bit integer gray",
    "F": "32-bit float gray", "P": "palette", "PA": "palette with alpha", "CMYK": "CMYK", "RGB": "RGB",
    "RGBA": "RGB with alpha", "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV",
}
# Single-channel modes are read as H x W arrays (alpha dropped): gray is gray, whatever the bit depth.
_GRAY_MODES = {"1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I", "F"}


def describe_mode(mode: str) -> str:
    """``"LA"`` -> ``"gray with alpha (mode LA)"``: how messages name an image file's mode."""
    words = _MODE_WORDS.get(mode)
    return f"{words} (mode {mode})" if words else f"mode {mode}"


def _pixel_limit() -> int | None:
    """Largest image read, in pixels: Pillow's ``PIL.Image.MAX_IMAGE_PIXELS`` (None = no limit), so one
    setting governs every reader. Beyond it an image is refused as a possible decompression bomb."""
    return Image.MAX_IMAGE_PIXELS


def _bomb_error(path: Path, pixels, limit) -> InputError:
    return InputError(f"{path}: {pixels:,} pixels exceeds the limit of {limit:,} (a possible decompression "
                      "bomb; the limit is PIL.Image.MAX_IMAGE_PIXELS)")


def read_image_and_mode(path, exif_transpose: bool = False) -> tuple[np.ndarray, str]:
    """:func:`read_image` and the file's Pillow mode (``"RGB"``, ``"LA"``, ``"F"``, ...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    limit = _pixel_limit()
    try:
        with Image.open(path) as image:
            pixels = image.width * image.height
            if limit is not None and pixels > limit:
                raise _bomb_error(path, pixels, limit)
            mode = image.mode
            image.load()
            if exif_transpose:
                image = ImageOps.exif_transpose(image)
            return _as_array(image, path), mode
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        raise _bomb_error(path, int(found.group(1)) if found else 0, limit or 0) from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a readable image file") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InputError(f"{path}: cannot read image ({error})") from None


def _as_array(image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        if array.dtype != np.uint16:
            if array.min() < 0 or array.max() > 65535:
                raise InputError(f"{path}: 32-bit integer image values exceed 0..65535")
            array = array.astype(np.uint16)
        return array
    if mode == "F":  # as stored: a float TIFF may be metric ground truth, NaN marking invalid pixels
        return np.array(image, dtype=np.float32)
    if mode in _GRAY_MODES:  # 1, L, LA: 8-bit gray, alpha dropped
        image = image.convert("L")
    elif mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return np.asarray(image).copy()


def read_image(path, exif_transpose: bool = False) -> np.ndarray:
    """Read an image file as a numpy array: uint8 H x W x 3 (or x 4 / H x W), uint16 for 16-bit files.

    Gray files of every kind (1-bit, 8-bit, gray with alpha, 16-bit, float TIFF) are read as H x W
    (uint8, uint16, float32 as stored; alpha dropped), so decoders that need colour can refuse them;
    palette, CMYK and other colour modes are converted to RGB (RGBA where they carry transparency).
    ``exif_transpose`` applies the EXIF orientation (right for photos; wrong for generated
    visualizations, which carry no orientation). Images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` are
    refused (decompression bombs).
    """
    return read_image_and_mode(path, exif_transpose)[0]


def read_rgb(path, exif_transpose: bool = False) -> np.ndarray:
    """Read an image as uint8 H x W x 3 (alpha dropped, gray replicated; 16-bit scaled to 8)."""
    array = read_image(path, exif_transpose=exif_transpose)
    if array.dtype == np.uint16:
        array = (array.astype(np.uint32) * 255 + 32767) // 65535
        array = array.astype(np.uint8)
    elif array.dtype == np.float32:  # float TIFF: a 0..1 picture
        if not np.isfinite(array).all():
            raise InputError(f"{path}: float image contains NaN or infinite values; expected a 0..1 picture")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise InputError(f"{path}: float image values span {low:g}..{high:g}; expected a 0..1 picture")
        array = np.rint(array * 255.0).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def load_npy(path, name: str | None = None) -> np.ndarray:
    """Load a ``.npy`` array without pickles, with errors that name the file.

    The header's shape and dtype are checked against the file's size before anything is allocated, so a
    forged header cannot ask for gigabytes.
    """
    path = Path(path)
    label = name or str(path)
    if not path.is_file():
        raise InputError(f"{label}: no such file")
    try:
        with open(path, "rb") as handle:
            _check_npy_header(handle, path.stat().st_size, label)
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise InputError(f"{label}: not a readable .npy array ({error})") from None


def _check_npy_header(handle, file_size: int, label: str) -> None:
    version = npy_format.read_magic(handle)
    # Versions 2 and 3 share the header layout (3 only allows UTF-8 field names).
    read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, _, dtype = read_header(handle)
    if dtype.hasobject:
        return  # np.load refuses pickled objects itself
    needed = math.prod(shape) * dtype.itemsize
    held = file_size - handle.tell()
    if needed > held:
        raise InputError(f"{label}: the header promises a {dtype} array of shape {tuple(shape)} "
                         f"({_bytes(needed)}) but the file holds {_bytes(held)}")


def _bytes(count: int) -> str:
    return f"{count} bytes" if count < 1024 ** 2 else f"{count / 1024 ** 3:.2f} GiB" if count >= 1024 ** 3 \
        else f"{count / 1024 ** 2:.1f} MiB"


def _umask_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_file_mode()

# Temporary paths handed out by `atomic_paths` -> the outputs they stand for, so that an error while a
# writer fills one names the file the user asked for.
_STANDS_FOR: contextvars.ContextVar[dict | None] = contextvars.ContextVar("vb_atomic_stands_for", default=None)


def output_error(path, error: OSError) -> OutputError:
    """``error`` while writing ``path`` as a one-line :class:`OutputError` naming ``path``."""
    path = (_STANDS_FOR.get() or {}).get(str(path), path)
    wrapped = OutputError(f"{path}: cannot write: {describe_os_error(error)}")
    wrapped.errno = error.errno
    return wrapped


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    Failures to write (read-only file system, disk full, permission denied, a directory at ``path``)
    become one-line :class:`OutputError`s naming ``path``; the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise output_error(path, error) from None
    os.close(handle)
    try:
        yield Path(temp)
        os.chmod(temp, _FILE_MODE)  # mkstemp makes 0600; a finished file gets the usual umask mode
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(error, OSError) and not isinstance(error, OutputError):
            raise output_error(path, error) from None
        raise


@contextlib.contextmanager
def atomic_paths(paths, overwrite: bool = True):
    """:func:`atomic_path` for several outputs at once: yields their temporary paths, and only when the
    whole block succeeds are they moved into place (``os.replace``, the first path last). Any failure,
    e.g. the disk filling up on the last file, leaves every existing output untouched and removes the
    temporaries. Two paths naming one file are refused."""
    paths = [Path(p) for p in paths]
    seen: dict[str, Path] = {}
    for path in paths:
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise InputError(f"{path}: the same file as {seen[key]}; give each output its own path")
        seen[key] = path
    with contextlib.ExitStack() as stack:
        # Exits run in reverse order: the first path is replaced last, after every other one succeeded.
        temps = [stack.enter_context(atomic_path(path, overwrite)) for path in paths]
        token = _STANDS_FOR.set({**(_STANDS_FOR.get() or {}), **{str(t): p for t, p in zip(temps, paths)}})
        try:
            yield temps
        finally:
            _STANDS_FOR.reset(token)


def write_png(path, array: np.ndarray, overwrite: bool = True) -> Path:
    """Write uint8 (gray / RGB / RGBA) or uint16 (gray) ``array`` as PNG, atomically."""
    array = np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        if array.ndim != 2:
            raise InputError(f"{path}: 16-bit PNGs must be single-channel, got shape {array.shape}")
        image = Image.fromarray(array)  # Pillow stores uint16 arrays as 16-bit grayscale ("I;16")
    elif array.dtype == np.uint8:
        image = Image.fromarray(array)
    elif array.dtype == np.bool_:
        image = Image.fromarray(array.astype(np.uint8) * 255)
    else:
        raise InputError(f"{path}: cannot write dtype {array.dtype} as PNG")
    with atomic_path(path, overwrite) as temp:
        image.save(temp, format="PNG")
    return Path(path)


def write_npy(path, array: np.ndarray, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite) as temp:
        with open(temp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
    return Path(path)


def write_text(path, text: str, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite) as temp:
        Path(temp).write_text(text, encoding="utf-8")
    return Path(path)
