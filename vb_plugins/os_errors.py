"""``OSError`` kinds in words, for one-line messages (kept apart from :mod:`vb_plugins.io` so that the CLI's
error guard loads neither numpy nor Pillow)."""

import errno

# errno -> what a user reads (the path comes first in the message).
_OS_ERRORS = {
    getattr(errno, name): words for name, words in (
        ("EROFS", "read-only file system"),
        ("ENOSPC", "no space left on the device (disk full)"),
        ("EDQUOT", "disk quota exceeded"),
        ("EISDIR", "is a directory"),
        ("ENOTDIR", "a parent of the path is not a directory"),
        ("EACCES", "permission denied"),
        ("EPERM", "operation not permitted"),
        ("ENOENT", "no such file or directory"),
        ("ENAMETOOLONG", "file name too long"),
    ) if hasattr(errno, name)
}


def describe_os_error(error: OSError) -> str:
    """A one-line, user-facing phrase for an ``OSError`` (``read-only file system``, ``disk full``, ...)."""
    words = _OS_ERRORS.get(error.errno) or error.strerror or str(error) or type(error).__name__
    return words[:1].lower() + words[1:]
