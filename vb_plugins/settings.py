"""Run settings: one frozen, validated object that carries every setting of a prediction run.

Each setting is declared once, below, with its type, default, bounds and help text (a :class:`Setting`
in the field's metadata). Everything else is generated from that declaration:

- validation (:meth:`RunSettings.__post_init__`, one-line :class:`InputError` s naming the setting),
- ``vb predict``'s options (:func:`vb_plugins.cli.options.add_run_options`),
- the FiftyOne predict form and its params parser (:mod:`vb_plugins.fiftyone_tools.params`),
- the ComfyUI widgets of VB Load Generator and VB Generate and their checks (``Widget``),
- the JSON form written to records and the run signature that decides whether a FiftyOne field resumes.

A new setting is one new field here: the CLI, the FiftyOne form and Python keywords gain it with no other
change (a ComfyUI node shows it only when the field names a ``Widget``, since ComfyUI workflows store
widget values by position).

    >>> settings = RunSettings(model="black-forest-labs/FLUX.2-klein-4B", ensemble=3, dtype="bfloat16")
    >>> Predictor("depth", settings=settings)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from vb_plugins.codecs._modes import MODES as DECODE_MODES
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.errors import InputError
from vb_plugins.generation.base import DTYPES, GenerationSettings, check_dtype
from vb_plugins.registry import get_dialect

# Larger than any open image-editing model's working size (FLUX.2 paints up to 4 MP); a bigger request is a
# typo that would only end in running out of memory.
MAX_MEGAPIXELS = 16.0


@dataclass(frozen=True)
class Widget:
    """How a setting shows on a ComfyUI node: ``node`` is ``"load"`` (VB Load Generator) or ``"generate"``
    (VB Generate). ``unset`` is the widget value that means "not set" (0 for "the model's default",
    ``"auto"``); ``low`` / ``high`` / ``step`` the widget's range, ``limit`` a larger top the check accepts
    (values sent from code); ``choices`` the combo's options besides ``unset`` (default: the setting's)."""

    node: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    default: Any = None  # the widget's default when it differs from the setting's
    unset: Any = None
    limit: float | None = None
    choices: tuple | None = None
    tooltip: str | None = None
    extra: tuple = ()  # (key, value) pairs passed to the widget as they are


@dataclass(frozen=True)
class Setting:
    """One run setting as declared once (see the module docstring). ``name`` is filled in from the field."""

    type: type
    default: Any
    help: str
    label: str = ""
    low: float | None = None  # smallest value allowed (excluded with ``above``)
    above: bool = False
    high: float | None = None
    choices: tuple = ()
    check: Callable[[Any], Any] | None = None  # a rule owned elsewhere (dtype, decode mode, dialect)
    flag: str | None = None  # the CLI option (default --name-with-dashes; "" for none)
    metavar: str | None = None
    path: bool = False  # a local file or folder: the CLI makes it absolute so records name it one way
    form: bool = True  # on the FiftyOne predict form
    signature: str | None = None  # "always": in every run signature; "set": when not the default
    generator_option: bool = False  # passed on to the generator backend (load_generator)
    comfy: Widget | None = None
    name: str = ""

    @property
    def option(self) -> str | None:
        """The CLI flag, or None when the setting is not on the command line."""
        if self.flag == "":
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    def rule(self) -> str:
        """What a valid value is, as the error messages say it."""
        if self.type is int:
            text = f"at least {self.low:g}" if self.low is not None else ""
            # None is valid too (the model's default), so the message says what kind of value is wanted
            return f"a whole number of {text}" if self.default is None else (text or "a whole number")
        if self.type is float:
            bounds = []
            if self.low is not None:
                bounds.append(f"{'above' if self.above else 'at least'} {self.low:g}")
            if self.high is not None:
                bounds.append(f"at most {self.high:g}")
            return f"a number {' and '.join(bounds)}" if bounds else "a finite number"
        if self.type is bool:
            return "true or false"
        return "text"

    def validate(self, value):
        """``value`` checked (and normalised: numbers to int / float, blank text to None), else a one-line
        :class:`InputError` naming the setting. None is valid for settings whose default is None."""
        if value is None:
            if self.default is None:
                return None
            raise InputError(f"{self.name}=None: must be {self.rule()}")
        if self.path and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if self.type is str and isinstance(value, str) and not value.strip() and self.default is None:
            return None
        if self.check is not None:
            return self.check(value)
        if self.choices:
            if value not in self.choices:
                raise InputError(f"{self.name} {value!r}: expected one of {', '.join(self.choices)}")
            return value
        if self.type is bool:
            if not isinstance(value, bool | np.bool_):
                raise InputError(f"{self.name}={value!r}: must be true or false")
            return bool(value)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or \
                    (self.low is not None and value < self.low):
                raise InputError(f"{self.name}={value!r}: must be {self.rule()}")
            return int(value)
        if self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or \
                    not math.isfinite(value) or not self._within(float(value)):
                raise InputError(f"{self.name}={value!r}: must be {self.rule()}")
            return value if isinstance(value, int | float) else float(value)
        if not isinstance(value, str):
            raise InputError(f"{self.name}={value!r}: must be text")
        return value.strip()

    def _within(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def parse(self, value):
        """Text from a form, JSON or a command line -> the setting's type (then :meth:`validate`); blank
        text is the default."""
        if isinstance(value, str) and self.type is not str:
            text = value.strip()
            if not text:
                return self.default
            if self.type is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise InputError(f"{self.name}={value!r}: must be true or false")
                return text.lower() in ("true", "1", "yes")
            try:
                number = float(text)
            except ValueError:
                raise InputError(f"{self.name}={value!r}: expected "
                                 f"{'a whole number' if self.type is int else 'a number'}") from None
            if self.type is int:
                if not number.is_integer():
                    raise InputError(f"{self.name}={value!r}: expected a whole number")
                return int(number)
            return number
        if self.type is int and isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
            return int(value)  # JSON and forms send 4.0 for 4
        return value


def setting(default, type: type, help: str, **declared) -> Any:
    """A :class:`RunSettings` field declared with its :class:`Setting`."""
    if isinstance(default, dict):  # a mapping: compared, not hashed
        return field(default_factory=dict, hash=False, metadata={"setting": Setting(type, {}, help, **declared)})
    return field(default=default, metadata={"setting": Setting(type, default, help, **declared)})


def _dialect(name):
    get_dialect(name)  # a registered dialect (plugins included)
    return name


def _generator_options(value):
    if not isinstance(value, Mapping):
        raise InputError(f"generator_options={value!r}: must be a mapping of option names to values")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class RunSettings:
    """Every setting of a prediction run (None: the model's or backend's default). Frozen and checked once,
    when made: a :class:`RunSettings` that exists is valid. See the module docstring."""

    model: str | None = setting(
        None, str, "local pipeline directory, Hub id, or backend:model (default: the bundled model)",
        label="Model", path=True, signature="always", comfy=Widget("load"))
    lora: str | None = setting(
        None, str, "LoRA weights (.safetensors file or directory) for diffusers models; DiffSynth-named FLUX.1 "
        "LoRAs (Edit2Perceive) are converted on load", label="LoRA", path=True, signature="set",
        generator_option=True, comfy=Widget("load", unset="(none)"))
    transformer_weights: str | None = setting(
        None, str, "full transformer weights (.safetensors, diffusers or DiffSynth naming) that replace the "
        "diffusers model's, e.g. Edit2Perceive's depth.safetensors", label="Transformer weights",
        metavar="FILE", path=True, signature="set", generator_option=True)
    device: str | None = setting(
        None, str, "cpu, cuda, cuda:1, mps (default: best available)", label="Device", generator_option=True,
        comfy=Widget("load", unset="auto", choices=("cpu", "cuda", "mps"),
                     tooltip="auto: the device ComfyUI computes on (cpu under --cpu)"))
    dtype: str | None = setting(
        None, str, "float32, bfloat16, float16 (default: per device)", label="Compute dtype", choices=DTYPES,
        check=check_dtype, signature="set", generator_option=True, comfy=Widget("load", unset="auto"))
    cpu_offload: bool = setting(
        False, bool, "keep a diffusers model in CPU memory and move each part to the GPU only while it runs",
        label="CPU offload", generator_option=True, comfy=Widget("load"))
    seed: int = setting(
        0, int, "seed of the first sample (ensemble samples use seed, seed + 1, ...)", label="Seed",
        signature="always",
        comfy=Widget("generate", low=0, high=2**53, limit=2**63 - 1, extra=(("control_after_generate", True),)))
    steps: int | None = setting(
        None, int, "denoising steps (default: the model family's)", label="Denoising steps", low=1,
        signature="always", comfy=Widget("generate", low=0, high=1000, unset=0, tooltip="0: the model's default"))
    guidance: float | None = setting(
        None, float, "guidance scale (default: the model family's)", label="Guidance",
        signature="always",
        comfy=Widget("generate", low=0.0, high=100.0, step=0.1, unset=0.0, tooltip="0: the model's default"))
    megapixels: float | None = setting(
        None, float, "generation size (default: the model's native size)", label="Megapixels", low=0.0,
        above=True, high=MAX_MEGAPIXELS, signature="always",
        comfy=Widget("generate", low=0.0, high=MAX_MEGAPIXELS, step=0.05, unset=0.0,
                     tooltip="generation size; 0: the model's native size"))
    ensemble: int = setting(
        1, int, "samples per image, combined (median depth, mean normals, majority labels); their spread is "
        "the uncertainty", label="Ensemble size", low=1, signature="always",
        comfy=Widget("generate", low=1, high=64,
                     tooltip="samples per image (seeds seed, seed+1, ...), combined by the decoders"))
    batch_size: int = setting(
        4, int, "largest batch (halved on out-of-memory)", label="Batch size", low=1,
        comfy=Widget("generate", low=1, high=64, default=1))
    dialect: str | None = setting(
        None, str, "prompt dialect (default: the model's)", label="Prompt dialect", check=_dialect,
        signature="always", comfy=Widget("generate", unset="(model default)"))
    decode_mode: str | None = setting(
        None, str, "exact: every pixel on its own (lossless output); robust: read compressed, noisy or "
        "colour-cast output; auto: decided per image (default: auto, or what decode_mode(...) set)",
        label="Decode mode", choices=DECODE_MODES, check=resolve_mode, signature="set")
    generator_options: Mapping = setting(
        {}, dict, "other options for the generator backend", check=_generator_options, flag="", form=False)

    def __post_init__(self):
        for name, declared in SETTINGS.items():
            object.__setattr__(self, name, declared.validate(getattr(self, name)))

    # -- conversions ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping) -> RunSettings:
        """Settings from their JSON form (:meth:`to_dict`); an unknown key is refused by name."""
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise InputError(f"unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(SETTINGS)}")
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-friendly: every setting by name."""
        return {name: dict(value) if isinstance(value, Mapping) else value
                for name in SETTINGS for value in [getattr(self, name)]}

    def replace(self, **changes) -> RunSettings:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)

    def signature(self) -> dict:
        """The settings that decide a run's results, as run signatures record them: those declared
        ``"always"``, and those declared ``"set"`` when they differ from their default (so a signature
        written before such a setting existed still matches a run that leaves it unset)."""
        result = {}
        for name, declared in SETTINGS.items():
            value = getattr(self, name)
            if declared.signature == "always" or (declared.signature == "set" and value != declared.default):
                result[name] = value
        return result

    def generation(self) -> GenerationSettings:
        """The sampling settings the generator protocol takes."""
        return GenerationSettings(steps=self.steps, guidance=self.guidance, megapixels=self.megapixels)

    def generator_kwargs(self) -> dict:
        """Keyword arguments for :func:`vb_plugins.generation.load_generator`: the options set, no defaults."""
        options = dict(self.generator_options)
        for name, declared in SETTINGS.items():
            value = getattr(self, name)
            if declared.generator_option and value is not None and value != declared.default:
                options[name] = value
        return options


