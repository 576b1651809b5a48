"""LoRA instruction-tuning of diffusers image-editing pipelines (``vb train`` with ``method: lora``).

Families: FLUX.2 klein, FLUX.1 Kontext and Qwen-Image-Edit (see :mod:`vb_plugins.training.lora_objectives`
for the flow-matching objective of each). Only the LoRA weights train (peft, on the transformer's
attention projections by default); the VAE, the text encoders and the base weights stay frozen.

Example config (``examples/train_lora_klein.yaml``)::

    output_dir: runs/klein-lora
    model: black-forest-labs/FLUX.2-klein-4B   # a diffusers pipeline id or local directory
    method: lora
    tasks: [depth, normals, semantic]
    data: [{type: synthetic, size: 512, cache_dir: runs/scenes}]
    resolution: 512          # square training side in pixels (default: the data's size, down to a multiple of 16)
    steps: 2000
    batch_size: 4
    learning_rate: 0.0001
    warmup_steps: 100
    checkpoint_every: 250
    lora: {rank: 32, alpha: 32}                # target_modules: default every linear layer in attention
    diffusers: {dtype: bfloat16, gradient_checkpointing: true}

Other ``lora`` keys: ``target_modules`` (list of module-name suffixes, or a regex), ``dropout``.
Other ``diffusers`` keys: ``guidance`` (Kontext's embedded guidance, default 2.5), ``timestep_shift``
(a number, or ``auto`` for the pipeline's inference shift; default none), ``logit_mean``/``logit_std``
(sigma sampling, default 0/1), ``prompt_cache`` (distinct prompt embeddings kept, default 256).

Outputs in ``output_dir``: ``train_log.jsonl`` (step, loss, lr, seconds), ``checkpoints/step-N/``
(LoRA weights and AdamW state as safetensors, resumed automatically and exactly), and the adapter in
``lora/`` (``pytorch_lora_weights.safetensors`` in the diffusers/peft format with its rank and alpha,
plus ``vb_lora.json`` provenance with the prompt ``dialect`` trained on). ``vb predict depth img.jpg
--model MODEL --lora DIR`` prompts in that dialect (read from ``vb_lora.json``; ``--dialect`` overrides).
"""

from __future__ import annotations

import inspect
import json
import platform
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation.diffusers_backend import (
    _read_model_index,
    check_pipeline_class,
    family_for,
    load_diffusers_generator,
)
from vb_plugins.training.checkpoints import resume_run, save_checkpoint
from vb_plugins.training.config import TrainConfig
from vb_plugins.training.loop import TrainingLoop, example_batches
from vb_plugins.training.lora_objectives import OBJECTIVES, PIXELS_PER_TOKEN, default_target_modules, objective_for
from vb_plugins.training.sources import source_from_config

ADAPTER_WEIGHTS = "pytorch_lora_weights.safetensors"  # the name diffusers' load_lora_weights looks for
DIFFUSERS_SETTINGS = ("dtype", "gradient_checkpointing", "guidance", "timestep_shift", "logit_mean", "logit_std",
                      "prompt_cache", "resolution")


def lora_family(model: str) -> str | None:
    """The LoRA family of a local pipeline directory, checked before any weights load (None for a Hub id,
    whose class is known only once loaded). Raises :class:`ModelError` for pipelines that take no input
    image or have no LoRA recipe."""
    if model in ("", "vbnet", None):
        raise InputError(f"model {model!r}: LoRA training needs a diffusers image-editing pipeline (Hub id or "
                         "local directory); use method: full to train a VBNet")
    path = Path(model)
    if not path.exists():
        parts = str(model).split("/")
        if len(parts) != 2 or not all(parts):
            raise ModelError(f"model {model!r}: no such pipeline directory (and not a Hub id 'org/name')")
        return None
    if (path / "vb_model.json").is_file():
        raise InputError(f"model {model!r}: a VBNet model; LoRA training needs a diffusers pipeline "
                         "(use method: full to fine-tune a VBNet)")
    index = _read_model_index(str(model))
    class_name = index.get("_class_name", "")
    check_pipeline_class(class_name, str(model))
    return _supported_family(class_name, str(model))


def _supported_family(class_name: str, model: str) -> str:
    family = family_for(class_name).name
    if family not in OBJECTIVES:
        raise ModelError(f"model {model!r}: {class_name} (family {family}) has no LoRA training recipe; "
                         f"supported families: {', '.join(OBJECTIVES)}")
    return family


