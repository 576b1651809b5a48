"""Rewriters and presence gates on a local ``transformers`` vision-language model: Qwen2-VL, Qwen2.5-VL,
Qwen3-VL or any model whose processor has a chat template that takes an image
(``AutoModelForImageTextToText`` + ``AutoProcessor``), from a local folder or a Hub id already in the cache.

Weights load as safetensors only (``use_safetensors=True``) and remote code is never run
(``trust_remote_code=False``): a checkpoint that needs either is a one-line :class:`ModelError`.
Answers are greedy (``do_sample=False``). A rewrite is the decoded text of the new tokens; a presence score is
the probability the first answer token gives to "yes" against "no" (``p(yes) / (p(yes) + p(no))`` over the
spellings ``Yes``, ``yes``, ``YES``, with and without a leading space), so every answer has a score, whatever
text follows. ``generation_options`` go to ``model.generate`` (e.g. a ``logits_processor`` list).
"""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import numpy as np
from packaging.version import Version

from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation.base import first_line, looks_like_path
from vb_plugins.generation.bundled import pick_device
from vb_plugins.generation.diffusers_backend import pick_dtype
from vb_plugins.hookspecs import hookimpl
from vb_plugins.reasoning.answers import (
    AnswerError,
    Presence,
    Rewrite,
    decide,
    one_line,
    parse_presence,
    parse_rewrite,
    presence_prompt,
    rewrite_prompt,
)
from vb_plugins.reasoning.base import (
    DEFAULT_THRESHOLD,
    MEGAPIXELS,
    PresenceGate,
    PresenceGateBackend,
    Rewriter,
    RewriterBackend,
    check_threshold,
    fit_image,
)

REWRITE_TOKENS = 48
PRESENCE_TOKENS = 4
YES_WORDS = ("Yes", "yes", "YES")
NO_WORDS = ("No", "no", "NO")


def _check_folder(model: str) -> None:
    """One-line refusals, before anything loads, for a local folder that cannot be a safe VLM checkpoint."""
    path = Path(model)
    if not path.is_dir():
        return
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(f"vlm {model!r}: folder has no config.json (not a transformers model)")
    if not any(path.glob("*.safetensors")):
        pickled = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.pt*"))
        found = f" (found {', '.join(pickled[:3])}: pickled weights are refused)" if pickled else ""
        raise ModelError(f"vlm {model!r}: no .safetensors weights{found}")
    try:
        data = json.loads(config.read_text())
    except (ValueError, OSError) as error:
        raise ModelError(f"{config}: not readable JSON ({first_line(error)})") from None
    if isinstance(data, dict) and data.get("auto_map"):
        from transformers import CONFIG_MAPPING

        if data.get("model_type") not in CONFIG_MAPPING:
            raise ModelError(f"vlm {model!r}: model type {data.get('model_type')!r} needs the checkpoint's own "
                             "Python code (auto_map), which vb-plugins never runs (trust_remote_code is off)")


class TransformersVLM:
    """A chat vision-language model that answers a question about one image at a time.

    ``device``: ``cpu``, ``cuda``, ``cuda:1``, ``mps`` (default: the best available); ``dtype``: ``float32``,
    ``bfloat16``, ``float16`` (default: bfloat16 on CUDA, float32 elsewhere).
    """

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 generation_options: dict | None = None, megapixels: float = MEGAPIXELS):
        import torch
        import transformers
        from transformers import AutoModelForImageTextToText, AutoProcessor

        _check_folder(model)
        self.device = pick_device(device)
        torch_dtype = pick_dtype(self.device, dtype)
        self.name = f"transformers:{model}"
        self.model_id = model
        # transformers 4.56 renamed torch_dtype to dtype.
        dtype_key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
        try:
            self.processor = AutoProcessor.from_pretrained(model, trust_remote_code=False)
            self.model = AutoModelForImageTextToText.from_pretrained(
                model, use_safetensors=True, trust_remote_code=False, **{dtype_key: torch_dtype})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(f"vlm {model!r}: cannot load ({first_line(error)})") from None
        tokenizer = getattr(self.processor, "tokenizer", None)
        template = getattr(self.processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)
        if getattr(self.processor, "image_processor", None) is None or tokenizer is None:
            raise ModelError(f"vlm {model!r}: its processor takes no images (need a vision-language model)")
        if not template:
            raise ModelError(f"vlm {model!r}: has no chat template (need a chat / instruct checkpoint)")
        self.tokenizer = tokenizer
        self.model.to(self.device).eval()
        self.generation_options = dict(generation_options or {})
        self.megapixels = float(megapixels)
        self.calls = 0  # questions answered (model.generate calls)
        self._yes = _first_tokens(tokenizer, YES_WORDS)
        self._no = _first_tokens(tokenizer, NO_WORDS) - self._yes
        self._torch = torch

    def __repr__(self) -> str:
        return f"TransformersVLM({self.model_id!r}, device={self.device!r})"

    def ask(self, image: np.ndarray, prompt: str, max_new_tokens: int, scores: bool = False):
        """(answer text, first-token scores or None) for ``prompt`` about ``image`` (uint8 RGB)."""
        from PIL import Image

        torch = self._torch
        try:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            picture = Image.fromarray(np.ascontiguousarray(fit_image(np.asarray(image, np.uint8), self.megapixels)))
            inputs = self.processor(text=[text], images=[picture], return_tensors="pt").to(self.device)
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                             return_dict_in_generate=True, output_scores=scores,
                                             **self.generation_options)
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as error:
            raise ModelError(one_line(f"{self.name}: answering failed: {type(error).__name__}: "
                                      f"{first_line(error)}", 600)) from None
        self.calls += 1
        new = output.sequences[0, inputs["input_ids"].shape[1]:]
        answer = self.tokenizer.decode(new, skip_special_tokens=True)
        first = output.scores[0][0].float() if scores and output.scores else None
        return answer, first

    def yes_probability(self, first_scores) -> float | None:
        """p(yes) / (p(yes) + p(no)) from the first answer token's scores; None when neither can be said."""
        if first_scores is None or not self._yes or not self._no:
            return None
        torch = self._torch
        log_p = torch.log_softmax(first_scores, dim=-1)
        yes = torch.logsumexp(log_p[sorted(self._yes)], dim=0)
        no = torch.logsumexp(log_p[sorted(self._no)], dim=0)
        if not (torch.isfinite(yes) or torch.isfinite(no)):
            return None
        return float(torch.sigmoid(yes - no)) if math.isfinite(float(yes - no)) else float(yes > no)

    def close(self) -> None:
        self.model = None
        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def _first_tokens(tokenizer, words) -> set[int]:
    ids = set()
    for word in words:
        for spelling in (word, " " + word):
            encoded = tokenizer.encode(spelling, add_special_tokens=False)
            if encoded:
                ids.add(int(encoded[0]))
    return ids


