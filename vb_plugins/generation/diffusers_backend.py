"""Any image-conditioned diffusers pipeline as a generator, by Hub id or local path.

Families with known defaults and fast paths: FLUX.2 klein (``Flux2KleinPipeline``, the recommended open
default and the base of Open Vision Banana), Qwen-Image-Edit, FLUX.1 Kontext and InstructPix2Pix. Any
other pipeline whose ``__call__`` takes an ``image`` runs through a generic path (one image per call,
prompt as text). Weights load as safetensors only; remote code is never trusted.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from packaging.version import Version
from PIL import Image
from safetensors import SafetensorError

from vb_plugins.errors import CancelledError, InputError, ModelError
from vb_plugins.generation import diffsynth
from vb_plugins.generation.base import (
    GenerationSettings,
    Generator,
    GeneratorBackend,
    first_line,
    looks_like_path,
    torch_dtype,
)
from vb_plugins.generation.bundled import pick_device
from vb_plugins.hookspecs import hookimpl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """How to drive one pipeline family: defaults and the calls that differ between families."""

    name: str
    classes: tuple[str, ...]
    steps: int
    guidance: float | None
    megapixels: float
    dialect: str = "zero-shot"
    min_side: int = 0
    # Distinct input images can share one pipeline call (each with its own latents and seed).
    batches: bool = True
    # Prompt embeddings do not depend on the input image, so one encoding serves the whole run.
    caches_prompt: bool = True

    def multiple(self, pipe) -> int:
        return int(getattr(pipe, "vae_scale_factor", 8)) * 2

    def defaults(self, pipe) -> tuple[int, float | None]:
        """(steps, guidance) for this pipeline."""
        return self.steps, self.guidance

    def encode(self, pipe, prompt: str) -> dict:
        return {"prompt": prompt}

    def call_kwargs(self, pipe, images, embedding: dict, count: int, settings: GenerationSettings) -> dict:
        kwargs = {"image": images}
        kwargs.update(_repeat(embedding, count))
        return kwargs

    @contextlib.contextmanager
    def batch_context(self, pipe):
        yield


def _repeat(embedding: dict, count: int) -> dict:
    """Prompt embeddings encoded once (batch 1) repeated for a batch; text stays text."""
    import torch

    out = {}
    for key, value in embedding.items():
        if torch.is_tensor(value) and value.shape[0] == 1 and not key.endswith("text_ids"):
            out[key] = value.expand(count, *value.shape[1:])
        elif isinstance(value, str):
            out[key] = [value] * count
        else:
            out[key] = value
    return out


class Flux2Klein(Family):
    def defaults(self, pipe) -> tuple[int, float | None]:
        # The step-distilled klein models sample in 4 steps without guidance; the base models need CFG.
        return (4, 1.0) if pipe.config.get("is_distilled", False) else (28, 4.0)

    def encode(self, pipe, prompt: str) -> dict:
        embeds, _ = pipe.encode_prompt(prompt=prompt, device=pipe._execution_device)
        return {"prompt_embeds": embeds}

    def call_kwargs(self, pipe, images, embedding, count, settings):
        kwargs = super().call_kwargs(pipe, images, embedding, count, settings)
        if "negative" in embedding:
            kwargs["negative_prompt_embeds"] = kwargs.pop("negative")
        return kwargs

    @contextlib.contextmanager
    def batch_context(self, pipe):
        """FLUX.2 reads a list of images as several references for every output. To batch different
        inputs, give each sample its own reference latents instead (same tokens, same positions)."""
        import torch

        original = pipe.prepare_image_latents

        def per_sample(images, batch_size, generator, device, dtype):
            if len(images) == 1 or len(images) != batch_size:
                return original(images, batch_size, generator, device, dtype)
            latents, ids = zip(*(original([image], 1, None, device, dtype) for image in images))
            return torch.cat(latents, dim=0), torch.cat(ids, dim=0)

        pipe.prepare_image_latents = per_sample
        try:
            yield
        finally:
            del pipe.prepare_image_latents  # back to the class method


class QwenImageEdit(Family):
    # Qwen-Image-Edit's text encoder is a vision-language model that reads the input image with the
    # prompt, so embeddings cannot be shared between images: the prompt goes in as text.
    def call_kwargs(self, pipe, images, embedding, count, settings):
        kwargs = {"image": images, "prompt": [embedding["prompt"]] * count}
        true_cfg = settings.extra.get("true_cfg_scale", 4.0)
        if true_cfg and true_cfg > 1:
            kwargs["negative_prompt"] = [" "] * count
            kwargs["true_cfg_scale"] = true_cfg
        return kwargs


class FluxKontext(Family):
    def encode(self, pipe, prompt: str) -> dict:
        embeds, pooled, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=pipe._execution_device)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    def call_kwargs(self, pipe, images, embedding, count, settings):
        kwargs = super().call_kwargs(pipe, images, embedding, count, settings)
        # The engine already chose a size that keeps the aspect ratio: no snapping to Kontext's list,
        # and no rescaling to its default 1 MP area.
        kwargs["_auto_resize"] = False
        width, height = images[0].size
        kwargs["max_area"] = width * height
        return kwargs


class InstructPix2Pix(Family):
    def multiple(self, pipe) -> int:
        return int(getattr(pipe, "vae_scale_factor", 8))

    def encode(self, pipe, prompt: str) -> dict:
        device = pipe._execution_device
        embeds = pipe._encode_prompt(prompt, device, 1, False)
        negative = pipe._encode_prompt("", device, 1, False)
        return {"prompt_embeds": embeds, "negative_prompt_embeds": negative}


FAMILIES = (
    Flux2Klein("flux2-klein", ("Flux2KleinPipeline", "Flux2KleinKVPipeline"), steps=4, guidance=1.0,
               megapixels=1.0, min_side=64),  # its image processor rejects smaller inputs
    QwenImageEdit("qwen-image-edit", ("QwenImageEditPipeline", "QwenImageEditPlusPipeline"), steps=40,
                  guidance=None, megapixels=1.0, caches_prompt=False),
    FluxKontext("flux-kontext", ("FluxKontextPipeline",), steps=28, guidance=2.5, megapixels=1.0),
    InstructPix2Pix("instruct-pix2pix", ("StableDiffusionInstructPix2PixPipeline",), steps=20, guidance=7.5,
                    megapixels=0.26),
)
GENERIC = Family("generic", (), steps=28, guidance=None, megapixels=1.0, batches=False, caches_prompt=False)


def family_for(class_name: str) -> Family:
    return next((f for f in FAMILIES if class_name in f.classes), GENERIC)


def pick_dtype(device: str, dtype: str | None):
    """The dtype named (float32, bfloat16, float16; anything else is refused), or the device's default."""
    import torch

    if dtype:
        return torch_dtype(dtype)
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def _pil(image: np.ndarray):
    return Image.fromarray(np.ascontiguousarray(image))


