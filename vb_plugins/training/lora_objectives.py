"""The flow-matching objective for image-editing diffusers pipelines, one class per model family.

All three families are rectified flows in a packed latent space: the target image is encoded by the
pipeline's VAE (with the family's latent normalisation) and packed into tokens of 2 x 2 latent patches,
one token per 16 x 16 pixels; the input image is encoded the same way and appended to the token
sequence as reference tokens. With sigma in [0, 1] (the pipelines pass ``timestep / 1000 = sigma`` to
the transformer) the noisy sample is ``x = (1 - sigma) * latents + sigma * noise`` and the transformer
predicts the velocity ``noise - latents`` for the output tokens. Each class reproduces what its
pipeline's ``__call__`` feeds the transformer (position ids, guidance, text embeddings), so an adapter
trained here is used at inference exactly as it was trained.

- ``flux2-klein`` (``Flux2KleinPipeline``): VAE latents patchified and batch-normalised with the VAE's
  running statistics; reference tokens at time coordinate 10; no guidance input.
- ``flux-kontext`` (``FluxKontextPipeline``): VAE latents shifted and scaled; reference ids with first
  coordinate 1; the embedded guidance scale (the generator's default, 2.5, unless set); CLIP pooled + T5.
- ``qwen-image-edit`` (``QwenImageEditPipeline`` and ``...PlusPipeline``): the reference image is
  VAE-encoded at ~1 megapixel as the pipeline does whatever the output size; the text encoder is a
  vision-language model that reads the input image with the prompt, so prompt embeddings are per
  (prompt, image), and padded per batch with an attention mask.

Sigmas are drawn from a logit-normal (as in SD3/FLUX training and the VBNet trainer), optionally
shifted towards noise (``timestep_shift``: a number, or ``"auto"`` for the resolution-dependent shift
the pipeline's scheduler applies at inference).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np
import torch
from PIL import Image

from vb_plugins.errors import InputError

PIXELS_PER_TOKEN = 16  # VAE downsampling 8 x latent patches 2 (all supported families)


class PromptCache:
    """Least-recently-used cache of prompt embeddings (each distinct prompt is encoded once while it stays).

    Real text encoders give megabytes per prompt (FLUX.2 klein: 512 x 7680 values), and randomised
    colour legends make many distinct prompts, so the cache is bounded.
    """

    def __init__(self, encode, size: int = 256):
        self.encode = encode
        self.size = max(1, int(size))
        self.entries: OrderedDict = OrderedDict()
        self.encodings = 0

    def __call__(self, key, *args):
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        with torch.no_grad():
            value = self.encode(*args)
        self.encodings += 1
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


class FlowObjective:
    """Shared flow-matching loss; subclasses say how their pipeline encodes images and text and calls its
    transformer. ``settings`` is the ``diffusers:`` section of the training config."""

    family = ""

    def __init__(self, pipe, settings: dict | None = None):
        settings = dict(settings or {})
        self.pipe = pipe
        self.device = pipe._execution_device
        self.dtype = pipe.transformer.dtype
        self.logit_mean = float(settings.get("logit_mean", 0.0))
        self.logit_std = float(settings.get("logit_std", 1.0))
        self.timestep_shift = settings.get("timestep_shift")
        if self.timestep_shift not in (None, "auto") and not float(self.timestep_shift) > 0:
            raise InputError(f"diffusers.timestep_shift={self.timestep_shift!r}: expected a positive number or 'auto'")
        self.text = PromptCache(self._encode_text, int(settings.get("prompt_cache", 256)))

    # --- what differs between families -------------------------------------------------------------
    def _encode_text(self, prompt: str, image: np.ndarray | None) -> dict:
        raise NotImplementedError

    def text_key(self, prompt: str, image: np.ndarray):
        return prompt

    def encode_target(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> packed latents (B, H*W/256, C)."""
        raise NotImplementedError

    def encode_reference(self, images: list[np.ndarray]) -> dict:
        raise NotImplementedError

    def velocity(self, noisy: torch.Tensor, sigma: torch.Tensor, text: list[dict], reference: dict,
                 size: tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError

    def inference_shift_mu(self, tokens: int) -> float:
        from diffusers.pipelines.flux.pipeline_flux_kontext import calculate_shift

        config = self.pipe.scheduler.config
        return calculate_shift(tokens, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                               config.get("base_shift", 0.5), config.get("max_shift", 1.15))

    # --- shared --------------------------------------------------------------------------------------
    def sample_sigmas(self, count: int, tokens: int, generator: torch.Generator, terminal_fraction: float = 0.0):
        sigma = torch.sigmoid(self.logit_mean + self.logit_std *
                              torch.randn(count, generator=generator, device=generator.device))
        if self.timestep_shift == "auto":
            shift = math.exp(self.inference_shift_mu(tokens))
        else:
            shift = float(self.timestep_shift or 1.0)
        if shift != 1.0:
            sigma = shift * sigma / (1 + (shift - 1) * sigma)
        if terminal_fraction > 0:
            terminal = torch.rand(count, generator=generator, device=generator.device) < terminal_fraction
            sigma = torch.where(terminal, torch.ones_like(sigma), sigma)
        return sigma

    def loss(self, images: np.ndarray, targets: np.ndarray, weights: np.ndarray, prompts: list[str],
             generator: torch.Generator, terminal_fraction: float = 0.0) -> torch.Tensor:
        """Weighted velocity MSE for a batch: ``images``/``targets`` uint8 (B, H, W, 3), ``weights`` float
        (B, H, W) with 0 where the ground truth is missing; H and W multiples of 16."""
        height, width = targets.shape[1:3]
        with torch.no_grad():
            target = self.encode_target(_pixels(targets, self.device, self.pipe.vae.dtype)).float()
            reference = self.encode_reference(list(images))
        text = [self.text(self.text_key(p, i), p, i) for p, i in zip(prompts, images)]
        noise = torch.randn(target.shape, generator=generator, device=target.device)
        sigma = self.sample_sigmas(target.shape[0], target.shape[1], generator, terminal_fraction)
        noisy = (1 - sigma)[:, None, None] * target + sigma[:, None, None] * noise
        predicted = self.velocity(noisy.to(self.dtype), sigma.to(self.dtype), text, reference, (height, width))
        error = ((predicted.float() - (noise - target)) ** 2).mean(dim=2)
        token_weight = torch.nn.functional.avg_pool2d(
            torch.as_tensor(np.asarray(weights, np.float32), device=error.device)[:, None], PIXELS_PER_TOKEN
        ).flatten(1)
        return (error * token_weight).sum() / token_weight.sum().clamp_min(1e-6)


def _pixels(images: np.ndarray, device, dtype) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> (B, 3, H, W) in [-1, 1], as the pipelines' image processors normalise."""
    array = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return (array.permute(0, 3, 1, 2).float() / 127.5 - 1).to(dtype)


def _stack_text(text: list[dict], key: str) -> torch.Tensor:
    return torch.cat([t[key] for t in text], dim=0)


class Flux2KleinObjective(FlowObjective):
    family = "flux2-klein"

    def _encode_text(self, prompt, image):
        embeds, text_ids = self.pipe.encode_prompt(prompt=prompt, device=self.device)
        return {"embeds": embeds, "ids": text_ids}

    def encode_target(self, pixels):
        return self.pipe._pack_latents(self.pipe._encode_vae_image(pixels, generator=None))

    def encode_reference(self, images):
        # One reference image per sample, as the generator batches klein (same ids for every sample).
        latents = self.pipe._encode_vae_image(_pixels(np.stack(images), self.device, self.pipe.vae.dtype), None)
        ids = self.pipe._prepare_image_ids([latents[:1]]).to(self.device)
        return {"latents": self.pipe._pack_latents(latents), "ids": ids.expand(len(images), -1, -1)}

    def inference_shift_mu(self, tokens):
        from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu

        steps = 4 if self.pipe.config.get("is_distilled", False) else 28  # the generator's defaults
        return compute_empirical_mu(image_seq_len=tokens, num_steps=steps)

    def velocity(self, noisy, sigma, text, reference, size):
        height, width = size
        grid = torch.zeros(noisy.shape[0], 1, height // PIXELS_PER_TOKEN, width // PIXELS_PER_TOKEN)
        latent_ids = self.pipe._prepare_latent_ids(grid).to(self.device)
        out = self.pipe.transformer(
            hidden_states=torch.cat([noisy, reference["latents"].to(self.dtype)], dim=1),
            timestep=sigma,
            guidance=None,
            encoder_hidden_states=_stack_text(text, "embeds").to(self.dtype),
            txt_ids=_stack_text(text, "ids"),
            img_ids=torch.cat([latent_ids, reference["ids"]], dim=1),
            return_dict=False,
        )[0]
        return out[:, : noisy.shape[1]]


class FluxKontextObjective(FlowObjective):
    family = "flux-kontext"

    def __init__(self, pipe, settings=None):
        super().__init__(pipe, settings)
        self.guidance = float((settings or {}).get("guidance", 2.5))  # the generator's default for Kontext

    def _encode_text(self, prompt, image):
        embeds, pooled, text_ids = self.pipe.encode_prompt(prompt=prompt, prompt_2=None, device=self.device)
        return {"embeds": embeds, "pooled": pooled, "ids": text_ids}

    def _pack(self, latents):
        batch, channels, height, width = latents.shape
        return self.pipe._pack_latents(latents, batch, channels, height, width)

    def encode_target(self, pixels):
        return self._pack(self.pipe._encode_vae_image(pixels, generator=None))

    def encode_reference(self, images):
        latents = self.pipe._encode_vae_image(_pixels(np.stack(images), self.device, self.pipe.vae.dtype), None)
        height, width = latents.shape[2:]
        ids = self.pipe._prepare_latent_image_ids(1, height // 2, width // 2, self.device, self.dtype)
        ids[..., 0] = 1  # reference tokens: first coordinate 1, as FluxKontextPipeline.prepare_latents
        return {"latents": self._pack(latents), "ids": ids}

    def velocity(self, noisy, sigma, text, reference, size):
        height, width = size
        latent_ids = self.pipe._prepare_latent_image_ids(1, height // PIXELS_PER_TOKEN, width // PIXELS_PER_TOKEN,
                                                         self.device, self.dtype)
        guidance = None
        if self.pipe.transformer.config.guidance_embeds:
            guidance = torch.full((noisy.shape[0],), self.guidance, device=self.device, dtype=torch.float32)
        out = self.pipe.transformer(
            hidden_states=torch.cat([noisy, reference["latents"].to(self.dtype)], dim=1),
            timestep=sigma,
            guidance=guidance,
            pooled_projections=_stack_text(text, "pooled").to(self.dtype),
            encoder_hidden_states=_stack_text(text, "embeds").to(self.dtype),
            txt_ids=text[0]["ids"],
            img_ids=torch.cat([latent_ids, reference["ids"]], dim=0),
            return_dict=False,
        )[0]
        return out[:, : noisy.shape[1]]


def _area_size(area: int, width: int, height: int) -> tuple[int, int]:
    """(width, height) of about ``area`` pixels with the aspect ratio of ``width`` x ``height``, multiples of
    32: the Qwen-Image-Edit pipelines' ``calculate_dimensions``."""
    ratio = width / height
    new_width = math.sqrt(area * ratio)
    return int(round(new_width / 32) * 32), int(round(new_width / ratio / 32) * 32)


class QwenImageEditObjective(FlowObjective):
    family = "qwen-image-edit"
    reference_area = 1024 * 1024  # the pipelines VAE-encode the input at ~1 MP whatever the output size

    def __init__(self, pipe, settings=None):
        super().__init__(pipe, settings)
        self.plus = type(pipe).__name__ == "QwenImageEditPlusPipeline"
        # What the vision-language text encoder sees: Plus resizes to ~384^2, Edit passes the 1 MP image.
        self.prompt_area = 384 * 384 if self.plus else self.reference_area

    def _pil(self, image: np.ndarray, area: int):
        pil = Image.fromarray(np.ascontiguousarray(image))
        width, height = _area_size(area, *pil.size)
        return self.pipe.image_processor.resize(pil, height, width), (width, height)

    def text_key(self, prompt, image):
        return prompt, hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest(), image.shape

    def _encode_text(self, prompt, image):
        seen, _ = self._pil(image, self.prompt_area)
        embeds, _ = self.pipe.encode_prompt(prompt=[prompt], image=[seen] if self.plus else seen,
                                               device=self.device)
        return {"embeds": embeds}

    def _encode_latents(self, pixels):  # (B, 3, H, W) -> packed (B, N, 4C)
        latents = self.pipe._encode_vae_image(pixels.unsqueeze(2), generator=None)
        batch, channels, _, height, width = latents.shape
        return self.pipe._pack_latents(latents, batch, channels, height, width)

    def encode_target(self, pixels):
        return self._encode_latents(pixels)

    def encode_reference(self, images):
        resized = [self._pil(image, self.reference_area) for image in images]
        width, height = resized[0][1]
        pixels = torch.cat([self.pipe.image_processor.preprocess(pil, height, width) for pil, _ in resized])
        return {"latents": self._encode_latents(pixels.to(self.device, self.pipe.vae.dtype)), "size": (height, width)}

    def velocity(self, noisy, sigma, text, reference, size):
        height, width = size
        ref_height, ref_width = reference["size"]
        longest = max(t["embeds"].shape[1] for t in text)
        embeds = torch.cat([torch.nn.functional.pad(t["embeds"], (0, 0, 0, longest - t["embeds"].shape[1]))
                            for t in text])
        mask = torch.tensor([[1] * t["embeds"].shape[1] + [0] * (longest - t["embeds"].shape[1]) for t in text],
                            device=self.device)
        shapes = [[(1, height // PIXELS_PER_TOKEN, width // PIXELS_PER_TOKEN),
                   (1, ref_height // PIXELS_PER_TOKEN, ref_width // PIXELS_PER_TOKEN)]] * noisy.shape[0]
        out = self.pipe.transformer(
            hidden_states=torch.cat([noisy, reference["latents"].to(self.dtype)], dim=1),
            timestep=sigma,
            guidance=None,
            encoder_hidden_states=embeds.to(self.dtype),
            encoder_hidden_states_mask=None if bool(mask.all()) else mask,
            img_shapes=shapes,
            return_dict=False,
        )[0]
        return out[:, : noisy.shape[1]]


OBJECTIVES: dict[str, type[FlowObjective]] = {
    cls.family: cls for cls in (Flux2KleinObjective, FluxKontextObjective, QwenImageEditObjective)
}


def objective_for(pipe, family: str, settings: dict | None = None) -> FlowObjective:
    return OBJECTIVES[family](pipe, settings)


def default_target_modules(transformer) -> list[str]:
    """Every linear layer inside the transformer's attention modules (query, key, value, output projections of
    the image and text streams, and the fused projections of FLUX.2's single-stream blocks)."""
    return sorted(name for name, module in transformer.named_modules()
                  if isinstance(module, torch.nn.Linear) and ".attn." in f".{name}")