class TransformersRewriter(Rewriter):
    def __init__(self, vlm: TransformersVLM, max_new_tokens: int = REWRITE_TOKENS):
        self.vlm = vlm
        self.name = vlm.name
        self.max_new_tokens = int(max_new_tokens)

    def rewrite(self, image: np.ndarray, query: str) -> Rewrite:
        answer, _ = self.vlm.ask(image, rewrite_prompt(query), self.max_new_tokens)
        try:
            expression = parse_rewrite(answer)
        except AnswerError as reason:
            raise ModelError(one_line(f"{self.name}: rewriting {query!r}: {reason}; it answered "
                                      f"{one_line(answer, 120)!r}", 600)) from None
        return Rewrite(query, expression, one_line(answer), self.name)

    def close(self) -> None:
        self.vlm.close()


class TransformersGate(PresenceGate):
    def __init__(self, vlm: TransformersVLM, threshold: float = DEFAULT_THRESHOLD):
        self.vlm = vlm
        self.name = vlm.name
        self.threshold = check_threshold(threshold)

    def presence(self, image: np.ndarray, phrase: str) -> Presence:
        answer, first = self.vlm.ask(image, presence_prompt(phrase), PRESENCE_TOKENS, scores=True)
        score = self.vlm.yes_probability(first)
        try:
            present, score = decide(parse_presence(answer)[0], score, self.threshold)
        except AnswerError as reason:
            raise ModelError(one_line(f"{self.name}: presence of {phrase!r}: {reason}; it answered "
                                      f"{one_line(answer, 120)!r}", 600)) from None
        return Presence(phrase, present, score, one_line(answer), self.name)

    def close(self) -> None:
        self.vlm.close()


_OPTIONS = {"device", "dtype", "generation_options", "megapixels"}


def _vlm(model: str, options: dict) -> TransformersVLM:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise InputError(f"vlm {model!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}")
    return TransformersVLM(model, **{k: v for k, v in options.items() if v is not None})


def _can_load(model: str) -> bool:
    if not model:
        return False
    path = Path(model)
    if path.is_dir():
        return (path / "config.json").is_file()
    parts = model.split("/")  # a Hub id: "org/name"
    return len(parts) == 2 and all(parts) and ":" not in model and not path.exists() and not looks_like_path(model)


class TransformersRewriterBackend(RewriterBackend):
    name = "transformers"
    description = "a local transformers vision-language model (Qwen2.5-VL, Qwen3-VL, ...) by folder or cached Hub id"

    def can_load(self, model: str) -> bool:
        return _can_load(model)

    def load(self, model: str, **options) -> TransformersRewriter:
        options = dict(options)
        tokens = options.pop("max_new_tokens", REWRITE_TOKENS)
        return TransformersRewriter(_vlm(model, options), tokens)


class TransformersGateBackend(PresenceGateBackend):
    name = "transformers"
    description = TransformersRewriterBackend.description

    def can_load(self, model: str) -> bool:
        return _can_load(model)

    def load(self, model: str, **options) -> TransformersGate:
        options = dict(options)
        threshold = check_threshold(options.pop("threshold", DEFAULT_THRESHOLD))
        return TransformersGate(_vlm(model, options), threshold)



@hookimpl
def vb_rewriters():
    return [TransformersRewriterBackend()]


@hookimpl
def vb_presence_gates():
    return [TransformersGateBackend()]

__all__ = ["TransformersVLM", "TransformersRewriter", "TransformersGate", "TransformersRewriterBackend",
           "TransformersGateBackend"]
