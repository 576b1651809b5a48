"""The manifest of a distributed run: ``OUT/manifest.jsonl``, one JSON row per image.

A row: ``stem`` (the output name), ``input`` (path or URI), ``status`` (``done``: its result set is in
the folder; ``failed``: nothing was written, ``error`` says why), ``seconds`` (the image's share of its
batch on the worker: reading, generating, decoding, writing), ``worker`` (``node-id:pid``), ``run``
(the run that wrote the row) and ``finished`` (when the worker finished the image's batch, UTC, to the
millisecond). Images a run found complete keep the row of
the run that made them (or get ``status`` ``done`` with ``run`` null when a single-process ``vb predict``
made them).

While a run goes on, rows are appended as results arrive (a driver that dies keeps what finished); at
the end the file is rewritten with one row per image, the newest winning. ``vb eval`` ignores the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"
FIELDS = ("stem", "input", "status", "error", "seconds", "worker", "run", "finished")


def manifest_path(directory) -> Path:
    return Path(directory) / MANIFEST_NAME


def read_manifest(directory) -> dict[str, dict]:
    """The rows by stem, the newest winning; lines that are not rows (a torn last line) are ignored."""
    rows: dict[str, dict] = {}
    try:
        with open(manifest_path(directory), encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("stem"), str):
                    rows[row["stem"]] = row
    except FileNotFoundError:
        pass
    return rows


class ManifestAppender:
    """Appends rows to the manifest, one line each, flushed as they come."""

    def __init__(self, directory):
        self.handle = open(manifest_path(directory), "a", encoding="utf-8")

    def add(self, row: dict) -> None:
        self.handle.write(json.dumps({key: row.get(key) for key in FIELDS}, sort_keys=True) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def rewrite_manifest(directory, rows: dict[str, dict]) -> Path:
    """Replace the manifest with ``rows`` (one per image, sorted by stem), atomically."""
    path = manifest_path(directory)
    temp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        for stem in sorted(rows):
            handle.write(json.dumps({key: rows[stem].get(key) for key in FIELDS}, sort_keys=True) + "\n")
    os.replace(temp, path)
    return path
