"""FLUX.1 weights in DiffSynth-Studio's naming (Edit2Perceive's checkpoints) loaded into diffusers' FLUX transformer.

Edit2Perceive publishes FLUX.1 Kontext [dev] fine-tunes trained with DiffSynth-Studio: ``TASK.safetensors``
holds the whole transformer, ``TASK_lora.safetensors`` a LoRA, both named after DiffSynth's own FLUX DiT,
whose attention projections are fused (``a_to_qkv``; ``to_qkv_mlp`` in the single-stream blocks). Here the
keys are renamed on load and fused tensors split by rows into diffusers' ``to_q``/``to_k``/``to_v``
(``proj_mlp``); a LoRA's down matrix is shared by the parts, its up matrix split like the weight it updates.

- :func:`load_transformer_weights` (``--transformer-weights FILE``): a full checkpoint, in DiffSynth or
  diffusers naming, replaces every tensor of ``pipe.transformer``.
- :func:`load_lora` (``--lora FILE``): LoRAs in DiffSynth naming (``<module>.lora_A[.default].weight`` /
  ``lora_B``, or ``lora_down``/``lora_up`` with an optional ``<module>.alpha``) and DiffSynth's "open-source"
  export (``lora_unet_double_blocks_N_img_attn_qkv.lora_down.weight`` with ``.alpha``) are converted to
  diffusers' PEFT naming; any other LoRA (diffusers, PEFT, other kohya files, folders, Hub ids) goes to
  diffusers' ``load_lora_weights`` as before.

The naming is detected from the keys. Keys that map to nothing, and LoRAs that match no module of the
transformer, are refused with one line; weights are read from ``.safetensors`` only.

DiffSynth names, from DiffSynth-Studio (github.com/modelscope/DiffSynth-Studio):
``diffsynth/models/flux_dit.py`` (``FluxDiT`` and ``FluxDiTStateDictConverter.from_diffusers``, whose renames
and q/k/v(/mlp) concatenations are inverted here), ``diffsynth/lora/__init__.py`` (``GeneralLoRALoader``:
``lora_B[.default]`` keys, an optional ``diffusion_model.`` prefix, update ``B @ A``) and
``diffsynth/lora/flux_lora.py`` (``FluxLoRAConverter.align_to_opensource_format``, which Edit2Perceive's
training scripts use for their LoRAs).
"""

from __future__ import annotations

import re
from pathlib import Path

from safetensors import SafetensorError, safe_open

from vb_plugins.errors import InputError, ModelError, VBError
from vb_plugins.generation.base import first_line

