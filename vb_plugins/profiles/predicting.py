"""The profile half of a :class:`vb_plugins.predict.Predictor`: which profile a run uses, the task that decodes
what the model paints, its spec, prompts' wording, generation defaults and the weights files it names."""

from __future__ import annotations

from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.generation.base import GenerationSettings
from vb_plugins.profiles.model import Profile, TaskProfile
from vb_plugins.profiles.resolve import resolve_profile
from vb_plugins.registry import get_task
from vb_plugins.tasks.base import Task, TaskSpec


class ProfileSteps:
    """Mixed into :class:`vb_plugins.predict.Predictor` (which sets ``settings``, ``asked``, ``_generator``)."""

    def _resolve_profile(self) -> Profile:
        """The run's profile: the one named, else the one the model (or its weight files) says."""
        source = self._generator if self._generator is not None else self.settings
        model = getattr(source, "model", None)
        weights = tuple(w for w in (getattr(source, "lora", None), getattr(source, "transformer_weights", None))
                        if isinstance(w, str))
        return resolve_profile(self.settings.profile, model if isinstance(model, str) else None,
                               self.settings.profile_overrides, weights)

    def _profile_task(self, asked: str) -> TaskProfile | None:
        entry = self.profile.entry(asked)
        if entry is None and not self.profile.other_tasks:
            raise InputError(f"profile {self.profile.name!r} has no task {asked!r}; its tasks: "
                             f"{', '.join(self.profile.task_names)}")
        return entry

    def _decoding_task(self, task: str | Task) -> Task:
        """The task that decodes what the model paints for ``task`` (the profile's, else ``task`` itself)."""
        name = self.profile_task.decode_as if self.profile_task is not None else self.asked
        if not isinstance(task, str) and task.name == name:
            return task
        if name != self.asked:
            try:
                return get_task(name)
            except InputError:
                raise InputError(f"profile {self.profile.name!r} decodes {self.asked!r} with task {name!r}, which "
                                 "no installed plugin registers") from None
        return get_task(name)

    def _make_spec(self, spec: TaskSpec | None, task_options: dict) -> TaskSpec:
        """The decoding task's spec: the profile's options for the task, then the user's (a spec given for
        the task as the user named it is rebuilt for the decoding task)."""
        profiled = dict(self.profile_task.options) if self.profile_task is not None else {}
        if spec is not None:
            if spec.task == self.task.name and (not profiled or spec.task != self.asked):
                return spec
            if spec.task != self.asked:
                raise InputError(f"spec is for task {spec.task!r}, not {self.asked!r}")
            given = spec.to_dict()
            given.pop("task")
            task_options = {**given, **given.pop("options", {})}
        try:
            return self.task.make_spec(**{**profiled, **task_options})
        except InputError as error:
            if self.task.name == self.asked:
                raise
            raise InputError(f"profile {self.profile.name!r} paints {self.asked} as {self.task.name}: {error}") \
                from None

    def generation_settings(self) -> GenerationSettings:
        """The sampling settings: the run's, else the profile's defaults for the task (else the model's)."""
        defaults = self.profile.defaults_for(self.profile_task)
        settings = self.settings
        return GenerationSettings(steps=settings.steps or defaults.steps,
                                  guidance=settings.guidance if settings.guidance is not None else defaults.guidance,
                                  megapixels=settings.megapixels or defaults.megapixels)

    def fixed_size(self) -> tuple[int, int] | None:
        """The size the profile paints every image at (None: the input's aspect ratio at a model size); the
        run's own megapixels win."""
        if self.settings.megapixels is not None:
            return None
        return self.profile.defaults_for(self.profile_task).size

    def profile_record(self) -> dict:
        """How records name the profile: its name, and the file and overrides it came with."""
        record = {"profile": self.profile.name}
        if self.profile.source:
            record["profile_file"] = self.profile.source
        if self.settings.profile_overrides:
            record["profile_overrides"] = dict(self.settings.profile_overrides)
        if self.asked != self.task.name:
            record["profile_task"] = self.asked
        return record

    def notices(self) -> list[str]:
        """Lines for users about what the outputs are worth (the model's) and what the profile expects."""
        lines = [self.generator.notice] if self.generator.notice else []
        weights = self.profile.weights
        entry = self.profile_task
        if "lora" in weights.kind and entry is not None and not (self.settings.lora or self.settings.transformer_weights
                                                                 or getattr(self.generator, "lora", None)):
            files = " or ".join(f for f in (entry.lora_file, entry.transformer_file) if f) or "its weights"
            lines.append(f"profile {self.profile.name!r} expects the checkpoint's {self.asked} weights ({files}, "
                         "with --lora or --transformer-weights); without them the base model is not tuned for it")
        return lines

    def _generator_kwargs(self) -> dict:
        """The settings' generator options; a LoRA or transformer-weights folder holding the profile's file
        for this task (Edit2Perceive's ``depth_lora.safetensors``) names that file."""
        kwargs = self.settings.generator_kwargs()
        entry = self.profile_task
        named = (("lora", entry and entry.lora_file), ("transformer_weights", entry and entry.transformer_file))
        for key, name in named:
            folder = Path(kwargs[key]).expanduser() if kwargs.get(key) else None
            if name and folder is not None and folder.is_dir() and (folder / name).is_file():
                kwargs[key] = str(folder / name)
        return kwargs
