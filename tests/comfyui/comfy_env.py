"""A ComfyUI for the end-to-end tests when the user names none: unpacked from a source tarball once,
with a Python environment for its server that is built once and cached.

ComfyUI is not on the package registries, so the tests look for a source tarball (``ComfyUI-*.tar.gz``)
in ``$VB_SHARED_DIR/comfyui``, then ``<project>/../shared/comfyui``, then ``/work/shared/comfyui``; it is a
test fixture and is never copied into the project. Under the cache folder (``$VB_CACHE_DIR``, else
``$XDG_CACHE_HOME/vb-plugins``, else ``~/.cache/vb-plugins``):

- ``comfyui/<sha256 of the tarball, 16 hex>/comfyui`` is the unpacked source (``main.py`` inside);
- ``comfyui-venvs/<key>`` is the server's virtual environment, keyed by the ComfyUI folder and the
  test interpreter. It holds only what ComfyUI needs beyond the test environment: a ``.pth`` file adds
  the test interpreter's site-packages after its own, so torch, torchvision and the pack's
  dependencies (``comfyui_nodes/requirements.txt``) are shared instead of installed twice (some
  5.5 GB for the CUDA build of torch), while ComfyUI's own pins (its frontend package, av, SQLAlchemy,
  ...) stay out of the test environment. A stamp records the requirement files and the test
  environment's installed distributions; it is rebuilt when either changes.

Both steps take a file lock, so test sessions running side by side share one build.
``python tests/comfyui/comfy_env.py`` prepares both ahead of the tests (``.ci/run`` does) and prints
the folder and interpreter.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TARBALL_PATTERN = "ComfyUI-*.tar.gz"
PACK_REQUIREMENTS = PROJECT_ROOT / "comfyui_nodes" / "requirements.txt"
EXTRA_PACKAGES = ("requests",)  # ComfyUI imports it at start-up without listing it
PIP_TIMEOUT_S = 1200


class ComfyEnvError(RuntimeError):
    """The ComfyUI source or its environment could not be prepared."""


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("VB_CACHE_DIR"):
        return Path(environ["VB_CACHE_DIR"]).expanduser()
    base = Path(environ["XDG_CACHE_HOME"]).expanduser() if environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "vb-plugins"


def tarball_folders(project_root: Path = PROJECT_ROOT, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where a ComfyUI source tarball is looked for, in order."""
    folders = [Path(environ["VB_SHARED_DIR"]).expanduser() / "comfyui"] if environ.get("VB_SHARED_DIR") else []
    return folders + [project_root.parent / "shared" / "comfyui", Path("/work/shared/comfyui")]


def find_tarball(folders: Iterable[Path]) -> Path | None:
    """The newest-named ``ComfyUI-*.tar.gz`` in the first of ``folders`` that holds one."""
    for folder in folders:
        found = sorted(folder.glob(TARBALL_PATTERN)) if folder.is_dir() else []
        if found:
            return found[-1]
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unpack_comfyui(tarball: Path, root: Path | None = None) -> Path:
    """The ComfyUI folder (holding ``main.py``) unpacked from ``tarball`` under the cache; unpacked once."""
    folder = (root or cache_root()) / "comfyui" / _sha256(tarball)[:16]
    source = folder / "comfyui"
    with _locked(folder / ".lock"):
        if (source / "main.py").is_file():
            return source
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder))
        try:
            with tarfile.open(tarball) as archive:
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                archive.extractall(staging, **extra)
            mains = sorted(staging.glob("*/main.py"))
            if len(mains) != 1:
                raise ComfyEnvError(f"{tarball}: expected one <folder>/main.py inside, found {len(mains)}")
            if source.exists():
                shutil.rmtree(source)
            mains[0].parent.rename(source)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return source


