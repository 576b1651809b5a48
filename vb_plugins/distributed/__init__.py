"""Scaling out with Ray Data: ``vb predict --ray``, FiftyOne runs with ``engine="ray"``, ``vb eval --ray``.

    >>> from vb_plugins import distributed
    >>> from vb_plugins.settings import RunSettings
    >>> summary = distributed.predict("depth", "photos/", "out/", settings=RunSettings(seed=1),
    ...                               ray=distributed.RayOptions(workers=4))   # a local Ray, 4 actors
    >>> summary.done, summary.failed, summary.images_per_second

Ray is an optional dependency (``pip install "vb-plugins[ray]"``); importing this package imports neither
Ray nor the modules that predict (its names load when first used, so ``vb --help`` stays quick).
"""

import importlib

_EXPORTS = {"predict": "run", "RunSummary": "run", "RayOptions": "options"}

__all__ = ["predict", "RunSummary", "RayOptions", "connect"]


def connect(address: str | None = None, *, quiet: bool = False) -> str:
    """Connect to Ray (see :mod:`vb_plugins.distributed.cluster`); returns a one-line description."""
    from vb_plugins.distributed.cluster import connect as _connect

    return _connect(address, quiet=quiet)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
