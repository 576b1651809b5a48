"""`vb comfyui install|uninstall|path`: put the ComfyUI node pack where ComfyUI finds it.

ComfyUI loads custom nodes from ``<ComfyUI>/custom_nodes/<pack>/``. ``install`` links (or copies,
with ``--copy``) this package's ``comfyui_nodes`` folder there as ``vb-plugins``. The ComfyUI folder
is ``--comfyui-dir``, else ``$COMFYUI_DIR``, else ``./ComfyUI``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

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
    uninstall = actions.add_parser("uninstall", help="remove the node pack from ComfyUI/custom_nodes")
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


def _same_entry(destination: Path, source: Path) -> bool:
    return destination.is_symlink() and destination.resolve() == source.resolve()


def run_install(args) -> int:
    from vb_plugins.adapters import adapter_dir

    source = adapter_dir("comfyui_nodes")
    custom_nodes = comfyui_dir(args.comfyui_dir) / "custom_nodes"
    custom_nodes.mkdir(parents=True, exist_ok=True)
    destination = custom_nodes / INSTALL_NAME
    if _same_entry(destination, source) and not args.copy:
        print(f"already installed: {destination} -> {source}", file=sys.stderr)
        return 0
    if destination.exists() or destination.is_symlink():
        if not args.force:
            what = "is the link to this pack" if _same_entry(destination, source) else "already exists"
            raise InputError(f"{destination}: {what} (pass --force to replace it)")
        _remove(destination)
        print(f"removed the previous {destination}", file=sys.stderr)
    if args.copy:
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        print(f"copied {source} to {destination}", file=sys.stderr)
    else:
        destination.symlink_to(source, target_is_directory=True)
        print(f"linked {destination} -> {source}", file=sys.stderr)
    print(f"restart ComfyUI to load the vb-plugins nodes; ComfyUI's Python needs the core's dependencies: "
          f"pip install -r {source / 'requirements.txt'}", file=sys.stderr)
    return 0


def run_uninstall(args) -> int:
    destination = comfyui_dir(args.comfyui_dir) / "custom_nodes" / INSTALL_NAME
    if not (destination.exists() or destination.is_symlink()):
        print(f"not installed: {destination}", file=sys.stderr)
        return 0
    _remove(destination)
    print(f"removed {destination}", file=sys.stderr)
    return 0


def run_path(args) -> int:
    from vb_plugins.adapters import adapter_dir

    print(adapter_dir("comfyui_nodes"))
    return 0


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
