"""The output folder of `vb predict`: one run at a time, one configuration per folder, whole result sets.

- A lock file held with ``flock`` keeps a second run out while one writes. The kernel drops the lock when
  its process ends, however it ends, so a crashed run never blocks the next one.
- An image's files are written into a staging folder, then moved into place with its record (STEM.json)
  last: a record means a complete result set. Files of an earlier result set that the new one lacks
  (extra ensemble samples, an uncertainty map, another task's values) are removed, so each image has
  exactly one consistent set.
- Done images are skipped only when the folder's records were made with the run's own settings (task,
  spec, prompts, model, steps, seed, ensemble, ...): resuming is for the same configuration only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.generation.bundled import BUNDLED_NAMES
from vb_plugins.registry import list_tasks
from vb_plugins.settings import VLM_SETTINGS

LOCK_NAME = ".vb-predict.lock"
STAGING_PREFIX = ".vb-predict-staging-"
# Settings that change how fast or on what hardware a result was computed, not which result it is.
UNCOMPARED_SETTINGS = {"input_size", "generated_size", "requested_size", "seconds", "vb_plugins", "device", "dtype"}
# Settings an older record may lack; absent means none (no LoRA, no rewriter, ...).
OPTIONAL_SETTINGS = ("lora", "transformer_weights", *VLM_SETTINGS)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class OutputLock:
    """Holds ``DIRECTORY/.vb-predict.lock`` for one run; a second run gets a one-line error naming the first."""

    def __init__(self, directory: Path, holder: str):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.holder = f"pid {os.getpid()}: {holder}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
        self.fd: int | None = None

    def __enter__(self) -> OutputLock:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise InputError(f"{self.directory}: cannot write there ({error.strerror or error})") from None
            if not _try_lock(fd):
                os.lseek(fd, 0, os.SEEK_SET)
                other = os.read(fd, 4096).decode(errors="replace").strip() or "holder unknown"
                os.close(fd)
                raise InputError(f"{self.directory}: another vb predict run is writing there ({other}); "
                                 "wait for it to finish or write to another -o")
            # The previous holder removes the file as it leaves: a lock on a removed file guards nothing.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, self.holder.encode() + b"\n")
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if fcntl is not None:  # removed while still held, so no other run can be waiting on this file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)
        else:
            os.close(self.fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.fd = None


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # lock a byte far past the holder text, which stays readable
            os.lseek(fd, 1 << 20, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def clear_staging(directory: Path) -> None:
    """Remove the staging folders an interrupted run left behind (call with the lock held)."""
    for path in Path(directory).glob(f"{STAGING_PREFIX}*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def output_pattern() -> re.Pattern:
    """The tail every file `vb predict` writes has after ``STEM.``."""
    tasks = "|".join(re.escape(name) for name in list_tasks())
    arrays = r"(?:confidence|uncertainty|expected_error)\.npy"
    return re.compile(rf"(?:generated(?:-\d+)?\.png|preview\.png|{arrays}|json|"
                      rf"(?:{tasks})\.(?:npy|png)|(?:{tasks})-\d+\.png)")


def is_output_of(name: str, stem: str, pattern: re.Pattern) -> bool:
    return (name.startswith(stem + ".") and os.path.basename(name) == name
            and pattern.fullmatch(name[len(stem) + 1:]) is not None)


def existing_outputs(directory: Path, stems: list[str]) -> dict[str, set[str]]:
    """The files already in ``directory`` that belong to each stem's result set (one listing, any size)."""
    pattern = output_pattern()
    wanted = set(stems)
    found: dict[str, set[str]] = {stem: set() for stem in stems}
    for name in os.listdir(directory):
        for i, char in enumerate(name):  # stems may hold dots: try every split
            if char == "." and name[:i] in wanted and is_output_of(name, name[:i], pattern):
                found[name[:i]].add(name)
    return found


