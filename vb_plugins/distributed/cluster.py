"""Connecting to Ray: the same command runs on a laptop and on a cluster.

``address`` (``--ray`` on the command line):

- ``None`` / ``""`` (a bare ``--ray``): ``RAY_ADDRESS`` if set, else an embedded Ray started on this
  machine for the run. It listens on the loopback interface only: nothing outside the machine can
  reach it.
- ``"auto"``: the cluster this machine belongs to (started with ``ray start``).
- ``"ray://HOST:10001"``: a remote cluster through Ray Client; ``"HOST:6379"``: a cluster's head node.

A process already connected to Ray (``ray.init`` called before) keeps its connection.
"""

from __future__ import annotations

import contextlib
import logging
import os

from vb_plugins.errors import InputError

INSTALL_HINT = 'install Ray with: pip install "vb-plugins[ray]"'


def require_ray():
    """The ``ray`` module with Ray Data, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise InputError(f"--ray needs Ray Data, which is not installed ({error.name or error}); "
                         f"{INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None, *, quiet: bool = False) -> str:
    """Connect this process to Ray (see the module docstring) and return a one-line description."""
    ray = require_ray()
    if ray.is_initialized():
        return describe()
    address = (address or "").strip() or None
    options = {"logging_level": logging.WARNING, "log_to_driver": not quiet}
    environment = os.environ.get("RAY_ADDRESS", "").strip()
    try:
        if address is None and not environment:
            ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, **options)
        else:
            ray.init(address=address or environment, **options)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as error:
        shown = address or (f"(RAY_ADDRESS={environment})" if environment else "(a local Ray)")
        raise InputError(f"--ray {shown}: cannot connect ({_first_line(error)})") from None
    return describe()


def describe() -> str:
    """``"Ray 2.x: 3 nodes, 24 CPUs, 2 GPUs"``."""
    import ray

    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    return f"Ray {ray.__version__}: {nodes} node(s), {cpus:g} CPU(s), {gpus:g} GPU(s)"


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0))


@contextlib.contextmanager
def data_settings(quiet: bool, wait_for_workers_s: float = 600.0):
    """Ray Data settings for one run, put back afterwards (the caller's own datasets keep theirs): no
    progress bars of Ray's (the run reports per image), its log lines only when not ``quiet``, and a pool
    that starts every worker (each loading its model) before work is handed out, so it spreads over all of
    them; workers that cannot start within ``wait_for_workers_s`` end the run with an error."""
    import ray.data

    context = ray.data.DataContext.get_current()
    wanted = {"enable_progress_bars": False, "print_on_execution_start": False,
              "wait_for_min_actors_s": wait_for_workers_s}
    saved = {key: getattr(context, key, None) for key in wanted}
    loggers = {name: logging.getLogger(name) for name in ("ray.data", "ray.data._internal.progress")}
    levels = {name: logger.level for name, logger in loggers.items()}
    for key, value in wanted.items():
        setattr(context, key, value)
    loggers["ray.data"].setLevel(logging.ERROR if quiet else logging.WARNING)
    loggers["ray.data._internal.progress"].setLevel(logging.ERROR)  # "progress bars disabled"
    try:
        yield context
    finally:
        for key, value in saved.items():
            setattr(context, key, value)
        for name, level in levels.items():
            loggers[name].setLevel(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
