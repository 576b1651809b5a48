"""The ``vb`` command. Its sub-commands come from the ``vb_commands`` hook: the built-in ones from the
command modules listed in :data:`vb_plugins.builtin.DEFAULT_PLUGINS`, others from plugins, each a
:class:`Command` (``name`` and ``register(subparsers)``)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from vb_plugins import __version__
from vb_plugins.builtin import BUILTIN_ORIGIN
from vb_plugins.cli.command import Command
from vb_plugins.errors import VBError
from vb_plugins.os_errors import describe_os_error
from vb_plugins.registry import Registry, get_registry

__all__ = ["Command", "build_parser", "main"]

_DEBUG_HELP = "show the full traceback of an unexpected error"


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    """The `vb` parser with every registered command (``registry``: default, the process-wide one).

    A plugin's command that fails to register is left out and reported in ``registry.load_errors``."""
    registry = registry or get_registry()
    parser = argparse.ArgumentParser(
        prog="vb",
        description="Image generators as generalist vision learners: encode, decode, prompt, predict.",
    )
    parser.add_argument("--version", action="version", version=f"vb-plugins {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (command, origin) in registry.table("command").items():
        before = dict(subparsers.choices)
        try:
            command.register(subparsers)
            if name not in subparsers.choices:
                raise VBError(f"register() added no sub-command called {name!r}")
        except Exception as error:
            if origin == BUILTIN_ORIGIN:
                raise
            _forget_new_commands(subparsers, before)
            registry.load_errors.append(f"plugin {origin}: command {name!r} left out: "
                                        f"{type(error).__name__}: {_one_line(error)}")
    _add_debug_flag(parser)
    return parser


def _forget_new_commands(subparsers, before: dict) -> None:
    """Take back what a failed ``register`` added (its half-built parsers, its help lines)."""
    added = [name for name in subparsers.choices if name not in before]
    for name in added:
        del subparsers.choices[name]
    subparsers._choices_actions[:] = [a for a in subparsers._choices_actions if a.dest not in added]


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
    try:
        parser = build_parser()
    except VBError as error:  # e.g. two plugins registering one name: nothing can run until it is fixed
        print(f"vb: error: {_one_line(error)}", file=sys.stderr)
        return 1
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
