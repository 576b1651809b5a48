"""Where the adapter folders live: ``fiftyone_plugin/`` and ``comfyui_nodes/``.

In a source checkout (or an editable install) they sit beside ``vb_plugins/``; in a wheel they are
shipped inside the package as ``vb_plugins/_adapters/<name>``. `vb fiftyone install` and
`vb comfyui install` link or copy them from here.
"""

from __future__ import annotations

from pathlib import Path

from vb_plugins.errors import VBError

ADAPTERS = ("fiftyone_plugin", "comfyui_nodes")


def adapter_dir(name: str) -> Path:
    """The directory of adapter ``name`` (one of :data:`ADAPTERS`)."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown adapter {name!r}")
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / name, package / "_adapters" / name):
        if candidate.is_dir():
            return candidate
    raise VBError(f"the {name} folder is missing from this installation (looked beside and inside {package})")
