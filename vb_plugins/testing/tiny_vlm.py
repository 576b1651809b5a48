"""Tiny random-weight vision-language models (Qwen2-VL, Qwen2.5-VL), built offline, for tests.

A real ``transformers`` model of the real class with a few hundred thousand parameters, a byte-level BPE
tokenizer with Qwen's special tokens, a Qwen2-VL image processor (images read as 2 x 2 merged vision tokens)
and a chat template that places the image the way Qwen's does. Saved with ``safe_serialization=True``, it
loads back with ``AutoProcessor`` + ``AutoModelForImageTextToText(use_safetensors=True)`` and no remote code,
so the local rewriter and presence-gate backends run end to end on it.

Weights are random, so the text it writes is random too. :func:`forced_answers` builds a logits processor
that makes it answer a chosen text (per question if need be), to test the plumbing around a real model:

    >>> from vb_plugins.testing.tiny_vlm import save_tiny_vlm, forced_answers
    >>> folder = save_tiny_vlm(tmp_path / "vlm")
    >>> from vb_plugins.reasoning import load_rewriter
    >>> answers = forced_answers(folder, "the red cup")
    >>> rewriter = load_rewriter(str(folder), generation_options={"logits_processor": answers})

From a shell: ``python -m vb_plugins.testing.tiny_vlm --out DIR [--family qwen2.5-vl]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from vb_plugins.errors import InputError, VBError
from vb_plugins.testing.tiny_pipeline import _qwen_tokenizer, require_qwen_vl_processor

FAMILIES = ("qwen2-vl", "qwen2.5-vl")

# The Qwen2-VL chat layout: a default system turn, image placeholders where the message puts them.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for item in message['content'] %}"
    "{%- if item['type'] == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif item['type'] == 'text' %}{{- item['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _text_config(tokenizer) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "rope_scaling": {"rope_type": "default", "mrope_section": [1, 1, 2]},
        "rope_theta": 1000000.0,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "pad_token_id": tokenizer.pad_token_id,
    }


def _special_ids(tokenizer) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    return {"image_token_id": ids("<|image_pad|>"), "video_token_id": ids("<|video_pad|>"),
            "vision_start_token_id": ids("<|vision_start|>"), "vision_end_token_id": ids("<|vision_end|>")}


def build_tiny_vlm(family: str = "qwen2-vl", seed: int = 0):
    """(model, processor) of a tiny random-weight ``family`` VLM on the CPU in float32 (see module docs)."""
    import torch
    import transformers

    if family not in FAMILIES:
        raise InputError(f"family {family!r}: unknown tiny VLM family; choose one of {', '.join(FAMILIES)}")
    require_qwen_vl_processor()  # transformers builds Qwen2VLProcessor only with torchvision
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tokenizer = _qwen_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    pixels = {"min_pixels": 28 * 28, "max_pixels": 56 * 56}
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                 video_processor=Qwen2VLVideoProcessor(**pixels), chat_template=CHAT_TEMPLATE)
    if family == "qwen2-vl":
        config = transformers.Qwen2VLConfig(
            text_config=_text_config(tokenizer),
            vision_config={"depth": 2, "embed_dim": 16, "hidden_size": 16, "mlp_ratio": 2, "num_heads": 2,
                           "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
            **_special_ids(tokenizer))
        model_class = transformers.Qwen2VLForConditionalGeneration
    else:
        config = transformers.Qwen2_5_VLConfig(
            text_config=_text_config(tokenizer),
            vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
                           "out_hidden_size": 16, "patch_size": 14, "spatial_merge_size": 2,
                           "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1]},
            **_special_ids(tokenizer))
        model_class = transformers.Qwen2_5_VLForConditionalGeneration
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = model_class(config).eval()
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, processor


def save_tiny_vlm(out_dir: str | Path, family: str = "qwen2-vl", seed: int = 0) -> Path:
    """Build the tiny ``family`` VLM and save it (safetensors, processor, chat template) to ``out_dir``."""
    out = Path(out_dir)
    model, processor = build_tiny_vlm(family, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def forced_answers(tokenizer_or_folder, answers: str | Mapping[str, str]):
    """A ``LogitsProcessorList`` that makes a model answer ``answers`` then stop: one text for every question,
    or ``{key: text}`` choosing the text whose key occurs in the question (the first that does; ``""`` as a key
    matches any question). Stateless: the same list serves any number of ``generate`` calls."""
    import torch
    from transformers import AutoTokenizer, LogitsProcessor, LogitsProcessorList

    tokenizer = tokenizer_or_folder
    if isinstance(tokenizer_or_folder, str | Path):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_or_folder)
    table = {"": answers} if isinstance(answers, str) else dict(answers)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    encoded = {key: tokenizer.encode(text, add_special_tokens=False) + [eos] for key, text in table.items()}
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    opening = len(tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False))

    class ForcedAnswer(LogitsProcessor):
        def __call__(self, input_ids, scores):
            forced = torch.full_like(scores, float("-inf"))
            for row, ids in enumerate(input_ids.tolist()):
                # The answer so far follows the last "<|im_start|>assistant\n"; the question precedes it.
                last = len(ids) - 1 - ids[::-1].index(start)
                question = tokenizer.decode(ids[:last])
                key = next((k for k in encoded if k and k in question), "" if "" in encoded else None)
                if key is None:
                    raise InputError(f"forced_answers: no answer for this question: {question[-120:]!r}")
                target = encoded[key]
                so_far = len(ids) - last - opening  # answer tokens already written
                forced[row, target[min(max(so_far, 0), len(target) - 1)]] = 0.0
            return forced

    return LogitsProcessorList([ForcedAnswer()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vb_plugins.testing.tiny_vlm",
                                     description="Write a tiny random-weight vision-language model (no download).")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--family", choices=FAMILIES, default="qwen2-vl")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        print(save_tiny_vlm(args.out, args.family, args.seed))
    except (VBError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
