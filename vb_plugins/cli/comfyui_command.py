"""`vb comfyui install|uninstall|path`: put the ComfyUI node pack where ComfyUI finds it.

ComfyUI loads custom nodes from ``<ComfyUI>/custom_nodes/<pack>/``. ``install`` links (or copies,
with ``--copy``) this package's ``comfyui_nodes`` folder there as ``vb-plugins``. The ComfyUI folder
is ``--comfyui-dir``, else ``$COMFYUI_DIR``, else ``./ComfyUI``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vb_plugins.cli.adapter_install import place_adapter, unplace_adapter
from vb_plugins.errors import InputError

INSTALL_NAME = "vb-plugins"


def register(subparsers) -> None:
    parser = subparsers.add_parser("comfyui", help="install the ComfyUI node pack (decoders, prompt, generator)")
    actions = parser.add_subparsers(dest="comfyui_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="link (or copy) the node pack into ComfyUI/custom_nodes")
    install.add_argument("--comfyui-dir", type=Path, help="ComfyUI folder (default: $COMFYUI_DIR, else ./ComfyUI)")
    install.add_argument("--copy", action="store_true", help="copy instead of linking (a copy does not follow "
                                                             "upgrades of vb-plugins)")
    install.add_argument("--force", action="store_true", help=f"replace an existing custom_nodes/{INSTALL_NAME}")
    install.set_defaults(handler=run_install)
    uninstall = actions.add_parser("uninstall", help="remove the node pack that install put in "
                                                     "ComfyUI/custom_nodes (its link, or its marked copy)")
    uninstall.add_argument("--comfyui-dir", type=Path)
    uninstall.set_defaults(handler=run_uninstall)
    path = actions.add_parser("path", help="print the node pack folder shipped with vb-plugins")
    path.set_defaults(handler=run_path)


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


def run_install(args) -> int:
    destination = comfyui_dir(args.comfyui_dir) / "custom_nodes" / INSTALL_NAME
    source = place_adapter("comfyui_nodes", destination, copy=args.copy, force=args.force)
    if source is None:
        return 0
    if args.copy:
        print(f"copied {source} to {destination}", file=sys.stderr)
    else:
        print(f"linked {destination} -> {source}", file=sys.stderr)
    print(f"restart ComfyUI to load the vb-plugins nodes; ComfyUI's Python needs the core's dependencies: "
          f"pip install -r {source / 'requirements.txt'}", file=sys.stderr)
    return 0


def run_uninstall(args) -> int:
    destination = comfyui_dir(args.comfyui_dir) / "custom_nodes" / INSTALL_NAME
    return unplace_adapter("comfyui_nodes", destination, "vb comfyui")


def run_path(args) -> int:
    from vb_plugins.adapters import adapter_dir

    print(adapter_dir("comfyui_nodes"))
    return 0
