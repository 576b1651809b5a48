"""Tiny random-weight diffusers image-editing pipelines, built offline, for tests.

Each supported model family gets a real diffusers pipeline of the real class, with every component
(tokenizers, text encoders, transformer or UNet, VAE, scheduler) built in code, a few hundred
thousand parameters or less each. Nothing is downloaded. The pipelines survive
``save_pretrained(..., safe_serialization=True)`` and load back with
``DiffusionPipeline.from_pretrained(path, use_safetensors=True)`` without remote code, so tests of
anything that loads "a model by path" can use them, including third-party plugin tests.

    >>> from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline, fast_call_kwargs
    >>> pipe = build_tiny_pipeline("flux-kontext", seed=0)
    >>> out = pipe(image=image, prompt="paint a depth map", num_inference_steps=2,
    ...            **fast_call_kwargs("flux-kontext", *image.size)).images[0]

From a shell: ``python -m vb_plugins.testing.tiny_pipeline --family flux2-klein --out DIR``.

A 2-step edit of a 64 x 80 image takes about 0.1 s on a CPU, except with Qwen-Image-Edit, whose
pipeline always encodes the input image at ~1 megapixel (about 2 s). Qwen-Image-Edit also needs an
importable torchvision (see :func:`require_qwen_vl_processor`).

What is kept real, because generation code depends on it: the pipeline classes and their call
signatures, the resolution multiples (VAE downsampling 8, latent patches 2 x 2, so sizes are
multiples of 16 except InstructPix2Pix's 8), the chat templates and special tokens the pipelines
insert (the Qwen-Image-Edit system prompt is 64 tokens, as the pipeline assumes), the hidden-state
layers FLUX.2 klein reads (9, 18, 27), guidance-distillation flags of the public checkpoints, and the
scheduler classes. Weights are random: the images are noise-like and depend only weakly on the
prompt, but shapes, determinism and batching behave as with the real models.

Weights are a deterministic function of ``seed``; building does not disturb the caller's global
torch random state.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Callable

from vb_plugins.errors import InputError, ModelError, VBError

FAMILIES: tuple[str, ...] = ("flux2-klein", "qwen-image-edit", "flux-kontext", "instruct-pix2pix")

# Words that get whole-word BPE tokens, so prompts tokenize to realistic lengths (about one token per
# word, as with the real tokenizers) instead of one token per byte. Anything else still tokenizes, byte
# by byte. The list covers the pipelines' own prompt templates and this project's prompts.
_WORDS = (
    "a an the and or of in on to into with without for from by as at is are be it its this that these those "
    "each every all any no not only then than how what which where when who while new same other own more most "
    "image images picture photo scene input output original user users text instruction instructions prompt "
    "describe key features color colour colors colours shape size texture objects object background foreground "
    "explain should alter modify generate meets requirements maintaining consistency where appropriate "
    "make turn paint draw render show visualize visualization estimate predict convert replace keep change "
    "depth normal normals surface map maps metric relative near far close distance camera "
    "segment segmentation semantic instance referring mask masks label labels class classes region pixel pixels "
    "red green blue yellow cyan magenta white black gray grey orange purple pink brown "
    "cat cats dog dogs person people car cars tree trees sky road building house wall floor table chair "
    "cup bottle plant grass water window door light dark bright style"
).split()

_QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
)

# Qwen3-style chat template: what Flux2KleinPipeline renders with enable_thinking=False.
_QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)


# --------------------------------------------------------------------------------------------------
# Tokenizers (all built from in-code vocabularies)
# --------------------------------------------------------------------------------------------------


def _whole_piece_merges(pieces: list[list[str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """BPE merges under which each piece (a list of initial symbols) encodes to exactly one token.

    Pieces are taken in order: each is first segmented with the merges so far (lowest rank first, as
    BPE does), then the resulting parts are joined left to right by new, lower-priority merges. A
    piece that already fully merges gets none, and later merges never win over an earlier piece's
    own, so every piece stays one token. Returns (new tokens, merges in rank order).
    """
    ranks: dict[tuple[str, str], int] = {}
    tokens: list[str] = []
    for symbols in pieces:
        parts = list(symbols)
        while len(parts) > 1:  # apply existing merges, lowest rank first
            ranked = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            ranked = [(rank, i) for rank, i in ranked if rank is not None]
            if not ranked:
                break
            _, i = min(ranked)
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        current = parts[0]
        for part in parts[1:]:
            ranks[(current, part)] = len(ranks)
            current += part
            tokens.append(current)
    return tokens, sorted(ranks, key=ranks.__getitem__)


def _byte_alphabet() -> list[str]:
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _qwen_tokenizer():
    """Byte-level BPE like Qwen2/Qwen3/Qwen2.5-VL: 256 byte tokens, whole-word merges, Qwen special tokens.

    The Qwen-Image-Edit system prompt tokenizes as with the real tokenizer (64 tokens up to the
    user turn, which the pipeline drops), so prompt embeddings hold the vision and prompt tokens.
    """
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    words = list(dict.fromkeys(_WORDS + [w.capitalize() for w in _WORDS] + ["system", "user", "assistant"]))
    # ByteLevel maps a leading space to "Ġ"; Qwen's pre-tokenizer keeps it attached to the word, and
    # splits English contractions and space-led punctuation into pieces of their own.
    pieces = [["Ġ", *w] for w in words] + [list(w) for w in words]
    pieces += [list(p) for p in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "),", ").", "Ġ(", "Ġ\"", "ĊĊ")]
    piece_tokens, merges = _whole_piece_merges(pieces)
    tokens = list(dict.fromkeys(_byte_alphabet() + piece_tokens + list(_QWEN_SPECIAL_TOKENS)))
    tokenizer = Qwen2Tokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, model_max_length=32768)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in _QWEN_SPECIAL_TOKENS],
                         special_tokens=True)
    tokenizer.chat_template = _QWEN3_CHAT_TEMPLATE
    return tokenizer


def _clip_tokenizer():
    """CLIP-style byte-level BPE (lower-cased, ``</w>`` word ends), 77-token context."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    piece_tokens, merges = _whole_piece_merges([[*w[:-1], w[-1] + "</w>"] for w in _WORDS if len(w) > 1])
    specials = ["<|startoftext|>", "<|endoftext|>"]
    tokens = list(dict.fromkeys(alphabet + [a + "</w>" for a in alphabet] + piece_tokens + specials))
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, model_max_length=77)


