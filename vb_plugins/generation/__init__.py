"""Generators and the batch engine.

``load_generator(model)`` resolves a model string through the registered backends:

- ``""`` / ``None`` / ``"bundled"``: the small model that ships with vb-plugins (offline, CPU),
- a local pipeline directory or a Hugging Face Hub id (``black-forest-labs/FLUX.2-klein-4B``): diffusers,
- ``backend:model`` selects a backend explicitly, e.g. ``gemini:gemini-2.5-flash-image``.
"""

from __future__ import annotations

from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.generation.base import GenerationSettings, Generator, GeneratorBackend, fit_size, looks_like_path
from vb_plugins.generation.engine import Engine, Job
from vb_plugins.registry import get_registry


def resolve_backend(model: str | None) -> tuple[GeneratorBackend, str]:
    """(backend, model string for it) for a user's model string."""
    registry = get_registry()
    model = (model or "").strip()
    backends = registry.table("generator backend")
    prefix, sep, rest = model.partition(":")
    if sep and prefix in backends and "/" not in prefix:
        return backends[prefix][0], rest
    path = Path(model).expanduser()
    if looks_like_path(model):  # a folder, never a Hub id, whether it exists or not
        if not path.exists():
            raise InputError(f"model {model!r}: no such directory (no generator backend recognises it)")
        if not path.is_dir():
            raise InputError(f"model {model!r}: is a file; a model is a folder (a diffusers pipeline with "
                             "model_index.json, or a VBNet with vb_model.json)")
        model = str(path)
    for backend, _ in backends.values():
        if backend.can_load(model):
            return backend, model
    if path.is_dir():
        raise InputError(f"model {model!r}: folder is not a model (no model_index.json for a diffusers pipeline, "
                         "no vb_model.json for a VBNet), and no generator backend recognises it")
    raise InputError(
        f"model {model!r}: no generator backend recognises it (not a local pipeline directory, Hub id or "
        f"'backend:model'; backends: {', '.join(backends)})"
    )


def load_generator(model: str | None = None, **options) -> Generator:
    """Load a generator for ``model`` (see module docstring); ``options`` go to the backend
    (``device``, ``dtype``, ``lora``, ``cpu_offload``, ...)."""
    backend, name = resolve_backend(model)
    return backend.load(name, **options)


__all__ = ["Generator", "GeneratorBackend", "GenerationSettings", "Engine", "Job", "fit_size", "load_generator",
           "resolve_backend"]
