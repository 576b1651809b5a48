"""One function per node: what each node's ``execute`` runs, without ComfyUI.

Each takes the node's inputs (tensors in ComfyUI's formats, widget values, the custom objects) and
returns ``(outputs, preview)``: the output tuple in the node's socket order and the IMAGE tensor the
node shows (or None). The schema layer adds only ComfyUI's folders, progress bar and UI.
"""

from __future__ import annotations

import json

import numpy as np

from vb_plugins.errors import InputError

from . import decoding, encoding, files, generating, prompting
from .tensors import gray_image, image_tensor, mask_tensor


def prompt(task, classes="", expression="", dialect="vision-banana", scheme=prompting.DEFAULT, options=""):
    """VB Prompt -> (prompt STRING, spec VB_SPEC, spec_json STRING)."""
    spec, text, spec_json = prompting.make_prompt(task, classes, expression, dialect, scheme, options)
    return (text, spec, spec_json), None


def encode(depth=None, normals=None, labels=None, mask=None, spec=None):
    """VB Encode -> (IMAGE,)."""
    picture = image_tensor(encoding.encode_values(depth, normals, labels, mask, spec))
    return (picture,), picture


def generate(generator, image, spec, seed=0, steps=0, guidance=0.0, megapixels=0.0, ensemble=1, batch_size=1,
             dialect=generating.MODEL_DEFAULT_DIALECT, prompt=None, progress=None, should_stop=None, with_spec=False):
    """VB Generate -> (images IMAGE, group INT, prompt STRING), and with ``with_spec`` (the node) the spec
    VB_SPEC the images decode with (the generator's profile may decode the task with another one)."""
    images, group, prompts, decode_spec = generating.generate(
        generator, image, spec, seed=seed, steps=steps, guidance=guidance, megapixels=megapixels,
        ensemble=ensemble, batch_size=batch_size, dialect=dialect, prompt=prompt, progress=progress,
        should_stop=should_stop, with_spec=True)
    outputs = (image_tensor(images), group, prompts[0])
    return (outputs + (decode_spec,) if with_spec else outputs), None


def _decode(kind, default_task, image, spec, mode, group, fit, width, height, reference, prompt=None):
    return decoding.decode_batch(image, spec, kind=kind, default_task=default_task, mode=mode, group=group,
                                 reference=reference, width=width, height=height, fit=fit, prompt=prompt)


def decode_depth(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                 min_confidence=0.5, preview="batch", colormap="inferno", save="none", filename_prefix="vb/depth",
                 output_dir=None, prompt=None):
    """VB Decode Depth -> (depth VB_DEPTH, preview IMAGE, valid MASK, uncertainty IMAGE), and the list
    of files saved (ComfyUI ``ui`` entries)."""
    _check_save(save, filename_prefix, output_dir)
    batch = _decode("depth", "depth", image, spec, mode, group, fit, width, height, reference, prompt)
    depth = decoding.depth_outputs(batch, min_confidence)
    picture = image_tensor(decoding.depth_preview(depth.depth, depth.valid, preview, colormap))
    # The samples' spread counts relative to the depth it is about (10 cm at 1 m is a lot, at 50 m not).
    scale = np.where(np.isfinite(depth.depth) & (depth.depth > 0), depth.depth, np.inf)
    uncertainty = gray_image(batch.uncertainty(scale=scale))
    saved = files.save_arrays(output_dir, filename_prefix, list(depth.depth), save) if save != "none" else []
    return (depth, picture, mask_tensor(depth.valid), uncertainty), picture, saved


def decode_normals(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                   save="none", filename_prefix="vb/normals", output_dir=None, prompt=None):
    """VB Decode Normals -> (normals VB_NORMALS, preview IMAGE, valid MASK, uncertainty IMAGE), saved files."""
    _check_save(save, filename_prefix, output_dir)
    batch = _decode("normals", "normals", image, spec, mode, group, fit, width, height, reference, prompt)
    normals = decoding.normals_outputs(batch)
    picture = image_tensor(batch.previews())
    saved = files.save_arrays(output_dir, filename_prefix, list(normals.normals), save,
                              exr_channels=("R", "G", "B")) if save != "none" else []
    # Ensemble spread is an angle: 45 degrees between samples counts as fully uncertain.
    return (normals, picture, mask_tensor(normals.valid), gray_image(batch.uncertainty(45.0))), picture, saved