def _t5_tokenizer():
    """T5-style Unigram: whole words as ``▁word`` pieces, single characters as fallback."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    pieces += [("▁" + w, -5.0) for w in _WORDS] + [("▁" + w.capitalize(), -5.0) for w in _WORDS]
    pieces += [(chr(c), -10.0) for c in range(33, 127)]
    pieces += [("▁" + chr(c), -9.0) for c in range(33, 127)]
    scores: dict[str, float] = {}
    for piece, score in pieces:
        scores.setdefault(piece, score)  # the first score wins: whole words beat "▁" + letter
    pieces = list(scores.items())
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


# --------------------------------------------------------------------------------------------------
# Shared tiny parts
# --------------------------------------------------------------------------------------------------

_LATENT_CHANNELS = 4
_VAE_BLOCKS = (8, 8, 16, 16)  # four levels: 8x downsampling, as in the real VAEs


def _tiny_autoencoder_kl(cls, **extra):
    """An ``AutoencoderKL``-shaped VAE (also used for ``AutoencoderKLFlux2``) with 8x downsampling."""
    return cls(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(_VAE_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(_VAE_BLOCKS),
        block_out_channels=_VAE_BLOCKS,
        layers_per_block=1,
        latent_channels=_LATENT_CHANNELS,
        norm_num_groups=4,
        sample_size=64,
        **extra,
    )


def _amplify_text_attention(blocks, key_scale: float, value_scale: float) -> None:
    """Make the text stream of dual-stream DiT blocks count in attention, so prompts visibly matter.

    Text keys are RMS-normalised, so scaling the norm's weight sharpens attention to text tokens;
    scaling the text value projection enlarges what they contribute.
    """
    import torch

    with torch.no_grad():
        for block in blocks:
            block.attn.norm_added_k.weight.mul_(key_scale)
            block.attn.add_v_proj.weight.mul_(value_scale)


def _flow_match_scheduler(**config):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**config)


# --------------------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------------------


def _flux2_klein_components(seeded: Callable[[int], Any]) -> dict[str, Any]:
    """FLUX.2 [klein]: Qwen3 causal LM text encoder (3 hidden layers stacked), Flux2 DiT, Flux2 VAE."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = _qwen_tokenizer()
    text_hidden = 16
    with seeded(1):
        # 27 layers so the pipeline's default text_encoder_out_layers=(9, 18, 27) works unchanged.
        text_encoder = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden,
            intermediate_size=32,
            num_hidden_layers=27,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        ))
    with seeded(2):
        transformer = Flux2Transformer2DModel(
            patch_size=1,
            in_channels=_LATENT_CHANNELS * 4,  # 2 x 2 latent patches
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=3 * text_hidden,
            timestep_guidance_channels=32,
            axes_dims_rope=(4, 4, 4, 4),
            guidance_embeds=False,
        )
        # 512 padded text tokens of which ~20 carry the prompt: amplified, the prompt changes a 2-step
        # output by ~0.05 instead of ~0.01.
        _amplify_text_attention(transformer.transformer_blocks, key_scale=4.0, value_scale=4.0)
    with seeded(3):
        vae = _tiny_autoencoder_kl(AutoencoderKLFlux2, use_quant_conv=False, use_post_quant_conv=False)
    scheduler = _flow_match_scheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )
    # The public 4B/9B klein checkpoints are step-distilled (no CFG pass); is_distilled=False gives the "base" ones.
    return {"scheduler": scheduler, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "transformer": transformer, "is_distilled": True}


