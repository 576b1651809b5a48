"""Saving decoded arrays into ComfyUI's output folder: safe names, ``.npy`` and OpenEXR.

Whatever the filename prefix says, files land inside the output folder: absolute prefixes, ``..``
and links that lead out of it are refused. Files are numbered like ComfyUI's own
(``<name>_00001_.npy``) and written atomically, never over an existing file.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.io import atomic_path, write_npy

SAVE_FORMATS = ("none", "npy", "exr", "npy+exr")


def check_prefix(prefix) -> tuple[str, ...]:
    """Split a filename prefix (``"vb/depth"``) into safe relative parts, or raise :class:`InputError`."""
    if not isinstance(prefix, str) or not prefix.strip():
        raise InputError("filename_prefix: must be a non-empty text such as 'vb/depth'")
    if "\x00" in prefix:
        raise InputError("filename_prefix: contains a NUL character")
    text = prefix.strip().replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise InputError(f"filename_prefix {prefix!r}: must be relative to ComfyUI's output folder")
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise InputError(f"filename_prefix {prefix!r}: '..' would leave ComfyUI's output folder")
    if not parts:
        raise InputError(f"filename_prefix {prefix!r}: names no file")
    return parts


def check_save_format(save) -> str:
    if save not in SAVE_FORMATS:
        raise InputError(f"save {save!r}: expected one of {', '.join(SAVE_FORMATS)}")
    return save


def output_folder(output_dir, prefix: str) -> tuple[Path, str, str]:
    """(folder, file stem, subfolder relative to the output folder) for ``prefix``; creates the folder.

    The folder is checked after links are resolved (a link inside the output folder that points
    elsewhere, even a dangling one, is refused too), and only then created: a refused prefix creates
    nothing.
    """
    parts = check_prefix(prefix)
    root = Path(output_dir).resolve()
    resolved = root.joinpath(*parts[:-1]).resolve()  # follows the links that exist; the rest stays as named
    if resolved != root and root not in resolved.parents:
        raise InputError(f"filename_prefix {prefix!r}: leads out of ComfyUI's output folder")
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved, parts[-1], "/".join(parts[:-1])


def next_counter(folder: Path, stem: str) -> int:
    """1 + the highest counter of ``<stem>_NNNNN_.*`` files in ``folder``."""
    pattern = re.compile(re.escape(stem) + r"_(\d{5,})_\.")
    counters = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max(counters, default=0) + 1


def save_arrays(output_dir, prefix: str, arrays: list[np.ndarray], formats: str,
                exr_channels: tuple[str, ...] = ("Y",)) -> list[dict]:
    """Save one file per array (and per format) under ``prefix``; returns ComfyUI ``ui`` entries
    (``{"filename", "subfolder", "type": "output"}``)."""
    check_save_format(formats)
    if formats == "none":
        return []
    folder, stem, subfolder = output_folder(output_dir, prefix)
    counter = next_counter(folder, stem)
    saved = []
    for array in arrays:
        for suffix in formats.split("+"):
            name = f"{stem}_{counter:05}_.{suffix}"
            if suffix == "npy":
                write_npy(folder / name, np.asarray(array), overwrite=False)
            else:
                with atomic_path(folder / name, overwrite=False) as temp:
                    write_exr(temp, array, exr_channels)
            saved.append({"filename": name, "subfolder": subfolder, "type": "output"})
        counter += 1
    return saved


# -- OpenEXR ---------------------------------------------------------------------------------------

def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def write_exr(path, array: np.ndarray, channels: tuple[str, ...] = ("Y",)) -> Path:
    """Write float32 ``H x W`` (one channel) or ``H x W x C`` as an uncompressed scanline OpenEXR file.

    ``channels`` names the channels in array order (``("Y",)`` for depth, ``("R", "G", "B")`` for
    normals); NaN and inf are kept (EXR floats are IEEE 754).
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] != len(channels):
        raise InputError(f"EXR {path}: {len(channels)} channel(s) {channels} for an array of shape {array.shape}")
    height, width = array.shape[:2]
    order = sorted(range(len(channels)), key=lambda i: channels[i])  # EXR stores channels by name
    chlist = b"".join(channels[i].encode() + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for i in order) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = b"".join([
        struct.pack("<ii", 20000630, 2),  # magic number, version 2 (single-part scanline)
        _attribute("channels", "chlist", chlist),
        _attribute("compression", "compression", b"\0"),  # NO_COMPRESSION: one scanline per chunk
        _attribute("dataWindow", "box2i", window),
        _attribute("displayWindow", "box2i", window),
        _attribute("lineOrder", "lineOrder", b"\0"),
        _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
        _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        b"\0",
    ])
    line_bytes = width * 4 * len(channels)
    first = len(header) + 8 * height
    offsets = np.arange(height, dtype="<u8") * (8 + line_bytes) + first
    planar = np.ascontiguousarray(array[..., order].transpose(0, 2, 1), dtype="<f4")  # H x C x W
    chunks = np.empty((height, 8 + line_bytes), dtype=np.uint8)
    chunks[:, :4] = np.arange(height, dtype="<i4").view(np.uint8).reshape(height, 4)
    chunks[:, 4:8] = np.frombuffer(struct.pack("<i", line_bytes), dtype=np.uint8)
    chunks[:, 8:] = planar.view(np.uint8).reshape(height, line_bytes)
    with open(path, "wb") as handle:
        handle.write(header)
        handle.write(offsets.tobytes())
        handle.write(chunks.tobytes())
    return Path(path)


def read_exr(path) -> dict[str, np.ndarray]:
    """Read back what :func:`write_exr` writes (uncompressed float scanlines): channel name -> float32
    ``H x W``. For tests and quick checks; not a general EXR reader."""
    data = Path(path).read_bytes()
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != 20000630:
        raise InputError(f"{path}: not an OpenEXR file")
    position, attributes = 8, {}
    while data[position] != 0:
        end = data.index(b"\0", position)
        name = data[position:end].decode()
        kind_end = data.index(b"\0", end + 1)
        size = struct.unpack_from("<i", data, kind_end + 1)[0]
        attributes[name] = data[kind_end + 5: kind_end + 5 + size]
        position = kind_end + 5 + size
    position += 1
    if attributes.get("compression") != b"\0":
        raise InputError(f"{path}: compressed EXR files are not supported by this reader")
    names, chlist = [], attributes["channels"]
    while chlist[:1] != b"\0":
        end = chlist.index(b"\0")
        names.append(chlist[:end].decode())
        chlist = chlist[end + 17:]
    x0, y0, x1, y1 = struct.unpack("<iiii", attributes["dataWindow"])
    height, width = y1 - y0 + 1, x1 - x0 + 1
    offsets = np.frombuffer(data, dtype="<u8", count=height, offset=position)
    out = np.empty((height, len(names), width), dtype=np.float32)
    for row, offset in enumerate(offsets):
        out[row] = np.frombuffer(data, dtype="<f4", count=len(names) * width, offset=int(offset) + 8).reshape(
            len(names), width)
    return {name: out[:, i] for i, name in enumerate(names)}