class DiffusersGenerator(Generator):
    """A loaded diffusers pipeline driven by the engine."""

    def __init__(self, pipe, family: Family, model: str, device: str):
        self.pipe = pipe
        self.family = family
        self.model = model
        self.device = device
        self.name = f"diffusers:{type(pipe).__name__}"
        self.dialect = family.dialect
        self.multiple = family.multiple(pipe)
        self.megapixels = family.megapixels
        self.min_side = family.min_side
        self.default_steps, self.default_guidance = family.defaults(pipe)
        self.max_batch_size = None if family.batches else 1
        self.prompt_encodings = 0
        self._negative = None
        self.lora: str | None = None
        self.transformer_weights: str | None = None

    def describe(self) -> dict:
        described = {"generator": self.name, "family": self.family.name, "model_source": self.model,
                     "dialect": self.dialect}
        if self.lora:  # another adapter is another model: records must tell them apart
            described["lora"] = self.lora
        if self.transformer_weights:
            described["transformer_weights"] = self.transformer_weights
        return described

    def encode_prompt(self, prompt: str):
        import torch

        self.prompt_encodings += 1
        if not self.family.caches_prompt:
            return {"prompt": prompt}
        with torch.no_grad():
            return self.family.encode(self.pipe, prompt)

    def _negative_embedding(self):
        """Klein base models guide against the empty prompt: encode it once per generator."""
        import torch

        if self._negative is None:
            with torch.no_grad():
                self._negative = self.family.encode(self.pipe, "")["prompt_embeds"]
            self.prompt_encodings += 1
        return self._negative

    def generate(self, images, prompt_embedding, seeds, size, settings: GenerationSettings, on_step=None,
                 should_stop=None) -> list[np.ndarray]:
        import torch

        height, width = size
        count = len(images)
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        steps = settings.steps or self.default_steps
        guidance = settings.guidance if settings.guidance is not None else self.default_guidance
        if (isinstance(self.family, Flux2Klein) and guidance and guidance > 1
                and not self.pipe.config.get("is_distilled", False)):
            prompt_embedding = dict(prompt_embedding, negative=self._negative_embedding())
        kwargs = self.family.call_kwargs(self.pipe, [_pil(i) for i in images], prompt_embedding, count, settings)
        parameters = inspect.signature(self.pipe.__call__).parameters
        if guidance is not None and "guidance_scale" in parameters:
            kwargs["guidance_scale"] = guidance
        for key, value in settings.extra.items():
            if key in parameters:
                kwargs[key] = value
        def step_end(pipe, step, timestep, tensors):
            if on_step:
                on_step(step + 1, steps)
            if should_stop and should_stop():
                # Raising here leaves the denoising loop at once, whatever the family supports
                # (InstructPix2Pix ignores the pipeline's own interrupt flag).
                raise CancelledError(f"cancelled at denoising step {step + 1} of {steps}")
            return tensors

        with self.family.batch_context(self.pipe), torch.no_grad():
            output = self.pipe(**kwargs, height=height, width=width, num_inference_steps=steps, generator=generators,
                               output_type="np", callback_on_step_end=step_end)
        array = np.asarray(output.images)
        return [np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8) for a in array]

    def close(self) -> None:
        import torch

        self.pipe = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _read_model_index(model: str) -> dict | None:
    path = Path(model)
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            raise ModelError(f"model {model!r}: directory has no model_index.json (not a diffusers pipeline)")
        try:
            data = json.loads(index.read_text())
        except (ValueError, OSError) as error:
            raise ModelError(f"{index}: not readable JSON ({first_line(error)})") from None
        if not isinstance(data, dict) or not isinstance(data.get("_class_name", ""), str):
            raise ModelError(f"{index}: expected a JSON object whose \"_class_name\" names a diffusers pipeline")
        return data
    return None


