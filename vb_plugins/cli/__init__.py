"""The ``vb`` command. Each sub-command lives in its own module with a ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from vb_plugins.errors import VBError

# Modules that add sub-commands, in the order `vb --help` lists them.
COMMAND_MODULES = (
    "vb_plugins.cli.codec_commands",
    "vb_plugins.cli.predict_command",
    "vb_plugins.cli.train_command",
    "vb_plugins.cli.pointcloud_command",
    "vb_plugins.cli.demo_command",
    "vb_plugins.cli.eval_command",
    "vb_plugins.cli.fiftyone_command",
    "vb_plugins.cli.comfyui_command",
)


def build_parser() -> argparse.ArgumentParser:
    from vb_plugins import __version__

    parser = argparse.ArgumentParser(
        prog="vb",
        description="Image generators as generalist vision learners: encode, decode, prompt, predict.",
    )
    parser.add_argument("--version", action="version", version=f"vb-plugins {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:  # an optional part whose dependencies are not installed
            if error.name and error.name.startswith("vb_plugins"):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except VBError as error:
        print(f"vb {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
