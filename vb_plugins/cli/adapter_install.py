"""Linking (or copying) an adapter folder (``fiftyone_plugin``, ``comfyui_nodes``) where its host app
looks for it; shared by `vb fiftyone` and `vb comfyui`.

``uninstall`` removes only what ``install`` made: the link to this package's adapter folder, or a copy
holding the marker file ``install --copy`` writes into it. Anything else under the same name (a user's
own folder, a link elsewhere) is left in place with a one-line error.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from vb_plugins.errors import InputError

MARKER = ".vb-plugins-install.json"  # written into a copy by `install --copy`


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
        (destination / MARKER).write_text(json.dumps({"installed_by": "vb-plugins", "adapter": name,
                                                      "source": str(source)}, indent=1) + "\n")
    else:
        destination.symlink_to(source, target_is_directory=True)
    return source


def installed_by_us(name: str, destination: Path) -> str | None:
    """None when ``destination`` is what installing adapter ``name`` made; else what is there instead."""
    from vb_plugins.adapters import adapter_dir

    if destination.is_symlink():
        target = destination.resolve()
        if target == adapter_dir(name).resolve():
            return None
        return f"a link to {target}, not to this vb-plugins' {name} folder"
    if destination.is_dir():
        try:
            marker = json.loads((destination / MARKER).read_text())
        except (OSError, ValueError):
            marker = None
        if isinstance(marker, dict) and marker.get("installed_by") == "vb-plugins" and marker.get("adapter") == name:
            return None
        return f"a folder without the {MARKER} marker that `install --copy` writes"
    return "a file, not a folder"


def unplace_adapter(name: str, destination: Path, command: str) -> int:
    """Remove what ``install`` made at ``destination`` (``command``: e.g. "vb fiftyone" for messages)."""
    if not (destination.exists() or destination.is_symlink()):
        print(f"not installed: {destination}", file=sys.stderr)
        return 0
    other = installed_by_us(name, destination)
    if other is not None:
        raise InputError(f"{destination}: {other}, so `{command} install` did not make it; left in place "
                         "(remove it yourself if it should go)")
    remove_entry(destination)
    print(f"removed {destination}", file=sys.stderr)
    return 0


def remove_entry(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