def check_pipeline_class(class_name: str, model: str) -> None:
    """Reject pipelines that take no input image before any weights are loaded."""
    import diffusers

    cls = getattr(diffusers, class_name, None)
    if cls is None:
        raise ModelError(f"model {model!r}: pipeline class {class_name!r} is not in diffusers {diffusers.__version__}")
    if "image" not in inspect.signature(cls.__call__).parameters:
        raise ModelError(
            f"model {model!r}: {class_name} takes no input image (text-to-image); use an image-editing pipeline "
            "such as Flux2KleinPipeline, QwenImageEditPipeline, FluxKontextPipeline or "
            "StableDiffusionInstructPix2PixPipeline"
        )


def load_diffusers_generator(model: str, device: str | None = None, dtype: str | None = None, lora: str | None = None,
                             cpu_offload: bool = False, trust_remote_code: bool = False,
                             transformer_weights: str | None = None, **options) -> DiffusersGenerator:
    """Load a pipeline by Hub id or local path (safetensors only) and wrap it as a generator. ``transformer_weights``
    (a .safetensors file, diffusers or DiffSynth naming) replaces the transformer's weights before ``lora`` loads."""
    import diffusers

    if options:
        raise InputError(f"unknown generator option(s): {', '.join(sorted(options))}")
    index = _read_model_index(model)
    if index is not None:
        check_pipeline_class(index.get("_class_name", ""), model)
    diffsynth.check_weight_files(lora, transformer_weights)  # before a large pipeline loads
    device = pick_device(device)
    dtype_value = pick_dtype(device, dtype)
    # diffusers 0.37 renamed torch_dtype to dtype.
    dtype_key = "dtype" if Version(diffusers.__version__) >= Version("0.37") else "torch_dtype"
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(
            model, use_safetensors=True, trust_remote_code=trust_remote_code, **{dtype_key: dtype_value})
    except (OSError, ValueError, SafetensorError) as error:
        raise ModelError(f"model {model!r}: cannot load the pipeline ({first_line(error)})") from None
    check_pipeline_class(type(pipe).__name__, model)
    # DiffSynth-named checkpoints (Edit2Perceive) are converted on load; see vb_plugins.generation.diffsynth.
    if transformer_weights:
        diffsynth.load_transformer_weights(pipe, transformer_weights)
    if lora:
        diffsynth.load_lora(pipe, lora)
    if cpu_offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    generator = DiffusersGenerator(pipe, family_for(type(pipe).__name__), model, device)
    generator.lora = lora
    generator.transformer_weights = transformer_weights
    trained_dialect = _lora_dialect(lora) if lora else None
    if trained_dialect:  # an adapter from `vb train` answers the prompts it was trained on
        generator.dialect = trained_dialect
    return generator


def _lora_dialect(lora: str) -> str | None:
    """The prompt dialect recorded in ``vb_lora.json`` beside an adapter trained with `vb train`."""
    path = Path(lora)
    record = (path if path.is_dir() else path.parent) / "vb_lora.json"
    if not record.is_file():
        return None
    try:
        return json.loads(record.read_text()).get("dialect")
    except (ValueError, AttributeError):
        return None


class DiffusersBackend(GeneratorBackend):
    name = "diffusers"
    description = "image-editing diffusers pipelines by Hugging Face Hub id or local directory"

    def can_load(self, model: str) -> bool:
        if not model:
            return False
        path = Path(model)
        if path.is_dir():
            return (path / "model_index.json").is_file()
        # A Hub id: "org/name" without a scheme; "./name" and the like are folders.
        parts = model.split("/")
        return (len(parts) == 2 and all(parts) and ":" not in model and not path.exists()
                and not looks_like_path(model))

    def load(self, model: str, **options) -> Generator:
        return load_diffusers_generator(model, **options)


@hookimpl
def vb_generators():
    return [DiffusersBackend()]