def lora_settings(config: TrainConfig) -> dict:
    settings = {"rank": 16, "alpha": None, "target_modules": None, "dropout": 0.0, **(config.lora or {})}
    unknown = sorted(set(settings) - {"rank", "alpha", "target_modules", "dropout"})
    if unknown:
        raise InputError(f"lora: unknown setting(s) {', '.join(unknown)} (known: rank, alpha, target_modules, dropout)")
    try:
        rank = int(settings["rank"])
        alpha = float(settings["alpha"] if settings["alpha"] is not None else rank)
        dropout = float(settings["dropout"])
    except (TypeError, ValueError):
        raise InputError(f"lora: rank, alpha and dropout must be numbers (got {config.lora})") from None
    if rank < 1:
        raise InputError(f"lora.rank={rank}: must be at least 1")
    if not 0 <= dropout < 1:
        raise InputError(f"lora.dropout={dropout}: must be in [0, 1)")
    return {"rank": rank, "alpha": alpha, "target_modules": settings["target_modules"], "dropout": dropout}


def add_lora(transformer, settings: dict, seed: int):
    """Freeze ``transformer`` and add a trainable peft LoRA adapter; returns {name: parameter} of the adapter.

    LoRA A starts random (from ``seed``), B at zero, so the model is unchanged at step 0. Trainable weights
    are float32 even when the base is bfloat16/float16 (the optimizer needs the precision).
    """
    from peft import LoraConfig  # peft loads transformers: only once a run gets this far

    targets = settings["target_modules"] or default_target_modules(transformer)
    transformer.requires_grad_(False)
    config = LoraConfig(r=settings["rank"], lora_alpha=settings["alpha"], lora_dropout=settings["dropout"],
                        init_lora_weights=True, target_modules=targets)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            transformer.add_adapter(config)
        except ValueError as error:
            raise InputError(f"lora.target_modules={settings['target_modules']!r}: "
                             f"{str(error).splitlines()[0]}") from None
    trainable = {name: p for name, p in transformer.named_parameters() if "lora_" in name}
    for parameter in trainable.values():
        parameter.data = parameter.data.float()
        parameter.requires_grad_(True)
    return trainable