def _qwen_image_edit_components(seeded: Callable[[int], Any]) -> dict[str, Any]:
    """Qwen-Image-Edit: Qwen2.5-VL (text + vision) encoder with its processor, QwenImage DiT, causal 3D VAE."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    require_qwen_vl_processor()
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tokenizer = _qwen_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    text_hidden = 16
    # The VL encoder sees the edited image at 56 x 56 (4 merged vision tokens) whatever its size.
    pixels = {"min_pixels": 28 * 28, "max_pixels": 56 * 56}
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                 video_processor=Qwen2VLVideoProcessor(**pixels))
    with seeded(1):
        text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": text_hidden,
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
            },
            vision_config={
                "depth": 2,
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_heads": 2,
                "out_hidden_size": text_hidden,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
                "window_size": 56,
                "fullatt_block_indexes": [1],
            },
            image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        ))
    with seeded(2):
        transformer = QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=_LATENT_CHANNELS * 4,
            out_channels=_LATENT_CHANNELS,
            num_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=text_hidden,
            guidance_embeds=False,
            axes_dims_rope=(8, 4, 4),
        )
        # ~4000 tokens of the ~1 MP conditioning image face ~20 text tokens: plain random attention would
        # all but ignore the prompt (max output change 3e-5 instead of 0.06).
        _amplify_text_attention(transformer.transformer_blocks, key_scale=8.0, value_scale=4.0)
    with seeded(3):
        vae = AutoencoderKLQwenImage(
            base_dim=8,
            z_dim=_LATENT_CHANNELS,
            dim_mult=[1, 2, 2, 2],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],  # three spatial downsamplings: 8x, as the real VAE
            latents_mean=[0.0] * _LATENT_CHANNELS,
            latents_std=[1.0] * _LATENT_CHANNELS,
        )
    scheduler = _flow_match_scheduler(
        shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
        base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential",
    )
    return {"scheduler": scheduler, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "processor": processor, "transformer": transformer}


def require_qwen_vl_processor() -> None:
    """Raise :class:`ModelError` unless a ``Qwen2VLProcessor`` can be built here (it needs torchvision).

    transformers 5 builds ``Qwen2VLProcessor`` (which ``QwenImageEditPipeline`` requires, tiny or real)
    only together with a ``Qwen2VLVideoProcessor``, and video processors import torchvision.
    """
    try:
        import torchvision.transforms.v2.functional  # noqa: F401
    except Exception as error:  # ImportError, or a torchvision whose compiled ops do not match torch
        raise ModelError(
            f"qwen-image-edit: needs an importable torchvision matching torch (transformers builds "
            f"Qwen2VLProcessor only with its torchvision-based video processor); import failed: {error}"
        ) from None


def _clip_text_encoder(tokenizer, seeded: Callable[[int], Any], offset: int, hidden: int = 16):
    from transformers import CLIPTextConfig, CLIPTextModel

    with seeded(offset):
        return CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            projection_dim=hidden,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ))


def _flux_kontext_components(seeded: Callable[[int], Any]) -> dict[str, Any]:
    """FLUX.1 Kontext: CLIP (pooled) + T5 (sequence) text encoders, guidance-distilled Flux DiT, Flux VAE."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = _clip_tokenizer()
    tokenizer_2 = _t5_tokenizer()
    text_encoder = _clip_text_encoder(tokenizer, seeded, 1)
    with seeded(2):
        text_encoder_2 = T5EncoderModel(T5Config(
            vocab_size=len(tokenizer_2),
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_heads=2,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            pad_token_id=tokenizer_2.pad_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
            decoder_start_token_id=tokenizer_2.pad_token_id,
        ))
    with seeded(3):
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=_LATENT_CHANNELS * 4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=16,
            pooled_projection_dim=16,
            axes_dims_rope=(4, 6, 6),
            guidance_embeds=True,  # FLUX.1 Kontext [dev] is guidance-distilled
        )
    with seeded(4):
        vae = _tiny_autoencoder_kl(AutoencoderKL, use_quant_conv=False, use_post_quant_conv=False,
                                   scaling_factor=0.3611, shift_factor=0.1159)
    scheduler = _flow_match_scheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )
    return {"scheduler": scheduler, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "text_encoder_2": text_encoder_2, "tokenizer_2": tokenizer_2, "transformer": transformer,
            "image_encoder": None, "feature_extractor": None}


