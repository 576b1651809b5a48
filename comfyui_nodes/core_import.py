"""Make the vb_plugins core importable from inside ComfyUI.

ComfyUI imports this pack from ``custom_nodes/<name>/__init__.py``. The core is normally installed in
ComfyUI's Python environment; when it is not, and the pack is a link into a vb-plugins checkout
(what `vb comfyui install` makes), the checkout's own core is used.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"


def ensure_core() -> None:
    """Import ``vb_plugins``, falling back to the checkout the pack folder lives in."""
    try:
        importlib.import_module("vb_plugins")
        return
    except ModuleNotFoundError as error:
        if error.name != "vb_plugins":
            raise _missing_dependency(error) from None
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "vb_plugins" / "__init__.py").is_file():
        sys.path.append(str(checkout))
        try:
            importlib.import_module("vb_plugins")
            return
        except ModuleNotFoundError as error:
            raise _missing_dependency(error) from None
    raise ImportError(
        "vb-plugins ComfyUI nodes: the vb_plugins core is not installed in ComfyUI's Python environment; "
        f"run `pip install vb-plugins` there (or `pip install -r {REQUIREMENTS}` and link the pack from a checkout)"
    )


def _missing_dependency(error: ModuleNotFoundError) -> ImportError:
    return ImportError(
        f"vb-plugins ComfyUI nodes: the core needs {error.name!r}, which ComfyUI's Python environment lacks; "
        f"run `pip install -r {REQUIREMENTS}` with ComfyUI's Python"
    )