def decode_relative_depth(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                          min_confidence=0.1, colormap="inferno", save="none", filename_prefix="vb/relative_depth",
                          output_dir=None, prompt=None):
    """VB Decode Relative Depth -> (relative VB_RELATIVE_DEPTH, values IMAGE (float gray, 0..1 as decoded),
    preview IMAGE, valid MASK, uncertainty IMAGE), and the files saved."""
    _check_save(save, filename_prefix, output_dir)
    batch = _decode("relative-depth", "relative-depth", image, spec, mode, group, fit, width, height, reference,
                    prompt)
    relative = decoding.relative_depth_outputs(batch, min_confidence)
    values = image_tensor(np.repeat(np.nan_to_num(relative.values, nan=0.0)[..., None], 3, axis=3))
    picture = image_tensor(decoding.unit_preview(relative.values, relative.valid, colormap))
    saved = files.save_arrays(output_dir, filename_prefix, list(relative.values), save) if save != "none" else []
    return (relative, values, picture, mask_tensor(relative.valid), gray_image(batch.uncertainty(1.0))), \
        picture, saved


def decode_matting(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                   threshold=0.5, prompt=None):
    """VB Decode Matting -> (alpha MASK (0..1), foreground MASK (alpha > threshold), preview IMAGE,
    uncertainty IMAGE)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold < 1.0:
        raise InputError(f"threshold={threshold!r}: must be a number from 0 up to (not including) 1")
    batch = _decode("alpha", "matting", image, spec, mode, group, fit, width, height, reference, prompt)
    alpha = decoding.alpha_outputs(batch)
    picture = gray_image(alpha)
    return (mask_tensor(alpha), mask_tensor(alpha > threshold), picture, gray_image(batch.uncertainty(1.0))), picture


def decode_semantic(image, spec, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                    select="", prompt=None):
    """VB Decode Semantic -> (masks MASK [B*K], selected MASK [B], labels VB_LABELS, preview IMAGE,
    uncertainty IMAGE, class_names STRING)."""
    batch = _decode("labels", None, image, spec, mode, group, fit, width, height, reference, prompt)
    labels = decoding.label_outputs(batch)
    picture = image_tensor(batch.previews())
    return (mask_tensor(decoding.class_masks(labels)), mask_tensor(decoding.select_class(labels, select)), labels,
            picture, gray_image(batch.uncertainty()), json.dumps(labels.spec.class_names)), picture


def decode_instances(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                     prompt=None):
    """VB Decode Instances -> (masks MASK [N], count INT, labels VB_LABELS, preview IMAGE, uncertainty IMAGE,
    instances STRING)."""
    batch = _decode("instances", "instance", image, spec, mode, group, fit, width, height, reference, prompt)
    labels = decoding.label_outputs(batch)
    masks, records = decoding.instance_masks(labels)
    picture = image_tensor(batch.previews())
    return (mask_tensor(masks), len(records), labels, picture, gray_image(batch.uncertainty()),
            json.dumps(records)), picture


def decode_referring(image, spec=None, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None,
                     prompt=None):
    """VB Decode Referring -> (mask MASK, preview IMAGE, uncertainty IMAGE)."""
    batch = _decode("mask", "referring", image, spec, mode, group, fit, width, height, reference, prompt)
    picture = image_tensor(batch.previews())
    return (mask_tensor(decoding.referring_mask(batch)), picture, gray_image(batch.uncertainty())), picture


def decode_any(image, spec, mode="auto", group=1, fit="stretch", width=0, height=0, reference=None, prompt=None):
    """VB Decode (any task) -> (values VB_VALUES, preview IMAGE, confidence MASK, uncertainty IMAGE)."""
    batch = _decode(None, None, image, spec, mode, group, fit, width, height, reference, prompt)
    picture = image_tensor(batch.previews())
    return (batch, picture, mask_tensor(batch.confidence), gray_image(batch.uncertainty())), picture


def _check_save(save, filename_prefix, output_dir) -> None:
    files.check_save_format(save)
    if save != "none":
        files.check_prefix(filename_prefix)
        if output_dir is None:
            raise InputError("save: no output folder to save into")
