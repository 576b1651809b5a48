"""What a distributed run predicts: image files named by folders, globs, text files of paths, or URIs.

Every input is resolved on the driver to a list of :class:`ImageInput` (the file's path or URI and the
output name its results get), so a run knows before it starts which images are already done. The output
names are the single-process run's (``vb predict`` names a file by its stem, disambiguated by its parent
folders when stems repeat), so both runs fill one folder interchangeably.

- a local folder: its images (not recursive), sorted, as ``vb predict`` reads a folder;
- a glob (``photos/**/*.jpg``, ``s3://bucket/set/*.png``): the matching image files, sorted;
- a text file of paths (``.txt``, ``.lst``, ``.list``): one path or URI per line; blank lines and ``#``
  comments are skipped; relative paths are relative to the text file's folder. Entries are not checked
  up front (a list may hold millions): an entry that cannot be read is recorded as a failed image;
- a URI (``s3://``, ``gs://``, ``abfs://``, ``hdfs://``, ``file://``): a file or a folder, listed and read
  through the pyarrow file systems Ray Data reads with (credentials as pyarrow finds them).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vb_plugins.cli.predict_command import refuse_inputs_in_output
from vb_plugins.errors import InputError
from vb_plugins.io import read_rgb

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
LIST_SUFFIXES = (".txt", ".lst", ".list")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ImageInput:
    """One image of a run: ``source`` (an absolute local path or a URI) and ``stem`` (its output name)."""

    source: str
    stem: str


def is_uri(text: str) -> bool:
    return bool(_URI.match(str(text)))


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def resolve_inputs(inputs, output: Path | None = None) -> list[ImageInput]:
    """The images named by ``inputs`` (one or several folders, globs, list files, paths or URIs) with their
    output names. Raises :class:`InputError` for a missing path, a folder or glob without images, inputs
    that would share an output name, and inputs inside ``output`` (a rerun would read outputs back)."""
    if isinstance(inputs, str | Path):
        inputs = [inputs]
    sources: list[str] = []
    for item in inputs:
        text = str(item)
        if not text:
            raise InputError("an empty input path")
        if output is not None and not is_uri(text):
            _refuse_in_output(Path(text), Path(output))
        sources += _expand(text)
    if not sources:
        raise InputError("no input images")
    return [ImageInput(source, stem) for source, stem in output_names(sources)]


def _expand(text: str) -> list[str]:
    if is_uri(text):
        return _expand_uri(text)
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(str(p.resolve()) for p in path.iterdir() if p.is_file() and is_image_name(p.name))
        if not found:
            raise InputError(f"{path}: directory holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return found
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            return read_path_list(path)
        return [str(path.resolve())]
    if _GLOB.search(text):
        found = sorted(str(Path(p).resolve()) for p in glob.glob(str(path), recursive=True)
                       if Path(p).is_file() and is_image_name(p))
        if not found:
            raise InputError(f"{text}: the pattern matches no image files")
        return found
    raise InputError(f"{path}: no such file or directory")


def read_path_list(path: Path) -> list[str]:
    """The entries of a text file of paths: URIs as given, local paths made absolute (relative to the
    list's folder)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the list of paths ({error})") from None
    base = path.resolve().parent
    entries = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if is_uri(entry):
            entries.append(entry)
        else:
            local = Path(entry).expanduser()
            entries.append(os.path.normpath(local if local.is_absolute() else base / local))
    if not entries:
        raise InputError(f"{path}: the list of paths is empty")
    return entries


def _filesystem(uri: str):
    """(pyarrow file system, path inside it) for a URI, as Ray Data resolves them."""
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(uri)
    except (pyarrow.lib.ArrowInvalid, pyarrow.lib.ArrowNotImplementedError, OSError) as error:
        raise InputError(f"{uri}: cannot open ({first_line(error)})") from None


def _expand_uri(uri: str) -> list[str]:
    import pyarrow.fs

    scheme = uri.split("://", 1)[0]
    pattern = uri if _GLOB.search(uri.split("://", 1)[1]) else None
    root_uri = uri[:_GLOB.search(uri).start()].rsplit("/", 1)[0] if pattern else uri
    filesystem, root = _filesystem(root_uri)
    try:
        info = filesystem.get_file_info(root)
        if info.type == pyarrow.fs.FileType.File and not pattern:
            if PurePosixPath(root).suffix.lower() in LIST_SUFFIXES:
                raise InputError(f"{uri}: lists of paths are read from local files only")
            return [uri]
        if info.type != pyarrow.fs.FileType.Directory:
            raise InputError(f"{uri}: no such file or folder")
        listing = filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=bool(pattern and "**" in pattern)))
    except OSError as error:
        raise InputError(f"{uri}: cannot list ({first_line(error)})") from None
    prefix = f"{scheme}://"
    found = sorted(prefix + entry.path for entry in listing
                   if entry.type == pyarrow.fs.FileType.File and is_image_name(entry.path)
                   and (pattern is None or fnmatch.fnmatchcase(prefix + entry.path, pattern)))
    if not found:
        raise InputError(f"{uri}: holds no images ({', '.join(IMAGE_SUFFIXES)})" if pattern is None
                         else f"{uri}: the pattern matches no image files")
    return found


def output_names(sources: list[str]) -> list[tuple[str, str]]:
    """(source, output name) pairs by the single-process run's rule (each file once, named by its stem,
    disambiguated by its two parent folders when stems repeat); names that would still collide, ignoring
    case as macOS and Windows folders do, are refused."""
    unique = list(dict.fromkeys(sources))
    paths = [PurePosixPath(s.split("://", 1)[1]) if is_uri(s) else PurePosixPath(Path(s).as_posix())
             for s in unique]
    stems = [p.stem for p in paths]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    named = []
    for source, path, stem in zip(unique, paths, stems):
        if counts[stem] > 1:
            stem = "_".join(path.parts[-3:-1] + (path.stem,))
        named.append((source, stem))
    sharing: dict[str, list[tuple[str, str]]] = {}
    for source, stem in named:
        sharing.setdefault(stem.casefold(), []).append((source, stem))
    for group in sharing.values():
        if len(group) > 1:
            shown = ", ".join(s for s, _ in group[:4]) + (f" and {len(group) - 4} more" if len(group) > 4 else "")
            raise InputError(f"inputs {shown} would all be saved as {group[0][1]}.*; rename them or predict them "
                             "into separate folders")
    return named


def _refuse_in_output(path: Path, output: Path) -> None:
    if path.exists():
        refuse_inputs_in_output([path], output)


def read_image_source(source: str):
    """uint8 H x W x 3 RGB of a local path or URI (EXIF orientation applied), as ``vb predict`` reads
    images; an unreadable file is an :class:`InputError` naming ``source``."""
    if not is_uri(source):
        return read_rgb(source, exif_transpose=True)
    filesystem, path = _filesystem(source)
    try:
        with filesystem.open_input_stream(path) as stream:
            data = stream.read()
    except (OSError, FileNotFoundError) as error:
        raise InputError(f"{source}: cannot read ({first_line(error)})") from None
    with tempfile.NamedTemporaryFile(suffix=PurePosixPath(path).suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            return read_rgb(handle.name, exif_transpose=True)
        except InputError as error:  # name the URI, not the temporary copy
            raise InputError(str(error).replace(handle.name, source)) from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
