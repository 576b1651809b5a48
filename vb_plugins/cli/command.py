"""What a `vb` sub-command is to the registry (the ``vb_commands`` hook)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Command(NamedTuple):
    """A `vb` sub-command called ``name``.

    ``register(subparsers)`` adds it: ``parser = subparsers.add_parser(name, help=...)``, its arguments, and
    ``parser.set_defaults(handler=run)`` where ``run(args) -> int`` is the exit status. Errors a user can
    fix are raised as :class:`vb_plugins.errors.VBError` (one line, no traceback). Any object with these
    two attributes will do; this class is a convenience.
    """

    name: str
    register: Callable
