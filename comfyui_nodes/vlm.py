"""VB Rewrite and VB Presence Gate: a vision-language model (VLM) asked about one image, without ComfyUI.

- ``rewrite``: a reasoning query ("the object that keeps food cold") -> the referring expression to paint
  (a STRING to link into VB Prompt's expression), whether nothing fits ("absent"), and a JSON record.
- ``gate``: a class list (VB Prompt's format) -> the classes present (same format, to link into VB Prompt's
  classes), their count, and a JSON record of every class's score.

Models are chosen from a list: Gemini models (``gemini:...``, key from ``GEMINI_API_KEY``) and VLM folders
(a ``config.json`` and safetensors weights) below ComfyUI's ``vlm`` model folders; a name the scan does not
list is refused, so a workflow cannot point the node at an arbitrary path. Nothing is downloaded. The last
local model loaded is kept for the next run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from vb_plugins.codecs.colors import parse_class_colours
from vb_plugins.errors import InputError
from vb_plugins.reasoning.base import check_threshold, load_gate, load_rewriter

from .prompting import _classes_value, _split_entries
from .tensors import image_batch

GEMINI_CHOICES = ("gemini:gemini-2.5-flash", "gemini:gemini-2.5-pro")
_MAX_DEPTH = 3
_loaded: dict[tuple, object] = {}  # (kind, model, threshold) -> rewriter / gate: the last one only
_lock = threading.Lock()


def find_vlm_dirs(folders: Iterable) -> dict[str, Path]:
    """Name (relative path) -> directory for every folder with a ``config.json`` below the VLM folders."""
    found: dict[str, Path] = {}
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for current, dirs, files in os.walk(root, followlinks=True):
            here = Path(current)
            if "config.json" in files and here != root:
                found.setdefault(here.relative_to(root).as_posix(), here)
                dirs[:] = []
            elif len(here.relative_to(root).parts) >= _MAX_DEPTH:
                dirs[:] = []
            else:
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return dict(sorted(found.items()))


def model_choices(folders: Iterable) -> list[str]:
    return [*GEMINI_CHOICES, *find_vlm_dirs(folders)]


def resolve_model(name: str, folders: Iterable) -> str:
    """A choice -> the model string :func:`vb_plugins.reasoning.load_rewriter` takes."""
    if name in GEMINI_CHOICES:
        return name
    local = find_vlm_dirs(folders)
    if not isinstance(name, str) or name not in local:
        searched = ", ".join(str(f) for f in folders) or "none"
        raise InputError(f"model {name!r}: not a Gemini choice and no VLM folder of that name in ComfyUI's vlm "
                         f"model folders ({searched})")
    return str(local[name])


def _one_image(image, what: str):
    pixels, _ = image_batch(image, "image")
    if len(pixels) != 1:
        raise InputError(f"{what}: asks about one image at a time, got a batch of {len(pixels)}; split the batch "
                         "(the answer is a STRING for that image)")
    return pixels[0]


def _model(kind: str, name: str, folders, threshold: float | None = None):
    model = resolve_model(name, folders)
    key = (kind, model, threshold)
    with _lock:
        if key not in _loaded:
            for old in _loaded.values():
                old.close()
            _loaded.clear()
            _loaded[key] = load_rewriter(model) if kind == "rewriter" else load_gate(model, threshold=threshold)
        return _loaded[key]


def rewrite(image, query: str, model: str, folders) -> tuple[str, bool, str]:
    """(expression, absent, JSON record) for one image; the expression is empty when absent."""
    query = (query or "").strip()
    if not query:
        raise InputError("query: empty; give the reasoning query to rewrite, e.g. 'the object that keeps food cold'")
    pixels = _one_image(image, "VB Rewrite")
    answer = _model("rewriter", model, folders).rewrite(pixels, query)
    return answer.expression or "", answer.absent, json.dumps(answer.to_dict(), ensure_ascii=False)


def gate(image, classes: str, model: str, folders, threshold: float = 0.5) -> tuple[str, int, str]:
    """(present classes, how many, JSON record of every class's answer) for one image. The present classes are
    the entries of ``classes`` (VB Prompt's format: JSON or lines) that were judged present, written as they
    were given, colours and all, so the output links straight into VB Prompt's classes."""
    threshold = check_threshold(threshold)
    text = str(classes or "").strip()
    parsed = _classes_value(text) if text else []
    names = [name for name, _ in parse_class_colours(parsed, "classes")] if parsed else []
    if not names:
        raise InputError("classes: empty class list")
    pixels = _one_image(image, "VB Presence Gate")
    checker = _model("gate", model, folders, threshold)
    answers = [checker.presence(pixels, name) for name in names]
    present = [answer.present for answer in answers]
    if isinstance(parsed, dict):
        kept = json.dumps({name: parsed[name] for name, keep in zip(names, present) if keep}, ensure_ascii=False)
    elif text.startswith("["):
        kept = json.dumps([item for item, keep in zip(parsed, present) if keep], ensure_ascii=False)
    else:
        kept = "\n".join(entry for entry, keep in zip(_split_entries(text), present) if keep)
    record = {"model": checker.name, "threshold": threshold, "classes": [a.to_dict() for a in answers]}
    return kept, sum(present), json.dumps(record, ensure_ascii=False)