SETTINGS: dict[str, Setting] = {f.name: replace(f.metadata["setting"], name=f.name) for f in fields(RunSettings)}


def split_settings(options: Mapping) -> tuple[dict, dict]:
    """Keyword arguments -> (those that are run settings, the rest: task options)."""
    settings = {k: v for k, v in options.items() if k in SETTINGS}
    return settings, {k: v for k, v in options.items() if k not in SETTINGS}


def widget_settings(node: str) -> dict[str, Setting]:
    """The settings a ComfyUI node shows as widgets, in declaration order."""
    return {name: s for name, s in SETTINGS.items() if s.comfy is not None and s.comfy.node == node}


def check_widget(name: str, value, choices: tuple | None = None) -> None:
    """A ComfyUI widget value checked against the widget's range or options (None: not known yet)."""
    declared = SETTINGS[name]
    widget = declared.comfy
    if value is None:
        return
    if declared.type is int:
        top = widget.limit if widget.limit is not None else widget.high
        if not isinstance(value, int) or isinstance(value, bool) or not widget.low <= value <= top:
            raise InputError(f"{name}={value!r}: must be a whole number from {int(widget.low)} to {int(top)}")
    elif declared.type is float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not widget.low <= value <= widget.high:
            low = f"{widget.low:g} (model default)" if widget.unset == widget.low else f"{widget.low:g}"
            raise InputError(f"{name}={value!r}: must be a number from {low} to {widget.high:g}")
    else:
        options = widget_options(name, choices)
        if options is not None and value not in options:
            raise InputError(f"{name} {value!r}: expected one of {', '.join(map(str, options))}")


def widget_options(name: str, choices: tuple | None = None) -> list | None:
    """A combo widget's options: ``unset`` first, then ``choices`` (given by the node: model folders,
    registered dialects), the widget's own, or the setting's. None for a free widget."""
    declared = SETTINGS[name]
    widget = declared.comfy
    options = choices if choices is not None else widget.choices if widget.choices is not None else \
        declared.choices or None
    if options is None:
        return None
    return ([widget.unset] if widget.unset is not None else []) + list(options)


def widget_default(name: str):
    declared = SETTINGS[name]
    widget = declared.comfy
    if widget.default is not None:
        return widget.default
    return widget.unset if declared.default is None and widget.unset is not None else declared.default


def from_widget(name: str, value):
    """A widget value -> the setting's value (the widget's ``unset`` means None)."""
    widget = SETTINGS[name].comfy
    if widget is not None and widget.unset is not None and value == widget.unset:
        return None
    return value


__all__ = ["RunSettings", "Setting", "Widget", "SETTINGS", "MAX_MEGAPIXELS", "split_settings", "widget_settings",
           "check_widget", "widget_options", "widget_default", "from_widget"]
