"""`vb train` configuration: a YAML or JSON file, with command-line overrides.

Example (``train.yaml``)::

    output_dir: runs/vb-small
    model: vbnet            # train a VBNet from scratch; or a diffusers pipeline id/path for LoRA
    method: full            # full | lora
    tasks: [depth, normals]
    data: [{type: synthetic, size: 64}]
    steps: 4000
    batch_size: 16
    learning_rate: 0.001
    seed: 0
"""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vb_plugins.errors import InputError
from vb_plugins.registry import get_task
from vb_plugins.training.checking import WRONG, check_section, checked_value, describe_type, shown
from vb_plugins.training.data import Augmentation
from vb_plugins.training.sources import check_source


@dataclass
class TrainConfig:
    output_dir: str = "runs/vb"
    model: str | None = "vbnet"  # None or "": a new VBNet, as "vbnet"
    method: str = "full"
    tasks: list[str] = field(default_factory=lambda: ["depth", "normals"])
    data: list[dict] = field(default_factory=lambda: [{"type": "synthetic", "size": 64}])
    dialect: str = "vision-banana"
    steps: int = 1000
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    terminal_fraction: float = 0.0  # share of flow-matching examples at t = 1 (see flow_matching_loss)
    seed: int = 0
    resolution: int | None = None  # training size (default: the data's)
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 10
    device: str | None = None
    threads: int | None = None
    augment: dict = field(default_factory=dict)
    vbnet: dict = field(default_factory=dict)  # VBNetConfig overrides
    lora: dict = field(default_factory=lambda: {"rank": 16, "alpha": 16, "target_modules": None})
    diffusers: dict = field(default_factory=dict)  # dtype, guidance for training, resolution, ...

    def validate(self) -> None:
        self._check_types()
        if self.method not in ("full", "lora"):
            raise InputError(f"method {self.method!r}: expected 'full' or 'lora'")
        if not self.tasks:
            raise InputError("tasks: at least one task is needed")
        for task in self.tasks:
            get_task(task)
        for key in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if int(getattr(self, key)) < 1:
                raise InputError(f"{key}={getattr(self, key)}: must be at least 1")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate={self.learning_rate}: must be positive")
        if not 0.0 <= float(self.terminal_fraction) <= 1.0:
            raise InputError(f"terminal_fraction={self.terminal_fraction}: must be between 0 and 1")
        if not self.data:
            raise InputError("data: at least one data source is needed")

    def _check_types(self) -> None:
        """Each setting has its declared type (one-line error naming the key otherwise). Numbers written as
        text are read for float settings: YAML reads ``1e-3`` (no dot) as text."""
        hints = typing.get_type_hints(TrainConfig)
        for item in fields(self):
            value = getattr(self, item.name)
            checked = checked_value(value, hints[item.name])
            if checked is WRONG:
                raise InputError(f"{item.name}: expected {describe_type(hints[item.name])}, got {shown(value)}")
            setattr(self, item.name, checked)
        self._check_sections()

    def _check_sections(self) -> None:
        """The nested settings the trainers read: VBNet architecture, augmentations, data sources."""
        if self.vbnet:
            from vb_plugins.generation.vbnet import VBNetConfig  # torch: only when VBNet settings are given

            # VBNetConfig.from_dict ignores keys it does not know (tasks and dialect come from the run)
            self.vbnet = check_section("vbnet", self.vbnet, typing.get_type_hints(VBNetConfig), allow_unknown=True)
        self.augment = check_section("augment", self.augment, typing.get_type_hints(Augmentation))
        self.data = [check_source(f"data[{i}]", source) for i, source in enumerate(self.data)]

    def fingerprint(self) -> str:
        """Hash of the settings that must not change when a run resumes (not steps or logging)."""
        stable = {k: v for k, v in asdict(self).items()
                  if k not in ("steps", "checkpoint_every", "keep_checkpoints", "log_every", "device", "threads",
                               "output_dir")}
        return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(value, str) and not isinstance(current, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            if current is None:
                return value
            raise InputError(f"--set {name}={value!r}: not a valid value (use JSON for lists and objects)") from None
    return value


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> TrainConfig:
    """Read a config file (YAML or JSON) and apply ``overrides`` (dotted keys allowed: ``vbnet.channels``)."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such config file")
        text = path.read_text()
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = json.loads(text)
        except Exception as error:  # yaml and json raise different types
            kind = path.suffix.lstrip(".").upper()
            raise InputError(f"{path}: not valid {kind} ({str(error).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a mapping of settings at the top level")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    config = TrainConfig(**data)
    for key, value in (overrides or {}).items():
        head, _, rest = key.partition(".")
        if head not in known:
            raise InputError(f"--set {key}: unknown setting {head!r}")
        if rest:
            nested = dict(getattr(config, head) or {})
            nested[rest] = _coerce(key, value, nested.get(rest))
            setattr(config, head, nested)
        else:
            setattr(config, head, _coerce(key, value, getattr(config, head)))
    config.validate()
    return config
