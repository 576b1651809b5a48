"""Scaling out with Ray Data: ``vb predict --ray``, FiftyOne runs with ``engine="ray"``, ``vb eval --ray``.

    >>> from vb_plugins import distributed
    >>> summary = distributed.predict("depth", "photos/", "out/", workers=4)   # a local Ray, 4 actors
    >>> summary.done, summary.failed, summary.images_per_second

Ray is an optional dependency (``pip install "vb-plugins[ray]"``); importing this package does not
import it.
"""

from vb_plugins.distributed.run import RunSummary, predict

__all__ = ["predict", "RunSummary", "connect"]


def connect(address: str | None = None, *, quiet: bool = False) -> str:
    """Connect to Ray (see :mod:`vb_plugins.distributed.cluster`); returns a one-line description."""
    from vb_plugins.distributed.cluster import connect as _connect

    return _connect(address, quiet=quiet)