def read_records(directory: Path, stems: list[str], overwrite: bool = False) -> dict[str, dict]:
    """The folder's prediction records by stem. A STEM.json of this run's images that is not a record is an
    error unless ``overwrite``; other JSON files are not ours and are left alone."""
    ours = set(stems)
    records = {}
    for path in sorted(Path(directory).glob("*.json")):
        stem = path.name[: -len(".json")]
        try:
            record = json.loads(path.read_text())
        except (ValueError, OSError):
            record = None
        if isinstance(record, dict) and isinstance(record.get("task"), str) and \
                isinstance(record.get("settings"), dict):
            records[stem] = record
        elif stem in ours and not overwrite:
            raise InputError(f"{path}: exists but is not a vb predict record (use another -o or --overwrite)")
    return records


def refuse_other_settings(directory: Path, records: dict[str, dict], current: dict) -> None:
    """Refuse to add to (or skip in) a folder whose results were made another way."""
    current = json.loads(json.dumps(current))  # compare in the form records are stored in
    for stem, record in records.items():
        if record["task"] != current["task"]:
            raise InputError(f"{directory}: already holds {record['task']!r} predictions ({stem}.json); "
                             f"write {current['task']!r} to another directory, or pass --overwrite")
        difference = first_difference(record, current)
        if difference:
            key, old, new = difference
            raise InputError(f"{directory}: {stem}.json was predicted with {key} {_short(old)}, this run asks for "
                             f"{_short(new)}; pass --overwrite to redo the images with these settings, or write to "
                             "another -o")


def first_difference(record: dict, current: dict) -> tuple[str, object, object] | None:
    """(setting, recorded value, current value) of the first setting that differs, else None. A setting an
    older record lacks cannot be compared and is not held against it (an absent LoRA is recorded as none)."""
    old_spec, new_spec = record.get("spec") or {}, current["spec"]
    for key in sorted(set(old_spec) | set(new_spec)):
        if old_spec.get(key) != new_spec.get(key):
            return key, old_spec.get(key), new_spec.get(key)
    old, new = record["settings"], current["settings"]
    if _model_identity(old.get("model")) != _model_identity(new.get("model")):
        return "model", old.get("model"), new.get("model")
    for key in OPTIONAL_SETTINGS:  # absent means none
        if old.get(key) != new.get(key):
            return key, old.get(key), new.get(key)
    for key in sorted(set(old) & set(new) - UNCOMPARED_SETTINGS - {"model", *OPTIONAL_SETTINGS}):
        if old[key] != new[key]:
            return key, old[key], new[key]
    # A run guided by a vision-language model has a prompt per image (None here): its settings decide.
    if record.get("prompts") is not None and current["prompts"] is not None and record["prompts"] != current["prompts"]:
        return "prompt", record["prompts"][0] if record["prompts"] else None, current["prompts"][0]
    return None


def _model_identity(model):
    return "bundled" if model is None or model in BUNDLED_NAMES else model


def _short(value) -> str:
    text = "none" if value is None else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@contextlib.contextmanager
def staging_folder(directory: Path):
    """A fresh folder inside ``directory`` (same file system, so moves out of it are atomic renames)."""
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def commit(directory: Path, stage: Path, stem: str, names: list[str], stale) -> None:
    """Move a staged result set into place. The old record goes first and the new one comes last, so an
    interruption in between leaves the image without a record: a rerun redoes it instead of trusting a mix."""
    record = f"{stem}.json"
    pattern = output_pattern()
    (directory / record).unlink(missing_ok=True)
    for name in set(stale) - set(names):
        if isinstance(name, str) and is_output_of(name, stem, pattern):  # never a path out of the folder
            (directory / name).unlink(missing_ok=True)
    for name in names:
        if name != record:
            os.replace(stage / name, directory / name)
    os.replace(stage / record, directory / record)


def recorded_outputs(directory: Path, stem: str) -> list[str]:
    """The files an earlier record of ``stem`` says it wrote (empty when there is none)."""
    try:
        record = json.loads((Path(directory) / f"{stem}.json").read_text())
    except (ValueError, OSError):
        return []
    outputs = record.get("outputs") if isinstance(record, dict) else None
    return [name for name in outputs if isinstance(name, str)] if isinstance(outputs, list) else []
