"""Fixtures for end-to-end tests against a real ComfyUI server.

The server is ``COMFYUI_DIR`` (a ComfyUI checkout) when that is set, run by ``COMFYUI_PYTHON``, else
``COMFYUI_DIR/.venv``, else an environment built from its requirements (see comfy_env.py). Without
``COMFYUI_DIR`` the tests unpack the ComfyUI source tarball found by :func:`comfy_env.find_tarball`
into a cache and build its environment there, once. With neither they are skipped, naming the
places searched (in CI the root conftest turns that skip into a failure).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from comfy_env import ComfyEnvError, find_tarball, server_python, tarball_folders, unpack_comfyui
from comfy_server import ComfyServer

SKIP_REASON = "ComfyUI end-to-end not run: COMFYUI_DIR is not set and no ComfyUI source tarball was found"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # the node pack's ComfyUI-free modules import as `comfyui_nodes`
    sys.path.insert(0, str(PROJECT_ROOT))
_NOTES: list[str] = []  # what the fixtures set up, for the terminal summary


def pytest_terminal_summary(terminalreporter):
    for note in _NOTES:
        terminalreporter.write_line(f"ComfyUI: {note}")


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    """``COMFYUI_DIR``, else the cached unpack of the ComfyUI source tarball; skips with neither."""
    value = os.environ.get("COMFYUI_DIR")
    if value:
        path = Path(value).expanduser()
        if not (path / "main.py").is_file():
            pytest.fail(f"COMFYUI_DIR={value} is not a ComfyUI checkout (no main.py)")
        return path
    folders = tarball_folders(PROJECT_ROOT)
    tarball = find_tarball(folders)
    if tarball is None:
        places = ", ".join(map(str, folders))
        pytest.skip(f"{SKIP_REASON} (looked in {places}; see README, ComfyUI)")
    try:
        path = unpack_comfyui(tarball)
    except (ComfyEnvError, OSError) as error:
        pytest.fail(f"ComfyUI source {tarball} could not be unpacked: {error}")
    _NOTES.append(f"{path} (from {tarball})")
    return path


@pytest.fixture(scope="session")
def comfyui_python(comfyui_dir: Path) -> str:
    """``COMFYUI_PYTHON``, else ``COMFYUI_DIR/.venv``, else a cached environment from its requirements."""
    explicit = os.environ.get("COMFYUI_PYTHON")
    local_venv = comfyui_dir / ".venv" / "bin" / "python"
    if explicit or local_venv.exists():
        python = explicit or str(local_venv)
        if not Path(python).exists():
            pytest.fail(f"COMFYUI_PYTHON={python} does not exist")
        return python
    started = time.monotonic()
    try:
        python = server_python(comfyui_dir, log=lambda text: print(f"ComfyUI: {text}", file=sys.stderr))
    except ComfyEnvError as error:
        pytest.fail(f"ComfyUI's server environment could not be built: {error}")
    _NOTES.append(f"server Python {python} ({time.monotonic() - started:.0f} s to check or build)")
    return str(python)


@pytest.fixture(scope="module")
def start_comfyui(comfyui_dir, comfyui_python, tmp_path_factory):
    """Factory: ``start_comfyui(custom_nodes=[...], model_paths={...})`` -> running ComfyServer.

    Servers started in a module are stopped when the module's tests are done; a start takes
    about half a minute on 2 cores, so share one server per module. The project root is on the
    server's ``PYTHONPATH`` so packs can import ``vb_plugins`` from this checkout.
    """
    servers: list[ComfyServer] = []

    def start(custom_nodes=(), model_paths=None, extra_args=()) -> ComfyServer:
        server = ComfyServer(
            comfyui_dir,
            tmp_path_factory.mktemp("comfyui"),
            python=comfyui_python,
            custom_nodes=custom_nodes,
            model_paths=model_paths,
            pythonpath=[PROJECT_ROOT],
            extra_args=extra_args,
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