# DiffSynth module inside double-stream block N -> diffusers module(s) inside ``transformer_blocks.N``;
# several targets are the row blocks of one fused projection, in order.
DOUBLE_BLOCK = {
    "norm1_a.linear": ("norm1.linear",),
    "norm1_b.linear": ("norm1_context.linear",),
    "attn.a_to_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "attn.b_to_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "attn.a_to_out": ("attn.to_out.0",),
    "attn.b_to_out": ("attn.to_add_out",),
    "attn.norm_q_a": ("attn.norm_q",),
    "attn.norm_k_a": ("attn.norm_k",),
    "attn.norm_q_b": ("attn.norm_added_q",),
    "attn.norm_k_b": ("attn.norm_added_k",),
    "ff_a.0": ("ff.net.0.proj",),
    "ff_a.2": ("ff.net.2",),
    "ff_b.0": ("ff_context.net.0.proj",),
    "ff_b.2": ("ff_context.net.2",),
}
# DiffSynth module inside single-stream block N -> diffusers module(s) inside ``single_transformer_blocks.N``.
SINGLE_BLOCK = {
    "norm.linear": ("norm.linear",),
    "to_qkv_mlp": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"),
    "norm_q_a": ("attn.norm_q",),
    "norm_k_a": ("attn.norm_k",),
    "proj_out": ("proj_out",),
}
# Modules outside the blocks.
TOP_LEVEL = {
    "time_embedder.timestep_embedder.0": "time_text_embed.timestep_embedder.linear_1",
    "time_embedder.timestep_embedder.2": "time_text_embed.timestep_embedder.linear_2",
    "guidance_embedder.timestep_embedder.0": "time_text_embed.guidance_embedder.linear_1",
    "guidance_embedder.timestep_embedder.2": "time_text_embed.guidance_embedder.linear_2",
    "pooled_text_embedder.0": "time_text_embed.text_embedder.linear_1",
    "pooled_text_embedder.2": "time_text_embed.text_embedder.linear_2",
    "context_embedder": "context_embedder",
    "x_embedder": "x_embedder",
    "final_norm_out.linear": "norm_out.linear",
    "final_proj_out": "proj_out",
}
# DiffSynth's open-source LoRA export names (BFL's module names, underscored) -> DiffSynth modules.
OPEN_SOURCE_DOUBLE = {
    "img_mod_lin": "norm1_a.linear", "txt_mod_lin": "norm1_b.linear",
    "img_attn_qkv": "attn.a_to_qkv", "txt_attn_qkv": "attn.b_to_qkv",
    "img_attn_proj": "attn.a_to_out", "txt_attn_proj": "attn.b_to_out",
    "img_mlp_0": "ff_a.0", "img_mlp_2": "ff_a.2", "txt_mlp_0": "ff_b.0", "txt_mlp_2": "ff_b.2",
}
OPEN_SOURCE_SINGLE = {"modulation_lin": "norm.linear", "linear1": "to_qkv_mlp", "linear2": "proj_out"}

# Prefixes DiffSynth checkpoints may carry: its LoRA loader drops "diffusion_model."; its trainer saves
# "pipe.dit." unless told to remove it.
PREFIXES = ("diffusion_model.", "pipe.dit.")
# First names that only DiffSynth's DiT has (diffusers' are transformer_blocks, norm_out, time_text_embed...).
DIFFSYNTH_ROOTS = ("blocks", "single_blocks", "final_proj_out", "final_norm_out", "time_embedder",
                   "guidance_embedder", "pooled_text_embedder")
LORA_PARTS = {"lora_A": "down", "lora_down": "down", "lora_B": "up", "lora_up": "up"}
_OPEN_SOURCE_KEY = re.compile(
    rf"lora_unet_(?:double_blocks_(\d+)_({'|'.join(OPEN_SOURCE_DOUBLE)})"
    rf"|single_blocks_(\d+)_({'|'.join(OPEN_SOURCE_SINGLE)}))\.(lora_down\.weight|lora_up\.weight|alpha)")
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt"}  # a path with these names a file, not a Hub id
SHOWN = 3  # offending keys named in an error


def _strip_prefix(key: str) -> str:
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _is_diffsynth_name(key: str) -> bool:
    return _strip_prefix(key).split(".", 1)[0] in DIFFSYNTH_ROOTS


def diffusers_modules(module: str) -> tuple[str, ...] | None:
    """The diffusers module(s) a DiffSynth FLUX DiT module becomes, or None for a module it lacks."""
    for prefix, table, target in (("blocks.", DOUBLE_BLOCK, "transformer_blocks."),
                                  ("single_blocks.", SINGLE_BLOCK, "single_transformer_blocks.")):
        if module.startswith(prefix):
            index, _, inner = module[len(prefix):].partition(".")
            if index.isdigit() and inner in table:
                return tuple(f"{target}{index}.{name}" for name in table[inner])
            return None
    return (TOP_LEVEL[module],) if module in TOP_LEVEL else None


def _one_line_list(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def safetensors_file(value: str, option: str) -> Path:
    """``value`` as an existing ``.safetensors`` file; pickled formats are refused before anything is read."""
    path = Path(value).expanduser()
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"{option} {value}: weights must be .safetensors (pickled .bin/.pt/.ckpt/.pth are refused)")
    if not path.is_file():
        raise InputError(f"{option} {value}: no such file")
    return path


