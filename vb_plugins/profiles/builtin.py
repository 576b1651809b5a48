"""The built-in model profiles, registered through the ``vb_profiles`` hook like a plugin's.

- ``vision-banana`` (default): models tuned on Vision Banana's own codes (the bundled model, LoRAs from
  `vb train`, a model asked in the zero-shot dialect): every registered task, painted as its own encoding,
  asked in the model's dialect.
- ``open-vision-banana``: FunAILab/Open-Vision-Banana (FLUX.2 klein fine-tunes). Its prompts are published
  only as summaries (the project page); they are used as published, with the class legend added to the
  semantic one. Correct them with a profile file or ``--profile-override`` if the model card says otherwise.
- ``edit2perceive``: showlab/Edit2Perceive (FLUX.1 Kontext-dev; one DiffSynth-named LoRA or full transformer
  per task), prompted "Transform to {task} map while maintaining original composition" at 768 x 768, 8 steps
  (matting 10).
"""

from __future__ import annotations

from vb_plugins.hookspecs import hookimpl
from vb_plugins.profiles.model import Defaults, Profile, TaskProfile, Weights

VISION_BANANA = Profile(
    "vision-banana",
    "Vision Banana's codes: metric depth in the colour path, normals in RGB, segmentation in prompted colours; "
    "prompts in the model's dialect",
    tasks=(
        TaskProfile("depth", "metric depth: f = 1 - (1 + d/10)^-2 along black-red-yellow-green-cyan-blue-"
                    "magenta-white"),
        TaskProfile("normals", "camera-frame normals: R = (1 - nx)/2, G = (1 + ny)/2, B = (1 + nz)/2"),
        TaskProfile("semantic", "each class in the colour its legend names"),
        TaskProfile("instance", "each instance in a colour of its own on the background colour (black)"),
        TaskProfile("referring", "the named object in the target colour (white) on black"),
    ),
    other_tasks=True,
    base_model="the bundled model; LoRAs from `vb train`; any image-editing model asked zero-shot",
    licence="vb-plugins' (bundled model); the base model's for others",
)

OPEN_VISION_BANANA = Profile(
    "open-vision-banana",
    "Open Vision Banana (FLUX.2 klein 4B / 9B fine-tunes): relative inverse depth in gray, normals in RGB, "
    "segmentation in prompted colours",
    tasks=(
        TaskProfile("depth", "grayscale relative inverse depth: near bright, far dark", decode_as="relative-depth",
                    options=(("encodes", "inverse"),),
                    prompt="Generate relative inverse depth: near points bright, far points dark, matching input "
                           "pixels."),
        TaskProfile("normals", "camera-space surface normals in RGB",
                    prompt="Encode camera-space surface normals in the RGB channels."),
        TaskProfile("semantic", "each requested class in its assigned colour",
                    prompt="Paint the requested object classes with their assigned colors: {legend}."),
        TaskProfile("instance", "each instance of the class in a colour of its own on black",
                    options=(("background", "black"),),
                    prompt="Segment each {class} with a different color; leave the background {background}."),
        TaskProfile("referring", "the referred object in one colour (white assumed) on black",
                    prompt='Segment "{expression}."'),
    ),
    base_model="FLUX.2 klein (4B, 9B)",
    hub_ids=("FunAILab/Open-Vision-Banana",),
)

EDIT2PERCEIVE = Profile(
    "edit2perceive",
    "Edit2Perceive (FLUX.1 Kontext-dev, one DiffSynth-named LoRA or transformer per task): grayscale "
    "affine-invariant depth, normals in RGB, alpha mattes",
    tasks=(
        TaskProfile("depth", "grayscale affine-invariant depth (relative; near dark)", decode_as="relative-depth",
                    options=(("encodes", "depth"),),
                    prompt="Transform to depth map while maintaining original composition",
                    lora_file="depth_lora.safetensors", transformer_file="depth.safetensors"),
        TaskProfile("normals", "surface normals in RGB",
                    prompt="Transform to normal map while maintaining original composition",
                    lora_file="normal_lora.safetensors", transformer_file="normal.safetensors"),
        TaskProfile("matting", "alpha matte: grayscale 0 (background) .. 1 (foreground)",
                    prompt="Transform to matting map while maintaining original composition",
                    defaults=Defaults(steps=10),
                    lora_file="matting_lora.safetensors", transformer_file="matting.safetensors"),
    ),
    base_model="FLUX.1 Kontext-dev",
    licence="see model card (base: FLUX.1 [dev] Non-Commercial License)",
    hub_ids=("showlab/Edit2Perceive",),
    defaults=Defaults(steps=8, size=(768, 768)),
    weights=Weights(base="black-forest-labs/FLUX.1-Kontext-dev", naming="diffsynth", kind="lora or transformer"),
)


def builtin_profiles() -> list[Profile]:
    return [VISION_BANANA, OPEN_VISION_BANANA, EDIT2PERCEIVE]


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_profiles():
    return builtin_profiles()
