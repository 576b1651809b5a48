"""`vb demo`: the main job on the bundled examples, offline, on CPU (its code is imported when it runs)."""

from __future__ import annotations

from pathlib import Path

from vb_plugins.cli.command import Command
from vb_plugins.hookspecs import hookimpl


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="predict depth and normals on the bundled examples and score them")
    parser.add_argument("-o", "--output", type=Path, default=Path("vb-demo"), help="where to write outputs")
    parser.add_argument("--model", help="generator to use instead of the bundled model")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from vb_plugins.demo import run_demo

    run_demo(args.output, args.model)
    return 0


@hookimpl
def vb_commands():
    return [Command("demo", register)]
