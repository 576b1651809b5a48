"""The small VBNet generator: the bundled default model, and any VBNet directory trained with `vb train`.

A model directory holds ``vb_model.json`` (architecture and provenance) and ``model.safetensors``.
The bundled one lives inside the package, so `vb predict` works offline on a fresh CPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation.base import GenerationSettings, Generator, GeneratorBackend, first_line, torch_dtype
from vb_plugins.hookspecs import hookimpl

MODEL_CONFIG = "vb_model.json"
MODEL_WEIGHTS = "model.safetensors"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "vb-small"
BUNDLED_NAMES = ("", "bundled", "vb-small")


DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def pick_device(device: str | None = None) -> str:
    """The device to compute on: ``device`` if this machine has it (else a one-line error), or the best one."""
    import torch

    if device:
        return check_device(device)
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_device(device: str) -> str:
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in DEVICE_TYPES:
        raise InputError(f"device {device!r}: expected cpu, cuda, cuda:N, mps or xpu")
    if parsed.type == "cpu":
        return device
    if parsed.type == "mps":
        available = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        count = int(available)
    else:
        module = getattr(torch, parsed.type, None)
        available = bool(module is not None and module.is_available())
        count = module.device_count() if available else 0
    if not available:
        raise InputError(f"device {device!r}: this machine has no {parsed.type.upper()} device "
                         f"(torch {torch.__version__}); use --device cpu")
    if parsed.index is not None and parsed.index >= count:
        raise InputError(f"device {device!r}: this machine has {count} {parsed.type.upper()} device(s), "
                         f"numbered from 0")
    return device


class VBNetGenerator(Generator):
    """Runs a VBNet: prompts are encoded once, noise is drawn per image from its seed."""

    def __init__(self, model, path: Path | None = None, device: str = "cpu", provenance: dict | None = None):
        config = model.config
        self.model = model.eval()
        self.dtype = next(model.parameters()).dtype
        self.path = path
        self.device = device
        self.name = f"vbnet:{path.name}" if path else "vbnet"
        self.dialect = config.dialect
        self.multiple = config.multiple
        self.megapixels = config.resolution**2 / 1e6
        self.default_steps = config.default_steps
        self.tasks = list(config.tasks)
        self.provenance = provenance or {}
        self.bundled = path is not None and Path(path).resolve() == BUNDLED_DIR
        if self.bundled:
            self.notice = ("the bundled model (vb-small) was trained on 64-px synthetic renders: on other images "
                           "its values are a demonstration, not estimates (use --model for a real generator)")

    @property
    def label(self) -> str:
        return "the bundled model (vb-small)" if self.bundled else f"the VBNet model {self.name!r}"

    def describe(self) -> dict:
        return {"generator": self.name, "dialect": self.dialect, "tasks": self.tasks}

    def encode_prompt(self, prompt: str):
        import torch

        with torch.no_grad():
            return self.model.condition([prompt])

    def generate(self, images, prompt_embedding, seeds, size, settings: GenerationSettings, on_step=None,
                 should_stop=None) -> list[np.ndarray]:
        import torch

        from vb_plugins.generation.vbnet import sample

        height, width = size
        x = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        noise = torch.stack([torch.randn((3, height, width), generator=torch.Generator().manual_seed(int(s)))
                             for s in seeds]).to(self.device)
        x, noise = x.to(self.dtype), noise.to(self.dtype)
        steps = settings.steps or self.default_steps
        with torch.no_grad():
            out = sample(self.model, x, prompt_embedding.expand(len(images), -1), noise, steps, on_step, should_stop)
        out = ((out.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return list(out)


def load_vbnet(path: Path, device: str | None = None, dtype: str | None = None):
    """Load a VBNet model directory -> (model, meta dict from vb_model.json, device); every way the
    directory can be broken is a one-line :class:`ModelError` naming the file."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    config_path, weights_path = path / MODEL_CONFIG, path / MODEL_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise ModelError(f"{path}: not a VBNet model directory (needs {MODEL_CONFIG} and {MODEL_WEIGHTS})")
    cast = torch_dtype(dtype) if dtype else torch.float32
    device = pick_device(device)
    meta = _read_meta(config_path)
    model = _network(meta, config_path)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as error:
        raise ModelError(f"{weights_path}: not a readable safetensors file ({first_line(error)})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ModelError(f"{weights_path}: weights do not fit the architecture in {MODEL_CONFIG} "
                         f"({first_line(error)})") from None
    return model.to(device=device, dtype=cast), meta, device