def read_shapes(path: Path, option: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from the file's header without loading the tensors."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelError(f"{option} {path}: not a readable safetensors file ({first_line(error)})") from None


def check_weight_files(lora: str | None = None, transformer_weights: str | None = None) -> None:
    """The checks that need no pipeline, so a wrong file fails before a large model loads: suffix, existence,
    a readable header, and a LoRA given as full weights (or the reverse)."""
    if transformer_weights:
        shapes = read_shapes(safetensors_file(transformer_weights, "--transformer-weights"), "--transformer-weights")
        _refuse_kind(shapes, transformer_weights, "--transformer-weights", want_lora=False)
    path = Path(lora).expanduser() if lora else None
    if path is not None and (path.is_file() or path.suffix.lower() in WEIGHT_SUFFIXES):
        _refuse_kind(read_shapes(safetensors_file(lora, "--lora"), "--lora"), lora, "--lora", want_lora=True)


def _refuse_kind(shapes: dict, value: str, option: str, want_lora: bool) -> None:
    if not shapes:
        raise ModelError(f"{option} {value}: the file holds no tensors")
    if want_lora and not is_lora(shapes):
        raise ModelError(f"{option} {value}: holds full transformer weights (no lora_A/lora_B or lora_down/lora_up "
                         "keys), not a LoRA; pass it with --transformer-weights")
    if not want_lora and is_lora(shapes):
        raise ModelError(f"{option} {value}: holds a LoRA (lora_A/lora_B or lora_down/lora_up keys), not full "
                         "transformer weights; pass it with --lora")


def is_lora(keys) -> bool:
    """Whether tensor names look like a LoRA (lora_A/lora_B, lora_down/lora_up, lora_unet_..., x_lora.down)."""
    return any(part.startswith("lora") or part.endswith("_lora") for key in keys for part in key.split("."))


def _flux_transformer(pipe, path: Path, option: str):
    from diffusers import FluxTransformer2DModel

    transformer = getattr(pipe, "transformer", None)
    if not isinstance(transformer, FluxTransformer2DModel):
        raise ModelError(f"{option} {path}: DiffSynth FLUX.1 weights load into a FLUX.1 pipeline such as "
                         f"FluxKontextPipeline, not {type(pipe).__name__}")
    return transformer


# --------------------------------------------------------------------------------------------------
# Full transformer weights
# --------------------------------------------------------------------------------------------------


def _full_weights_plan(shapes: dict, transformer, diffsynth: bool, path: Path, option: str) -> dict:
    """Source tensor -> [(target tensor, first row, end row)], checked against the transformer's tensors."""
    targets = transformer.state_dict()
    plan, unknown = {}, []
    for key, shape in shapes.items():
        if diffsynth:
            module, _, leaf = _strip_prefix(key).rpartition(".")
            modules = diffusers_modules(module)
            names = [f"{m}.{leaf}" for m in modules] if modules else []
        else:
            names = [key]
        if not names or any(name not in targets for name in names):
            unknown.append(key)
            continue
        rows = [targets[name].shape[0] for name in names]
        expected = (sum(rows), *targets[names[0]].shape[1:])
        if shape != expected:
            raise ModelError(f"{option} {path}: tensor {key} has shape {list(shape)}; the transformer's "
                             f"{' + '.join(names)} need {list(expected)} (another model size?)")
        starts = [sum(rows[:i]) for i in range(len(rows))]
        plan[key] = [(name, start, start + count) for name, start, count in zip(names, starts, rows)]
    naming = "DiffSynth" if diffsynth else "diffusers"
    if unknown:
        raise ModelError(f"{option} {path}: {len(unknown)} of {len(shapes)} tensors ({naming} naming) map to nothing "
                         f"in {type(transformer).__name__}: {_one_line_list(sorted(unknown))}")
    covered = {name for parts in plan.values() for name, _, _ in parts}
    missing = sorted(set(targets) - covered)
    if missing:
        raise ModelError(f"{option} {path}: holds {len(covered)} of the transformer's {len(targets)} tensors "
                         f"({naming} naming), missing {_one_line_list(missing)}; full weights must cover them all "
                         "(a LoRA goes to --lora)")
    return plan


def load_transformer_weights(pipe, value: str, option: str = "--transformer-weights") -> str:
    """Replace every tensor of ``pipe.transformer`` with those in the safetensors file ``value`` (DiffSynth or
    diffusers naming, detected from the keys). Returns the naming found. Everything is checked (names,
    shapes, coverage) before the first tensor is copied; tensors are read one at a time."""
    import torch

    path = safetensors_file(value, option)
    shapes = read_shapes(path, option)
    _refuse_kind(shapes, value, option, want_lora=False)
    diffsynth = any(_is_diffsynth_name(key) for key in shapes)
    transformer = _flux_transformer(pipe, path, option) if diffsynth else getattr(pipe, "transformer", None)
    if transformer is None:
        raise ModelError(f"{option} {value}: {type(pipe).__name__} has no transformer to load weights into")
    plan = _full_weights_plan(shapes, transformer, diffsynth, path, option)
    targets = transformer.state_dict(keep_vars=True)
    with safe_open(str(path), framework="pt") as handle, torch.no_grad():
        for key, parts in plan.items():
            tensor = handle.get_tensor(key)
            for name, start, end in parts:
                targets[name].copy_(tensor[start:end])
    return "diffsynth" if diffsynth else "diffusers"


# --------------------------------------------------------------------------------------------------
# LoRA
# --------------------------------------------------------------------------------------------------


def lora_naming(keys) -> str | None:
    """``"diffsynth"`` (DiffSynth module names), ``"diffsynth-open-source"`` (its lora_unet_ export, block
    modules only), or None: a naming diffusers' own loader reads."""
    keys = list(keys)
    if keys and all(_OPEN_SOURCE_KEY.fullmatch(key) for key in keys):
        return "diffsynth-open-source"
    if any(_is_diffsynth_name(key) for key in keys):
        return "diffsynth"
    return None


def _parse_lora_key(key: str, naming: str) -> tuple[str, str] | None:
    """(DiffSynth module, "down" | "up" | "alpha") of one LoRA key, or None."""
    if naming == "diffsynth-open-source":
        double_index, double_name, single_index, single_name, leaf = _OPEN_SOURCE_KEY.fullmatch(key).groups()
        if double_name:
            module = f"blocks.{double_index}.{OPEN_SOURCE_DOUBLE[double_name]}"
        else:
            module = f"single_blocks.{single_index}.{OPEN_SOURCE_SINGLE[single_name]}"
        return module, "alpha" if leaf == "alpha" else LORA_PARTS[leaf.split(".")[0]]
    parts = _strip_prefix(key).split(".")
    if parts[-1] == "alpha" and len(parts) > 1:
        return ".".join(parts[:-1]), "alpha"
    for i, part in enumerate(parts):
        # <module>.lora_A.weight, or <module>.lora_A.<adapter name>.weight as PEFT names it in a model
        if part in LORA_PARTS and parts[-1] == "weight" and len(parts) - i in (2, 3) and i > 0:
            return ".".join(parts[:i]), LORA_PARTS[part]
    return None


def convert_lora(state: dict, transformer, naming: str, source: str, option: str = "--lora") -> dict:
    """A DiffSynth LoRA state dict -> diffusers PEFT naming (``transformer.<module>.lora_A.weight``), each fused
    projection's update split by rows; an ``alpha`` scales its module's update by alpha / rank."""
    import torch

    modules = dict(transformer.named_modules())
    entries: dict[str, dict] = {}
    unknown = []
    for key, tensor in state.items():
        parsed = _parse_lora_key(key, naming)
        targets = diffusers_modules(parsed[0]) if parsed else None
        if not targets or any(not hasattr(modules.get(t), "out_features") for t in targets):  # linear layers only
            unknown.append(key)
            continue
        entries.setdefault(parsed[0], {"targets": targets})[parsed[1]] = tensor
    if unknown:
        raise ModelError(f"{option} {source}: {len(unknown)} of {len(state)} LoRA tensors (DiffSynth naming) match no "
                         f"module of {type(transformer).__name__}: {_one_line_list(sorted(unknown))}")
    converted = {}
    for module, entry in sorted(entries.items()):
        missing = [part for part in ("down", "up") if part not in entry]
        if missing:
            raise ModelError(f"{option} {source}: the LoRA of {module} lacks its {' and '.join(missing)} matrix")
        down, up, targets = entry["down"], entry["up"], entry["targets"]
        rows = [modules[t].out_features for t in targets]
        if down.ndim != 2 or up.ndim != 2 or down.shape != (up.shape[1], modules[targets[0]].in_features) \
                or up.shape[0] != sum(rows):
            raise ModelError(f"{option} {source}: LoRA of {module} has down {list(down.shape)} and up "
                             f"{list(up.shape)}; {' + '.join(targets)} need down [rank, "
                             f"{modules[targets[0]].in_features}] and up [{sum(rows)}, rank]")
        if "alpha" in entry:
            scale = float(entry["alpha"]) / down.shape[0]
            if scale != 1.0:  # DiffSynth's own LoRAs carry alpha == rank; skip the no-op multiply
                up = up * scale
        for target, part in zip(targets, torch.split(up, rows, dim=0)):
            converted[f"transformer.{target}.lora_A.weight"] = down.clone()
            converted[f"transformer.{target}.lora_B.weight"] = part.contiguous()
    return converted


def _own_lora_memory(pipe) -> None:
    """Give LoRA tensors memory of their own. Read from a file they alias its mapped pages at arbitrary offsets,
    and CPU kernels round differently on unaligned memory: with own copies, the same adapter gives the same
    pixels however it was read (and the file is not held open)."""
    import torch

    with torch.no_grad():
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                for name, param in component.named_parameters():
                    if "lora_" in name:
                        param.data = param.data.clone()


def _adapter_count(pipe) -> int:
    lister = getattr(pipe, "get_list_adapters", None)
    return sum(len(names) for names in lister().values()) if lister else 0


def load_lora(pipe, value: str, option: str = "--lora") -> str:
    """Load the LoRA ``value`` (a .safetensors file, or a folder / Hub id for diffusers' loader) into ``pipe``.
    Returns the naming found: ``"diffsynth"``, ``"diffsynth-open-source"`` or ``"diffusers"``."""
    from safetensors.torch import load_file

    path = Path(value).expanduser()
    before = _adapter_count(pipe)
    naming = "diffusers"
    try:
        if path.is_file() or path.suffix.lower() in WEIGHT_SUFFIXES:
            path = safetensors_file(value, option)
            shapes = read_shapes(path, option)
            _refuse_kind(shapes, value, option, want_lora=True)
            naming = lora_naming(shapes) or "diffusers"
            if naming != "diffusers":
                transformer = _flux_transformer(pipe, path, option)
                pipe.load_lora_weights(convert_lora(load_file(str(path)), transformer, naming, value, option))
            else:
                pipe.load_lora_weights(str(path.parent), weight_name=path.name, use_safetensors=True)
        else:
            pipe.load_lora_weights(value, use_safetensors=True)
    except VBError:
        raise
    except (OSError, ValueError) as error:
        message = first_line(error)
        if type(error).__name__ == "NoMatchingPeftModuleError" or "not found in the base model" in message:
            raise ModelError(f"{option} {value}: its keys match no module of the pipeline ({message})") from None
        raise ModelError(f"{option} {value}: cannot load ({message})") from None
    _own_lora_memory(pipe)
    if _adapter_count(pipe) == before:
        raise ModelError(f"{option} {value}: its keys match no module of {type(pipe).__name__} (nothing was loaded; "
                         "expected diffusers/PEFT names such as transformer.<module>.lora_A.weight, or DiffSynth "
                         "names such as blocks.0.attn.a_to_qkv.lora_A.weight)")
    return naming
