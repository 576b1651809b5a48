"""`vb fiftyone install|uninstall|path`: put the FiftyOne plugin where FiftyOne finds it.

FiftyOne loads plugins from its plugins directory: ``FIFTYONE_PLUGINS_DIR`` if set, else the
``plugins_dir`` of its config (default ``~/fiftyone/__plugins__``). ``install`` links (or copies, with
``--copy``) this package's ``fiftyone_plugin`` folder there as ``vb-plugins``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from vb_plugins.errors import InputError

INSTALL_NAME = "vb-plugins"


def register(subparsers) -> None:
    parser = subparsers.add_parser("fiftyone", help="install the FiftyOne plugin (operators predict, evaluate, "
                                                    "depth_to_3d)")
    actions = parser.add_subparsers(dest="fiftyone_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="link (or copy) the plugin into FiftyOne's plugins directory")
    install.add_argument("--plugins-dir", type=Path,
                         help="default: $FIFTYONE_PLUGINS_DIR, else FiftyOne's configured plugins_dir")
    install.add_argument("--copy", action="store_true", help="copy instead of linking (a copy does not follow "
                                                             "upgrades of vb-plugins)")
    install.add_argument("--force", action="store_true", help="replace an existing vb-plugins entry")
    install.set_defaults(handler=run_install)
    uninstall = actions.add_parser("uninstall", help="remove the plugin from FiftyOne's plugins directory")
    uninstall.add_argument("--plugins-dir", type=Path)
    uninstall.set_defaults(handler=run_uninstall)
    path = actions.add_parser("path", help="print the plugin folder shipped with vb-plugins")
    path.set_defaults(handler=run_path)


def plugins_dir(given: Path | None) -> Path:
    """Where FiftyOne looks for plugins (imports fiftyone only when neither option nor variable is set)."""
    if given:
        return given.expanduser()
    if os.environ.get("FIFTYONE_PLUGINS_DIR"):
        return Path(os.environ["FIFTYONE_PLUGINS_DIR"]).expanduser()
    try:
        import fiftyone as fo
    except ImportError:
        raise InputError("fiftyone is not installed (pip install 'vb-plugins[fiftyone]'); or pass --plugins-dir")
    return Path(fo.config.plugins_dir).expanduser()


def run_install(args) -> int:
    from vb_plugins.adapters import adapter_dir

    source = adapter_dir("fiftyone_plugin")
    root = plugins_dir(args.plugins_dir)
    root.mkdir(parents=True, exist_ok=True)
    destination = root / INSTALL_NAME
    if destination.is_symlink() and destination.resolve() == source.resolve() and not args.copy:
        print(f"already installed: {destination} -> {source}", file=sys.stderr)
        return 0
    if destination.exists() or destination.is_symlink():
        if not args.force:
            raise InputError(f"{destination}: already exists (pass --force to replace it)")
        _remove(destination)
    if args.copy:
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        destination.symlink_to(source, target_is_directory=True)
    how = "copied to" if args.copy else "linked at"
    print(f"FiftyOne plugin @vb-plugins/fiftyone {how} {destination}", file=sys.stderr)
    if not os.environ.get("FIFTYONE_PLUGINS_DIR") and args.plugins_dir:
        print(f"FiftyOne finds it with: export FIFTYONE_PLUGINS_DIR={root}", file=sys.stderr)
    return 0


def run_uninstall(args) -> int:
    destination = plugins_dir(args.plugins_dir) / INSTALL_NAME
    if not (destination.exists() or destination.is_symlink()):
        print(f"not installed: {destination}", file=sys.stderr)
        return 0
    _remove(destination)
    print(f"removed {destination}", file=sys.stderr)
    return 0


def run_path(args) -> int:
    from vb_plugins.adapters import adapter_dir

    print(adapter_dir("fiftyone_plugin"))
    return 0


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