def _read_meta(config_path: Path) -> dict:
    try:
        meta = json.loads(config_path.read_text())
    except (ValueError, OSError) as error:
        raise ModelError(f"{config_path}: not readable JSON ({first_line(error)})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ModelError(f"{config_path}: expected a JSON object with a \"config\" object (the architecture), "
                         f"got {type(meta).__name__ if not isinstance(meta, dict) else 'no config object'}")
    return meta


_CONFIG_TYPES = {"channels": (list, "a list"), "blocks_per_level": (int, "an integer"),
                 "text_vocab": (int, "an integer"), "cond_dim": (int, "an integer"), "resolution": (int, "an integer"),
                 "multiple": (int, "an integer"), "default_steps": (int, "an integer"), "dialect": (str, "a string"),
                 "tasks": (list, "a list")}


def _network(meta: dict, config_path: Path):
    """The network the config describes, its fields checked by type first (a wrong type would otherwise
    surface as a traceback deep inside torch)."""
    from vb_plugins.generation.vbnet import VBNet, VBNetConfig

    data = meta["config"]
    for key, (kind, described) in _CONFIG_TYPES.items():
        value = data.get(key)
        if key in data and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ModelError(f"{config_path}: config.{key} must be {described}, got {value!r}")
    if not all(isinstance(c, int) and c > 0 and c % 8 == 0 for c in data.get("channels", [8])):
        raise ModelError(f"{config_path}: config.channels must be positive multiples of 8, got {data['channels']!r}")
    if not all(isinstance(t, str) for t in data.get("tasks", [])):
        raise ModelError(f"{config_path}: config.tasks must be task names, got {data['tasks']!r}")
    try:
        return VBNet(VBNetConfig.from_dict(data))
    except (TypeError, ValueError, RuntimeError) as error:
        raise ModelError(f"{config_path}: invalid VBNet config ({first_line(error)})") from None


def save_vbnet(model, path: Path, provenance: dict | None = None, dtype: str | None = None) -> Path:
    """Write a model directory (config + safetensors weights); ``dtype="float16"`` halves the file
    (weights are loaded back as float32)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cast = getattr(torch, dtype) if dtype else None
    state = {k: (v.to(cast) if cast is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(path / MODEL_WEIGHTS))
    meta = {"format": "vbnet", "config": model.config.to_dict(), "provenance": provenance or {}}
    (path / MODEL_CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return path


class VBNetBackend(GeneratorBackend):
    name = "vbnet"
    description = "the bundled small model, or a VBNet directory trained with `vb train`"

    def can_load(self, model: str) -> bool:
        return model in BUNDLED_NAMES or (Path(model) / MODEL_CONFIG).is_file()

    def load(self, model: str, device: str | None = None, dtype: str | None = None, lora: str | None = None,
             **options) -> Generator:
        if lora:
            raise InputError("--lora applies to diffusers pipelines; a VBNet is fine-tuned with `vb train`")
        if options.get("transformer_weights"):
            raise InputError("--transformer-weights applies to diffusers pipelines, not to a VBNet")
        path = BUNDLED_DIR if model in BUNDLED_NAMES else Path(model)
        if model in BUNDLED_NAMES and not (path / MODEL_CONFIG).is_file():
            raise ModelError(f"the bundled model is missing from this installation ({path})")
        network, meta, device = load_vbnet(path, device, dtype)
        return VBNetGenerator(network, path, device, meta.get("provenance"))


@hookimpl
def vb_generators():
    return [VBNetBackend()]
