"""Where a run's work goes on Ray: :class:`RayOptions`, one small frozen object beside the run's
:class:`vb_plugins.settings.RunSettings`.

They are kept apart on purpose. A :class:`RunSettings` says what a run computes: it is recorded with every
prediction, decides the run signature (which folders and FiftyOne fields a run may resume) and is shipped to
every worker. Placement (the cluster's address, how many actors, what each reserves) changes none of the
outputs, so it is in no record or signature: a local run and a Ray run of the same settings are the same
run, and either one resumes the other. The images handed to an actor at a time are the run's own
``batch_size`` (a run setting: it is also the generator's batch).

Each option is declared once, below; the ``vb predict --ray`` options and the FiftyOne form's Ray fields
are generated from the declarations, and the checks run once, when a :class:`RayOptions` is made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from vb_plugins.errors import InputError


def _option(default, help: str, label: str, low: float | None = None, param: str | None = None):
    """A declared option: ``param`` is its name among form params (default: the field's); the CLI flag is
    ``--name-with-dashes``, except ``address``, which is ``--ray [ADDRESS]``."""
    return field(default=default, metadata={"help": help, "label": label, "low": low, "param": param})


@dataclass(frozen=True)
class RayOptions:
    """Where a run's images are predicted on Ray (none of it changes the results; see the module docstring).
    ``address``: see :func:`vb_plugins.distributed.cluster.connect` (None: ``RAY_ADDRESS``, else a Ray
    started on this machine)."""

    address: str | None = _option(
        None, "empty: RAY_ADDRESS, else a Ray started on this machine; 'auto' for the cluster this machine is "
        "part of, ray://HOST:10001 for a remote one", "Ray address", param="ray_address")
    workers: int | None = _option(
        None, "actors, one model each (default: one per GPU, else 1)", "Workers", low=1)
    gpus_per_worker: float | None = _option(
        None, "GPUs each worker reserves (default 1 with GPUs, else 0)", "GPUs per worker", low=0)
    cpus_per_worker: float = _option(1.0, "CPUs each worker reserves (default 1)", "CPUs per worker", low=0)

    def __post_init__(self):
        address = self.address
        if address is not None:
            if not isinstance(address, str):
                raise InputError(f"ray address {address!r}: expected text such as auto or ray://HOST:10001")
            object.__setattr__(self, "address", address.strip() or None)
        workers = self.workers
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InputError(f"workers={workers!r}: must be a whole number of at least 1")
        for name in ("gpus_per_worker", "cpus_per_worker"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value) or value < 0):
                raise InputError(f"{name}={value!r}: must be a number of at least 0")
        if self.cpus_per_worker <= 0 and not self.gpus_per_worker:
            raise InputError("cpus_per_worker=0 needs gpus_per_worker above 0 (a worker must hold some resource)")

    @classmethod
    def of(cls, ray: RayOptions | None = None, **changes) -> RayOptions:
        """``ray`` (default: all defaults) with ``changes`` (option keywords given one by one), checked."""
        return replace(ray or cls(), **changes) if changes else (ray or cls())

    @classmethod
    def parse(cls, params: Mapping, errors: dict[str, str]) -> RayOptions | None:
        """The Ray options among form params (text or numbers; blank: the default), an error recorded under
        each bad param's name. None when one is invalid."""
        values = {}
        for name, declared in RAY_OPTIONS.items():
            key = param_name(name)
            value = params.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if declared.type.startswith("str"):
                values[name] = value
                continue
            kind, low = (int if declared.type.startswith("int") else float), declared.metadata["low"]
            try:
                if isinstance(value, bool) or kind(value) != float(value) or kind(value) < low:
                    raise ValueError
                values[name] = kind(value)
            except (TypeError, ValueError):
                errors[key] = (f"{key}={value!r}: expected {'a whole number' if kind is int else 'a number'} "
                                f"of at least {low:g}")
        if any(param_name(name) in errors for name in RAY_OPTIONS):
            return None
        try:
            return cls(**values)
        except InputError as error:
            name = next((n for n in RAY_OPTIONS if str(error).startswith(n)), "engine")
            errors[param_name(name) if name in RAY_OPTIONS else name] = str(error)
            return None


RAY_OPTIONS = {f.name: f for f in fields(RayOptions)}


def param_name(name: str) -> str:
    """An option's name among form params (``address`` is ``ray_address`` there)."""
    return RAY_OPTIONS[name].metadata["param"] or name

__all__ = ["RayOptions", "RAY_OPTIONS", "param_name"]


def refuse_what_workers_cannot_run(predictor) -> None:
    """A vision-language model (rewriter, presence gate, per-image queries) and a custom prompt run in the
    single-process engine only: workers rebuild a plain Predictor from the spec and settings, so they would
    paint without them. Refused before anything starts."""
    named = [name for name in ("rewriter", "gate", "queries") if getattr(predictor.settings, name) not in (None, "")]
    if named:
        raise InputError(f"ray: {', '.join(named)}: runs in the single-process engine only (leave out --ray / "
                         "engine=ray)")
    if getattr(predictor, "custom_prompt", None) is not None:  # a GuidedPredictor has none (it refuses one)
        raise InputError("ray: a custom prompt runs in the single-process engine only (leave out --ray / "
                         "engine=ray)")