def _instruct_pix2pix_components(seeded: Callable[[int], Any]) -> dict[str, Any]:
    """InstructPix2Pix: CLIP text encoder, 8-channel-input SD UNet (noise + image latents), SD VAE."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel

    tokenizer = _clip_tokenizer()
    text_encoder = _clip_text_encoder(tokenizer, seeded, 1)
    with seeded(2):
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=2 * _LATENT_CHANNELS,
            out_channels=_LATENT_CHANNELS,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            block_out_channels=(8, 16),
            layers_per_block=1,
            norm_num_groups=4,
            cross_attention_dim=16,
            attention_head_dim=4,
        )
    with seeded(3):
        vae = _tiny_autoencoder_kl(AutoencoderKL, scaling_factor=0.18215)
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        steps_offset=1,
    )
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "unet": unet,
            "scheduler": scheduler, "safety_checker": None, "feature_extractor": None, "image_encoder": None,
            "requires_safety_checker": False}


_BUILDERS: dict[str, tuple[str, Callable[[Callable[[int], Any]], dict[str, Any]]]] = {
    "flux2-klein": ("Flux2KleinPipeline", _flux2_klein_components),
    "qwen-image-edit": ("QwenImageEditPipeline", _qwen_image_edit_components),
    "flux-kontext": ("FluxKontextPipeline", _flux_kontext_components),
    "instruct-pix2pix": ("StableDiffusionInstructPix2PixPipeline", _instruct_pix2pix_components),
}


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _check_family(family: str) -> str:
    if family not in _BUILDERS:
        raise InputError(f"family {family!r}: unknown tiny pipeline family; choose one of {', '.join(FAMILIES)}")
    return family


def build_tiny_pipeline(family: str, seed: int = 0, **overrides: Any):
    """Build a tiny random-weight pipeline of ``family`` (one of :data:`FAMILIES`) on the CPU in float32.

    ``seed`` fixes every weight (same seed, same weights; the caller's global torch RNG is left as
    it was). ``overrides`` replace constructor arguments of the pipeline: components (``scheduler=``,
    ``vae=``...) or flags (``is_distilled=False`` for flux2-klein gives a CFG "base" model).
    """
    import diffusers
    import torch

    class_name, components_of = _BUILDERS[_check_family(family)]

    @contextlib.contextmanager
    def seeded(offset: int):
        """Seed torch's global RNG for one component; the caller's RNG state is restored afterwards."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) * 1000 + offset)
            yield

    components = components_of(seeded)
    unknown = set(overrides) - set(components)
    if unknown:
        raise InputError(f"overrides {sorted(unknown)}: not constructor arguments of the {family} pipeline; "
                         f"known: {', '.join(sorted(components))}")
    components.update(overrides)
    for component in components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()  # freshly built modules train (dropout on); loaded ones are in eval mode
    pipeline = getattr(diffusers, class_name)(**components)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_pipeline(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build the tiny ``family`` pipeline and save it to ``out_dir`` as safetensors; returns the directory."""
    out = Path(out_dir)
    pipeline = build_tiny_pipeline(family, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(out, safe_serialization=True)
    return out


def fast_call_kwargs(family: str, width: int, height: int) -> dict[str, Any]:
    """Extra ``__call__`` kwargs that keep an edit of a ``width`` x ``height`` image at that size.

    Without them FLUX.1 Kontext renders ~1 MP (its ``height``/``width`` are rescaled to ``max_area``)
    and upscales the input to a preferred ~1 MP size, and Qwen-Image-Edit renders at ~1 MP. With
    them every family returns ``width`` x ``height`` for an input of that size (multiples of 16).
    Qwen-Image-Edit still encodes its conditioning image at ~1 MP: its pipeline offers no way out.
    """
    family = _check_family(family)
    if family == "instruct-pix2pix":
        return {}  # the output takes the input's size
    kwargs: dict[str, Any] = {"height": int(height), "width": int(width)}
    if family == "flux-kontext":
        kwargs.update(max_area=int(width) * int(height), _auto_resize=False)
    return kwargs


def parameter_counts(pipeline) -> dict[str, int]:
    """Number of parameters per torch component of ``pipeline`` (for reports and size checks)."""
    import torch

    return {name: sum(p.numel() for p in module.parameters())
            for name, module in pipeline.components.items() if isinstance(module, torch.nn.Module)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vb_plugins.testing.tiny_pipeline",
        description="Write a tiny random-weight diffusers image-editing pipeline (no download) to a directory.",
    )
    parser.add_argument("--family", required=True, choices=FAMILIES, help="model family: %(choices)s")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        out = save_tiny_pipeline(args.family, args.out, seed=args.seed)
    except (VBError, OSError) as error:  # e.g. qwen-image-edit without torchvision
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
