"""Which generators and LoRAs the nodes offer, and where they live on disk.

Models resolve only inside ComfyUI's model folders (``diffusers``, ``vision_banana``, ``loras``, as
``folder_paths`` lists them) or the local Hugging Face cache; nothing is downloaded. Choices are
names from a fresh scan, so a name a workflow sends that the scan does not list is refused (V3
combo values are not checked by ComfyUI itself). LoRAs must be ``.safetensors``.

Names in the model list:
- ``bundled``: the small model shipped with vb-plugins (if this installation has its weights),
- ``<relative/dir>``: a diffusers pipeline directory (``model_index.json``) or a VBNet directory
  (``vb_model.json``) in one of the model folders,
- ``hf:<org>/<name>``: a diffusers pipeline already in the Hugging Face cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation.bundled import BUNDLED_DIR, MODEL_CONFIG, MODEL_WEIGHTS
from vb_plugins.settings import SETTINGS

BUNDLED = "bundled"
HF_PREFIX = "hf:"
MARKERS = ("model_index.json", "vb_model.json")
_MAX_DEPTH = 4  # how deep to look for pipeline directories below a model folder


def _inside(path: Path, root: Path) -> bool:
    """Lexical containment: the path names a place under ``root`` (links the owner placed there are
    followed when loading, as ComfyUI does for its own model folders)."""
    path, root = Path(os.path.normpath(path)), Path(os.path.normpath(root))
    return path == root or root in path.parents


def _relative_name(name: str, what: str) -> tuple[str, ...]:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{what}: no name given")
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if name.startswith(("/", "\\")) or ".." in parts or not parts or "\x00" in name:
        raise InputError(f"{what} {name!r}: must be a name from the list, not a path")
    return parts


def find_pipeline_dirs(folders: Iterable) -> dict[str, Path]:
    """Name (relative path) -> directory for every pipeline directory below the model folders.

    The first folder wins when two hold the same relative name (ComfyUI's own order)."""
    found: dict[str, Path] = {}
    for root, here, dirs, files in _walk(folders):
        if any(marker in files for marker in MARKERS) and here != root:
            found.setdefault(here.relative_to(root).as_posix(), here)
            dirs[:] = []  # a pipeline's subfolders are its components
        elif len(here.relative_to(root).parts) >= _MAX_DEPTH:
            dirs[:] = []
    return dict(sorted(found.items()))


def _walk(folders: Iterable):
    """(folder, directory, its subdirectories, its files) below each existing folder, links followed (as
    ComfyUI follows them in its model folders), hidden directories skipped, in sorted order; a caller may
    prune ``subdirectories`` in place."""
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for current, dirs, files in os.walk(root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield root, Path(current), dirs, sorted(files)


def hf_cache_dir() -> Path | None:
    """The local Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME``), or None if there is none."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    path = Path(constants.HF_HUB_CACHE)
    return path if path.is_dir() else None


def find_cached_pipelines(cache: Path | None) -> dict[str, Path]:
    """``hf:<org>/<name>`` -> snapshot directory for diffusers pipelines in the Hugging Face cache.

    The snapshot ``refs/main`` points to wins; else the newest snapshot with a ``model_index.json``."""
    found: dict[str, Path] = {}
    if cache is None or not Path(cache).is_dir():
        return found
    for repo in sorted(Path(cache).glob("models--*--*")):
        org_name = repo.name[len("models--"):].split("--", 1)
        snapshots = repo / "snapshots"
        if len(org_name) != 2 or not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        candidates = []
        if ref.is_file():
            candidates.append(snapshots / ref.read_text().strip())
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for snapshot in candidates:
            if (snapshot / "model_index.json").is_file() and _inside(snapshot, snapshots):
                found[f"{HF_PREFIX}{org_name[0]}/{org_name[1]}"] = snapshot
                break
    return found


def bundled_available() -> bool:
    return (BUNDLED_DIR / MODEL_CONFIG).is_file() and (BUNDLED_DIR / MODEL_WEIGHTS).is_file()


def model_choices(model_folders: Iterable, cache: Path | None) -> list[str]:
    """The model list a node offers: ``bundled`` first, then local pipelines, then cached Hub ids."""
    return [BUNDLED, *find_pipeline_dirs(model_folders), *find_cached_pipelines(cache)]


def resolve_model(name: str, model_folders: Iterable, cache: Path | None) -> str:
    """A model choice -> the string :func:`vb_plugins.generation.load_generator` takes (a local path,
    or ``bundled``). Raises :class:`InputError` for anything outside the folders and the cache."""
    model_folders = list(model_folders)
    if name == BUNDLED:
        if not bundled_available():
            raise ModelError(f"model 'bundled': the bundled model's weights are missing from this installation "
                             f"({BUNDLED_DIR}); put a diffusers pipeline in ComfyUI's models/diffusers folder "
                             "and choose it instead")
        return BUNDLED
    if isinstance(name, str) and name.startswith(HF_PREFIX):
        cached = find_cached_pipelines(cache)
        if name not in cached:
            raise InputError(f"model {name!r}: not in the local Hugging Face cache ({cache or 'none found'}); "
                             "nothing is downloaded at run time")
        return str(cached[name])
    _relative_name(name, "model")
    local = find_pipeline_dirs(model_folders)
    if name not in local:
        searched = ", ".join(str(f) for f in model_folders) or "none"
        raise InputError(f"model {name!r}: no pipeline directory of that name in ComfyUI's model folders "
                         f"({searched})")
    path = local[name]
    if not any(_inside(path, Path(folder)) for folder in model_folders):
        raise InputError(f"model {name!r}: resolves outside ComfyUI's model folders")
    return str(path)


def find_loras(folders: Iterable) -> dict[str, Path]:
    """Relative name -> file for every ``.safetensors`` file below the LoRA folders."""
    found: dict[str, Path] = {}
    for root, here, _, files in _walk(folders):
        for file in files:
            if file.lower().endswith(".safetensors"):
                found.setdefault((here / file).relative_to(root).as_posix(), here / file)
    return dict(sorted(found.items()))


NO_LORA = SETTINGS["lora"].comfy.unset  # the choice that means no LoRA


def lora_choices(folders: Iterable) -> list[str]:
    return [NO_LORA, *find_loras(folders)]


def resolve_lora(name: str, folders: Iterable) -> str | None:
    """A LoRA choice -> its file path (None for no LoRA); only ``.safetensors`` inside the LoRA folders."""
    if name in (None, "", NO_LORA):
        return None
    parts = _relative_name(name, "lora")
    if not parts[-1].lower().endswith(".safetensors"):
        raise InputError(f"lora {name!r}: LoRA weights must be .safetensors (pickled .pt/.ckpt/.bin are refused)")
    folders = list(folders)
    found = find_loras(folders)
    if name not in found:
        raise InputError(f"lora {name!r}: not found in ComfyUI's loras folders "
                         f"({', '.join(str(f) for f in folders) or 'none'})")
    return str(found[name])
