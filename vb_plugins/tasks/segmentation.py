"""Built-in segmentation tasks: semantic, instance and referring."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vb_plugins.codecs import instance as instance_codec
from vb_plugins.codecs import referring as referring_codec
from vb_plugins.codecs.instance import InstanceCodec
from vb_plugins.codecs.legend_matching import matched_classes, matched_colours, with_matching
from vb_plugins.codecs.referring import ReferringCodec
from vb_plugins.codecs.referring_objects import decode_objects, object_paths
from vb_plugins.codecs.semantic import SemanticCodec, label_dtype, paint_labels, permuted_legends
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.io import write_png
from vb_plugins.kinds import get_value_kind
from vb_plugins.label_files import read_labels, write_label_png
from vb_plugins.prompts import VISION_BANANA
from vb_plugins.tasks.base import Task, TaskSpec


def _read_label_image(path, name: str) -> np.ndarray:
    # Palette PNGs give their indices; an 8-bit RGB(A) label image only when it is gray.
    return read_labels(path, name)


class SemanticTask(Task):
    name = "semantic"
    description = "open-vocabulary semantic segmentation: each class painted in the colour its legend names"
    value_kind = "labels"
    uses = frozenset({"classes"})
    options = {"tolerance": 80.0, "space": "rgb", "passes": 1}
    value_suffixes = (".png",)

    @property
    def codec(self) -> SemanticCodec:
        return SemanticCodec()

    def check_option(self, key, value):
        if key == "space" and value not in ("rgb", "lab"):
            raise InputError(f"task 'semantic': space {value!r} must be 'rgb' or 'lab'")
        value = super().check_option(key, value)
        if key == "passes" and value < 1:
            raise InputError(f"task 'semantic': passes={value} must be at least 1")
        if key == "tolerance" and value <= 0:
            raise InputError(f"task 'semantic': tolerance={value} must be positive")
        return value

    def validate_spec(self, spec: TaskSpec) -> None:
        if not spec.classes:
            raise InputError("task 'semantic': needs classes, e.g. '{\"cat\": \"red\", \"background\": \"white\"}'")

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def _codec(self, spec):
        return SemanticCodec(spec.option("tolerance", 80.0), spec.option("space", "rgb"))

    def passes(self, spec: TaskSpec) -> list[TaskSpec]:
        """With ``passes`` > 1, the legend's colours are permuted among the classes for each extra pass;
        labels keep the class order, so the passes can vote."""
        count = spec.option("passes", 1)
        return [spec.with_classes(legend) for legend in permuted_legends(list(spec.classes), count)]

    def encode(self, values, spec=None) -> np.ndarray:
        self._require(spec)
        return self.codec.encode(values, list(spec.classes))

    def decode(self, image, spec=None, mode=None):
        self._require(spec)
        classes, matched = matched_classes(image, spec)  # colour words -> the colours painted for them
        decoding = self._codec(spec).decode(image, classes, mode=mode)
        return replace(decoding, matched=matched) if matched else decoding

    def combine(self, decodings, spec):
        return with_matching(super().combine(decodings, spec), decodings)

    def _require(self, spec):
        if spec is None or not spec.classes:
            raise InputError("task 'semantic': needs classes")

    def preview(self, decoding, spec=None) -> np.ndarray:
        return paint_labels(decoding.values, spec.class_colours)

    def load_values(self, path, spec):
        labels = _read_label_image(path, "label")
        if labels.max() > len(spec.classes):
            raise InputError(f"{path}: label {labels.max()} exceeds the {len(spec.classes)} classes given")
        return labels

    def save_values(self, decoding, path, spec, overwrite=True):
        # A palette PNG: values 1..N as before, shown in the legend's colours by any viewer.
        labels = np.asarray(decoding.values).astype(label_dtype(len(spec.classes)))
        return write_label_png(path, labels, spec.class_colours, overwrite)


class InstanceTask(Task):
    name = "instance"
    description = "instance segmentation: each object of a class in a colour of its own"
    value_kind = "instances"
    uses = frozenset({"classes", "background"})
    options = {"tolerance": instance_codec.DEFAULT_TOLERANCE, "min_area": instance_codec.DEFAULT_MIN_AREA}
    value_suffixes = (".png",)

    @property
    def codec(self) -> InstanceCodec:
        return InstanceCodec()

    def check_option(self, key, value):
        value = super().check_option(key, value)
        if value <= 0:
            raise InputError(f"task 'instance': {key}={value} must be positive")
        return value

    def reserved_colours(self):
        return (instance_codec.DEFAULT_BACKGROUND,)

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def passes(self, spec: TaskSpec) -> list[TaskSpec]:
        """One pass per class: the model colours the instances of one class at a time."""
        if len(spec.classes) <= 1:
            return [spec]
        return [spec.with_classes([entry]) for entry in spec.classes]

    def _codec(self, spec):
        if spec is None:
            return self.codec
        return InstanceCodec(spec.option("tolerance", instance_codec.DEFAULT_TOLERANCE),
                             spec.option("min_area", instance_codec.DEFAULT_MIN_AREA),
                             spec.background or instance_codec.DEFAULT_BACKGROUND)

    def encode(self, values, spec=None) -> np.ndarray:
        return self._codec(spec).encode(values)

    def decode(self, image, spec=None, mode=None):
        return self._codec(spec).decode(image, mode=mode)

    def preview(self, decoding, spec=None) -> np.ndarray:
        return paint_labels(decoding.values, decoding.colours, unlabeled=(0, 0, 0))

    def load_values(self, path, spec):
        return _read_label_image(path, "instance-id")

    def save_values(self, decoding, path, spec, overwrite=True):
        return write_png(path, np.asarray(decoding.values).astype(np.uint16), overwrite)


class ReferringTask(Task):
    name = "referring"
    description = "referring segmentation: the object a phrase names, painted in one colour"
    value_kind = "mask"
    # ``classes``: several referred objects, each in its own colour (e.g. read from a prompt that names
    # two); they decode to one mask each.
    uses = frozenset({"expression", "colour", "background", "classes"})
    options = {"tolerance": referring_codec.DEFAULT_TOLERANCE}
    value_suffixes = (".png",)

    @property
    def codec(self) -> ReferringCodec:
        return ReferringCodec()

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def reserved_colours(self):
        return (referring_codec.DEFAULT_BACKGROUND,)

    def validate_spec(self, spec: TaskSpec) -> None:
        if spec.classes and (spec.expression or spec.colour):
            raise InputError("task 'referring': give one object (expression, colour) or several (classes), "
                             "not both")

    def _codec(self, spec):
        if spec is None:
            return self.codec
        return ReferringCodec(spec.colour or referring_codec.DEFAULT_COLOUR,
                              spec.background or referring_codec.DEFAULT_BACKGROUND,
                              spec.option("tolerance", referring_codec.DEFAULT_TOLERANCE))

    def encode(self, values, spec=None) -> np.ndarray:
        return self._codec(spec).encode(values)

    def decode(self, image, spec=None, mode=None):
        if spec is not None and spec.classes:
            return decode_objects(image, list(spec.classes), spec.background or referring_codec.DEFAULT_BACKGROUND,
                                  spec.option("tolerance", referring_codec.DEFAULT_TOLERANCE), spec, mode)
        codec = self._codec(spec)
        if spec is None:
            return codec.decode(image, mode=mode)
        keyed = [(spec.expression or "object", codec.colour), ("background", codec.background)]
        (colour, background), matched = matched_colours(image, keyed, spec)
        if not matched:
            return codec.decode(image, mode=mode)
        return replace(codec.decode(image, colour, background, mode=mode), matched=matched)

    def combine(self, decodings, spec):
        if spec.classes:  # several objects, one label each
            return with_matching(get_value_kind("labels").combine(decodings), decodings)
        return with_matching(super().combine(decodings, spec), decodings)

    def preview(self, decoding, spec=None) -> np.ndarray:
        if spec is not None and spec.classes:
            return paint_labels(decoding.values, spec.class_colours)
        mask = np.asarray(decoding.values, dtype=bool)
        return np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)

    def load_values(self, path, spec):
        return _read_label_image(path, "mask") > 0

    def save_values(self, decoding, path, spec, overwrite=True):
        if spec is not None and spec.classes:  # one 0/255 mask per object: mask-1.png, mask-2.png, ...
            return _save_object_masks(decoding, path, spec, overwrite)
        return write_png(path, (np.asarray(decoding.values, dtype=bool) * 255).astype(np.uint8), overwrite)


def _save_object_masks(decoding, path, spec, overwrite: bool):
    paths = object_paths(path, len(spec.classes))
    if not overwrite:
        for target in paths:
            if target.exists():
                raise InputError(f"{target}: already exists (pass --overwrite to replace it)")
    labels = np.asarray(decoding.values)
    written = []
    try:
        for k, target in enumerate(paths, start=1):
            written.append(write_png(target, ((labels == k) * 255).astype(np.uint8), overwrite))
    except BaseException:
        for done in written:  # all or nothing
            done.unlink(missing_ok=True)
        raise
    return paths[0]


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_tasks():
    return [SemanticTask(), InstanceTask(), ReferringTask()]
