"""Errors with one-line, user-facing messages.

Every error raised for bad input names the input and what is wrong with it, so the CLI, the
FiftyOne operators and the ComfyUI nodes can show ``str(error)`` as it is.
"""


class VBError(Exception):
    """Base class of all vb-plugins errors; ``str()`` is a one-line message for users."""


class InputError(VBError, ValueError):
    """Bad input: unreadable or odd images, malformed colours or JSON, invalid values, wrong shapes."""


class RegistryError(VBError):
    """A plugin registration problem: unknown names, duplicates, broken plugins."""


class UnknownNameError(RegistryError, InputError):
    """A task, colour scheme, dialect or backend name that no plugin registered."""


class OutputError(VBError, OSError):
    """An output cannot be written: read-only file system, disk full, permission denied, a directory in
    the way. Also an ``OSError`` (with the original ``errno``), so callers that catch write failures as
    ``OSError`` keep working."""


class ModelError(VBError):
    """A generator cannot be loaded or cannot do what was asked."""


class CancelledError(VBError):
    """A long run was cancelled by the caller; work finished before the cancel is kept."""


class RemoteAPIError(VBError):
    """A remote generation API failed (auth, quota, transport)."""
