"""Linking (or copying) an adapter folder (``fiftyone_plugin``, ``comfyui_nodes``) where its host app
looks for it; shared by `vb fiftyone` and `vb comfyui`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from vb_plugins.errors import InputError


def place_adapter(name: str, destination: Path, *, copy: bool, force: bool) -> Path | None:
    """Link (``copy``: copy) adapter ``name`` to ``destination``; returns its source folder, or None when
    ``destination`` already links to it. An existing entry is replaced only with ``force``."""
    from vb_plugins.adapters import adapter_dir

    source = adapter_dir(name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    linked_here = destination.is_symlink() and destination.resolve() == source.resolve()
    if linked_here and not copy:
        print(f"already installed: {destination} -> {source}", file=sys.stderr)
        return None
    if destination.exists() or destination.is_symlink():
        if not force:
            what = f"is the link to {source}" if linked_here else "already exists"
            raise InputError(f"{destination}: {what} (pass --force to replace it)")
        remove_entry(destination)
        print(f"removed the previous {destination}", file=sys.stderr)
    if copy:
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        destination.symlink_to(source, target_is_directory=True)
    return source


def unplace_adapter(destination: Path) -> int:
    if not (destination.exists() or destination.is_symlink()):
        print(f"not installed: {destination}", file=sys.stderr)
        return 0
    remove_entry(destination)
    print(f"removed {destination}", file=sys.stderr)
    return 0


def remove_entry(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
