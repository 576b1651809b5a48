"""`vb fiftyone install|uninstall|path`: put the FiftyOne plugin where FiftyOne finds it.

FiftyOne loads plugins from its plugins directory: ``FIFTYONE_PLUGINS_DIR`` if set, else the
``plugins_dir`` of its config (default ``~/fiftyone/__plugins__``). ``install`` links (or copies, with
``--copy``) this package's ``fiftyone_plugin`` folder there as ``vb-plugins``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vb_plugins.cli.adapter_install import INSTALL_NAME, AdapterCommand
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl


def plugins_dir(given: Path | None) -> Path:
    """Where FiftyOne looks for plugins (imports fiftyone only when neither option nor variable is set)."""
    if given:
        return given.expanduser()
    if os.environ.get("FIFTYONE_PLUGINS_DIR"):
        return Path(os.environ["FIFTYONE_PLUGINS_DIR"]).expanduser()
    try:
        import fiftyone as fo
    except ImportError:
        raise InputError("fiftyone is not installed (pip install 'fiftyone>=1.5', or vb-plugins with its "
                         "[fiftyone] extra); or pass --plugins-dir") from None
    return Path(fo.config.plugins_dir).expanduser()


def _after_install(args, source: Path, destination: Path) -> None:
    how = "copied to" if args.copy else "linked at"
    print(f"FiftyOne plugin @vb-plugins/fiftyone {how} {destination}", file=sys.stderr)
    if not os.environ.get("FIFTYONE_PLUGINS_DIR") and args.host:
        print(f"FiftyOne finds it with: export FIFTYONE_PLUGINS_DIR={destination.parent}", file=sys.stderr)


COMMAND = AdapterCommand(
    "fiftyone", "fiftyone_plugin", help="install the FiftyOne plugin (operators predict, evaluate, depth_to_3d)",
    what="the plugin", where="FiftyOne's plugins directory",
    host_option="--plugins-dir", host_help="default: $FIFTYONE_PLUGINS_DIR, else FiftyOne's configured plugins_dir",
    force_help=f"replace an existing {INSTALL_NAME} entry",
    destination=lambda given: plugins_dir(given) / INSTALL_NAME, after_install=_after_install,
)


@hookimpl
def vb_commands():
    return [COMMAND]
