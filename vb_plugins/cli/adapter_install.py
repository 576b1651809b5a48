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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vb_plugins.adapters import adapter_dir
from vb_plugins.errors import InputError

MARKER = ".vb-plugins-install.json"  # written into a copy by `install --copy`
INSTALL_NAME = "vb-plugins"  # the name of the installed folder (or link) in the host app's folder


@dataclass(frozen=True)
class AdapterCommand:
    """`vb NAME install|uninstall|path` for one adapter folder (``fiftyone_plugin``, ``comfyui_nodes``).

    ``destination(given)`` is where ``install`` puts it, from the value of ``host_option`` (None when
    not given); ``after_install(args, source, destination)`` prints what to do next. ``what`` names the
    adapter and ``where`` its place in the host app in the help texts.
    """

    name: str
    adapter: str
    help: str
    what: str
    where: str
    host_option: str
    host_help: str
    force_help: str
    destination: Callable[[Path | None], Path]
    after_install: Callable[..., None]

    def register(self, subparsers) -> None:
        parser = subparsers.add_parser(self.name, help=self.help)
        host = {"dest": "host", "type": Path, "metavar": self.host_option.lstrip("-").replace("-", "_").upper()}
        actions = parser.add_subparsers(dest=f"{self.name}_action", metavar="ACTION", required=True)
        install = actions.add_parser("install", help=f"link (or copy) {self.what} into {self.where}")
        install.add_argument(self.host_option, **host, help=self.host_help)
        install.add_argument("--copy", action="store_true", help="copy instead of linking (a copy does not follow "
                                                                 "upgrades of vb-plugins)")
        install.add_argument("--force", action="store_true", help=self.force_help)
        install.set_defaults(handler=self.run_install)
        uninstall = actions.add_parser("uninstall", help=f"remove {self.what} that install put in {self.where} "
                                                         "(its link, or its marked copy)")
        uninstall.add_argument(self.host_option, **host)
        uninstall.set_defaults(handler=self.run_uninstall)
        path = actions.add_parser("path", help=f"print {self.what} folder shipped with vb-plugins")
        path.set_defaults(handler=self.run_path)

    def run_install(self, args) -> int:
        destination = self.destination(args.host)
        source = place_adapter(self.adapter, destination, copy=args.copy, force=args.force)
        if source is not None:
            self.after_install(args, source, destination)
        return 0

    def run_uninstall(self, args) -> int:
        return unplace_adapter(self.adapter, self.destination(args.host), f"vb {self.name}")

    def run_path(self, args) -> int:
        print(adapter_dir(self.adapter))
        return 0


def place_adapter(name: str, destination: Path, *, copy: bool, force: bool) -> Path | None:
    """Link (``copy``: copy) adapter ``name`` to ``destination``; returns its source folder, or None when
    ``destination`` already links to it. An existing entry is replaced only with ``force``."""
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
