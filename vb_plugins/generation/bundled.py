"""The small VBNet generator: the bundled default model, and any VBNet directory trained with `vb train`.

A model directory holds ``vb_model.json`` (architecture and provenance) and ``model.safetensors``.
The bundled one lives inside the package, so `vb predict` works offline on a fresh CPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation.base import GenerationSettings, Generator, GeneratorBackend

MODEL_CONFIG = "vb_model.json"
MODEL_WEIGHTS = "model.safetensors"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "vb-small"
BUNDLED_NAMES = ("", "bundled", "vb-small")


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class VBNetGenerator(Generator):
    """Runs a VBNet: prompts are encoded once, noise is drawn per image from its seed."""

    def __init__(self, model, path: Path | None = None, device: str = "cpu", provenance: dict | None = None):
        config = model.config
        self.model = model.eval()
        self.path = path
        self.device = device
        self.name = f"vbnet:{path.name}" if path else "vbnet"
        self.dialect = config.dialect
        self.multiple = config.multiple
        self.megapixels = config.resolution**2 / 1e6
        self.default_steps = config.default_steps
        self.tasks = list(config.tasks)
        self.provenance = provenance or {}

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
        steps = settings.steps or self.default_steps
        with torch.no_grad():
            out = sample(self.model, x, prompt_embedding.expand(len(images), -1), noise, steps, on_step, should_stop)
        out = ((out + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return list(out)


def load_vbnet(path: Path, device: str | None = None):
    """Load a VBNet model directory -> (model, config dict)."""
    import torch
    from safetensors.torch import load_file

    from vb_plugins.generation.vbnet import VBNet, VBNetConfig

    path = Path(path)
    config_path, weights_path = path / MODEL_CONFIG, path / MODEL_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise ModelError(f"{path}: not a VBNet model directory (needs {MODEL_CONFIG} and {MODEL_WEIGHTS})")
    try:
        meta = json.loads(config_path.read_text())
        model = VBNet(VBNetConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(weights_path)))
    except (KeyError, ValueError, RuntimeError) as error:
        raise ModelError(f"{path}: cannot load VBNet weights ({str(error).splitlines()[0]})") from None
    device = pick_device(device)
    return model.to(device=device, dtype=torch.float32), meta, device


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
        path = BUNDLED_DIR if model in BUNDLED_NAMES else Path(model)
        if model in BUNDLED_NAMES and not (path / MODEL_CONFIG).is_file():
            raise ModelError(f"the bundled model is missing from this installation ({path})")
        network, meta, device = load_vbnet(path, device)
        return VBNetGenerator(network, path, device, meta.get("provenance"))
