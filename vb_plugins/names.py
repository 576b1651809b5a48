"""Registered names, looked up from below the registry.

The registry imports the built-in tasks, codecs and prompt dialects to register them, so those modules
never import the registry (that would be a cycle). Where they must turn a name into an object (the depth
colour scheme a spec names, the dialect a prompt is asked in, the task a stored spec is for, the schemes
a prompt may name) they ask here, and whoever builds the registry answers: ``vb_plugins`` installs the
process-wide registry's lookup when it is imported (:func:`install`). The edges (``Predictor``, the CLI,
the adapters) use the registry itself.

This module imports nothing else of the project but its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vb_plugins.errors import RegistryError

Lookup = Callable[[str, str], Any]  # (kind as the registry names it, name) -> the registered object
Listing = Callable[[str], list[str]]  # kind -> the registered names, built-ins first

_lookup: Lookup | None = None
_listing: Listing | None = None


def install(lookup: Lookup, listing: Listing) -> None:
    """Answer name lookups with ``lookup`` and ``listing`` (the registry's ``get`` and ``names``)."""
    global _lookup, _listing
    _lookup, _listing = lookup, listing


def lookup(kind: str, name: str) -> Any:
    """The object registered as ``name`` of ``kind``; an unknown name is the registry's one-line error."""
    if _lookup is None:
        raise RegistryError(f"{kind} {name!r}: no registry to look it up in (import vb_plugins first)")
    return _lookup(kind, name)


def listing(kind: str) -> list[str]:
    if _listing is None:
        raise RegistryError(f"no registry to list the {kind}s of (import vb_plugins first)")
    return _listing(kind)


def task(name: str):
    return lookup("task", name)


def scheme(name: str):
    return lookup("colour scheme", name)


def dialect(name: str):
    return lookup("prompt dialect", name)
