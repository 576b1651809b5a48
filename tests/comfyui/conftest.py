"""Fixtures for end-to-end tests against a real ComfyUI server.

Set ``COMFYUI_DIR`` to a ComfyUI checkout (and ``COMFYUI_PYTHON`` to an interpreter with its
requirements, unless ``COMFYUI_DIR/.venv`` has one) to run them; without it they are skipped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from comfy_server import ComfyServer, resolve_python

SKIP_REASON = "ComfyUI end-to-end not run: COMFYUI_DIR is not set"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # the node pack's ComfyUI-free modules import as `comfyui_nodes`
    sys.path.insert(0, str(PROJECT_ROOT))


@pytest.fixture(scope="session")
def comfyui_dir() -> Path:
    """The ComfyUI checkout named by ``COMFYUI_DIR``; skips the test when it is unset."""
    value = os.environ.get("COMFYUI_DIR")
    if not value:
        pytest.skip(SKIP_REASON)
    path = Path(value).expanduser()
    if not (path / "main.py").is_file():
        pytest.fail(f"COMFYUI_DIR={value} is not a ComfyUI checkout (no main.py)")
    return path


@pytest.fixture(scope="session")
def comfyui_python(comfyui_dir: Path) -> str:
    python = resolve_python(comfyui_dir)
    if not Path(python).exists():
        pytest.fail(f"COMFYUI_PYTHON={python} does not exist")
    return python


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
