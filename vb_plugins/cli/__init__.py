"""The ``vb`` command. Each sub-command lives in its own module with a ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
import warnings

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

_DEBUG_HELP = "show the full traceback of an unexpected error"


def build_parser() -> argparse.ArgumentParser:
    from vb_plugins import __version__

    parser = argparse.ArgumentParser(
        prog="vb",
        description="Image generators as generalist vision learners: encode, decode, prompt, predict.",
    )
    parser.add_argument("--version", action="version", version=f"vb-plugins {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:  # an optional part whose dependencies are not installed
            if error.name and error.name.startswith("vb_plugins"):
                raise
            continue
        module.register(subparsers)
    _add_debug_flag(parser)
    return parser


def _sub_parsers(parser: argparse.ArgumentParser):
    """The sub-command parsers directly below ``parser``: (dest, {name: parser})."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action.dest, action.choices


def _add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` is accepted after the sub-command too (``vb decode ... --debug``). SUPPRESS keeps a
    sub-command from resetting a ``--debug`` given before it."""
    for _, choices in _sub_parsers(parser):
        for sub in dict.fromkeys(choices.values()):  # aliases map to the same parser
            if "--debug" not in sub._option_string_actions:  # a command may define its own
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
            _add_debug_flag(sub)


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost sub-command parser ``args`` went through (``vb fiftyone install`` -> install's)."""
    for dest, choices in _sub_parsers(parser):
        name = getattr(args, dest, None)
        if name in choices:
            return _chosen_parser(choices[name], args)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like ``parser.parse_args``, but an unknown option is reported by the sub-command it was given to,
    with that sub-command's usage (not the top-level one)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _one_line(text) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _is_os_error(error: BaseException) -> bool:
    """An ``OSError`` with an ``errno``: its words (disk full, read-only, ...) say all there is to say."""
    return isinstance(error, OSError) and error.errno is not None


def describe_unexpected(error: BaseException) -> str:
    """The one line shown for an error that is not a :class:`VBError` (``OSError`` kinds in words)."""
    from vb_plugins.io import describe_os_error

    if _is_os_error(error):
        where = error.filename if error.filename is not None else error.filename2
        return f"{where}: {describe_os_error(error)}" if where is not None else describe_os_error(error)
    if isinstance(error, RecursionError):
        return "RecursionError: input nested too deeply"
    if isinstance(error, MemoryError):
        return "MemoryError: not enough memory"
    message = _one_line(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    prefix = f"vb {args.command}"
    # Images beyond Pillow's pixel limit are refused with one line by vb_plugins.io; its warning would
    # be a second line.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vb tasks | head`: the reader left; nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
        return 1
    except VBError as error:
        if args.debug:
            traceback.print_exc()
        print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # the guard: one line, the traceback only on request
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug or _is_os_error(error) else " (run with --debug for the traceback)"
        print(f"{prefix}: error: {describe_unexpected(error)}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
