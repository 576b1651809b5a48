"""Generators and the batch engine.

``load_generator(model)`` resolves a model string through the registered backends:

- ``""`` / ``None`` / ``"bundled"``: the small model that ships with vb-plugins (offline, CPU),
- a local pipeline directory or a Hugging Face Hub id (``black-forest-labs/FLUX.2-klein-4B``): diffusers,
- ``backend:model`` selects a backend explicitly, e.g. ``gemini:gemini-2.5-flash-image``.
"""

from __future__ import annotations

from vb_plugins.errors import InputError
from vb_plugins.generation.base import GenerationSettings, Generator, GeneratorBackend, fit_size
from vb_plugins.generation.engine import Engine, Job


def resolve_backend(model: str | None) -> tuple[GeneratorBackend, str]:
    """(backend, model string for it) for a user's model string."""
    from vb_plugins.registry import get_registry

    registry = get_registry()
    model = (model or "").strip()
    backends = registry.table("generator backend")
    prefix, sep, rest = model.partition(":")
    if sep and prefix in backends and "/" not in prefix:
        return backends[prefix][0], rest
    for backend, _ in backends.values():
        if backend.can_load(model):
            return backend, model
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