def fit_example(example, size: tuple[int, int] | None, multiple: int):
    """``example`` resized to ``size`` (height, width) — bicubic for the input image, nearest for the target
    colours and the weight so no off-codec colours appear — or, without a size, cropped down to multiples."""
    height, width = example.target.shape[:2]
    if size is None:
        size = (height // multiple * multiple, width // multiple * multiple)
        if min(size) < multiple:
            raise InputError(f"training example of {width}x{height} px: smaller than {multiple} px; set resolution")
        if size != (height, width):
            return example.image[: size[0], : size[1]], example.target[: size[0], : size[1]], \
                example.weight[: size[0], : size[1]]
        return example.image, example.target, example.weight
    if (height, width) == size:
        return example.image, example.target, example.weight
    pil_size = (size[1], size[0])
    image = np.asarray(Image.fromarray(example.image).resize(pil_size, Image.BICUBIC))
    target = np.asarray(Image.fromarray(example.target).resize(pil_size, Image.NEAREST))
    weight = np.asarray(Image.fromarray(example.weight.astype(np.float32)).resize(pil_size, Image.NEAREST))
    return image, target, weight


def stack_batch(batch, size, multiple):
    fitted = [fit_example(e, size, multiple) for e in batch]
    shapes = {f[1].shape for f in fitted}
    if len(shapes) > 1:
        raise InputError(f"training examples of different sizes {sorted(s[:2] for s in shapes)} in one batch: "
                         "set resolution")
    images, targets, weights = (np.stack(part) for part in zip(*fitted))
    return images, targets, weights, [e.prompt for e in batch]


def save_adapter(pipe, transformer, directory: Path, provenance: dict) -> Path:
    """Write the adapter as diffusers' ``load_lora_weights`` reads it (with rank/alpha metadata)."""
    from peft.utils import get_peft_model_state_dict

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    layers = {k: v.detach().cpu().float().contiguous() for k, v in get_peft_model_state_dict(transformer).items()}
    kwargs = {}
    if "transformer_lora_adapter_metadata" in inspect.signature(pipe.save_lora_weights).parameters:
        kwargs["transformer_lora_adapter_metadata"] = transformer.peft_config["default"].to_dict()
    type(pipe).save_lora_weights(str(directory), transformer_lora_layers=layers, safe_serialization=True,
                                 weight_name=ADAPTER_WEIGHTS, **kwargs)
    (directory / "vb_lora.json").write_text(json.dumps(provenance, indent=2, default=str))
    return directory


def train_lora(config: TrainConfig, progress=True, log=print, should_stop=None) -> Path:
    """LoRA-tune ``config.model``; resumes from the newest checkpoint in ``output_dir``. Returns the adapter
    directory (``output_dir/lora``).

    Checks the config, the data (missing ground truth) and the model (image input, supported family) before
    loading weights. ``should_stop(step)`` is polled after every step; a stop raises
    :class:`CancelledError` and a later run resumes from the newest checkpoint (as after a crash or Ctrl-C).
    """
    if config.method != "lora":
        raise InputError(f"method {config.method!r}: train_lora needs method: lora")
    settings = lora_settings(config)
    diffusers_settings = dict(config.diffusers or {})
    unknown = sorted(set(diffusers_settings) - set(DIFFUSERS_SETTINGS))
    if unknown:
        raise InputError(f"diffusers: unknown setting(s) {', '.join(unknown)} (known: {', '.join(DIFFUSERS_SETTINGS)})")
    sources = [source_from_config(d) for d in config.data]
    for source in sources:
        source.check(config.tasks)  # missing ground truth is an error before any training
    lora_family(str(config.model))
    if config.threads:
        torch.set_num_threads(int(config.threads))
    size = None
    resolution = config.resolution or diffusers_settings.get("resolution")
    if resolution:
        side = int(resolution)
        if side < PIXELS_PER_TOKEN or side % PIXELS_PER_TOKEN:
            raise InputError(f"resolution={side}: must be a positive multiple of {PIXELS_PER_TOKEN}")
        size = (side, side)

    generator = load_diffusers_generator(str(config.model), device=config.device, dtype=diffusers_settings.get("dtype"))
    pipe, device = generator.pipe, generator.device
    family = _supported_family(type(pipe).__name__, str(config.model))
    transformer = pipe.transformer
    trainable = add_lora(transformer, settings, config.seed)
    if diffusers_settings.get("gradient_checkpointing"):
        transformer.enable_gradient_checkpointing()
    objective = objective_for(pipe, family, diffusers_settings)
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=config.learning_rate, weight_decay=config.weight_decay)

    output = Path(config.output_dir)

    def restore_weights(loaded):
        with torch.no_grad():
            for name, parameter in trainable.items():
                parameter.copy_(loaded["model"][name])

    step = resume_run(config, output, optimizer, restore_weights, log)

    try:
        with TrainingLoop(config, output, step, "vb train (lora)", progress, should_stop) as loop, \
                example_batches(config, sources, step) as batches:
            transformer.train()

            def save(at_step):
                save_checkpoint(output, at_step, dict(trainable), optimizer, None,
                                {"fingerprint": config.fingerprint(), "family": family}, config.keep_checkpoints)

            while loop.step < config.steps:
                images, targets, weights, prompts = stack_batch(next(batches), size, PIXELS_PER_TOKEN)
                loop.set_learning_rate(optimizer)
                noise_rng = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + loop.step)
                loss = objective.loss(images, targets, weights, prompts, noise_rng, config.terminal_fraction)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(trainable.values()), config.grad_clip)
                optimizer.step()
                loop.finish_step(loss.item(), save)
    finally:
        transformer.eval()
    step = loop.step
    provenance = {
        "trained_with": "vb train (lora)",
        "base_model": str(config.model),
        "pipeline": type(pipe).__name__,
        "family": family,
        "dialect": config.dialect,  # the prompts the adapter learned; predict with --dialect this
        "lora": {**settings, "target_modules": sorted(transformer.peft_config["default"].target_modules)},
        "config": config.to_dict(),
        "steps": step,
        "prompt_encodings_this_run": objective.text.encodings,
        "hardware": f"{platform.machine()} {platform.processor() or ''} device={device}".strip(),
        "torch": torch.__version__,
        "train_seconds_this_run": round(loop.seconds, 1),
    }
    return save_adapter(pipe, transformer, output / "lora", provenance)
