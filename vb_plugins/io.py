"""Reading and writing files: clear one-line errors, and never a half-written output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError


def read_image(path, exif_transpose: bool = False) -> np.ndarray:
    """Read an image file as a numpy array: uint8 H x W x 3 (or x 4 / H x W), uint16 for 16-bit files.

    Palette and other modes are converted to RGB. ``exif_transpose`` applies the EXIF orientation
    (right for photos; wrong for generated visualizations, which carry no orientation).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image.load()
            if exif_transpose:
                image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image)
                if array.dtype != np.uint16:
                    if array.min() < 0 or array.max() > 65535:
                        raise InputError(f"{path}: 32-bit integer image values exceed 0..65535")
                    array = array.astype(np.uint16)
                return array
            if image.mode not in ("RGB", "RGBA", "L"):
                image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            return np.asarray(image).copy()
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a readable image file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read image ({error})") from None


def read_rgb(path, exif_transpose: bool = False) -> np.ndarray:
    """Read an image as uint8 H x W x 3 (alpha dropped, gray replicated; 16-bit scaled to 8)."""
    array = read_image(path, exif_transpose=exif_transpose)
    if array.dtype == np.uint16:
        array = (array.astype(np.uint32) * 255 + 32767) // 65535
        array = array.astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3])


def load_npy(path, name: str | None = None) -> np.ndarray:
    """Load a ``.npy`` array without pickles, with errors that name the file."""
    path = Path(path)
    label = name or str(path)
    if not path.is_file():
        raise InputError(f"{label}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{label}: not a readable .npy array ({error})") from None


def _umask_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_file_mode()


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temp)
        os.chmod(temp, _FILE_MODE)  # mkstemp makes 0600; a finished file gets the usual umask mode
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_png(path, array: np.ndarray, overwrite: bool = True) -> Path:
    """Write uint8 (gray / RGB / RGBA) or uint16 (gray) ``array`` as PNG, atomically."""
    from PIL import Image

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
