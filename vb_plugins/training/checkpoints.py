"""Checkpoints as safetensors: model, EMA and optimizer tensors, plus a JSON of the scalars.

``OUTPUT/checkpoints/step-000500/`` holds ``model.safetensors``, ``ema.safetensors`` (if any),
``optimizer.safetensors`` and ``state.json`` (step, config fingerprint, optimizer hyper-parameters, RNG
state). A checkpoint directory is written under a temporary name and renamed when complete, so an
interrupted save never looks like a checkpoint; one damaged later (a truncated file, a bad disk) is
passed over for the previous one when a run resumes (:func:`resume_checkpoint`, :func:`resume_run`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vb_plugins.errors import InputError


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: Path, step: int, model_state: dict, optimizer, extra_states: dict | None = None,
                    state: dict | None = None, keep: int = 2) -> Path:
    directory = Path(directory) / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:06d}"
    temporary = directory / f".step-{step:06d}.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    for name, tensors in {"model": model_state, **(extra_states or {})}.items():
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        save_file(tensors, str(temporary / f"{name}.safetensors"))
    tensors, meta = optimizer_tensors(optimizer)
    save_file(tensors, str(temporary / "optimizer.safetensors"))
    (temporary / "state.json").write_text(json.dumps({"step": step, "optimizer": meta, **(state or {})}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    for old in sorted(directory.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: Path) -> Path | None:
    found = sorted((Path(directory) / "checkpoints").glob("step-*"))
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    state = json.loads((path / "state.json").read_text())
    loaded = {"state": state, "model": load_file(str(path / "model.safetensors")),
              "optimizer": load_file(str(path / "optimizer.safetensors"))}
    for extra in path.glob("*.safetensors"):
        if extra.stem not in ("model", "optimizer"):
            loaded[extra.stem] = load_file(str(extra))
    return loaded


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def resume_checkpoint(directory: Path, restore: Callable[[dict], None],
                      warn: Callable[[str], None]) -> tuple[Path, dict, int] | None:
    """Load the newest checkpoint of ``directory`` that loads and ``restore(loaded)`` accepts; returns
    ``(path, loaded, step)``, or None when there is no checkpoint.

    A checkpoint that cannot be read or restored is reported by ``warn`` in one line and the previous
    one is tried; when none loads, :class:`InputError` says why the newest did not. An
    :class:`InputError` from ``restore`` (a checkpoint of another configuration) is raised as it is.
    """
    found = sorted((Path(directory) / "checkpoints").glob("step-*"), reverse=True)
    if not found:
        return None
    reasons = []
    for index, path in enumerate(found):
        try:
            loaded = load_checkpoint(path)
            step = loaded["state"]["step"]
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise ValueError(f"state.json has step {step!r}")
            restore(loaded)
        except InputError:
            raise
        except Exception as error:  # corrupt files raise whatever their readers raise
            reasons.append(_reason(error))
            if index + 1 < len(found):
                warn(f"warning: checkpoint {path} cannot be loaded ({reasons[-1]}); "
                     f"falling back to {found[index + 1].name}")
            continue
        return path, loaded, step
    raise InputError(f"{Path(directory) / 'checkpoints'}: none of the {len(found)} checkpoint(s) can be loaded "
                     f"(newest {found[0].name}: {reasons[0]}); move them away to start the run over")


def resume_run(config, output: Path, optimizer, restore_weights: Callable[[dict], None],
               log: Callable[[str], None]) -> int:
    """The step a run of ``config`` starts at: 0, or that of the newest checkpoint in ``output`` that loads,
    whose weights ``restore_weights(loaded)`` puts back and whose state ``optimizer`` takes again. A
    checkpoint of another configuration (its fingerprint) is an :class:`InputError`. Writes
    ``output/config.json``."""

    def restore(loaded: dict) -> None:
        if loaded["state"].get("fingerprint") != config.fingerprint():
            raise InputError(f"{output}: holds checkpoints of a different configuration; choose another output_dir")
        restore_weights(loaded)
        restore_optimizer(optimizer, loaded["optimizer"], loaded["state"]["optimizer"])

    step = 0
    resumed = resume_checkpoint(output, restore, log)
    if resumed is not None:
        checkpoint, _, step = resumed
        log(f"resuming from {checkpoint} (step {step})")
    output.mkdir(parents=True, exist_ok=True)
    (output / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    return step
