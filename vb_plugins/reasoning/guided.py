"""A :class:`~vb_plugins.predict.Predictor` whose prompt depends on what a vision-language model sees in each image.

- **Rewriting** (referring): a reasoning query ("the object that keeps food cold") is rewritten per image into
  a plain referring expression ("the white refrigerator"), which the generator paints and the decoder reads.
  When the rewriter answers "absent", the image gets an empty mask and the generator is not called.
- **Presence gating** (semantic, instance): each class is checked first; classes judged absent are left out
  of the prompt (instance: their passes are not generated at all) and come back empty. A semantic legend's
  ``background`` class is never gated. When no class is present the generator is not called.

Every (image, question) is asked once per run (:class:`~vb_plugins.reasoning.cache.AnswerCache`). What the
model said is kept in each prediction: ``extras["rewrite"]`` (query, expression or absent, the model's answer)
and ``extras["gate"]`` (per class: present, score, answer), and the rewriter or gate in its settings.
``prediction.prompts`` are the prompts actually sent (none for an image nothing was generated for);
``prediction.spec`` stays the run's spec (the query; every class), so records of one run compare equal.

Per-image ``texts`` (``{key: text}``), as benchmarks give them: the query of each image (referring; rewritten
when there is a rewriter, painted as it is otherwise) or the noun phrase of each image (instance; gated when
there is a gate), recorded in ``extras["query"]`` / ``extras["phrase"]``.

A failed question (a remote error, an unreadable answer) fails only its image: with ``on_error`` the other
images go on and the failure is handed to ``on_error(key, error)``; without, it is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from vb_plugins.codecs.semantic import label_dtype
from vb_plugins.errors import CancelledError, InputError, VBError
from vb_plugins.generated import Generated, GeneratedImage
from vb_plugins.predict import Prediction, Predictor, load_input_image
from vb_plugins.reasoning.answers import Presence, Rewrite
from vb_plugins.reasoning.base import (
    DEFAULT_THRESHOLD,
    PresenceGate,
    Rewriter,
    check_threshold,
    load_gate,
    load_rewriter,
)
from vb_plugins.reasoning.cache import AnswerCache
from vb_plugins.reasoning.queries import read_query_table
from vb_plugins.settings import VLM_SETTINGS, RunSettings
from vb_plugins.tasks.base import TaskSpec

ErrorHandler = Callable[[Hashable, VBError], None]
UNGATED = frozenset({"background"})  # legend entries that are everywhere else, never asked about


@dataclass
class _Plan:
    """What to do for one image: paint ``spec`` (None: nothing to paint) and keep ``extras``."""

    spec: TaskSpec | None
    extras: dict = field(default_factory=dict)
    kept: tuple[int, ...] = ()  # gating: indices of the run's classes in ``spec``


def is_referring(predictor: Predictor) -> bool:
    """A task that paints one expression (referring): what a rewriter and per-image queries are for."""
    return "expression" in predictor.task.uses and not predictor.spec.classes


def can_gate_kind(predictor: Predictor) -> bool:
    return predictor.task.value_kind in ("labels", "instances")


class GuidedPredictor:
    """Wraps ``predictor`` (its generator, engine and settings are shared) with a ``rewriter`` or a ``gate`` (a
    model string, loaded on first use with ``vlm_options`` such as ``device``, or a loaded object), and/or
    per-image ``texts``.

    Generation goes through the predictor's public halves: the images of a window are grouped by what they
    paint, each group is generated (:meth:`Predictor.generate`) by a predictor for that spec, and each image is
    decoded (:meth:`Predictor.decode`) with the spec of its own plan. A spec whose passes are each a spec of
    their own (instance: one class per pass) is generated pass by pass, so the images that share a class share
    its batches whatever their other classes."""

    def __init__(self, predictor: Predictor, *, rewriter: str | Rewriter | None = None,
                 gate: str | PresenceGate | None = None, threshold: float | None = None,
                 texts: Mapping[Hashable, str] | None = None, vlm_options: dict | None = None,
                 cache: AnswerCache | None = None):
        if rewriter is not None and gate is not None:
            raise InputError("a rewriter and a presence gate cannot be combined: the rewriter is for referring, "
                             "the gate for semantic and instance classes")
        if rewriter is None and gate is None and texts is None:
            raise InputError("guided prediction needs a rewriter, a presence gate or per-image texts")
        task, spec = predictor.task.name, predictor.spec
        if texts is not None and not (is_referring(predictor) and not spec.expression) and not (
                predictor.task.value_kind == "instances" and not spec.classes):
            raise InputError(f"per-image texts: a query per image for referring or a phrase per image for instance, "
                             f"instead of --query / --expression / --classes; not for task {task!r}"
                             + (" with an expression or classes given too" if spec.expression or spec.classes else ""))
        if rewriter is not None and not (is_referring(predictor) and (spec.expression or texts is not None)):
            why = "has classes" if spec.classes else "takes no expression" if \
                "expression" not in predictor.task.uses else "was given no query"
            raise InputError(f"rewriter: rewrites the query of a referring task (referring --query TEXT); "
                             f"task {task!r} {why}")
        if gate is not None and not (can_gate_kind(predictor) and (spec.classes or texts is not None)):
            what = f"task {task!r}" + (" without classes" if can_gate_kind(predictor) else "")
            raise InputError(f"presence gate: applies to the classes of semantic and instance tasks, not to {what}")
        self.texts = None if texts is None else {key: _text(key, text) for key, text in texts.items()}
        # The predictor paints; the vision-language model settings are this object's (a Predictor refuses them).
        self.base = _unguided(predictor)
        self.queries_file = predictor.settings.queries
        self.rewriter_model = rewriter
        self.gate_model = gate
        if threshold is not None and isinstance(gate, PresenceGate):
            raise InputError("threshold: set it on the gate object itself")
        self.threshold = check_threshold(threshold if threshold is not None else
                                         getattr(gate, "threshold", DEFAULT_THRESHOLD))
        self.vlm_options = dict(vlm_options or {})
        self.cache = cache if cache is not None else AnswerCache()
        self._rewriter = rewriter if isinstance(rewriter, Rewriter) else None
        self._gate = gate if isinstance(gate, PresenceGate) else None
        self._children: dict[str, Predictor] = {}
        self.generations_skipped = 0  # images for which nothing was generated

    # -- what adapters read, as from a Predictor ------------------------------------------------------------
    @property
    def task(self):
        return self.base.task

    @property
    def spec(self) -> TaskSpec:
        return self.base.spec

    @property
    def passes(self) -> list[TaskSpec]:
        return self.base.passes

    @property
    def profile(self):
        return self.base.profile

    @property
    def profile_task(self):
        return self.base.profile_task

    @property
    def asked(self) -> str:
        return self.base.asked

    @property
    def generator(self):
        return self.base.generator

    @property
    def engine(self):
        return self.base.engine

    @property
    def ensemble(self) -> int:
        return self.base.ensemble

    @property
    def seed(self) -> int:
        return self.base.seed

    @property
    def settings(self) -> RunSettings:
        """The run's settings with the rewriter or gate (by name) and the gate's threshold as they run: what run
        signatures compare, so a rerun with another model or threshold is another run."""
        return self.base.settings.replace(
            rewriter=None if self.rewriter_model is None else _model_name(self.rewriter_model),
            gate=None if self.gate_model is None else _model_name(self.gate_model),
            gate_threshold=None if self.gate_model is None else self.threshold, queries=self.queries_file)

    @property
    def dialect(self):
        return self.base.dialect

    @property
    def batch_size(self) -> int:
        return self.base.batch_size

    @property
    def model(self):
        return self.base.model

    @property
    def model_name(self) -> str | None:
        return self.base.model_name

    @property
    def prompts(self) -> None:
        """None: the prompts depend on each image (see each prediction's ``prompts``)."""
        return None

    @property
    def rewriter(self) -> Rewriter | None:
        if self._rewriter is None and self.rewriter_model is not None:
            self._rewriter = load_rewriter(self.rewriter_model, **self.vlm_options)
        return self._rewriter

    @property
    def gate(self) -> PresenceGate | None:
        if self._gate is None and self.gate_model is not None:
            self._gate = load_gate(self.gate_model, threshold=self.threshold, **self.vlm_options)
        return self._gate

    def load(self) -> None:
        """Load the generator and the vision-language model (each refuses what it cannot do, before any work)."""
        _ = self.base.generator
        _ = self.rewriter if self.rewriter_model is not None else self.gate

    def guidance(self) -> dict:
        """The rewriter or gate (and whether texts came per image) as recorded with every prediction."""
        recorded = {"queries": "per image"} if self.texts is not None else {}
        if self.rewriter_model is not None:
            recorded["rewriter"] = _model_name(self.rewriter_model)
        if self.gate_model is not None:
            recorded.update(gate=_model_name(self.gate_model), gate_threshold=self.threshold)
        return recorded

    def describe(self) -> dict:
        return {**self.base.describe(), **self.guidance()}

    # -- prediction -----------------------------------------------------------------------------------------
    def predict(self, images, keys=None, progress=None, should_stop=None,
                on_error: ErrorHandler | None = None) -> list[Prediction]:
        return list(self.predict_iter(images, keys, progress, should_stop, on_error=on_error))

    def predict_iter(self, images: Iterable, keys: Iterable[Hashable] | None = None, progress=None,
                     should_stop: Callable[[], bool] | None = None, window: int | None = None,
                     on_error: ErrorHandler | None = None) -> Iterator[Prediction]:
        """As :meth:`Predictor.predict_iter`; ``on_error(key, error)`` takes the images whose question failed
        (they yield nothing) instead of raising."""
        images = list(images) if not hasattr(images, "__next__") else images
        total = len(images) if hasattr(images, "__len__") else None
        keys_iter = iter(keys) if keys is not None else None
        passes = len(self.base.passes)
        window = window or max(1, 4 * self.base.batch_size // max(1, passes * self.base.ensemble))
        stream, done, seen = iter(images), 0, 0
        while True:
            chunk = list(islice(stream, window))
            if not chunk:
                return
            if should_stop and should_stop():
                raise CancelledError(f"cancelled after {done} images")
            chunk_keys = [next(keys_iter) if keys_iter else (str(item) if isinstance(item, str | Path) else seen + i)
                          for i, item in enumerate(chunk)]
            seen += len(chunk)
            arrays = [load_input_image(item, name=str(key)) for item, key in zip(chunk, chunk_keys)]
            for prediction in self._predict_chunk(arrays, chunk_keys, should_stop, on_error):
                done += 1
                yield prediction
                if progress:
                    progress(done, total)

    def _predict_chunk(self, arrays, keys, should_stop, on_error) -> list[Prediction]:
        plans = self._plans(arrays, keys, should_stop)
        results: dict[int, Prediction] = {}
        painting = []  # images with something to paint
        for i, plan in enumerate(plans):
            if isinstance(plan, VBError):
                if on_error is None:
                    raise plan
                on_error(keys[i], plan)
            elif plan.spec is None:
                results[i] = self._nothing_to_paint(arrays[i], keys[i], plan)
            else:
                painting.append(i)
        if painting:
            results.update(self._paint(arrays, keys, plans, painting, should_stop))
        return [results[i] for i in sorted(results)]

    # -- asking the model -----------------------------------------------------------------------------------
    def _plans(self, arrays, keys, should_stop) -> list[_Plan | VBError]:
        """What to paint in each image (or the error that stops it), from the VLM's answers."""
        texts = [self._text_of(key) for key in keys]
        if is_referring(self.base):
            return self._referring_plans(arrays, texts, should_stop)
        return self._class_plans(arrays, texts, should_stop)

    def _referring_plans(self, arrays, texts, should_stop) -> list[_Plan | VBError]:
        queries = [self.spec.expression if text is None else text for text in texts]
        if self.rewriter_model is None:  # per-image expressions, painted as they are
            return [query if isinstance(query, VBError) else
                    _Plan(replace(self.spec, expression=query), {"query": query}) for query in queries]
        asked = [i for i, query in enumerate(queries) if not isinstance(query, VBError)]
        answers = self.cache.answers("rewrite", self.rewriter.rewrite_many, [(arrays[i], queries[i]) for i in asked],
                                     should_stop)
        plans: list[_Plan | VBError] = list(queries)  # the errors stay in place
        for i, answer in zip(asked, answers):
            plans[i] = answer if isinstance(answer, VBError) else self._rewrite_plan(answer)
        return plans

    def _class_plans(self, arrays, texts, should_stop) -> list[_Plan | VBError]:
        legends = [self.spec.classes if text is None else text if isinstance(text, VBError)
                   else self.task.resolve_classes([text]) for text in texts]
        questions = [] if self.gate_model is None else [  # (image, class) pairs to ask about
            (i, k) for i, legend in enumerate(legends) if not isinstance(legend, VBError)
            for k, (name, _) in enumerate(legend) if name.strip().lower() not in UNGATED]
        answers = self.cache.answers("presence", self.gate.presence_many,
                                     [(arrays[i], legends[i][k][0]) for i, k in questions], should_stop) \
            if questions else []
        per_image: dict[int, dict[int, Presence | VBError]] = {}
        for (i, k), answer in zip(questions, answers):
            per_image.setdefault(i, {})[k] = answer
        plans: list[_Plan | VBError] = []
        for i, legend in enumerate(legends):
            mine = per_image.get(i, {})
            failed = [answer for answer in mine.values() if isinstance(answer, VBError)]
            plan = legend if isinstance(legend, VBError) else failed[0] if failed else self._gate_plan(legend, mine)
            if isinstance(plan, _Plan) and texts[i] is not None:
                plan.extras["phrase"] = texts[i]
            plans.append(plan)
        return plans

    def _text_of(self, key) -> str | VBError | None:
        """The text given for the image ``key``: by the key itself, else (a path) its file name or stem."""
        if self.texts is None:
            return None
        names = [key] + ([Path(str(key)).name, Path(str(key)).stem] if isinstance(key, str | Path) else [])
        for name in names:
            if name in self.texts:
                return self.texts[name]
        return InputError(f"{key}: no query or phrase was given for this image")

    def _rewrite_plan(self, rewrite: Rewrite) -> _Plan:
        spec = None if rewrite.absent else replace(self.spec, expression=rewrite.expression)
        return _Plan(spec, {"rewrite": rewrite.to_dict()})

    def _gate_plan(self, classes, answers: dict[int, Presence]) -> _Plan:
        """Paint the classes of ``classes`` not judged absent (``kept``: their indices); nothing when every class
        asked about is absent. Without a gate (``answers`` empty, per-image phrases) every class is kept."""
        kept = tuple(k for k in range(len(classes)) if k not in answers or answers[k].present)
        extras = {"gate": [answers[k].to_dict() for k in sorted(answers)]} if self.gate_model is not None else {}
        if answers and not any(k in answers for k in kept):  # nothing asked about is present: background at most
            return _Plan(None, extras, kept)
        painted = tuple(classes[k] for k in kept)
        return _Plan(self.spec if painted == self.spec.classes else self.spec.with_classes(painted), extras, kept)

    # -- painting: the public halves of the predictor ---------------------------------------------------------
    def _paint(self, arrays, keys, plans, painting: list[int], should_stop) -> dict[int, Prediction]:
        """Generate the images of ``painting`` (indices) grouped by what they paint, then decode each with the
        spec of its plan."""
        groups: dict[str, tuple[Predictor, list[int]]] = {}  # spec -> (its predictor, the images painting it)
        layout: dict[int, list[tuple[str, int]]] = {}  # image -> (group, position in it) for each of its parts
        for i in painting:
            for part in self._parts(plans[i].spec):
                key = part.to_json()
                _, members = groups.setdefault(key, (self._child(part), []))
                layout.setdefault(i, []).append((key, len(members)))
                members.append(i)
        made = {key: self._generate(child, [arrays[i] for i in members], [keys[i] for i in members], should_stop)
                for key, (child, members) in groups.items()}
        settings = self.base.describe()  # one record for every image of the run, whatever its plan
        results = {}
        for i in painting:
            parts = [made[key][n] for key, n in layout[i]]
            image = GeneratedImage(keys[i], [per_pass for part in parts for per_pass in part.samples],
                                   parts[0].requested_size, parts[0].input_size)
            child = self._child(plans[i].spec)
            seconds = sum(made[key].seconds for key, _ in layout[i])
            [prediction] = child.decode(Generated(self.task.name, child.spec, list(child.prompts), [image],
                                                  settings, seconds))
            results[i] = self._finish(prediction, plans[i])
        return results

    def _parts(self, spec: TaskSpec) -> list[TaskSpec]:
        """What ``spec`` is generated as: its passes when each is a spec of its own (instance classes), so
        images share the batches of the classes they share; else the spec whole."""
        passes = self.task.passes(spec)
        if len(passes) > 1 and all(self.task.passes(part) == [part] for part in passes):
            return passes
        return [spec]

    def _generate(self, child: Predictor, images: list, keys: list, should_stop) -> Generated:
        """``child.generate`` on the run's engine (each prompt encoded once per run; calls counted together)."""
        child.engine = self.base.engine
        try:
            return child.generate(images, keys, should_stop=should_stop)
        finally:
            self.base.engine = child.engine

    def _child(self, spec: TaskSpec) -> Predictor:
        """A predictor for ``spec`` with the run's generator and settings (the run's own for its spec)."""
        if spec == self.spec:
            return self.base
        key = spec.to_json()
        if key not in self._children:
            self._children[key] = Predictor(self.task, self.base.generator, spec=spec, settings=self.base.settings)
        return self._children[key]

    def _finish(self, prediction: Prediction, plan: _Plan) -> Prediction:
        kind = self.task.value_kind
        if kind == "labels" and plan.kept and len(plan.kept) != len(self.spec.classes):
            lookup = np.zeros(len(plan.kept) + 1, label_dtype(len(self.spec.classes)))
            lookup[1:] = np.asarray(plan.kept) + 1  # label k + 1 of the painted legend -> the run's class
            prediction.values = lookup[np.asarray(prediction.values)]
        if kind == "labels":
            prediction.extras["names"] = self.spec.class_names
        prediction.spec = self.spec
        prediction.settings = {**prediction.settings, **self.guidance()}
        prediction.extras.update(plan.extras)
        return prediction

    def _nothing_to_paint(self, image: np.ndarray, key, plan: _Plan) -> Prediction:
        """The prediction of an image with nothing to paint: an empty mask, no instances, or only background."""
        self.generations_skipped += 1
        shape = image.shape[:2]
        kind = self.task.value_kind
        extras = dict(plan.extras)
        if kind == "labels":
            values = np.zeros(shape, label_dtype(len(self.spec.classes)))
            values[...] = plan.kept[0] + 1 if plan.kept else 0  # the ungated background class, if any
            extras["names"] = self.spec.class_names
        elif kind == "instances":
            values = np.zeros(shape, np.int32)
            extras.update(colours=np.zeros((0, 3), np.uint8), classes=[])
        else:
            values = np.zeros(shape, bool)
        settings = {**self.base.describe(), **self.guidance(), "input_size": list(shape), "generated_size": None,
                    "requested_size": None, "seconds": 0.0}
        return Prediction(self.task.name, self.spec, values, np.ones(shape, np.float32), None, [], [], settings,
                          extras, key)


def _unguided(predictor: Predictor) -> Predictor:
    """``predictor``, or a predictor like it without the vision-language model settings (a Predictor refuses
    them: they are run by :class:`GuidedPredictor`)."""
    if all(getattr(predictor.settings, name) is None for name in VLM_SETTINGS):
        return predictor
    model = predictor.model if not isinstance(predictor.model, str) else None
    return Predictor(predictor.task, model, spec=predictor.spec,
                     settings=predictor.settings.replace(**dict.fromkeys(VLM_SETTINGS)))


def _text(key, text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{key}: the query or phrase given for this image is empty or not text")
    return " ".join(text.split())


def _model_name(model) -> str:
    return model if isinstance(model, str) else getattr(model, "name", repr(model))


def guided(predictor: Predictor, *, rewriter=None, gate=None, threshold: float | None = None,
           texts: Mapping[Hashable, str] | None = None, vlm_options: dict | None = None) -> Predictor | GuidedPredictor:
    """``predictor`` with the vision-language model its settings name (``rewriter``, ``gate``, ``gate_threshold``,
    ``queries``: a JSON file of texts by image file name or stem) or the arguments give instead (a model string
    or a loaded object; ``texts``: ``{key: text}``); ``predictor`` itself when there is none. The model loads on
    the run's ``device`` and ``dtype`` unless ``vlm_options`` say otherwise."""
    settings = predictor.settings
    rewriter = rewriter if rewriter not in (None, "") else settings.rewriter
    gate = gate if gate not in (None, "") else settings.gate
    threshold = threshold if threshold is not None else settings.gate_threshold
    if texts is None and settings.queries is not None:
        texts = read_query_table(settings.queries)
    if threshold is not None and gate is None:
        raise InputError("gate threshold: given without a presence gate (--gate MODEL)")
    if rewriter is None and gate is None and texts is None:
        return predictor
    if getattr(predictor, "custom_prompt", None) is not None:
        # The VLM's answer decides each image's prompt; a custom prompt is painted as given.
        raise InputError("prompt: a custom prompt is painted as given, so it cannot be combined with a rewriter, "
                         "a presence gate or per-image queries")
    if vlm_options is None:
        vlm_options = {"device": settings.device, "dtype": settings.dtype}
    return GuidedPredictor(predictor, rewriter=rewriter, gate=gate, threshold=threshold, texts=texts,
                           vlm_options=vlm_options)


__all__ = ["GuidedPredictor", "guided"]
