"""`vb comfyui install|uninstall|path`: put the ComfyUI node pack where ComfyUI finds it.

ComfyUI loads custom nodes from ``<ComfyUI>/custom_nodes/<pack>/``. ``install`` links (or copies,
with ``--copy``) this package's ``comfyui_nodes`` folder there as ``vb-plugins``. The ComfyUI folder
is ``--comfyui-dir``, else ``$COMFYUI_DIR``, else ``./ComfyUI``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vb_plugins.cli.adapter_install import INSTALL_NAME, AdapterCommand
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl


def comfyui_dir(given: Path | None) -> Path:
    """The ComfyUI folder to install into; it must hold ComfyUI's main.py."""
    if given:
        root = given.expanduser()
    elif os.environ.get("COMFYUI_DIR"):
        root = Path(os.environ["COMFYUI_DIR"]).expanduser()
    else:
        root = Path("ComfyUI")
    if not (root / "main.py").is_file():
        raise InputError(f"{root}: not a ComfyUI folder (no main.py); pass --comfyui-dir or set COMFYUI_DIR")
    return root


def _after_install(args, source: Path, destination: Path) -> None:
    if args.copy:
        print(f"copied {source} to {destination}", file=sys.stderr)
    else:
        print(f"linked {destination} -> {source}", file=sys.stderr)
    print(f"restart ComfyUI to load the vb-plugins nodes; ComfyUI's Python needs the core's dependencies: "
          f"pip install -r {source / 'requirements.txt'}", file=sys.stderr)


COMMAND = AdapterCommand(
    "comfyui", "comfyui_nodes", help="install the ComfyUI node pack (decoders, prompt, generator)",
    what="the node pack", where="ComfyUI/custom_nodes",
    host_option="--comfyui-dir", host_help="ComfyUI folder (default: $COMFYUI_DIR, else ./ComfyUI)",
    force_help=f"replace an existing custom_nodes/{INSTALL_NAME}",
    destination=lambda given: comfyui_dir(given) / "custom_nodes" / INSTALL_NAME, after_install=_after_install,
)


@hookimpl
def vb_commands():
    return [COMMAND]
