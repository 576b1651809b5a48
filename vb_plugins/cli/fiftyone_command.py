"""`vb fiftyone install|uninstall|path`: put the FiftyOne plugin where FiftyOne finds it.

FiftyOne loads plugins from its plugins directory: ``FIFTYONE_PLUGINS_DIR`` if set, else the
``plugins_dir`` of its config (default ``~/fiftyone/__plugins__``). ``install`` links (or copies, with
``--copy``) this package's ``fiftyone_plugin`` folder there as ``vb-plugins``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vb_plugins.cli.adapter_install import place_adapter, unplace_adapter
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
    uninstall = actions.add_parser("uninstall", help="remove the plugin that install put in FiftyOne's plugins "
                                                     "directory (its link, or its marked copy)")
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
        raise InputError("fiftyone is not installed (pip install 'vb-plugins[fiftyone]'); "
                         "or pass --plugins-dir") from None
    return Path(fo.config.plugins_dir).expanduser()


def run_install(args) -> int:
    root = plugins_dir(args.plugins_dir)
    destination = root / INSTALL_NAME
    if place_adapter("fiftyone_plugin", destination, copy=args.copy, force=args.force) is None:
        return 0
    how = "copied to" if args.copy else "linked at"
    print(f"FiftyOne plugin @vb-plugins/fiftyone {how} {destination}", file=sys.stderr)
    if not os.environ.get("FIFTYONE_PLUGINS_DIR") and args.plugins_dir:
        print(f"FiftyOne finds it with: export FIFTYONE_PLUGINS_DIR={root}", file=sys.stderr)
    return 0


def run_uninstall(args) -> int:
    return unplace_adapter("fiftyone_plugin", plugins_dir(args.plugins_dir) / INSTALL_NAME, "vb fiftyone")


def run_path(args) -> int:
    from vb_plugins.adapters import adapter_dir

    print(adapter_dir("fiftyone_plugin"))
    return 0
