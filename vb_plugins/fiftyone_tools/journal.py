"""Which samples a predict run has written: a journal, so an interrupted run resumes exactly.

A run's record in ``dataset.info["vb_plugins"][field]`` names the run (``run_id``) and its journal, a
text file of sample ids (one a line) in the run's output directory. After each database write the ids
whose main field was just set are appended, so a sample listed there holds this run's labels. A
resumed run redoes every sample of its view that is not listed: after an interrupted ``overwrite``
these still hold the previous run's labels, although the record already names the new settings.
A crash between the database write and the append only means a few samples are predicted again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from vb_plugins.errors import InputError

PREFIX = ".vb-run-"
SUFFIX = ".ids"


def new_run_id() -> str:
    return uuid.uuid4().hex


def journal_path(directory: Path, run_id: str) -> Path:
    return Path(directory) / f"{PREFIX}{run_id}{SUFFIX}"


def read_journal(path) -> set[str]:
    """The sample ids a journal lists (an empty set when it does not exist; a last line cut short by a
    crash is not an id of this dataset and matches nothing)."""
    try:
        return set(Path(path).read_text().split())
    except FileNotFoundError:
        return set()
    except OSError as error:
        raise InputError(f"{path}: cannot read the run journal ({error.strerror or error})") from None


def append_journal(path, ids: Iterable[str]) -> None:
    ids = list(ids)
    if not ids:
        return
    try:
        with open(path, "a") as handle:
            handle.write("".join(f"{sample_id}\n" for sample_id in ids))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise InputError(f"{path}: cannot write the run journal ({error.strerror or error})") from None


def remove_journal(path) -> None:
    """Delete a superseded run's journal (only a file named as this module names them)."""
    path = Path(path)
    if path.name.startswith(PREFIX) and path.name.endswith(SUFFIX):
        path.unlink(missing_ok=True)