def _site_packages(python: str) -> list[str]:
    if Path(python).resolve() == Path(sys.executable).resolve():
        paths = site.getsitepackages()
    else:
        out = subprocess.run([python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
                             capture_output=True, text=True, check=True)
        paths = json.loads(out.stdout)
    return [p for p in dict.fromkeys(paths) if Path(p).is_dir()]


def _installed_fingerprint(site_dirs: Iterable[str]) -> str:
    """Changes whenever a distribution is installed, removed or upgraded in these folders."""
    names = sorted(entry for folder in site_dirs for entry in os.listdir(folder) if entry.endswith(".dist-info"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def server_python(comfyui_dir: Path, base_python: str = sys.executable,
                  extra_requirements: Iterable[Path] = (PACK_REQUIREMENTS,), root: Path | None = None,
                  log=None) -> Path:
    """An interpreter that runs ComfyUI's server: a cached venv layered over ``base_python``'s packages.

    Installs ``comfyui_dir/requirements.txt`` and ``extra_requirements`` with pip; whatever
    ``base_python`` already has is used from there. ``log(text)`` hears what is being done.
    """
    comfyui_dir = Path(comfyui_dir).resolve()
    requirements = [comfyui_dir / "requirements.txt", *map(Path, extra_requirements)]
    for path in requirements:
        if not path.is_file():
            raise ComfyEnvError(f"{path} does not exist")
    base_sites = _site_packages(base_python)
    key = hashlib.sha256(json.dumps([str(comfyui_dir), str(Path(base_python).absolute())]).encode())
    venv = (root or cache_root()) / "comfyui-venvs" / key.hexdigest()[:16]
    stamp = {
        "comfyui_dir": str(comfyui_dir),
        "base_python": str(base_python),
        "base_site_packages": base_sites,
        "requirements": {str(p): _sha256(p) for p in requirements},
        "extra_packages": list(EXTRA_PACKAGES),
        "base_installed": _installed_fingerprint(base_sites),
    }
    stamp_path = venv / "vb-tests-stamp.json"
    python = _venv_python(venv)
    with _locked(venv.with_suffix(".lock")):
        if python.exists() and stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp:
            return python
        started = time.monotonic()
        if log:
            log(f"building ComfyUI's server environment in {venv} (over {base_python})")
        stamp_path.unlink(missing_ok=True)
        if not python.exists():
            _run([base_python, "-m", "venv", str(venv)], "creating the venv")
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        # A line starting with "import" runs at start-up; addsitedir also reads the base's own .pth files.
        lines = [f"import site; site.addsitedir({folder!r})" for folder in base_sites]
        Path(purelib, "_vb_tests_base_environment.pth").write_text("\n".join(lines) + "\n")
        command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for path in requirements:
            command += ["-r", str(path)]
        _run(command + list(EXTRA_PACKAGES), "pip install of ComfyUI's requirements")
        stamp_path.write_text(json.dumps(stamp, indent=1))
        if log:
            log(f"ComfyUI's server environment is ready ({time.monotonic() - started:.0f} s)")
    return python


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ComfyEnvError(f"{what} took more than {PIP_TIMEOUT_S} s: {' '.join(command)}") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ComfyEnvError(f"{what} failed ({' '.join(command)}):\n{tail}")


def prepare(project_root: Path = PROJECT_ROOT, environ: Mapping[str, str] = os.environ,
            log=None) -> tuple[Path, Path]:
    """``(comfyui_dir, python)`` from the first tarball found; ComfyEnvError names the places searched."""
    folders = tarball_folders(project_root, environ)
    tarball = find_tarball(folders)
    if tarball is None:
        places = ", ".join(map(str, folders))
        raise ComfyEnvError(f"no ComfyUI source tarball ({TARBALL_PATTERN}) in {places}; "
                            f"set VB_SHARED_DIR, or COMFYUI_DIR to a ComfyUI checkout")
    comfyui_dir = unpack_comfyui(tarball, cache_root(environ))
    return comfyui_dir, server_python(comfyui_dir, root=cache_root(environ), log=log)


def main() -> int:
    try:
        comfyui_dir, python = prepare(log=lambda text: print(f"comfy_env: {text}", flush=True))
    except ComfyEnvError as error:
        print(f"comfy_env: {error}", file=sys.stderr)
        return 1
    print(f"comfy_env: COMFYUI_DIR={comfyui_dir}")
    print(f"comfy_env: COMFYUI_PYTHON={python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
